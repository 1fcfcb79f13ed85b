//! Capture dates read from real (tiny) media files: EXIF in HEIC and JPEG, QuickTime
//! metadata in MOV, and the fallback order.

mod media_builders;

use std::io::Cursor;

use chrono::{FixedOffset, NaiveDate, TimeZone};
use iphone_import::import::dates::{self, DateSource, Fallbacks};
use media_builders::*;

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
