//! Reading typed fields out of message bodies: a binary body's one `u32`, a bounded plist
//! dictionary, and its string and integer keys. Shared by the request, reply and device codecs.

use plist::{Dictionary, Value};

use super::frame::{Frame, MAX_MESSAGE_LEN, MAX_PLIST_DEPTH, ProtoError};
use crate::untrusted::plist::{Limits, PlistError, decode_dict};

pub(super) fn binary_u32(frame: &Frame) -> Result<u32, ProtoError> {
    let p = &frame.payload;
    match p.first_chunk::<4>() {
        Some(b) if p.len() == 4 => Ok(u32::from_le_bytes(*b)),
        _ => Err(ProtoError::BadBinaryBody {
            message: frame.message,
            len: p.len(),
            expected: 4,
        }),
    }
}

/// Parse a plist body (XML or binary) that must be a dictionary of bounded depth and size.
pub(super) fn parse_dict(payload: &[u8]) -> Result<Dictionary, ProtoError> {
    let limits = Limits {
        max_input: MAX_MESSAGE_LEN,
        max_depth: MAX_PLIST_DEPTH,
        ..Limits::MESSAGE
    };
    decode_dict(payload, &limits).map_err(|e| match e {
        PlistError::TooDeep { .. } => ProtoError::TooDeep,
        other => ProtoError::BadPlist(other.to_string()),
    })
}

pub(super) fn get_str<'a>(d: &'a Dictionary, key: &str) -> Option<&'a str> {
    d.get(key).and_then(Value::as_string)
}

pub(super) fn get_u64(d: &Dictionary, key: &str) -> Option<u64> {
    d.get(key).and_then(Value::as_unsigned_integer)
}

pub(super) fn get_u32(d: &Dictionary, key: &str) -> Option<u32> {
    get_u64(d, key).and_then(|n| u32::try_from(n).ok())
}
