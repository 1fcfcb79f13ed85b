//! The small thumbnail a phone keeps of every item, at
//! `PhotoData/Thumbnails/V2/<original path>/5005.JPG` (photo-library.md; iLEAPP reads the same
//! layout). It stays when "Optimize iPhone Storage" removes the original, so a report can show
//! which photo an item is even when its original is not on the phone.

use super::error::{GenerateError, io_err};
use super::files::write_bytes;
use super::optimised::thumbnail_path;
use super::truth::{LibraryTruth, Resource};
use super::{fill::Filler, jpeg};
use std::path::Path;

/// A colour per asset, spread around the hue circle, so thumbnails tell items apart.
pub(crate) fn thumbnail_rgb(z_pk: i64) -> [u8; 3] {
    // Golden-ratio steps of hue: neighbours differ clearly.
    let hue = (z_pk as f64 * 0.618_034).fract() * 6.0;
    let x = 1.0 - (hue % 2.0 - 1.0).abs();
    let (r, g, b) = match hue as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    let level = |v: f64| (60.0 + v * 170.0) as u8;
    [level(r), level(g), level(b)]
}

/// Writes the thumbnail of every asset (still, Live Photo, video alike).
pub(crate) fn write_all(root: &Path, truth: &LibraryTruth) -> Result<(), GenerateError> {
    for a in &truth.assets {
        let mut thumb = Vec::new();
        jpeg::write(
            &mut thumb,
            None,
            thumbnail_rgb(a.z_pk),
            None,
            &Filler::new(a.z_pk as u64),
        )
        .map_err(io_err(root))?;
        let mut res = Resource {
            path: thumbnail_path(&a.original.path),
            size: 0,
            mtime_unix: a.original.mtime_unix,
        };
        write_bytes(root, &mut res, &thumb)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::library::options::LibraryOptions;
    use crate::mock::library::plan::plan;
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::SeedableRng;
    use std::collections::HashSet;

    #[test]
    fn every_asset_has_a_jpeg_thumbnail_in_the_phone_layout() {
        let dir = tempfile::tempdir().unwrap();
        let opts = LibraryOptions::demo();
        let (truth, _) = plan(&mut ChaCha8Rng::seed_from_u64(opts.seed), &opts);
        write_all(dir.path(), &truth).unwrap();
        for a in &truth.assets {
            let path = dir.path().join(format!(
                "PhotoData/Thumbnails/V2/{}/5005.JPG",
                a.original.path
            ));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            assert!(bytes.starts_with(&[0xFF, 0xD8, 0xFF]), "{path:?}");
            assert!(bytes.len() < 4096, "small: {} bytes", bytes.len());
        }
    }

    #[test]
    fn thumbnail_colours_tell_items_apart() {
        let colours: HashSet<[u8; 3]> = (1..=40).map(thumbnail_rgb).collect();
        assert_eq!(colours.len(), 40);
    }
}
