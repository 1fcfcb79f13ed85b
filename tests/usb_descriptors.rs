//! The descriptor parser (the one production runs on the usbfs node's bytes) and the usbmux
//! planner against configuration descriptors captured from a real iPhone (hexdumps posted in https://github.com/fritzlb/iOS17-JIT-WIN/issues/8).

use iphone_import::usbmux::usb::descriptor::{Configuration, DescriptorError, UsbDescriptors};
use iphone_import::usbmux::usb::plan::{find_mux, needs_zlp, plan_configuration};

/// Configuration 3, "PTP + Apple Mobile Device" (62 bytes).
const CONFIG_3: &[u8] = &[
    0x09, 0x02, 0x3E, 0x00, 0x02, 0x03, 0x07, 0xC0, 0xFA, // configuration
    0x09, 0x04, 0x00, 0x00, 0x03, 0x06, 0x01, 0x01, 0x1B, // if 0: PTP
    0x07, 0x05, 0x02, 0x02, 0x00, 0x02, 0x00, //
    0x07, 0x05, 0x81, 0x02, 0x00, 0x02, 0x00, //
    0x07, 0x05, 0x83, 0x03, 0x40, 0x00, 0x0A, //
    0x09, 0x04, 0x01, 0x00, 0x02, 0xFF, 0xFE, 0x02, 0x0F, // if 1: usbmux
    0x07, 0x05, 0x04, 0x02, 0x00, 0x02, 0x00, //
    0x07, 0x05, 0x85, 0x02, 0x00, 0x02, 0x00,
];

/// Configuration 4, "PTP + Apple Mobile Device + Apple USB Ethernet" (117 bytes). The Ethernet
/// interface has three alternate settings.
const CONFIG_4: &[u8] = &[
    0x09, 0x02, 0x75, 0x00, 0x03, 0x04, 0x08, 0xC0, 0xFA, // configuration
    0x09, 0x04, 0x00, 0x00, 0x03, 0x06, 0x01, 0x01, 0x1B, // if 0: PTP
    0x07, 0x05, 0x02, 0x02, 0x00, 0x02, 0x00, //
    0x07, 0x05, 0x81, 0x02, 0x00, 0x02, 0x00, //
    0x07, 0x05, 0x83, 0x03, 0x40, 0x00, 0x0A, //
    0x09, 0x04, 0x01, 0x00, 0x02, 0xFF, 0xFE, 0x02, 0x0F, // if 1: usbmux
    0x07, 0x05, 0x04, 0x02, 0x00, 0x02, 0x00, //
    0x07, 0x05, 0x85, 0x02, 0x00, 0x02, 0x00, //
    0x09, 0x04, 0x02, 0x00, 0x00, 0xFF, 0xFD, 0x01, 0x11, // if 2 alt 0: Ethernet, idle
    0x09, 0x04, 0x02, 0x01, 0x02, 0xFF, 0xFD, 0x01, 0x11, // if 2 alt 1
    0x07, 0x05, 0x86, 0x02, 0x00, 0x02, 0x00, //
    0x07, 0x05, 0x05, 0x02, 0x00, 0x02, 0x00, //
    0x09, 0x04, 0x02, 0x02, 0x02, 0xFF, 0xFD, 0x01, 0x11, // if 2 alt 2
    0x07, 0x05, 0x86, 0x02, 0x00, 0x02, 0x00, //
    0x07, 0x05, 0x05, 0x02, 0x00, 0x02, 0x00,
];

#[test]
fn captured_configurations_parse_completely() {
    let (c3, used) = Configuration::parse(CONFIG_3).unwrap();
    assert_eq!((c3.value, used), (3, CONFIG_3.len()));
    assert_eq!(c3.interface_numbers(), [0, 1]);
    let (c4, used) = Configuration::parse(CONFIG_4).unwrap();
    assert_eq!((c4.value, used), (4, CONFIG_4.len()));
    assert_eq!(c4.interfaces.len(), 5);
    assert_eq!(c4.interface_numbers(), [0, 1, 2]);
    let ethernet_alts: Vec<u8> = c4
        .interfaces
        .iter()
        .filter(|i| i.number == 2)
        .map(|i| i.alternate_setting)
        .collect();
    assert_eq!(ethernet_alts, [0, 1, 2]);
}

#[test]
fn captured_phone_uses_configuration_4_interface_1() {
    let descriptors = UsbDescriptors::parse_configurations(&[CONFIG_3, CONFIG_4].concat()).unwrap();
    let mux = find_mux(&descriptors).unwrap();
    assert_eq!((mux.configuration, mux.interface), (4, 1));
    assert_eq!((mux.endpoint_in, mux.endpoint_out), (0x85, 0x04));
    assert_eq!(mux.out_max_packet, 512);
    assert!(needs_zlp(49152, mux.out_max_packet));

    // Left unconfigured by usbmuxd's udev rule: switch, detaching every interface first.
    let plan = plan_configuration(&descriptors, 0).unwrap();
    assert!(plan.set_configuration);
    assert_eq!(plan.detach_interfaces, [0, 1, 2]);
    // Already in configuration 4 (usbmuxd ran before): claim only.
    let plan = plan_configuration(&descriptors, 4).unwrap();
    assert!(!plan.set_configuration && plan.detach_interfaces.is_empty());
    // Only configuration 3 known: it is chosen.
    let only_3 = UsbDescriptors::parse_configurations(CONFIG_3).unwrap();
    assert_eq!(find_mux(&only_3).unwrap().configuration, 3);
}

#[test]
fn damaged_captures_are_rejected() {
    // Cut short: wTotalLength promises more than there is.
    assert!(matches!(
        Configuration::parse(&CONFIG_4[..CONFIG_4.len() - 1]),
        Err(DescriptorError::Truncated { .. })
    ));
    // An endpoint descriptor claiming to run past wTotalLength.
    let mut bad = CONFIG_3.to_vec();
    let last_endpoint = CONFIG_3.len() - 7;
    bad[last_endpoint] = 8;
    assert!(matches!(
        Configuration::parse(&bad),
        Err(DescriptorError::Truncated { .. })
    ));
    // Every single-byte corruption is handled without panicking, and never yields a mux interface
    // on endpoints that are not a bulk IN/OUT pair.
    for at in 0..CONFIG_4.len() {
        for value in [0x00, 0x01, 0x05, 0x7F, 0xFF] {
            let mut bytes = CONFIG_4.to_vec();
            bytes[at] = value;
            if let Ok(descriptors) = UsbDescriptors::parse_configurations(&bytes)
                && let Some(mux) = find_mux(&descriptors)
            {
                assert_ne!(mux.endpoint_in & 0x80, 0);
                assert_eq!(mux.endpoint_out & 0x80, 0);
            }
        }
    }
}
