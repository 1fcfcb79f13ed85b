//! The simulated iPhone's photo library: a `/var/mobile/Media`-shaped tree (DCIM originals,
//! Live Photo pairs, AAE sidecars, edits under `PhotoData/Mutations`, a WAL-mode
//! `PhotoData/Photos.sqlite`) plus the known answers (`.iphone-mock/truth.json`).
//!
//! Everything derives from `LibraryOptions::seed`: the same options give a byte-identical tree,
//! file mtimes included. The AFC server serves the tree and hides `.iphone-mock/`; reads of the
//! paths listed in `.iphone-mock/placeholders` (iCloud-only originals) must fail.

mod aae;
mod bmff;
pub(crate) mod cli;
mod db_asset_rows;
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
mod plan;
mod screenshot;
pub(crate) mod thumbnails;
mod time;
pub(crate) mod truth;

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
use plan::{Recipe, Shape, capture, plan};
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
