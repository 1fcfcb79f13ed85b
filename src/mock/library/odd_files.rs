//! Odd files real phones hold, each an opt-in shape of the generator (`LibraryOptions::odd`,
//! `--odd-files`) recorded in `truth.json` (`odd_files`), photo-library.md §2, §10:
//!
//! - `heic-jpeg`: a `.HEIC` original whose bytes are a JPEG (libheif #111).
//! - `mov-wide-first`: Live Photo and video MOVs that start with `wide` + `mdat`, `ftyp` after
//!   (metadata-extractor-dotnet #426).
//! - `imprt`: SD-card / camera-adapter imports in `DCIM/100IMPRT` (`DSC_NNNN.JPG`), beside the
//!   `NNNAPPLE` folders (libimobiledevice #698).
//! - `img-wrap`: IMG numbers that wrapped after 9999: a still and a Live Photo whose names repeat
//!   an earlier asset's, in a new `NNNAPPLE` folder, taken in the same month (so they meet in
//!   date layouts too).
//! - `full-size-render`: AirDropped Live Photos kept as `FullSizeRender.heic` +
//!   `FullSizeRender.mov`, two of them in different folders.
//! - `cpl-assets`: originals synced from another device, `PhotoData/CPLAssets/groupNNN/<UUID>.<ext>`
//!   (ZDIRECTORY/ZFILENAME say so), not under DCIM.
//!
//! Applied after the plan, to assets without other special cases (not iCloud-only or missing, hidden,
//! trashed or edited), so every ordinary shape keeps its draws. The option (`OddFiles`) is in
//! `options`, what an asset was given (`OddKind`, `OddFileTruth`) in `truth`.

use super::jpeg;
use super::options::OddFiles;
use super::plan::{Recipe, Shape, capture};
use super::truth::{AssetTruth, FileFormat, LibraryTruth, OddFileTruth, OddKind, Resource};

/// Assets still free for an odd shape, in library order.
struct Pool(Vec<usize>);

impl Pool {
    fn take(&mut self, pred: impl Fn(usize) -> bool) -> Option<usize> {
        let k = self.0.iter().position(|&i| pred(i))?;
        Some(self.0.remove(k))
    }
}

fn ext_of(name: &str) -> &str {
    name.rsplit_once('.').map_or("", |(_, e)| e)
}

/// Moves an asset's original (and Live Photo video) to `dir/stem.ext` (`.MOV` for the video).
fn rename(a: &mut AssetTruth, dir: &str, stem: &str, ext: &str, video_ext: &str) {
    a.directory = dir.to_owned();
    a.filename = format!("{stem}.{ext}");
    a.original.path = format!("{dir}/{}", a.filename);
    if let Some(v) = a.live_video.as_mut() {
        v.path = format!("{dir}/{stem}.{video_ext}");
    }
}

/// Re-times `b` one minute after `a`, in `a`'s zone, so both land in one date folder.
fn retime_after(assets: &mut [AssetTruth], a: usize, b: usize) {
    let (zone, offset, unix) = {
        let c = &assets[a].capture;
        (c.time_zone.clone(), c.offset_secs, c.unix + 60)
    };
    // Keep the later day when a's minute is the last of its month: move back instead.
    let unix = if super::time::iso_local(unix, offset)[..7]
        == super::time::iso_local(unix - 60, offset)[..7]
    {
        unix
    } else {
        unix - 120
    };
    let x = &mut assets[b];
    x.capture = capture(unix, (&zone, offset));
    let set = |r: &mut Resource| r.mtime_unix = unix;
    set(&mut x.original);
    if let Some(v) = x.live_video.as_mut() {
        set(v);
    }
}

fn shape(recipes: &[Recipe], s: Shape) -> impl Fn(usize) -> bool + '_ {
    move |i| recipes[i].shape == s
}

/// The assets with no special case of their own (on the phone, visible, unedited): the ones
/// odd shapes are given to.
fn plain_assets(assets: &[AssetTruth]) -> Pool {
    Pool(
        (0..assets.len())
            .filter(|&i| {
                let a = &assets[i];
                !(a.icloud_only
                    || a.original_missing
                    || a.hidden
                    || a.trashed
                    || a.edited
                    || a.aae.is_some())
            })
            .collect(),
    )
}

