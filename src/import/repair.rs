//! `verify --repair`: damaged archive files copied again from the phone. Per file the phone's
//! copy must match what was imported (size, mtime, then the ledger's BLAKE3) before it takes the
//! final path; the file it replaces is kept aside, never deleted.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use super::dates::{self, Fallbacks};
use super::internal_error::InternalError;
use super::layout::{RelPath, STATE_DIR};
use super::ledger::{Entry, Ledger};
use super::phone_copy::{Durability, PhoneFile, phone_to_temp};
use super::safe_write::{Destination, SafeWriteError, SourceKey, Staged};
use super::verify::{
    DAMAGED_DIR, Damaged, ProblemKind, RepairOutcome, RepairReport, VerifyError, VerifyObserver,
    internal,
};
use crate::afc::AfcClient;

fn now_label() -> String {
    chrono::Local::now().format("%Y%m%d-%H%M%S").to_string()
}

/// Copies `damaged` archive files again from the phone (the caller holds the DEST lock and
/// passes only entries of the phone `client` reaches). Per file: the phone's file must have
/// the size and mtime recorded at import; its bytes go through the atomic writer and must hash
/// to the ledger's BLAKE3; only then does the good copy take the final path. The file it
/// replaces is kept under `DEST/.iphone-import/damaged/<run time>/<dest path>`. The ledger is
/// changed only when a missing file had to take another name.
pub async fn repair(
    client: &AfcClient,
    dest: &Path,
    mut ledger: Ledger,
    damaged: Vec<Damaged>,
    observer: &dyn VerifyObserver,
) -> Result<RepairReport, VerifyError> {
    let mut report = RepairReport::default();
    if damaged.is_empty() {
        return Ok(report);
    }
    let destination = Destination::open(dest)?;
    let run_dir = format!("{STATE_DIR}/{DAMAGED_DIR}/{}", now_label());
    for Damaged { entry, kind } in damaged {
        let outcome = match repair_one(client, &destination, &entry, &run_dir).await? {
            Ok(Repaired { kept_as, moved_to }) => {
                // A missing file whose name was taken meanwhile got a suffix (or matched an
                // identical file already there): the ledger follows it.
                if let Some(new_path) = moved_to {
                    let key = entry.clone();
                    ledger = on_ledger(ledger, move |l| {
                        l.relocate(&key.udid, &key.device_path, &key.copy, &new_path)
                            .map(drop)
                    })
                    .await?;
                }
                Ok(kept_as)
            }
            Err(reason) => Err(reason),
        };
        match &outcome {
            Ok(kept_as) => {
                if kind == ProblemKind::DiffersFromPhone {
                    // `--deep` put the phone's hash in the entry: the ledger now records it.
                    let key = entry.clone();
                    ledger = on_ledger(ledger, move |l| {
                        l.set_blake3(&key.udid, &key.device_path, &key.copy, &key.blake3)
                            .map(drop)
                    })
                    .await?;
                }
                report.repaired += 1;
                if kept_as.is_some() {
                    report.kept_in = Some(run_dir.clone());
                }
            }
            Err(_) => report.not_repaired += 1,
        }
        let (kept_as, reason) = match outcome {
            Ok(k) => (k, None),
            Err(r) => (None, Some(r)),
        };
        observer.repaired(&RepairOutcome {
            device_path: entry.device_path.clone(),
            dest_path: entry.dest_path.clone(),
            repaired: reason.is_none(),
            reason,
            kept_as,
        });
    }
    Ok(report)
}

/// A repaired file: where the replaced copy was kept, and its new DEST path if it moved.
struct Repaired {
    kept_as: Option<String>,
    moved_to: Option<String>,
}

/// Runs `f` on the ledger off the async runtime (SQLite writes block) and hands the ledger back.
async fn on_ledger<E>(
    mut ledger: Ledger,
    f: impl FnOnce(&mut Ledger) -> Result<(), E> + Send + 'static,
) -> Result<Ledger, VerifyError>
where
    E: Into<VerifyError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || f(&mut ledger).map(|()| ledger))
        .await
        .map_err(internal)?
        .map_err(Into::into)
}

