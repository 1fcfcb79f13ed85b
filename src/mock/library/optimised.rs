//! How the simulated phone shows an original that is not on it ("Optimize iPhone Storage", or
//! lost). Real phones show two shapes: the original is deleted from DCIM while its thumbnails
//! stay under `PhotoData/Thumbnails` (the common one), or the file is still listed but reading
//! it fails (EIO). Photos.sqlite is the same in both.

use super::GenerateError;
use super::truth::LibraryTruth;
use serde::{Deserialize, Serialize};
use std::fs;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimisedShape {
    /// Listed and stat'ed like any file, but reads fail (`.iphone-mock/placeholders`).
    #[default]
    Placeholder,
    /// Not in DCIM at all; a thumbnail is left under `PhotoData/Thumbnails/V2`.
    Removed,
}

impl FromStr for OptimisedShape {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "placeholder" => Ok(OptimisedShape::Placeholder),
            "removed" => Ok(OptimisedShape::Removed),
            _ => Err(format!(
                "unknown shape {s:?} for originals not on the phone; choose placeholder or removed"
            )),
        }
    }
}

/// The thumbnail a phone keeps for `original` (`PhotoData/Thumbnails/V2/DCIM/100APPLE/IMG_0001.HEIC/5005.JPG`).
pub fn thumbnail_path(original: &str) -> String {
    format!("PhotoData/Thumbnails/V2/{original}/5005.JPG")
}

/// In the `Removed` shape: deletes the not-local originals (and Live Photo videos) written to
/// DCIM (their thumbnails stay, see `thumbnails`), and empties the placeholder list.
pub fn apply(
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
            fs::remove_file(&path).map_err(super::io_err(&path))?;
        }
    }
    truth.placeholders.clear();
    Ok(())
}
