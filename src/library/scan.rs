//! DCIM (and `PhotoData/CPLAssets/group*`) listings grouped into assets. Folder listings only:
//! no stat per file, so an unchanged library costs a few ReadDirs, not one request per file.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::StreamExt;
use futures::stream;

use super::asset::{Asset, AssetKind, Resource, ResourceRole, split_name};
use super::error::LibraryError;
use crate::afc::{AfcClient, AfcStatus};
use crate::untrusted::file_name::validate_name;
use crate::untrusted::text::for_terminal;

pub const DCIM: &str = "DCIM";
pub(crate) const CPL_ASSETS: &str = "PhotoData/CPLAssets";

const PHOTO_EXTS: [&str; 10] = [
    "HEIC", "HEIF", "JPG", "JPEG", "PNG", "DNG", "GIF", "TIF", "TIFF", "WEBP",
];
const VIDEO_EXTS: [&str; 3] = ["MOV", "MP4", "M4V"];
const SIDECAR_EXT: &str = "AAE";

/// Limits and parallelism of a scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Entries accepted in one folder listing (a real NNNAPPLE folder holds ≤ 1000 files).
    pub max_entries_per_folder: usize,
    /// Entries accepted over the whole scan.
    pub max_entries_total: usize,
    /// Folder listings in flight at once.
    pub listings_in_flight: usize,
    /// Also list `PhotoData/CPLAssets/group*` (iCloud assets synced from other devices).
    pub cpl_assets: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            max_entries_per_folder: 100_000,
            max_entries_total: 2_000_000,
            listings_in_flight: 4,
            cpl_assets: true,
        }
    }
}

/// What a scan found, plus what it skipped and why.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub assets: Vec<Asset>,
    /// Names refused as hostile, unknown file types, orphan sidecars, unlistable folders.
    pub warnings: Vec<String>,
    /// Names refused by the name check (also in `warnings`).
    pub hostile_names: usize,
    /// Folders listed.
    pub folders: usize,
    /// The folders that were listed (media-relative), for [`scan_db_folders`].
    pub listed: Vec<String>,
}

/// What a file is, by its extension (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileClass {
    Photo,
    Video,
    Sidecar,
    Other,
}

/// Splits `IMG_0001.HEIC` into (`IMG_0001`, class). Names without an extension are `Other`.
pub(crate) fn classify(name: &str) -> (&str, FileClass) {
    let (stem, ext) = split_name(name);
    if ext.is_empty() {
        return (stem, FileClass::Other);
    }
    let is = |list: &[&str]| list.iter().any(|e| e.eq_ignore_ascii_case(ext));
    let class = if is(&PHOTO_EXTS) {
        FileClass::Photo
    } else if is(&VIDEO_EXTS) {
        FileClass::Video
    } else if ext.eq_ignore_ascii_case(SIDECAR_EXT) {
        FileClass::Sidecar
    } else {
        FileClass::Other
    };
    (stem, class)
}

/// The stem a sidecar belongs to: `IMG_O1234` (portrait/original-edit AAE) → `IMG_1234`.
fn sidecar_target(stem: &str) -> String {
    match stem.strip_prefix("IMG_O") {
        Some(rest) if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) => {
            format!("IMG_{rest}")
        }
        _ => stem.to_owned(),
    }
}

/// The AFC path of a media-relative path.
pub(crate) fn afc_path(rel: &str) -> String {
    format!("/{rel}")
}

/// Lists a folder, refusing listings over `limit` entries.
pub(crate) async fn list(
    afc: &AfcClient,
    rel: &str,
    limit: usize,
) -> Result<Vec<String>, LibraryError> {
    let names = afc
        .read_dir(&afc_path(rel))
        .await
        .map_err(LibraryError::afc(rel))?;
    if names.len() > limit {
        return Err(LibraryError::TooManyEntries {
            what: rel.to_owned(),
            limit,
        });
    }
    Ok(names)
}

