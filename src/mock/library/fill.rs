//! Padding bytes for `realistic_sizes`: a 64 KiB pseudo-random block per file, repeated, so
//! large files cost no large buffers and no two files share content (importers hash files).

use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use std::io::{self, Write};

const BLOCK: usize = 64 * 1024;

pub(super) struct Filler {
    block: Vec<u8>,
}

impl Filler {
    pub(super) fn new(seed: u64) -> Self {
        let mut block = vec![0u8; BLOCK];
        ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut block);
        Filler { block }
    }

    /// Writes exactly `n` padding bytes.
    pub(super) fn write(&self, w: &mut impl Write, mut n: u64) -> io::Result<()> {
        while n > 0 {
            let k = n.min(BLOCK as u64) as usize;
            w.write_all(&self.block[..k])?;
            n -= k as u64;
        }
        Ok(())
    }

    /// The first `n` (≤ 64 KiB) bytes, for formats that pad in framed segments.
    pub(super) fn slice(&self, n: usize) -> &[u8] {
        &self.block[..n.min(BLOCK)]
    }
}
