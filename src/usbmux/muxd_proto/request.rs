//! What a client asks the daemon: the request enum, who is asking (`ClientInfo`), and both
//! directions of its codec (the client encodes, the daemon decodes).

use plist::{Dictionary, Value};

use super::fields::{get_str, get_u32, get_u64, parse_dict};
use super::frame::{Frame, ProtoError, VERSION_BINARY, VERSION_PLIST, message};

/// The `kLibUSBMuxVersion` real clients send.
pub(crate) const LIBUSBMUX_VERSION: u64 = 3;

/// Who is asking: sent with every plist request, as real clients do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub prog_name: String,
    pub client_version: String,
}

impl Default for ClientInfo {
    fn default() -> Self {
        ClientInfo {
            prog_name: "iphone-import".into(),
            client_version: concat!("iphone-import ", env!("CARGO_PKG_VERSION")).into(),
        }
    }
}

/// A request to the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    ListDevices,
    Listen,
    /// `port` in host order; on the wire it travels as `htons(port)`.
    Connect {
        device_id: u32,
        port: u16,
    },
    ReadBuid,
    ReadPairRecord {
        udid: String,
    },
    SavePairRecord {
        udid: String,
        device_id: Option<u32>,
        data: Vec<u8>,
    },
    DeletePairRecord {
        udid: String,
    },
    ListListeners,
    /// Anything else a client sent; the daemon answers BADCOMMAND.
    Unknown(String),
}

impl Request {
    fn message_type(&self) -> &str {
        match self {
            Request::ListDevices => "ListDevices",
            Request::Listen => "Listen",
            Request::Connect { .. } => "Connect",
            Request::ReadBuid => "ReadBUID",
            Request::ReadPairRecord { .. } => "ReadPairRecord",
            Request::SavePairRecord { .. } => "SavePairRecord",
            Request::DeletePairRecord { .. } => "DeletePairRecord",
            Request::ListListeners => "ListListeners",
            Request::Unknown(name) => name,
        }
    }

    /// The plist request (version 1, message 8), as libusbmuxd builds it.
    pub fn encode_plist(&self, tag: u32, client: &ClientInfo) -> Vec<u8> {
        let mut d = Dictionary::new();
        d.insert(
            "ClientVersionString".into(),
            client.client_version.clone().into(),
        );
        d.insert("MessageType".into(), self.message_type().into());
        d.insert("ProgName".into(), client.prog_name.clone().into());
        d.insert("kLibUSBMuxVersion".into(), LIBUSBMUX_VERSION.into());
        match self {
            Request::Connect { device_id, port } => {
                d.insert("DeviceID".into(), u64::from(*device_id).into());
                // htons(port), as every client sends and usbmuxd undoes with ntohs.
                d.insert("PortNumber".into(), u64::from(port.to_be()).into());
            }
            Request::ReadPairRecord { udid } | Request::DeletePairRecord { udid } => {
                d.insert("PairRecordID".into(), udid.clone().into());
            }
            Request::SavePairRecord {
                udid,
                device_id,
                data,
            } => {
                d.insert("PairRecordID".into(), udid.clone().into());
                d.insert("PairRecordData".into(), Value::Data(data.clone()));
                if let Some(id) = device_id {
                    d.insert("DeviceID".into(), u64::from(*id).into());
                }
            }
            _ => {}
        }
        Frame::plist(tag, d).encode()
    }

    /// The binary (version 0) form; only Listen and Connect exist in it.
    pub fn encode_binary(&self, tag: u32) -> Option<Vec<u8>> {
        match self {
            Request::Listen => Some(Frame::binary(message::LISTEN, tag, Vec::new()).encode()),
            Request::Connect { device_id, port } => {
                let mut body = Vec::with_capacity(8);
                body.extend_from_slice(&device_id.to_le_bytes());
                body.extend_from_slice(&port.to_be_bytes());
                body.extend_from_slice(&[0, 0]);
                Some(Frame::binary(message::CONNECT, tag, body).encode())
            }
            _ => None,
        }
    }

    /// Decode a client's request. `Err(BadVersion)` means: answer RESULT 6 in binary.
    pub fn decode(frame: &Frame) -> Result<Request, ProtoError> {
        match (frame.version, frame.message) {
            (VERSION_PLIST, message::PLIST) => {
                let dict = parse_dict(&frame.payload)?;
                Request::from_plist(&dict)
            }
            (VERSION_PLIST, other) => Ok(Request::Unknown(format!("plist message type {other}"))),
            (VERSION_BINARY, message::LISTEN) => Ok(Request::Listen),
            (VERSION_BINARY, message::CONNECT) => {
                let p = &frame.payload;
                if p.len() != 8 {
                    return Err(ProtoError::BadBinaryBody {
                        message: message::CONNECT,
                        len: p.len(),
                        expected: 8,
                    });
                }
                let device_id = u32::from_le_bytes([p[0], p[1], p[2], p[3]]);
                let port = u16::from_be_bytes([p[4], p[5]]);
                Ok(Request::Connect { device_id, port })
            }
            (VERSION_BINARY, other) => Ok(Request::Unknown(format!("binary message type {other}"))),
            (version, _) => Err(ProtoError::BadVersion(version)),
        }
    }

    fn from_plist(d: &Dictionary) -> Result<Request, ProtoError> {
        const CX: &str = "request";
        let kind = get_str(d, "MessageType").ok_or(ProtoError::MissingKey {
            context: CX,
            key: "MessageType",
        })?;
        let udid = || {
            get_str(d, "PairRecordID")
                .map(str::to_string)
                .ok_or(ProtoError::MissingKey {
                    context: CX,
                    key: "PairRecordID",
                })
        };
        Ok(match kind {
            "ListDevices" => Request::ListDevices,
            "Listen" => Request::Listen,
            "ReadBUID" => Request::ReadBuid,
            "ListListeners" => Request::ListListeners,
            "Connect" => {
                let device_id = get_u32(d, "DeviceID").ok_or(ProtoError::MissingKey {
                    context: CX,
                    key: "DeviceID",
                })?;
                let raw = get_u64(d, "PortNumber")
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or(ProtoError::MissingKey {
                        context: CX,
                        key: "PortNumber",
                    })?;
                Request::Connect {
                    device_id,
                    port: u16::from_be(raw),
                }
            }
            "ReadPairRecord" => Request::ReadPairRecord { udid: udid()? },
            "DeletePairRecord" => Request::DeletePairRecord { udid: udid()? },
            "SavePairRecord" => {
                let data = match d.get("PairRecordData") {
                    Some(Value::Data(data)) => data.clone(),
                    _ => {
                        return Err(ProtoError::MissingKey {
                            context: CX,
                            key: "PairRecordData",
                        });
                    }
                };
                Request::SavePairRecord {
                    udid: udid()?,
                    device_id: get_u32(d, "DeviceID"),
                    data,
                }
            }
            other => Request::Unknown(other.to_string()),
        })
    }
}
