//! Tests of the import building blocks (src/import/) against real files in temp folders: the
//! ledger, the atomic writer, the DEST lock, and the blocks together. (Capture dates:
//! import_dates.rs.)

mod common;
mod media_builders;

use iphone_import::import::dates::{self, Fallbacks};
use media_builders::*;

// ---------- ledger ----------

use iphone_import::import::ledger::{self, Entry, Ledger, LedgerError};

fn entry(path: &str, n: u8) -> Entry {
    Entry {
        udid: "00008030-001A2B3C4D5E6F70".into(),
        device_path: path.into(),
        copy: String::new(),
        size: 1000 + u64::from(n),
        device_mtime_ns: 1_683_461_002_000_000_000 + i64::from(n),
        dest_path: format!("2023/05/{}", path.rsplit('/').next().unwrap()),
        blake3: [n; 32],
        imported_at_ns: 1_700_000_000_000_000_000 + i64::from(n),
    }
}

#[test]
fn ledger_round_trip_known_paths_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let udid = "00008030-001A2B3C4D5E6F70";
    {
        let mut l = Ledger::open(dir.path()).unwrap();
        assert_eq!(l.schema_version().unwrap(), ledger::SCHEMA_VERSION);
        assert_eq!(l.count(None).unwrap(), 0);
        l.record(&entry("DCIM/100APPLE/IMG_0001.HEIC", 1), "Ann's iPhone")
            .unwrap();
        l.record(&entry("DCIM/100APPLE/IMG_0001.MOV", 2), "Ann's iPhone")
            .unwrap();
        l.record(&entry("/DCIM/101APPLE/IMG_0100.JPG", 3), "Ann's iPhone")
            .unwrap();
        let mut other = entry("DCIM/100APPLE/IMG_0009.HEIC", 4);
        other.udid = "other".into();
        l.record(&other, "Bob").unwrap();
    }
    assert!(dir.path().join(".iphone-import/ledger.sqlite").is_file());
    assert!(ledger::ledger_path(dir.path()).is_file());
    let l = Ledger::open(dir.path()).unwrap();
    assert_eq!(
        l.lookup(udid, "DCIM/100APPLE/IMG_0001.HEIC").unwrap(),
        Some(entry("DCIM/100APPLE/IMG_0001.HEIC", 1))
    );
    assert_eq!(l.lookup(udid, "DCIM/100APPLE/IMG_0009.HEIC").unwrap(), None);
    // A leading slash is the same device path.
    assert_eq!(
        l.lookup(udid, "DCIM/101APPLE/IMG_0100.JPG")
            .unwrap()
            .unwrap()
            .size,
        1003
    );
    let known = l.known_paths(udid, "DCIM/100APPLE").unwrap();
    let mut known: Vec<_> = known.into_iter().collect();
    known.sort();
    assert_eq!(known, ["IMG_0001.HEIC", "IMG_0001.MOV"]);
    assert_eq!(l.known_paths(udid, "/DCIM/101APPLE/").unwrap().len(), 1);
    assert!(l.known_paths(udid, "DCIM/102APPLE").unwrap().is_empty());
    assert_eq!(l.count(Some(udid)).unwrap(), 3);
    assert_eq!(l.count(None).unwrap(), 4);
    let dev = l.device(udid).unwrap().unwrap();
    assert_eq!(dev.name, "Ann's iPhone");
    assert_eq!(dev.last_received_path, "DCIM/101APPLE/IMG_0100.JPG");

    let mut seen = Vec::new();
    l.for_each::<LedgerError>(Some(udid), |e| {
        seen.push(e.device_path);
        Ok(())
    })
    .unwrap();
    assert_eq!(
        seen,
        [
            "DCIM/100APPLE/IMG_0001.HEIC",
            "DCIM/100APPLE/IMG_0001.MOV",
            "DCIM/101APPLE/IMG_0100.JPG"
        ]
    );
    let mut all = 0;
    l.for_each::<LedgerError>(None, |_| {
        all += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(all, 4);
    // An error from the callback stops the walk and comes back.
    let mut calls = 0;
    let stopped = l.for_each(None, |_| {
        calls += 1;
        Err(LedgerError::Corrupt("stop".into()))
    });
    assert!(matches!(stopped, Err(LedgerError::Corrupt(_))));
    assert_eq!(calls, 1);

    let devices: Vec<_> = l.devices().unwrap().into_iter().map(|d| d.name).collect();
    assert_eq!(devices, ["Ann's iPhone", "Bob"]);
    let mut l = l;
    assert!(l.forget(udid, "/DCIM/100APPLE/IMG_0001.MOV").unwrap());
    assert!(!l.forget(udid, "/DCIM/100APPLE/IMG_0001.MOV").unwrap());
    assert_eq!(l.known_paths(udid, "DCIM/100APPLE").unwrap().len(), 1);
}

#[test]
fn ledger_keeps_album_copies_apart_and_migrates_a_version_1_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let udid = "00008030-001A2B3C4D5E6F70";
    // A ledger as version 1 wrote it: one row per device file, no copy column.
    std::fs::create_dir_all(dir.path().join(".iphone-import")).unwrap();
    {
        let c = rusqlite::Connection::open(ledger::ledger_path(dir.path())).unwrap();
        c.execute_batch(
            "CREATE TABLE resources (udid TEXT NOT NULL, device_path TEXT NOT NULL,
               folder TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL,
               device_mtime_ns INTEGER NOT NULL, dest_path TEXT NOT NULL, blake3 BLOB NOT NULL,
               imported_at_ns INTEGER NOT NULL, PRIMARY KEY (udid, device_path)) WITHOUT ROWID;
             CREATE INDEX resources_by_folder ON resources (udid, folder);
             CREATE TABLE devices (udid TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL,
               last_received_ns INTEGER NOT NULL, last_received_path TEXT NOT NULL);
             PRAGMA user_version = 1;",
        )
        .unwrap();
        let e = entry("DCIM/100APPLE/IMG_0001.HEIC", 1);
        c.execute(
            "INSERT INTO resources VALUES ('00008030-001A2B3C4D5E6F70',
               'DCIM/100APPLE/IMG_0001.HEIC', 'DCIM/100APPLE', 'IMG_0001.HEIC', ?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                e.size as i64,
                e.device_mtime_ns,
                e.dest_path,
                &e.blake3[..],
                e.imported_at_ns
            ],
        )
        .unwrap();
    }
    let mut l = Ledger::open(dir.path()).unwrap();
    assert_eq!(l.schema_version().unwrap(), ledger::SCHEMA_VERSION);
    // The per-folder lookup of a re-run is answered from the index alone (without it SQLite
    // walked all of a device's rows once per folder).
    {
        let c = rusqlite::Connection::open(ledger::ledger_path(dir.path())).unwrap();
        for sql in [
            "SELECT name FROM resources WHERE udid = ?1 AND folder = ?2",
            "SELECT name, copy FROM resources WHERE udid = ?1 AND folder = ?2",
        ] {
            let plan: String = c
                .query_row(&format!("EXPLAIN QUERY PLAN {sql}"), ["u", "f"], |r| {
                    r.get(3)
                })
                .unwrap();
            assert!(
                plan.contains("COVERING INDEX resources_by_folder"),
                "{plan}"
            );
        }
    }
    let plain = entry("DCIM/100APPLE/IMG_0001.HEIC", 1);
    assert_eq!(
        l.lookup(udid, &plain.device_path).unwrap(),
        Some(plain.clone())
    );

    // Two album copies of the same file: rows of their own, the plain one untouched.
    let mut trips = plain.clone();
    trips.copy = "album:Trips".into();
    trips.dest_path = "Trips/IMG_0001.HEIC".into();
    let mut pets = plain.clone();
    pets.copy = "album:Pets".into();
    pets.dest_path = "Pets/IMG_0001.HEIC".into();
    l.record_many(&[trips.clone(), pets.clone()], "p").unwrap();
    assert_eq!(l.count(Some(udid)).unwrap(), 3);
    assert_eq!(
        l.lookup_copy(udid, &plain.device_path, "album:Pets")
            .unwrap(),
        Some(pets.clone())
    );
    assert_eq!(
        l.lookup(udid, &plain.device_path).unwrap(),
        Some(plain.clone())
    );
    assert_eq!(l.known_paths(udid, "DCIM/100APPLE").unwrap().len(), 1);
    let copies = l.known_copies(udid, "DCIM/100APPLE").unwrap();
    assert_eq!(copies.len(), 3);
    assert!(copies.contains(&("IMG_0001.HEIC".to_string(), "album:Trips".to_string())));
    // A relocation moves one copy only.
    assert!(
        l.relocate(
            udid,
            &plain.device_path,
            "album:Trips",
            "Trips/IMG_0001 (1).HEIC"
        )
        .unwrap()
    );
    assert_eq!(
        l.lookup_copy(udid, &plain.device_path, "album:Trips")
            .unwrap()
            .unwrap()
            .dest_path,
        "Trips/IMG_0001 (1).HEIC"
    );
    assert_eq!(
        l.lookup_copy(udid, &plain.device_path, "album:Pets")
            .unwrap(),
        Some(pets)
    );
    // Forgetting a device file forgets every copy.
    assert!(l.forget(udid, &plain.device_path).unwrap());
    assert_eq!(l.count(Some(udid)).unwrap(), 0);
}

