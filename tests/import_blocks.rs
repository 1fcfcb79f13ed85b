//! Tests of the import building blocks (src/import/) against real files in temp folders.

mod common;

use std::io::Cursor;

use chrono::{FixedOffset, NaiveDate, TimeZone};
use iphone_import::import::dates::{self, DateSource, Fallbacks};

// ---------- builders for tiny media files ----------

/// A big-endian TIFF with IFD0 → Exif IFD holding DateTimeOriginal and, optionally,
/// OffsetTimeOriginal.
fn tiff_with_dates(date: &str, offset: Option<&str>) -> Vec<u8> {
    let mut entries: Vec<(u16, Vec<u8>)> = vec![(0x9003, format!("{date}\0").into_bytes())];
    if let Some(o) = offset {
        entries.push((0x9011, format!("{o}\0").into_bytes()));
    }
    let mut t = Vec::new();
    t.extend_from_slice(b"MM\0*");
    t.extend_from_slice(&8u32.to_be_bytes());
    // IFD0: one entry, ExifIFDPointer.
    let exif_ifd = 8 + 2 + 12 + 4;
    t.extend_from_slice(&1u16.to_be_bytes());
    t.extend_from_slice(&0x8769u16.to_be_bytes());
    t.extend_from_slice(&4u16.to_be_bytes()); // LONG
    t.extend_from_slice(&1u32.to_be_bytes());
    t.extend_from_slice(&(exif_ifd as u32).to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    // Exif IFD, values stored after it.
    let mut data_at = exif_ifd + 2 + 12 * entries.len() + 4;
    t.extend_from_slice(&(entries.len() as u16).to_be_bytes());
    let mut data = Vec::new();
    for (tag, value) in &entries {
        t.extend_from_slice(&tag.to_be_bytes());
        t.extend_from_slice(&2u16.to_be_bytes()); // ASCII
        t.extend_from_slice(&(value.len() as u32).to_be_bytes());
        if value.len() <= 4 {
            let mut v = value.clone();
            v.resize(4, 0);
            t.extend_from_slice(&v);
        } else {
            t.extend_from_slice(&(data_at as u32).to_be_bytes());
            data.extend_from_slice(value);
            data_at += value.len();
        }
    }
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&data);
    t
}

/// SOI + APP1 "Exif" + a little scan data + EOI.
fn jpeg_with_exif(date: &str, offset: Option<&str>) -> Vec<u8> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff_with_dates(date, offset));
    let mut j = vec![0xff, 0xd8, 0xff, 0xe1];
    j.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    j.extend_from_slice(&payload);
    j.extend_from_slice(&[0xff, 0xda, 0x00, 0x02, 1, 2, 3, 0xff, 0xd9]);
    j
}

fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    b.extend_from_slice(kind);
    b.extend_from_slice(body);
    b
}

/// ftyp + mdat + moov{mvhd, meta{hdlr, keys, ilst}} like an iPhone MOV (moov after mdat).
fn mov(mvhd_secs_since_1904: u32, creationdate: Option<&str>) -> Vec<u8> {
    mov_with_mdat(mvhd_secs_since_1904, creationdate, 3000)
}

fn mov_with_mdat(
    mvhd_secs_since_1904: u32,
    creationdate: Option<&str>,
    mdat_len: usize,
) -> Vec<u8> {
    let mut mvhd = vec![0u8; 100];
    mvhd[4..8].copy_from_slice(&mvhd_secs_since_1904.to_be_bytes());
    let mut moov = bx(b"mvhd", &mvhd);
    if let Some(text) = creationdate {
        let mut hdlr = vec![0u8; 8];
        hdlr.extend_from_slice(b"mdta");
        hdlr.extend_from_slice(&[0u8; 13]);
        let key_names: [&[u8]; 2] = [
            b"com.apple.quicktime.make",
            b"com.apple.quicktime.creationdate",
        ];
        let mut keys = vec![0, 0, 0, 0];
        keys.extend_from_slice(&2u32.to_be_bytes());
        for k in key_names {
            keys.extend_from_slice(&((k.len() + 8) as u32).to_be_bytes());
            keys.extend_from_slice(b"mdta");
            keys.extend_from_slice(k);
        }
        let data = |v: &[u8]| {
            let mut d = 1u32.to_be_bytes().to_vec();
            d.extend_from_slice(&[0, 0, 0, 0]);
            d.extend_from_slice(v);
            bx(b"data", &d)
        };
        let mut ilst = bx(&1u32.to_be_bytes(), &data(b"Apple"));
        ilst.extend_from_slice(&bx(&2u32.to_be_bytes(), &data(text.as_bytes())));
        let mut meta = bx(b"hdlr", &hdlr);
        meta.extend_from_slice(&bx(b"keys", &keys));
        meta.extend_from_slice(&bx(b"ilst", &ilst));
        moov.extend_from_slice(&bx(b"meta", &meta));
    }
    let mut f = bx(b"ftyp", b"qt  \0\0\0\0qt  ");
    f.extend_from_slice(&bx(b"wide", b""));
    f.extend_from_slice(&bx(b"mdat", &vec![0xAB; mdat_len]));
    f.extend_from_slice(&bx(b"moov", &moov));
    f
}

