//! Reply buffers of full-size reads, kept for reuse: a whole-file copy then works in a handful
//! of read buffers instead of a fresh one (and its page faults) per 4 MiB read. Only bodies of
//! exactly the pooled size are pooled, so a buffer's capacity is always what it holds when full,
//! and the bytes a consumer counts for a chunk are the memory it pins.

use std::sync::Mutex;

use bytes::Bytes;

/// Free buffers kept at most: the reads in flight plus what a writer holds, with room to spare.
const KEPT: usize = 8;

/// Buffers of one size (the client's read chunk), shared by its reader and the consumers of
/// its chunks.
#[derive(Debug)]
pub struct BodyPool {
    size: usize,
    free: Mutex<Vec<Vec<u8>>>,
}

impl BodyPool {
    pub(crate) fn new(size: usize) -> BodyPool {
        BodyPool {
            size,
            free: Mutex::new(Vec::new()),
        }
    }

    /// An empty buffer with room for `len` bytes: a reused one when `len` is the pooled size.
    pub(crate) fn take(&self, len: usize) -> Vec<u8> {
        if len == self.size
            && let Some(buf) = self.lock().pop()
        {
            return buf;
        }
        Vec::with_capacity(len)
    }

    /// Keeps a consumed chunk's memory for the next read, when it is a pooled buffer and nothing
    /// else refers to it; otherwise simply drops it.
    pub fn give_back(&self, chunk: Bytes) {
        if chunk.len() != self.size {
            return;
        }
        let Ok(unique) = chunk.try_into_mut() else {
            return;
        };
        let mut buf = Vec::from(unique);
        if buf.capacity() != self.size {
            return;
        }
        buf.clear();
        let mut free = self.lock();
        if free.len() < KEPT {
            free.push(buf);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        // The list is valid whatever a panicking holder did: it only ever holds whole buffers.
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_size_chunk_comes_back_as_the_same_buffer() {
        let pool = BodyPool::new(16);
        let mut buf = pool.take(16);
        buf.extend_from_slice(&[7; 16]);
        let at = buf.as_ptr();
        pool.give_back(Bytes::from(buf));
        let again = pool.take(16);
        assert_eq!(again.as_ptr(), at, "the buffer is reused");
        assert!(again.is_empty());
        assert_eq!(again.capacity(), 16);
    }

    #[test]
    fn other_sizes_and_shared_chunks_are_not_kept() {
        let pool = BodyPool::new(16);
        pool.give_back(Bytes::from(vec![1; 8]));
        let full = Bytes::from(vec![2; 16]);
        let other_ref = full.clone();
        pool.give_back(full);
        assert!(
            pool.lock().is_empty(),
            "short or still-referenced chunks are dropped"
        );
        drop(other_ref);
        assert_eq!(pool.take(8).capacity(), 8);
    }

    #[test]
    fn at_most_kept_buffers_are_held() {
        let pool = BodyPool::new(4);
        for _ in 0..KEPT + 5 {
            pool.give_back(Bytes::from(vec![0; 4]));
        }
        assert_eq!(pool.lock().len(), KEPT);
    }
}
