//! Where a file's reads go: the reply bodies themselves, in order, so a consumer that can take
//! them (the pull's disk writer) gets them without a copy, and any `AsyncWrite` still works.

use std::future::Future;
use std::io;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Takes a file's bytes chunk by chunk, as the phone sent them.
pub trait ChunkSink: Send {
    /// One chunk, in file order (never empty).
    fn put(&mut self, chunk: Bytes) -> impl Future<Output = io::Result<()>> + Send;
    /// After the last chunk of a copy that reached its end.
    fn finish(&mut self) -> impl Future<Output = io::Result<()>> + Send;
}

/// An `AsyncWrite` as a sink: each chunk is written into it, and `finish` flushes it.
pub(crate) struct WriteSink<'a, W: ?Sized>(pub &'a mut W);

impl<W: AsyncWrite + Unpin + Send + ?Sized> ChunkSink for WriteSink<'_, W> {
    async fn put(&mut self, chunk: Bytes) -> io::Result<()> {
        self.0.write_all(&chunk).await
    }

    async fn finish(&mut self) -> io::Result<()> {
        self.0.flush().await
    }
}
