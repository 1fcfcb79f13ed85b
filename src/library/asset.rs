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
#[derive(Debug, Clone, Serialize)]
pub struct Asset {
    /// Stable identity: the library's ZUUID when the database is readable, else the original's path.
    pub key: String,
    pub uuid: Option<String>,
    /// The DCIM folder (`DCIM/100APPLE`) or other folder the original lives in.
    pub folder: String,
    /// The original's file stem (`IMG_0001`); Live Photo halves and sidecars share it.
    pub stem: String,
    pub kind: AssetKind,
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
    /// An asset as a listing knows it: its original alone, keyed by the original's path,
    /// nothing yet from Photos.sqlite.
    pub fn from_original(
        folder: String,
        stem: String,
        kind: AssetKind,
        original: Resource,
    ) -> Asset {
        Asset {
            key: original.device_path.clone(),
            uuid: None,
            folder,
            stem,
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
}
