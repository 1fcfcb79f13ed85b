//! `iphone-import status`: "is this phone backed up?" as figures. Built from the inventory (DCIM
//! listing + Photos.sqlite), the size of each file on the phone (pipelined stats), and, with a
//! DEST, its ledger (read only; an absent ledger means nothing was imported there yet).

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use futures::StreamExt;
use futures::stream;
use serde::Serialize;

use super::ledger::{self, Ledger, LedgerError};
use crate::afc::AfcClient;
use crate::library::{Asset, AssetKind, Inventory, ResourceRole};

/// Stats in flight while sizing the library.
const STATS_IN_FLIGHT: usize = 16;

/// The library as the phone holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LibraryFigures {
    /// Items (photos and videos as the Photos app counts them) with files on the phone.
    pub items: usize,
    pub photos: usize,
    pub videos: usize,
    /// Files of those items (originals, Live Photo videos, edit sidecars).
    pub files: usize,
    /// Their total size in bytes, as the phone reports it.
    pub bytes: u64,
    /// Files whose size could not be read (not in `bytes`).
    pub files_not_sized: usize,
    /// Whether Photos.sqlite could be read; without it the figures below are 0 and unknown.
    pub database_read: bool,
}

/// Recently Deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecentlyDeleted {
    pub items: usize,
    /// When the first of them is deleted for good (30 days after it was deleted).
    pub earliest_purge: Option<DateTime<FixedOffset>>,
    /// Whole days from now until then, rounded up; 0 when it is due.
    pub days_until_earliest_purge: Option<i64>,
}

/// The phone against one destination folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DestFigures {
    pub path: String,
    /// A ledger exists (something was imported there at some point, from any phone).
    pub ledger_found: bool,
    /// Items on the phone with at least one file not yet in DEST.
    pub items_not_in_dest: usize,
    /// Of those, items in Recently Deleted (`pull` skips them unless --include-trashed).
    pub not_in_dest_recently_deleted: usize,
    /// Of those, items whose original is only in iCloud (`pull` cannot read them).
    pub not_in_dest_icloud_only: usize,
    /// Of those, items whose original is on neither the phone nor iCloud.
    pub not_in_dest_original_missing: usize,
    /// Files recorded in DEST's ledger for this phone.
    pub files_recorded: u64,
    /// When DEST last received a file from this phone.
    pub last_received: Option<DateTime<Utc>>,
}

/// Everything `status` reports except who the phone is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LibraryStatus {
    pub library: LibraryFigures,
    /// Items whose original is only in iCloud ("Optimize iPhone Storage").
    pub icloud_only: usize,
    /// Items whose original is on neither the phone nor iCloud (Photos.sqlite).
    pub original_missing: usize,
    /// Items not (yet) in iCloud: this phone holds the only copy.
    pub only_copy_on_phone: usize,
    /// Of those: upload pending.
    pub upload_pending: usize,
    /// Of those: never synced (iCloud Photos off, or not uploaded).
    pub not_synced: usize,
    pub recently_deleted: RecentlyDeleted,
    pub hidden: usize,
    /// In a shared album or Shared with You.
    pub shared: usize,
    pub dest: Option<DestFigures>,
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("cannot read the import record of {dest}: {source}")]
    Ledger {
        dest: String,
        #[source]
        source: LedgerError,
    },
    #[error(transparent)]
    Library(#[from] crate::library::LibraryError),
}

/// Files that make up an asset as `pull` copies it by default (renders are optional extras).
fn counted(role: ResourceRole) -> bool {
    role != ResourceRole::EditedRender
}

/// Sizes of the files of `assets`, by device path (stats several at a time). A file whose stat
/// fails is left out.
pub async fn file_sizes(afc: &AfcClient, assets: &[Asset]) -> HashMap<String, u64> {
    let paths: Vec<&str> = assets
        .iter()
        .flat_map(|a| a.resources.iter())
        .filter(|r| counted(r.role))
        .map(|r| r.device_path.as_str())
        .collect();
    stream::iter(paths)
        .map(|p| async move { (p, afc.stat(p).await) })
        .buffer_unordered(STATS_IN_FLIGHT)
        .filter_map(|(p, r)| async move { r.ok().map(|info| (p.to_string(), info.st_size)) })
        .collect()
        .await
}

/// Whole days from `now` until `at`, rounded up; 0 when `at` is not in the future.
pub fn days_until(at: DateTime<FixedOffset>, now: DateTime<Utc>) -> i64 {
    let secs = (at.with_timezone(&Utc) - now).num_seconds();
    if secs <= 0 {
        0
    } else {
        (secs + 86_399) / 86_400
    }
}

