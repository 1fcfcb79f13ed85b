//! `verify`: is every photo in two places? Three checks, each usable alone:
//!
//! - [`check_archive`]: every ledger row's file under DEST is there with its size, and with
//!   `checksums` its bytes still hash to the ledger's BLAKE3. The ledger is streamed (one row
//!   in memory at a time) and files are hashed on all cores; memory stays flat however large
//!   the archive. Needs no phone.
//! - [`check_phone`]: every file `pull` would import by default (Recently Deleted and edited
//!   renders left out) that the ledger does not list for this phone is *at risk*: it exists
//!   only on the phone. Originals only in iCloud are reported apart (they cannot be copied).
//! - [`super::repair`]: damaged or missing archive files are copied again from the phone,
//!   through the same atomic writer as `pull`, only when the phone's file is unchanged since the
//!   import and its bytes hash to the ledger's BLAKE3. The damaged file is kept under
//!   `DEST/.iphone-import/damaged/<run time>/`, never silently deleted.
//!
//! Problems are streamed to a [`VerifyObserver`] as they are found; reports hold only counts.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use serde::Serialize;

use super::internal_error::InternalError;
use super::layout::RelPath;
use super::ledger::{Entry, Ledger, LedgerError, ledger_path};
use super::lock::LockError;
use super::names;
use super::safe_write::SafeWriteError;
use crate::afc::AfcError;
use crate::library::{Asset, ResourceRole};

/// Where `--repair` keeps the files it replaced: `DEST/.iphone-import/damaged/<run time>/`.
pub(crate) const DAMAGED_DIR: &str = "damaged";
/// Read size while hashing archived files.
const HASH_BUF: usize = 1 << 20;

/// What is wrong with one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The archived file is gone.
    Missing,
    /// The archived file has another size than when it was imported.
    SizeChanged,
    /// The archived file's bytes no longer hash to the ledger's BLAKE3.
    HashMismatch,
    /// The archived file cannot be read, or is not a regular file.
    Unreadable,
    /// The ledger row names no valid path under DEST (a hand-edited or corrupt ledger).
    BadLedgerPath,
    /// `--deep`: the archived bytes differ from the phone's (unchanged since import) file.
    DiffersFromPhone,
    /// On the phone, not in the archive: it exists in one place only.
    AtRisk,
    /// On the phone, not in the archive, and not copyable: the original is only in iCloud.
    IcloudOnly,
    /// Not in the archive and not copyable: the original is on neither the phone nor iCloud.
    OriginalMissing,
}

impl ProblemKind {
    #[cfg(test)]
    /// Damage to the archive (as opposed to something not yet archived).
    pub(crate) fn is_damage(self) -> bool {
        !matches!(
            self,
            ProblemKind::AtRisk | ProblemKind::IcloudOnly | ProblemKind::OriginalMissing
        )
    }

    /// Short lower-case label for the human report.
    pub(crate) fn label(self) -> &'static str {
        match self {
            ProblemKind::Missing => "missing",
            ProblemKind::SizeChanged => "size changed",
            ProblemKind::HashMismatch => "content changed",
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::BadLedgerPath => "bad ledger row",
            ProblemKind::DiffersFromPhone => "differs from the phone",
            ProblemKind::AtRisk => "only on the phone",
            ProblemKind::IcloudOnly => "only in iCloud",
            ProblemKind::OriginalMissing => "original missing",
        }
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The phone it came from (or is on).
    pub udid: String,
    /// Media-root-relative path on the phone.
    pub device_path: String,
    /// DEST-relative path of the archived copy (`None` for items not archived).
    pub dest_path: Option<String>,
    /// What exactly (sizes, the I/O error…).
    pub detail: String,
}

/// What the archive check found (counts only; the problems went to the observer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ArchiveReport {
    /// Ledger rows checked, and the bytes they record.
    pub files: u64,
    pub bytes: u64,
    /// Files found intact (size, and with checksums the hash).
    pub ok: u64,
    /// Whether contents were hashed, and how much.
    pub checksums: bool,
    pub files_hashed: u64,
    pub bytes_hashed: u64,
    pub missing: u64,
    pub size_changed: u64,
    pub hash_mismatch: u64,
    pub unreadable: u64,
    pub bad_ledger_path: u64,
    /// `--deep`: files whose bytes differ from the phone's.
    pub differs_from_phone: u64,
}

