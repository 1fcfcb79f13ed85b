//! Where a staged file goes and its commit there (blocking: reads the temp file and DEST):
//! capture date (or the asset's anchor), the layout's path, the collision suffix that keeps an
//! asset's files on one stem, claimed in the batch before anything is renamed.

use std::path::Path;
use std::time::SystemTime;

use chrono::DateTime;

use super::planner::Anchor;
use crate::import::batch_write::{Claim, Claims};
use crate::import::dates::{CaptureDate, Fallbacks};
use crate::import::layout::{Layout, LayoutError, ResourceVars};
use crate::import::safe_write::Ready;
use crate::import::safe_write::SafeWriteError;
use crate::library::asset::split_name;
use crate::library::{Asset, AssetKind, ResourceRole};

/// ` (N)` suffixes tried to keep an asset's files together before letting each find its own.
const COMPANION_SUFFIX_TRIES: u32 = 100;

/// One file to place: what the layout and the suffix choice need besides the file.
pub(super) struct Placement<'a> {
    pub asset: &'a Asset,
    pub role: ResourceRole,
    /// The file's name on the phone (for its extension).
    pub name: &'a str,
    pub device: &'a str,
    /// `{album}` ("" = no album, or a layout without it).
    pub album: &'a str,
    /// The asset's other files (role, name, size), kept on the original's stem if possible.
    pub companions: &'a [(ResourceRole, String, u64)],
    /// The original's placement, for a companion; `None` for the original itself.
    pub anchor: Option<Anchor>,
}

/// Blocking: renders the file's path and claims it in the batch (see
/// [`crate::import::batch_write`]). A path the layout cannot make is the inner error (this
/// item fails); a write error is the outer one. `own` is the original's own date (ignored for
/// a companion, which follows `p.anchor`).
pub(super) fn claim(
    root: &Path,
    layout: &Layout,
    p: &Placement<'_>,
    own: Anchor,
    ready: &Ready,
    claims: &mut Claims,
) -> Result<Result<(Claim, Anchor), LayoutError>, SafeWriteError> {
    let placed = p.anchor.unwrap_or(own);
    let (_, ext) = split_name(p.name);
    let vars = ResourceVars {
        date: placed.day,
        stem: p.asset.stem(),
        ext,
        device: p.device,
        dcim_folder: dcim_folder(p.asset),
        album: p.album,
        original_stem: p
            .asset
            .meta
            .original_filename
            .as_deref()
            .map_or("", |n| split_name(n).0),
        favorite: p.asset.favorite,
        kind: kind_word(p.asset),
    };
    let rel = if p.role == ResourceRole::EditedRender {
        layout.render_edited(&vars, ext)
    } else {
        layout.render(&vars)
    };
    let rel = match rel {
        Ok(rel) => rel,
        Err(e) => return Ok(Err(e)),
    };
    let first_suffix = if p.anchor.is_none() {
        companion_suffix(root, layout, &vars, p.companions, claims)
    } else {
        placed.suffix
    };
    let claim = ready.claim(&rel, first_suffix, claims)?;
    let placed = Anchor {
        suffix: claim.suffix,
        ..placed
    };
    Ok(Ok((claim, placed)))
}

/// An original's own placement: its capture date as `date_of` reads it with the asset's
/// fallbacks ([`capture_date_of`](crate::import::dates::capture_date_of) its temp file, or
/// [`capture_date`](crate::import::dates::capture_date) its bytes while they are in memory),
/// the phone's mtime when it has none.
pub(super) fn own_anchor(
    asset: &Asset,
    device_mtime: SystemTime,
    date_of: impl FnOnce(&Fallbacks) -> Option<CaptureDate>,
) -> Anchor {
    let fallbacks = Fallbacks {
        photos_db: asset.created,
        birth_time: Some(device_mtime),
    };
    let date = date_of(&fallbacks);
    Anchor {
        day: date.map_or_else(
            || DateTime::<chrono::Utc>::from(device_mtime).date_naive(),
            |d| d.day(),
        ),
        mtime: date.map(|d| d.system_time()).or(Some(device_mtime)),
        suffix: 0,
    }
}

/// `{kind}` of the layout: `live`, `screenshot`, `photo` or `video`.
fn kind_word(asset: &Asset) -> &'static str {
    if asset
        .resources
        .iter()
        .any(|r| r.role == ResourceRole::LiveVideo)
    {
        "live"
    } else if asset.meta.screenshot {
        "screenshot"
    } else {
        match asset.kind {
            AssetKind::Photo => "photo",
            AssetKind::Video => "video",
        }
    }
}

/// The camera folder name (`100APPLE`) of a DCIM path, for `{dcim_folder}`.
fn dcim_folder(asset: &Asset) -> &str {
    let folder = asset.folder();
    folder.rsplit('/').next().unwrap_or(folder)
}

/// The first collision suffix at which none of an asset's companions (Live Photo video, AAE,
/// edited render) would land on a different file, so they can all keep the original's stem
/// (a second phone's `IMG_0001.MOV` must not split this phone's `IMG_0001` pair). An existing
/// file of the companion's size counts as free: it is most likely this very file from an
/// earlier import, and the commit checks its content anyway. Paths an earlier file of the
/// batch claimed count as taken by that file.
fn companion_suffix(
    root: &Path,
    layout: &Layout,
    vars: &ResourceVars<'_>,
    companions: &[(ResourceRole, String, u64)],
    claims: &Claims,
) -> u32 {
    let free = |n: u32| {
        companions.iter().all(|(role, name, size)| {
            let (_, ext) = split_name(name);
            let v = ResourceVars { ext, ..*vars };
            let rel = if *role == ResourceRole::EditedRender {
                layout.render_edited(&v, ext)
            } else {
                layout.render(&v)
            };
            let Some(path) = rel.ok().and_then(|r| r.with_suffix(n).ok()) else {
                return true;
            };
            let full = path.under(root);
            if let Some(len) = claims.len_at(&full) {
                return len == *size;
            }
            match std::fs::symlink_metadata(full) {
                Ok(meta) => meta.is_file() && meta.len() == *size,
                Err(_) => true,
            }
        })
    };
    (0..COMPANION_SUFFIX_TRIES).find(|&n| free(n)).unwrap_or(0)
}