#[test]
fn ledger_record_replaces_a_changed_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(dir.path()).unwrap();
    let mut e = entry("DCIM/100APPLE/IMG_0001.HEIC", 1);
    l.record(&e, "p").unwrap();
    e.size = 5;
    e.blake3 = [9; 32];
    l.record(&e, "p").unwrap();
    assert_eq!(l.count(None).unwrap(), 1);
    assert_eq!(l.lookup(&e.udid, &e.device_path).unwrap(), Some(e));
}

#[test]
fn ledger_record_many_is_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(dir.path()).unwrap();
    let batch = [
        entry("DCIM/100APPLE/IMG_0007.HEIC", 7),
        entry("DCIM/100APPLE/IMG_0007.MOV", 8),
        entry("DCIM/100APPLE/IMG_0007.AAE", 9),
    ];
    l.record_many(&batch, "Ann's iPhone").unwrap();
    assert_eq!(l.count(None).unwrap(), 3);
    for e in &batch {
        assert_eq!(l.lookup(&e.udid, &e.device_path).unwrap().as_ref(), Some(e));
    }
    let dev = l.device(&batch[0].udid).unwrap().unwrap();
    assert_eq!(dev.last_received_path, "DCIM/100APPLE/IMG_0007.AAE");
    // A size that does not fit SQLite's integer rolls the whole batch back.
    let mut bad = entry("DCIM/100APPLE/IMG_0008.HEIC", 1);
    bad.size = u64::MAX;
    let ok = entry("DCIM/100APPLE/IMG_0009.HEIC", 1);
    assert!(l.record_many(&[ok, bad], "x").is_err());
    assert_eq!(l.count(None).unwrap(), 3);
}

