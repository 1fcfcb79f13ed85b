//! Capture date of an imported file, for the layout (local wall time) and the file mtime (instant).
//!
//! Order: EXIF DateTimeOriginal (+ OffsetTimeOriginal) from JPEG/HEIC; else the QuickTime
//! `com.apple.quicktime.creationdate` (local time with offset); else the movie header (`mvhd`,
//! UTC); else the caller's fallbacks: the Photos.sqlite date, then the file's birth time.
//!
//! Decision: this reads a *local, already written* file through `Read + Seek` (in practice the
//! temp file of `safe_write` before it is renamed, because the final path depends on the date).
//! A prefix of the stream is not enough: iPhone MOVs keep `moov` after `mdat`, and a HEIC's Exif
//! item may sit anywhere its `iloc` says. Seeking a local file is cheap; what is bounded is what
//! gets read: every read goes through a budget of [`MAX_METADATA_READ`] bytes, and single boxes
//! are read only below fixed limits, so a hostile multi-GB file costs at most a few MB.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::time::SystemTime;

use chrono::{DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Most bytes read from one file while looking for its date.
pub(crate) const MAX_METADATA_READ: u64 = 16 * 1024 * 1024;
/// Prefix of a TIFF/DNG file parsed for EXIF.
const MAX_TIFF_PREFIX: u64 = 4 * 1024 * 1024;
/// Largest QuickTime `meta` box read into memory.
const MAX_QT_META: u64 = 1024 * 1024;
/// Most sibling boxes looked at on one level (a file of millions of tiny boxes is garbage).
const MAX_BOXES_PER_LEVEL: usize = 4096;
/// Seconds from 1904-01-01 (QuickTime epoch) to 1970-01-01.
const QT_EPOCH_OFFSET: i64 = 2_082_844_800;
#[cfg(test)]
/// Seconds from 1970-01-01 to 2001-01-01 (Core Data epoch, Photos.sqlite).
pub(crate) const CORE_DATA_EPOCH_OFFSET: i64 = 978_307_200;

/// Where a capture date came from (shown by verbose output; kept in the ledger if wanted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateSource {
    /// EXIF DateTimeOriginal (or DateTimeDigitized), with OffsetTimeOriginal when present.
    Exif,
    /// QuickTime `com.apple.quicktime.creationdate` (local time with offset).
    QuickTimeCreationDate,
    /// QuickTime movie header creation time (UTC).
    QuickTimeMovieHeader,
    /// The Photos.sqlite date supplied by the caller.
    PhotosDatabase,
    /// The file's birth time on the phone, supplied by the caller.
    FileBirthTime,
}

/// A capture date. `at` carries the offset in force where the picture was taken when the file
/// says so (`offset_known`); otherwise the host's local time zone was used to fill the gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureDate {
    pub at: DateTime<FixedOffset>,
    pub offset_known: bool,
    pub source: DateSource,
}

impl CaptureDate {
    /// Local wall time at capture: what the layout's `{year}/{month}/{day}` and the filters use.
    pub fn wall(&self) -> NaiveDateTime {
        self.at.naive_local()
    }

    /// Local calendar day at capture.
    pub fn day(&self) -> NaiveDate {
        self.wall().date()
    }

    /// The absolute instant, e.g. for the file mtime.
    pub fn instant(&self) -> DateTime<Utc> {
        self.at.with_timezone(&Utc)
    }

    /// The instant as a `SystemTime` (for `File::set_modified`).
    pub fn system_time(&self) -> SystemTime {
        self.instant().into()
    }
}

/// Dates the caller knows from elsewhere, used when the file itself has none.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fallbacks {
    /// Photos.sqlite ZDATECREATED with the asset's time-zone offset (as the library's
    /// `db_rows::core_data_time` reads it).
    pub photos_db: Option<DateTime<FixedOffset>>,
    /// AFC `st_birthtime` of the file on the phone.
    pub birth_time: Option<SystemTime>,
}

