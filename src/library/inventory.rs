//! The phone's library as the importer and `status` see it: the DCIM/CPLAssets scan, enriched
//! from the cached Photos.sqlite (identity, dates, hidden/trashed/iCloud-only, albums) and, on
//! request, the edited renders under `PhotoData/Mutations`. The database's rows are joined to
//! the listed assets one at a time as they are decoded (`db_join`), never all held at once.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{DateTime, FixedOffset};
use futures::StreamExt;
use futures::stream;
use serde::Serialize;

use super::asset::{Asset, AssetKind, Resource, ResourceRole};
use super::db_fetch::{OpenDb, forget_cache, open_db, reader_crashed};
use super::db_join::Joiner;
use super::db_records::DbAlbum;
use super::db_rows::Corrupt;
use super::error::{LibraryError, WITHOUT_DB};
use super::photos_db::OpenLibrary;
use super::scan::{ScanOptions, list, scan, scan_db_folders};
use crate::afc::{AfcClient, AfcStatus};
use crate::untrusted::file_name::validate_name;
use crate::untrusted::text::for_terminal;

/// Days Recently Deleted keeps an item before purging it (photo-library.md §8.2).
pub(crate) const TRASH_RETENTION_DAYS: i64 = 30;
const MUTATIONS: &str = "PhotoData/Mutations";

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

#[derive(Debug, Clone, Serialize)]
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

/// Scan + database enrichment. A missing or damaged database is a warning, not an error: the
/// DCIM listing alone is enough to import.
pub async fn inventory(
    afc: &AfcClient,
    opts: &InventoryOptions,
) -> Result<Inventory, LibraryError> {
    let mut read_db = opts.cache_dir.is_some();
    let mut forgotten = false;
    let mut dropped: Option<String> = None;
    loop {
        let failed = match inventory_once(afc, opts, read_db, dropped.as_deref()).await? {
            Ok(inv) => return Ok(inv),
            Err(failed) => failed,
        };
        // The rows failed halfway through the join, so the assets are half enriched: list
        // again. A cached copy (not checked again when reused) is fetched anew once; a fresh
        // copy that fails leaves the database out, as when it cannot be read at all.
        match (failed.reused && !forgotten, &opts.cache_dir) {
            (true, Some(dir)) => {
                forget_cache(dir);
                forgotten = true;
            }
            _ => {
                read_db = false;
                dropped = Some(failed.error.to_string());
            }
        }
    }
}

/// The database's rows failed while being joined.
struct RowsFailed {
    /// The copy was a cached one, used without `quick_check`.
    reused: bool,
    error: LibraryError,
}

/// One attempt: the listings, then (with `read_db`) the database joined row by row. `dropped`
/// is why an earlier attempt left the database out (a warning).
async fn inventory_once(
    afc: &AfcClient,
    opts: &InventoryOptions,
    read_db: bool,
    dropped: Option<&str>,
) -> Result<Result<Inventory, RowsFailed>, LibraryError> {
    let mut scanned = scan(afc, &opts.scan).await?;
    scanned.warnings.extend(dropped.map(str::to_owned));
    let db = match read_db {
        true => open_library_db(afc, opts, &mut scanned.warnings).await?,
        false => None,
    };
    if let Some(db) = &db {
        // Originals the database places in CPLAssets folders the scan did not list.
        let dirs = db.library.directories.iter().map(String::as_str);
        scan_db_folders(afc, &opts.scan, dirs, &mut scanned).await?;
    }
    let inv = Inventory {
        assets: scanned.assets,
        db: None,
        missing_files: Vec::new(),
        counts: InventoryCounts::default(),
        albums: Vec::new(),
        warnings: scanned.warnings,
        unsafe_names: scanned.hostile_names,
    };
    // Per matched asset only whether it has edits: a clone of every row doubled peak memory
    // at 100,000 assets.
    let (mut inv, has_edits) = match db {
        Some(db) => match join_db(inv, db).await? {
            Ok(joined) => joined,
            Err(failed) => return Ok(Err(failed)),
        },
        None => (inv, HashMap::new()),
    };
    if opts.edited {
        let edited: Vec<usize> = (0..inv.assets.len())
            .filter(|i| has_edits.get(i).copied().unwrap_or(false))
            .collect();
        add_renders(afc, opts, &mut inv.assets, &edited, &mut inv.warnings).await?;
    }
    let c = &mut inv.counts;
    c.assets = inv.assets.len();
    c.photos = inv
        .assets
        .iter()
        .filter(|a| a.kind == AssetKind::Photo)
        .count();
    c.videos = inv.assets.len() - c.photos;
    Ok(Ok(inv))
}