impl ArchiveReport {
    /// Archive files that are missing or not what was imported.
    pub fn damaged(&self) -> u64 {
        self.missing
            + self.size_changed
            + self.hash_mismatch
            + self.unreadable
            + self.bad_ledger_path
            + self.differs_from_phone
    }

    pub(super) fn count(&mut self, kind: ProblemKind) {
        match kind {
            ProblemKind::Missing => self.missing += 1,
            ProblemKind::SizeChanged => self.size_changed += 1,
            ProblemKind::HashMismatch => self.hash_mismatch += 1,
            ProblemKind::Unreadable => self.unreadable += 1,
            ProblemKind::BadLedgerPath => self.bad_ledger_path += 1,
            ProblemKind::DiffersFromPhone => self.differs_from_phone += 1,
            ProblemKind::AtRisk | ProblemKind::IcloudOnly | ProblemKind::OriginalMissing => {}
        }
    }
}

/// What the phone check found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PhoneReport {
    pub udid: String,
    /// Assets on the phone, and those `pull` would import by default (not Recently Deleted).
    pub assets: u64,
    pub assets_selected: u64,
    /// Files of the selected assets, and how many of them the ledger lists.
    pub files: u64,
    pub archived: u64,
    /// Files only on the phone that `pull` can copy.
    pub at_risk: u64,
    /// Files of assets whose original is only in iCloud: not copyable, not in the archive.
    pub icloud_only: u64,
    /// Files of assets whose original is on neither the phone nor iCloud: not copyable.
    pub original_missing: u64,
    /// The same two as items (assets): a phone that deleted an optimised original from DCIM
    /// lists fewer of its files than one that keeps a placeholder, but the items agree.
    pub icloud_only_items: u64,
    pub original_missing_items: u64,
}

/// What `repair` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RepairReport {
    pub repaired: u64,
    pub not_repaired: u64,
    /// Where the replaced (damaged) files were kept, DEST-relative; `None` if none were.
    pub kept_in: Option<String>,
}

/// One repair's outcome, streamed to the observer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepairOutcome {
    pub device_path: String,
    pub dest_path: String,
    pub repaired: bool,
    /// Why not (when not repaired).
    pub reason: Option<String>,
    /// DEST-relative path the damaged file was moved to, if there was one.
    pub kept_as: Option<String>,
}

/// A damaged archive file of the connected phone, kept for [`super::repair`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    pub entry: Entry,
    pub kind: ProblemKind,
}

/// Receives problems and progress; called from hashing threads too.
pub trait VerifyObserver: Send + Sync {
    fn problem(&self, problem: &Problem);
    /// `n` more bytes of archived files were hashed.
    fn hashed(&self, _n: u64) {}
    fn repaired(&self, _outcome: &RepairOutcome) {}
}

/// Failures that stop `verify` (problems with single files are [`Problem`]s instead).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "{dest} has no import ledger ({ledger} is missing), so there is nothing to verify; run `iphone-import pull {dest}` first, or check the folder name"
    )]
    NoLedger { dest: PathBuf, ledger: PathBuf },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Dest(#[from] SafeWriteError),
    #[error(
        "lost the phone while repairing {path}: {source}; files repaired so far are kept, reconnect and run `verify --repair` again"
    )]
    Disconnected { path: String, source: AfcError },
    #[error(
        "lost the phone while comparing {path} with it: {source}; reconnect and run `verify --deep` again (it starts over)"
    )]
    LostPhone { path: String, source: AfcError },
    #[error("internal error: {0}")]
    Internal(#[from] InternalError),
}

pub(super) fn internal(e: impl Into<InternalError>) -> VerifyError {
    VerifyError::Internal(e.into())
}