#[cfg(test)]
/// Converts a Photos.sqlite Core Data timestamp (seconds since 2001-01-01 UTC) and an optional
/// offset in seconds east of UTC (ZTIMEZONEOFFSET) into a date. `None` on nonsense values.
pub(crate) fn from_core_data(
    seconds: f64,
    offset_secs: Option<i32>,
) -> Option<DateTime<FixedOffset>> {
    if !seconds.is_finite() || seconds.abs() > 1e11 {
        return None;
    }
    let whole = seconds.floor();
    let nanos = ((seconds - whole) * 1e9) as u32;
    let utc = DateTime::from_timestamp(whole as i64 + CORE_DATA_EPOCH_OFFSET, nanos)?;
    let offset = FixedOffset::east_opt(offset_secs.unwrap_or(0))?;
    Some(utc.with_timezone(&offset))
}

/// The capture date of a file: embedded metadata first, then `fallbacks` in order.
/// `None` only when the file has no usable date and no fallback was given.
pub fn capture_date<R: Read + Seek>(file: &mut R, fallbacks: &Fallbacks) -> Option<CaptureDate> {
    embedded_date(file).or_else(|| fallback_date(fallbacks))
}

/// [`capture_date`] of a local file (e.g. `Staged::temp_path()`); if it cannot be opened, the
/// fallbacks alone.
pub fn capture_date_of(path: &std::path::Path, fallbacks: &Fallbacks) -> Option<CaptureDate> {
    match std::fs::File::open(path) {
        Ok(mut f) => capture_date(&mut f, fallbacks),
        Err(_) => fallback_date(fallbacks),
    }
}

/// The date from the caller's fallbacks alone (Photos.sqlite, then birth time).
pub(crate) fn fallback_date(fallbacks: &Fallbacks) -> Option<CaptureDate> {
    if let Some(at) = fallbacks.photos_db {
        return Some(CaptureDate {
            at,
            offset_known: true,
            source: DateSource::PhotosDatabase,
        });
    }
    fallbacks.birth_time.map(|t| CaptureDate {
        at: in_host_zone(DateTime::<Utc>::from(t)),
        offset_known: false,
        source: DateSource::FileBirthTime,
    })
}

/// The date embedded in the file (EXIF, then QuickTime), reading at most
/// [`MAX_METADATA_READ`] bytes. Garbage input gives `None`, never a panic or a large allocation.
pub fn embedded_date<R: Read + Seek>(file: &mut R) -> Option<CaptureDate> {
    let mut budget = Budget {
        inner: &mut *file,
        left: MAX_METADATA_READ,
    };
    if budget.seek(SeekFrom::Start(0)).is_err() {
        return None;
    }
    if let Some(d) = exif_date(&mut budget) {
        return Some(d);
    }
    if budget.seek(SeekFrom::Start(0)).is_err() {
        return None;
    }
    quicktime_date(&mut budget)
}

/// The raw EXIF (TIFF bytes, as a JPEG's APP1 holds them after `Exif\0\0`) of a JPEG or
/// HEIC/HEIF, read within the same [`MAX_METADATA_READ`] budget as the dates.
pub(crate) fn container_exif<R: Read + Seek>(file: &mut R) -> Option<Vec<u8>> {
    let mut budget = Budget {
        inner: &mut *file,
        left: MAX_METADATA_READ,
    };
    budget.seek(SeekFrom::Start(0)).ok()?;
    let mut buffered = BufReader::with_capacity(8192, budget);
    let ex = exif::Reader::new()
        .read_from_container(&mut buffered)
        .ok()?;
    Some(ex.buf().to_vec())
}

/// A reader that fails once it has delivered `left` bytes, whatever the seeks in between.
struct Budget<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other("metadata read limit reached"));
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for Budget<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

fn in_host_zone(utc: DateTime<Utc>) -> DateTime<FixedOffset> {
    utc.with_timezone(&Local).fixed_offset()
}

