//! The usbmuxd socket protocol, sans I/O, in both roles: the client (our `muxd` driver) and the
//! daemon (the simulated iPhone's usbmuxd-compatible front).
//!
//! Every message is a 16-byte little-endian header (length including the header, version
//! 0 = binary / 1 = plist, message type, tag) and a body. Plist messages (type 8) carry an XML
//! dictionary; binary ones carry fixed records. Bytes in, typed requests/replies out, and back.
//! Both peers are untrusted: lengths are checked against [`MAX_MESSAGE_LEN`] before any buffer
//! grows, and nothing here panics on garbage.

use plist::{Dictionary, Value};

use crate::untrusted::plist::{Limits, PlistError, decode_dict};

/// Size of the message header.
pub const HEADER_LEN: usize = 16;
/// Largest message we accept. Real messages are a few KiB (a pair record is the biggest);
/// anything larger is garbage or hostile and is refused before allocating.
pub const MAX_MESSAGE_LEN: usize = 1 << 20;
/// Deepest plist nesting we accept (real messages nest three levels).
pub const MAX_PLIST_DEPTH: usize = 16;
/// The `kLibUSBMuxVersion` real clients send.
pub const LIBUSBMUX_VERSION: u64 = 3;

/// Header versions.
pub const VERSION_BINARY: u32 = 0;
pub const VERSION_PLIST: u32 = 1;

/// Header message types.
pub mod message {
    pub const RESULT: u32 = 1;
    pub const CONNECT: u32 = 2;
    pub const LISTEN: u32 = 3;
    pub const DEVICE_ADD: u32 = 4;
    pub const DEVICE_REMOVE: u32 = 5;
    pub const DEVICE_PAIRED: u32 = 6;
    pub const PLIST: u32 = 8;
}

/// Length of the binary DEVICE_ADD record: id, product id, serial[256], padding, location.
pub const DEVICE_RECORD_LEN: usize = 4 + 2 + 256 + 2 + 4;

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
pub struct Header {
    /// Whole message length, header included.
    pub length: u32,
    pub version: u32,
    pub message: u32,
    pub tag: u32,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&self.length.to_le_bytes());
        out[4..8].copy_from_slice(&self.version.to_le_bytes());
        out[8..12].copy_from_slice(&self.message.to_le_bytes());
        out[12..16].copy_from_slice(&self.tag.to_le_bytes());
        out
    }

    /// Parse and bound-check a header.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Header, ProtoError> {
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

    fn plist(tag: u32, dict: Dictionary) -> Frame {
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

    fn binary(message: u32, tag: u32, payload: Vec<u8>) -> Frame {
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

    /// Bytes received but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
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

/// usbmuxd result codes. Pair-record commands reuse errno values (2 = ENOENT: no record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultCode {
    Ok,
    BadCommand,
    /// No such device; also ENOENT (no pair record) for pair-record requests.
    BadDevice,
    ConnectionRefused,
    BadVersion,
    Other(u32),
}

impl ResultCode {
    pub fn from_u32(n: u32) -> ResultCode {
        match n {
            0 => ResultCode::Ok,
            1 => ResultCode::BadCommand,
            2 => ResultCode::BadDevice,
            3 => ResultCode::ConnectionRefused,
            6 => ResultCode::BadVersion,
            n => ResultCode::Other(n),
        }
    }

    pub fn as_u32(self) -> u32 {
        match self {
            ResultCode::Ok => 0,
            ResultCode::BadCommand => 1,
            ResultCode::BadDevice => 2,
            ResultCode::ConnectionRefused => 3,
            ResultCode::BadVersion => 6,
            ResultCode::Other(n) => n,
        }
    }
}

/// A device as the daemon describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub device_id: u32,
    /// The UDID as the daemon reports it (usbmuxd: SerialNumber).
    pub serial_number: String,
    /// 0 when unknown (network devices).
    pub product_id: u16,
    pub location_id: Option<u32>,
    pub connection_speed: Option<u64>,
    /// "USB" or "Network".
    pub connection_type: String,
}

