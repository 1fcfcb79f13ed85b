//! The direct-USB route: find iPhones with libusb, select the configuration that carries usbmux,
//! claim its interface and move mux packets over its bulk pipes as a [`Link`].
//!
//! Everything that does not touch a device is pure and tested here: the descriptor model and
//! its one parser (`descriptor`, fed the usbfs node's bytes in production), the configuration / endpoint / ZLP decisions (`plan`), the in-order
//! delivery of IN transfers (`rx_order`) and the error texts (`error`). The device-touching parts
//! (`discovery`, `bulk_link`, `watch`, [`open_link`]) are kept small.

pub(crate) mod bulk_link;
pub mod descriptor;
pub(crate) mod discovery;
pub(crate) mod error;
pub mod plan;
pub(crate) mod rx_order;
pub(crate) mod watch;

use rusb::{Device, DeviceHandle, UsbContext};

pub use descriptor::{DescriptorError, UsbDescriptors};
pub use discovery::list_devices;
pub use error::{BusyHolder, UsbError, UsbOp};
pub use plan::{ConfigPlan, MuxEndpoints};
pub use watch::{UsbEvent, watch};

use crate::usbmux::DeviceInfo;
use crate::usbmux::link::Link;

/// Open the phone with `udid` (or the only phone connected, when `None`) and start a [`Link`] to
/// its usbmux interface. Blocking (USB control requests): call it from `spawn_blocking` or use
/// [`open`]. The link's writer task is spawned on `runtime`.
pub(crate) fn open_link(
    udid: Option<&str>,
    runtime: &tokio::runtime::Handle,
) -> Result<(Link, DeviceInfo), UsbError> {
    // A private libusb context: only this link's event thread handles its events.
    let context = UsbError::context()?;
    let (device, info) = discovery::find(&context, udid)?;
    let descriptors = read_descriptors(&device)?;
    let handle = device
        .open()
        .map_err(|e| UsbError::from_rusb(UsbOp::Open, e))?;
    let mux = claim_mux(&handle, &descriptors)?;
    tracing::info!(
        udid = %info.udid,
        configuration = mux.configuration,
        interface = mux.interface,
        endpoint_in = format_args!("{:#04x}", mux.endpoint_in),
        endpoint_out = format_args!("{:#04x}", mux.endpoint_out),
        max_packet = mux.out_max_packet,
        "claimed usbmux interface"
    );
    let link = bulk_link::start(handle, mux, runtime)
        .map_err(|e| UsbError::from_rusb(UsbOp::Transfer, e))?;
    Ok((link, info))
}

/// [`open_link`] from async code.
pub async fn open(udid: Option<String>) -> Result<(Link, DeviceInfo), UsbError> {
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || open_link(udid.as_deref(), &runtime))
        .await
        .unwrap_or_else(|_| {
            Err(UsbError::Usb {
                op: UsbOp::Open,
                source: rusb::Error::Other,
            })
        })
}

/// Every configuration's descriptors, as the kernel cached them at enumeration (no device I/O):
/// reading the usbfs node gives the device descriptor followed by each configuration's raw
/// bytes, which go through the one descriptor parser the tests also exercise.
fn read_descriptors<T: UsbContext>(device: &Device<T>) -> Result<UsbDescriptors, UsbError> {
    let node = format!(
        "/dev/bus/usb/{:03}/{:03}",
        device.bus_number(),
        device.address()
    );
    read_descriptor_node(std::path::Path::new(&node))
}

/// Largest descriptor blob read: real phones send well under 1 KiB; the bound keeps a hostile
/// device from making us allocate what it claims.
const MAX_DESCRIPTOR_BLOB: u64 = 64 * 1024;

fn read_descriptor_node(node: &std::path::Path) -> Result<UsbDescriptors, UsbError> {
    use std::io::Read;
    let io_failed = |e: std::io::Error| {
        let cause = match e.kind() {
            std::io::ErrorKind::PermissionDenied => rusb::Error::Access,
            std::io::ErrorKind::NotFound => rusb::Error::NoDevice,
            _ => rusb::Error::Io,
        };
        UsbError::from_rusb(UsbOp::ReadDescriptors, cause)
    };
    let mut blob = Vec::new();
    std::fs::File::open(node)
        .map_err(io_failed)?
        .take(MAX_DESCRIPTOR_BLOB)
        .read_to_end(&mut blob)
        .map_err(io_failed)?;
    Ok(UsbDescriptors::parse_device_blob(&blob)?)
}