/// Opens DEST's ledger for checking, read-only ([`Ledger::open_read_only`]: nothing under DEST
/// is created or changed, read-only media work). Unlike [`Ledger::open`] it refuses a DEST
/// without one (verifying a folder that was never imported into is a mistake worth saying).
pub fn open_ledger(dest: &Path) -> Result<Ledger, VerifyError> {
    require_ledger(dest)?;
    Ok(Ledger::open_read_only(dest)?)
}

/// Opens DEST's ledger for `--repair`, read-write (migrating an older schema). Call it only
/// while holding the DEST lock.
pub(crate) fn open_ledger_for_repair(dest: &Path) -> Result<Ledger, VerifyError> {
    require_ledger(dest)?;
    Ok(Ledger::open(dest)?)
}

/// Fails with [`VerifyError::NoLedger`] when DEST has no ledger (before anything is created).
pub(crate) fn require_ledger(dest: &Path) -> Result<(), VerifyError> {
    let path = ledger_path(dest);
    if !path.is_file() {
        return Err(VerifyError::NoLedger {
            dest: dest.to_path_buf(),
            ledger: path,
        });
    }
    Ok(())
}

/// How [`check_archive`] runs.
#[derive(Debug, Clone, Default)]
pub struct ArchiveOptions {
    /// Re-hash every file against the ledger's BLAKE3 (else: presence and size only).
    pub checksums: bool,
    /// Hashing threads; 0 = one per core.
    pub threads: usize,
    /// Keep the damaged entries of this phone (for [`super::repair`]); others are only reported.
    pub collect_for: Option<String>,
}

pub(super) fn problem(entry: &Entry, kind: ProblemKind, detail: String) -> Problem {
    Problem {
        kind,
        udid: entry.udid.clone(),
        device_path: entry.device_path.clone(),
        dest_path: Some(entry.dest_path.clone()),
        detail,
    }
}

/// Result of checking one file.
enum FileCheck {
    Ok,
    /// Size is right; contents still to hash.
    NeedsHash(PathBuf),
    Bad(ProblemKind, String),
}

/// Presence and size (cheap: one `lstat`).
fn check_file(dest: &Path, entry: &Entry, checksums: bool) -> FileCheck {
    let rel = match RelPath::parse(&entry.dest_path) {
        Ok(r) => r,
        Err(e) => {
            return FileCheck::Bad(ProblemKind::BadLedgerPath, format!("ledger path: {e}"));
        }
    };
    let full = rel.under(dest);
    match std::fs::symlink_metadata(&full) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            FileCheck::Bad(ProblemKind::Missing, "the file is gone".into())
        }
        Err(e) => FileCheck::Bad(ProblemKind::Unreadable, e.to_string()),
        Ok(meta) if !meta.is_file() => FileCheck::Bad(
            ProblemKind::Unreadable,
            "not a regular file any more".into(),
        ),
        Ok(meta) if meta.len() != entry.size => FileCheck::Bad(
            ProblemKind::SizeChanged,
            format!("{} bytes, {} were imported", meta.len(), entry.size),
        ),
        Ok(_) if checksums => FileCheck::NeedsHash(full),
        Ok(_) => FileCheck::Ok,
    }
}

/// BLAKE3 of a file, reporting progress as it goes.
pub(super) fn hash_file(
    path: &Path,
    observer: &dyn VerifyObserver,
) -> std::io::Result<blake3::Hash> {
    let mut file = File::open(path)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; HASH_BUF];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        observer.hashed(n as u64);
    }
    Ok(hasher.finalize())
}

/// State shared by the walker and the hashing threads.
struct Tally<'a> {
    report: Mutex<ArchiveReport>,
    damaged: Mutex<Vec<Damaged>>,
    collect_for: Option<&'a str>,
    observer: &'a dyn VerifyObserver,
}

