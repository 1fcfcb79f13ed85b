//! What the importer works on: assets (one photo or video as the user sees it) made of resources
//! (the files on the phone: original, Live Photo video, AAE sidecar, edited render).

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::db_meta::AssetMeta;

/// Photo or video, as the Photos app counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetKind {
    Photo,
    Video,
}

/// The part a file plays in its asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceRole {
    /// The camera original (HEIC, JPG, PNG, DNG, MOV, MP4…).
    Original,
    /// The video half of a Live Photo (same stem as the photo).
    LiveVideo,
    /// Edit instructions (`IMG_0001.AAE`), kept next to the photo.
    Sidecar,
    /// The rendered edit (`PhotoData/Mutations/…/FullSizeRender.*`); imported only with `--edited`.
    EditedRender,
}

/// One file on the phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    pub role: ResourceRole,
    /// Media-root-relative path, validated component by component (`DCIM/100APPLE/IMG_0001.HEIC`).
    pub device_path: String,
    /// Size and mtime (ns) when known: folder listings don't give them, and a no-op re-run must not
    /// stat every file, so they are filled only for files that will be copied.
    pub size: Option<u64>,
    pub mtime_ns: Option<u64>,
    /// The phone's birth time (ns), from the same stat; it keys a resumable temp file.
    #[serde(skip)]
    pub birth_ns: Option<u64>,
}

impl Resource {
    /// A file as a listing knows it: no size or times yet.
    pub fn listed(role: ResourceRole, device_path: String) -> Resource {
        Resource {
            role,
            device_path,
            size: None,
            mtime_ns: None,
            birth_ns: None,
        }
    }

    /// The file name (last path component).
    pub fn name(&self) -> &str {
        self.device_path
            .rsplit('/')
            .next()
            .unwrap_or(&self.device_path)
    }
}

/// One photo or video with everything that belongs to it.
///
/// Its key, folder and stem are read from its uuid and its original's path rather than held:
/// three strings per asset were about 18 MB of a 100,000-asset run's peak.
#[derive(Debug, Clone)]
pub struct Asset {
    /// The library's ZUUID when the database is readable and has a row for this asset.
    pub uuid: Option<String>,
    pub kind: AssetKind,
    /// The original first (when the phone has one), then its companions.
    pub resources: Vec<Resource>,
    /// Capture date from Photos.sqlite (with the time-zone offset when recorded).
    pub created: Option<DateTime<FixedOffset>>,
    pub hidden: bool,
    /// In Recently Deleted.
    pub trashed: bool,
    pub trashed_at: Option<DateTime<FixedOffset>>,
    /// The original is only in iCloud ("Optimize iPhone Storage"): reads of it fail.
    pub icloud_only: bool,
    /// Photos.sqlite says the original is neither on the phone nor in iCloud.
    pub original_missing: bool,
    /// Not (yet) uploaded to iCloud (Photos.sqlite): this phone holds the only copy.
    pub only_copy_on_phone: bool,
    pub favorite: bool,
    /// Album paths ("Trips/Iceland 2025") the asset belongs to.
    pub albums: Vec<String>,
    /// Title, caption, keywords and place from Photos.sqlite (empty without the database).
    pub meta: AssetMeta,
}

impl Asset {
    /// An asset as a listing knows it: its original alone, nothing yet from Photos.sqlite.
    pub fn from_original(kind: AssetKind, original: Resource) -> Asset {
        Asset {
            uuid: None,
            kind,
            resources: vec![original],
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
        }
    }

    pub fn original(&self) -> Option<&Resource> {
        self.resources
            .iter()
            .find(|r| r.role == ResourceRole::Original)
    }

    /// The original's media-root-relative path ("" for an asset without one).
    fn original_path(&self) -> &str {
        self.original().map_or("", |o| o.device_path.as_str())
    }

    /// Stable identity: the library's ZUUID when the database is readable, else the original's
    /// path.
    pub fn key(&self) -> &str {
        self.uuid.as_deref().unwrap_or_else(|| self.original_path())
    }

    /// The folder the original lives in (`DCIM/100APPLE`, `PhotoData/CPLAssets/group7`).
    pub fn folder(&self) -> &str {
        self.original_path()
            .rsplit_once('/')
            .map_or("", |(dir, _)| dir)
    }

    /// The original's file stem (`IMG_0001`); Live Photo halves and sidecars share it.
    pub fn stem(&self) -> &str {
        split_name(self.original().map_or("", Resource::name)).0
    }
}

/// Splits a file name into (stem, extension without the dot). A leading dot is part of the stem,
/// so a name without an extension, or with nothing before its dot, is its own stem.
pub(crate) fn split_name(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i + 1..]),
        _ => (name, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_original(path: &str) -> Asset {
        Asset::from_original(
            AssetKind::Photo,
            Resource::listed(ResourceRole::Original, path.into()),
        )
    }

    #[test]
    fn key_folder_and_stem_come_from_the_uuid_and_the_original() {
        let mut a = with_original("PhotoData/CPLAssets/group7/IMG_0001.live.HEIC");
        // A companion listed first does not stand in for the original.
        a.resources.insert(
            0,
            Resource::listed(ResourceRole::Sidecar, "DCIM/999APPLE/X.AAE".into()),
        );
        assert_eq!(a.key(), "PhotoData/CPLAssets/group7/IMG_0001.live.HEIC");
        assert_eq!(a.folder(), "PhotoData/CPLAssets/group7");
        assert_eq!(a.stem(), "IMG_0001.live");
        a.uuid = Some("8F0C6D6E-0000-4000-8000-000000000001".into());
        assert_eq!(a.key(), "8F0C6D6E-0000-4000-8000-000000000001");
    }

    #[test]
    fn a_name_without_a_stem_before_its_dot_is_its_own_stem() {
        assert_eq!(with_original("DCIM/100APPLE/README").stem(), "README");
        assert_eq!(with_original("DCIM/100APPLE/.MOV").stem(), ".MOV");
        assert_eq!(with_original("DCIM/100APPLE/...JPG").stem(), "..");
    }

    #[test]
    fn an_asset_without_an_original_has_empty_names() {
        let mut a = with_original("DCIM/100APPLE/IMG_0001.HEIC");
        a.resources[0].role = ResourceRole::LiveVideo;
        assert_eq!((a.key(), a.folder(), a.stem()), ("", "", ""));
    }
}
