//! `iphone-import watch` against `iphone-mock serve` through the usbmuxd route: the phone present
//! at start is imported once; a simulated unplug + replug (SIGUSR1 to the mock, twice) imports
//! again, copying only the file added in between; SIGTERM ends watch with exit 0 and nothing
//! partial left behind.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::PeerHome;
use iphone_import::import::ledger::Ledger;
use iphone_import::mock::library::{LibraryOptions, generate};

/// The longest any single step may take before the test gives up (not a timing assertion).
const STEP: Duration = Duration::from_secs(120);

struct Mock {
    child: Child,
    addr: String,
}

impl Drop for Mock {
    fn drop(&mut self) {
        common::stop_child(&mut self.child);
    }
}

fn start_mock(library: &Path) -> Mock {
    start_mock_with(library, &[])
}

fn start_mock_with(library: &Path, extra: &[&str]) -> Mock {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iphone-mock"))
        .args(["serve", "--listen", "127.0.0.1:0", "--library"])
        .arg(library)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("listening on ").map(str::to_string))
        .expect("mock announces its address");
    std::thread::spawn(move || for _ in lines {});
    Mock { child, addr }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Wait for a stderr line of watch containing `needle`; returns it.
fn wait_line(lines: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) -> String {
    loop {
        match lines.recv_timeout(STEP) {
            Ok(line) => {
                seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
            Err(_) => panic!("no line containing {needle:?}; watch said: {seen:#?}"),
        }
    }
}

fn dcim_files(dest: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dest.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_name() == ".iphone-import" {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn watch_imports_once_per_plug_in_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Media");
    let options = LibraryOptions {
        photos: 4,
        videos: 1,
        seed: 9,
        ..LibraryOptions::demo()
    };
    generate(&root, &options).unwrap();
    let mock = start_mock(&root);
    let home = PeerHome::new();
    let dest = dir.path().join("dest");

    let mut watch = Command::new(env!("CARGO_BIN_EXE_iphone-import"))
        .args([
            "--transport",
            "usbmuxd",
            "watch",
            "--no-notify",
            "--include-trashed",
        ])
        .arg(&dest)
        .envs(home.env())
        .env("USBMUXD_SOCKET_ADDRESS", &mock.addr)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = common::stderr_lines(&mut watch, "watch");
    let mut seen = Vec::new();

    // 1. The phone already attached is imported once.
    let first = wait_line(&lines, ": import ", &mut seen);
    assert!(
        !first.contains("failed"),
        "first import: {first}; {seen:#?}"
    );
    let ledger_rows = Ledger::open(&dest).unwrap().count(None).unwrap();
    assert!(ledger_rows > 0, "first import copied files");
    assert_eq!(dcim_files(&dest), ledger_rows as usize);

    // 2. A new photo appears on the phone; unplug and replug.
    let source = std::fs::read_dir(root.join("DCIM/100APPLE"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "JPG"))
        .expect("a JPG in the simulated library");
    std::fs::copy(&source, root.join("DCIM/100APPLE/IMG_7777.JPG")).unwrap();
    signal(mock.child.id(), "-USR1");
    wait_line(&lines, "unplugged", &mut seen);
    signal(mock.child.id(), "-USR1");
    let second = wait_line(&lines, ": import ", &mut seen);
    assert!(!second.contains("failed"), "second import: {second}");
    let after_rows = Ledger::open(&dest).unwrap().count(None).unwrap();
    assert_eq!(
        after_rows,
        ledger_rows + 1,
        "only the new file is copied the second time"
    );
    assert_eq!(dcim_files(&dest), after_rows as usize, "no duplicates");

    // 3. SIGTERM: clean exit 0, nothing partial.
    signal(watch.id(), "-TERM");
    let status = wait_exit(&mut watch);
    assert_eq!(status, Some(0), "watch said: {seen:#?}");
    let leftovers = std::fs::read_dir(dest.join(".iphone-import/tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0, "no temp files left");
}

fn wait_exit(child: &mut Child) -> Option<i32> {
    common::wait_exit_within(child, STEP)
}

/// A cron `pull` and a `watch` import (or two cron jobs) can meet on one DEST: the second run
/// must refuse with a message naming the holder, and leave the first untouched.
#[test]
fn a_second_run_on_the_same_dest_names_the_lock_holder_and_leaves_the_first_alone() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Media");
    let options = LibraryOptions {
        photos: 3,
        videos: 0,
        seed: 3,
        ..LibraryOptions::demo()
    };
    generate(&root, &options).unwrap();
    // The phone falls silent 1 MiB into a big video, so the first run holds the lock, mid-file,
    // for as long as the test needs (until its 2 s I/O deadline), whatever the machine's pace.
    let big: Vec<u8> = (0..8 * 1024 * 1024)
        .map(|i: usize| (i * 13) as u8)
        .collect();
    std::fs::write(root.join("DCIM/100APPLE/IMG_9100.MOV"), &big).unwrap();
    let mock = start_mock_with(
        &root,
        &["--stall", "afc-read:DCIM/100APPLE/IMG_9100.MOV@1048576"],
    );
    let home = PeerHome::new();
    let dest = dir.path().join("dest");
    let pull = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_iphone-import"));
        c.args([
            "--transport",
            "usbmuxd",
            "--io-timeout",
            "2",
            "pull",
            "--include-trashed",
            "--jobs",
            "1",
        ])
        .arg(&dest)
        .envs(home.env())
        .env("USBMUXD_SOCKET_ADDRESS", &mock.addr)
        .stdin(Stdio::null());
        c
    };
    // Pair first so that both runs below only copy.
    let paired = Command::new(env!("CARGO_BIN_EXE_iphone-import"))
        .args(["--transport", "usbmuxd", "pair"])
        .envs(home.env())
        .env("USBMUXD_SOCKET_ADDRESS", &mock.addr)
        .output()
        .unwrap();
    assert!(paired.status.success(), "{paired:?}");

    let first = pull()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first run holds the lock and is copying (a temp file grows).
    let deadline = std::time::Instant::now() + STEP;
    while !temp_growing(&dest) {
        assert!(
            std::time::Instant::now() < deadline,
            "first run never started copying"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = pull().output().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("pid {}", first.id())) && err.contains("is using"),
        "names the holder: {err}"
    );

    // The first run ends on its own terms: the silent phone's deadline (exit 8), not the lock.
    let out = first.wait_with_output().unwrap();
    let first_err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "first run: {first_err}");
    assert!(!first_err.contains("is using"), "{first_err}");
    // The lock went with it: the next run (the phone answers again) imports everything.
    let last = pull().output().unwrap();
    assert!(
        matches!(last.status.code(), Some(0 | 3)),
        "the next run completes: {}",
        String::from_utf8_lossy(&last.stderr)
    );
    assert!(find_file(&dest, "IMG_9100.MOV"), "the big video arrived");
    assert_eq!(
        Ledger::open(&dest).unwrap().count(None).unwrap() as usize,
        dcim_files(&dest)
    );
}

fn temp_growing(dest: &Path) -> bool {
    temp_over(dest, 0)
}

fn temp_over(dest: &Path, bytes: u64) -> bool {
    std::fs::read_dir(dest.join(".iphone-import/tmp"))
        .map(|d| {
            d.flatten()
                .any(|e| e.metadata().is_ok_and(|m| m.len() > bytes))
        })
        .unwrap_or(false)
}

/// Ctrl-C (SIGINT) ends watch with 130, after the phone present at start (the in-process demo
/// phone here) was imported once and only once.
#[test]
fn sigint_ends_watch_with_130_after_one_import_of_the_demo_phone() {
    let dir = tempfile::tempdir().unwrap();
    let home = PeerHome::new();
    let dest = dir.path().join("dest");
    let mut watch = Command::new(env!("CARGO_BIN_EXE_iphone-import"))
        .args(["--demo", "watch", "--no-notify"])
        .arg(&dest)
        .envs(home.env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = common::stderr_lines(&mut watch, "watch");
    let mut seen = Vec::new();
    let done = wait_line(&lines, ": import ", &mut seen);
    assert!(!done.contains("failed"), "{seen:#?}");
    assert!(Ledger::open(&dest).unwrap().count(None).unwrap() > 0);
    signal(watch.id(), "-INT");
    assert_eq!(wait_exit(&mut watch), Some(130), "{seen:#?}");
    // Drain what it said after the signal: no second import of the same plug-in.
    seen.extend(lines.try_iter());
    let imports = seen
        .iter()
        .filter(|l| l.contains("connected, importing"))
        .count();
    assert_eq!(imports, 1, "{seen:#?}");
}

/// SIGTERM in the middle of an import (a big video the phone stops serving mid-file): the import is cancelled
/// cleanly, watch exits 0, nothing partial sits at a final path, and the ledger matches DEST.
#[test]
fn sigterm_mid_import_cancels_cleanly_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Media");
    let options = LibraryOptions {
        photos: 2,
        videos: 0,
        seed: 4,
        ..LibraryOptions::demo()
    };
    generate(&root, &options).unwrap();
    let big: Vec<u8> = (0..24 * 1024 * 1024)
        .map(|i: usize| (i * 11) as u8)
        .collect();
    std::fs::write(root.join("DCIM/100APPLE/IMG_9200.MOV"), &big).unwrap();
    // Silent 8 MiB into the video (once): the import is mid-file when SIGTERM comes, whatever
    // the machine's pace.
    let mock = start_mock_with(
        &root,
        &["--stall", "afc-read:DCIM/100APPLE/IMG_9200.MOV@8388608"],
    );
    let home = PeerHome::new();
    let dest = dir.path().join("dest");
    let mut watch = Command::new(env!("CARGO_BIN_EXE_iphone-import"))
        .args([
            "--transport",
            "usbmuxd",
            "watch",
            "--no-notify",
            "--jobs",
            "1",
        ])
        .arg(&dest)
        .envs(home.env())
        .env("USBMUXD_SOCKET_ADDRESS", &mock.addr)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + STEP;
    // Until the big video's served 8 MiB reached its temp file.
    while !temp_over(&dest, (8 << 20) - 1) {
        assert!(
            watch.try_wait().unwrap().is_none(),
            "watch ended before copying"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the import never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(watch.id(), "-TERM");
    assert_eq!(wait_exit(&mut watch), Some(0));
    let mut stack = vec![dest.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_name() == ".iphone-import" {
                continue;
            }
            assert_ne!(
                e.file_name(),
                "IMG_9200.MOV",
                "no partial video at a final path"
            );
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    assert_eq!(
        Ledger::open(&dest).unwrap().count(None).unwrap() as usize,
        dcim_files(&dest)
    );
}

/// A file of this name anywhere under DEST (outside the state folder).
fn find_file(dest: &Path, name: &str) -> bool {
    let mut stack = vec![dest.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_name() == ".iphone-import" {
                continue;
            }
            if e.file_name() == name {
                return true;
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    false
}
