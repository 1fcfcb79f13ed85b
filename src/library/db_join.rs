//! Photos.sqlite's rows joined to the listed assets one row at a time, as the reader decodes
//! them: a row's identity, dates, flags, albums and metadata move into its asset and the row is
//! gone, so the rows are never all held at once (at 100,000 assets they were 20 MB, plus their
//! strings, at the inventory's memory peak).

use std::collections::HashMap;

use chrono::Duration;

use super::asset::{Asset, AssetKind, Resource, ResourceRole};
use super::db_records::{DbAlbum, DbAsset};
use super::db_rows::{CloudState, DbKind};
use super::inventory_records::{
    AlbumMembers, Inventory, InventoryCounts, MissingFile, TRASH_RETENTION_DAYS,
};
use crate::untrusted::file_name::validate_name;
use crate::untrusted::text::for_terminal;

/// The join in progress over an inventory whose assets are the listings'.
pub(super) struct Joiner<'a> {
    inv: &'a mut Inventory,
    /// Assets from the listings; those of absent originals come after them.
    listed: usize,
    /// Listed asset indices sorted by (folder, original name), searched by halving: a hash map
    /// of the same was 5 MB at 100,000 assets.
    by_path: Vec<u32>,
    /// Where in `by_path` the previous row was found: rows mostly come in the order of their
    /// files, so the next row's asset is usually the next one there.
    last: usize,
    /// (lower-case folder, lower-case name) → index, built on the first exact miss only (about
    /// 15 MB at 100,000 assets).
    by_lower: Option<HashMap<(String, String), usize>>,
    album_index: HashMap<i64, usize>,
    /// Assets of rows whose original is neither on the phone nor listed, in row order.
    absent: Vec<Asset>,
    /// Per asset index (listed, then absent): `None` until a row joins it, then whether that
    /// row has edits (one row per asset: the first wins). A byte per asset: a hash map of the
    /// same was 2 MB at 100,000 assets.
    joined: Vec<Option<bool>>,
    /// How many of them a row joined.
    matched: usize,
    rows: usize,
}

impl<'a> Joiner<'a> {
    /// Starts the join; `albums` become `inv.albums`, each with no member yet.
    pub(super) fn new(inv: &'a mut Inventory, albums: &[DbAlbum]) -> Self {
        inv.albums = albums
            .iter()
            .map(|a| AlbumMembers {
                album: a.clone(),
                asset_keys: Vec::new(),
                items: 0,
                not_on_phone: 0,
                trashed: 0,
            })
            .collect();
        let album_index = albums.iter().enumerate().map(|(i, a)| (a.pk, i)).collect();
        let assets = &inv.assets;
        let mut by_path: Vec<u32> = (0..assets.len() as u32)
            .filter(|&i| assets[i as usize].original().is_some())
            .collect();
        by_path.sort_unstable_by(|&x, &y| path_of(assets, x).cmp(&path_of(assets, y)));
        let listed = assets.len();
        Joiner {
            listed,
            inv,
            by_path,
            last: 0,
            by_lower: None,
            album_index,
            absent: Vec::new(),
            joined: vec![None; listed],
            matched: 0,
            rows: 0,
        }
    }

    /// The listed asset at the row's path (exact, then case-insensitive).
    fn find(&mut self, row: &DbAsset) -> Option<usize> {
        let (Some(d), Some(f)) = (&row.directory, &row.filename) else {
            return None;
        };
        let assets = &self.inv.assets;
        let path = (d.as_str(), f.as_str());
        let next = self.last + 1;
        let k = match self.by_path.get(next) {
            Some(&i) if path_of(assets, i) == path => Ok(next),
            _ => self
                .by_path
                .binary_search_by(|&i| path_of(assets, i).cmp(&path)),
        };
        if let Ok(k) = k {
            self.last = k;
            return Some(self.by_path[k] as usize);
        }
        self.by_lower
            .get_or_insert_with(|| lowercase_paths(assets))
            .get(&(d.to_lowercase(), f.to_lowercase()))
            .copied()
    }

    /// Joins one row: into the listed asset at its path (if no earlier row took it), into a
    /// new asset when its original is known to be absent, else into `missing_files`.
    pub(super) fn row(&mut self, row: DbAsset) {
        self.rows += 1;
        let found = self.find(&row);
        let fresh = found.filter(|&i| self.joined[i].is_none());
        count_album_items(
            &mut self.inv.albums,
            &self.album_index,
            &row,
            fresh.is_some(),
        );
        if let Some(i) = fresh {
            self.joined[i] = Some(row.has_adjustments);
            self.matched += 1;
            self.apply(i, row);
            return;
        }
        if found.is_none() && (row.icloud_only || row.original_missing) {
            // Optimised originals are deleted from DCIM on real phones: they still are
            // assets, so pull, status and verify give the same account as when listed.
            if let Some(asset) = absent_asset(&row) {
                let i = self.listed + self.absent.len();
                self.joined.push(Some(row.has_adjustments));
                self.matched += 1;
                self.absent.push(asset);
                self.apply(i, row);
                return;
            }
        }
        self.inv.missing_files.push(missing_file(&row));
        count_row(&mut self.inv.counts, &row);
    }

    /// What the matched row says of asset `i`; the row's strings move into it.
    fn apply(&mut self, i: usize, mut row: DbAsset) {
        let asset = match i.checked_sub(self.listed) {
            None => &mut self.inv.assets[i],
            Some(k) => &mut self.absent[k],
        };
        apply_row(asset, &mut row);
        for pk in &row.album_pks {
            if let Some(&j) = self.album_index.get(pk) {
                self.inv.albums[j].asset_keys.push(asset.key().to_owned());
            }
        }
        count_row(&mut self.inv.counts, &row);
        asset.albums = std::mem::take(&mut row.albums);
        asset.meta = std::mem::take(&mut row.meta);
    }

    /// Ends the join: the absent originals' assets join the list. Returns the rows joined and,
    /// per asset index, whether its row has edits.
    pub(super) fn finish(self) -> (usize, Vec<bool>) {
        let inv = self.inv;
        // Reserved exactly: a push onto the scan's exact vector would double it.
        inv.assets.reserve_exact(self.absent.len());
        inv.assets.extend(self.absent);
        inv.counts.files_without_db_row = inv.assets.len() - self.matched;
        inv.counts.db_rows_without_files = inv.missing_files.len();
        let has_edits = self.joined.iter().map(|j| *j == Some(true)).collect();
        (self.rows, has_edits)
    }
}

/// (folder, original name) of listed asset `i`, from one split of the original's path: the
/// sort asks for it on every comparison.
fn path_of(assets: &[Asset], i: u32) -> (&str, &str) {
    let path = assets[i as usize]
        .original()
        .map_or("", |o| o.device_path.as_str());
    path.rsplit_once('/').unwrap_or(("", path))
}

/// (lower-case folder, lower-case original name) → asset index.
fn lowercase_paths(assets: &[Asset]) -> HashMap<(String, String), usize> {
    assets
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            a.original()
                .map(|o| ((a.folder().to_lowercase(), o.name().to_lowercase()), i))
        })
        .collect()
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
    let kind = match row.kind {
        DbKind::Video => AssetKind::Video,
        _ => AssetKind::Photo,
    };
    let original = Resource::listed(ResourceRole::Original, format!("{dir}/{file}"));
    Some(Asset::from_original(kind, original))
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
