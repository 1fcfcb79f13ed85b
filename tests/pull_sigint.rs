//! SIGINT to the real `iphone-import pull` process in the middle of a large file, through
//! `iphone-mock serve` made to fall silent a quarter of the way into that file (so the moment
//! is set by a byte count, not by the pace of the link or the machine): exit 130, nothing partial at a final path, a ledger that
//! matches DEST, and a next run that resumes the file and finishes byte-exact.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{MockServer, PeerHome};
use iphone_import::import::ledger::{Ledger, LedgerError};
use iphone_import::mock::library::{LibraryOptions, generate, read_placeholders};

/// A video several reads long; the phone goes silent once a quarter of it was served.
const BIG: &str = "DCIM/100APPLE/IMG_9000.MOV";
const BIG_LEN: usize = 24 * 1024 * 1024;

fn pull_command(server: &MockServer, home: &PeerHome, dest: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iphone-import"));
    // Trashed items too, so that every readable DCIM file is expected in DEST.
    cmd.args([
        "--transport",
        "usbmuxd",
        "pull",
        "--json",
        "--jobs",
        "2",
        "--include-trashed",
    ])
    .arg(dest)
    .envs(home.env())
    .envs(server.env())
    .stdin(Stdio::null());
    cmd
}

fn temp_bytes(dest: &Path) -> u64 {
    let Ok(dir) = std::fs::read_dir(dest.join(".iphone-import/tmp")) else {
        return 0;
    };
    dir.filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .max()
        .unwrap_or(0)
}

/// Every file under DEST (outside our own folder) equals a readable file of the phone, and
/// every ledger row names such a file with the hash of its bytes.
fn assert_dest_consistent(root: &Path, dest: &Path) {
    let ledger = Ledger::open(dest).expect("ledger");
    let mut rows = 0;
    ledger
        .for_each(None, |entry| -> Result<(), LedgerError> {
            rows += 1;
            let local = dest.join(&entry.dest_path);
            let bytes = std::fs::read(&local)
                .unwrap_or_else(|e| panic!("ledger names {} but: {e}", local.display()));
            let want = std::fs::read(root.join(&entry.device_path)).unwrap();
            assert!(
                bytes == want,
                "{} differs from {}",
                entry.dest_path,
                entry.device_path
            );
            assert_eq!(
                blake3::hash(&bytes).as_bytes(),
                &entry.blake3,
                "{}",
                entry.dest_path
            );
            Ok(())
        })
        .unwrap();
    let mut files = Vec::new();
    let mut stack = vec![dest.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == ".iphone-import") {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    assert_eq!(
        files.len(),
        rows,
        "every file in DEST is in the ledger: {files:?}"
    );
}

#[test]
fn sigint_mid_file_exits_130_leaves_nothing_partial_and_the_next_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Media");
    let options = LibraryOptions {
        photos: 8,
        videos: 1,
        seed: 5,
        ..LibraryOptions::demo()
    };
    generate(&root, &options).unwrap();
    let big: Vec<u8> = (0..BIG_LEN).map(|i| (i * 7 + i / 4096) as u8).collect();
    std::fs::write(root.join(BIG), &big).unwrap();
    // Silent once a quarter of the big file was served (once: the next run finds a phone
    // that answers), so the pull is mid-file, holding a quarter, when the signal comes.
    let stall = format!("afc-read:{BIG}@{}", BIG_LEN / 4);
    let server =
        MockServer::start_with_args(&["--library", root.to_str().unwrap(), "--stall", &stall]);
    let home = PeerHome::new();
    let dest: PathBuf = dir.path().join("dest");

    let mut child = pull_command(&server, &home, &dest)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the served quarter reached the temp file.
    let started = Instant::now();
    while temp_bytes(&dest) < (BIG_LEN / 4) as u64 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "pull ended before a quarter of the big file was read"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the big file never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !find(&dest, "IMG_9000.MOV"),
        "no partial big file at a final path"
    );
    assert_dest_consistent(&root, &dest);

    // The next run resumes the big file from its temp file and completes everything readable.
    let out = pull_command(&server, &home, &dest).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "iCloud-only items remain: {stdout}"
    );
    let summary = BufReader::new(stdout.as_bytes())
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .find(|v| v["event"] == "summary")
        .expect("a summary event");
    assert!(summary["files_resumed"].as_u64() >= Some(1), "{summary}");
    assert!(find(&dest, "IMG_9000.MOV"), "the big file arrived");
    assert_dest_consistent(&root, &dest);
    let placeholders = read_placeholders(&root).unwrap();
    let readable = walk_count(&root.join("DCIM"))
        - placeholders
            .iter()
            .filter(|p| p.starts_with("DCIM/"))
            .count();
    let ledger = Ledger::open(&dest).unwrap();
    assert_eq!(
        ledger.count(None).unwrap() as usize,
        readable,
        "every readable DCIM file copied"
    );
}

fn find(dir: &Path, name: &str) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name() == name && !e.path().starts_with(dir.join(".iphone-import")) {
                return true;
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    false
}

fn walk_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            if e.file_type().unwrap().is_dir() {
                walk_count(&e.path())
            } else {
                1
            }
        })
        .sum()
}