/// EXIF DateTimeOriginal (else DateTimeDigitized) of a JPEG, HEIC/HEIF, PNG or TIFF.
fn exif_date<R: Read + Seek>(r: &mut R) -> Option<CaptureDate> {
    use exif::{In, Tag, Value};
    let mut magic = [0u8; 4];
    r.read_exact(&mut magic).ok()?;
    r.seek(SeekFrom::Start(0)).ok()?;
    let ex = if &magic == b"II*\0" || &magic == b"MM\0*" {
        // TIFF-based (DNG): the crate would read the whole file; the IFDs with the dates sit
        // near the start, so parse a prefix and keep whatever fields it yields.
        let mut prefix = Vec::new();
        r.take(MAX_TIFF_PREFIX).read_to_end(&mut prefix).ok()?;
        let mut reader = exif::Reader::new();
        reader.continue_on_error(true);
        reader
            .read_raw(prefix)
            .or_else(|e| e.distill_partial_result(|_| {}))
            .ok()?
    } else {
        let mut buffered = BufReader::with_capacity(8192, r);
        exif::Reader::new()
            .read_from_container(&mut buffered)
            .ok()?
    };
    let ascii = |tag: Tag| -> Option<Vec<u8>> {
        match &ex.get_field(tag, In::PRIMARY)?.value {
            Value::Ascii(v) => v.first().cloned(),
            _ => None,
        }
    };
    for (date_tag, offset_tag, subsec_tag) in [
        (
            Tag::DateTimeOriginal,
            Tag::OffsetTimeOriginal,
            Tag::SubSecTimeOriginal,
        ),
        (
            Tag::DateTimeDigitized,
            Tag::OffsetTimeDigitized,
            Tag::SubSecTimeDigitized,
        ),
    ] {
        let Some(raw) = ascii(date_tag) else { continue };
        let Ok(mut dt) = exif::DateTime::from_ascii(&raw) else {
            continue;
        };
        if let Some(sub) = ascii(subsec_tag) {
            let _ = dt.parse_subsec(&sub);
        }
        if let Some(off) = ascii(offset_tag) {
            let _ = dt.parse_offset(&off);
        }
        let Some(wall) = NaiveDate::from_ymd_opt(dt.year.into(), dt.month.into(), dt.day.into())
            .and_then(|d| {
                d.and_hms_nano_opt(
                    dt.hour.into(),
                    dt.minute.into(),
                    dt.second.into(),
                    dt.nanosecond.unwrap_or(0),
                )
            })
        else {
            continue;
        };
        let (at, offset_known) = match dt
            .offset
            .and_then(|m| FixedOffset::east_opt(i32::from(m) * 60))
        {
            Some(off) => match off.from_local_datetime(&wall).single() {
                Some(at) => (at, true),
                None => continue,
            },
            None => match Local.from_local_datetime(&wall).earliest() {
                Some(at) => (at.fixed_offset(), false),
                None => continue,
            },
        };
        return Some(CaptureDate {
            at,
            offset_known,
            source: DateSource::Exif,
        });
    }
    None
}

/// One ISOBMFF/QuickTime box: where its body starts and ends, and its type.
struct BoxHeader {
    kind: [u8; 4],
    body_start: u64,
    end: u64,
}

/// Reads the box header at `pos`, within a parent that ends at `limit`.
fn box_at<R: Read + Seek>(r: &mut R, pos: u64, limit: u64) -> Option<BoxHeader> {
    if pos.checked_add(8)? > limit {
        return None;
    }
    r.seek(SeekFrom::Start(pos)).ok()?;
    let mut h = [0u8; 8];
    r.read_exact(&mut h).ok()?;
    let size32 = u32::from_be_bytes(h[0..4].try_into().ok()?);
    let kind: [u8; 4] = h[4..8].try_into().ok()?;
    let (size, header) = match size32 {
        0 => (limit - pos, 8),
        1 => {
            let mut l = [0u8; 8];
            r.read_exact(&mut l).ok()?;
            (u64::from_be_bytes(l), 16)
        }
        n => (u64::from(n), 8),
    };
    if size < header {
        return None;
    }
    let end = pos.checked_add(size)?;
    if end > limit {
        return None;
    }
    Some(BoxHeader {
        kind,
        body_start: pos + header,
        end,
    })
}

