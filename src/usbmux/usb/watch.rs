//! Phones arriving and leaving, for `devices --wait` and `watch`.
//!
//! The device list is re-read at least once a second and compared with the previous one; libusb
//! hotplug (filtered to Apple's vendor id), when available, only makes that re-read happen as
//! soon as something changes. Reading serials happens outside libusb's hotplug callback, where
//! synchronous device access is not allowed.

use std::collections::BTreeMap;
use std::time::Duration;

use rusb::{Context, Device, UsbContext};
use tokio::sync::mpsc;

use super::discovery;
use super::error::{UsbError, UsbOp};
use crate::usbmux::{APPLE_VID, DeviceInfo};

const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A phone appeared on or disappeared from the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsbEvent {
    /// A phone was plugged in (or was there when watching began).
    Arrived(DeviceInfo),
    /// The phone as it was listed when it arrived.
    Left(DeviceInfo),
}

/// Start watching. The first events are `Arrived` for the phones already connected. The watcher
/// thread ends within about a second of the receiver being dropped.
pub fn watch() -> Result<mpsc::Receiver<UsbEvent>, UsbError> {
    let context = UsbError::context()?;
    let (events, receiver) = mpsc::channel(16);
    std::thread::Builder::new()
        .name("usb-watch".into())
        .spawn(move || run(context, events))
        .map_err(|_| UsbError::Usb {
            op: UsbOp::Enumerate,
            source: rusb::Error::NoMem,
        })?;
    Ok(receiver)
}

/// Hotplug callbacks only wake the loop; the list comparison does the rest.
struct Wake;

impl rusb::Hotplug<Context> for Wake {
    fn device_arrived(&mut self, _device: Device<Context>) {}
    fn device_left(&mut self, _device: Device<Context>) {}
}

fn run(context: Context, events: mpsc::Sender<UsbEvent>) {
    // SAFETY: a capability query; libusb is initialised (our context exists). rusb::has_hotplug
    // would initialise rusb's global context and panic where libusb cannot start.
    let hotplug =
        unsafe { rusb::ffi::libusb_has_capability(rusb::constants::LIBUSB_CAP_HAS_HOTPLUG) != 0 };
    let registration = if hotplug {
        rusb::HotplugBuilder::new()
            .vendor_id(APPLE_VID)
            .register(&context, Box::new(Wake))
            .map_err(|error| tracing::debug!(%error, "no USB hotplug; polling every second"))
            .ok()
    } else {
        None
    };
    let mut known: BTreeMap<u32, DeviceInfo> = BTreeMap::new();
    loop {
        // A failed listing keeps the previous state rather than reporting everything gone.
        if let Ok(phones) = discovery::phones(&context) {
            let current: Vec<DeviceInfo> = phones.into_iter().map(|(_, info)| info).collect();
            for event in diff(&known, &current) {
                if events.blocking_send(event).is_err() {
                    return;
                }
            }
            known = current
                .into_iter()
                .map(|info| (info.device_id, info))
                .collect();
        }
        if events.is_closed() {
            return;
        }
        if registration.is_some() {
            let _ = context.handle_events(Some(POLL_INTERVAL));
        } else {
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

/// Events that turn the `known` list into `current`: departures first, then arrivals, each in
/// device-id order. A device id reused by a different phone counts as leave + arrive.
pub(crate) fn diff(known: &BTreeMap<u32, DeviceInfo>, current: &[DeviceInfo]) -> Vec<UsbEvent> {
    let current: BTreeMap<u32, &DeviceInfo> = current.iter().map(|i| (i.device_id, i)).collect();
    let same = |old: &DeviceInfo| {
        current
            .get(&old.device_id)
            .is_some_and(|new| new.udid == old.udid)
    };
    let left = known
        .values()
        .filter(|old| !same(old))
        .cloned()
        .map(UsbEvent::Left);
    let arrived = current
        .values()
        .filter(|new| {
            known
                .get(&new.device_id)
                .is_none_or(|old| old.udid != new.udid)
        })
        .map(|new| UsbEvent::Arrived((*new).clone()));
    left.chain(arrived).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usbmux::TransportKind;

    fn phone(device_id: u32, udid: &str) -> DeviceInfo {
        DeviceInfo {
            udid: udid.into(),
            device_id,
            product_id: 0x12a8,
            connection_speed: Some(480_000_000),
            location_id: Some(0x0110_0000),
            transport: TransportKind::Usb,
        }
    }

    fn known(list: &[DeviceInfo]) -> BTreeMap<u32, DeviceInfo> {
        list.iter().map(|i| (i.device_id, i.clone())).collect()
    }

    #[test]
    fn first_listing_reports_every_phone_as_arrived() {
        let now = [phone(0x103, "A"), phone(0x105, "B")];
        assert_eq!(
            diff(&BTreeMap::new(), &now),
            [
                UsbEvent::Arrived(now[0].clone()),
                UsbEvent::Arrived(now[1].clone())
            ]
        );
    }

    #[test]
    fn unchanged_listing_reports_nothing() {
        let now = [phone(0x103, "A")];
        assert!(diff(&known(&now), &now).is_empty());
    }

    #[test]
    fn unplug_and_replug_with_a_new_address() {
        let before = [phone(0x103, "A"), phone(0x105, "B")];
        let after = [phone(0x105, "B"), phone(0x106, "A")];
        assert_eq!(
            diff(&known(&before), &after),
            [
                UsbEvent::Left(before[0].clone()),
                UsbEvent::Arrived(after[1].clone())
            ]
        );
    }

    #[test]
    fn reused_address_with_another_phone_is_leave_then_arrive() {
        let before = [phone(0x103, "A")];
        let after = [phone(0x103, "B")];
        assert_eq!(
            diff(&known(&before), &after),
            [
                UsbEvent::Left(before[0].clone()),
                UsbEvent::Arrived(after[0].clone())
            ]
        );
    }
}
