//! Pure decisions about a phone's USB side: which configuration and interface carry usbmux,
//! whether the configuration must change (and which kernel drivers must let go first), when a
//! bulk OUT write needs a zero-length packet, and how speed and location are reported.

// missing_docs: pub for the fuzz targets and protocol tests; fields and variants carry the wire format's names.
#![allow(missing_docs)]

use super::descriptor::{Configuration, Endpoint, Interface, UsbDescriptors};

/// The usbmux interface's class / subclass / protocol. All three must match: usbmuxd ORs them,
/// which only works because Apple lists usbmux before USB Ethernet (255/253/1).
pub(crate) const MUX_CLASS: u8 = 255;
pub(crate) const MUX_SUBCLASS: u8 = 254;
pub(crate) const MUX_PROTOCOL: u8 = 2;

/// Normal-mode iPhone/iPad/iPod product ids (usbmuxd's PID_RANGE_LOW..=PID_RANGE_MAX).
pub(crate) const PID_FIRST: u16 = 0x1290;
pub(crate) const PID_LAST: u16 = 0x12af;

/// Packet size assumed when a descriptor reports 0 (usbmuxd's fallback).
const FALLBACK_MAX_PACKET: u16 = 64;

/// Is this an iPhone/iPad/iPod in a mode that can offer usbmux?
pub(crate) fn is_mux_product(vendor_id: u16, product_id: u16) -> bool {
    vendor_id == crate::usbmux::APPLE_VID && (PID_FIRST..=PID_LAST).contains(&product_id)
}

/// Where usbmux lives on a device: the configuration to select, the interface to claim, and the
/// bulk endpoints read from the descriptors (they are not fixed: a gadget's UDC reassigns them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MuxEndpoints {
    pub configuration: u8,
    pub interface: u8,
    pub alternate_setting: u8,
    pub endpoint_in: u8,
    pub endpoint_out: u8,
    /// wMaxPacketSize of the OUT endpoint: decides when a write needs a zero-length packet.
    pub out_max_packet: u16,
}

/// What to do to a device before the mux interface can be claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigPlan {
    pub mux: MuxEndpoints,
    /// The active configuration differs from the target (0 = unconfigured counts as different).
    pub set_configuration: bool,
    /// Interface numbers whose kernel driver (if any) must be detached before
    /// `set_configuration`. Empty when no switch is needed.
    pub detach_interfaces: Vec<u8>,
}

/// The device offers no configuration with a usbmux interface (e.g. mode 5, "NCM Direct only").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoMuxInterface;

/// The usbmux endpoints of one interface: exactly 255/254/2 and exactly one bulk IN plus one
/// bulk OUT endpoint (in either order).
fn mux_endpoints(config: &Configuration, interface: &Interface) -> Option<MuxEndpoints> {
    if (interface.class, interface.subclass, interface.protocol)
        != (MUX_CLASS, MUX_SUBCLASS, MUX_PROTOCOL)
        || interface.endpoints.len() != 2
    {
        return None;
    }
    let bulk = |want_in: bool| -> Option<&Endpoint> {
        let mut found = interface
            .endpoints
            .iter()
            .filter(|e| e.is_bulk() && e.is_in() == want_in);
        let first = found.next()?;
        found.next().is_none().then_some(first)
    };
    let (ep_in, ep_out) = (bulk(true)?, bulk(false)?);
    Some(MuxEndpoints {
        configuration: config.value,
        interface: interface.number,
        alternate_setting: interface.alternate_setting,
        endpoint_in: ep_in.address,
        endpoint_out: ep_out.address,
        out_max_packet: ep_out.max_packet_size,
    })
}

/// The highest-numbered configuration that has a usbmux interface (usbmuxd walks from
/// bNumConfigurations down; in the default mode that is configuration 4).
pub fn find_mux(descriptors: &UsbDescriptors) -> Option<MuxEndpoints> {
    let mut configs: Vec<&Configuration> = descriptors
        .configurations
        .iter()
        .filter(|c| c.value != 0)
        .collect();
    configs.sort_by_key(|c| std::cmp::Reverse(c.value));
    configs
        .into_iter()
        .find_map(|c| c.interfaces.iter().find_map(|i| mux_endpoints(c, i)))
}

