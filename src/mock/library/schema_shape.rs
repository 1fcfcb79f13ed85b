//! Which iOS version's `Photos.sqlite` layout the generator writes (photo-library.md §6.1):
//! `SchemaShape` with the table, column and Core Data entity names that differ between versions,
//! and the entity ids that do not. A leaf: the database writers (`photos_db`, `db_asset_rows`,
//! `people`) and `LibraryOptions` use it; it uses none of them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Z_METADATA PLModelVersion of the default shape; osxphotos saw 5001 on an iPhone 14 running
/// iOS 17 (§6.1).
const MODEL_VERSION: i64 = 5001;
/// Core Data entity ids (Z_ENT) that do not change between shapes here.
pub(super) const ENT_ADDITIONAL: i64 = 1;
pub(super) const ENT_CLOUD_MASTER: i64 = 13;
pub(super) const ENT_RESOURCE: i64 = 55;
/// Entities of the decoy relations (suggestions, memories). `Z_12ASSETS` sorts before every
/// real join table name, so "the first table named like `Z_<n>ASSETS`" is the wrong one.
pub(super) const ENT_SUGGESTION: i64 = 12;
pub(super) const ENT_MEMORY: i64 = 57;

/// Which iOS version's Photos.sqlite layout to write (photo-library.md §6.1), oldest first.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum SchemaShape {
    /// ZGENERICASSET; Z_26ASSETS (Z_26ALBUMS, Z_34ASSETS).
    Ios13,
    /// ZASSET; Z_26ASSETS (Z_26ALBUMS, Z_3ASSETS).
    Ios14,
    /// Z_27ASSETS.
    Ios15,
    /// Z_28ASSETS; ZBUNDLESCOPE appears (Shared Library).
    Ios16,
    /// iOS 17.0–17.5: Z_28ASSETS. What the demo and every other test use.
    #[default]
    Ios17,
    /// iOS 17.6+: Z_29ASSETS.
    Ios17_6,
    /// Z_30ASSETS.
    Ios18,
    /// Z_33ASSETS.
    Ios26,
}

impl SchemaShape {
    pub const ALL: [SchemaShape; 8] = [
        SchemaShape::Ios13,
        SchemaShape::Ios14,
        SchemaShape::Ios15,
        SchemaShape::Ios16,
        SchemaShape::Ios17,
        SchemaShape::Ios17_6,
        SchemaShape::Ios18,
        SchemaShape::Ios26,
    ];

