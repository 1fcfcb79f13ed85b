//! A minimal inventory from the DCIM listing alone (no Photos.sqlite): folders and names,
//! grouped into assets by stem. No stat, no read: a no-op re-run costs one ReadDir per folder.
//! The library inventory (Photos.sqlite) supersedes it when available; this one knows no
//! dates, hidden/trashed flags or iCloud state.

use std::collections::BTreeMap;

use crate::afc::{AfcClient, AfcError, AfcStatus};
use crate::library::{Asset, AssetKind, Resource, ResourceRole};

/// The media-root folder the camera writes to.
pub const DCIM: &str = "DCIM";

const PHOTO_EXTS: &[&str] = &[
    "HEIC", "HEIF", "JPG", "JPEG", "PNG", "DNG", "GIF", "TIF", "TIFF", "WEBP",
];
const VIDEO_EXTS: &[&str] = &["MOV", "MP4", "M4V", "3GP"];
const SIDECAR_EXTS: &[&str] = &["AAE"];

fn split(name: &str) -> (&str, String) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], name[i + 1..].to_ascii_uppercase()),
        _ => (name, String::new()),
    }
}

/// Lists `DCIM/*/` and groups each folder's files into assets: a photo with the video of the
/// same stem is a Live Photo, an `.AAE` of the same stem travels with its original. Names are
/// passed on unvalidated: `pull` skips unsafe ones with a warning. A phone without DCIM has
/// no assets.
pub async fn scan_dcim(client: &AfcClient) -> Result<Vec<Asset>, AfcError> {
    let folders = match client.read_dir(DCIM).await {
        Ok(f) => f,
        Err(e) if e.status() == Some(AfcStatus::ObjectNotFound) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut folders: Vec<String> = folders;
    folders.sort();
    let mut assets = Vec::new();
    for folder in folders {
        let dir = format!("{DCIM}/{folder}");
        let names = match client.read_dir(&dir).await {
            Ok(n) => n,
            // A plain file in DCIM (e.g. `.MISC` info files) is not a camera folder.
            Err(e) if e.status().is_some() => continue,
            Err(e) => return Err(e),
        };
        group_folder(&dir, names, &mut assets);
    }
    Ok(assets)
}

/// Groups the names of one folder into assets (in name order).
pub fn group_folder(dir: &str, names: Vec<String>, out: &mut Vec<Asset>) {
    #[derive(Default)]
    struct Stem {
        photo: Option<String>,
        video: Option<String>,
        sidecar: Option<String>,
    }
    let mut stems: BTreeMap<String, Stem> = BTreeMap::new();
    for name in names {
        let (stem, ext) = split(&name);
        let stem = stem.to_string();
        let slot = stems.entry(stem).or_default();
        if PHOTO_EXTS.contains(&ext.as_str()) && slot.photo.is_none() {
            slot.photo = Some(name);
        } else if VIDEO_EXTS.contains(&ext.as_str()) && slot.video.is_none() {
            slot.video = Some(name);
        } else if SIDECAR_EXTS.contains(&ext.as_str()) && slot.sidecar.is_none() {
            slot.sidecar = Some(name);
        }
    }
    let res = |role, name: &str| Resource {
        role,
        device_path: format!("{dir}/{name}"),
        size: None,
        mtime_ns: None,
    };
    for (stem, s) in stems {
        let mut resources = Vec::new();
        let kind = match (&s.photo, &s.video) {
            (Some(p), v) => {
                resources.push(res(ResourceRole::Original, p));
                if let Some(v) = v {
                    resources.push(res(ResourceRole::LiveVideo, v));
                }
                AssetKind::Photo
            }
            (None, Some(v)) => {
                resources.push(res(ResourceRole::Original, v));
                AssetKind::Video
            }
            (None, None) => continue,
        };
        if let Some(a) = &s.sidecar {
            resources.push(res(ResourceRole::Sidecar, a));
        }
        out.push(Asset {
            key: resources[0].device_path.clone(),
            uuid: None,
            folder: dir.to_string(),
            stem,
            kind,
            resources,
            created: None,
            hidden: false,
            trashed: false,
            trashed_at: None,
            icloud_only: false,
            favorite: false,
            albums: Vec::new(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_live_photos_sidecars_and_videos() {
        let mut out = Vec::new();
        let names = [
            "IMG_0001.HEIC",
            "IMG_0001.MOV",
            "IMG_0001.AAE",
            "IMG_0002.MOV",
            "IMG_0003.AAE",
            "notes.txt",
        ];
        group_folder(
            "DCIM/100APPLE",
            names.iter().map(|s| s.to_string()).collect(),
            &mut out,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].stem, "IMG_0001");
        assert_eq!(out[0].kind, AssetKind::Photo);
        let roles: Vec<_> = out[0]
            .resources
            .iter()
            .map(|r| (r.role, r.name().to_string()))
            .collect();
        assert_eq!(
            roles,
            vec![
                (ResourceRole::Original, "IMG_0001.HEIC".to_string()),
                (ResourceRole::LiveVideo, "IMG_0001.MOV".to_string()),
                (ResourceRole::Sidecar, "IMG_0001.AAE".to_string()),
            ]
        );
        assert_eq!(out[1].kind, AssetKind::Video);
        assert_eq!(
            out[1].resources[0].device_path,
            "DCIM/100APPLE/IMG_0002.MOV"
        );
    }
}
