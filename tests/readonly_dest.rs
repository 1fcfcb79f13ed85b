//! Read-only commands write nothing: after a pull, `pull --dry-run`, `status` and `verify`
//! (with and without the phone) leave DEST byte-identical (no `-wal`/`-shm`/journal files, no
//! changed mtimes), and they work on a read-only mount of DEST (which, unlike `chmod -w`, stops
//! root too). Through the real binary against the `--demo` phone.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::SystemTime;

use common::PeerHome;

type Snapshot = BTreeMap<PathBuf, (Vec<u8>, SystemTime)>;

fn import(home: &PeerHome, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_iphone-import"))
        .arg("--demo")
        .args(args)
        .envs(home.env())
        .stdin(Stdio::null())
        .output()
        .expect("run iphone-import")
}

/// Every file and folder under `dir`, with its bytes and mtime.
fn snapshot(dir: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for item in std::fs::read_dir(&d).unwrap() {
            let p = item.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(dir).unwrap().to_path_buf();
            if meta.is_dir() {
                stack.push(p);
                out.insert(rel, (Vec::new(), meta.modified().unwrap()));
            } else {
                out.insert(rel, (std::fs::read(&p).unwrap(), meta.modified().unwrap()));
            }
        }
    }
    out
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The read-only commands, each expected to succeed (exit codes of a demo phone whose
/// iCloud-only items are never in DEST: verify with the phone reports 0 or at-risk).
fn run_read_only_commands(home: &PeerHome, dest: &str) {
    let out = import(home, &["pull", "--dry-run", "--json", dest]);
    // Partial: the iCloud-only originals are reported as failures by the plan too.
    assert_eq!(code(&out), 3, "pull --dry-run: {}", stderr(&out));
    let out = import(home, &["status", "--json", dest]);
    assert_eq!(code(&out), 0, "status: {}", stderr(&out));
    let out = import(home, &["verify", "--offline", "--checksums", dest]);
    assert_eq!(code(&out), 0, "verify --offline: {}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("RESULT: safe."), "{text}");
    let out = import(home, &["verify", "--checksums", "--json", dest]);
    assert!(
        [0, 6].contains(&code(&out)),
        "verify: {} {}",
        code(&out),
        stderr(&out)
    );
}

fn pulled() -> (PeerHome, PathBuf) {
    let home = PeerHome::new();
    let dest = home.path().join("photos");
    let out = import(&home, &["pull", dest.to_str().unwrap()]);
    // The demo's iCloud-only originals cannot be read: a partial run.
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    (home, dest)
}

#[test]
fn read_only_commands_leave_dest_byte_identical() {
    let (home, dest) = pulled();
    let before = snapshot(&dest);
    assert!(before.keys().any(|p| p.ends_with("ledger.sqlite")));
    run_read_only_commands(&home, dest.to_str().unwrap());
    let after = snapshot(&dest);
    let added: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert!(added.is_empty(), "files created: {added:?}");
    assert!(after == before, "a file's bytes or mtime changed");
}

/// A read-only bind mount of `source` at `target`, unmounted on drop.
struct ReadOnlyMount(PathBuf);

impl ReadOnlyMount {
    fn new(source: &Path, target: &Path) -> Result<ReadOnlyMount, String> {
        std::fs::create_dir_all(target).map_err(|e| e.to_string())?;
        let run = |args: &[&std::ffi::OsStr]| {
            Command::new("mount")
                .args(args)
                .stderr(Stdio::piped())
                .output()
                .map_err(|e| e.to_string())
                .and_then(|o| o.status.success().then_some(()).ok_or_else(|| stderr(&o)))
        };
        run(&["--bind".as_ref(), source.as_os_str(), target.as_os_str()])?;
        let mount = ReadOnlyMount(target.to_path_buf());
        run(&[
            "-o".as_ref(),
            "remount,bind,ro".as_ref(),
            target.as_os_str(),
        ])?;
        // Proof that writes are denied (to root as well).
        if std::fs::write(target.join("probe"), b"x").is_ok() {
            return Err("the read-only mount accepted a write".into());
        }
        Ok(mount)
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn verify_status_and_dry_run_work_on_a_read_only_mount() {
    let (home, dest) = pulled();
    let ro = home.path().join("ro");
    let _mount = match ReadOnlyMount::new(&dest, &ro) {
        Ok(m) => m,
        Err(e) if common::interop_required() => {
            panic!("REQUIRE_INTEROP=1 but no read-only mount: {e}")
        }
        Err(e) => {
            eprintln!("SKIP: cannot make a read-only bind mount (needs root): {e}");
            return;
        }
    };
    let before = snapshot(&dest);
    run_read_only_commands(&home, ro.to_str().unwrap());
    assert!(
        snapshot(&dest) == before,
        "DEST changed under a read-only mount"
    );
}
