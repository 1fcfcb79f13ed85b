//! What can go wrong talking AFC, from the host's side.

use std::sync::Arc;

use thiserror::Error;

use super::codec::ProtocolError;
use super::opcode::Opcode;
use super::status::AfcStatus;

#[derive(Debug, Clone, Error)]
pub enum AfcError {
    /// The phone answered with a failure status.
    #[error("the phone answered {op} {} with {status}", .path.as_deref().unwrap_or(""))]
    Status {
        op: Opcode,
        path: Option<String>,
        status: AfcStatus,
    },
    /// The phone sent something that is not valid AFC, or not an answer to what was asked.
    #[error("{0} (the phone's file service misbehaved; reconnect the phone and retry)")]
    Protocol(#[from] ProtocolError),
    /// The connection broke (unplugged, phone locked, service crashed).
    #[error("the AFC connection to the phone was lost: {0}; reconnect the phone and retry")]
    Connection(Arc<str>),
    /// Nothing arrived within `--io-timeout` while requests were outstanding.
    #[error(
        "the phone stopped answering {waiting_for} for {secs} s: unplug it and plug it in again, then run the command again (pull resumes where it stopped)"
    )]
    Stalled { waiting_for: String, secs: u64 },
    /// Writing the copied bytes to the local destination failed (disk full, permissions).
    #[error("writing the copied data failed: {0}")]
    Output(Arc<std::io::Error>),
    /// `read_to_vec` refused a file larger than the caller's limit.
    #[error("{path} is {size} bytes, more than the {limit} bytes allowed in memory")]
    FileTooLarge { path: String, size: u64, limit: u64 },
    /// A file's length differs from the size the caller expected: it changed since it was listed.
    #[error(
        "{path}: the phone sent {got} bytes where {expected} were expected (the file changed; copy it again)"
    )]
    SizeMismatch {
        path: String,
        expected: u64,
        got: u64,
    },
}

impl AfcError {
    /// The phone's status, if this error is one.
    pub fn status(&self) -> Option<AfcStatus> {
        match self {
            AfcError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The connection is unusable after this error (everything except a status, a local write
    /// failure or a well-framed reply with garbage content, after which the client still works:
    /// that failure belongs to the one item asked about).
    pub fn is_fatal(&self) -> bool {
        match self {
            AfcError::Protocol(e) => !e.is_item_content(),
            AfcError::Connection(_) | AfcError::Stalled { .. } => true,
            _ => false,
        }
    }
}
