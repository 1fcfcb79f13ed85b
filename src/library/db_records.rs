//! What the readers make of Photos.sqlite: one [`DbAsset`] per asset row, one [`DbAlbum`] per
//! album.
//!
//! Kept out of `photos_db`, which calls the readers that build these, so that `db_assets` and
//! `db_albums` need nothing of it: this file imports only `db_rows` and `db_meta`, neither of
//! which imports a reader that builds these records.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::db_meta::AssetMeta;
use super::db_rows::{CloudState, DbKind};

/// One asset row, decoded.
#[derive(Debug, Clone, Serialize)]
pub struct DbAsset {
    pub pk: i64,
    pub uuid: Option<String>,
    /// ZDIRECTORY, e.g. `DCIM/100APPLE`.
    pub directory: Option<String>,
    /// ZFILENAME, e.g. `IMG_0001.HEIC`.
    pub filename: Option<String>,
    pub kind: DbKind,
    pub kind_subtype: Option<i64>,
    pub created: Option<DateTime<FixedOffset>>,
    pub hidden: bool,
    pub trashed: bool,
    pub trashed_at: Option<DateTime<FixedOffset>>,
    pub favorite: bool,
    /// Edited: ZHASADJUSTMENTS where it exists, else ZADJUSTMENTSSTATE > 0 (iOS 18+).
    pub has_adjustments: bool,
    /// The original is not on the phone but iCloud has it (see `originals`).
    pub icloud_only: bool,
    /// The original is neither on the phone nor in iCloud (see `originals`).
    pub original_missing: bool,
    pub cloud: CloudState,
    /// In a shared album (ZBUNDLESCOPE 2, or member of a ZKIND 1505 album) or Shared with You (3).
    pub shared: bool,
    /// Album paths ("Trips/Iceland 2025"), sorted, duplicates merged.
    pub albums: Vec<String>,
    /// Z_PK of every album holding this asset (two albums may share a path), sorted.
    pub album_pks: Vec<i64>,
    /// Title, caption, keywords, place (for XMP sidecars).
    pub meta: AssetMeta,
}

/// One user or shared album (not trashed).
#[derive(Debug, Clone, Serialize)]
pub struct DbAlbum {
    pub pk: i64,
    pub uuid: Option<String>,
    /// 2 user album, 1505 shared album.
    pub kind: i64,
    /// Folder titles and the album's own title joined with `/` ("Trips/Iceland 2025"). A title
    /// may itself contain `/`; use `title` and `folders` when that matters.
    pub path: String,
    /// The album's own title (ZTITLE; "(untitled)" when absent).
    pub title: String,
    /// Enclosing folder titles, outermost first (empty at the top level).
    pub folders: Vec<String>,
    /// A shared (iCloud Shared Album, ZKIND 1505) album.
    pub shared: bool,
}