/// The report. `sizes` comes from [`file_sizes`]; `dest` + `udid` add the DEST figures.
pub fn library_status(
    inventory: &Inventory,
    sizes: &HashMap<String, u64>,
    dest: Option<(&Path, &str)>,
    now: DateTime<Utc>,
) -> Result<LibraryStatus, StatusError> {
    let c = &inventory.counts;
    let mut files = 0;
    let mut bytes = 0u64;
    let mut files_not_sized = 0;
    for a in &inventory.assets {
        let off_phone = a.icloud_only || a.original_missing;
        for r in a.resources.iter().filter(|r| counted(r.role)) {
            match sizes.get(&r.device_path) {
                Some(n) => bytes = bytes.saturating_add(*n),
                // An original deleted from DCIM (listed from Photos.sqlite): no file to count.
                None if off_phone => continue,
                None => files_not_sized += 1,
            }
            files += 1;
        }
    }
    let photos = inventory
        .assets
        .iter()
        .filter(|a| a.kind == AssetKind::Photo)
        .count();
    let dest = match dest {
        None => None,
        Some((path, udid)) => Some(dest_figures(inventory, path, udid)?),
    };
    Ok(LibraryStatus {
        library: LibraryFigures {
            items: inventory.assets.len(),
            photos,
            videos: inventory.assets.len() - photos,
            files,
            bytes,
            files_not_sized,
            database_read: inventory.db.is_some(),
        },
        icloud_only: c.icloud_only,
        original_missing: c.original_missing,
        only_copy_on_phone: c.pending_upload + c.not_synced,
        upload_pending: c.pending_upload,
        not_synced: c.not_synced,
        recently_deleted: RecentlyDeleted {
            items: c.trashed,
            earliest_purge: c.earliest_purge,
            days_until_earliest_purge: c.earliest_purge.map(|p| days_until(p, now)),
        },
        hidden: c.hidden,
        shared: c.shared,
        dest,
    })
}

fn dest_figures(
    inventory: &Inventory,
    dest: &Path,
    udid: &str,
) -> Result<DestFigures, StatusError> {
    let shown = super::pull::display_dest(dest);
    let err = |source| StatusError::Ledger {
        dest: shown.clone(),
        source,
    };
    // Read only: never create a ledger (or DEST), nor change one, just to look.
    let ledger = if ledger::ledger_path(dest).is_file() {
        Some(Ledger::open_read_only(dest).map_err(err)?)
    } else {
        None
    };
    let mut known: HashMap<String, HashSet<String>> = HashMap::new();
    let mut figures = DestFigures {
        path: shown.clone(),
        ledger_found: ledger.is_some(),
        items_not_in_dest: 0,
        not_in_dest_recently_deleted: 0,
        not_in_dest_icloud_only: 0,
        not_in_dest_original_missing: 0,
        files_recorded: 0,
        last_received: None,
    };
    if let Some(ledger) = &ledger {
        figures.files_recorded = ledger.count(Some(udid)).map_err(err)?;
        figures.last_received = ledger
            .device(udid)
            .map_err(err)?
            .map(|d| Utc.timestamp_nanos(d.last_received_ns));
    }
    for asset in &inventory.assets {
        let mut missing = false;
        for r in asset.resources.iter().filter(|r| counted(r.role)) {
            let Some(ledger) = &ledger else {
                missing = true;
                break;
            };
            let (folder, name) = r
                .device_path
                .rsplit_once('/')
                .unwrap_or(("", &r.device_path));
            if !known.contains_key(folder) {
                let set = ledger.known_paths(udid, folder).map_err(err)?;
                known.insert(folder.to_string(), set);
            }
            if !known[folder].contains(name) {
                missing = true;
                break;
            }
        }
        if missing {
            figures.items_not_in_dest += 1;
            figures.not_in_dest_recently_deleted += asset.trashed as usize;
            figures.not_in_dest_icloud_only += asset.icloud_only as usize;
            figures.not_in_dest_original_missing += asset.original_missing as usize;
        }
    }
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_until_rounds_up_and_stops_at_zero() {
        let now = Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap();
        assert_eq!(days_until(at("2025-03-01T12:00:00Z"), now), 0);
        assert_eq!(days_until(at("2025-02-01T12:00:00Z"), now), 0);
        assert_eq!(days_until(at("2025-03-01T12:00:01Z"), now), 1);
        assert_eq!(days_until(at("2025-03-02T12:00:00Z"), now), 1);
        assert_eq!(days_until(at("2025-03-02T13:00:00+01:00"), now), 1);
        assert_eq!(days_until(at("2025-03-31T12:00:01Z"), now), 31);
    }
}
