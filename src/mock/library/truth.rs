//! The known answers: what the generator put on the simulated phone, serialised to
//! `.iphone-mock/truth.json` so later tests (AFC, importer, verification) compare against it.

use super::options::OptimisedShape;
use serde::{Deserialize, Serialize};

/// What the user sees the asset as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetKind {
    Photo,
    LivePhoto,
    Screenshot,
    Video,
}

/// Container format of the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Heic,
    Jpeg,
    Png,
    Mov,
    Mp4,
}

/// Where the capture date can be read from inside the original file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbeddedDate {
    /// EXIF DateTimeOriginal + OffsetTimeOriginal.
    ExifWithOffset,
    /// `com.apple.quicktime.creationdate` (local + offset) and `mvhd` (UTC).
    QuickTimeWithOffset,
    /// Only `mvhd` creation time (UTC); the offset must come from the database.
    QuickTimeUtcOnly,
    /// None (PNG screenshot): database ZDATECREATED or file mtime.
    None,
}

/// iCloud upload state of the original (ZCLOUDMASTER / ZINTERNALRESOURCE ZCLOUDLOCALSTATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloudState {
    /// 1: the only copy is on this phone, upload pending.
    PendingUpload,
    /// 3: in iCloud.
    Synced,
}

/// One file on the phone, by its path relative to the media root (`/var/mobile/Media`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub path: String,
    pub size: u64,
    pub mtime_unix: i64,
}

/// When the asset was captured: the instant and the wall-clock zone it was taken in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureTime {
    pub unix: i64,
    pub offset_secs: i32,
    /// `+01:00`
    pub offset: String,
    /// `2025-06-14T10:22:31` wall-clock time at `offset`.
    pub local: String,
    /// `2025-06-14T09:22:31Z`
    pub utc: String,
    pub time_zone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetTruth {
    /// ZASSET.ZUUID (uppercase).
    pub uuid: String,
    /// ZASSET.Z_PK.
    pub z_pk: i64,
    /// The NNNN of IMG_NNNN.
    pub number: u32,
    pub kind: AssetKind,
    pub format: FileFormat,
    /// ZDIRECTORY, e.g. `DCIM/100APPLE`.
    pub directory: String,
    /// ZFILENAME, e.g. `IMG_0001.HEIC`.
    pub filename: String,
    pub original: Resource,
    /// The `.MOV` half of a Live Photo.
    pub live_video: Option<Resource>,
    /// `IMG_NNNN.AAE` next to the original.
    pub aae: Option<Resource>,
    /// `PhotoData/Mutations/<dir>/IMG_NNNN/Adjustments/FullSizeRender.<ext>`.
    pub edited_render: Option<Resource>,
    /// `.../Adjustments/Adjustments.plist` beside the render.
    pub adjustments_plist: Option<Resource>,
    pub capture: CaptureTime,
    pub embedded_date: EmbeddedDate,
    /// Live Photo content identifier (MakerNote 0x0011 = QuickTime content.identifier).
    pub content_identifier: Option<String>,
    pub width: u32,
    pub height: u32,
    pub duration_ms: Option<u32>,
    pub hidden: bool,
    pub favorite: bool,
    pub trashed: bool,
    pub trashed_unix: Option<i64>,
    /// trashed + 30 days: when Recently Deleted purges it.
    pub purge_unix: Option<i64>,
    /// Original not on the phone ("Optimize iPhone Storage"): listed, but reads fail.
    pub icloud_only: bool,
    /// Original on neither the phone nor iCloud (lost): listed or not like an iCloud-only one.
    #[serde(default)]
    pub original_missing: bool,
    pub edited: bool,
    pub cloud_state: CloudState,
    /// UUIDs of the albums (ZKIND 2 and 1505) holding this asset.
    pub albums: Vec<String>,
    /// Its database rows exist only in `Photos.sqlite-wal`.
    pub in_wal_only: bool,
    /// Title, caption, keywords and place typed or recorded in Photos.
    #[serde(default)]
    pub meta: MetaTruth,
}

/// What the person put into Photos about an asset (read back from XMP sidecars in tests).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaTruth {
    pub title: Option<String>,
    pub caption: Option<String>,
    /// Sorted.
    pub keywords: Vec<String>,
    /// (latitude, longitude) in millionths of a degree; None = no location (-180.0 in the db).
    pub location_e6: Option<(i64, i64)>,
    /// Named people's faces, in database order (unnamed and trashed faces are not here).
    #[serde(default)]
    pub people: Vec<FaceTruth>,
}