    /// The `--schema` spelling: `ios13` … `ios17.6` … `ios26`.
    pub fn name(self) -> &'static str {
        match self {
            SchemaShape::Ios13 => "ios13",
            SchemaShape::Ios14 => "ios14",
            SchemaShape::Ios15 => "ios15",
            SchemaShape::Ios16 => "ios16",
            SchemaShape::Ios17 => "ios17",
            SchemaShape::Ios17_6 => "ios17.6",
            SchemaShape::Ios18 => "ios18",
            SchemaShape::Ios26 => "ios26",
        }
    }

    /// The iOS version the simulated phone reports with this shape.
    pub fn ios_version(self) -> &'static str {
        match self {
            SchemaShape::Ios13 => "13.7",
            SchemaShape::Ios14 => "14.8.1",
            SchemaShape::Ios15 => "15.8.3",
            SchemaShape::Ios16 => "16.7.10",
            SchemaShape::Ios17 => "17.5.1",
            SchemaShape::Ios17_6 => "17.6.1",
            SchemaShape::Ios18 => "18.3.2",
            SchemaShape::Ios26 => "26.1",
        }
    }

    /// Z_METADATA PLModelVersion. Only 5001 (iOS 17) is an observed iPhone value (§6.1); the
    /// others are made up, distinct and ordered, so a reader can show but never rely on them.
    pub fn model_version(self) -> i64 {
        match self {
            SchemaShape::Ios13 => 13_400,
            SchemaShape::Ios14 => 14_300,
            SchemaShape::Ios15 => 15_330,
            SchemaShape::Ios16 => 4_001,
            SchemaShape::Ios17 => MODEL_VERSION,
            SchemaShape::Ios17_6 => 5_101,
            SchemaShape::Ios18 => 6_001,
            SchemaShape::Ios26 => 8_001,
        }
    }

    pub fn asset_table(self) -> &'static str {
        match self {
            SchemaShape::Ios13 => "ZGENERICASSET",
            _ => "ZASSET",
        }
    }

    /// Core Data entity of assets: the `m` of the join's `Z_<m>ASSETS` column.
    pub(crate) fn asset_entity(self) -> i64 {
        match self {
            SchemaShape::Ios13 => 34,
            _ => 3,
        }
    }

    /// Core Data entity of albums: the `n` of `Z_<n>ASSETS` / `Z_<n>ALBUMS` (§6.1).
    pub fn album_entity(self) -> i64 {
        match self {
            SchemaShape::Ios13 | SchemaShape::Ios14 => 26,
            SchemaShape::Ios15 => 27,
            SchemaShape::Ios16 | SchemaShape::Ios17 => 28,
            SchemaShape::Ios17_6 => 29,
            SchemaShape::Ios18 => 30,
            SchemaShape::Ios26 => 33,
        }
    }

    /// The album join table and its (album, asset) columns.
    pub fn join(self) -> (String, String, String) {
        let n = self.album_entity();
        (
            format!("Z_{n}ASSETS"),
            format!("Z_{n}ALBUMS"),
            format!("Z_{}ASSETS", self.asset_entity()),
        )
    }

    /// The `k` of the keyword join's `Z_<k>KEYWORDS` column: it moves between versions
    /// (stand-in numbers, distinct per album entity, so the reader must find it by shape).
    pub(crate) fn keyword_entity(self) -> i64 {
        self.album_entity() + 10
    }

    /// ZBUNDLESCOPE (Shared Library scope) exists from iOS 16 on.
    pub(super) fn has_bundle_scope(self) -> bool {
        self >= SchemaShape::Ios16
    }

    /// iOS 18 dropped ZASSET.ZHASADJUSTMENTS (an edit is ZADJUSTMENTSSTATE > 0 there) and
    /// replaced ZMASTERFINGERPRINT with ZORIGINALSTABLEHASH / ZADJUSTEDSTABLEHASH, and fills
    /// ZINTERNALRESOURCE.ZSTABLEHASH instead of ZFINGERPRINT.
    pub(super) fn has_stable_hashes(self) -> bool {
        self >= SchemaShape::Ios18
    }

    /// Columns only newer shapes carry (stand-ins for later additions the reader must ignore).
    pub(super) fn newer_asset_columns(self) -> &'static str {
        match self {
            SchemaShape::Ios13 | SchemaShape::Ios14 | SchemaShape::Ios15 => "",
            SchemaShape::Ios16 | SchemaShape::Ios17 | SchemaShape::Ios17_6 => {
                ", ZACTIVELIBRARYSCOPEPARTICIPATIONSTATE INTEGER"
            }
            SchemaShape::Ios18 | SchemaShape::Ios26 => {
                ", ZACTIVELIBRARYSCOPEPARTICIPATIONSTATE INTEGER, ZSPATIALTYPE INTEGER"
            }
        }
    }
}

impl fmt::Display for SchemaShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SchemaShape {
    type Err = String;

    /// `ios17.6`, `17.6`, `ios17_6`, `iOS18` …
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('_', ".");
        let norm = norm.strip_prefix("ios").unwrap_or(&norm);
        SchemaShape::ALL
            .into_iter()
            .find(|shape| &shape.name()[3..] == norm)
            .ok_or_else(|| {
                let names: Vec<&str> = SchemaShape::ALL.iter().map(|s| s.name()).collect();
                format!("unknown schema {s:?}; choose one of {}", names.join(", "))
            })
    }
}
