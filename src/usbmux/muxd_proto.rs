//! The usbmuxd socket protocol, sans I/O, in both roles: the client (our `muxd` driver) and the
//! daemon (the simulated iPhone's usbmuxd-compatible front).
//!
//! Every message is a 16-byte little-endian header (length including the header, version
//! 0 = binary / 1 = plist, message type, tag) and a body. Plist messages (type 8) carry an XML
//! dictionary; binary ones carry fixed records. Bytes in, typed requests/replies out, and back.
//! Both peers are untrusted: lengths are checked against [`MAX_MESSAGE_LEN`] before any buffer
//! grows, and nothing here panics on garbage.

use std::io::Cursor;

use plist::{Dictionary, Value};

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
    MissingKey { context: &'static str, key: &'static str },
    #[error("binary usbmuxd message type {message} has a {len}-byte body, expected {expected}")]
    BadBinaryBody { message: u32, len: usize, expected: usize },
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
        let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let header = Header { length: word(0), version: word(4), message: word(8), tag: word(12) };
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
        let header = Header { length, version: self.version, message: self.message, tag: self.tag };
        let mut out = Vec::with_capacity(length as usize);
        out.extend_from_slice(&header.encode());
        out.extend_from_slice(&self.payload);
        out
    }

    fn plist(tag: u32, dict: Dictionary) -> Frame {
        let mut payload = Vec::new();
        // Writing XML into a Vec cannot fail.
        let _ = Value::Dictionary(dict).to_writer_xml(&mut payload);
        Frame { version: VERSION_PLIST, message: message::PLIST, tag, payload }
    }

    fn binary(message: u32, tag: u32, payload: Vec<u8>) -> Frame {
        Frame { version: VERSION_BINARY, message, tag, payload }
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
            let Some(head) = self.buf.first_chunk::<HEADER_LEN>() else { return Ok(None) };
            match Header::decode(head) {
                Ok(h) => self.header = Some(h),
                Err(e) => {
                    self.buf = Vec::new();
                    self.failed = Some(e.clone());
                    return Err(e);
                }
            }
        }
        let Some(header) = self.header else { return Ok(None) };
        let len = header.length as usize;
        if self.buf.len() < len {
            return Ok(None);
        }
        let rest = self.buf.split_off(len);
        let mut whole = std::mem::replace(&mut self.buf, rest);
        let payload = whole.split_off(HEADER_LEN);
        self.header = None;
        Ok(Some(Frame { version: header.version, message: header.message, tag: header.tag, payload }))
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
    Connect { device_id: u32, port: u16 },
    ReadBuid,
    ReadPairRecord { udid: String },
    SavePairRecord { udid: String, device_id: Option<u32>, data: Vec<u8> },
    DeletePairRecord { udid: String },
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
        d.insert("ClientVersionString".into(), client.client_version.clone().into());
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
            Request::SavePairRecord { udid, device_id, data } => {
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
                    return Err(ProtoError::BadBinaryBody { message: message::CONNECT, len: p.len(), expected: 8 });
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
        let kind = get_str(d, "MessageType").ok_or(ProtoError::MissingKey { context: CX, key: "MessageType" })?;
        let udid = || {
            get_str(d, "PairRecordID")
                .map(str::to_string)
                .ok_or(ProtoError::MissingKey { context: CX, key: "PairRecordID" })
        };
        Ok(match kind {
            "ListDevices" => Request::ListDevices,
            "Listen" => Request::Listen,
            "ReadBUID" => Request::ReadBuid,
            "ListListeners" => Request::ListListeners,
            "Connect" => {
                let device_id = get_u32(d, "DeviceID").ok_or(ProtoError::MissingKey { context: CX, key: "DeviceID" })?;
                let raw = get_u64(d, "PortNumber")
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or(ProtoError::MissingKey { context: CX, key: "PortNumber" })?;
                Request::Connect { device_id, port: u16::from_be(raw) }
            }
            "ReadPairRecord" => Request::ReadPairRecord { udid: udid()? },
            "DeletePairRecord" => Request::DeletePairRecord { udid: udid()? },
            "SavePairRecord" => {
                let data = match d.get("PairRecordData") {
                    Some(Value::Data(data)) => data.clone(),
                    _ => return Err(ProtoError::MissingKey { context: CX, key: "PairRecordData" }),
                };
                Request::SavePairRecord { udid: udid()?, device_id: get_u32(d, "DeviceID"), data }
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
        let props = d.get("Properties").and_then(Value::as_dictionary).unwrap_or(d);
        let device_id = get_u32(d, "DeviceID")
            .or_else(|| get_u32(props, "DeviceID"))
            .ok_or(ProtoError::MissingKey { context: CX, key: "DeviceID" })?;
        let serial_number = get_str(props, "SerialNumber")
            .ok_or(ProtoError::MissingKey { context: CX, key: "SerialNumber" })?
            .to_string();
        Ok(DeviceRecord {
            device_id,
            serial_number,
            product_id: get_u64(props, "ProductID").and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
            location_id: get_u32(props, "LocationID"),
            connection_speed: get_u64(props, "ConnectionSpeed"),
            connection_type: get_str(props, "ConnectionType").unwrap_or("USB").to_string(),
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
                let list = devices.iter().map(|dev| Value::Dictionary(dev.to_plist())).collect();
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
            (VERSION_BINARY, message::RESULT) => Ok(Reply::Result(ResultCode::from_u32(binary_u32(frame)?))),
            (VERSION_BINARY, message::DEVICE_ADD) => {
                Ok(Reply::Event(DeviceEvent::Attached(DeviceRecord::from_binary(&frame.payload)?)))
            }
            (VERSION_BINARY, message::DEVICE_REMOVE) => {
                Ok(Reply::Event(DeviceEvent::Detached { device_id: binary_u32(frame)? }))
            }
            (VERSION_BINARY, message::DEVICE_PAIRED) => {
                Ok(Reply::Event(DeviceEvent::Paired { device_id: binary_u32(frame)? }))
            }
            (version, message) => Err(ProtoError::Unexpected { version, message }),
        }
    }

    fn from_plist(d: &Dictionary) -> Result<Reply, ProtoError> {
        const CX: &str = "reply";
        match get_str(d, "MessageType") {
            Some("Result") => {
                let n = get_u32(d, "Number").ok_or(ProtoError::MissingKey { context: CX, key: "Number" })?;
                Ok(Reply::Result(ResultCode::from_u32(n)))
            }
            Some("Attached") => Ok(Reply::Event(DeviceEvent::Attached(DeviceRecord::from_plist(d)?))),
            Some("Detached") => {
                let device_id = get_u32(d, "DeviceID").ok_or(ProtoError::MissingKey { context: CX, key: "DeviceID" })?;
                Ok(Reply::Event(DeviceEvent::Detached { device_id }))
            }
            Some("Paired") => {
                let device_id = get_u32(d, "DeviceID").ok_or(ProtoError::MissingKey { context: CX, key: "DeviceID" })?;
                Ok(Reply::Event(DeviceEvent::Paired { device_id }))
            }
            Some(_) => Err(ProtoError::MissingKey { context: CX, key: "known MessageType" }),
            None => {
                if let Some(list) = d.get("DeviceList") {
                    let list = list.as_array().ok_or(ProtoError::MissingKey { context: CX, key: "DeviceList" })?;
                    let mut devices = Vec::with_capacity(list.len());
                    for entry in list {
                        let entry = entry
                            .as_dictionary()
                            .ok_or(ProtoError::MissingKey { context: CX, key: "DeviceList entry" })?;
                        devices.push(DeviceRecord::from_plist(entry)?);
                    }
                    Ok(Reply::DeviceList(devices))
                } else if let Some(buid) = get_str(d, "BUID") {
                    Ok(Reply::Buid(buid.to_string()))
                } else if let Some(Value::Data(data)) = d.get("PairRecordData") {
                    Ok(Reply::PairRecordData(data.clone()))
                } else if let Some(Value::Array(list)) = d.get("ListenerList") {
                    Ok(Reply::ListenerList(list.iter().filter_map(|v| v.as_dictionary().cloned()).collect()))
                } else {
                    Err(ProtoError::MissingKey { context: CX, key: "MessageType or result key" })
                }
            }
        }
    }
}

fn binary_u32(frame: &Frame) -> Result<u32, ProtoError> {
    let p = &frame.payload;
    match p.first_chunk::<4>() {
        Some(b) if p.len() == 4 => Ok(u32::from_le_bytes(*b)),
        _ => Err(ProtoError::BadBinaryBody { message: frame.message, len: p.len(), expected: 4 }),
    }
}

/// Parse a plist body (XML or binary) that must be a dictionary of bounded depth.
fn parse_dict(payload: &[u8]) -> Result<Dictionary, ProtoError> {
    let value = Value::from_reader(Cursor::new(payload)).map_err(|e| ProtoError::BadPlist(e.to_string()))?;
    if depth_exceeds(&value, MAX_PLIST_DEPTH) {
        dismantle(value);
        return Err(ProtoError::TooDeep);
    }
    value.into_dictionary().ok_or_else(|| ProtoError::BadPlist("the top level is not a dictionary".into()))
}

/// Depth check without recursion (a hostile plist could nest thousands of levels).
fn depth_exceeds(value: &Value, limit: usize) -> bool {
    let mut stack = vec![(value, 1usize)];
    while let Some((v, depth)) = stack.pop() {
        if depth > limit {
            return true;
        }
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            Value::Dictionary(d) => stack.extend(d.values().map(|i| (i, depth + 1))),
            _ => {}
        }
    }
    false
}

/// Drop a deeply nested value without recursing (the default drop would overflow the stack).
fn dismantle(value: Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Dictionary(d) => stack.extend(d.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
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
