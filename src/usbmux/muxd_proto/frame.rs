//! The usbmuxd message frame: the 16-byte little-endian header, the size and depth limits, the
//! header versions and message types, and the incremental decoder that cuts whole frames out of
//! a byte stream. A leaf: the request, reply and device-record codecs all build on it.

use plist::{Dictionary, Value};

/// Size of the message header.
pub const HEADER_LEN: usize = 16;
/// Largest message we accept. Real messages are a few KiB (a pair record is the biggest);
/// anything larger is garbage or hostile and is refused before allocating.
pub(crate) const MAX_MESSAGE_LEN: usize = 1 << 20;
/// Deepest plist nesting we accept (real messages nest three levels).
pub(crate) const MAX_PLIST_DEPTH: usize = 16;

/// Header versions.
pub(crate) const VERSION_BINARY: u32 = 0;
pub(crate) const VERSION_PLIST: u32 = 1;

/// Header message types.
pub(crate) mod message {
    pub(crate) const RESULT: u32 = 1;
    pub(crate) const CONNECT: u32 = 2;
    pub(crate) const LISTEN: u32 = 3;
    pub(crate) const DEVICE_ADD: u32 = 4;
    pub(crate) const DEVICE_REMOVE: u32 = 5;
    pub(crate) const DEVICE_PAIRED: u32 = 6;
    pub(crate) const PLIST: u32 = 8;
}

/// Why bytes could not be understood as a usbmuxd message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("usbmuxd message length {0} is out of range (16 to {MAX_MESSAGE_LEN} bytes)")]
    BadLength(u32),
    #[error("usbmuxd message has unsupported protocol version {0}")]
    BadVersion(u32),
    #[error("malformed usbmuxd plist: {0}")]
    BadPlist(String),
    #[error("usbmuxd plist nests deeper than {MAX_PLIST_DEPTH} levels")]
    TooDeep,
    #[error("usbmuxd {context} lacks a valid {key}")]
    MissingKey {
        context: &'static str,
        key: &'static str,
    },
    #[error("binary usbmuxd message type {message} has a {len}-byte body, expected {expected}")]
    BadBinaryBody {
        message: u32,
        len: usize,
        expected: usize,
    },
    #[error("unexpected usbmuxd message (version {version}, type {message})")]
    Unexpected { version: u32, message: u32 },
}

/// The fixed header in front of every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Whole message length, header included.
    pub length: u32,
    pub version: u32,
    pub message: u32,
    pub tag: u32,
}

impl Header {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&self.length.to_le_bytes());
        out[4..8].copy_from_slice(&self.version.to_le_bytes());
        out[8..12].copy_from_slice(&self.message.to_le_bytes());
        out[12..16].copy_from_slice(&self.tag.to_le_bytes());
        out
    }

    /// Parse and bound-check a header.
    pub(crate) fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Header, ProtoError> {
        let word =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let header = Header {
            length: word(0),
            version: word(4),
            message: word(8),
            tag: word(12),
        };
        let len = header.length as usize;
        if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) {
            return Err(ProtoError::BadLength(header.length));
        }
        Ok(header)
    }
}

/// One whole message: header fields and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub version: u32,
    pub message: u32,
    pub tag: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// Serialize with a correct length field. Callers never build bodies near `u32::MAX`.
    pub fn encode(&self) -> Vec<u8> {
        let length = (HEADER_LEN + self.payload.len()) as u32;
        let header = Header {
            length,
            version: self.version,
            message: self.message,
            tag: self.tag,
        };
        let mut out = Vec::with_capacity(length as usize);
        out.extend_from_slice(&header.encode());
        out.extend_from_slice(&self.payload);
        out
    }

    pub(super) fn plist(tag: u32, dict: Dictionary) -> Frame {
        let mut payload = Vec::new();
        // Writing XML into a Vec cannot fail.
        let _ = Value::Dictionary(dict).to_writer_xml(&mut payload);
        Frame {
            version: VERSION_PLIST,
            message: message::PLIST,
            tag,
            payload,
        }
    }

    pub(super) fn binary(message: u32, tag: u32, payload: Vec<u8>) -> Frame {
        Frame {
            version: VERSION_BINARY,
            message,
            tag,
            payload,
        }
    }
}

/// Incremental message decoder. Feed bytes as they arrive; take whole frames out.
///
/// [`FrameDecoder::wanted`] says how many more bytes finish the current frame, so a driver can
/// read exactly that much and never swallow bytes that follow (after `Connect` the socket turns
/// into a raw pipe to the phone).
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    header: Option<Header>,
    failed: Option<ProtoError>,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes still missing from the frame being assembled (at least 1 while waiting).
    pub fn wanted(&self) -> usize {
        match self.header {
            Some(h) => (h.length as usize).saturating_sub(self.buf.len()).max(1),
            None => HEADER_LEN.saturating_sub(self.buf.len()).max(1),
        }
    }

    #[cfg(test)]
    /// Bytes received but not yet returned as a frame.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole frame, `None` if more bytes are needed. After an error the stream is
    /// unusable and every call returns the same error.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ProtoError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.header.is_none() {
            let Some(head) = self.buf.first_chunk::<HEADER_LEN>() else {
                return Ok(None);
            };
            match Header::decode(head) {
                Ok(h) => self.header = Some(h),
                Err(e) => {
                    self.buf = Vec::new();
                    self.failed = Some(e.clone());
                    return Err(e);
                }
            }
        }
        let Some(header) = self.header else {
            return Ok(None);
        };
        let len = header.length as usize;
        if self.buf.len() < len {
            return Ok(None);
        }
        let rest = self.buf.split_off(len);
        let mut whole = std::mem::replace(&mut self.buf, rest);
        let payload = whole.split_off(HEADER_LEN);
        self.header = None;
        Ok(Some(Frame {
            version: header.version,
            message: header.message,
            tag: header.tag,
            payload,
        }))
    }
}
