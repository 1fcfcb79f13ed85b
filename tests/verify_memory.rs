//! The 100,000-entry memory bound of `verify --offline --checksums`, through the real binary.
//!
//! Alone in its test binary, and measured with wait4 on that one child: getrusage(RUSAGE_CHILDREN)
//! counted every child of the test process, and a child spawned while other tests of the same
//! binary held memory inherited their high-water mark (the kernel folds the spawning address
//! space's peak into the child's at exec).

use std::fs;
use std::process::{Child, Command};

use iphone_import::cli::exit;
use iphone_import::import::ledger::{Entry, Ledger};

const UDID: &str = "00008030-001A2B3C4D5E802E";
const BIN: &str = env!("CARGO_BIN_EXE_iphone-import");

fn entry(device_path: &str, dest_path: &str, body: &[u8]) -> Entry {
    Entry {
        udid: UDID.into(),
        device_path: device_path.into(),
        copy: String::new(),
        size: body.len() as u64,
        device_mtime_ns: 1_700_000_000_000_000_000,
        dest_path: dest_path.into(),
        blake3: *blake3::hash(body).as_bytes(),
        imported_at_ns: 1_700_000_000_000_000_000,
    }
}

/// Reaps `child` with wait4: its exit code and its own peak RSS in KiB.
fn wait_with_peak_rss(child: Child) -> (Option<i32>, u64) {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: both out-parameters are ours; the child is reaped here and `Child` never waits.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (code, usage.ru_maxrss as u64)
}

/// 100,000 ledger rows (2,000 with small real files, the rest missing): `verify --offline
/// --checksums` through the real binary stays under the benchmark's memory bound and counts
/// right.
#[test]
fn offline_on_100k_entries_stays_under_100_mb() {
    const ROWS: usize = 100_000;
    const PRESENT: usize = 2_000;
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    fs::create_dir_all(dest.join("files")).unwrap();
    let mut ledger = Ledger::open(&dest).unwrap();
    for chunk in (0..ROWS).collect::<Vec<_>>().chunks(10_000) {
        let entries: Vec<Entry> = chunk
            .iter()
            .map(|&i| {
                let body = format!("photo number {i}").into_bytes();
                let rel = format!("files/IMG_{i:06}.JPG");
                if i < PRESENT {
                    fs::write(dest.join(&rel), &body).unwrap();
                }
                entry(
                    &format!("DCIM/{}APPLE/IMG_{i:06}.JPG", 100 + i / 1000),
                    &rel,
                    &body,
                )
            })
            .collect();
        ledger.record_many(&entries, "Phone").unwrap();
    }
    drop(ledger);
    let out_path = tmp.path().join("out.jsonl");
    let child = Command::new(BIN)
        .args(["verify", "--offline", "--checksums", "--json"])
        .arg(&dest)
        .env("USBMUXD_SOCKET_ADDRESS", "UNIX:/nonexistent/usbmuxd")
        .stdout(fs::File::create(&out_path).unwrap())
        .spawn()
        .unwrap();
    let (code, peak_kib) = wait_with_peak_rss(child);
    let status_code = code;
    eprintln!("verify --offline --checksums on {ROWS} rows: peak RSS {peak_kib} KiB");
    assert_eq!(status_code, Some(i32::from(exit::DAMAGED)));
    assert!(
        peak_kib < 100 * 1024,
        "peak RSS {} MiB, bound 100 MB",
        peak_kib / 1024
    );
    let text = fs::read_to_string(&out_path).unwrap();
    let summary: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["archive"]["files"], ROWS as u64);
    assert_eq!(summary["archive"]["ok"], PRESENT as u64);
    assert_eq!(summary["archive"]["files_hashed"], PRESENT as u64);
    assert_eq!(summary["archive"]["missing"], (ROWS - PRESENT) as u64);
    assert_eq!(summary["status"], "damaged");
    assert_eq!(summary["exit_code"], 7);
    let problems = text
        .lines()
        .filter(|l| l.contains("\"event\":\"problem\""))
        .count();
    assert_eq!(problems, ROWS - PRESENT);
}
