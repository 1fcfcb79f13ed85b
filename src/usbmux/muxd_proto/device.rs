//! A device as the daemon describes it, in both encodings (plist dictionary and the binary
//! DEVICE_ADD record), and the arrival/departure events Listen clients receive.

use plist::{Dictionary, Value};

use super::fields::{get_str, get_u32, get_u64};
use super::frame::{ProtoError, message};

/// Length of the binary DEVICE_ADD record: id, product id, serial\[256\], padding, location.
pub(crate) const DEVICE_RECORD_LEN: usize = 4 + 2 + 256 + 2 + 4;

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
    pub(super) fn to_plist(&self) -> Dictionary {
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

    pub(super) fn from_plist(d: &Dictionary) -> Result<DeviceRecord, ProtoError> {
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

    pub(super) fn to_binary(&self) -> Vec<u8> {
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

    pub(super) fn from_binary(p: &[u8]) -> Result<DeviceRecord, ProtoError> {
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
