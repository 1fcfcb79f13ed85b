//! A resource's bytes into its temp file: from the phone (streamed through a pipe into a
//! blocking writer that hashes while the next reads are in flight), or, for a further album
//! copy, from this run's first copy. A resumed temp file's kept bytes are proven first.

use std::io::{Seek, SeekFrom};
use std::path::Path;

use super::error::{PullError, internal};
use super::item::{AssetRef, ItemError};
use super::shared::Shared;
use crate::afc::{AfcClient, AfcError, AfcStatus};
use crate::import::phone_copy::{Durability, PhoneFile, phone_to_temp};
use crate::import::resume::{self, ProveError, Verdict};
use crate::import::safe_write::{Partial, SafeWriteError, Staged};
use crate::library::{Resource, ResourceRole};

/// Why an iCloud-only original was not copied, and what to change on the phone.
pub(super) fn icloud_only_reason(read_error: Option<&AfcError>) -> String {
    let why = match read_error {
        Some(e) => format!("the phone could not read it: {e}"),
        None => "Photos.sqlite says it is not on the phone".to_owned(),
    };
    format!(
        "the original is only in iCloud ({why}); on the phone turn on Settings › Photos › Download and Keep Originals, wait for the download, and run again"
    )
}

/// Stages a further copy of a file this run already brought from the phone, from that file
/// (resuming at `offset`), and checks it has the bytes the phone sent.
pub(super) async fn stage_local(
    mut partial: Partial,
    source: &Path,
    hash: [u8; 32],
    offset: u64,
    temp: &Path,
) -> Result<Staged, ItemError> {
    let source = source.to_path_buf();
    let staged = tokio::task::spawn_blocking(move || {
        let read_err = |e| SafeWriteError::Read {
            path: source.clone(),
            source: e,
        };
        let mut file = std::fs::File::open(&source).map_err(read_err)?;
        file.seek(SeekFrom::Start(offset)).map_err(read_err)?;
        partial.copy_from(&mut file)?;
        partial.complete()
    })
    .await
    .map_err(internal)?;
    match staged {
        Ok(staged) if *staged.blake3().as_bytes() == hash => Ok(staged),
        Ok(_) | Err(SafeWriteError::SizeMismatch { .. }) => {
            let _ = std::fs::remove_file(temp);
            Err(ItemError::Item {
                reason:
                    "its first copy in DEST changed while the album copies were made; run again"
                        .into(),
                icloud_only: false,
            })
        }
        Err(source) => Err(PullError::Write {
            path: temp.display().to_string(),
            source,
        }
        .into()),
    }
}

/// Checks a resumed temp file's kept bytes against the phone ([`resume`]); a difference
/// restarts the file from 0.
pub(super) async fn prove_prefix(
    client: &AfcClient,
    device_path: &str,
    partial: Partial,
) -> Result<Partial, ItemError> {
    match resume::prove_prefix(client, device_path, partial).await {
        Ok((partial, Verdict::Kept)) => Ok(partial),
        Ok((partial, Verdict::Restarted { at })) => {
            tracing::info!(
                path = %device_path.escape_debug(),
                "the kept bytes of an interrupted copy differ from the phone's near byte {at}; copying it again from the start"
            );
            Ok(partial)
        }
        Err(ProveError::Phone(source)) => Err(PullError::Disconnected {
            path: device_path.to_string(),
            source,
        }
        .into()),
        Err(ProveError::Dest(source)) => Err(PullError::Write {
            path: device_path.to_string(),
            source,
        }
        .into()),
    }
}

/// Reads `res` from the phone from `offset` into `partial` and finishes it (durable later, with
/// its batch). Cancellation abandons the file: its temp file keeps what arrived, for the next run.
pub(super) async fn from_phone(
    shared: &Shared,
    client: &AfcClient,
    asset: &AssetRef,
    res: &Resource,
    partial: Partial,
    offset: u64,
) -> Result<Staged, ItemError> {
    let temp = partial.temp_path().to_path_buf();
    let file = PhoneFile {
        path: &res.device_path,
        size: res.size.unwrap_or(0),
        offset,
    };
    let observer = shared.observer.clone();
    let progress = move |n| observer.bytes(n);
    let copied = phone_to_temp(
        client,
        &file,
        partial,
        Durability::WithBatch,
        progress,
        &shared.stop,
    )
    .await
    .map_err(internal)?;
    let Some(read) = copied.read else {
        return Err(PullError::Cancelled.into());
    };
    classify(read, copied.written, res, asset.icloud_only, &temp)
}

/// The outcome of a read from the phone and its write: the staged file, a failure of this
/// item (its temp file removed), or of the run.
fn classify(
    read: Result<(), AfcError>,
    written: Result<Staged, SafeWriteError>,
    res: &Resource,
    asset_icloud_only: bool,
    temp: &Path,
) -> Result<Staged, ItemError> {
    match (read, written) {
        (Ok(()), Ok(staged)) => Ok(staged),
        (Err(e), _) if e.is_fatal() => Err(PullError::Disconnected {
            path: res.device_path.clone(),
            source: e,
        }
        .into()),
        (
            Err(AfcError::Output(_)) | Ok(()),
            Err(SafeWriteError::SizeMismatch { expected, got }),
        ) => {
            let _ = std::fs::remove_file(temp);
            Err(ItemError::Item {
                reason: format!(
                    "the phone sent {got} bytes where {expected} were announced (the file changed); run again"
                ),
                icloud_only: false,
            })
        }
        (Err(AfcError::Output(_)) | Ok(()), Err(source)) => Err(PullError::Write {
            path: res.device_path.clone(),
            source,
        }
        .into()),
        (Err(e), _) => {
            // The phone refused this file (vanished, unreadable, iCloud-only): drop its temp.
            let _ = std::fs::remove_file(temp);
            let icloud = res.role == ResourceRole::Original
                && (asset_icloud_only || e.status() == Some(AfcStatus::IoError));
            let reason = if icloud {
                icloud_only_reason(Some(&e))
            } else {
                e.to_string()
            };
            Err(ItemError::Item {
                reason,
                icloud_only: icloud,
            })
        }
    }
}
