//! The names the engines and drivers share: a connection's lifelong id and the events the mux
//! engines report upward. A leaf, so the table and the engines can use it without a cycle.

use bytes::Bytes;

/// Identifies one connection on one link for its whole life (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// What the engines report to their driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MuxEvent {
    /// Host: the device answered VERSION; `major` is 1 or 2.
    Ready { major: u32, minor: u32 },
    /// Host: SYN-ACK received, the connection is open.
    Connected(ConnId),
    /// Host: the device answered the SYN with RST (nothing listens) or nonsense.
    Refused(ConnId),
    /// Device: a host opened a connection to a listening port.
    Accepted { conn: ConnId, port: u16 },
    /// Data for the application; ACKed once it reports it `consumed`.
    Data(ConnId, Bytes),
    /// The connection is gone: the peer reset it (with its reason text, if any), or it broke the
    /// protocol and we reset it (reason says what happened).
    Reset {
        conn: ConnId,
        reason: Option<String>,
        by_peer: bool,
    },
    /// Host: a CONTROL message from the device (kind 3 error, 5 warning, 7 info).
    Control { kind: u8, text: String },
}