impl DeviceRecord {
    fn to_plist(&self) -> Dictionary {
        let mut props = Dictionary::new();
        if let Some(speed) = self.connection_speed {
            props.insert("ConnectionSpeed".into(), speed.into());
        }
        props.insert("ConnectionType".into(), self.connection_type.clone().into());
        props.insert("DeviceID".into(), u64::from(self.device_id).into());
        if let Some(loc) = self.location_id {
            props.insert("LocationID".into(), u64::from(loc).into());
        }
        props.insert("ProductID".into(), u64::from(self.product_id).into());
        props.insert("SerialNumber".into(), self.serial_number.clone().into());
        let mut d = Dictionary::new();
        d.insert("DeviceID".into(), u64::from(self.device_id).into());
        d.insert("MessageType".into(), "Attached".into());
        d.insert("Properties".into(), Value::Dictionary(props));
        d
    }

    fn from_plist(d: &Dictionary) -> Result<DeviceRecord, ProtoError> {
        const CX: &str = "device record";
        let props = d
            .get("Properties")
            .and_then(Value::as_dictionary)
            .unwrap_or(d);
        let device_id = get_u32(d, "DeviceID")
            .or_else(|| get_u32(props, "DeviceID"))
            .ok_or(ProtoError::MissingKey {
                context: CX,
                key: "DeviceID",
            })?;
        let serial_number = get_str(props, "SerialNumber")
            .ok_or(ProtoError::MissingKey {
                context: CX,
                key: "SerialNumber",
            })?
            .to_string();
        Ok(DeviceRecord {
            device_id,
            serial_number,
            product_id: get_u64(props, "ProductID")
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(0),
            location_id: get_u32(props, "LocationID"),
            connection_speed: get_u64(props, "ConnectionSpeed"),
            connection_type: get_str(props, "ConnectionType")
                .unwrap_or("USB")
                .to_string(),
        })
    }

    fn to_binary(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(DEVICE_RECORD_LEN);
        out.extend_from_slice(&self.device_id.to_le_bytes());
        out.extend_from_slice(&self.product_id.to_le_bytes());
        let mut serial = [0u8; 256];
        // Keep a terminating NUL, as the C struct does.
        let bytes = self.serial_number.as_bytes();
        let n = bytes.len().min(255);
        serial[..n].copy_from_slice(&bytes[..n]);
        out.extend_from_slice(&serial);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.location_id.unwrap_or(0).to_le_bytes());
        out
    }

    fn from_binary(p: &[u8]) -> Result<DeviceRecord, ProtoError> {
        if p.len() != DEVICE_RECORD_LEN {
            return Err(ProtoError::BadBinaryBody {
                message: message::DEVICE_ADD,
                len: p.len(),
                expected: DEVICE_RECORD_LEN,
            });
        }
        let serial = &p[6..262];
        let end = serial.iter().position(|&b| b == 0).unwrap_or(serial.len());
        Ok(DeviceRecord {
            device_id: u32::from_le_bytes([p[0], p[1], p[2], p[3]]),
            product_id: u16::from_le_bytes([p[4], p[5]]),
            serial_number: String::from_utf8_lossy(&serial[..end]).into_owned(),
            location_id: Some(u32::from_le_bytes([p[264], p[265], p[266], p[267]])),
            connection_speed: None,
            connection_type: "USB".into(),
        })
    }
}

/// Device arrivals and departures, sent to Listen clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceEvent {
    Attached(DeviceRecord),
    Detached { device_id: u32 },
    Paired { device_id: u32 },
}

/// A daemon's answer (or, on a Listen socket, an unsolicited event).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Result(ResultCode),
    DeviceList(Vec<DeviceRecord>),
    Buid(String),
    PairRecordData(Vec<u8>),
    ListenerList(Vec<Dictionary>),
    Event(DeviceEvent),
}

