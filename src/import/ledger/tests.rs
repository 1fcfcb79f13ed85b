//! Unit tests of the ledger: splitting a device path into its folder, and pending rows (noted,
//! then recorded or dropped).

use super::*;

#[test]
fn folder_split() {
    assert_eq!(
        split_folder("DCIM/100APPLE/IMG_1.HEIC"),
        ("DCIM/100APPLE", "IMG_1.HEIC")
    );
    assert_eq!(
        split_folder("/DCIM/100APPLE/IMG_1.HEIC"),
        ("DCIM/100APPLE", "IMG_1.HEIC")
    );
    assert_eq!(split_folder("x"), ("", "x"));
}

fn entry(path: &str, byte: u8) -> Entry {
    Entry {
        udid: "u".into(),
        device_path: path.into(),
        copy: String::new(),
        size: 3,
        device_mtime_ns: 7,
        dest_path: format!("2026/{byte}.JPG"),
        blake3: [byte; 32],
        imported_at_ns: 9,
    }
}

#[test]
fn pending_rows_are_recorded_or_dropped_and_recording_clears_them() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(tmp.path()).unwrap();
    let (a, b, c) = (
        entry("DCIM/A.JPG", 1),
        entry("DCIM/B.JPG", 2),
        entry("/DCIM/C.JPG", 3),
    );
    ledger
        .intend(&[a.clone(), b.clone(), c.clone()], "phone")
        .unwrap();
    // Recording a row the usual way removes its pending twin.
    ledger.record(&c, "phone").unwrap();
    let mut pending = ledger.pending().unwrap();
    pending.sort_by(|x, y| x.0.device_path.cmp(&y.0.device_path));
    assert_eq!(
        pending,
        [(a.clone(), "phone".into()), (b.clone(), "phone".into())]
    );
    assert_eq!(ledger.lookup("u", "DCIM/A.JPG").unwrap(), None);
    ledger
        .settle_pending(&[(a.clone(), "phone".into())])
        .unwrap();
    assert!(ledger.pending().unwrap().is_empty());
    assert_eq!(ledger.lookup("u", "DCIM/A.JPG").unwrap(), Some(a));
    assert_eq!(ledger.lookup("u", "DCIM/B.JPG").unwrap(), None);
    assert_eq!(
        ledger.lookup("u", "DCIM/C.JPG").unwrap().unwrap().blake3,
        [3; 32]
    );
}