/// Decide how to get from the active configuration `current` (0 = unconfigured, as usbmuxd's
/// udev rule leaves it) to a claimed usbmux interface.
///
/// Drivers are detached from every interface number of the target configuration (as usbmuxd
/// does) and also of the current one: Linux refuses SET_CONFIGURATION with EBUSY while any
/// interface of the *active* configuration has a driver bound (usbfs `proc_setconfig`), and the
/// two sets differ when, say, switching away from the audio/HID configuration.
pub fn plan_configuration(
    descriptors: &UsbDescriptors,
    current: u8,
) -> Result<ConfigPlan, NoMuxInterface> {
    let mux = find_mux(descriptors).ok_or(NoMuxInterface)?;
    if current == mux.configuration {
        return Ok(ConfigPlan {
            mux,
            set_configuration: false,
            detach_interfaces: Vec::new(),
        });
    }
    let numbers_of = |value: u8| {
        descriptors
            .configurations
            .iter()
            .filter(move |c| c.value == value && value != 0)
            .flat_map(|c| c.interface_numbers())
    };
    let mut detach: Vec<u8> = numbers_of(mux.configuration)
        .chain(numbers_of(current))
        .collect();
    detach.sort_unstable();
    detach.dedup();
    Ok(ConfigPlan {
        mux,
        set_configuration: true,
        detach_interfaces: detach,
    })
}

/// Does a bulk OUT write of `len` bytes need a zero-length packet after it? A transfer that is
/// an exact multiple of the packet size has no short packet to end it, so the device would keep
/// waiting for more; libusb does not add the ZLP itself. A zero-length write already is one.
pub fn needs_zlp(len: usize, max_packet: u16) -> bool {
    let max_packet = if max_packet == 0 {
        FALLBACK_MAX_PACKET
    } else {
        max_packet
    };
    len != 0 && len.is_multiple_of(max_packet as usize)
}

/// Link speed in bits per second, reported like usbmuxd's ConnectionSpeed.
pub(crate) fn speed_bits_per_second(speed: rusb::Speed) -> Option<u64> {
    match speed {
        rusb::Speed::Low => Some(1_500_000),
        rusb::Speed::Full => Some(12_000_000),
        rusb::Speed::High => Some(480_000_000),
        rusb::Speed::Super => Some(5_000_000_000),
        rusb::Speed::SuperPlus => Some(10_000_000_000),
        _ => None,
    }
}

/// A u32 for where the phone is plugged in, stable across replugs into the same port:
/// the bus in the top byte and one nibble per hub port below it (macOS LocationID style,
/// e.g. bus 1, ports 2.3 → 0x0123_0000). A path that does not fit (more than 6 levels or a
/// port above 15) falls back to usbmuxd's `(bus << 16) | address`.
pub(crate) fn location_id(bus: u8, ports: &[u8], address: u8) -> u32 {
    if !ports.is_empty() && ports.len() <= 6 && ports.iter().all(|&p| (1..=15).contains(&p)) {
        let mut id = (bus as u32) << 24;
        for (depth, &port) in ports.iter().enumerate() {
            id |= (port as u32) << (20 - 4 * depth);
        }
        id
    } else {
        ((bus as u32) << 16) | address as u32
    }
}

/// A handle for a plugged-in device, like usbmuxd's DeviceID: stable while it stays plugged,
/// new after a replug (the bus assigns a new address).
pub fn device_id(bus: u8, address: u8) -> u32 {
    ((bus as u32) << 8) | address as u32
}

/// The kernel's sysfs name of a USB device: `<bus>-<port>.<port>…` (e.g. `1-2.3`).
pub(crate) fn sysfs_name(bus: u8, ports: &[u8]) -> Option<String> {
    if ports.is_empty() {
        return None;
    }
    let path: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
    Some(format!("{bus}-{}", path.join(".")))
}

#[cfg(test)]
mod tests {
    use super::super::descriptor::fixtures::*;
    use super::*;

