//! One run per DEST at a time: an exclusive `flock` on `DEST/.iphone-import/lock`.
//!
//! The holder writes its pid, host, start time and command line into the file so a second run
//! can say who is in the way. The kernel drops the lock when the holder exits, however it exits,
//! so a lock file left by a dead process is no obstacle.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};

use super::layout::STATE_DIR;

/// Lock file name inside the state folder.
pub(crate) const LOCK_FILE: &str = "lock";
/// Most bytes of holder information read back.
const MAX_HOLDER_INFO: u64 = 4096;

/// Who holds the lock, as far as its file tells (fields are missing if it has not written yet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<u32>,
    pub host: Option<String>,
    /// RFC 3339 start time.
    pub started: Option<String>,
    pub command: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(pid) = self.pid {
            parts.push(match &self.host {
                Some(h) => format!("pid {pid} on {h}"),
                None => format!("pid {pid}"),
            });
        }
        if let Some(s) = &self.started {
            let shown = DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|_| s.clone());
            parts.push(format!("started {shown}"));
        }
        if let Some(c) = &self.command {
            parts.push(format!("`{c}`"));
        }
        if parts.is_empty() {
            f.write_str("another iphone-import")
        } else {
            write!(f, "another iphone-import ({})", parts.join(", "))
        }
    }
}

/// Lock failures.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{holder} is using {dest}; wait for it to finish or stop it")]
    Busy { dest: PathBuf, holder: Holder },
    #[error("cannot lock {path}: {source}; check that DEST is writable")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct DestLock {
    file: File,
    path: PathBuf,
}

impl DestLock {
    /// Takes the lock on `dest` (file `DEST/.iphone-import/lock`), without waiting.
    /// `command` is shown to a second run, e.g. `pull ~/Pictures/iPhone`.
    pub fn acquire(dest: &Path, command: &str) -> Result<DestLock, LockError> {
        let state_dir = dest.join(STATE_DIR);
        let path = state_dir.join(LOCK_FILE);
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&state_dir).map_err(io_err)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LockError::Busy {
                    dest: dest.to_path_buf(),
                    holder: read_holder(&mut file),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(e)),
        }
        let host = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        let info = format!(
            "pid={}\nhost={}\nstarted={}\ncommand={}\n",
            std::process::id(),
            one_line(&host),
            Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            one_line(command)
        );
        file.set_len(0).map_err(io_err)?;
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        file.write_all(info.as_bytes()).map_err(io_err)?;
        file.sync_data().map_err(io_err)?;
        Ok(DestLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DestLock {
    fn drop(&mut self) {
        // Clear the holder info while still holding the lock; closing the file releases it.
        let _ = self.file.set_len(0);
    }
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn read_holder(file: &mut File) -> Holder {
    let mut text = String::new();
    if file.seek(SeekFrom::Start(0)).is_err()
        || file
            .take(MAX_HOLDER_INFO)
            .read_to_string(&mut text)
            .is_err()
    {
        return Holder::default();
    }
    let mut h = Holder::default();
    for line in text.lines() {
        match line.split_once('=') {
            Some(("pid", v)) => h.pid = v.trim().parse().ok(),
            Some(("host", v)) => h.host = Some(v.to_string()),
            Some(("started", v)) => h.started = Some(v.to_string()),
            Some(("command", v)) => h.command = Some(v.to_string()),
            _ => {}
        }
    }
    h
}