/// ftyp + meta{hdlr, iinf{infe Exif}, iloc} + mdat holding the Exif item, like a HEIC.
fn heic_with_exif(date: &str, offset: Option<&str>) -> Vec<u8> {
    heic_with_exif_after(date, offset, 0)
}

/// Same, with `padding` bytes of image data in `mdat` before the Exif item.
fn heic_with_exif_after(date: &str, offset: Option<&str>, padding: usize) -> Vec<u8> {
    let full = |v: u8, body: &[u8]| {
        let mut b = vec![v, 0, 0, 0];
        b.extend_from_slice(body);
        b
    };
    let mut item = 0u32.to_be_bytes().to_vec(); // offset to the TIFF header
    item.extend_from_slice(&tiff_with_dates(date, offset));
    let ftyp = bx(b"ftyp", b"heic\0\0\0\0mif1heic");
    let build_meta = |extent_offset: u32| {
        let mut hdlr = vec![0u8; 4];
        hdlr.extend_from_slice(b"pict");
        hdlr.extend_from_slice(&[0u8; 13]);
        let mut infe = 1u16.to_be_bytes().to_vec();
        infe.extend_from_slice(&0u16.to_be_bytes());
        infe.extend_from_slice(b"Exif\0");
        let mut iinf = 1u16.to_be_bytes().to_vec();
        iinf.extend_from_slice(&bx(b"infe", &full(2, &infe)));
        let mut iloc = vec![0x44, 0x00];
        iloc.extend_from_slice(&1u16.to_be_bytes()); // item count
        iloc.extend_from_slice(&1u16.to_be_bytes()); // item id
        iloc.extend_from_slice(&0u16.to_be_bytes()); // data reference index
        iloc.extend_from_slice(&1u16.to_be_bytes()); // extent count
        iloc.extend_from_slice(&extent_offset.to_be_bytes());
        iloc.extend_from_slice(&(item.len() as u32).to_be_bytes());
        let mut meta = bx(b"hdlr", &full(0, &hdlr));
        meta.extend_from_slice(&bx(b"iinf", &full(0, &iinf)));
        meta.extend_from_slice(&bx(b"iloc", &full(0, &iloc)));
        bx(b"meta", &full(0, &meta))
    };
    let meta_len = build_meta(0).len();
    let item_at = (ftyp.len() + meta_len + 8 + padding) as u32;
    let mut f = ftyp.clone();
    f.extend_from_slice(&build_meta(item_at));
    let mut mdat = vec![0x5A; padding];
    mdat.extend_from_slice(&item);
    f.extend_from_slice(&bx(b"mdat", &mdat));
    f
}

// ---------- dates ----------

#[test]
fn dates_from_heic_exif_item() {
    let heic = heic_with_exif("2024:02:29 08:15:00", Some("-07:00"));
    let d = dates::embedded_date(&mut Cursor::new(heic)).expect("a date");
    assert_eq!(d.source, DateSource::Exif);
    assert_eq!(d.at.to_rfc3339(), "2024-02-29T08:15:00-07:00");
}

#[test]
fn dates_from_jpeg_exif_with_offset() {
    let jpg = jpeg_with_exif("2023:05:07 14:03:22", Some("+02:00"));
    let d = dates::embedded_date(&mut Cursor::new(jpg)).expect("a date");
    assert_eq!(d.source, DateSource::Exif);
    assert!(d.offset_known);
    assert_eq!(d.at.to_rfc3339(), "2023-05-07T14:03:22+02:00");
    assert_eq!(d.day(), NaiveDate::from_ymd_opt(2023, 5, 7).unwrap());
    assert_eq!(d.instant().to_rfc3339(), "2023-05-07T12:03:22+00:00");
}

#[test]
fn dates_from_jpeg_exif_without_offset_keep_wall_time() {
    let jpg = jpeg_with_exif("2021:12:31 23:59:59", None);
    let d = dates::embedded_date(&mut Cursor::new(jpg)).expect("a date");
    assert!(!d.offset_known);
    assert_eq!(d.wall().to_string(), "2021-12-31 23:59:59");
}