impl Reply {
    /// XML plist form (libusbmuxd parses replies only as XML). Tag 0 for unsolicited events.
    pub fn encode_plist(&self, tag: u32) -> Vec<u8> {
        let mut d = Dictionary::new();
        match self {
            Reply::Result(code) => {
                d.insert("MessageType".into(), "Result".into());
                d.insert("Number".into(), u64::from(code.as_u32()).into());
            }
            Reply::DeviceList(devices) => {
                let list = devices
                    .iter()
                    .map(|dev| Value::Dictionary(dev.to_plist()))
                    .collect();
                d.insert("DeviceList".into(), Value::Array(list));
            }
            Reply::Buid(buid) => {
                d.insert("BUID".into(), buid.clone().into());
            }
            Reply::PairRecordData(data) => {
                d.insert("PairRecordData".into(), Value::Data(data.clone()));
            }
            Reply::ListenerList(list) => {
                let list = list.iter().cloned().map(Value::Dictionary).collect();
                d.insert("ListenerList".into(), Value::Array(list));
            }
            Reply::Event(DeviceEvent::Attached(dev)) => d = dev.to_plist(),
            Reply::Event(DeviceEvent::Detached { device_id }) => {
                d.insert("DeviceID".into(), u64::from(*device_id).into());
                d.insert("MessageType".into(), "Detached".into());
            }
            Reply::Event(DeviceEvent::Paired { device_id }) => {
                d.insert("DeviceID".into(), u64::from(*device_id).into());
                d.insert("MessageType".into(), "Paired".into());
            }
        }
        Frame::plist(tag, d).encode()
    }

    /// Binary form, for version-0 clients: results and events only.
    pub fn encode_binary(&self, tag: u32) -> Option<Vec<u8>> {
        let (msg, body) = match self {
            Reply::Result(code) => (message::RESULT, code.as_u32().to_le_bytes().to_vec()),
            Reply::Event(DeviceEvent::Attached(dev)) => (message::DEVICE_ADD, dev.to_binary()),
            Reply::Event(DeviceEvent::Detached { device_id }) => {
                (message::DEVICE_REMOVE, device_id.to_le_bytes().to_vec())
            }
            Reply::Event(DeviceEvent::Paired { device_id }) => {
                (message::DEVICE_PAIRED, device_id.to_le_bytes().to_vec())
            }
            _ => return None,
        };
        Some(Frame::binary(msg, tag, body).encode())
    }

    /// Decode a daemon's message, plist or binary.
    pub fn decode(frame: &Frame) -> Result<Reply, ProtoError> {
        match (frame.version, frame.message) {
            (VERSION_PLIST, message::PLIST) => Reply::from_plist(&parse_dict(&frame.payload)?),
            (VERSION_BINARY, message::RESULT) => {
                Ok(Reply::Result(ResultCode::from_u32(binary_u32(frame)?)))
            }
            (VERSION_BINARY, message::DEVICE_ADD) => Ok(Reply::Event(DeviceEvent::Attached(
                DeviceRecord::from_binary(&frame.payload)?,
            ))),
            (VERSION_BINARY, message::DEVICE_REMOVE) => Ok(Reply::Event(DeviceEvent::Detached {
                device_id: binary_u32(frame)?,
            })),
            (VERSION_BINARY, message::DEVICE_PAIRED) => Ok(Reply::Event(DeviceEvent::Paired {
                device_id: binary_u32(frame)?,
            })),
            (version, message) => Err(ProtoError::Unexpected { version, message }),
        }
    }

