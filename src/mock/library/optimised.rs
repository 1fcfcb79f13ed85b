//! How the simulated phone shows an original that is not on it ("Optimize iPhone Storage", or
//! lost). Real phones show two shapes: the original is deleted from DCIM while its thumbnails
//! stay under `PhotoData/Thumbnails` (the common one), or the file is still listed but reading
//! it fails (EIO). Photos.sqlite is the same in both.

use super::error::{GenerateError, io_err};
use super::truth::LibraryTruth;
use std::fs;

pub use super::options::OptimisedShape;

/// The thumbnail a phone keeps for `original` (`PhotoData/Thumbnails/V2/DCIM/100APPLE/IMG_0001.HEIC/5005.JPG`).
pub fn thumbnail_path(original: &str) -> String {
    format!("PhotoData/Thumbnails/V2/{original}/5005.JPG")
}

/// In the `Removed` shape: deletes the not-local originals (and Live Photo videos) written to
/// DCIM (their thumbnails stay, see `thumbnails`), and empties the placeholder list.
pub(crate) fn apply(
    root: &std::path::Path,
    truth: &mut LibraryTruth,
    shape: OptimisedShape,
) -> Result<(), GenerateError> {
    truth.optimised = shape;
    if shape != OptimisedShape::Removed {
        return Ok(());
    }
    for a in truth
        .assets
        .iter()
        .filter(|a| a.icloud_only || a.original_missing)
    {
        for res in std::iter::once(&a.original).chain(a.live_video.as_ref()) {
            let path = root.join(&res.path);
            fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    truth.placeholders.clear();
    Ok(())
}
