//! A phone file's bytes into a temp file of the atomic writer, the one way pull and
//! `verify --repair` both copy: the AFC client hands its reply buffers, as they are, through a
//! channel bounded in bytes to a blocking writer that hashes them into the temp file, so the
//! phone and the disk work at the same time, no chunk is copied in memory on the way, and memory
//! stays at the channel's bound whatever the file's size.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::internal_error::InternalError;
use super::safe_write::{Partial, SafeWriteError, Staged};
use crate::afc::{AfcClient, AfcError, ChunkSink};

/// Bytes buffered between the AFC reads and the disk writer of one file.
pub(crate) const PIPE_BYTES: usize = 8 * 1024 * 1024;

/// Bytes written (and hashed) at a time.
const WRITE_SLICE: usize = 256 * 1024;

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
    let (chunks, mut received) = mpsc::unbounded_channel::<(Bytes, OwnedSemaphorePermit)>();
    let pool = client.body_pool();
    let writer = tokio::task::spawn_blocking(move || {
        while let Some((chunk, _room)) = received.blocking_recv() {
            progress(chunk.len() as u64);
            // In slices, so the hash reads what the write just brought into the cache, instead
            // of both walking 4 MiB from memory.
            for slice in chunk.chunks(WRITE_SLICE) {
                partial.write_all(slice)?;
            }
            pool.give_back(chunk);
        }
        match durability {
            Durability::Now => partial.finish(),
            Durability::WithBatch => partial.complete(),
        }
    });
    // The sender is dropped when the read ends: the writer sees the end of the file.
    let read = async move {
        let mut sink = WriterSink {
            chunks,
            room: Arc::new(Semaphore::new(PIPE_BYTES)),
        };
        client
            .read_range_into(file.path, file.size, file.offset, &mut sink)
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

/// The AFC side of the channel: each chunk waits for room (its length in bytes, out of
/// `PIPE_BYTES`), which the writer gives back when it has written the chunk.
struct WriterSink {
    chunks: mpsc::UnboundedSender<(Bytes, OwnedSemaphorePermit)>,
    room: Arc<Semaphore>,
}

impl ChunkSink for WriterSink {
    async fn put(&mut self, chunk: Bytes) -> io::Result<()> {
        // A chunk is at most one AFC read (4 MiB), well under PIPE_BYTES.
        let want = u32::try_from(chunk.len().min(PIPE_BYTES)).unwrap_or(u32::MAX);
        let room = self
            .room
            .clone()
            .acquire_many_owned(want)
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        // The writer stopped (its error is reported from its side).
        self.chunks
            .send((chunk, room))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }

    async fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}
