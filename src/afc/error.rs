//! What can go wrong talking AFC, from the host's side.

// missing_docs: error variants and their fields; each variant's #[error] message says what it is.
#![allow(missing_docs)]

use std::sync::Arc;

use thiserror::Error;

use super::opcode::Opcode;
use super::status_code::AfcStatus;

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
    Protocol(#[from] AfcProtocolError),
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

/// The packet is malformed or does not fit what was asked: the peer does not speak AFC as expected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AfcProtocolError {
    #[error("AFC packet has bad magic {0:02x?} (not an AFC service?)")]
    BadMagic([u8; 8]),
    #[error("AFC packet too short: {got} bytes, the header alone is 40")]
    ShortHeader { got: usize },
    #[error("AFC header lengths are inconsistent (entire {entire}, this {this})")]
    BadLengths { entire: u64, this: u64 },
    #[error("AFC packet of {len} bytes is larger than the limit of {max} bytes")]
    TooLarge { len: u64, max: u64 },
    #[error("AFC {op} body too short: need {need} bytes, got {got}")]
    ShortBody { op: Opcode, need: usize, got: usize },
    #[error("the phone answered {request} with an unexpected {reply} packet")]
    UnexpectedReply { request: Opcode, reply: Opcode },
    #[error("the phone answered packet number {0}, which was never asked for")]
    UnknownPacketNum(u64),
    #[error("the phone returned {got} bytes for a read of {asked}")]
    ReadTooLong { asked: usize, got: usize },
    #[error("a name in the AFC {context} reply is not valid UTF-8")]
    NotUtf8 { context: &'static str },
    #[error("a path sent over AFC may not contain a NUL byte: {}", crate::untrusted::text::for_terminal(.0))]
    PathHasNul(String),
    #[error("AFC {context} reply has a key without a value")]
    OddDictionary { context: &'static str },
    #[error("AFC file info is missing {0}")]
    MissingKey(&'static str),
    #[error("AFC file info {key} = \"{value}\" is not a number")]
    BadNumber { key: &'static str, value: String },
}

impl AfcProtocolError {
    /// A reply that was framed correctly (the stream is still in step) but whose content is
    /// unusable: a garbage file info, a name that is not UTF-8, a read longer than asked.
    pub(crate) fn is_item_content(&self) -> bool {
        matches!(
            self,
            AfcProtocolError::ReadTooLong { .. }
                | AfcProtocolError::NotUtf8 { .. }
                | AfcProtocolError::OddDictionary { .. }
                | AfcProtocolError::MissingKey(_)
                | AfcProtocolError::BadNumber { .. }
        )
    }
}
