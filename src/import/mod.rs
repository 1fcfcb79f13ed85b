//! Importing from the phone: the building blocks of `pull`, independent of the AFC transport.
//!
//! - [`names`]: folder names for DEST made from phone values; the one check of the phone's own
//!   names and paths (`crate::untrusted::file_name`) is re-exported there.
//! - [`layout`]: `--layout` templates, rendered per resource into paths that stay inside DEST.
//! - [`dates`]: capture date of a written file (EXIF, QuickTime, then caller fallbacks).
//! - [`ledger`]: what was imported from which device (SQLite under DEST/.iphone-import).
//! - [`ledger_ro`]: how read-only commands open the ledger without writing anything.
//! - [`ledger_error`]: the ledger's error type, shared by both (a leaf).
//! - [`safe_write`]: atomic, resumable, hashing writes into DEST.
//! - [`write_error`], [`flush`]: the writer's errors, and making files and folders durable
//!   (one `syncfs` round where that is enough).
//! - [`batch_write`]: group commit, a batch of complete temps made durable and renamed together.
//! - [`resume`]: a resumed temp file's kept bytes are checked against the phone first.
//! - [`phone_copy`]: a phone file's bytes into a temp file through a bounded pipe, the one copy
//!   path of pull and `verify --repair`.
//! - [`internal_error`]: failures of the program itself (a panicked worker, a poisoned lock),
//!   typed so a panic's message reaches the user.
//! - [`lock`]: one run per DEST at a time.
//! - [`filters`]: the pull filters as a pure predicate.
//! - [`same_name`]: the copy order that makes same-named files from different folders land
//!   under the same names on every run.
//! - [`verify`]: is every imported file intact, and is everything on the phone imported.
//! - [`deep`]: `verify --deep`, archived bytes compared with the phone's.
//! - [`repair`]: `verify --repair`, damaged files copied again from the phone and checked.
//! - [`xmp`], [`sidecars`]: `pull --xmp` sidecars with what Photos knows (title, keywords…).
//! - [`jpeg_copies`], [`libheif`]: `pull --also-jpeg` copies of HEIC originals (libheif loaded
//!   at run time).
//! - [`backup_figures`]: the figures of `iphone-import status` (library, iCloud, Recently
//!   Deleted, DEST).
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
//!    `resume_offset()` with `phone_copy::phone_to_temp` (`complete()`: durable later, with
//!    its group) → `dates::capture_date_of(
//!    staged.temp_path(), &fallbacks)` → `layout.render(&ResourceVars { date: date.day(), .. })`
//!    → the staged file joins its worker's group.
//! 4. Per group (64 files or 64 MiB, and before a worker stops), [`batch_write`]: one flush
//!    round for the temps, the final paths claimed and noted as pending in the ledger, renames
//!    without replacing, one flush round for the folders, then `ledger.record_many` in one
//!    transaction. A crash in between is adopted on the next run ([`adopt`]).
//! 5. After a complete run: `dest.remove_temps()`.

pub(crate) mod adopt;
pub mod backup_figures;
pub(crate) mod batch_write;
pub mod dates;
pub mod deep;
pub mod filters;
pub(crate) mod flush;
pub(crate) mod internal_error;
pub(crate) mod jpeg_copies;
pub mod layout;
pub mod ledger;
pub(crate) mod ledger_error;
pub(crate) mod ledger_ro;
pub(crate) mod libheif;
pub mod lock;
pub(crate) mod names;
pub(crate) mod phone_copy;
pub mod pull;
pub mod repair;
pub(crate) mod resume;
pub mod safe_write;
pub(crate) mod same_name;
pub mod sidecars;
pub(crate) mod temp_index;
pub mod verify;
pub(crate) mod write_error;
pub mod xmp;
