//! A phone as every route lists it. A leaf: the routes (usbmuxd client, direct USB, in-process
//! links) all build these, so nothing here may import them.

use serde::Serialize;

/// How a device is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// Our own mux over libusb.
    Usb,
    /// Through the usbmuxd daemon's socket.
    Usbmuxd,
    /// The simulated iPhone, in process.
    Demo,
}

/// A phone as the transports list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    /// The UDID, dashed for 24-digit serials (`00008030-001A2B3C4D5E802E`).
    pub udid: String,
    /// The transport's handle for the device (usbmuxd DeviceID, or our own counter).
    pub device_id: u32,
    /// USB product id (0x12A8 for current iPhones).
    pub product_id: u16,
    /// Link speed in bits per second, when known.
    pub connection_speed: Option<u64>,
    /// USB location (bus/port path), when known.
    pub location_id: Option<u32>,
    /// Which route lists this phone.
    pub transport: TransportKind,
}

/// Insert the dash a 24-character serial carries after character 8, as usbmuxd and libusbmuxd do.
pub(crate) fn dashed_udid(serial: &str) -> String {
    if serial.len() == 24 && serial.is_ascii() && !serial.contains('-') {
        format!("{}-{}", &serial[..8], &serial[8..])
    } else {
        serial.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashes_24_digit_serials_only() {
        assert_eq!(
            dashed_udid("00008110000205A13E06401E"),
            "00008110-000205A13E06401E"
        );
        assert_eq!(
            dashed_udid("00008110-000205A13E06401E"),
            "00008110-000205A13E06401E"
        );
        assert_eq!(
            dashed_udid("0123456789abcdef0123456789abcdef01234567"),
            "0123456789abcdef0123456789abcdef01234567"
        );
    }
}