#[test]
fn ledger_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    drop(Ledger::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(ledger::ledger_path(dir.path())).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    match Ledger::open(dir.path()) {
        Err(LedgerError::TooNew { found: 99, .. }) => {}
        other => panic!("expected TooNew, got {:?}", other.err()),
    }
}

#[test]
fn ledger_database_is_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    drop(Ledger::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(ledger::ledger_path(dir.path())).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

// ---------- safe_write ----------

use iphone_import::import::layout::RelPath;
use iphone_import::import::safe_write::{self, Destination, Outcome, SafeWriteError, SourceKey};

fn key(path: &str, size: u64) -> SourceKey<'_> {
    SourceKey {
        udid: "udid-1",
        device_path: path,
        copy: "",
        size,
        mtime_ns: 1_683_461_002_000_000_000,
    }
}

fn content(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with(".iphone-import") {
                    stack.push(p);
                }
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

fn temps(dest: &Destination) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dest.state_dir().join(safe_write::TMP_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn safe_write_writes_hashes_sets_mtime_and_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let dest = Destination::open(dir.path()).unwrap();
    let data = content(100_000, 1);
    let mut p = dest
        .begin(&key("DCIM/100APPLE/IMG_0001.HEIC", 100_000))
        .unwrap();
    assert_eq!(p.resume_offset(), 0);
    p.copy_from(&mut &data[..]).unwrap();
    let staged = p.finish().unwrap();
    assert_eq!(staged.blake3(), blake3::hash(&data));
    assert_eq!(std::fs::read(staged.temp_path()).unwrap(), data);
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_683_461_002);
    let rel = RelPath::parse("2023/05/IMG_0001.HEIC").unwrap();
    let c = staged.commit(&rel, Some(mtime), 0).unwrap();
    assert_eq!(c.outcome, Outcome::Written);
    assert_eq!((c.rel.clone(), c.suffix), (rel, 0));
    let final_path = dir.path().join("2023/05/IMG_0001.HEIC");
    assert_eq!(std::fs::read(&final_path).unwrap(), data);
    assert_eq!(
        std::fs::metadata(&final_path).unwrap().modified().unwrap(),
        mtime
    );
    assert!(temps(&dest).is_empty(), "temp file moved, not copied");
    assert_eq!(safe_write::hash_file(&final_path).unwrap(), c.blake3);
}