/// Select the usbmux configuration if needed and claim the interface, as usbmuxd does: drivers
/// are detached and the configuration set only when it must change.
fn claim_mux<T: UsbContext>(
    handle: &DeviceHandle<T>,
    descriptors: &UsbDescriptors,
) -> Result<MuxEndpoints, UsbError> {
    let current = handle
        .active_configuration()
        .map_err(|e| UsbError::from_rusb(UsbOp::SetConfiguration, e))?;
    let plan = plan::plan_configuration(descriptors, current)
        .map_err(|plan::NoMuxInterface| UsbError::NoMuxInterface)?;
    if plan.set_configuration {
        for &interface in &plan.detach_interfaces {
            // Not found (no such interface right now) or unsupported: nothing to detach.
            if handle.kernel_driver_active(interface).unwrap_or(false) {
                handle
                    .detach_kernel_driver(interface)
                    .map_err(|e| UsbError::from_rusb(UsbOp::DetachKernelDriver, e))?;
            }
        }
        tracing::debug!(
            from = current,
            to = plan.mux.configuration,
            "setting USB configuration"
        );
        handle
            .set_active_configuration(plan.mux.configuration)
            .map_err(|e| UsbError::from_rusb(UsbOp::SetConfiguration, e))?;
    }
    handle
        .claim_interface(plan.mux.interface)
        .map_err(|e| UsbError::from_rusb(UsbOp::ClaimInterface, e))?;
    if plan.mux.alternate_setting != 0 {
        handle
            .set_alternate_setting(plan.mux.interface, plan.mux.alternate_setting)
            .map_err(|e| UsbError::from_rusb(UsbOp::ClaimInterface, e))?;
    }
    Ok(plan.mux)
}

#[cfg(test)]
mod descriptor_node_tests {
    use super::descriptor::fixtures::*;
    use super::*;

    #[test]
    fn the_device_node_blob_goes_through_the_parser_to_the_plan() {
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join("003");
        std::fs::write(&node, [device_descriptor_usb3(5), phone_usb_c()].concat()).unwrap();
        let descriptors = read_descriptor_node(&node).unwrap();
        let plan = plan::plan_configuration(&descriptors, 0).unwrap();
        assert_eq!((plan.mux.configuration, plan.mux.out_max_packet), (4, 1024));
    }

    #[test]
    fn a_missing_or_garbled_node_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_descriptor_node(&dir.path().join("gone")),
            Err(UsbError::Unplugged {
                op: UsbOp::ReadDescriptors
            })
        ));
        let node = dir.path().join("004");
        let mut blob = [device_descriptor(1), phone_mode1()].concat();
        blob.truncate(blob.len() - 3);
        std::fs::write(&node, blob).unwrap();
        assert!(matches!(
            read_descriptor_node(&node),
            Err(UsbError::Descriptor(DescriptorError::Truncated { .. }))
        ));
    }
}

#[cfg(test)]
mod udev_rule_tests {
    const RULES: &str = include_str!("../../../udev/70-iphone-import.rules");

    /// udev's glob: `?`, `*` and `[…]` classes with ranges (enough for this rule).
    fn glob(pattern: &[u8], text: &[u8]) -> bool {
        match (pattern.first(), text.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                glob(&pattern[1..], text) || (!text.is_empty() && glob(pattern, &text[1..]))
            }
            (Some(b'?'), Some(_)) => glob(&pattern[1..], &text[1..]),
            (Some(b'['), Some(&c)) => {
                let Some(end) = pattern.iter().position(|&b| b == b']') else {
                    return false;
                };
                let class = &pattern[1..end];
                let mut matched = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == b'-' {
                        matched |= (class[i]..=class[i + 2]).contains(&c);
                        i += 3;
                    } else {
                        matched |= class[i] == c;
                        i += 1;
                    }
                }
                matched && glob(&pattern[end + 1..], &text[1..])
            }
            (Some(&p), Some(&c)) => p == c && glob(&pattern[1..], &text[1..]),
            _ => false,
        }
    }

    fn value_of<'a>(line: &'a str, key: &str) -> Option<&'a str> {
        let start = line.find(key)? + key.len();
        let rest = line[start..].strip_prefix("==\"")?;
        Some(&rest[..rest.find('"')?])
    }

    #[test]
    fn rule_gives_uaccess_to_exactly_the_mux_product_range() {
        let rules: Vec<&str> = RULES
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert!(!rules.is_empty());
        let granting: Vec<&str> = rules
            .iter()
            .copied()
            .filter(|l| l.contains("TAG+=\"uaccess\""))
            .collect();
        assert_eq!(granting.len(), 1, "one uaccess rule: {rules:?}");
        let rule = granting[0];
        assert_eq!(value_of(rule, "ATTR{idVendor}"), Some("05ac"));
        assert_eq!(value_of(rule, "SUBSYSTEM"), Some("usb"));
        let products = value_of(rule, "ATTR{idProduct}").expect("idProduct match");
        for pid in 0x1200u16..=0x13ff {
            let text = format!("{pid:04x}");
            assert_eq!(
                glob(products.as_bytes(), text.as_bytes()),
                super::plan::is_mux_product(crate::usbmux::APPLE_VID, pid),
                "product {text} against {products}"
            );
        }
        // The rule must not touch the configuration: usbmuxd's rule and our own code own that.
        assert!(
            !RULES
                .lines()
                .any(|l| !l.trim_start().starts_with('#') && l.contains("bConfigurationValue"))
        );
    }

    #[test]
    fn glob_helper_behaves_like_udev() {
        assert!(glob(b"12[9a][0-9a-f]", b"12a8"));
        assert!(!glob(b"12[9a][0-9a-f]", b"12b0"));
        assert!(glob(b"12[9a]?", b"129z"));
        assert!(glob(b"05*", b"05ac"));
        assert!(!glob(b"05ac", b"05ad"));
    }
}
