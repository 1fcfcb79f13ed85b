//! Importing from the phone: the building blocks of `pull`, independent of the AFC transport.
//!
//! - [`names`]: validation of names and paths that come from the (untrusted) phone.
//! - [`layout`]: `--layout` templates, rendered per resource into paths that stay inside DEST.
//! - [`dates`]: capture date of a written file (EXIF, QuickTime, then caller fallbacks).
//! - [`ledger`]: what was imported from which device (SQLite under DEST/.iphone-import).
//! - [`safe_write`]: atomic, resumable, hashing writes into DEST.
//! - [`lock`]: one run per DEST at a time.
//! - [`filters`]: the pull filters as a pure predicate.

pub mod dates;
pub mod filters;
pub mod layout;
pub mod ledger;
pub mod lock;
pub mod names;
pub mod safe_write;