#[test]
fn safe_write_crash_mid_write_leaves_only_a_resumable_temp() {
    let dir = tempfile::tempdir().unwrap();
    let dest = Destination::open(dir.path()).unwrap();
    let data = content(50_000, 2);
    let k = key("DCIM/100APPLE/IMG_0002.JPG", 50_000);
    {
        let mut p = dest.begin(&k).unwrap();
        p.write_all(&data[..20_000]).unwrap();
        // "Crash": the writer is dropped without finish/commit.
    }
    assert!(
        files_under(dir.path()).is_empty(),
        "no file outside the state dir"
    );
    assert_eq!(temps(&dest).len(), 1);

    // Resume: same key → same temp, prefix re-hashed, continue from 20 000.
    let k = SourceKey {
        device_path: "/DCIM/100APPLE/IMG_0002.JPG",
        ..k
    };
    let mut p = dest.begin(&k).unwrap();
    assert_eq!(p.resume_offset(), 20_000);
    p.copy_from(&mut &data[20_000..]).unwrap();
    let staged = p.finish().unwrap();
    assert_eq!(
        staged.blake3(),
        blake3::hash(&data),
        "hash covers the resumed prefix"
    );
    let c = staged
        .commit(&RelPath::parse("IMG_0002.JPG").unwrap(), None, 0)
        .unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("IMG_0002.JPG")).unwrap(),
        data
    );
    assert_eq!(c.blake3, blake3::hash(&data));
}

#[test]
fn safe_write_changed_source_discards_stale_temp() {
    let dir = tempfile::tempdir().unwrap();
    let dest = Destination::open(dir.path()).unwrap();
    let path = "DCIM/100APPLE/IMG_0003.HEIC";
    {
        let mut p = dest.begin(&key(path, 1000)).unwrap();
        p.write_all(&[1; 500]).unwrap();
    }
    let mut other_file = dest.begin(&key("DCIM/100APPLE/IMG_0004.HEIC", 10)).unwrap();
    other_file.write_all(&[2; 5]).unwrap();
    drop(other_file);
    assert_eq!(temps(&dest).len(), 2);
    // Same device file, new size/mtime (edited on the phone): starts from scratch.
    let changed = SourceKey {
        mtime_ns: 42,
        ..key(path, 1000)
    };
    let p = dest.begin(&changed).unwrap();
    assert_eq!(p.resume_offset(), 0);
    assert_eq!(
        temps(&dest).len(),
        2,
        "stale temp removed, other file's temp kept"
    );
    drop(p);
    assert_eq!(dest.remove_temps().unwrap(), 2);
}