    fn from_plist(d: &Dictionary) -> Result<Reply, ProtoError> {
        const CX: &str = "reply";
        match get_str(d, "MessageType") {
            Some("Result") => {
                let n = get_u32(d, "Number").ok_or(ProtoError::MissingKey {
                    context: CX,
                    key: "Number",
                })?;
                Ok(Reply::Result(ResultCode::from_u32(n)))
            }
            Some("Attached") => Ok(Reply::Event(DeviceEvent::Attached(
                DeviceRecord::from_plist(d)?,
            ))),
            Some("Detached") => {
                let device_id = get_u32(d, "DeviceID").ok_or(ProtoError::MissingKey {
                    context: CX,
                    key: "DeviceID",
                })?;
                Ok(Reply::Event(DeviceEvent::Detached { device_id }))
            }
            Some("Paired") => {
                let device_id = get_u32(d, "DeviceID").ok_or(ProtoError::MissingKey {
                    context: CX,
                    key: "DeviceID",
                })?;
                Ok(Reply::Event(DeviceEvent::Paired { device_id }))
            }
            Some(_) => Err(ProtoError::MissingKey {
                context: CX,
                key: "known MessageType",
            }),
            None => {
                if let Some(list) = d.get("DeviceList") {
                    let list = list.as_array().ok_or(ProtoError::MissingKey {
                        context: CX,
                        key: "DeviceList",
                    })?;
                    let mut devices = Vec::with_capacity(list.len());
                    for entry in list {
                        let entry = entry.as_dictionary().ok_or(ProtoError::MissingKey {
                            context: CX,
                            key: "DeviceList entry",
                        })?;
                        devices.push(DeviceRecord::from_plist(entry)?);
                    }
                    Ok(Reply::DeviceList(devices))
                } else if let Some(buid) = get_str(d, "BUID") {
                    Ok(Reply::Buid(buid.to_string()))
                } else if let Some(Value::Data(data)) = d.get("PairRecordData") {
                    Ok(Reply::PairRecordData(data.clone()))
                } else if let Some(Value::Array(list)) = d.get("ListenerList") {
                    Ok(Reply::ListenerList(
                        list.iter()
                            .filter_map(|v| v.as_dictionary().cloned())
                            .collect(),
                    ))
                } else {
                    Err(ProtoError::MissingKey {
                        context: CX,
                        key: "MessageType or result key",
                    })
                }
            }
        }
    }
}

fn binary_u32(frame: &Frame) -> Result<u32, ProtoError> {
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
fn parse_dict(payload: &[u8]) -> Result<Dictionary, ProtoError> {
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

fn get_str<'a>(d: &'a Dictionary, key: &str) -> Option<&'a str> {
    d.get(key).and_then(Value::as_string)
}

fn get_u64(d: &Dictionary, key: &str) -> Option<u64> {
    d.get(key).and_then(Value::as_unsigned_integer)
}