/// A named face as an XMP sidecar should hold it: MWG area (centre, top-left origin, width and
/// height as fractions of each side of the image) in millionths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceTruth {
    pub name: String,
    pub x_e6: i64,
    pub y_e6: i64,
    pub w_e6: i64,
    pub h_e6: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlbumTruth {
    pub uuid: String,
    pub title: String,
    /// ZGENERICALBUM.ZKIND: 2 user album, 1505 shared album.
    pub kind: i64,
    /// Folder path and title, e.g. `Trips/Iceland 2025`.
    pub path: String,
    pub asset_uuids: Vec<String>,
    pub in_wal_only: bool,
    /// Enclosing folder titles, outermost first (empty at the top level). `path` joins these and
    /// the title with `/`, which is ambiguous when a title contains `/` ("AC/DC").
    #[serde(default)]
    pub folders: Vec<String>,
    /// A shared (iCloud Shared Album, ZKIND 1505) album.
    #[serde(default)]
    pub shared: bool,
    /// Members (= `asset_uuids.len()`), trashed and hidden members included.
    #[serde(default)]
    pub asset_count: usize,
    /// Members whose original is not on the phone (iCloud-only).
    #[serde(default)]
    pub not_on_phone: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderTruth {
    pub uuid: String,
    pub title: String,
    /// ZKIND 3999 root (empty path) or 4000 user folder.
    pub kind: i64,
    pub path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub assets: usize,
    pub photos: usize,
    pub live_photos: usize,
    pub screenshots: usize,
    pub videos: usize,
    pub hidden: usize,
    pub trashed: usize,
    pub icloud_only: usize,
    #[serde(default)]
    pub original_missing: usize,
    pub edited: usize,
    pub favorites: usize,
    pub pending_upload: usize,
    pub in_wal_only: usize,
    /// User albums (ZKIND 2) including WAL-only ones, not the trashed ones.
    pub user_albums: usize,
    pub shared_albums: usize,
    /// Albums in the trash (ZTRASHEDSTATE 1): not shown, not in `albums`.
    #[serde(default)]
    pub trashed_albums: usize,
    /// Albums without members.
    #[serde(default)]
    pub empty_albums: usize,
    /// User folders (ZKIND 4000), nested ones included.
    #[serde(default)]
    pub folders: usize,
    /// Files under DCIM (originals, Live Photo videos, AAE sidecars).
    pub dcim_files: usize,
}

/// Which odd shape an asset was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OddKind {
    HeicJpeg,
    MovWideFirst,
    Imprt,
    ImgWrap,
    FullSizeRender,
    CplAssets,
}

/// One asset given an odd shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OddFileTruth {
    pub kind: OddKind,
    pub uuid: String,
    /// The original's media-relative path.
    pub path: String,
    /// `img_wrap` / `full_size_render`: the asset whose file names this one repeats.
    pub same_name_as: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryTruth {
    pub seed: u64,
    pub device_model: String,
    pub ios_version: String,
    /// Z_METADATA PLModelVersion.
    pub model_version: i64,
    /// The Photos.sqlite layout (`ios17`, `ios17.6`, … see `SchemaShape`).
    #[serde(default)]
    pub schema: String,
    /// ZASSET or ZGENERICASSET.
    #[serde(default)]
    pub asset_table: String,
    /// The album join table and its (album, asset) columns, e.g. `Z_28ASSETS`, `Z_28ALBUMS`,
    /// `Z_3ASSETS`.
    #[serde(default)]
    pub join_table: String,
    #[serde(default)]
    pub join_album_column: String,
    #[serde(default)]
    pub join_asset_column: String,
    /// The phone's "now": every date in the library is before it.
    pub snapshot_unix: i64,
    pub assets: Vec<AssetTruth>,
    /// Visible user and shared albums (what a reader should list).
    pub albums: Vec<AlbumTruth>,
    /// Albums in the trash: in the database, never listed.
    #[serde(default)]
    pub trashed_albums: Vec<AlbumTruth>,
    pub folders: Vec<FolderTruth>,
    /// Media-relative paths whose reads fail (originals not on the phone, placeholder shape).
    pub placeholders: Vec<String>,
    /// How originals not on the phone show: listed placeholders, or removed from DCIM.
    #[serde(default)]
    pub optimised: OptimisedShape,
    /// Assets given an odd shape (`LibraryOptions::odd`).
    #[serde(default)]
    pub odd_files: Vec<OddFileTruth>,
    pub counts: Counts,
}

impl LibraryTruth {
    pub fn asset(&self, uuid: &str) -> Option<&AssetTruth> {
        self.assets.iter().find(|a| a.uuid == uuid)
    }

    /// Every file the generator wrote under the media root, with its size (DCIM, Mutations,
    /// database files excluded).
    pub fn media_files(&self) -> Vec<&Resource> {
        self.assets
            .iter()
            .flat_map(|a| {
                let gone = self.optimised == OptimisedShape::Removed
                    && (a.icloud_only || a.original_missing);
                [
                    Some(&a.original).filter(|_| !gone),
                    a.live_video.as_ref().filter(|_| !gone),
                    a.aae.as_ref(),
                    a.edited_render.as_ref(),
                    a.adjustments_plist.as_ref(),
                ]
            })
            .flatten()
            .collect()
    }
}