#[test]
fn dates_from_mov_prefer_apple_creationdate() {
    // mvhd says 2023-05-07T12:03:22Z; the mdta key says local 14:03:22+02:00, same instant.
    let mvhd = (1_683_461_002i64 + 2_082_844_800) as u32;
    let f = mov(mvhd, Some("2023-05-07T14:03:22+0200"));
    let d = dates::embedded_date(&mut Cursor::new(f)).expect("a date");
    assert_eq!(d.source, DateSource::QuickTimeCreationDate);
    assert_eq!(d.at.to_rfc3339(), "2023-05-07T14:03:22+02:00");
    assert_eq!(d.instant().timestamp(), 1_683_461_002);
}

#[test]
fn dates_from_mov_fall_back_to_mvhd_utc() {
    let mvhd = (1_683_461_002i64 + 2_082_844_800) as u32;
    let d = dates::embedded_date(&mut Cursor::new(mov(mvhd, None))).expect("a date");
    assert_eq!(d.source, DateSource::QuickTimeMovieHeader);
    assert!(!d.offset_known);
    assert_eq!(d.instant().timestamp(), 1_683_461_002);
    // mvhd 0 means unset: no embedded date at all.
    assert_eq!(dates::embedded_date(&mut Cursor::new(mov(0, None))), None);
}

/// Counts the bytes actually read (seeks are free).
struct Counting<R> {
    inner: R,
    read: u64,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl<R: std::io::Seek> std::io::Seek for Counting<R> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[test]
fn dates_of_large_files_read_only_the_metadata() {
    const BIG: usize = 24 * 1024 * 1024; // more than the 16 MiB read budget
    let heic = heic_with_exif_after("2024:02:29 08:15:00", Some("+01:00"), BIG);
    let mut r = Counting {
        inner: Cursor::new(heic),
        read: 0,
    };
    let d = dates::embedded_date(&mut r).expect("Exif item found past the image data");
    assert_eq!(d.at.to_rfc3339(), "2024-02-29T08:15:00+01:00");
    assert!(r.read < 256 * 1024, "read {} bytes", r.read);

    // iPhone MOV: moov after a big mdat.
    let f = mov_with_mdat(5, Some("2023-05-07T14:03:22+0200"), BIG);
    let mut r = Counting {
        inner: Cursor::new(f),
        read: 0,
    };
    let d = dates::embedded_date(&mut r).expect("moov found after mdat");
    assert_eq!(d.source, DateSource::QuickTimeCreationDate);
    assert!(r.read < 256 * 1024, "read {} bytes", r.read);
}

#[test]
fn dates_fallback_order() {
    let db = FixedOffset::east_opt(-5 * 3600)
        .unwrap()
        .with_ymd_and_hms(2020, 1, 2, 3, 4, 5)
        .unwrap();
    let birth = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    let both = Fallbacks {
        photos_db: Some(db),
        birth_time: Some(birth),
    };
    let birth_only = Fallbacks {
        photos_db: None,
        birth_time: Some(birth),
    };
    let no_meta = || Cursor::new(vec![0u8; 64]);

    let d = dates::capture_date(&mut no_meta(), &both).unwrap();
    assert_eq!((d.source, d.at), (DateSource::PhotosDatabase, db));
    let d = dates::capture_date(&mut no_meta(), &birth_only).unwrap();
    assert_eq!(d.source, DateSource::FileBirthTime);
    assert_eq!(d.system_time(), birth);
    assert_eq!(
        dates::capture_date(&mut no_meta(), &Fallbacks::default()),
        None
    );
    // Embedded metadata wins over every fallback.
    let jpg = jpeg_with_exif("2023:05:07 14:03:22", Some("+02:00"));
    let d = dates::capture_date(&mut Cursor::new(jpg), &both).unwrap();
    assert_eq!(d.source, DateSource::Exif);
}

#[test]
fn dates_survive_truncated_and_corrupt_files() {
    let jpg = jpeg_with_exif("2023:05:07 14:03:22", Some("+02:00"));
    for cut in [0, 1, 3, 10, 20, 40, jpg.len() / 2] {
        let _ = dates::embedded_date(&mut Cursor::new(jpg[..cut].to_vec()));
    }
    let f = mov(5, Some("2023-05-07T14:03:22+0200"));
    for cut in (0..f.len()).step_by(97) {
        let _ = dates::embedded_date(&mut Cursor::new(f[..cut].to_vec()));
    }
    let mut bad = jpeg_with_exif("2023:13:45 99:99:99", None);
    assert_eq!(dates::embedded_date(&mut Cursor::new(&mut bad)), None);
}

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