/// Finds the first child of type `kind` among the boxes in `[start, end)`.
fn find_box<R: Read + Seek>(r: &mut R, start: u64, end: u64, kind: &[u8; 4]) -> Option<BoxHeader> {
    let mut pos = start;
    for _ in 0..MAX_BOXES_PER_LEVEL {
        let b = box_at(r, pos, end)?;
        if &b.kind == kind {
            return Some(b);
        }
        pos = b.end;
    }
    None
}

/// QuickTime/MP4 date: `com.apple.quicktime.creationdate` preferred, else `mvhd` creation time.
fn quicktime_date<R: Read + Seek>(r: &mut R) -> Option<CaptureDate> {
    let len = r.seek(SeekFrom::End(0)).ok()?;
    let first = box_at(r, 0, len)?;
    const TOP_LEVEL: [&[u8; 4]; 7] = [
        b"ftyp", b"wide", b"moov", b"mdat", b"free", b"skip", b"pnot",
    ];
    if !TOP_LEVEL.contains(&&first.kind) {
        return None; // Not an ISOBMFF file; do not walk arbitrary bytes.
    }
    let moov = find_box(r, 0, len, b"moov")?;
    if let Some(meta) = find_box(r, moov.body_start, moov.end, b"meta")
        && let Some(d) = creationdate_from_meta(r, &meta)
    {
        return Some(d);
    }
    let mvhd = find_box(r, moov.body_start, moov.end, b"mvhd")?;
    let mut head = [0u8; 12];
    let avail = mvhd.end - mvhd.body_start;
    r.seek(SeekFrom::Start(mvhd.body_start)).ok()?;
    let secs = if head.len() as u64 <= avail {
        r.read_exact(&mut head).ok()?;
        if head[0] == 1 {
            i64::try_from(u64::from_be_bytes(head[4..12].try_into().ok()?)).ok()?
        } else {
            i64::from(u32::from_be_bytes(head[4..8].try_into().ok()?))
        }
    } else {
        return None;
    };
    if secs == 0 {
        return None; // 0 means "not set", not 1904.
    }
    let utc = DateTime::from_timestamp(secs.checked_sub(QT_EPOCH_OFFSET)?, 0)?;
    Some(CaptureDate {
        at: in_host_zone(utc),
        offset_known: false,
        source: DateSource::QuickTimeMovieHeader,
    })
}

/// Reads `moov/meta` (bounded) and looks up the `mdta` key `com.apple.quicktime.creationdate`.
fn creationdate_from_meta<R: Read + Seek>(r: &mut R, meta: &BoxHeader) -> Option<CaptureDate> {
    let size = meta.end - meta.body_start;
    if size > MAX_QT_META {
        return None;
    }
    r.seek(SeekFrom::Start(meta.body_start)).ok()?;
    let mut body = vec![0u8; usize::try_from(size).ok()?];
    r.read_exact(&mut body).ok()?;
    // QuickTime's `meta` has no version/flags, ISO's does: tell them apart by where `hdlr` is.
    let children = if body.get(4..8) == Some(b"hdlr") {
        &body[..]
    } else {
        body.get(4..)?
    };
    let keys = child(children, b"keys")?;
    let ilst = child(children, b"ilst")?;
    let index = key_index(keys, b"com.apple.quicktime.creationdate")?;
    let value = ilst_value(ilst, index)?;
    let text = std::str::from_utf8(value).ok()?;
    Some(CaptureDate {
        at: parse_quicktime_date(text.trim_end_matches('\0'))?,
        offset_known: true,
        source: DateSource::QuickTimeCreationDate,
    })
}

/// Iterates the boxes of an in-memory buffer: (type, body).
fn boxes(mut buf: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        let size = usize::try_from(u32::from_be_bytes(buf.get(0..4)?.try_into().ok()?)).ok()?;
        if size < 8 || size > buf.len() {
            return None;
        }
        let (this, rest) = buf.split_at(size);
        buf = rest;
        Some((&this[4..8], &this[8..]))
    })
    .take(MAX_BOXES_PER_LEVEL)
}

