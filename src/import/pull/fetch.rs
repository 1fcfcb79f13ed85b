//! A resource's bytes into its temp file: from the phone (streamed through a pipe into a
//! blocking writer that hashes while the next reads are in flight), or, for a further album
//! copy, from this run's first copy. A resumed temp file's kept bytes are proven first.

use std::io::{Seek, SeekFrom};
use std::path::Path;

use bytes::Bytes;

use super::error::{PullError, internal};
use super::item::{AssetRef, ItemError};
use super::shared::Shared;
use crate::afc::{AfcClient, AfcError, AfcStatus, ChunkSink};
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
        (Err(e), _) if e.is_fatal() => Err(read_failed(e, res, asset_icloud_only)),
        (Err(AfcError::Output(_)) | Ok(()), Err(source)) => {
            if matches!(source, SafeWriteError::SizeMismatch { .. }) {
                let _ = std::fs::remove_file(temp);
            }
            Err(write_failed(source, res))
        }
        (Err(e), _) => {
            // The phone refused this file (vanished, unreadable, iCloud-only): drop its temp.
            let _ = std::fs::remove_file(temp);
            Err(read_failed(e, res, asset_icloud_only))
        }
    }
}

/// A read of `res` that failed: the run's failure when the phone is lost, else this item's
/// (the phone refused the file: vanished, unreadable, iCloud-only).
fn read_failed(e: AfcError, res: &Resource, asset_icloud_only: bool) -> ItemError {
    if e.is_fatal() {
        return PullError::Disconnected {
            path: res.device_path.clone(),
            source: e,
        }
        .into();
    }
    let icloud = res.role == ResourceRole::Original
        && (asset_icloud_only || e.status() == Some(AfcStatus::IoError));
    let reason = if icloud {
        icloud_only_reason(Some(&e))
    } else {
        e.to_string()
    };
    ItemError::Item {
        reason,
        icloud_only: icloud,
    }
}

/// A write of `res` into DEST that failed: this item's failure when the phone sent another
/// length than it announced (the caller removes the temp file), else the run's.
pub(super) fn write_failed(source: SafeWriteError, res: &Resource) -> ItemError {
    match source {
        SafeWriteError::SizeMismatch { expected, got } => ItemError::Item {
            reason: format!(
                "the phone sent {got} bytes where {expected} were announced (the file changed); run again"
            ),
            icloud_only: false,
        },
        source => PullError::Write {
            path: res.device_path.clone(),
            source,
        }
        .into(),
    }
}

/// The largest file read whole into memory before its temp file is made ([`small_from_phone`]).
/// Each worker holds at most one such file.
pub(super) const IN_MEMORY_MAX: u64 = 1024 * 1024;

/// Reads all of a file of at most [`IN_MEMORY_MAX`] bytes from the phone, as the reply bodies
/// arrived. Its temp file is then made, written, dated and readied in one blocking call: for a
/// small file, handing it between threads costs more than its bytes. Cancellation leaves no
/// temp file (the next run reads the file again).
pub(super) async fn small_from_phone(
    shared: &Shared,
    client: &AfcClient,
    asset: &AssetRef,
    res: &Resource,
) -> Result<Vec<Bytes>, ItemError> {
    let size = res.size.unwrap_or(0);
    let mut sink = Collect(Vec::new());
    let read = tokio::select! {
        r = client.read_range_into(&res.device_path, size, 0, &mut sink) => r,
        _ = shared.stop.cancelled() => return Err(PullError::Cancelled.into()),
    };
    match read {
        Ok(_) => {
            shared.observer.bytes(size);
            Ok(sink.0)
        }
        Err(e) => Err(read_failed(e, res, asset.icloud_only)),
    }
}

/// Keeps the chunks a read hands over (at most [`IN_MEMORY_MAX`] bytes: the read stops at the
/// announced size).
struct Collect(Vec<Bytes>);

impl ChunkSink for Collect {
    async fn put(&mut self, chunk: Bytes) -> std::io::Result<()> {
        self.0.push(chunk);
        Ok(())
    }

    async fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
