//! `iphone-import ls`: list the phone's media folder (read only, like every command).

use crate::untrusted::text::path_for_terminal;
use std::collections::VecDeque;

use chrono::{DateTime, Local};
use futures::future::join_all;
use serde::Serialize;

use super::args::{GlobalArgs, LsArgs};
use super::exit;
use super::info::human_bytes;
use super::session::PhoneSession;
use super::stdout::{StdoutError, outln};
use crate::afc::{AfcClient, FileInfo, FileKind};

/// Stats issued at once while listing (AFC requests pipeline on one connection).
const STATS_IN_FLIGHT: usize = 32;

#[derive(Serialize)]
struct Entry<'a> {
    path: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    size: u64,
    mtime_ns: u64,
}

pub(super) async fn run(global: &GlobalArgs, args: &LsArgs) -> anyhow::Result<u8> {
    let session = PhoneSession::open(global).await?;
    let afc = session.afc().await?;
    let root = normalise(&args.path);
    let info = afc.stat(&root).await?;
    if info.st_ifmt != FileKind::Directory {
        print_entry(&root, &info, args)?;
        return Ok(exit::OK);
    }
    let mut queue = VecDeque::from([root]);
    while let Some(dir) = queue.pop_front() {
        let mut names = afc.read_dir(&dir).await?;
        names.sort();
        let paths: Vec<String> = names.iter().map(|n| join(&dir, n)).collect();
        for chunk in paths.chunks(STATS_IN_FLIGHT) {
            let infos = stat_all(&afc, chunk, args.long || args.recursive || args.json).await;
            for (path, info) in chunk.iter().zip(infos) {
                match info {
                    Some(Ok(info)) => {
                        print_entry(path, &info, args)?;
                        if args.recursive && info.st_ifmt == FileKind::Directory {
                            queue.push_back(path.clone());
                        }
                    }
                    Some(Err(e)) => eprintln!("{}: {e}", path_for_terminal(path)),
                    None => outln!("{}", path_for_terminal(path))?,
                }
            }
        }
    }
    session.close().await;
    Ok(exit::OK)
}

async fn stat_all(
    afc: &AfcClient,
    paths: &[String],
    wanted: bool,
) -> Vec<Option<Result<FileInfo, crate::afc::AfcError>>> {
    if !wanted {
        return paths.iter().map(|_| None).collect();
    }
    join_all(paths.iter().map(|p| async move { Some(afc.stat(p).await) })).await
}

fn print_entry(path: &str, info: &FileInfo, args: &LsArgs) -> Result<(), StdoutError> {
    let kind = match info.st_ifmt {
        FileKind::Directory => "dir",
        FileKind::Regular => "file",
        FileKind::Symlink => "link",
        FileKind::Other(_) => "other",
    };
    if args.json {
        let entry = Entry {
            path,
            kind,
            size: info.st_size,
            mtime_ns: info.st_mtime_ns,
        };
        if let Ok(line) = serde_json::to_string(&entry) {
            outln!("{line}")?;
        }
    } else if args.long {
        let when = DateTime::from_timestamp_nanos(info.st_mtime_ns as i64).with_timezone(&Local);
        let size = if kind == "dir" {
            "-".to_string()
        } else {
            human_bytes(info.st_size)
        };
        let suffix = if kind == "dir" { "/" } else { "" };
        outln!(
            "{size:>10}  {}  {}{suffix}",
            when.format("%Y-%m-%d %H:%M"),
            path_for_terminal(path)
        )?;
    } else {
        let suffix = if kind == "dir" { "/" } else { "" };
        outln!("{}{suffix}", path_for_terminal(path))?;
    }
    Ok(())
}

/// Media-root-relative paths always start with one slash, never end with one.
fn normalise(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    format!("/{trimmed}")
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_root_relative() {
        assert_eq!(normalise("DCIM/"), "/DCIM");
        assert_eq!(normalise("/"), "/");
        assert_eq!(join("/", "DCIM"), "/DCIM");
        assert_eq!(join("/DCIM", "100APPLE"), "/DCIM/100APPLE");
    }
}
