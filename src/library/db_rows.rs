//! Photos.sqlite's row values: the decoders every reader uses on a column (`int`, `real`,
//! `text`, `core_data_time`), the bounded row loop, [`Corrupt`], and the coded values
//! ([`DbKind`], [`CloudState`], ZKINDSUBTYPE's names).
//!
//! A leaf of `library`'s database readers: it imports only `library::error`, so `photos_db`
//! (which drives the readers) and the readers (`db_assets`, `db_albums`, `db_meta`,
//! `db_people`, `originals`) can all use it without an import cycle.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde::Serialize;

use super::error::LibraryError;

/// Core Data timestamps count seconds from 2001-01-01 UTC.
pub(crate) const CORE_DATA_EPOCH: i64 = 978_307_200;
/// Rows accepted from one table: far above any real library, low enough to bound memory.
pub(crate) const MAX_ROWS: usize = 5_000_000;

/// ZASSET.ZKIND.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DbKind {
    Photo,
    Video,
    Unknown,
}

/// iCloud upload state of the original (ZCLOUDMASTER, else the original's ZINTERNALRESOURCE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloudState {
    /// 0: not synced (iCloud Photos off, or never uploaded).
    NotSynced,
    /// 1: the only copy is on this phone, upload pending.
    PendingUpload,
    /// 3: in iCloud.
    Synced,
    Unknown,
}

impl CloudState {
    pub(super) fn from_code(code: Option<i64>) -> CloudState {
        match code {
            Some(0) => CloudState::NotSynced,
            Some(1) => CloudState::PendingUpload,
            Some(3) => CloudState::Synced,
            _ => CloudState::Unknown,
        }
    }
}

/// ZKINDSUBTYPE as a word ("unknown" for codes this tool does not know).
pub fn subtype_name(code: Option<i64>) -> &'static str {
    match code {
        Some(0) => "still",
        Some(1) => "panorama",
        Some(2) => "live_photo",
        Some(10) => "screenshot",
        Some(100) => "video",
        Some(101) => "slo_mo",
        Some(102) => "time_lapse",
        Some(103) => "screen_recording",
        _ => "unknown",
    }
}

pub(super) enum Corrupt {
    /// The copy is not a sound database: fetch again.
    Damaged(String),
    Other(LibraryError),
}

impl From<rusqlite::Error> for Corrupt {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
        match e.sqlite_error_code() {
            Some(DatabaseCorrupt | NotADatabase) => Corrupt::Damaged(e.to_string()),
            _ => Corrupt::Other(LibraryError::Sql(e)),
        }
    }
}

impl From<LibraryError> for Corrupt {
    fn from(e: LibraryError) -> Self {
        Corrupt::Other(e)
    }
}

/// An integer from any storage class (garbage → None, never an error).
pub(super) fn int(v: ValueRef<'_>) -> Option<i64> {
    match v {
        ValueRef::Integer(i) => Some(i),
        ValueRef::Real(f) if f.is_finite() => Some(f as i64),
        _ => None,
    }
}

pub(super) fn real(v: ValueRef<'_>) -> Option<f64> {
    match v {
        ValueRef::Integer(i) => Some(i as f64),
        ValueRef::Real(f) if f.is_finite() => Some(f),
        _ => None,
    }
}

/// A non-empty value.
pub(super) fn present(v: ValueRef<'_>) -> bool {
    match v {
        ValueRef::Null => false,
        ValueRef::Text(t) | ValueRef::Blob(t) => !t.is_empty(),
        _ => true,
    }
}

/// Text, capped: a name or UUID longer than this is garbage.
pub(super) fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Text(t) if t.len() <= 4096 => std::str::from_utf8(t).ok().map(str::to_owned),
        _ => None,
    }
}

/// A Core Data timestamp at a UTC offset (seconds east; an invalid offset falls back to UTC).
pub(crate) fn core_data_time(secs: f64, offset_secs: Option<i64>) -> Option<DateTime<FixedOffset>> {
    let unix = secs + CORE_DATA_EPOCH as f64;
    if !(-1e12..1e12).contains(&unix) {
        return None;
    }
    let whole = unix.floor() as i64;
    let nanos = ((unix - unix.floor()) * 1e9) as u32;
    let utc = Utc.timestamp_opt(whole, nanos.min(999_999_999)).single()?;
    let offset = offset_secs
        .and_then(|o| i32::try_from(o).ok())
        .and_then(FixedOffset::east_opt)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
    Some(utc.with_timezone(&offset))
}

/// Runs `sql` and hands each row to `f`, refusing more than MAX_ROWS rows.
pub(super) fn for_rows(
    conn: &Connection,
    sql: &str,
    mut f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<()>,
) -> Result<(), Corrupt> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    let mut n = 0usize;
    while let Some(row) = rows.next()? {
        n += 1;
        if n > MAX_ROWS {
            return Err(Corrupt::Other(LibraryError::TooManyEntries {
                what: "Photos.sqlite".to_owned(),
                limit: MAX_ROWS,
            }));
        }
        f(row)?;
    }
    Ok(())
}

/// The number of rows of `table` (at most MAX_ROWS, which `for_rows` enforces anyway); 0 when it
/// cannot be counted. Only for sizing buffers.
pub(super) fn row_count(conn: &Connection, table: &str) -> usize {
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| {
        r.get::<_, i64>(0)
    })
    .map_or(0, |n| usize::try_from(n).unwrap_or(0).min(MAX_ROWS))
}