impl Tally<'_> {
    fn bad(&self, entry: Entry, kind: ProblemKind, detail: String) {
        self.observer.problem(&problem(&entry, kind, detail));
        if let Ok(mut r) = self.report.lock() {
            r.count(kind);
        }
        if self.collect_for == Some(entry.udid.as_str())
            && let Ok(mut d) = self.damaged.lock()
        {
            d.push(Damaged { entry, kind });
        }
    }

    fn ok(&self) {
        if let Ok(mut r) = self.report.lock() {
            r.ok += 1;
        }
    }

    fn hashed(&self, bytes: u64) {
        if let Ok(mut r) = self.report.lock() {
            r.files_hashed += 1;
            r.bytes_hashed += bytes;
        }
    }
}

/// Checks every file the ledger lists (all phones). Blocking: run it on a blocking thread.
/// Returns the counts and, for `options.collect_for`, the damaged entries.
pub fn check_archive(
    dest: &Path,
    ledger: &Ledger,
    options: &ArchiveOptions,
    observer: &dyn VerifyObserver,
) -> Result<(ArchiveReport, Vec<Damaged>), VerifyError> {
    let threads = if options.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        options.threads
    };
    let tally = Tally {
        report: Mutex::new(ArchiveReport {
            checksums: options.checksums,
            ..ArchiveReport::default()
        }),
        damaged: Mutex::new(Vec::new()),
        collect_for: options.collect_for.as_deref(),
        observer,
    };
    let mut files = 0u64;
    let mut bytes = 0u64;
    std::thread::scope(|scope| -> Result<(), VerifyError> {
        // Bounded queue: the walker never runs far ahead of the hashers (flat memory).
        let (tx, rx) = mpsc::sync_channel::<(Entry, PathBuf)>(threads * 4);
        let rx = Arc::new(Mutex::new(rx));
        if options.checksums {
            for _ in 0..threads {
                let rx = rx.clone();
                let tally = &tally;
                scope.spawn(move || {
                    loop {
                        let next = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok((entry, full)) = next else { return };
                        match hash_file(&full, tally.observer) {
                            Ok(h) if h.as_bytes() == &entry.blake3 => {
                                tally.hashed(entry.size);
                                tally.ok();
                            }
                            Ok(_) => {
                                tally.hashed(entry.size);
                                tally.bad(
                                    entry,
                                    ProblemKind::HashMismatch,
                                    "the bytes differ from what was imported (BLAKE3 mismatch)"
                                        .into(),
                                );
                            }
                            Err(e) => tally.bad(entry, ProblemKind::Unreadable, e.to_string()),
                        }
                    }
                });
            }
        }
        let walked = ledger.for_each(None, |entry| -> Result<(), VerifyError> {
            files += 1;
            bytes = bytes.saturating_add(entry.size);
            match check_file(dest, &entry, options.checksums) {
                FileCheck::Ok => tally.ok(),
                FileCheck::Bad(kind, detail) => tally.bad(entry, kind, detail),
                FileCheck::NeedsHash(full) => tx
                    .send((entry, full))
                    .map_err(|_| internal(InternalError::HashersStopped))?,
            }
            Ok(())
        });
        // Closing the queue lets the hashers finish; the scope joins them.
        drop(tx);
        walked
    })?;
    let mut report = tally.report.into_inner().map_err(internal)?;
    report.files = files;
    report.bytes = bytes;
    let damaged = tally.damaged.into_inner().map_err(internal)?;
    Ok((report, damaged))
}

