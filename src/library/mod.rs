//! The phone's photo library: DCIM (and CPLAssets) listings grouped into assets, enriched from a
//! cached copy of Photos.sqlite.

pub(crate) mod albums;
pub(crate) mod asset;
mod db_albums;
mod db_assets;
pub mod db_fetch;
mod db_join;
pub(crate) mod db_meta;
pub(crate) mod db_people;
mod db_records;
mod db_rows;
mod db_schema;
pub(crate) mod error;
pub mod inventory;
mod inventory_records;
pub(crate) mod originals;
pub mod photos_db;
pub mod scan;
pub mod thumbnails;

pub use asset::{Asset, AssetKind, Resource, ResourceRole};
pub use db_fetch::fetch_db;
pub use db_meta::{AssetMeta, MetaFields};
pub use error::LibraryError;
pub use inventory::{AlbumMembers, Inventory, InventoryCounts, InventoryOptions, inventory};
pub use photos_db::LibraryDb;
pub use scan::{Scan, ScanOptions, scan, scan_dcim};
