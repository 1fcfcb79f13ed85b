//! The simulated iPhone's photo library: a `/var/mobile/Media`-shaped tree (DCIM originals,
//! Live Photo pairs, AAE sidecars, edits under `PhotoData/Mutations`, a WAL-mode
//! `PhotoData/Photos.sqlite`) plus the known answers (`.iphone-mock/truth.json`).
//!
//! Everything derives from `LibraryOptions::seed`: the same options give a byte-identical tree,
//! file mtimes included. The AFC server serves the tree and hides `.iphone-mock/`; reads of the
//! paths listed in `.iphone-mock/placeholders` (iCloud-only originals) must fail.

mod aae;
mod bmff;
pub mod cli;
mod describe;
mod exif;
mod fill;
mod heic;
mod jpeg;
mod mock_files;
mod mov;
mod odd_files;
pub mod optimised;
mod people;
mod photos_db;
mod screenshot;
pub mod thumbnails;
mod time;
pub mod truth;

use describe::describe;
pub use mock_files::{is_mock_internal, read_placeholders, read_truth};
use mock_files::{set_dir_mtimes, write_mock_files};
pub use odd_files::{ODD_NAMES, OddFileTruth, OddFiles, OddKind};
pub use optimised::OptimisedShape;
pub use photos_db::SchemaShape;
pub use truth::{
    AlbumTruth, AssetKind, AssetTruth, CaptureTime, CloudState, Counts, EmbeddedDate, FaceTruth,
    FileFormat, FolderTruth, LibraryTruth, MetaTruth, Resource,
};

use fill::Filler;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Directory (relative to the media root) with the mock's own files; the AFC server hides it.
pub const MOCK_DIR: &str = ".iphone-mock";
/// One media-relative path per line: originals "not on the phone"; reads of them must fail.
pub const PLACEHOLDERS_FILE: &str = ".iphone-mock/placeholders";
/// `LibraryTruth` as JSON.
pub const TRUTH_FILE: &str = ".iphone-mock/truth.json";
/// The library database (with `-wal` beside it).
pub const PHOTOS_DB: &str = "PhotoData/Photos.sqlite";
pub const DEVICE_MODEL: &str = "iPhone 15 Pro";
pub const IOS_VERSION: &str = "17.5.1";
/// IMG_NNNN has four digits: after IMG_9999 a phone starts again at IMG_0001 (in a new DCIM
/// folder, so paths stay unique).
pub const IMG_NUMBERS: usize = 9999;
/// Enough for the 100,000-asset benchmark library (docs/benchmarks.md).
pub const MAX_ASSETS: usize = 200_000;
/// DCIM folders are 100APPLE..999APPLE.
pub const MAX_FOLDERS: usize = 900;
/// Days Recently Deleted keeps an item (photo-library.md §8.2).
pub const TRASH_RETENTION_DAYS: i64 = 30;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryOptions {
    /// Photo assets (stills, Live Photos, screenshots); a Live Photo's `.MOV` is part of its photo.
    pub photos: usize,
    /// Video assets (MOV, MP4).
    pub videos: usize,
    pub seed: u64,
    /// Photos 1.5–5 MB, videos 20–200 MB (padded inside the containers, still valid).
    pub realistic_sizes: bool,
    /// IMG numbers per `NNNAPPLE` folder before rolling over to the next (1..=1000).
    pub items_per_folder: usize,
    /// Which iOS version's Photos.sqlite layout to write (default iOS 17.0–17.5).
    pub schema: SchemaShape,
    /// How originals that are not on the phone show in DCIM.
    pub optimised: OptimisedShape,
    /// Odd files real phones hold (see `odd_files`); none by default.
    pub odd: OddFiles,
}

impl Default for LibraryOptions {
    fn default() -> Self {
        LibraryOptions {
            photos: 100,
            videos: 10,
            seed: 1,
            realistic_sizes: false,
            items_per_folder: 1000,
            schema: SchemaShape::default(),
            optimised: OptimisedShape::default(),
            odd: OddFiles::default(),
        }
    }
}

