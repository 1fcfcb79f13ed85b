//! What an inventory holds: the assets, the database's summary and counts, albums with their
//! members, rows without files. Kept apart from `inventory`, which builds it, so that
//! `db_join`, which `inventory` calls, can fill it without importing `inventory`.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::path::PathBuf;

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::asset::Asset;
use super::db_records::DbAlbum;
use super::scan::ScanOptions;

/// Days Recently Deleted keeps an item before purging it (photo-library.md §8.2).
pub(crate) const TRASH_RETENTION_DAYS: i64 = 30;

#[derive(Debug, Clone, Default)]
pub struct InventoryOptions {
    pub scan: ScanOptions,
    /// Where the copy of Photos.sqlite is kept (e.g. `$XDG_CACHE_HOME/iphone-import/<udid>/`);
    /// None = do not read the database (DCIM listing only).
    pub cache_dir: Option<PathBuf>,
    /// Add `FullSizeRender.*` of edited assets as EditedRender resources.
    pub edited: bool,
    /// Leave each asset's `meta` empty but for `screenshot`: titles, captions, keywords, places,
    /// people, original names and Live Photo ids are read only for those who use them
    /// (`pull --xmp`, `{original_name}`); a large library's first pull peaked higher with them.
    pub without_metadata: bool,
}

/// Counts for `status`. Database-derived ones are 0 when the database was not read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InventoryCounts {
    /// Assets found as files.
    pub assets: usize,
    pub photos: usize,
    pub videos: usize,
    pub hidden: usize,
    pub trashed: usize,
    /// When the first trashed item is purged from Recently Deleted (trashed + 30 days).
    pub earliest_purge: Option<DateTime<FixedOffset>>,
    pub icloud_only: usize,
    /// Originals on neither the phone nor iCloud (Photos.sqlite): nothing can fetch them.
    pub original_missing: usize,
    pub favorites: usize,
    pub edited: usize,
    /// Upload pending: the only copy is on this phone (cloud state 1).
    pub pending_upload: usize,
    /// Never synced (cloud state 0: iCloud Photos off or not uploaded).
    pub not_synced: usize,
    pub shared: usize,
    /// Assets with files but no database row.
    pub files_without_db_row: usize,
    /// Database rows with no file in the listings (e.g. iCloud-only originals not in DCIM).
    pub db_rows_without_files: usize,
}

/// A database row whose original was not in the listings.
#[derive(Debug, Clone, Serialize)]
pub struct MissingFile {
    pub uuid: Option<String>,
    /// `ZDIRECTORY/ZFILENAME`, control characters escaped (for display, not a path to request).
    pub path: Option<String>,
    pub icloud_only: bool,
    pub original_missing: bool,
    pub trashed: bool,
}

/// One album and what it holds, as the database says (two albums may share a title or path:
/// they are told apart by `album.pk`).
#[derive(Debug, Clone, Serialize)]
pub struct AlbumMembers {
    pub album: DbAlbum,
    /// `Asset::key` of each member whose files are on the phone, in database order.
    pub asset_keys: Vec<String>,
    /// Every member row, including those whose original was not listed.
    pub items: usize,
    /// Members whose original is not on this phone (iCloud-only, or not in the listings).
    pub not_on_phone: usize,
    /// Members in Recently Deleted (the Photos app no longer shows them in the album).
    pub trashed: usize,
}

/// About the database that was read.
#[derive(Debug, Clone, Serialize)]
pub struct DbSummary {
    pub asset_table: String,
    pub join_table: Option<String>,
    pub rows: usize,
    pub albums: usize,
    pub wal_present: bool,
    /// Copied this run (false: the cached copy was current).
    pub fetched: bool,
    pub cache_path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Inventory {
    pub assets: Vec<Asset>,
    /// None when the database was not read (absent, not asked for, or damaged: see `warnings`).
    pub db: Option<DbSummary>,
    pub missing_files: Vec<MissingFile>,
    pub counts: InventoryCounts,
    /// User and shared albums with their members (empty when the database was not read).
    pub albums: Vec<AlbumMembers>,
    /// Names skipped, unreadable database, renders not found… one line each, printable.
    pub warnings: Vec<String>,
    /// Files in the listings that cannot be imported because their names are unsafe or not
    /// UTF-8 (each also in `warnings`): the run is then partial.
    pub unsafe_names: usize,
}