/// Lists a folder that may be absent: None when the phone says it does not exist.
async fn list_optional(
    afc: &AfcClient,
    rel: &str,
    limit: usize,
) -> Result<Option<Vec<String>>, LibraryError> {
    match list(afc, rel, limit).await {
        Ok(names) => Ok(Some(names)),
        Err(LibraryError::Afc { source, .. })
            if source.status() == Some(AfcStatus::ObjectNotFound) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Scans DCIM (and CPLAssets) into assets and returns only the assets; use [`scan`] to also get
/// what was skipped.
pub async fn scan_dcim(afc: &AfcClient, opts: &ScanOptions) -> Result<Vec<Asset>, LibraryError> {
    Ok(scan(afc, opts).await?.assets)
}

/// Scans DCIM (and CPLAssets when present) into assets, in a deterministic order: folders by
/// name (DCIM first, then CPLAssets groups), assets by stem within a folder.
pub async fn scan(afc: &AfcClient, opts: &ScanOptions) -> Result<Scan, LibraryError> {
    let mut out = Scan::default();
    let mut total = 0usize;
    let mut folders: Vec<String> = Vec::new();

    let Some(top) = list_optional(afc, DCIM, opts.max_entries_per_folder).await? else {
        return Err(LibraryError::NoDcim);
    };
    total += top.len();
    folders.extend(top_level_folders(DCIM, top, &mut out));
    let groups = if !opts.cpl_assets {
        Ok(None)
    } else {
        list_optional(afc, CPL_ASSETS, opts.max_entries_per_folder).await
    };
    let groups = match groups {
        Ok(groups) => groups,
        // Refused (not a lost connection): its groups can still be found from Photos.sqlite.
        Err(LibraryError::Afc { source, .. }) if !source.is_fatal() => {
            out.warnings.push(format!(
                "{CPL_ASSETS}: not listed ({source}); its folders are looked up from Photos.sqlite"
            ));
            None
        }
        Err(e) => return Err(e),
    };
    if let Some(groups) = groups {
        total += groups.len();
        let groups = groups
            .into_iter()
            .filter(|g| g.starts_with("group"))
            .collect();
        folders.extend(top_level_folders(CPL_ASSETS, groups, &mut out));
    }
    check_total(total, opts)?;

    // Listings in flight concurrently; `buffered` keeps their order.
    let per_folder = opts.max_entries_per_folder;
    let mut listings = stream::iter(folders.iter())
        .map(|folder| async move { (folder, list(afc, folder, per_folder).await) })
        .buffered(opts.listings_in_flight.max(1));
    while let Some((folder, listing)) = listings.next().await {
        let names = match listing {
            Ok(names) => names,
            // A file among the folders, or one the phone refuses: skip it, keep going.
            Err(LibraryError::Afc { source, .. }) if !source.is_fatal() => {
                out.warnings
                    .push(format!("{folder}: not listed ({source}); skipped"));
                continue;
            }
            Err(e) => return Err(e),
        };
        total += names.len();
        check_total(total, opts)?;
        out.folders += 1;
        out.listed.push(folder.clone());
        group_folder(folder, names, &mut out);
    }
    // The vector grew by doubling: up to half of it empty (~6 MB at 100,000 assets, held
    // through the inventory's peak).
    out.assets.shrink_to_fit();
    Ok(out)
}

/// Most folders named only by Photos.sqlite that one scan lists.
pub(crate) const MAX_DB_FOLDERS: usize = 10_000;

/// Lists the `PhotoData/CPLAssets/…` folders that Photos.sqlite names (ZDIRECTORY) but the scan
/// did not list (the phone refused the CPLAssets listing, or a group not named `group*`), and
/// adds their assets to `out`. Names are checked per component; a folder the phone does not
/// have is skipped quietly (its rows stay "not on the phone"), one it refuses with a warning.
pub(crate) async fn scan_db_folders<'a>(
    afc: &AfcClient,
    opts: &ScanOptions,
    directories: impl Iterator<Item = &'a str>,
    out: &mut Scan,
) -> Result<(), LibraryError> {
    if !opts.cpl_assets {
        return Ok(());
    }
    let prefix = format!("{CPL_ASSETS}/");
    // Compared case-insensitively: listing a folder twice would add its assets twice.
    let mut seen: HashSet<String> = out.listed.iter().map(|l| l.to_lowercase()).collect();
    let mut wanted: Vec<&str> = Vec::new();
    for d in directories {
        if wanted.len() == MAX_DB_FOLDERS {
            break;
        }
        if d.starts_with(&prefix)
            && d.split('/').all(|c| validate_name(c).is_ok())
            && seen.insert(d.to_lowercase())
        {
            wanted.push(d);
        }
    }
    wanted.sort_unstable();
    // Bounded like the scan: the assets found so far plus every name listed here.
    let mut total = out.assets.len();
    for folder in wanted {
        match list(afc, folder, opts.max_entries_per_folder).await {
            Ok(names) => {
                total += names.len();
                check_total(total, opts)?;
                out.folders += 1;
                out.listed.push(folder.to_owned());
                group_folder(folder, names, out);
            }
            Err(LibraryError::Afc { source, .. })
                if source.status() == Some(AfcStatus::ObjectNotFound) => {}
            Err(LibraryError::Afc { source, .. }) if !source.is_fatal() => out.warnings.push(
                format!("{}: not listed ({source}); skipped", for_terminal(folder)),
            ),
            Err(e) => return Err(e),
        }
    }
    // As after the scan: a push onto its exact vector doubled it.
    out.assets.shrink_to_fit();
    Ok(())
}

fn check_total(total: usize, opts: &ScanOptions) -> Result<(), LibraryError> {
    if total > opts.max_entries_total {
        return Err(LibraryError::TooManyEntries {
            what: "the photo library".to_owned(),
            limit: opts.max_entries_total,
        });
    }
    Ok(())
}

/// The folders to list under `parent`, sorted; hostile names and dot-names reported.
fn top_level_folders(parent: &str, names: Vec<String>, out: &mut Scan) -> Vec<String> {
    let mut folders: Vec<String> = names
        .into_iter()
        .filter(|n| accept_name(parent, n, out) && !hidden(parent, n, out))
        .map(|n| format!("{parent}/{n}"))
        .collect();
    folders.sort();
    folders
}

fn accept_name(folder: &str, name: &str, out: &mut Scan) -> bool {
    match validate_name(name) {
        Ok(_) => true,
        Err(why) => {
            out.hostile_names += 1;
            out.warnings.push(format!(
                "{folder}: skipped a file named \"{}\" ({})",
                for_terminal(name),
                why.problem
            ));
            false
        }
    }
}

/// A dot-name (never made by the Camera; e.g. `._IMG_0001.JPG` copied from a Mac) is not
/// imported, and says so.
fn hidden(folder: &str, name: &str, out: &mut Scan) -> bool {
    if !name.starts_with('.') {
        return false;
    }
    out.warnings.push(format!(
        "{folder}/{}: hidden name (starts with \".\"); skipped",
        for_terminal(name)
    ));
    true
}

/// Groups one folder's files into assets: photo + same-stem video = Live Photo; `.AAE` = sidecar
/// of the asset with its stem; other videos are assets of their own.
fn group_folder(folder: &str, mut names: Vec<String>, out: &mut Scan) {
    names.sort_unstable();
    // Borrowed from `names` throughout: owned keys cost ~5 allocations per photo, a quarter of
    // a 100,000-asset no-op's CPU.
    let mut photos: Vec<&str> = Vec::new();
    let mut videos: Vec<&str> = Vec::new();
    let mut sidecars: Vec<&str> = Vec::new();
    for name in &names {
        if !accept_name(folder, name, out) || hidden(folder, name, out) {
            continue;
        }
        match classify(name).1 {
            FileClass::Photo => photos.push(name),
            FileClass::Video => videos.push(name),
            FileClass::Sidecar => sidecars.push(name),
            FileClass::Other => out.warnings.push(format!(
                "{folder}/{}: not a photo, video or sidecar; skipped",
                for_terminal(name)
            )),
        }
    }

    let resource = |role, name: &str| Resource::listed(role, format!("{folder}/{name}"));
    let new_asset =
        |kind, name: &str| Asset::from_original(kind, resource(ResourceRole::Original, name));

    // (stem, original name) → asset; the first photo with a stem takes its Live video.
    let mut assets: BTreeMap<(&str, &str), Asset> = BTreeMap::new();
    let mut photo_by_stem: HashMap<&str, (&str, &str)> = HashMap::new();
    for &name in &photos {
        let stem = classify(name).0;
        photo_by_stem.entry(stem).or_insert((stem, name));
        assets.insert((stem, name), new_asset(AssetKind::Photo, name));
    }
    let mut live_taken: HashSet<&str> = HashSet::new();
    for &name in &videos {
        let stem = classify(name).0;
        match photo_by_stem.get(stem) {
            Some(id) if live_taken.insert(stem) => {
                if let Some(a) = assets.get_mut(id) {
                    // One slot at a time: a growth to 4 slots cost ~4 MB at 100,000 assets.
                    a.resources.reserve_exact(1);
                    a.resources.push(resource(ResourceRole::LiveVideo, name));
                }
            }
            _ => {
                assets.insert((stem, name), new_asset(AssetKind::Video, name));
            }
        }
    }
    if !sidecars.is_empty() {
        attach_sidecars(folder, &sidecars, &mut assets, out);
    }
    out.assets.extend(assets.into_values());
}

/// Gives each `.AAE` to the first asset (by original name) of its target stem.
fn attach_sidecars(
    folder: &str,
    sidecars: &[&str],
    assets: &mut BTreeMap<(&str, &str), Asset>,
    out: &mut Scan,
) {
    let mut first_by_stem: HashMap<&str, (&str, &str)> = HashMap::new();
    for &id in assets.keys() {
        first_by_stem.entry(id.0).or_insert(id);
    }
    for &name in sidecars {
        let target = sidecar_target(classify(name).0);
        match first_by_stem
            .get(target.as_str())
            .and_then(|id| assets.get_mut(id))
        {
            Some(a) => {
                a.resources.reserve_exact(1);
                let path = format!("{folder}/{name}");
                a.resources
                    .push(Resource::listed(ResourceRole::Sidecar, path));
            }
            None => out.warnings.push(format!(
                "{folder}/{}: edit sidecar without its photo; skipped",
                for_terminal(name)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(names: &[&str]) -> Scan {
        let mut out = Scan::default();
        group_folder(
            "DCIM/100APPLE",
            names.iter().map(|s| s.to_string()).collect(),
            &mut out,
        );
        out
    }

    fn roles(a: &Asset) -> Vec<(ResourceRole, &str)> {
        a.resources.iter().map(|r| (r.role, r.name())).collect()
    }

    #[test]
    fn groups_live_photos_sidecars_and_videos() {
        let s = group(&[
            "IMG_0003.MOV",
            "IMG_0001.HEIC",
            "IMG_0001.mov",
            "IMG_0001.AAE",
            "IMG_0002.jpg",
            "IMG_O0002.aae",
            "IMG_0004.MP4",
            "IMG_0005.AAE",
            "notes.txt",
        ]);
        let got: Vec<_> = s.assets.iter().map(|a| (a.kind, roles(a))).collect();
        use ResourceRole::*;
        assert_eq!(
            got,
            vec![
                (
                    AssetKind::Photo,
                    vec![
                        (Original, "IMG_0001.HEIC"),
                        (LiveVideo, "IMG_0001.mov"),
                        (Sidecar, "IMG_0001.AAE")
                    ]
                ),
                (
                    AssetKind::Photo,
                    vec![(Original, "IMG_0002.jpg"), (Sidecar, "IMG_O0002.aae")]
                ),
                (AssetKind::Video, vec![(Original, "IMG_0003.MOV")]),
                (AssetKind::Video, vec![(Original, "IMG_0004.MP4")]),
            ]
        );
        assert_eq!(s.assets[0].key(), "DCIM/100APPLE/IMG_0001.HEIC");
        assert_eq!(s.assets[0].folder(), "DCIM/100APPLE");
        assert_eq!(s.assets[0].stem(), "IMG_0001");
        assert!(
            s.assets
                .iter()
                .all(|a| a.resources.iter().all(|r| r.size.is_none()))
        );
        // notes.txt and the orphan IMG_0005.AAE
        assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
    }

    #[test]
    fn hostile_names_are_skipped_and_reported() {
        let s = group(&["IMG_0001.JPG", "IMG\n0002.JPG", "a\\b.JPG"]);
        assert_eq!(s.assets.len(), 1);
        assert_eq!(s.hostile_names, 2);
        assert!(s.warnings.iter().all(|w| !w.contains('\n')));
    }

    #[test]
    fn classify_is_case_insensitive() {
        assert_eq!(classify("x.HeIc"), ("x", FileClass::Photo));
        assert_eq!(classify("x.m4v"), ("x", FileClass::Video));
        assert_eq!(classify(".MOV"), (".MOV", FileClass::Other));
        assert_eq!(classify("README"), ("README", FileClass::Other));
    }
}