/// Compares the phone's inventory with the ledger: what `pull` would import by default
/// (everything but Recently Deleted; no edited renders) and the ledger does not list for
/// `udid` is at risk, except the files of assets whose original is only in iCloud (reported
/// as [`ProblemKind::IcloudOnly`]: nothing to copy until the phone downloads it). Unsafe names (which `pull` skips) are at risk too: they are only on the
/// phone.
pub fn check_phone(
    ledger: &Ledger,
    udid: &str,
    assets: &[Asset],
    observer: &dyn VerifyObserver,
) -> Result<PhoneReport, VerifyError> {
    let mut report = PhoneReport {
        udid: udid.to_string(),
        assets: assets.len() as u64,
        ..PhoneReport::default()
    };
    let mut known: HashMap<String, HashSet<String>> = HashMap::new();
    for asset in assets {
        if asset.trashed {
            continue;
        }
        report.assets_selected += 1;
        let mut not_copyable = false;
        for res in &asset.resources {
            if res.role == ResourceRole::EditedRender {
                continue;
            }
            report.files += 1;
            let path = res
                .device_path
                .strip_prefix('/')
                .unwrap_or(&res.device_path);
            let (folder, name) = path.rsplit_once('/').unwrap_or(("", path));
            let names_there = match known.get(folder) {
                Some(set) => set,
                None => {
                    let set = ledger.known_paths(udid, folder)?;
                    known.entry(folder.to_string()).or_insert(set)
                }
            };
            if names_there.contains(name) {
                report.archived += 1;
                continue;
            }
            // An iCloud-only asset's companions wait for their original (pull copies them
            // together), so none of its files is copyable yet.
            not_copyable |= asset.original_missing || asset.icloud_only;
            let (kind, detail) = if asset.original_missing {
                report.original_missing += 1;
                (
                    ProblemKind::OriginalMissing,
                    crate::import::pull::ORIGINAL_MISSING_REASON.to_string(),
                )
            } else if asset.icloud_only {
                report.icloud_only += 1;
                (
                    ProblemKind::IcloudOnly,
                    "the original is only in iCloud; on the phone turn on Settings › Photos › Download and Keep Originals, then run pull".to_string(),
                )
            } else {
                report.at_risk += 1;
                let detail = match names::validate_device_path(&res.device_path) {
                    Ok(_) => "not in the archive; run pull".to_string(),
                    Err(e) => format!(
                        "not in the archive, and pull skips it (unsafe name: {e}); copy it another way"
                    ),
                };
                (ProblemKind::AtRisk, detail)
            };
            observer.problem(&Problem {
                kind,
                udid: udid.to_string(),
                device_path: res.device_path.clone(),
                dest_path: None,
                detail,
            });
        }
        if not_copyable {
            report.icloud_only_items += asset.icloud_only as u64;
            report.original_missing_items += asset.original_missing as u64;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::safe_write::{Destination, SourceKey};

    #[test]
    fn damage_kinds() {
        assert!(ProblemKind::Missing.is_damage());
        assert!(ProblemKind::HashMismatch.is_damage());
        assert!(!ProblemKind::AtRisk.is_damage());
        assert!(!ProblemKind::IcloudOnly.is_damage());
        let mut r = ArchiveReport::default();
        r.count(ProblemKind::Missing);
        r.count(ProblemKind::SizeChanged);
        r.count(ProblemKind::AtRisk);
        assert_eq!(r.damaged(), 2);
    }

    #[test]
    fn replace_puts_the_good_file_in_place_and_keeps_the_old_one_aside() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("2025")).unwrap();
        std::fs::write(root.join("2025/a.jpg"), b"damaged").unwrap();
        let dest = Destination::open(root).unwrap();
        let stage = |body: &[u8]| {
            let mut p = dest
                .begin(&SourceKey {
                    udid: "u",
                    device_path: "DCIM/a.jpg",
                    copy: "",
                    size: body.len() as u64,
                    mtime_ns: 1,
                })
                .unwrap();
            p.write_all(body).unwrap();
            p.finish().unwrap()
        };
        let rel = RelPath::parse("2025/a.jpg").unwrap();
        let aside = root.join(".iphone-import/damaged/run/2025/a.jpg");
        let c = stage(b"good").replace(&rel, None, &aside).unwrap();
        assert_eq!(c.rel, rel);
        assert_eq!(std::fs::read(root.join("2025/a.jpg")).unwrap(), b"good");
        assert_eq!(std::fs::read(&aside).unwrap(), b"damaged");
        // A second replace never overwrites what was kept aside.
        assert!(stage(b"again").replace(&rel, None, &aside).is_err());
        assert_eq!(std::fs::read(&aside).unwrap(), b"damaged");
        assert_eq!(std::fs::read(root.join("2025/a.jpg")).unwrap(), b"good");
    }
}