/// One file: `Ok(Ok(_))` repaired, `Ok(Err(reason))` not repaired, `Err` stops the run.
async fn repair_one(
    client: &AfcClient,
    destination: &Destination,
    entry: &Entry,
    run_dir: &str,
) -> Result<Result<Repaired, String>, VerifyError> {
    let rel = match RelPath::parse(&entry.dest_path) {
        Ok(r) => r,
        Err(e) => return Ok(Err(format!("the ledger's path is not valid: {e}"))),
    };
    let info = match client.stat(&entry.device_path).await {
        Ok(i) => i,
        Err(e) if e.is_fatal() => {
            return Err(VerifyError::Disconnected {
                path: entry.device_path.clone(),
                source: e,
            });
        }
        Err(e) => return Ok(Err(format!("the phone no longer has it ({e})"))),
    };
    if info.st_size != entry.size || info.st_mtime_ns as i64 != entry.device_mtime_ns {
        return Ok(Err(
            "the phone's file changed since it was imported (size or date differ)".into(),
        ));
    }
    let staged = match fetch_again(client, destination, entry).await? {
        Ok(staged) => staged,
        Err(reason) => return Ok(Err(reason)),
    };
    put_back(destination, staged, entry, rel, run_dir)
        .await
        .map(Ok)
}

/// The phone's copy of `entry` into a durable temp file, checked against the ledger's BLAKE3.
/// `Ok(Err(reason))`: this file cannot be repaired (its temp file is removed).
async fn fetch_again(
    client: &AfcClient,
    destination: &Destination,
    entry: &Entry,
) -> Result<Result<Staged, String>, VerifyError> {
    let key_udid = entry.udid.clone();
    let key_path = entry.device_path.clone();
    let key_copy = entry.copy.clone();
    let (size, mtime_ns) = (entry.size, entry.device_mtime_ns);
    let begin_dest = destination.clone();
    let partial = tokio::task::spawn_blocking(move || {
        begin_dest.begin(&SourceKey {
            udid: &key_udid,
            device_path: &key_path,
            copy: &key_copy,
            size,
            mtime_ns,
        })
    })
    .await
    .map_err(internal)??;
    let temp = partial.temp_path().to_path_buf();
    let file = PhoneFile {
        path: &entry.device_path,
        size,
        offset: partial.resume_offset(),
    };
    // Nothing cancels a repair midway: each file is short work and the run stops between files.
    let never = CancellationToken::new();
    let copied = phone_to_temp(client, &file, partial, Durability::Now, |_| {}, &never)
        .await
        .map_err(internal)?;
    let read = copied
        .read
        .ok_or_else(|| internal(InternalError::TaskCancelled))?;
    let staged = match (read, copied.written) {
        (Ok(()), Ok(staged)) => staged,
        (Err(e), _) if e.is_fatal() => {
            return Err(VerifyError::Disconnected {
                path: entry.device_path.clone(),
                source: e,
            });
        }
        (Err(e), _) => {
            let _ = std::fs::remove_file(&temp);
            return Ok(Err(format!("the phone refused to read it: {e}")));
        }
        (Ok(()), Err(SafeWriteError::SizeMismatch { .. })) => {
            let _ = std::fs::remove_file(&temp);
            return Ok(Err("the phone's file changed while it was read".into()));
        }
        (Ok(()), Err(e)) => return Err(e.into()),
    };
    if staged.blake3().as_bytes() != &entry.blake3 {
        let _ = std::fs::remove_file(&temp);
        return Ok(Err(
            "the phone's bytes no longer match what was imported (BLAKE3 differs); kept the archive as it is".into(),
        ));
    }
    Ok(Ok(staged))
}

/// Puts a checked good copy at the entry's DEST path: the file there (if any) goes aside under
/// `run_dir`, a missing one's name may have been taken meanwhile (then it gets a suffix).
async fn put_back(
    destination: &Destination,
    staged: Staged,
    entry: &Entry,
    rel: RelPath,
    run_dir: &str,
) -> Result<Repaired, VerifyError> {
    let root = destination.root().to_path_buf();
    let aside_rel = format!("{run_dir}/{}", entry.dest_path);
    let aside = root.join(&aside_rel);
    let mtime_ns = entry.device_mtime_ns;
    let device_mtime = UNIX_EPOCH + Duration::from_nanos(mtime_ns.max(0) as u64);
    let placed = tokio::task::spawn_blocking(move || {
        let full = rel.under(&root);
        // The date rule of pull for a file on its own: the capture date in its bytes, else
        // the phone's mtime (not the damaged file's mtime, which the damage may have changed).
        let mtime: Option<SystemTime> = dates::capture_date_of(
            staged.temp_path(),
            &Fallbacks {
                photos_db: None,
                birth_time: Some(device_mtime),
            },
        )
        .map(|d| d.system_time())
        .or(Some(device_mtime));
        if std::fs::symlink_metadata(&full).is_ok() {
            staged.replace(&rel, mtime, &aside).map(|c| (c, true))
        } else {
            staged.commit(&rel, mtime, 0).map(|c| (c, false))
        }
    })
    .await
    .map_err(internal)??;
    let (committed, replaced) = placed;
    let new_path = committed.rel.to_string();
    Ok(Repaired {
        kept_as: replaced.then_some(aside_rel),
        moved_to: (new_path != entry.dest_path).then_some(new_path),
    })
}
