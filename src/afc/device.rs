//! The device role (sans-I/O): what a phone's AFC service makes of a host's request.
//! Used by the simulated phone; replies are encoded with `messages::Reply`.

// missing_docs: pub for the fuzz targets and protocol tests; fields and variants carry the wire format's names.
#![allow(missing_docs)]

use super::codec::{Packet, body_u64};
use super::error::AfcProtocolError;
#[cfg(feature = "mock")]
use super::messages::OPEN_MODE_READ;
use super::opcode::Opcode;

/// A request as the device understands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceRequest {
    ReadDir {
        path: String,
    },
    GetFileInfo {
        path: String,
    },
    GetDeviceInfo,
    FileRefOpen {
        mode: u64,
        path: String,
    },
    FileRefRead {
        handle: u64,
        len: u64,
    },
    FileRefSeek {
        handle: u64,
        whence: u64,
        offset: i64,
    },
    FileRefTell {
        handle: u64,
    },
    FileRefClose {
        handle: u64,
    },
    /// An operation that would modify the phone (write, remove, rename, mkdir, truncate,
    /// set-mtime, link…); the path, when the operation has one first, for logs.
    Changing {
        op: Opcode,
    },
    /// Anything else the device does not implement.
    Unsupported {
        op: Opcode,
    },
}

impl DeviceRequest {
    #[cfg(feature = "mock")]
    /// Whether a FileRefOpen in this mode could modify the file (modes 2–6 all write or create).
    pub(crate) fn open_mode_writes(mode: u64) -> bool {
        mode != OPEN_MODE_READ
    }
}

/// The NUL-terminated UTF-8 path starting at `at`.
fn path_at(op: Opcode, body: &[u8], at: usize) -> Result<String, AfcProtocolError> {
    let rest = body.get(at..).ok_or(AfcProtocolError::ShortBody {
        op,
        need: at,
        got: body.len(),
    })?;
    let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    String::from_utf8(rest[..end].to_vec()).map_err(|_| AfcProtocolError::NotUtf8 {
        context: "request path",
    })
}

/// Decode a host's request. Errors mean the request is malformed (answer INVALID_ARG).
pub fn parse_request(packet: &Packet) -> Result<DeviceRequest, AfcProtocolError> {
    let op = packet.operation;
    let body = &packet.body[..];
    Ok(match op {
        Opcode::ReadDir => DeviceRequest::ReadDir {
            path: path_at(op, body, 0)?,
        },
        Opcode::GetFileInfo => DeviceRequest::GetFileInfo {
            path: path_at(op, body, 0)?,
        },
        Opcode::GetDeviceInfo => DeviceRequest::GetDeviceInfo,
        Opcode::FileRefOpen => DeviceRequest::FileRefOpen {
            mode: body_u64(op, body, 0)?,
            path: path_at(op, body, 8)?,
        },
        Opcode::FileRefRead => DeviceRequest::FileRefRead {
            handle: body_u64(op, body, 0)?,
            len: body_u64(op, body, 1)?,
        },
        Opcode::FileRefSeek => DeviceRequest::FileRefSeek {
            handle: body_u64(op, body, 0)?,
            whence: body_u64(op, body, 1)?,
            offset: body_u64(op, body, 2)? as i64,
        },
        Opcode::FileRefTell => DeviceRequest::FileRefTell {
            handle: body_u64(op, body, 0)?,
        },
        Opcode::FileRefClose => DeviceRequest::FileRefClose {
            handle: body_u64(op, body, 0)?,
        },
        op if op.changes_phone() => DeviceRequest::Changing { op },
        op => DeviceRequest::Unsupported { op },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::afc::codec::{MAX_BODY_LEN, decode_packet, encode_packet};
    use crate::afc::messages::{HostRequest, Whence};
    use bytes::BytesMut;

    fn roundtrip(req: HostRequest<'_>) -> DeviceRequest {
        let mut buf = BytesMut::from(&req.encode(4).unwrap()[..]);
        parse_request(&decode_packet(&mut buf, MAX_BODY_LEN).unwrap().unwrap()).unwrap()
    }

    #[test]
    fn host_requests_decode_on_the_device() {
        assert_eq!(
            roundtrip(HostRequest::ReadDir { path: "/DCIM" }),
            DeviceRequest::ReadDir {
                path: "/DCIM".into()
            }
        );
        assert_eq!(
            roundtrip(HostRequest::OpenRead { path: "a/b" }),
            DeviceRequest::FileRefOpen {
                mode: 1,
                path: "a/b".into()
            }
        );
        assert_eq!(
            roundtrip(HostRequest::Seek {
                handle: 2,
                whence: Whence::End,
                offset: -5
            }),
            DeviceRequest::FileRefSeek {
                handle: 2,
                whence: 2,
                offset: -5
            }
        );
        assert_eq!(
            roundtrip(HostRequest::Read { handle: 2, len: 9 }),
            DeviceRequest::FileRefRead { handle: 2, len: 9 }
        );
        assert_eq!(
            roundtrip(HostRequest::Tell { handle: 7 }),
            DeviceRequest::FileRefTell { handle: 7 }
        );
        assert_eq!(
            roundtrip(HostRequest::GetDeviceInfo),
            DeviceRequest::GetDeviceInfo
        );
    }

    #[test]
    fn changing_and_malformed_requests() {
        let p = |op, body: &[u8]| {
            let mut buf = BytesMut::from(&encode_packet(1, op, body)[..]);
            parse_request(&decode_packet(&mut buf, MAX_BODY_LEN).unwrap().unwrap())
        };
        assert_eq!(
            p(Opcode::RemovePath, b"DCIM\0"),
            Ok(DeviceRequest::Changing {
                op: Opcode::RemovePath
            })
        );
        assert_eq!(
            p(Opcode::GetFileHash, b"x\0"),
            Ok(DeviceRequest::Unsupported {
                op: Opcode::GetFileHash
            })
        );
        assert!(matches!(
            p(Opcode::FileRefRead, &[1, 2, 3]),
            Err(AfcProtocolError::ShortBody { .. })
        ));
        assert!(matches!(
            p(Opcode::GetFileInfo, b"\xff\0"),
            Err(AfcProtocolError::NotUtf8 { .. })
        ));
        assert!(DeviceRequest::open_mode_writes(3));
        assert!(!DeviceRequest::open_mode_writes(1));
    }
}
