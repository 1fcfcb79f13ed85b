//! A phone file's bytes into a temp file of the atomic writer, the one way pull and
//! `verify --repair` both copy: the AFC reads fill a bounded pipe that a blocking writer drains
//! into the temp file (hashing as it goes), so the phone and the disk work at the same time and
//! memory stays at the pipe's size whatever the file's.

use std::io::Read;

use tokio_util::io::SyncIoBridge;
use tokio_util::sync::CancellationToken;

use super::internal_error::InternalError;
use super::safe_write::{Partial, SafeWriteError, Staged};
use crate::afc::{AfcClient, AfcError};

/// Bytes buffered between the AFC reads and the disk writer of one file.
pub(crate) const PIPE_BYTES: usize = 8 * 1024 * 1024;

/// Which file to read, how long the phone says it is, and where a resumed copy starts.
pub(crate) struct PhoneFile<'a> {
    pub path: &'a str,
    pub size: u64,
    pub offset: u64,
}

/// When the temp file is made durable: at once (a file on its own), or later with its batch
/// ([`Partial::complete`], the group commit of pull).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Durability {
    Now,
    WithBatch,
}

/// What happened on each side of the pipe. The caller decides what a combination means
/// (a phone that refused the file, a file that changed size, a lost phone).
pub(crate) struct PhoneCopy {
    /// The phone's side; `None` when `stop` ended the read (the temp file keeps what arrived,
    /// for the next run).
    pub read: Option<Result<(), AfcError>>,
    /// The disk's side: the staged temp file, or why it is not complete.
    pub written: Result<Staged, SafeWriteError>,
}

/// Reads `file` from the phone from `file.offset` into `partial` and finishes the temp file.
/// `progress` hears each chunk's length as it reaches the writer.
pub(crate) async fn phone_to_temp(
    client: &AfcClient,
    file: &PhoneFile<'_>,
    mut partial: Partial,
    durability: Durability,
    progress: impl Fn(u64) + Send + 'static,
    stop: &CancellationToken,
) -> Result<PhoneCopy, InternalError> {
    let (pipe_in, pipe_out) = tokio::io::duplex(PIPE_BYTES);
    let mut reader = Counting {
        inner: SyncIoBridge::new(pipe_out),
        progress,
    };
    let writer = tokio::task::spawn_blocking(move || {
        partial.copy_from(&mut reader)?;
        match durability {
            Durability::Now => partial.finish(),
            Durability::WithBatch => partial.complete(),
        }
    });
    // The pipe is dropped when the read ends: the writer sees the end of the file.
    let read = async move {
        let mut pipe_in = pipe_in;
        client
            .read_range_to(file.path, file.size, file.offset, &mut pipe_in)
            .await
            .map(drop)
    };
    let read = tokio::select! {
        r = read => Some(r),
        _ = stop.cancelled() => None,
    };
    let written = writer.await?;
    Ok(PhoneCopy { read, written })
}

/// Counts bytes on their way to the disk writer, for a progress display.
struct Counting<R, F> {
    inner: R,
    progress: F,
}

impl<R: Read, F: Fn(u64)> Read for Counting<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            (self.progress)(n as u64);
        }
        Ok(n)
    }
}
