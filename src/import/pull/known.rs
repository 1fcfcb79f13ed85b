//! The ledger's side of the plan: what it holds for the planned folders, and the anchors of
//! originals an earlier run imported. SQLite and the reads of DEST files run on blocking
//! threads, never on the runtime's.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::error::{PullError, internal};
use super::planner::{Anchor, Anchors, Known};
use super::shared::Shared;
use crate::import::dates::{self, Fallbacks};
use crate::library::Asset;
use crate::library::asset::split_name;

/// Reads which names (plain layout) or copies (`by_album`) of each folder the ledger holds.
/// Without a ledger (a dry run on a fresh DEST) nothing is known.
pub(super) async fn load(
    shared: &Arc<Shared>,
    folders: BTreeSet<String>,
    by_album: bool,
) -> Result<Known, PullError> {
    let Some(ledger) = shared.ledger.clone() else {
        return Ok(Known::default());
    };
    let udid = shared.device.udid.clone();
    tokio::task::spawn_blocking(move || {
        let ledger = ledger.lock().map_err(internal)?;
        let mut known = Known::default();
        for folder in folders {
            if by_album {
                let copies = ledger.known_copies(&udid, &folder)?;
                known.add_copies(folder, copies);
            } else {
                let names = ledger.known_paths(&udid, &folder)?;
                known.add_names(folder, names);
            }
        }
        Ok(known)
    })
    .await
    .map_err(internal)?
}

/// The anchors of the (asset index, copy key) pairs whose original an earlier run imported:
/// its destination's date and collision suffix, so a new companion (an AAE after an edit)
/// lands beside it. A pair without an entry (or a date) has no anchor. The assets are lent to
/// the blocking thread and given back.
pub(super) async fn anchors(
    shared: &Arc<Shared>,
    assets: Vec<Asset>,
    wanted: Vec<(usize, String)>,
) -> Result<(Vec<Asset>, Anchors), PullError> {
    let mut found = Anchors::new();
    let Some(ledger) = shared.ledger.clone() else {
        return Ok((assets, found));
    };
    if wanted.is_empty() {
        return Ok((assets, found));
    }
    let udid = shared.device.udid.clone();
    let dest = shared.config.dest.clone();
    tokio::task::spawn_blocking(move || {
        for (index, key) in wanted {
            let asset = &assets[index];
            let Some(original) = asset.original() else {
                continue;
            };
            let entry =
                ledger
                    .lock()
                    .map_err(internal)?
                    .lookup_copy(&udid, &original.device_path, &key)?;
            let Some(entry) = entry else {
                continue;
            };
            let fallbacks = Fallbacks {
                photos_db: asset.created,
                birth_time: None,
            };
            let Some(date) = dates::capture_date_of(&dest.join(&entry.dest_path), &fallbacks)
            else {
                continue;
            };
            let (dest_stem, _) = split_name(entry.dest_path.rsplit('/').next().unwrap_or(""));
            let anchor = Anchor {
                day: date.day(),
                mtime: Some(date.system_time()),
                suffix: collision_suffix(dest_stem, asset.stem()),
            };
            found.insert((index, key), anchor);
        }
        Ok((assets, found))
    })
    .await
    .map_err(internal)?
}

/// The ` (N)` a committed file's stem carries beyond the asset's stem (0 = none).
fn collision_suffix(dest_stem: &str, stem: &str) -> u32 {
    dest_stem
        .rsplit_once(" (")
        .filter(|(base, _)| base.ends_with(stem))
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collision_suffix_is_read_back_from_a_destination_name() {
        assert_eq!(collision_suffix("IMG_0001", "IMG_0001"), 0);
        assert_eq!(collision_suffix("IMG_0001 (3)", "IMG_0001"), 3);
        assert_eq!(collision_suffix("100APPLE-IMG_0001 (2)", "IMG_0001"), 2);
        assert_eq!(collision_suffix("IMG_0001 (x)", "IMG_0001"), 0);
        assert_eq!(collision_suffix("IMG_0002 (1)", "IMG_0001"), 0);
    }
}