impl LibraryOptions {
    /// The `--demo` library: 40 photos, 6 videos, two DCIM folders, every special case.
    pub fn demo() -> Self {
        LibraryOptions {
            photos: 40,
            videos: 6,
            seed: 2025,
            realistic_sizes: false,
            items_per_folder: 25,
            schema: SchemaShape::default(),
            optimised: OptimisedShape::default(),
            odd: OddFiles::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(
        "{requested} assets requested but the generator makes at most {max}; ask for fewer photos/videos"
    )]
    TooManyAssets { requested: usize, max: usize },
    #[error("items per folder must be between 1 and 1000, got {0}")]
    BadFolderSize(usize),
    #[error(
        "{requested} assets at {per_folder} per folder need more than 900 folders (100APPLE..999APPLE); raise --items-per-folder"
    )]
    TooManyFolders { requested: usize, per_folder: usize },
    #[error("{} is not empty; generate into a new or empty directory", .dir.display())]
    NotEmpty { dir: PathBuf },
    #[error("cannot write {}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "SQLite kept {} in journal mode {mode:?} instead of WAL; generate on a local filesystem",
        .path.display()
    )]
    NotWal { path: PathBuf, mode: String },
    #[error("building Photos.sqlite failed: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("encoding a plist failed: {0}")]
    Plist(#[from] plist::Error),
    #[error("encoding truth.json failed: {0}")]
    Json(#[from] serde_json::Error),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> GenerateError + '_ {
    move |source| GenerateError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Time zones the simulated owner travels through (summer offsets; one has a half hour).
const ZONES: [(&str, i32); 7] = [
    ("Europe/Berlin", 7200),
    ("Atlantic/Reykjavik", 0),
    ("Europe/Lisbon", 3600),
    ("America/New_York", -14_400),
    ("Asia/Tokyo", 32_400),
    ("Asia/Kolkata", 19_800),
    ("America/Los_Angeles", -25_200),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    HeicStill,
    HeicLive,
    JpegStill,
    JpegLive,
    Screenshot,
    Mov,
    Mp4,
}

/// Per-asset inputs of the file writers that are not part of the truth.
struct Recipe {
    shape: Shape,
    rgb: [u8; 3],
    filler_seed: u64,
    subsec_millis: u32,
    original_target: Option<u64>,
    live_target: Option<u64>,
    render_target: Option<u64>,
    edited_unix: i64,
    with_aae: bool,
    /// MOVs written `wide` + `mdat` first (odd_files).
    wide_first: bool,
}

fn uuid_from(rng: &mut ChaCha8Rng) -> String {
    let bytes: [u8; 16] = rng.r#gen();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
        .to_uppercase()
}

fn capture(unix: i64, zone: (&str, i32)) -> CaptureTime {
    CaptureTime {
        unix,
        offset_secs: zone.1,
        offset: time::offset_colon(zone.1),
        local: time::iso_local(unix, zone.1),
        utc: time::iso_utc(unix),
        time_zone: zone.0.to_owned(),
    }
}

/// `n` scaled by `fraction`, but only for libraries big enough to have special cases.
fn share(n: usize, fraction: f64) -> usize {
    if n < 8 {
        0
    } else {
        ((n as f64 * fraction).ceil() as usize).max(1)
    }
}

/// Generates the library into `dir` (created if missing; must be empty) and returns its truth.
pub fn generate(dir: &Path, opts: &LibraryOptions) -> Result<LibraryTruth, GenerateError> {
    let total = opts.photos + opts.videos;
    if total > MAX_ASSETS {
        return Err(GenerateError::TooManyAssets {
            requested: total,
            max: MAX_ASSETS,
        });
    }
    if !(1..=1000).contains(&opts.items_per_folder) {
        return Err(GenerateError::BadFolderSize(opts.items_per_folder));
    }
    if total.div_ceil(opts.items_per_folder) > MAX_FOLDERS {
        return Err(GenerateError::TooManyFolders {
            requested: total,
            per_folder: opts.items_per_folder,
        });
    }
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    if fs::read_dir(dir).map_err(io_err(dir))?.next().is_some() {
        return Err(GenerateError::NotEmpty {
            dir: dir.to_owned(),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let (mut truth, mut recipes) = plan(&mut rng, opts);
    let last_folder = 100 + total.saturating_sub(1) / opts.items_per_folder;
    truth.odd_files = odd_files::apply(&opts.odd, &mut truth, &mut recipes, last_folder);
    write_files(dir, &mut truth, &recipes)?;
    thumbnails::write_all(dir, &truth)?;
    optimised::apply(dir, &mut truth, opts.optimised)?;
    truth.counts = count(&truth);
    photos_db::write(&dir.join(PHOTOS_DB), &truth, opts.seed, opts.schema)?;
    write_mock_files(dir, &truth)?;
    set_dir_mtimes(dir, truth.snapshot_unix)?;
    Ok(truth)
}

fn plan(rng: &mut ChaCha8Rng, opts: &LibraryOptions) -> (LibraryTruth, Vec<Recipe>) {
    let n = opts.photos + opts.videos;
    // Which slots are photos and which videos, in capture order.
    let mut photo_shapes: Vec<Shape> = (0..opts.photos)
        .map(|_| match rng.gen_range(0..100) {
            0..40 => Shape::HeicStill,
            40..65 => Shape::HeicLive,
            65..80 => Shape::JpegStill,
            80..85 => Shape::JpegLive,
            _ => Shape::Screenshot,
        })
        .collect();
    // Guarantee one of each photo shape when there is room.
    if opts.photos >= 5 {
        let mut idx: Vec<usize> = (0..opts.photos).collect();
        idx.shuffle(rng);
        for (i, s) in idx.iter().zip([
            Shape::HeicLive,
            Shape::Screenshot,
            Shape::JpegStill,
            Shape::HeicStill,
            Shape::JpegLive,
        ]) {
            photo_shapes[*i] = s;
        }
    }
    let mut video_shapes: Vec<Shape> = (0..opts.videos)
        .map(|_| {
            if rng.gen_bool(0.75) {
                Shape::Mov
            } else {
                Shape::Mp4
            }
        })
        .collect();
    if opts.videos >= 2 {
        video_shapes[0] = Shape::Mov;
        video_shapes[1] = Shape::Mp4;
    }
    let mut shapes: Vec<Shape> = photo_shapes.into_iter().chain(video_shapes).collect();
    shapes.shuffle(rng);

    let mut t = 1_709_251_200 + rng.gen_range(0..300 * 86_400i64); // from 2024-03-01
    let mut zone = ZONES[0];
    let mut assets = Vec::with_capacity(n);
    let mut recipes = Vec::with_capacity(n);
    // Target file size in bytes, between `lo` and `hi` megabytes (decimal, like the brief).
    let mb = |rng: &mut ChaCha8Rng, lo: f64, hi: f64| {
        Some(rng.gen_range((lo * 1e6) as u64..=(hi * 1e6) as u64))
    };
    // Big libraries are shot more densely, so that 100,000 assets span years, not centuries.
    let max_step = if n > IMG_NUMBERS { 3600 } else { 2 * 86_400 };
    for (i, shape) in shapes.iter().copied().enumerate() {
        t += rng.gen_range(45..max_step);
        if rng.gen_bool(0.12) {
            zone = ZONES[rng.gen_range(0..ZONES.len())];
        }
        let number = (i % IMG_NUMBERS) as u32 + 1;
        let directory = format!("DCIM/{}APPLE", 100 + i / opts.items_per_folder);
        let (kind, format, ext) = match shape {
            Shape::HeicStill => (AssetKind::Photo, FileFormat::Heic, "HEIC"),
            Shape::HeicLive => (AssetKind::LivePhoto, FileFormat::Heic, "HEIC"),
            Shape::JpegStill => (AssetKind::Photo, FileFormat::Jpeg, "JPG"),
            Shape::JpegLive => (AssetKind::LivePhoto, FileFormat::Jpeg, "JPG"),
            Shape::Screenshot => (AssetKind::Screenshot, FileFormat::Png, "PNG"),
            Shape::Mov => (AssetKind::Video, FileFormat::Mov, "MOV"),
            Shape::Mp4 => (AssetKind::Video, FileFormat::Mp4, "MP4"),
        };
        let filename = format!("IMG_{number:04}.{ext}");
        let resource = |path: String| Resource {
            path,
            size: 0,
            mtime_unix: t,
        };
        let live = kind == AssetKind::LivePhoto;
        let (width, height) = match format {
            FileFormat::Heic => (heic::WIDTH, heic::HEIGHT),
            FileFormat::Jpeg => (jpeg::WIDTH, jpeg::HEIGHT),
            FileFormat::Png => (screenshot::WIDTH, screenshot::HEIGHT),
            FileFormat::Mov | FileFormat::Mp4 => (mov::WIDTH, mov::HEIGHT),
        };
        let uuid = uuid_from(rng);
        let content_identifier = live.then(|| uuid_from(rng));
        let is_video = kind == AssetKind::Video;
        let realistic = opts.realistic_sizes;
        let recipe = Recipe {
            shape,
            rgb: rng.r#gen(),
            filler_seed: rng.r#gen(),
            subsec_millis: rng.gen_range(0..1000),
            original_target: match (realistic, is_video) {
                (false, _) => None,
                (true, false) => mb(rng, 1.5, 5.0),
                (true, true) => mb(rng, 20.0, 200.0),
            },
            live_target: if realistic && live {
                mb(rng, 2.0, 4.0)
            } else {
                None
            },
            render_target: if realistic { mb(rng, 2.0, 5.0) } else { None },
            edited_unix: t + rng.gen_range(600..3 * 86_400),
            with_aae: false,
            wide_first: false,
        };
        assets.push(AssetTruth {
            uuid,
            z_pk: i as i64 + 1,
            number,
            kind,
            format,
            original: resource(format!("{directory}/{filename}")),
            live_video: live.then(|| resource(format!("{directory}/IMG_{number:04}.MOV"))),
            aae: None,
            edited_render: None,
            adjustments_plist: None,
            capture: capture(t, zone),
            embedded_date: match format {
                FileFormat::Heic | FileFormat::Jpeg => EmbeddedDate::ExifWithOffset,
                FileFormat::Png => EmbeddedDate::None,
                FileFormat::Mov => EmbeddedDate::QuickTimeWithOffset,
                FileFormat::Mp4 => EmbeddedDate::QuickTimeUtcOnly,
            },
            content_identifier,
            width,
            height,
            duration_ms: is_video.then(|| rng.gen_range(2_000..60_000)),
            hidden: false,
            favorite: false,
            trashed: false,
            trashed_unix: None,
            purge_unix: None,
            icloud_only: false,
            original_missing: false,
            edited: false,
            cloud_state: CloudState::Synced,
            albums: Vec::new(),
            in_wal_only: false,
            meta: MetaTruth::default(),
            directory,
            filename,
        });
        recipes.push(recipe);
    }
    let snapshot = t + 3600;

    // Special cases on distinct assets: iCloud-only, hidden, trashed, pending upload.
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let mut next = order.iter().copied();
    for i in next.by_ref().take(share(n, 0.10)) {
        assets[i].icloud_only = true;
    }
    for i in next.by_ref().take(share(n, 0.06)) {
        assets[i].hidden = true;
    }
    for i in next.by_ref().take(share(n, 0.06)) {
        let a = &mut assets[i];
        a.trashed = true;
        let when = (snapshot - rng.gen_range(86_400..10 * 86_400)).max(a.capture.unix + 60);
        a.trashed_unix = Some(when);
        a.purge_unix = Some(when + TRASH_RETENTION_DAYS * 86_400);
    }
    for i in next.by_ref().take(share(n, 0.06)) {
        assets[i].cloud_state = CloudState::PendingUpload;
    }
    // Lost originals: not on the phone and never uploaded, so not in iCloud either.
    for i in next.by_ref().take(share(n, 0.02)) {
        assets[i].original_missing = true;
        assets[i].cloud_state = CloudState::PendingUpload;
    }
    order.shuffle(rng);
    for &i in order.iter().take(share(n, 0.10)) {
        assets[i].favorite = true;
    }
    for (i, a) in assets.iter_mut().enumerate() {
        a.meta = MetaTruth {
            people: people::faces(a),
            ..describe(i, a.number)
        };
    }
    // Edits: HEIC/JPEG originals that are on the phone; every other one also gets an AAE.
    let mut editable: Vec<usize> = (0..n)
        .filter(|&i| {
            matches!(assets[i].format, FileFormat::Heic | FileFormat::Jpeg)
                && !assets[i].icloud_only
                && !assets[i].original_missing
        })
        .collect();
    editable.shuffle(rng);
    for (k, &i) in editable.iter().take(share(n, 0.10)).enumerate() {
        let a = &mut assets[i];
        a.edited = true;
        let edited_unix = recipes[i].edited_unix.min(snapshot - 60);
        recipes[i].edited_unix = edited_unix;
        let ext = if a.format == FileFormat::Heic {
            "heic"
        } else {
            "jpg"
        };
        let adj = format!(
            "PhotoData/Mutations/{}/IMG_{:04}/Adjustments",
            a.directory, a.number
        );
        let res = |path| Resource {
            path,
            size: 0,
            mtime_unix: edited_unix,
        };
        a.edited_render = Some(res(format!("{adj}/FullSizeRender.{ext}")));
        a.adjustments_plist = Some(res(format!("{adj}/Adjustments.plist")));
        if k % 2 == 0 {
            recipes[i].with_aae = true;
            a.aae = Some(res(format!("{}/IMG_{:04}.AAE", a.directory, a.number)));
        }
    }
    // The newest rows were written after the last checkpoint: they live only in the WAL.
    let wal_only = if n >= 2 { (n / 15).clamp(1, 5) } else { 0 };
    for a in assets.iter_mut().skip(n - wal_only) {
        a.in_wal_only = true;
    }

    let (folders, albums, trashed_albums) = plan_albums(rng, &mut assets);
    let placeholders = assets
        .iter()
        .filter(|a| a.icloud_only || a.original_missing)
        .flat_map(|a| {
            std::iter::once(a.original.path.clone())
                .chain(a.live_video.as_ref().map(|r| r.path.clone()))
        })
        .collect();
    let shape = opts.schema;
    let (join_table, join_album_column, join_asset_column) = shape.join();
    let truth = LibraryTruth {
        seed: opts.seed,
        device_model: DEVICE_MODEL.into(),
        ios_version: shape.ios_version().into(),
        model_version: shape.model_version(),
        schema: shape.name().into(),
        asset_table: shape.asset_table().into(),
        join_table,
        join_album_column,
        join_asset_column,
        snapshot_unix: snapshot,
        assets,
        albums,
        trashed_albums,
        folders,
        placeholders,
        optimised: OptimisedShape::default(),
        odd_files: Vec::new(),
        counts: Counts::default(),
    };
    (truth, recipes)
}

/// One album to plan: title, ZKIND, enclosing folders, WAL-only, trashed, member choice.
struct AlbumSpec {
    title: &'static str,
    kind: i64,
    folders: &'static [&'static str],
    in_wal_only: bool,
    trashed: bool,
    members: Members,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Members {
    /// 1..=8 random assets from before the last checkpoint.
    Some,
    /// The WAL-only assets plus one older asset.
    Newest,
    /// Random ones plus one iCloud-only asset (for per-album "not on the phone" counts).
    WithICloudOnly,
    None,
}

/// A root folder, a "Trips" folder holding a folder "Asia", albums at every level (one only in
/// the WAL), a shared album, and the names that trip readers up: unicode, a title with a slash,
/// the same title in two folders, two albums with the same path, an empty album and an album
/// in the trash. Returns (folders, visible albums, trashed albums).
fn plan_albums(
    rng: &mut ChaCha8Rng,
    assets: &mut [AssetTruth],
) -> (Vec<FolderTruth>, Vec<AlbumTruth>, Vec<AlbumTruth>) {
    let folder = |rng: &mut ChaCha8Rng, title: &str, kind, path: &str| FolderTruth {
        uuid: uuid_from(rng),
        title: title.into(),
        kind,
        path: path.into(),
    };
    let root = folder(rng, "", 3999, "");
    let trips = folder(rng, "Trips", 4000, "Trips");
    fn spec(
        title: &'static str,
        kind: i64,
        folders: &'static [&'static str],
        in_wal_only: bool,
        members: Members,
    ) -> AlbumSpec {
        AlbumSpec {
            title,
            kind,
            folders,
            in_wal_only,
            trashed: false,
            members,
        }
    }
    // The first five are the original fixture; their order keeps their random draws stable.
    let mut specs = vec![
        spec("Iceland 2025", 2, &["Trips"], false, Members::Some),
        spec("Lisbon 2024", 2, &["Trips"], false, Members::Some),
        spec("Family", 2, &[], false, Members::Some),
        spec("Shared with Grandma", 1505, &[], false, Members::Some),
        spec("Picked later", 2, &[], true, Members::Newest),
    ];
    let n = assets.len();
    let wal_assets: Vec<usize> = (0..n).filter(|&i| assets[i].in_wal_only).collect();
    let older = n - wal_assets.len();
    let mut albums = Vec::new();
    let mut trashed_albums = Vec::new();
    let mut folders = vec![root, trips];
    let mut plan_one = |rng: &mut ChaCha8Rng, s: &AlbumSpec, assets: &mut [AssetTruth]| {
        let uuid = uuid_from(rng);
        let mut members: Vec<usize> = match s.members {
            Members::Newest => {
                let mut m = wal_assets.clone();
                if older > 0 {
                    m.push(rng.gen_range(0..older));
                }
                m
            }
            Members::Some | Members::WithICloudOnly if older > 0 => {
                let k = rng.gen_range(1..=older.min(8));
                rand::seq::index::sample(rng, older, k).into_vec()
            }
            _ => Vec::new(),
        };
        if s.members == Members::WithICloudOnly
            && let Some(i) = (0..older).find(|&i| assets[i].icloud_only)
            && !members.contains(&i)
        {
            members.push(i);
        }
        let path = s
            .folders
            .iter()
            .copied()
            .chain(std::iter::once(s.title))
            .collect::<Vec<_>>()
            .join("/");
        // Two albums with one path share no member, so an asset's album paths stay distinct.
        members.retain(|&i| {
            !albums
                .iter()
                .any(|al: &AlbumTruth| al.path == path && al.asset_uuids.contains(&assets[i].uuid))
        });
        members.sort_unstable();
        // Trashed albums are not listed anywhere, so their members do not name them.
        if !s.trashed {
            for &i in &members {
                assets[i].albums.push(uuid.clone());
            }
        }
        let album = AlbumTruth {
            uuid,
            title: s.title.into(),
            kind: s.kind,
            path,
            asset_uuids: members.iter().map(|&i| assets[i].uuid.clone()).collect(),
            in_wal_only: s.in_wal_only,
            folders: s.folders.iter().map(|f| f.to_string()).collect(),
            shared: s.kind == 1505,
            asset_count: members.len(),
            not_on_phone: members.iter().filter(|&&i| assets[i].icloud_only).count(),
        };
        if s.trashed {
            trashed_albums.push(album);
        } else {
            albums.push(album);
        }
    };
    for s in &specs {
        plan_one(rng, s, assets);
    }
    // Additions after the original draws, so the original albums keep their members.
    folders.push(folder(rng, "Asia", 4000, "Trips/Asia"));
    specs = vec![
        spec("Ísland 🌋", 2, &[], false, Members::WithICloudOnly),
        spec("東京", 2, &["Trips", "Asia"], false, Members::Some),
        spec("AC/DC", 2, &[], false, Members::Some),
        spec("Family", 2, &["Trips"], false, Members::Some),
        spec("Pets", 2, &[], false, Members::Some),
        spec("Pets", 2, &[], false, Members::Some),
        spec("Empty album", 2, &[], false, Members::None),
        AlbumSpec {
            trashed: true,
            ..spec("Old screenshots", 2, &[], false, Members::Some)
        },
    ];
    for s in &specs {
        plan_one(rng, s, assets);
    }
    (folders, albums, trashed_albums)
}

fn system_time(unix: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64)
}

/// Opens `root/rel` for buffered writing, creating parent directories.
fn create(root: &Path, rel: &str) -> Result<(PathBuf, BufWriter<File>), GenerateError> {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let file = File::create(&path).map_err(io_err(&path))?;
    Ok((path, BufWriter::with_capacity(256 * 1024, file)))
}

/// Flushes, sets the mtime and records the final size into `res`.
fn finish(path: &Path, w: BufWriter<File>, res: &mut Resource) -> Result<(), GenerateError> {
    let file = w.into_inner().map_err(|e| io_err(path)(e.into_error()))?;
    file.set_modified(system_time(res.mtime_unix))
        .map_err(io_err(path))?;
    res.size = file.metadata().map_err(io_err(path))?.len();
    Ok(())
}

fn write_bytes(root: &Path, res: &mut Resource, bytes: &[u8]) -> Result<(), GenerateError> {
    let (path, mut w) = create(root, &res.path)?;
    w.write_all(bytes).map_err(io_err(&path))?;
    finish(&path, w, res)
}

fn write_files(
    root: &Path,
    truth: &mut LibraryTruth,
    recipes: &[Recipe],
) -> Result<(), GenerateError> {
    let ios_version = truth.ios_version.clone();
    for (a, r) in truth.assets.iter_mut().zip(recipes) {
        let filler = Filler::new(r.filler_seed);
        let exif_tiff = exif::tiff(&exif::ExifFields {
            model: DEVICE_MODEL,
            software: &ios_version,
            unix: a.capture.unix,
            offset_secs: a.capture.offset_secs,
            subsec_millis: r.subsec_millis,
            width: a.width,
            height: a.height,
            content_identifier: a.content_identifier.as_deref(),
        });
        let movie = |flavor, content_identifier, duration_ms| mov::MovieFields {
            flavor,
            unix: a.capture.unix,
            offset_secs: a.capture.offset_secs,
            duration_ms,
            model: DEVICE_MODEL,
            software: &ios_version,
            content_identifier,
            rgb: r.rgb,
            wide_first: r.wide_first,
        };
        let (path, mut w) = create(root, &a.original.path)?;
        let written = match r.shape {
            Shape::HeicStill | Shape::HeicLive => {
                heic::write(&mut w, &exif_tiff, r.rgb[0], r.original_target, &filler).map(drop)
            }
            Shape::JpegStill | Shape::JpegLive => {
                jpeg::write(&mut w, Some(&exif_tiff), r.rgb, r.original_target, &filler).map(drop)
            }
            Shape::Screenshot => screenshot::write(&mut w, r.rgb, r.original_target, &filler),
            Shape::Mov | Shape::Mp4 => {
                let flavor = if r.shape == Shape::Mov {
                    mov::Flavor::Mov
                } else {
                    mov::Flavor::Mp4
                };
                let f = movie(flavor, None, a.duration_ms.unwrap_or(1000));
                mov::write(&mut w, &f, r.original_target, &filler).map(drop)
            }
        };
        written.map_err(io_err(&path))?;
        finish(&path, w, &mut a.original)?;

        if let Some(res) = a.live_video.as_mut() {
            let f = movie(mov::Flavor::Mov, a.content_identifier.as_deref(), 2_800);
            let (path, mut w) = create(root, &res.path)?;
            mov::write(&mut w, &f, r.live_target, &filler).map_err(io_err(&path))?;
            finish(&path, w, res)?;
        }
        if let Some(res) = a.edited_render.as_mut() {
            // The render looks different (inverted colour) but keeps the capture metadata.
            let rgb = r.rgb.map(|c| 255 - c);
            let (path, mut w) = create(root, &res.path)?;
            let written = if a.format == FileFormat::Heic {
                heic::write(&mut w, &exif_tiff, rgb[0], r.render_target, &filler).map(drop)
            } else {
                jpeg::write(&mut w, Some(&exif_tiff), rgb, r.render_target, &filler).map(drop)
            };
            written.map_err(io_err(&path))?;
            finish(&path, w, res)?;
        }
        if let Some(res) = a.adjustments_plist.as_mut() {
            write_bytes(root, res, &aae::adjustments_plist(r.edited_unix, "Vivid")?)?;
        }
        if let Some(res) = a.aae.as_mut().filter(|_| r.with_aae) {
            write_bytes(root, res, &aae::aae_xml(r.edited_unix, "Vivid")?)?;
        }
    }
    truth.counts = count(truth);
    Ok(())
}

fn count(t: &LibraryTruth) -> Counts {
    let a = &t.assets;
    let c = |f: &dyn Fn(&AssetTruth) -> bool| a.iter().filter(|x| f(x)).count();
    Counts {
        assets: a.len(),
        photos: c(&|x| x.kind != AssetKind::Video),
        live_photos: c(&|x| x.kind == AssetKind::LivePhoto),
        screenshots: c(&|x| x.kind == AssetKind::Screenshot),
        videos: c(&|x| x.kind == AssetKind::Video),
        hidden: c(&|x| x.hidden),
        trashed: c(&|x| x.trashed),
        icloud_only: c(&|x| x.icloud_only),
        original_missing: c(&|x| x.original_missing),
        edited: c(&|x| x.edited),
        favorites: c(&|x| x.favorite),
        pending_upload: c(&|x| x.cloud_state == CloudState::PendingUpload),
        in_wal_only: c(&|x| x.in_wal_only),
        user_albums: t.albums.iter().filter(|x| x.kind == 2).count(),
        shared_albums: t.albums.iter().filter(|x| x.kind == 1505).count(),
        trashed_albums: t.trashed_albums.len(),
        empty_albums: t.albums.iter().filter(|x| x.asset_uuids.is_empty()).count(),
        folders: t.folders.iter().filter(|f| f.kind == 4000).count(),
        dcim_files: a
            .iter()
            .map(|x| {
                let in_dcim = |r: &&Resource| r.path.starts_with("DCIM/");
                let gone =
                    t.optimised == OptimisedShape::Removed && (x.icloud_only || x.original_missing);
                let originals = [Some(&x.original), x.live_video.as_ref()];
                let kept = originals.into_iter().flatten().filter(in_dcim).count();
                (!gone as usize) * kept + x.aae.as_ref().filter(in_dcim).is_some() as usize
            })
            .sum(),
    }
}