#[test]
fn safe_write_collision_gets_suffix_identical_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let dest = Destination::open(dir.path()).unwrap();
    let rel = RelPath::parse("2023/05/IMG_0001.HEIC").unwrap();
    std::fs::create_dir_all(dir.path().join("2023/05")).unwrap();
    let theirs = content(1000, 9);
    std::fs::write(dir.path().join("2023/05/IMG_0001.HEIC"), &theirs).unwrap();

    let write = |data: &[u8], dev: &str| {
        let mut p = dest.begin(&key(dev, data.len() as u64)).unwrap();
        p.write_all(data).unwrap();
        p.finish().unwrap()
    };
    let ours = content(1000, 3); // same size, different bytes
    let c = write(&ours, "a").commit(&rel, None, 0).unwrap();
    assert_eq!(c.outcome, Outcome::Written);
    assert_eq!(c.suffix, 1);
    assert_eq!(c.rel.to_string(), "2023/05/IMG_0001 (1).HEIC");
    assert_eq!(
        std::fs::read(dir.path().join("2023/05/IMG_0001.HEIC")).unwrap(),
        theirs
    );
    assert_eq!(
        std::fs::read(dir.path().join("2023/05/IMG_0001 (1).HEIC")).unwrap(),
        ours
    );

    // Identical content to the suffixed file: reused, nothing new written.
    let c = write(&ours, "b").commit(&rel, None, 0).unwrap();
    assert_eq!(c.outcome, Outcome::AlreadyPresent);
    assert_eq!(c.rel.to_string(), "2023/05/IMG_0001 (1).HEIC");
    // A Live Photo's video follows its photo's suffix.
    let c = write(b"video", "c")
        .commit(&RelPath::parse("2023/05/IMG_0001.MOV").unwrap(), None, 1)
        .unwrap();
    assert_eq!(c.rel.to_string(), "2023/05/IMG_0001 (1).MOV");
    assert_eq!(
        files_under(dir.path()),
        [
            "2023/05/IMG_0001 (1).HEIC",
            "2023/05/IMG_0001 (1).MOV",
            "2023/05/IMG_0001.HEIC"
        ]
    );
    assert!(temps(&dest).is_empty());
}

#[test]
fn safe_write_disk_full_is_typed_and_leaves_no_final_file() {
    let dir = tempfile::tempdir().unwrap();
    let dest = Destination::open(dir.path()).unwrap();
    let data = content(10_000, 4);
    let k = key("DCIM/100APPLE/IMG_0005.MOV", 10_000);
    let mut p = dest.begin(&k).unwrap();
    p.fail_writes_after(4096);
    let err = p.copy_from(&mut &data[..]).unwrap_err();
    assert!(matches!(err, SafeWriteError::DiskFull { .. }), "{err:?}");
    assert!(err.to_string().contains("full"), "{err}");
    // Poisoned: no more writes, no finish.
    assert!(matches!(p.write_all(b"x"), Err(SafeWriteError::Poisoned)));
    assert!(matches!(p.finish(), Err(SafeWriteError::Poisoned)));
    assert!(files_under(dir.path()).is_empty());
    // The temp keeps the bytes that reached the disk and resumes from there.
    let mut p = dest.begin(&k).unwrap();
    assert_eq!(p.resume_offset(), 4096);
    p.copy_from(&mut &data[4096..]).unwrap();
    assert_eq!(p.finish().unwrap().blake3(), blake3::hash(&data));
}

