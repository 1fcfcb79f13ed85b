//! The phone's library as the importer and `status` see it: the DCIM/CPLAssets scan, enriched
//! from the cached Photos.sqlite (identity, dates, hidden/trashed/iCloud-only, albums) and, on
//! request, the edited renders under `PhotoData/Mutations`.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{DateTime, Duration, FixedOffset};
use futures::StreamExt;
use futures::stream;
use serde::Serialize;

use super::asset::{Asset, AssetKind, Resource, ResourceRole};
use super::db_fetch::fetch_db_for;
use super::db_records::{DbAlbum, DbAsset};
use super::db_rows::{CloudState, DbKind};
use super::error::{LibraryError, WITHOUT_DB};
use super::photos_db::LibraryDb;
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
    let mut scanned = scan(afc, &opts.scan).await?;
    let db = read_db(afc, opts, &mut scanned.warnings).await?;
    if let Some(db) = &db {
        // Originals the database places in CPLAssets folders the scan did not list.
        let dirs = db.assets.iter().filter_map(|r| r.directory.as_deref());
        scan_db_folders(afc, &opts.scan, dirs, &mut scanned).await?;
    }
    let mut inv = Inventory {
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
    let has_edits = match db {
        Some(db) => join_db(&mut inv, db),
        None => HashMap::new(),
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
    Ok(inv)
}

/// Photos.sqlite when the options ask for it; unreadable or damaged is a warning (and `None`),
/// a lost connection an error.
async fn read_db(
    afc: &AfcClient,
    opts: &InventoryOptions,
    warnings: &mut Vec<String>,
) -> Result<Option<LibraryDb>, LibraryError> {
    let Some(dir) = &opts.cache_dir else {
        return Ok(None);
    };
    match fetch_db_for(afc, dir, !opts.without_metadata).await {
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

/// Joins the database's rows to the listed assets (uuid, kind, dates, flags, albums, metadata),
/// adds the assets of rows whose original is absent, and counts. Returns, per matched asset
/// index, whether its row has edits.
fn join_db(inv: &mut Inventory, db: LibraryDb) -> HashMap<usize, bool> {
    inv.db = Some(DbSummary {
        asset_table: db.schema.asset_table.clone(),
        join_table: db.schema.join.as_ref().map(|j| j.table.clone()),
        rows: db.assets.len(),
        albums: db.albums.len(),
        wal_present: db.wal_present,
        fetched: db.fetched,
        cache_path: db.cache_path.clone(),
    });
    inv.albums = db
        .albums
        .iter()
        .map(|a| AlbumMembers {
            album: a.clone(),
            asset_keys: Vec::new(),
            items: 0,
            not_on_phone: 0,
            trashed: 0,
        })
        .collect();
    let album_index: HashMap<i64, usize> = db
        .albums
        .iter()
        .enumerate()
        .map(|(i, a)| (a.pk, i))
        .collect();
    let mut rows = db.assets;
    let RowMatches {
        mut matches,
        absent,
        mut has_edits,
    } = match_rows(inv, &rows, &album_index);
    // Optimised originals are deleted from DCIM on real phones: they still are assets, so
    // pull, status and verify give the same account as when the file is listed. Reserved
    // exactly: a push onto the scan's exact vector would double it.
    inv.assets.reserve_exact(absent.len());
    for ri in absent {
        if let Some(asset) = absent_asset(&rows[ri]) {
            has_edits.insert(inv.assets.len(), rows[ri].has_adjustments);
            matches.push((inv.assets.len(), ri));
            inv.assets.push(asset);
        }
    }
    for (i, ri) in matches {
        let asset = &mut inv.assets[i];
        apply_row(asset, &mut rows[ri]);
        for pk in &rows[ri].album_pks {
            if let Some(&j) = album_index.get(pk) {
                inv.albums[j].asset_keys.push(asset.key.clone());
            }
        }
        count_row(&mut inv.counts, &rows[ri]);
        asset.albums = std::mem::take(&mut rows[ri].albums);
        asset.meta = std::mem::take(&mut rows[ri].meta);
    }
    inv.counts.files_without_db_row = inv.assets.len() - has_edits.len();
    inv.counts.db_rows_without_files = inv.missing_files.len();
    has_edits
}

/// Which rows matched which listed asset, and the rows to add as absent assets.
struct RowMatches {
    /// (asset index, row index): the rows stay where they are (a vector of moved rows was
    /// 25 MB more at the peak of a 100,000-asset inventory).
    matches: Vec<(usize, usize)>,
    /// Rows whose original is not on the phone and not listed either (removed from DCIM).
    absent: Vec<usize>,
    /// Matched asset index → whether its row has edits (one row per asset: the first wins).
    has_edits: HashMap<usize, bool>,
}

/// Matches each row to the listed asset at its path (exact, then case-insensitive), counting
/// album figures as it goes; rows that match nothing become `missing_files` (and are counted)
/// or, when their original is known to be absent, `absent`.
fn match_rows(
    inv: &mut Inventory,
    rows: &[DbAsset],
    album_index: &HashMap<i64, usize>,
) -> RowMatches {
    let assets = &inv.assets;
    // Asset indices sorted by (folder, original name), searched by halving: a hash map of the
    // same was 5 MB at 100,000 assets, at the inventory's memory peak. The case-insensitive
    // map is only built on the first miss: at 100,000 assets it costs ~15 MB.
    let path_of = |i: u32| {
        let a = &assets[i as usize];
        (a.folder.as_str(), a.original().map_or("", |o| o.name()))
    };
    let mut by_path: Vec<u32> = (0..assets.len() as u32)
        .filter(|&i| assets[i as usize].original().is_some())
        .collect();
    by_path.sort_unstable_by(|&x, &y| path_of(x).cmp(&path_of(y)));
    let mut by_lower: Option<HashMap<(String, String), usize>> = None;
    let mut out = RowMatches {
        matches: Vec::new(),
        absent: Vec::new(),
        has_edits: HashMap::new(),
    };
    for (ri, row) in rows.iter().enumerate() {
        let found = match (&row.directory, &row.filename) {
            (Some(d), Some(f)) => by_path
                .binary_search_by(|&i| path_of(i).cmp(&(d.as_str(), f.as_str())))
                .ok()
                .map(|k| by_path[k] as usize)
                .or_else(|| {
                    by_lower
                        .get_or_insert_with(|| lowercase_paths(assets))
                        .get(&(d.to_lowercase(), f.to_lowercase()))
                        .copied()
                }),
            _ => None,
        };
        let on_phone = matches!(found, Some(i) if !out.has_edits.contains_key(&i));
        count_album_items(&mut inv.albums, album_index, row, on_phone);
        match found {
            Some(i) if !out.has_edits.contains_key(&i) => {
                out.has_edits.insert(i, row.has_adjustments);
                out.matches.push((i, ri));
            }
            None if (row.icloud_only || row.original_missing) && absent_asset(row).is_some() => {
                out.absent.push(ri);
            }
            _ => {
                inv.missing_files.push(missing_file(row));
                count_row(&mut inv.counts, row);
            }
        }
    }
    out
}

/// Album figures of one row: an item, not on the phone (iCloud-only, missing, or no file
/// listed for it), in Recently Deleted.
fn count_album_items(
    albums: &mut [AlbumMembers],
    album_index: &HashMap<i64, usize>,
    row: &DbAsset,
    on_phone: bool,
) {
    for pk in &row.album_pks {
        if let Some(m) = album_index.get(pk).map(|&j| &mut albums[j]) {
            m.items += 1;
            m.not_on_phone += (row.icloud_only || row.original_missing || !on_phone) as usize;
            m.trashed += row.trashed as usize;
        }
    }
}

/// A row with no listed file.
fn missing_file(row: &DbAsset) -> MissingFile {
    MissingFile {
        uuid: row.uuid.clone(),
        path: match (&row.directory, &row.filename) {
            // From the database, not a checked listing: escaped for printing.
            (Some(d), Some(f)) => Some(for_terminal(&format!("{d}/{f}"))),
            _ => None,
        },
        icloud_only: row.icloud_only,
        original_missing: row.original_missing,
        trashed: row.trashed,
    }
}

/// What the matched row says of its asset (the uuid moves out of the row).
fn apply_row(a: &mut Asset, row: &mut DbAsset) {
    if let Some(uuid) = row.uuid.take() {
        a.key = uuid.clone();
        a.uuid = Some(uuid);
    }
    a.kind = match row.kind {
        DbKind::Photo => AssetKind::Photo,
        DbKind::Video => AssetKind::Video,
        DbKind::Unknown => a.kind,
    };
    a.created = row.created;
    a.hidden = row.hidden;
    a.trashed = row.trashed;
    a.trashed_at = row.trashed_at;
    a.icloud_only = row.icloud_only;
    a.original_missing = row.original_missing;
    a.only_copy_on_phone = matches!(row.cloud, CloudState::PendingUpload | CloudState::NotSynced);
    a.favorite = row.favorite;
}

/// The asset of a row whose original is not on the phone and not in the listings, at the path
/// Photos.sqlite gives (`ZDIRECTORY/ZFILENAME`), if that path is made of safe names. Its
/// original is never read (pull reports it, verify and status count it).
fn absent_asset(row: &DbAsset) -> Option<Asset> {
    let (dir, file) = (row.directory.as_deref()?, row.filename.as_deref()?);
    if dir.is_empty()
        || dir.split('/').any(|c| validate_name(c).is_err())
        || validate_name(file).is_err()
    {
        return None;
    }
    let path = format!("{dir}/{file}");
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    Some(Asset {
        key: path.clone(),
        uuid: None,
        folder: dir.to_owned(),
        stem: stem.to_owned(),
        kind: match row.kind {
            DbKind::Video => AssetKind::Video,
            _ => AssetKind::Photo,
        },
        resources: vec![Resource {
            role: ResourceRole::Original,
            device_path: path,
            size: None,
            mtime_ns: None,
            birth_ns: None,
        }],
        created: None,
        hidden: false,
        trashed: false,
        trashed_at: None,
        icloud_only: false,
        original_missing: false,
        only_copy_on_phone: false,
        favorite: false,
        albums: Vec::new(),
        meta: Default::default(),
    })
}

/// (lower-case folder, lower-case original name) → asset index.
fn lowercase_paths(assets: &[Asset]) -> HashMap<(String, String), usize> {
    assets
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            a.original()
                .map(|o| ((a.folder.to_lowercase(), o.name().to_lowercase()), i))
        })
        .collect()
}

/// Database-derived counts of one row (whether or not its file was found).
fn count_row(c: &mut InventoryCounts, row: &DbAsset) {
    c.hidden += row.hidden as usize;
    c.favorites += row.favorite as usize;
    c.edited += row.has_adjustments as usize;
    c.icloud_only += row.icloud_only as usize;
    c.original_missing += row.original_missing as usize;
    c.shared += row.shared as usize;
    match row.cloud {
        CloudState::PendingUpload => c.pending_upload += 1,
        CloudState::NotSynced => c.not_synced += 1,
        CloudState::Synced | CloudState::Unknown => {}
    }
    if row.trashed {
        c.trashed += 1;
        if let Some(at) = row.trashed_at {
            let purge = at + Duration::days(TRASH_RETENTION_DAYS);
            if c.earliest_purge.is_none_or(|p| purge < p) {
                c.earliest_purge = Some(purge);
            }
        }
    }
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
            Some(name) => assets[i].resources.push(Resource {
                role: ResourceRole::EditedRender,
                device_path: format!("{dir}/{name}"),
                size: None,
                mtime_ns: None,
                birth_ns: None,
            }),
            None => warnings.push(format!("{dir}: edited, but no FullSizeRender file")),
        }
    }
    Ok(())
}
