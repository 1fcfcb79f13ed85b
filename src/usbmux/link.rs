//! A link carries mux packets between a host and one device: USB bulk pipes, or an in-process
//! channel to a simulated phone. The mux drivers speak only to this, never to rusb directly.

use bytes::Bytes;
use tokio::sync::mpsc;

/// Why a link stopped carrying bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the phone was disconnected")]
    Disconnected,
    #[error("USB transfer failed: {0}")]
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
