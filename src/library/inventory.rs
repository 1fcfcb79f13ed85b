//! The phone's library as the importer and `status` see it: the DCIM/CPLAssets scan, enriched
//! from the cached Photos.sqlite (identity, dates, hidden/trashed/iCloud-only, albums) and, on
//! request, the edited renders under `PhotoData/Mutations`. The database's rows are joined to
//! the listed assets one at a time as they are decoded (`db_join`), never all held at once.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use futures::StreamExt;
use futures::stream;

use super::asset::{Asset, AssetKind, Resource, ResourceRole};
use super::db_fetch::{OpenDb, forget_cache, open_db, reader_crashed};
use super::db_join::Joiner;
use super::db_rows::Corrupt;
use super::error::{LibraryError, WITHOUT_DB};
pub(crate) use super::inventory_records::TRASH_RETENTION_DAYS;
pub use super::inventory_records::{
    AlbumMembers, DbSummary, Inventory, InventoryCounts, InventoryOptions, MissingFile,
};
use super::photos_db::OpenLibrary;
use super::scan::{list, scan, scan_db_folders};
use crate::afc::{AfcClient, AfcStatus};
use crate::untrusted::file_name::validate_name;
use crate::untrusted::text::for_terminal;

const MUTATIONS: &str = "PhotoData/Mutations";

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
    // The database is opened (fetched when it changed, its side tables read on a blocking
    // thread) while the folders are listed and grouped: on two cores the two overlap.
    let open = async {
        let mut warnings = Vec::new();
        let db = match read_db {
            true => open_library_db(afc, opts, &mut warnings).await,
            false => Ok(None),
        };
        (db, warnings)
    };
    let (scanned, (db, db_warnings)) = tokio::join!(scan(afc, &opts.scan), open);
    let mut scanned = scanned?;
    scanned.warnings.extend(dropped.map(str::to_owned));
    let db = db?;
    scanned.warnings.extend(db_warnings);
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
        None => (inv, Vec::new()),
    };
    if opts.edited {
        let edited: Vec<usize> = (0..inv.assets.len())
            .filter(|&i| has_edits.get(i).copied().unwrap_or(false))
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
/// SQLite). Returns the inventory and, per asset index, whether its row has edits.
async fn join_db(
    mut inv: Inventory,
    db: OpenDb,
) -> Result<Result<(Inventory, Vec<bool>), RowsFailed>, LibraryError> {
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
                format!("{MUTATIONS}/{}/{}/Adjustments", a.folder(), a.stem()),
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
