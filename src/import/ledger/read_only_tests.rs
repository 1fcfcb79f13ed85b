//! Unit tests of `Ledger::open_read_only` (they need `Ledger`, so they live here rather than in
//! `ledger_ro`, which must not import it).

use super::*;
use crate::import::lock::DestLock;
use std::collections::BTreeMap;

type Snapshot = BTreeMap<std::path::PathBuf, (Vec<u8>, std::time::SystemTime)>;

/// Every file under `dir` with its bytes and mtime.
fn snapshot(dir: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for item in std::fs::read_dir(&d).unwrap() {
            let p = item.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p.clone());
                out.insert(p, (Vec::new(), meta.modified().unwrap()));
            } else {
                out.insert(
                    p.clone(),
                    (std::fs::read(&p).unwrap(), meta.modified().unwrap()),
                );
            }
        }
    }
    out
}

fn entry(path: &str) -> Entry {
    Entry {
        udid: "u1".into(),
        device_path: path.into(),
        copy: String::new(),
        size: 3,
        device_mtime_ns: 7,
        dest_path: "2025/x.jpg".into(),
        blake3: [9; 32],
        imported_at_ns: 11,
    }
}

#[test]
fn a_read_only_open_creates_and_changes_nothing() {
    for with_lock_file in [true, false] {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path();
        if with_lock_file {
            drop(DestLock::acquire(dest, "pull").unwrap());
        }
        Ledger::open(dest)
            .unwrap()
            .record(&entry("DCIM/100APPLE/A.JPG"), "phone")
            .unwrap();
        let before = snapshot(dest);
        assert!(!before.keys().any(|p| p.to_string_lossy().ends_with("-wal")));
        let ledger = Ledger::open_read_only(dest).unwrap();
        assert_eq!(
            ledger.lookup("u1", "DCIM/100APPLE/A.JPG").unwrap(),
            Some(entry("DCIM/100APPLE/A.JPG"))
        );
        assert_eq!(ledger.count(None).unwrap(), 1);
        drop(ledger);
        assert_eq!(
            snapshot(dest),
            before,
            "lock file present: {with_lock_file}"
        );
    }
}

#[test]
fn an_old_schema_is_read_as_it_is_and_only_open_migrates() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path();
    let path = ledger_path(dest);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch(
        "CREATE TABLE resources (udid TEXT NOT NULL, device_path TEXT NOT NULL,
            folder TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL,
            device_mtime_ns INTEGER NOT NULL, dest_path TEXT NOT NULL, blake3 BLOB NOT NULL,
            imported_at_ns INTEGER NOT NULL, PRIMARY KEY (udid, device_path)) WITHOUT ROWID;
        CREATE TABLE devices (udid TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL,
            last_received_ns INTEGER NOT NULL, last_received_path TEXT NOT NULL);
        INSERT INTO resources VALUES ('u1', 'DCIM/100APPLE/A.JPG', 'DCIM/100APPLE', 'A.JPG',
            3, 7, '2025/x.jpg', zeroblob(32), 11);
        PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    let before = snapshot(dest);
    let ledger = Ledger::open_read_only(dest).unwrap();
    assert_eq!(ledger.schema_version().unwrap(), 1);
    let e = ledger.lookup("u1", "DCIM/100APPLE/A.JPG").unwrap().unwrap();
    assert_eq!((e.copy.as_str(), e.size), ("", 3));
    assert!(
        ledger
            .known_paths("u1", "DCIM/100APPLE")
            .unwrap()
            .contains("A.JPG")
    );
    // No sidecars table before v4: `verify` reads none.
    assert!(ledger.sidecar_paths().unwrap().is_empty());
    drop(ledger);
    assert_eq!(snapshot(dest), before);
    // The writer's open (under the lock) is the one that migrates.
    assert_eq!(
        Ledger::open(dest).unwrap().schema_version().unwrap(),
        SCHEMA_VERSION
    );
}

#[test]
fn a_running_writer_is_read_through_its_wal() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path();
    let _lock = DestLock::acquire(dest, "pull").unwrap();
    let mut writer = Ledger::open(dest).unwrap();
    writer.record(&entry("DCIM/A.JPG"), "phone").unwrap();
    // Committed in the WAL, not yet in the main file.
    let mut wal = ledger_path(dest).into_os_string();
    wal.push("-wal");
    assert!(Path::new(&wal).exists());
    let reader = Ledger::open_read_only(dest).unwrap();
    assert_eq!(reader.count(None).unwrap(), 1);
    writer.record(&entry("DCIM/B.JPG"), "phone").unwrap();
    assert_eq!(reader.count(None).unwrap(), 2);
}