/// Photos.sqlite opened for its rows when the options ask for it; unreadable or damaged is a
/// warning (and `None`), a lost connection an error.
async fn open_library_db(
    afc: &AfcClient,
    opts: &InventoryOptions,
    warnings: &mut Vec<String>,
) -> Result<Option<OpenDb>, LibraryError> {
    let Some(dir) = &opts.cache_dir else {
        return Ok(None);
    };
    match open_db(afc, dir, !opts.without_metadata).await {
        Ok(db) => Ok(db),
        Err(e) if e.is_connection_lost() => Err(e),
        // PhotoData unreadable (denied, I/O error): say so, and what that leaves unknown.
        Err(e @ LibraryError::Afc { .. }) => {
            warnings.push(format!(
                "the phone's photo database could not be read ({e}); {WITHOUT_DB}"
            ));
            Ok(None)
        }
        Err(e) => {
            warnings.push(e.to_string());
            Ok(None)
        }
    }
}

/// Joins the database's rows to the listed assets as they are decoded (on a blocking thread:
/// SQLite). Returns the inventory and, per matched asset index, whether its row has edits.
async fn join_db(
    mut inv: Inventory,
    db: OpenDb,
) -> Result<Result<(Inventory, HashMap<usize, bool>), RowsFailed>, LibraryError> {
    let OpenDb {
        library,
        facts,
        reused,
    } = db;
    let OpenLibrary {
        conn, schema, rows, ..
    } = library;
    let joined = tokio::task::spawn_blocking(move || {
        let mut joiner = Joiner::new(&mut inv, rows.albums());
        let albums = rows.for_each(&conn, |row| joiner.row(row))?.len();
        let (rows, has_edits) = joiner.finish();
        inv.db = Some(DbSummary {
            asset_table: schema.asset_table,
            join_table: schema.join.map(|j| j.table),
            rows,
            albums,
            wal_present: facts.wal_present,
            fetched: facts.fetched,
            cache_path: facts.cache_path,
        });
        Ok::<_, Corrupt>((inv, has_edits))
    })
    .await
    .map_err(reader_crashed)?;
    Ok(joined.map_err(|e| RowsFailed {
        reused,
        error: match e {
            Corrupt::Damaged(detail) => LibraryError::DbCorrupt { detail },
            Corrupt::Other(e) => e,
        },
    }))
}

/// Lists `PhotoData/Mutations/<folder>/<stem>/Adjustments` of each edited asset (several in
/// flight) and adds its `FullSizeRender.*`.
async fn add_renders(
    afc: &AfcClient,
    opts: &InventoryOptions,
    assets: &mut [Asset],
    edited: &[usize],
    warnings: &mut Vec<String>,
) -> Result<(), LibraryError> {
    let limit = opts.scan.max_entries_per_folder;
    let dirs: Vec<(usize, String)> = edited
        .iter()
        .map(|&i| {
            let a = &assets[i];
            (
                i,
                format!("{MUTATIONS}/{}/{}/Adjustments", a.folder, a.stem),
            )
        })
        .collect();
    let mut listings = stream::iter(dirs.iter())
        .map(|(i, dir)| async move { (*i, dir, list(afc, dir, limit).await) })
        .buffered(opts.scan.listings_in_flight.max(1));
    while let Some((i, dir, listing)) = listings.next().await {
        let names = match listing {
            Ok(names) => names,
            Err(LibraryError::Afc { source, .. })
                if source.status() == Some(AfcStatus::ObjectNotFound) =>
            {
                warnings.push(format!("{dir}: edited, but no rendered edit on the phone"));
                continue;
            }
            Err(LibraryError::Afc { source, .. }) if !source.is_fatal() => {
                warnings.push(format!("{dir}: not listed ({source}); edit skipped"));
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut renders: Vec<&String> = names
            .iter()
            .filter(|n| n.starts_with("FullSizeRender."))
            .filter(|n| match validate_name(n) {
                Ok(_) => true,
                Err(why) => {
                    warnings.push(format!(
                        "{dir}: skipped \"{}\" ({})",
                        for_terminal(n),
                        why.problem
                    ));
                    false
                }
            })
            .collect();
        renders.sort();
        match renders.first() {
            Some(name) => assets[i].resources.push(Resource::listed(
                ResourceRole::EditedRender,
                format!("{dir}/{name}"),
            )),
            None => warnings.push(format!("{dir}: edited, but no FullSizeRender file")),
        }
    }
    Ok(())
}
