//! Finding phones on the USB bus and describing them the way every transport lists devices.

use std::io::Read;
use std::time::Duration;

use rusb::{Device, UsbContext};

use super::error::{UsbError, UsbOp};
use super::plan::{device_id, is_mux_product, location_id, speed_bits_per_second, sysfs_name};
use crate::usbmux::device_info::dashed_udid;
use crate::usbmux::{DeviceInfo, TransportKind};

/// Longest serial we accept; real ones are 24 or 40 characters.
const MAX_SERIAL_LEN: usize = 64;
const STRING_TIMEOUT: Duration = Duration::from_secs(1);

/// Every iPhone/iPad/iPod currently on the bus in a mux-capable product range, with the UDID read
/// from its serial number. Devices whose serial cannot be read are left out (and logged).
pub fn list_devices() -> Result<Vec<DeviceInfo>, UsbError> {
    let context = UsbError::context()?;
    Ok(phones(&context)?
        .into_iter()
        .map(|(_, info)| info)
        .collect())
}

/// The phones on the bus of `context`, each with its libusb device.
pub(crate) fn phones<T: UsbContext>(context: &T) -> Result<Vec<(Device<T>, DeviceInfo)>, UsbError> {
    let devices = context
        .devices()
        .map_err(|e| UsbError::from_rusb(UsbOp::Enumerate, e))?;
    Ok(devices
        .iter()
        .filter_map(|device| describe(&device).map(|info| (device, info)))
        .collect())
}

/// Pick the phone with `udid` (dashed or not), or the only phone when `udid` is `None`.
pub(crate) fn find<T: UsbContext>(
    context: &T,
    udid: Option<&str>,
) -> Result<(Device<T>, DeviceInfo), UsbError> {
    let mut found = phones(context)?;
    match udid {
        Some(wanted) => {
            let wanted = dashed_udid(wanted);
            found
                .into_iter()
                .find(|(_, info)| info.udid.eq_ignore_ascii_case(&wanted))
                .ok_or(UsbError::NotFound { udid: Some(wanted) })
        }
        None => match found.len() {
            0 => Err(UsbError::NotFound { udid: None }),
            1 => Ok(found.remove(0)),
            _ => Err(UsbError::Ambiguous {
                udids: found.into_iter().map(|(_, i)| i.udid).collect(),
            }),
        },
    }
}

/// A `DeviceInfo` for an Apple mux-capable device, `None` for anything else.
fn describe<T: UsbContext>(device: &Device<T>) -> Option<DeviceInfo> {
    let descriptor = device.device_descriptor().ok()?;
    if !is_mux_product(descriptor.vendor_id(), descriptor.product_id()) {
        return None;
    }
    let (bus, address) = (device.bus_number(), device.address());
    let ports = device.port_numbers().unwrap_or_default();
    let Some(serial) = read_serial(device, &descriptor, bus, &ports) else {
        tracing::warn!(
            bus,
            address,
            "Apple device without a readable serial number; skipped"
        );
        return None;
    };
    Some(DeviceInfo {
        udid: dashed_udid(&serial),
        device_id: device_id(bus, address),
        product_id: descriptor.product_id(),
        connection_speed: speed_bits_per_second(device.speed()),
        location_id: Some(location_id(bus, &ports, address)),
        transport: TransportKind::Usb,
    })
}

/// The serial number: from sysfs when possible (world-readable, no device I/O, works while
/// another program holds the phone), else from the string descriptor (needs access to the node).
fn read_serial<T: UsbContext>(
    device: &Device<T>,
    descriptor: &rusb::DeviceDescriptor,
    bus: u8,
    ports: &[u8],
) -> Option<String> {
    if let Some(serial) = sysfs_name(bus, ports).and_then(|name| read_sysfs_serial(&name)) {
        return Some(serial);
    }
    let handle = device.open().ok()?;
    let language = *handle.read_languages(STRING_TIMEOUT).ok()?.first()?;
    let serial = handle
        .read_serial_number_string(language, descriptor, STRING_TIMEOUT)
        .ok()?;
    clean_serial(&serial)
}

fn read_sysfs_serial(name: &str) -> Option<String> {
    let file = std::fs::File::open(format!("/sys/bus/usb/devices/{name}/serial")).ok()?;
    let mut text = String::new();
    file.take(256).read_to_string(&mut text).ok()?;
    clean_serial(&text)
}

/// The UDID in a serial-number string as any route delivers it: a USB-C iPhone pads its 24
/// characters with NULs in the string descriptor, and sysfs ends the text with a newline. Padding
/// (NULs and ASCII whitespace) is cut from both ends; what remains must be a valid serial as a
/// whole, so a NUL or space *inside* it refuses the serial rather than cutting it short.
pub(crate) fn clean_serial(raw: &str) -> Option<String> {
    let serial = raw.trim_matches(|c: char| c == '\0' || c.is_ascii_whitespace());
    valid_serial(serial).then(|| serial.to_string())
}

/// The serial becomes the UDID, which names pairing records and directories: accept only what a
/// real UDID looks like (ASCII letters, digits and dashes, bounded length).
pub(crate) fn valid_serial(serial: &str) -> bool {
    !serial.is_empty()
        && serial.len() <= MAX_SERIAL_LEN
        && serial
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_serials_from_every_route_are_trimmed() {
        let udid = "00008130001A2B3C4D5E6F70";
        // A USB-C iPhone's string descriptor: 24 characters and 16 NULs.
        let descriptor = format!("{udid}{}", "\0".repeat(16));
        assert_eq!(clean_serial(&descriptor).as_deref(), Some(udid));
        // sysfs: a newline, sometimes after the NULs the kernel copied.
        assert_eq!(clean_serial(&format!("{udid}\n")).as_deref(), Some(udid));
        assert_eq!(
            clean_serial(&format!("{descriptor}\n")).as_deref(),
            Some(udid)
        );
        assert_eq!(clean_serial(&format!("  {udid} \0")).as_deref(), Some(udid));
        assert_eq!(dashed_udid(&clean_serial(&descriptor).unwrap()).len(), 25);
    }

    #[test]
    fn padding_inside_a_serial_refuses_it() {
        assert_eq!(clean_serial("00008130\x00001A2B3C4D5E6F70"), None);
        assert_eq!(clean_serial("00008130 001A2B3C4D5E6F70"), None);
        assert_eq!(clean_serial(&"\0".repeat(16)), None);
        assert_eq!(clean_serial("\n"), None);
        assert_eq!(clean_serial("../../etc\0"), None);
    }

    #[test]
    fn serials_that_could_escape_a_path_are_refused() {
        assert!(valid_serial("00008110000205A13E06401E"));
        assert!(valid_serial("00008110-000205A13E06401E"));
        assert!(valid_serial("0123456789abcdef0123456789abcdef01234567"));
        assert!(!valid_serial(""));
        assert!(!valid_serial("../../etc"));
        assert!(!valid_serial("abc def"));
        assert!(!valid_serial(&"a".repeat(65)));
        assert!(!valid_serial("caf\u{e9}"));
    }
}
