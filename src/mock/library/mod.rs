//! The simulated iPhone's photo library: a `/var/mobile/Media`-shaped tree (DCIM originals,
//! Live Photo pairs, AAE sidecars, edits under `PhotoData/Mutations`, a WAL-mode
//! `PhotoData/Photos.sqlite`) plus the known answers (`.iphone-mock/truth.json`).
//!
//! Everything derives from `LibraryOptions::seed`: the same options give a byte-identical tree,
//! file mtimes included. The AFC server serves the tree and hides `.iphone-mock/`; reads of the
//! paths listed in `.iphone-mock/placeholders` (iCloud-only originals) must fail.
//!
//! This file is the generator's flow (`generate`) over its parts; what the parts share is in
//! leaves that import none of them (`options`, `error`, `files`, `schema_shape`), re-exported here.

mod aae;
mod bmff;
pub(crate) mod cli;
mod db_asset_rows;
mod describe;
mod error;
mod exif;
mod files;
mod fill;
mod heic;
mod jpeg;
mod mock_files;
mod mov;
mod odd_files;
pub mod optimised;
mod options;
mod people;
mod photos_db;
mod plan;
mod schema_shape;
mod screenshot;
pub(crate) mod thumbnails;
mod time;
pub(crate) mod truth;

pub use error::GenerateError;
pub use mock_files::{is_mock_internal, read_placeholders, read_truth};
pub(crate) use options::{DEVICE_MODEL, MAX_FOLDERS, TRUTH_FILE};
pub use options::{LibraryOptions, MAX_ASSETS, OddFiles, OptimisedShape, PHOTOS_DB};
pub use schema_shape::SchemaShape;
pub use truth::{
    AlbumTruth, AssetKind, AssetTruth, CaptureTime, CloudState, Counts, EmbeddedDate, FaceTruth,
    FileFormat, FolderTruth, LibraryTruth, MetaTruth, OddFileTruth, OddKind, Resource,
};

use error::io_err;
use files::{create, finish, write_bytes};
use fill::Filler;
use mock_files::{set_dir_mtimes, write_mock_files};
use plan::{Recipe, Shape, plan};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use std::fs;
use std::path::Path;

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
