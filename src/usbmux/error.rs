//! The mux protocol's errors: bytes that are not a mux stream, and a peer that breaks the
//! protocol. Both are fatal for the link; `driver::MuxError` is what callers of the driver see.

pub(crate) use super::frame::MuxFrameError;
use super::frame::Protocol;

/// A fatal protocol violation: the link cannot be used any further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MuxProtocolError {
    #[error("the phone sent a malformed mux packet: {0}")]
    Frame(#[from] MuxFrameError),
    #[error(
        "the phone speaks mux protocol version {major}.{minor}, which is not supported (only 1 and 2 are)"
    )]
    UnsupportedVersion { major: u32, minor: u32 },
    #[error("the phone sent a {} packet before version negotiation", protocol_name(*.0))]
    BeforeVersion(Protocol),
}

/// A mux protocol's name for messages (not the Rust variant name).
fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Version => "version",
        Protocol::Control => "control",
        Protocol::Setup => "setup",
        Protocol::Tcp => "TCP",
    }
}