fn get_u32(d: &Dictionary, key: &str) -> Option<u32> {
    get_u64(d, key).and_then(|n| u32::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n<dict>\n";

    /// A captured request: header hex as printed in usbmux_client_packets.txt, then the XML body
    /// (tab-indented key/value lines).
    fn captured(header_hex: &str, lines: &[&str], total: usize) -> Vec<u8> {
        let mut bytes: Vec<u8> = header_hex
            .split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect();
        let mut xml = String::from(XML_HEAD);
        for line in lines {
            xml.push('\t');
            xml.push_str(line);
            xml.push('\n');
        }
        xml.push_str("</dict>\n</plist>\n");
        bytes.extend_from_slice(xml.as_bytes());
        assert_eq!(bytes.len(), total, "test vector rebuilt wrongly");
        bytes
    }

    fn decode_all(bytes: &[u8]) -> Vec<Frame> {
        let mut d = FrameDecoder::new();
        d.feed(bytes);
        let mut frames = Vec::new();
        while let Some(f) = d.next_frame().unwrap() {
            frames.push(f);
        }
        assert_eq!(d.buffered(), 0);
        frames
    }

    fn one_request(bytes: &[u8]) -> (u32, Request) {
        let frames = decode_all(bytes);
        assert_eq!(frames.len(), 1);
        (frames[0].tag, Request::decode(&frames[0]).unwrap())
    }

    #[test]
    fn pmd3_bare_readbuid_probe_decodes() {
        let bytes = captured(
            "ff 00 00 00 01 00 00 00 08 00 00 00 01 00 00 00",
            &["<key>MessageType</key>", "<string>ReadBUID</string>"],
            255,
        );
        assert_eq!(one_request(&bytes), (1, Request::ReadBuid));
    }

    #[test]
    fn pmd3_list_devices_and_connect_decode() {
        let list = captured(
            "ac 01 00 00 01 00 00 00 08 00 00 00 01 00 00 00",
            &[
                "<key>ClientVersionString</key>",
                "<string>qt4i-usbmuxd</string>",
                "<key>MessageType</key>",
                "<string>ListDevices</string>",
                "<key>ProgName</key>",
                "<string>pymobiledevice3</string>",
                "<key>kLibUSBMuxVersion</key>",
                "<integer>3</integer>",
            ],
            428,
        );
        assert_eq!(one_request(&list), (1, Request::ListDevices));
        let connect = captured(
            "04 02 00 00 01 00 00 00 08 00 00 00 01 00 00 00",
            &[
                "<key>ClientVersionString</key>",
                "<string>qt4i-usbmuxd</string>",
                "<key>DeviceID</key>",
                "<integer>7</integer>",
                "<key>MessageType</key>",
                "<string>Connect</string>",
                "<key>PortNumber</key>",
                "<integer>32498</integer>",
                "<key>ProgName</key>",
                "<string>pymobiledevice3</string>",
                "<key>kLibUSBMuxVersion</key>",
                "<integer>3</integer>",
            ],
            516,
        );
        // 32498 on the wire is htons(62078): lockdown.
        assert_eq!(
            one_request(&connect),
            (
                1,
                Request::Connect {
                    device_id: 7,
                    port: 62078
                }
            )
        );
    }

    #[test]
    fn libusbmuxd_requests_decode_even_when_coalesced() {
        let list = captured(
            "ac 01 00 00 01 00 00 00 08 00 00 00 01 00 00 00",
            &[
                "<key>ClientVersionString</key>",
                "<string>libusbmuxd 2.0.2</string>",
                "<key>MessageType</key>",
                "<string>ListDevices</string>",
                "<key>ProgName</key>",
                "<string>ideviceinfo</string>",
                "<key>kLibUSBMuxVersion</key>",
                "<integer>3</integer>",
            ],
            428,
        );
        let connect = captured(
            "04 02 00 00 01 00 00 00 08 00 00 00 02 00 00 00",
            &[
                "<key>ClientVersionString</key>",
                "<string>libusbmuxd 2.0.2</string>",
                "<key>MessageType</key>",
                "<string>Connect</string>",
                "<key>ProgName</key>",
                "<string>ideviceinfo</string>",
                "<key>kLibUSBMuxVersion</key>",
                "<integer>3</integer>",
                "<key>DeviceID</key>",
                "<integer>7</integer>",
                "<key>PortNumber</key>",
                "<integer>32498</integer>",
            ],
            516,
        );
        let both = [list, connect].concat();
        // Byte by byte: the decoder must reassemble across any split.
        let mut d = FrameDecoder::new();
        let mut frames = Vec::new();
        for b in &both {
            assert!(d.wanted() >= 1);
            d.feed(std::slice::from_ref(b));
            while let Some(f) = d.next_frame().unwrap() {
                frames.push(f);
            }
        }
        let decoded: Vec<_> = frames
            .iter()
            .map(|f| (f.tag, Request::decode(f).unwrap()))
            .collect();
        assert_eq!(
            decoded,
            vec![
                (1, Request::ListDevices),
                (
                    2,
                    Request::Connect {
                        device_id: 7,
                        port: 62078
                    }
                )
            ]
        );
    }

    #[test]
    fn wanted_never_reaches_past_the_frame() {
        let bytes = Request::ReadBuid.encode_plist(5, &ClientInfo::default());
        let mut d = FrameDecoder::new();
        assert_eq!(d.wanted(), HEADER_LEN);
        d.feed(&bytes[..HEADER_LEN]);
        assert_eq!(d.next_frame().unwrap(), None);
        assert_eq!(d.wanted(), bytes.len() - HEADER_LEN);
        d.feed(&bytes[HEADER_LEN..]);
        assert!(d.next_frame().unwrap().is_some());
        assert_eq!(d.wanted(), HEADER_LEN);
    }

    #[test]
    fn every_request_round_trips_through_plist() {
        let client = ClientInfo {
            prog_name: "t".into(),
            client_version: "v".into(),
        };
        let requests = vec![
            Request::ListDevices,
            Request::Listen,
            Request::Connect {
                device_id: 3,
                port: 49152,
            },
            Request::ReadBuid,
            Request::ReadPairRecord {
                udid: "00008030-001A2B3C4D5E802E".into(),
            },
            Request::SavePairRecord {
                udid: "U".into(),
                device_id: Some(9),
                data: b"<plist/>".to_vec(),
            },
            Request::SavePairRecord {
                udid: "U".into(),
                device_id: None,
                data: vec![0, 1, 2],
            },
            Request::DeletePairRecord { udid: "U".into() },
            Request::ListListeners,
        ];
        for (tag, req) in requests.into_iter().enumerate() {
            let bytes = req.encode_plist(tag as u32, &client);
            let frames = decode_all(&bytes);
            assert_eq!(frames[0].version, VERSION_PLIST);
            assert_eq!(frames[0].message, message::PLIST);
            assert_eq!(
                (frames[0].tag, Request::decode(&frames[0]).unwrap()),
                (tag as u32, req)
            );
            let dict = parse_dict(&frames[0].payload).unwrap();
            assert_eq!(
                dict.get("kLibUSBMuxVersion")
                    .and_then(Value::as_unsigned_integer),
                Some(3)
            );
            assert_eq!(dict.get("ProgName").and_then(Value::as_string), Some("t"));
        }
    }

    #[test]
    fn connect_port_travels_in_network_order() {
        let bytes = Request::Connect {
            device_id: 1,
            port: 49152,
        }
        .encode_plist(1, &ClientInfo::default());
        let dict = parse_dict(&decode_all(&bytes)[0].payload).unwrap();
        assert_eq!(
            dict.get("PortNumber").and_then(Value::as_unsigned_integer),
            Some(192)
        );

        let bin = Request::Connect {
            device_id: 7,
            port: 62078,
        }
        .encode_binary(4)
        .unwrap();
        assert_eq!(
            bin,
            [
                &[24, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0][..],
                &[7, 0, 0, 0, 0xf2, 0x7e, 0, 0]
            ]
            .concat()
        );
        let frame = &decode_all(&bin)[0];
        assert_eq!(
            Request::decode(frame).unwrap(),
            Request::Connect {
                device_id: 7,
                port: 62078
            }
        );
        let listen = Request::Listen.encode_binary(1).unwrap();
        assert_eq!(
            Request::decode(&decode_all(&listen)[0]).unwrap(),
            Request::Listen
        );
        assert_eq!(Request::ListDevices.encode_binary(1), None);
    }

    fn record(id: u32) -> DeviceRecord {
        DeviceRecord {
            device_id: id,
            serial_number: "00008030-001A2B3C4D5E802E".into(),
            product_id: 0x12a8,
            location_id: Some(0x0112_0000),
            connection_speed: Some(480_000_000),
            connection_type: "USB".into(),
        }
    }

    #[test]
    fn every_reply_round_trips_as_xml_with_its_tag() {
        let mut listener = Dictionary::new();
        listener.insert("ID String".into(), "1".into());
        let replies = vec![
            Reply::Result(ResultCode::Ok),
            Reply::Result(ResultCode::BadCommand),
            Reply::Result(ResultCode::BadDevice),
            Reply::Result(ResultCode::ConnectionRefused),
            Reply::Result(ResultCode::BadVersion),
            Reply::Result(ResultCode::Other(22)),
            Reply::DeviceList(vec![record(1), record(2)]),
            Reply::DeviceList(vec![]),
            Reply::Buid("5A0A1B2C-3D4E-5F60-7182-93A4B5C6D7E8".into()),
            Reply::PairRecordData(b"record".to_vec()),
            Reply::ListenerList(vec![listener]),
            Reply::Event(DeviceEvent::Attached(record(3))),
            Reply::Event(DeviceEvent::Detached { device_id: 3 }),
            Reply::Event(DeviceEvent::Paired { device_id: 3 }),
        ];
        for (tag, reply) in replies.into_iter().enumerate() {
            let bytes = reply.encode_plist(tag as u32);
            assert!(
                bytes[HEADER_LEN..].starts_with(b"<?xml"),
                "replies must be XML"
            );
            let frame = &decode_all(&bytes)[0];
            assert_eq!(frame.tag, tag as u32);
            assert_eq!(Reply::decode(frame).unwrap(), reply);
        }
    }

    #[test]
    fn replies_use_only_message_types_libusbmuxd_knows() {
        let allowed = ["Result", "Attached", "Detached", "Paired"];
        for reply in [
            Reply::Result(ResultCode::Ok),
            Reply::DeviceList(vec![record(1)]),
            Reply::Buid("B".into()),
            Reply::PairRecordData(vec![1]),
            Reply::Event(DeviceEvent::Paired { device_id: 1 }),
        ] {
            let dict = parse_dict(&reply.encode_plist(1)[HEADER_LEN..]).unwrap();
            if let Some(t) = dict.get("MessageType").and_then(Value::as_string) {
                assert!(allowed.contains(&t), "{t}");
            }
        }
    }

    #[test]
    fn list_devices_reply_has_the_properties_clients_read() {
        let dict =
            parse_dict(&Reply::DeviceList(vec![record(7)]).encode_plist(1)[HEADER_LEN..]).unwrap();
        let entry = dict["DeviceList"].as_array().unwrap()[0]
            .as_dictionary()
            .unwrap();
        assert_eq!(entry["MessageType"].as_string(), Some("Attached"));
        assert_eq!(entry["DeviceID"].as_unsigned_integer(), Some(7));
        let props = entry["Properties"].as_dictionary().unwrap();
        let keys: Vec<_> = props.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "ConnectionSpeed",
                "ConnectionType",
                "DeviceID",
                "LocationID",
                "ProductID",
                "SerialNumber"
            ]
        );
        assert_eq!(props["ProductID"].as_unsigned_integer(), Some(4776));
        assert_eq!(
            props["SerialNumber"].as_string(),
            Some("00008030-001A2B3C4D5E802E")
        );
    }

    #[test]
    fn binary_events_round_trip() {
        for reply in [
            Reply::Result(ResultCode::ConnectionRefused),
            Reply::Event(DeviceEvent::Attached(DeviceRecord {
                connection_speed: None,
                ..record(5)
            })),
            Reply::Event(DeviceEvent::Detached { device_id: 5 }),
            Reply::Event(DeviceEvent::Paired { device_id: 5 }),
        ] {
            let bytes = reply.encode_binary(9).unwrap();
            let frame = &decode_all(&bytes)[0];
            assert_eq!(frame.version, VERSION_BINARY);
            assert_eq!(Reply::decode(frame).unwrap(), reply);
        }
        let add = Reply::Event(DeviceEvent::Attached(record(5)))
            .encode_binary(0)
            .unwrap();
        assert_eq!(add.len(), HEADER_LEN + DEVICE_RECORD_LEN);
        assert_eq!(Reply::Buid("x".into()).encode_binary(1), None);
    }

    #[test]
    fn out_of_range_lengths_are_refused_before_buffering() {
        for len in [0u32, 15, (MAX_MESSAGE_LEN + 1) as u32, u32::MAX] {
            let mut bytes = Header {
                length: len,
                version: 1,
                message: 8,
                tag: 1,
            }
            .encode()
            .to_vec();
            bytes.extend_from_slice(&[0; 32]);
            let mut d = FrameDecoder::new();
            d.feed(&bytes);
            assert_eq!(d.next_frame(), Err(ProtoError::BadLength(len)));
            assert_eq!(d.buffered(), 0, "nothing kept after a bad header");
            // The error sticks: the stream has lost its framing.
            d.feed(&[0; 16]);
            assert!(d.next_frame().is_err());
        }
    }

    #[test]
    fn garbage_bodies_are_clean_errors() {
        let frame = |version, message, payload: &[u8]| Frame {
            version,
            message,
            tag: 1,
            payload: payload.to_vec(),
        };
        assert!(matches!(
            Request::decode(&frame(1, 8, b"not a plist")),
            Err(ProtoError::BadPlist(_))
        ));
        assert!(matches!(
            Request::decode(&frame(1, 8, b"")),
            Err(ProtoError::BadPlist(_))
        ));
        let array = Value::Array(vec![]);
        let mut xml = Vec::new();
        array.to_writer_xml(&mut xml).unwrap();
        assert!(matches!(
            Request::decode(&frame(1, 8, &xml)),
            Err(ProtoError::BadPlist(_))
        ));
        assert_eq!(
            Request::decode(&frame(2, 8, b"")),
            Err(ProtoError::BadVersion(2))
        );
        assert!(matches!(
            Request::decode(&frame(0, 2, &[1, 2, 3])),
            Err(ProtoError::BadBinaryBody { .. })
        ));
        assert!(matches!(
            Reply::decode(&frame(0, 4, &[0; 10])),
            Err(ProtoError::BadBinaryBody { .. })
        ));
        assert!(matches!(
            Reply::decode(&frame(0, 1, &[])),
            Err(ProtoError::BadBinaryBody { .. })
        ));
        assert!(matches!(
            Reply::decode(&frame(0, 99, &[])),
            Err(ProtoError::Unexpected { .. })
        ));

        // A Connect without a port, a port that is not 16 bits, an unknown reply type.
        let mut d = Dictionary::new();
        d.insert("MessageType".into(), "Connect".into());
        d.insert("DeviceID".into(), 1u64.into());
        let f = Frame::plist(1, d.clone());
        assert!(matches!(
            Request::decode(&f),
            Err(ProtoError::MissingKey {
                key: "PortNumber",
                ..
            })
        ));
        d.insert("PortNumber".into(), 70000u64.into());
        assert!(matches!(
            Request::decode(&Frame::plist(1, d)),
            Err(ProtoError::MissingKey { .. })
        ));
        let mut r = Dictionary::new();
        r.insert("MessageType".into(), "Surprise".into());
        assert!(Reply::decode(&Frame::plist(1, r)).is_err());
        // Unknown request types are not errors: the daemon answers them with BADCOMMAND.
        let mut u = Dictionary::new();
        u.insert("MessageType".into(), "Frobnicate".into());
        assert_eq!(
            Request::decode(&Frame::plist(1, u)).unwrap(),
            Request::Unknown("Frobnicate".into())
        );
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        // ~60k nested arrays fit in well under 1 MiB.
        let depth = 60_000;
        let mut xml = String::from("<?xml version=\"1.0\"?><plist version=\"1.0\">");
        xml.push_str(&"<array>".repeat(depth));
        xml.push_str(&"</array>".repeat(depth));
        xml.push_str("</plist>");
        assert!(xml.len() < MAX_MESSAGE_LEN);
        let frame = Frame {
            version: 1,
            message: 8,
            tag: 1,
            payload: xml.into_bytes(),
        };
        let result = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || Request::decode(&frame))
            .unwrap()
            .join()
            .expect("decoder thread must not crash");
        assert_eq!(result, Err(ProtoError::TooDeep));
    }

    #[test]
    fn random_bytes_never_panic() {
        // A deterministic xorshift stream: headers with small lengths so frames complete.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..2000 {
            let len = 16 + (next() % 64) as u32;
            let version = (next() % 3) as u32;
            let message = (next() % 10) as u32;
            let mut bytes = Header {
                length: len,
                version,
                message,
                tag: 1,
            }
            .encode()
            .to_vec();
            bytes.extend((0..len - 16).map(|_| next() as u8));
            let frame = &decode_all(&bytes)[0];
            let _ = Request::decode(frame);
            let _ = Reply::decode(frame);
        }
    }
}
