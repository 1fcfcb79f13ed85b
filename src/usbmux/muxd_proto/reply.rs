//! What the daemon answers: result codes, the reply enum (including unsolicited device events on
//! a Listen socket), and both directions of its codec (the daemon encodes, the client decodes).

use plist::{Dictionary, Value};

use super::device::{DeviceEvent, DeviceRecord};
use super::fields::{binary_u32, get_str, get_u32, parse_dict};
use super::frame::{Frame, ProtoError, VERSION_BINARY, VERSION_PLIST, message};

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
