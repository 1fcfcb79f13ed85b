//! Importing from the phone: the building blocks of `pull`, independent of the AFC transport.
//!
//! - [`names`]: validation of names and paths that come from the (untrusted) phone.
//! - [`layout`]: `--layout` templates, rendered per resource into paths that stay inside DEST.
//! - [`dates`]: capture date of a written file (EXIF, QuickTime, then caller fallbacks).
//! - [`ledger`]: what was imported from which device (SQLite under DEST/.iphone-import).
//! - [`ledger_ro`]: how read-only commands open the ledger without writing anything.
//! - [`safe_write`]: atomic, resumable, hashing writes into DEST.
//! - [`resume`]: a resumed temp file's kept bytes are checked against the phone first.
//! - [`lock`]: one run per DEST at a time.
//! - [`filters`]: the pull filters as a pure predicate.
//! - [`same_name`]: the copy order that makes same-named files from different folders land
//!   under the same names on every run.
//! - [`verify`]: is every imported file intact, and is everything on the phone imported.
//! - [`deep`]: `verify --deep`, archived bytes compared with the phone's.
//! - [`xmp`], [`sidecars`]: `pull --xmp` sidecars with what Photos knows (title, keywords…).
//! - [`status`]: the figures of `iphone-import status` (library, iCloud, Recently Deleted, DEST).
//!
//! How `pull` strings them together, per run and per resource:
//!
//! 1. `lock::DestLock::acquire(dest, cmdline)`, `safe_write::Destination::open(dest)`,
//!    `ledger::Ledger::open(dest)`, `layout::Layout::parse(template)`, `filters::Filters::from_args`.
//! 2. Per device folder: `names::validate_device_path` each resource (and `validate_name`
//!    its asset's stem); a resource whose name is in `ledger.known_paths(udid, folder)` (with
//!    `{album}`: whose copy is in `ledger.known_copies`) is done, by name alone: nothing is
//!    stat'ed or compared. The rest are stat'ed on the phone for their size and mtime.
//! 3. Per resource: `dest.begin_version(&SourceKey, birth)` → read the phone file from
//!    `resume_offset()` through `copy_from` → `finish()` → `dates::capture_date_of(
//!    staged.temp_path(), &fallbacks)` → `layout.render(&ResourceVars { date: date.day(), .. })`
//!    → `staged.commit(&rel, Some(date.system_time()), first_suffix)`; per asset,
//!    `ledger.record_many(&entries, device_name)` in one transaction.
//! 4. After a complete run: `dest.remove_temps()`.

pub mod batch_write;
pub mod dates;
pub mod deep;
pub mod filters;
pub mod layout;
pub mod ledger;
pub mod ledger_ro;
pub mod lock;
pub mod names;
pub mod pull;
pub mod resume;
pub mod safe_write;
pub mod same_name;
pub mod sidecars;
pub mod status;
pub mod verify;
pub mod xmp;