#[test]
fn safe_write_source_failure_and_wrong_size_never_commit() {
    struct FailingSource(usize);
    impl std::io::Read for FailingSource {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("device unplugged"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(7);
            self.0 -= n;
            Ok(n)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let dest = Destination::open(dir.path()).unwrap();
    let mut p = dest.begin(&key("x", 1000)).unwrap();
    assert!(matches!(
        p.copy_from(&mut FailingSource(300)),
        Err(SafeWriteError::Source(_))
    ));
    assert!(matches!(
        p.finish(),
        Err(SafeWriteError::SizeMismatch {
            expected: 1000,
            got: 300
        })
    ));
    let mut p = dest.begin(&key("y", 10)).unwrap();
    assert!(matches!(
        p.write_all(&[0; 11]),
        Err(SafeWriteError::SizeMismatch { .. })
    ));
    assert!(files_under(dir.path()).is_empty());
}

// ---------- lock ----------

use iphone_import::import::lock::{DestLock, LockError};

#[test]
fn lock_second_run_is_told_who_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = DestLock::acquire(dir.path(), "pull /home/ann/Pictures/iPhone").unwrap();
    let err = DestLock::acquire(dir.path(), "pull again").unwrap_err();
    match &err {
        LockError::Busy { holder, dest } => {
            assert_eq!(holder.pid, Some(std::process::id()));
            assert_eq!(
                holder.command.as_deref(),
                Some("pull /home/ann/Pictures/iPhone")
            );
            assert!(holder.host.is_some());
            assert!(holder.started.is_some());
            assert_eq!(dest, dir.path());
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    assert!(msg.contains("`pull /home/ann/Pictures/iPhone`"), "{msg}");
    assert!(msg.contains("wait"), "{msg}");
    drop(first);
    // Released on close (as when the holder dies): the next run gets it.
    let again = DestLock::acquire(dir.path(), "pull x").unwrap();
    assert!(again.path().ends_with("lock"));
}

#[test]
fn lock_held_by_another_process_then_released_when_it_is_killed() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".iphone-import");
    std::fs::create_dir_all(&state).unwrap();
    let lock_path = state.join("lock");
    // util-linux flock(1): take the lock, write our pid like iphone-import does, then wait.
    // -F (no fork) makes the shell itself the holder, so killing it is a process death.
    let script = format!(
        "printf 'pid=%s\\ncommand=pull elsewhere\\n' $$ > '{}'; echo ready; exec cat",
        lock_path.display()
    );
    let Some(flock) = common::peer("flock") else {
        return;
    };
    let child = Command::new(flock)
        .args(["-F", "-x"])
        .arg(&lock_path)
        .args(["sh", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let mut child = child.expect("start flock(1)");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "flock -F failed to start");
    match DestLock::acquire(dir.path(), "pull here") {
        Err(LockError::Busy { holder, .. }) => {
            assert_eq!(holder.pid, Some(child.id()));
            assert_eq!(holder.command.as_deref(), Some("pull elsewhere"));
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The dead holder's lock file (still holding its pid) is no obstacle.
    assert!(
        std::fs::read_to_string(&lock_path)
            .unwrap()
            .contains("pid=")
    );
    DestLock::acquire(dir.path(), "pull here").unwrap();
}

// ---------- blocks together ----------

use iphone_import::import::layout::{Layout, ResourceVars};

#[test]
fn hostile_device_name_still_lands_inside_dest() {
    let dir = tempfile::tempdir().unwrap();
    let dest_root = dir.path().join("dest");
    let dest = Destination::open(&dest_root).unwrap();
    let layout = Layout::parse("{device}/{dcim_folder}/{name}").unwrap();
    let jpg = jpeg_with_exif("2023:05:07 14:03:22", Some("+02:00"));
    let mut p = dest
        .begin(&key("DCIM/100APPLE/IMG_0001.JPG", jpg.len() as u64))
        .unwrap();
    p.write_all(&jpg).unwrap();
    let staged = p.finish().unwrap();
    let date = dates::capture_date_of(staged.temp_path(), &Fallbacks::default()).unwrap();
    let rel = layout
        .render(&ResourceVars {
            date: date.day(),
            stem: "IMG_0001",
            ext: "JPG",
            device: "../../../tmp/evil",
            dcim_folder: "..",
            album: "",
            original_stem: "",
            favorite: false,
            kind: "photo",
        })
        .unwrap();
    let c = staged.commit(&rel, Some(date.system_time()), 0).unwrap();
    let written = c.rel.under(&dest_root);
    assert!(written.starts_with(&dest_root));
    assert_eq!(std::fs::read(&written).unwrap(), jpg);
    assert_eq!(c.rel.to_string(), "_._.._.._tmp_evil/_/IMG_0001.JPG");
    assert_eq!(
        files_under(&dest_root),
        ["_._.._.._tmp_evil/_/IMG_0001.JPG"]
    );
    assert_eq!(
        std::fs::metadata(&written).unwrap().modified().unwrap(),
        date.system_time()
    );
}
