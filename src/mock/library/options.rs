//! What the generator is asked for: `LibraryOptions` and the option types it holds (how
//! originals not on the phone show, which odd files to add), with the fixed paths and limits
//! of the simulated library. A leaf below the generator's parts: it uses only `schema_shape`.

use super::schema_shape::SchemaShape;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Directory (relative to the media root) with the mock's own files; the AFC server hides it.
pub(crate) const MOCK_DIR: &str = ".iphone-mock";
/// One media-relative path per line: originals "not on the phone"; reads of them must fail.
pub(crate) const PLACEHOLDERS_FILE: &str = ".iphone-mock/placeholders";
/// `LibraryTruth` as JSON.
pub(crate) const TRUTH_FILE: &str = ".iphone-mock/truth.json";
/// The library database (with `-wal` beside it).
pub const PHOTOS_DB: &str = "PhotoData/Photos.sqlite";
pub(crate) const DEVICE_MODEL: &str = "iPhone 15 Pro";
/// IMG_NNNN has four digits: after IMG_9999 a phone starts again at IMG_0001 (in a new DCIM
/// folder, so paths stay unique).
pub(crate) const IMG_NUMBERS: usize = 9999;
/// Enough for the 100,000-asset benchmark library (docs/benchmarks.md).
pub const MAX_ASSETS: usize = 200_000;
/// DCIM folders are 100APPLE..999APPLE.
pub(crate) const MAX_FOLDERS: usize = 900;
/// Days Recently Deleted keeps an item (photo-library.md §8.2).
pub(crate) const TRASH_RETENTION_DAYS: i64 = 30;

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

/// How an original that is not on the phone shows (applied by `optimised`).
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

/// Which odd shapes to add (all off by default; applied by `odd_files`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OddFiles {
    pub heic_jpeg: bool,
    pub mov_wide_first: bool,
    pub imprt: bool,
    pub img_wrap: bool,
    pub full_size_render: bool,
    pub cpl_assets: bool,
}

/// The names `--odd-files` accepts, in the order of [`OddKind`](super::truth::OddKind).
pub(crate) const ODD_NAMES: [&str; 6] = [
    "heic-jpeg",
    "mov-wide-first",
    "imprt",
    "img-wrap",
    "full-size-render",
    "cpl-assets",
];

impl OddFiles {
    pub fn all() -> Self {
        OddFiles {
            heic_jpeg: true,
            mov_wide_first: true,
            imprt: true,
            img_wrap: true,
            full_size_render: true,
            cpl_assets: true,
        }
    }

    fn flag(&mut self, name: &str) -> Option<&mut bool> {
        Some(match name {
            "heic-jpeg" => &mut self.heic_jpeg,
            "mov-wide-first" => &mut self.mov_wide_first,
            "imprt" => &mut self.imprt,
            "img-wrap" => &mut self.img_wrap,
            "full-size-render" => &mut self.full_size_render,
            "cpl-assets" => &mut self.cpl_assets,
            _ => return None,
        })
    }
}

impl FromStr for OddFiles {
    type Err = String;

    /// A comma-separated list of [`ODD_NAMES`], or `all`.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut odd = OddFiles::default();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "all" {
                odd = OddFiles::all();
                continue;
            }
            match odd.flag(name) {
                Some(f) => *f = true,
                None => {
                    return Err(format!(
                        "unknown odd file shape {name:?}; choose from all, {}",
                        ODD_NAMES.join(", ")
                    ));
                }
            }
        }
        Ok(odd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_file_lists_parse_and_unknown_names_are_refused() {
        let odd: OddFiles = "imprt, img-wrap".parse().unwrap();
        assert_eq!(
            odd,
            OddFiles {
                imprt: true,
                img_wrap: true,
                ..OddFiles::default()
            }
        );
        assert_eq!("all".parse::<OddFiles>().unwrap(), OddFiles::all());
        assert_eq!("".parse::<OddFiles>().unwrap(), OddFiles::default());
        for name in ODD_NAMES {
            assert_ne!(name.parse::<OddFiles>().unwrap(), OddFiles::default());
        }
        let err = "imprt,sd-card".parse::<OddFiles>().unwrap_err();
        assert!(
            err.contains("\"sd-card\"") && err.contains("cpl-assets"),
            "{err}"
        );
    }
}