    fn parse(raw: &[u8]) -> UsbDescriptors {
        UsbDescriptors::parse_configurations(raw).unwrap()
    }

    #[test]
    fn mode1_phone_uses_config_4_interface_1() {
        let d = parse(&phone_mode1());
        let mux = find_mux(&d).unwrap();
        assert_eq!(
            mux,
            MuxEndpoints {
                configuration: 4,
                interface: 1,
                alternate_setting: 0,
                endpoint_in: 0x85,
                endpoint_out: 0x04,
                out_max_packet: 512,
            }
        );
    }

    #[test]
    fn unconfigured_phone_switches_and_detaches_every_target_interface() {
        let d = parse(&phone_mode1());
        let plan = plan_configuration(&d, 0).unwrap();
        assert!(plan.set_configuration);
        assert_eq!(plan.detach_interfaces, [0, 1, 2]);
        // The kernel's own choice, configuration 1.
        let plan = plan_configuration(&d, 1).unwrap();
        assert!(plan.set_configuration);
        assert_eq!(plan.detach_interfaces, [0, 1, 2]);
    }

    #[test]
    fn already_in_the_target_configuration_touches_nothing() {
        let d = parse(&phone_mode1());
        let plan = plan_configuration(&d, 4).unwrap();
        assert!(!plan.set_configuration);
        assert!(plan.detach_interfaces.is_empty());
        assert_eq!(plan.mux.configuration, 4);
    }

    #[test]
    fn switching_away_also_frees_the_current_configurations_interfaces() {
        // Config 5 has interfaces 0..=3 in this made-up layout; config 1 only 0: a switch from
        // 5 must detach 0..=3 even though the target (1) has only interface 0.
        let raw = [
            config(1, &[MUX]),
            config(5, &[AUDIO_CONTROL, HID, AUDIO_CONTROL, HID]),
        ]
        .concat();
        let plan = plan_configuration(&parse(&raw), 5).unwrap();
        assert_eq!(plan.mux.configuration, 1);
        assert_eq!(plan.detach_interfaces, [0, 1, 2, 3]);
    }

    #[test]
    fn mode5_phone_has_no_mux_interface() {
        assert_eq!(
            plan_configuration(&parse(&phone_mode5()), 1),
            Err(NoMuxInterface)
        );
        // Nor does a phone whose only vendor interface is Ethernet, or PTP alone.
        let raw = [config(1, &[PTP]), config(2, &[PTP, ETHERNET])].concat();
        assert_eq!(find_mux(&parse(&raw)), None);
    }

    #[test]
    fn usb_c_phone_uses_config_4_not_its_mux_less_config_5() {
        let d = parse(&phone_usb_c());
        let plan = plan_configuration(&d, 1).unwrap();
        assert_eq!((plan.mux.configuration, plan.mux.interface), (4, 1));
        assert_eq!((plan.mux.endpoint_out, plan.mux.endpoint_in), (0x04, 0x85));
        // SuperSpeed bulk packets: a ZLP follows multiples of 1024, not of 512.
        assert_eq!(plan.mux.out_max_packet, 1024);
        assert!(!needs_zlp(1536, plan.mux.out_max_packet));
        // Left in the network configuration 5: its three interfaces are freed too.
        let plan = plan_configuration(&d, 5).unwrap();
        assert!(plan.set_configuration);
        assert_eq!(plan.detach_interfaces, [0, 1, 2]);
    }

    #[test]
    fn gadget_endpoints_come_from_the_descriptors() {
        let plan = plan_configuration(&parse(&gadget()), 0).unwrap();
        assert_eq!(plan.mux.configuration, 1);
        assert_eq!(plan.mux.interface, 0);
        assert_eq!((plan.mux.endpoint_out, plan.mux.endpoint_in), (0x02, 0x81));
        assert_eq!(plan.detach_interfaces, [0]);
    }

    #[test]
    fn ethernet_before_mux_is_not_mistaken_for_mux() {
        let mux = find_mux(&parse(&ethernet_first())).unwrap();
        assert_eq!(mux.interface, 2);
        assert_eq!((mux.endpoint_out, mux.endpoint_in), (0x04, 0x85));
    }