fn child<'a>(buf: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(buf).find(|(k, _)| *k == kind).map(|(_, b)| b)
}

/// 1-based index of `name` in a `keys` box.
fn key_index(keys: &[u8], name: &[u8]) -> Option<u32> {
    let count = u32::from_be_bytes(keys.get(4..8)?.try_into().ok()?);
    let mut rest = keys.get(8..)?;
    for i in 1..=count.min(MAX_BOXES_PER_LEVEL as u32) {
        let size = usize::try_from(u32::from_be_bytes(rest.get(0..4)?.try_into().ok()?)).ok()?;
        if size < 8 || size > rest.len() {
            return None;
        }
        if &rest[4..8] == b"mdta" && &rest[8..size] == name {
            return Some(i);
        }
        rest = &rest[size..];
    }
    None
}

/// The UTF-8 value of item `index` in an `ilst` box.
fn ilst_value(ilst: &[u8], index: u32) -> Option<&[u8]> {
    let (_, item) = boxes(ilst).find(|(k, _)| *k == index.to_be_bytes())?;
    let data = child(item, b"data")?;
    // data: type indicator (4: 1 byte reserved + 3 bytes type), locale (4), value.
    let type_code = u32::from_be_bytes(data.get(0..4)?.try_into().ok()?) & 0x00ff_ffff;
    if type_code != 1 {
        return None; // 1 = UTF-8 text; Apple writes the date as text.
    }
    data.get(8..)
}

/// Parses Apple's creation-date text: `2023-05-07T14:03:22+0200` (also `+02:00`, `Z`,
/// fractional seconds).
pub fn parse_quicktime_date(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%:z"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quicktime_date_text_forms() {
        let want = FixedOffset::east_opt(7200)
            .unwrap()
            .with_ymd_and_hms(2023, 5, 7, 14, 3, 22)
            .unwrap();
        for s in [
            "2023-05-07T14:03:22+0200",
            "2023-05-07T14:03:22+02:00",
            "2023-05-07T12:03:22Z",
        ] {
            assert_eq!(
                parse_quicktime_date(s).map(|d| d.to_utc()),
                Some(want.to_utc()),
                "{s}"
            );
        }
        assert_eq!(parse_quicktime_date("2023-05-07T14:03:22+0200"), Some(want));
        assert_eq!(parse_quicktime_date("garbage"), None);
    }

    #[test]
    fn core_data_epoch() {
        let d = from_core_data(0.0, Some(3600)).unwrap();
        assert_eq!(d.to_rfc3339(), "2001-01-01T01:00:00+01:00");
        assert_eq!(from_core_data(f64::NAN, None), None);
        assert_eq!(from_core_data(1e300, None), None);
    }

    #[test]
    fn budget_stops_reading() {
        let data = vec![7u8; 100];
        let mut b = Budget {
            inner: io::Cursor::new(data),
            left: 10,
        };
        let mut buf = [0u8; 64];
        assert_eq!(b.read(&mut buf).unwrap(), 10);
        assert!(b.read(&mut buf).is_err());
        b.seek(SeekFrom::Start(0)).unwrap();
        assert!(
            b.read(&mut buf).is_err(),
            "seeking does not refill the budget"
        );
    }

    #[test]
    fn garbage_gives_none() {
        let mut junk = io::Cursor::new(vec![0xffu8; 5000]);
        assert_eq!(embedded_date(&mut junk), None);
        // A box claiming 4 GB inside a tiny file.
        let mut lie = Vec::new();
        lie.extend_from_slice(&20u32.to_be_bytes());
        lie.extend_from_slice(b"ftypqt  \0\0\0\0qt  ");
        lie.extend_from_slice(&0xffff_fff0u32.to_be_bytes());
        lie.extend_from_slice(b"moov");
        assert_eq!(embedded_date(&mut io::Cursor::new(lie)), None);
    }
}
