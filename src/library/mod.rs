//! The phone's photo library: DCIM (and CPLAssets) listings grouped into assets, enriched from a
//! cached copy of Photos.sqlite.

pub mod asset;

pub use asset::{Asset, AssetKind, Resource, ResourceRole};