    #[test]
    fn mux_interface_needs_exactly_one_bulk_in_and_one_bulk_out() {
        let two_in: IfaceSpec<'_> = (255, 254, 2, &[(0x81, BULK, 512), (0x82, BULK, 512)]);
        let interrupt: IfaceSpec<'_> = (255, 254, 2, &[(0x01, BULK, 512), (0x82, INTERRUPT, 64)]);
        let three: IfaceSpec<'_> = (
            255,
            254,
            2,
            &[(0x01, BULK, 512), (0x82, BULK, 512), (0x83, BULK, 512)],
        );
        for bad in [two_in, interrupt, three] {
            assert_eq!(find_mux(&parse(&config(1, &[bad]))), None);
        }
        // A malformed higher configuration falls back to a good lower one.
        let raw = [config(3, &[PTP, MUX]), config(4, &[PTP, two_in])].concat();
        assert_eq!(find_mux(&parse(&raw)).unwrap().configuration, 3);
    }

    #[test]
    fn picks_the_highest_configuration_value_not_the_last_listed() {
        let raw = [config(4, &[PTP, MUX, ETHERNET]), config(3, &[PTP, MUX])].concat();
        assert_eq!(find_mux(&parse(&raw)).unwrap().configuration, 4);
    }

    #[test]
    fn zlp_only_after_exact_multiples_of_the_packet_size() {
        assert!(needs_zlp(512, 512));
        assert!(needs_zlp(49152, 512));
        assert!(needs_zlp(49152, 1024));
        assert!(!needs_zlp(511, 512));
        assert!(!needs_zlp(513, 512));
        assert!(!needs_zlp(1536, 1024));
        assert!(!needs_zlp(28, 512)); // a bare mux+TCP header
        assert!(!needs_zlp(0, 512));
        assert!(needs_zlp(64, 0)); // broken descriptor: usbmuxd's 64-byte fallback
    }

    #[test]
    fn speeds_match_usbmuxd() {
        assert_eq!(speed_bits_per_second(rusb::Speed::High), Some(480_000_000));
        assert_eq!(
            speed_bits_per_second(rusb::Speed::Super),
            Some(5_000_000_000)
        );
        assert_eq!(
            speed_bits_per_second(rusb::Speed::SuperPlus),
            Some(10_000_000_000)
        );
        assert_eq!(speed_bits_per_second(rusb::Speed::Full), Some(12_000_000));
        assert_eq!(speed_bits_per_second(rusb::Speed::Unknown), None);
    }

    #[test]
    fn location_packs_bus_and_port_path() {
        assert_eq!(location_id(1, &[2, 3], 7), 0x0123_0000);
        assert_eq!(location_id(3, &[1], 9), 0x0310_0000);
        assert_eq!(location_id(2, &[1, 2, 3, 4, 5, 6], 9), 0x0212_3456);
        // Too deep, or a port that needs more than a nibble: usbmuxd's bus/address form.
        assert_eq!(location_id(2, &[1, 2, 3, 4, 5, 6, 7], 9), 0x0002_0009);
        assert_eq!(location_id(2, &[16], 9), 0x0002_0009);
        assert_eq!(location_id(2, &[], 9), 0x0002_0009);
        assert_ne!(location_id(1, &[2, 3], 7), location_id(1, &[3, 2], 7));
    }

    #[test]
    fn product_range_and_names() {
        assert!(is_mux_product(0x05ac, 0x12a8));
        assert!(is_mux_product(0x05ac, 0x1290));
        assert!(is_mux_product(0x05ac, 0x12af));
        assert!(!is_mux_product(0x05ac, 0x12b0));
        assert!(!is_mux_product(0x05ac, 0x128f));
        assert!(!is_mux_product(0x05ad, 0x12a8));
        assert_eq!(sysfs_name(1, &[2, 3]).as_deref(), Some("1-2.3"));
        assert_eq!(sysfs_name(1, &[]), None);
        assert_eq!(device_id(1, 3), 0x103);
    }
}