/// Gives some assets odd shapes; returns what it did (for `truth.odd_files`).
pub(super) fn apply(
    odd: &OddFiles,
    truth: &mut LibraryTruth,
    recipes: &mut [Recipe],
    last_folder: usize,
) -> Vec<OddFileTruth> {
    let assets = &mut truth.assets;
    let mut pool = plain_assets(assets);
    let mut out = Vec::new();
    let mut note = |kind, a: &AssetTruth, same: Option<&AssetTruth>| {
        out.push(OddFileTruth {
            kind,
            uuid: a.uuid.clone(),
            path: a.original.path.clone(),
            same_name_as: same.map(|s| s.uuid.clone()),
        })
    };
    // A folder after the last camera folder, for names that repeat earlier ones.
    let new_folder = format!("DCIM/{}APPLE", last_folder + 1);
    let room = last_folder < 999;

    if odd.full_size_render
        && room
        && let Some(first) = pool.take(shape(recipes, Shape::HeicLive))
        && let Some(second) = pool.take(shape(recipes, Shape::HeicLive))
    {
        let dir = assets[first].directory.clone();
        rename(&mut assets[first], &dir, "FullSizeRender", "heic", "mov");
        note(OddKind::FullSizeRender, &assets[first], None);
        // The second in the new folder (two files cannot share one folder and name).
        rename(
            &mut assets[second],
            &new_folder,
            "FullSizeRender",
            "heic",
            "mov",
        );
        retime_after(assets, first, second);
        let (a, b) = (&assets[second], &assets[first]);
        note(OddKind::FullSizeRender, a, Some(b));
    }
    if odd.cpl_assets {
        for s in [Shape::HeicLive, Shape::Mov] {
            if let Some(i) = pool.take(shape(recipes, s)) {
                let a = &mut assets[i];
                let dir = format!("PhotoData/CPLAssets/group{}", a.z_pk);
                let (uuid, ext) = (a.uuid.clone(), ext_of(&a.filename).to_owned());
                rename(a, &dir, &uuid, &ext, "MOV");
                note(OddKind::CplAssets, a, None);
            }
        }
    }
    if odd.imprt {
        for s in [Shape::JpegStill, Shape::HeicStill] {
            if let Some(i) = pool.take(shape(recipes, s)) {
                let a = &mut assets[i];
                let (stem, ext) = (format!("DSC_{:04}", a.number), ext_of(&a.filename));
                let ext = ext.to_owned();
                rename(a, "DCIM/100IMPRT", &stem, &ext, "MOV");
                note(OddKind::Imprt, a, None);
            }
        }
    }
    if odd.img_wrap && room {
        for s in [Shape::HeicStill, Shape::HeicLive] {
            let Some(first) = pool.take(shape(recipes, s)) else {
                continue;
            };
            let Some(second) = pool.take(shape(recipes, s)) else {
                continue;
            };
            let (number, name) = (assets[first].number, assets[first].filename.clone());
            let (stem, ext) = name.rsplit_once('.').unwrap_or((&name, ""));
            let b = &mut assets[second];
            b.number = number;
            rename(b, &new_folder, stem, ext, "MOV");
            retime_after(assets, first, second);
            note(OddKind::ImgWrap, &assets[second], Some(&assets[first]));
        }
    }
    if odd.heic_jpeg
        && let Some(i) = pool.take(shape(recipes, Shape::HeicStill))
    {
        recipes[i].shape = Shape::JpegStill;
        let a = &mut assets[i];
        a.format = FileFormat::Jpeg;
        (a.width, a.height) = (jpeg::WIDTH, jpeg::HEIGHT);
        note(OddKind::HeicJpeg, a, None);
    }
    if odd.mov_wide_first {
        for s in [Shape::HeicLive, Shape::Mov] {
            if let Some(i) = pool.take(shape(recipes, s)) {
                recipes[i].wide_first = true;
                note(OddKind::MovWideFirst, &assets[i], None);
            }
        }
    }
    out
}
