//! A link carries mux packets between a host and one device: USB bulk pipes, or an in-process
//! channel to a simulated phone. The mux drivers speak only to this, never to rusb directly.

use bytes::Bytes;
use tokio::sync::mpsc;

/// Why a link stopped carrying bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the phone was disconnected")]
    /// The phone went away.
    Disconnected,
    #[error("USB transfer failed: {0}")]
    /// A USB transfer failed (libusb's message).
    Transfer(String),
}

/// One end of a link.
pub struct Link {
    /// Whole mux packets to the peer, one per message (the link adds USB zero-length packets).
    pub outgoing: mpsc::Sender<Bytes>,
    /// Bytes from the peer in order, split or coalesced arbitrarily: the receiver reassembles.
    /// `Err` or a closed channel means the link is gone (unplug).
    pub incoming: mpsc::Receiver<Result<Bytes, LinkError>>,
}

/// Two connected in-process link ends (host end, device end): each whole packet one end sends
/// arrives at the other as bytes. `capacity` bounds the packets queued each way.
/// Must be called inside a tokio runtime (a small task forwards each direction).
pub fn in_process_pair(capacity: usize) -> (Link, Link) {
    in_process_pair_rechunked(capacity, None)
}

/// Like `in_process_pair`, but the bytes are re-cut on the way: packets split at pseudo-random
/// points and coalesced with their neighbours, as USB transfers may deliver them. For tests of
/// reassembly; `seed` makes the cuts reproducible.
pub fn in_process_pair_rechunked(capacity: usize, seed: Option<u64>) -> (Link, Link) {
    let capacity = capacity.max(1);
    let (host_tx, host_out) = mpsc::channel::<Bytes>(capacity);
    let (dev_tx, dev_out) = mpsc::channel::<Bytes>(capacity);
    let (to_dev, dev_in) = mpsc::channel(capacity);
    let (to_host, host_in) = mpsc::channel(capacity);
    tokio::spawn(forward(host_out, to_dev, seed));
    tokio::spawn(forward(
        dev_out,
        to_host,
        seed.map(|s| s ^ 0x9e37_79b9_7f4a_7c15),
    ));
    (
        Link {
            outgoing: host_tx,
            incoming: host_in,
        },
        Link {
            outgoing: dev_tx,
            incoming: dev_in,
        },
    )
}

/// Carry packets from one end to the other until either end goes away. Dropping `to` when the
/// sender side closes is what tells the peer the link is gone.
async fn forward(
    mut from: mpsc::Receiver<Bytes>,
    to: mpsc::Sender<Result<Bytes, LinkError>>,
    seed: Option<u64>,
) {
    let Some(mut state) = seed else {
        while let Some(packet) = from.recv().await {
            if to.send(Ok(packet)).await.is_err() {
                return;
            }
        }
        return;
    };
    state |= 1;
    let mut next = move || {
        // xorshift64: cheap and good enough to vary cut points.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut pending = bytes::BytesMut::new();
    loop {
        // Coalesce whatever is already queued, sometimes.
        match from.recv().await {
            Some(p) => pending.extend_from_slice(&p),
            None => break,
        }
        while next() % 2 == 0 {
            match from.try_recv() {
                Ok(p) => pending.extend_from_slice(&p),
                Err(_) => break,
            }
        }
        // Send it on in pieces of random size (1 byte up to 64 KiB).
        while !pending.is_empty() {
            let r = next();
            let max = if r % 4 == 0 { 17 } else { 65536 };
            let n = ((r >> 8) as usize % max + 1).min(pending.len());
            if to.send(Ok(pending.split_to(n).freeze())).await.is_err() {
                return;
            }
        }
    }
}
