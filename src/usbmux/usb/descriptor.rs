//! Our own model of a USB device's configuration descriptors (configurations → interfaces →
//! endpoints), parsed from the raw descriptor bytes.
//!
//! This parser is the only one: production feeds it what the kernel cached at enumeration (the
//! usbfs device node), tests feed it captured and synthetic descriptor sets, so both run the same
//! code. Descriptors come from the (untrusted) device: every length is checked before it is
//! used, and garbage is an error, never a panic. Allocation is bounded by the input length (each
//! stored item consumes at least 7 input bytes).

// missing_docs: pub for the fuzz targets and protocol tests; fields and variants carry the wire format's names.
#![allow(missing_docs)]

/// Descriptor type codes (USB 2.0 §9.4, table 9-5).
const DT_DEVICE: u8 = 1;
const DT_CONFIG: u8 = 2;
const DT_INTERFACE: u8 = 4;
const DT_ENDPOINT: u8 = 5;

const DEVICE_LEN: usize = 18;
const CONFIG_LEN: usize = 9;
const INTERFACE_LEN: usize = 9;
const ENDPOINT_LEN: usize = 7;

/// Endpoint address bit 7: set for IN (device → host).
pub(crate) const ENDPOINT_DIR_IN: u8 = 0x80;
/// bmAttributes bits 0–1: transfer type; 2 = bulk.
const TRANSFER_TYPE_MASK: u8 = 0x03;
const TRANSFER_TYPE_BULK: u8 = 0x02;

/// All configurations a device offers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsbDescriptors {
    pub configurations: Vec<Configuration>,
}

/// One configuration (what `set_configuration` selects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration {
    /// bConfigurationValue: the number passed to `set_configuration` (never 0 for a real one).
    pub value: u8,
    /// Every interface descriptor, alternate settings included, in descriptor order.
    pub interfaces: Vec<Interface>,
}

/// One interface (alternate setting) of a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub number: u8,
    pub alternate_setting: u8,
    pub class: u8,
    pub subclass: u8,
    pub protocol: u8,
    pub endpoints: Vec<Endpoint>,
}

/// One endpoint of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// bEndpointAddress: number in bits 0–3, direction in bit 7.
    pub address: u8,
    /// bmAttributes: transfer type in bits 0–1.
    pub attributes: u8,
    /// wMaxPacketSize bits 0–10 (the high-bandwidth multiplier bits are dropped).
    pub max_packet_size: u16,
}

impl Endpoint {
    pub(crate) fn is_in(&self) -> bool {
        self.address & ENDPOINT_DIR_IN != 0
    }

    pub(crate) fn is_bulk(&self) -> bool {
        self.attributes & TRANSFER_TYPE_MASK == TRANSFER_TYPE_BULK
    }
}

impl Configuration {
    /// The distinct interface numbers of this configuration, ascending.
    pub fn interface_numbers(&self) -> Vec<u8> {
        let mut numbers: Vec<u8> = self.interfaces.iter().map(|i| i.number).collect();
        numbers.sort_unstable();
        numbers.dedup();
        numbers
    }
}

/// Why raw descriptor bytes were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptorError {
    #[error("descriptor data ends early at byte {at} (needs {needed} more bytes)")]
    Truncated { at: usize, needed: usize },
    #[error("descriptor at byte {at} has an impossible length {length}")]
    BadLength { at: usize, length: u8 },
    #[error("expected descriptor type {expected} at byte {at}, found {found}")]
    WrongType { at: usize, expected: u8, found: u8 },
    #[error("endpoint descriptor at byte {at} does not follow an interface descriptor")]
    OrphanEndpoint { at: usize },
}

fn need(bytes: &[u8], at: usize, len: usize) -> Result<&[u8], DescriptorError> {
    match bytes.get(at..).and_then(|rest| rest.get(..len)) {
        Some(slice) => Ok(slice),
        None => Err(DescriptorError::Truncated {
            at,
            needed: len.saturating_sub(bytes.len().saturating_sub(at)),
        }),
    }
}

impl Configuration {
    /// Parse one configuration descriptor with everything it contains (wTotalLength bytes, as
    /// GET_DESCRIPTOR(CONFIGURATION) returns it). Returns the configuration and the number of
    /// bytes it used, so several can be parsed back to back.
    pub fn parse(bytes: &[u8]) -> Result<(Configuration, usize), DescriptorError> {
        let header = need(bytes, 0, CONFIG_LEN)?;
        if (header[0] as usize) < CONFIG_LEN {
            return Err(DescriptorError::BadLength {
                at: 0,
                length: header[0],
            });
        }
        if header[1] != DT_CONFIG {
            return Err(DescriptorError::WrongType {
                at: 0,
                expected: DT_CONFIG,
                found: header[1],
            });
        }
        let total = u16::from_le_bytes([header[2], header[3]]) as usize;
        if total < header[0] as usize {
            return Err(DescriptorError::BadLength {
                at: 0,
                length: header[0],
            });
        }
        let body = need(bytes, 0, total)?;
        let mut config = Configuration {
            value: header[5],
            interfaces: Vec::new(),
        };

        let mut at = header[0] as usize;
        while at < total {
            let head = need(body, at, 2)?;
            let (length, kind) = (head[0], head[1]);
            if length < 2 {
                // A zero length would loop forever; one byte cannot hold a type.
                return Err(DescriptorError::BadLength { at, length });
            }
            let desc = need(body, at, length as usize)?;
            match kind {
                DT_INTERFACE => {
                    if desc.len() < INTERFACE_LEN {
                        return Err(DescriptorError::BadLength { at, length });
                    }
                    config.interfaces.push(Interface {
                        number: desc[2],
                        alternate_setting: desc[3],
                        class: desc[5],
                        subclass: desc[6],
                        protocol: desc[7],
                        endpoints: Vec::new(),
                    });
                }
                DT_ENDPOINT => {
                    if desc.len() < ENDPOINT_LEN {
                        return Err(DescriptorError::BadLength { at, length });
                    }
                    let endpoint = Endpoint {
                        address: desc[2],
                        attributes: desc[3],
                        max_packet_size: u16::from_le_bytes([desc[4], desc[5]]) & 0x07ff,
                    };
                    match config.interfaces.last_mut() {
                        Some(interface) => interface.endpoints.push(endpoint),
                        None => return Err(DescriptorError::OrphanEndpoint { at }),
                    }
                }
                // Class-specific, association, SuperSpeed companion, …: not needed here.
                _ => {}
            }
            at += length as usize;
        }
        Ok((config, total))
    }
}

impl UsbDescriptors {
    /// Parse configuration descriptors laid end to end (each with its own wTotalLength).
    pub fn parse_configurations(mut bytes: &[u8]) -> Result<UsbDescriptors, DescriptorError> {
        let mut configurations = Vec::new();
        while !bytes.is_empty() {
            let (config, used) = Configuration::parse(bytes)?;
            configurations.push(config);
            bytes = &bytes[used..];
        }
        Ok(UsbDescriptors { configurations })
    }

    /// Parse the layout of Linux's `/sys/bus/usb/devices/*/descriptors` and of reading a usbfs
    /// device node: the 18-byte device descriptor, then its configurations.
    pub(crate) fn parse_device_blob(bytes: &[u8]) -> Result<UsbDescriptors, DescriptorError> {
        let device = need(bytes, 0, DEVICE_LEN)?;
        if (device[0] as usize) < DEVICE_LEN {
            return Err(DescriptorError::BadLength {
                at: 0,
                length: device[0],
            });
        }
        if device[1] != DT_DEVICE {
            return Err(DescriptorError::WrongType {
                at: 0,
                expected: DT_DEVICE,
                found: device[1],
            });
        }
        let rest = &bytes[device[0] as usize..];
        Self::parse_configurations(rest)
    }
}

/// Builders for raw descriptor bytes shaped like real devices, shared by this module's and the
/// planner's tests.
#[cfg(test)]
pub(crate) mod fixtures {
    /// (class, subclass, protocol, endpoints as (address, attributes, max packet size))
    pub(crate) type IfaceSpec<'a> = (u8, u8, u8, &'a [(u8, u8, u16)]);

    pub(crate) const BULK: u8 = 2;
    pub(crate) const INTERRUPT: u8 = 3;

    /// One configuration descriptor with interfaces numbered 0, 1, … in the order given.
    pub(crate) fn config(value: u8, interfaces: &[IfaceSpec<'_>]) -> Vec<u8> {
        build_config(value, interfaces, false)
    }

    /// The same at SuperSpeed: every endpoint is followed by its SuperSpeed endpoint companion
    /// descriptor (type 0x30), as a USB 3 device sends them.
    pub(crate) fn config_ss(value: u8, interfaces: &[IfaceSpec<'_>]) -> Vec<u8> {
        build_config(value, interfaces, true)
    }

    fn build_config(value: u8, interfaces: &[IfaceSpec<'_>], companions: bool) -> Vec<u8> {
        let mut body = Vec::new();
        for (number, (class, subclass, protocol, endpoints)) in interfaces.iter().enumerate() {
            body.extend_from_slice(&[
                9,
                4,
                number as u8,
                0,
                endpoints.len() as u8,
                *class,
                *subclass,
                *protocol,
                0,
            ]);
            for (address, attributes, mps) in endpoints.iter() {
                let [lo, hi] = mps.to_le_bytes();
                body.extend_from_slice(&[7, 5, *address, *attributes, lo, hi, 0]);
                if companions {
                    body.extend_from_slice(&[6, 0x30, 0, 0, 0, 0]);
                }
            }
        }
        let total = (9 + body.len()) as u16;
        let [lo, hi] = total.to_le_bytes();
        let mut out = vec![9, 2, lo, hi, interfaces.len() as u8, value, 0, 0xc0, 250];
        out.extend_from_slice(&body);
        out
    }

    pub(crate) const PTP: IfaceSpec<'static> = (
        6,
        1,
        1,
        &[(0x02, BULK, 512), (0x81, BULK, 512), (0x83, INTERRUPT, 64)],
    );
    pub(crate) const MUX: IfaceSpec<'static> =
        (255, 254, 2, &[(0x04, BULK, 512), (0x85, BULK, 512)]);
    pub(crate) const ETHERNET: IfaceSpec<'static> =
        (255, 253, 1, &[(0x06, BULK, 512), (0x87, BULK, 512)]);
    pub(crate) const AUDIO_CONTROL: IfaceSpec<'static> = (1, 1, 0, &[]);
    pub(crate) const HID: IfaceSpec<'static> = (3, 0, 0, &[(0x83, INTERRUPT, 64)]);

    /// A phone in the default mode: configs 1 PTP, 2 iPod audio+HID, 3 PTP+mux,
    /// 4 PTP+mux+Ethernet.
    pub(crate) fn phone_mode1() -> Vec<u8> {
        [
            config(1, &[PTP]),
            config(2, &[AUDIO_CONTROL, HID]),
            config(3, &[PTP, MUX]),
            config(4, &[PTP, MUX, ETHERNET]),
        ]
        .concat()
    }

    /// "NCM Direct only": one configuration, no mux interface.
    pub(crate) fn phone_mode5() -> Vec<u8> {
        config(
            1,
            &[
                (2, 0x0d, 0, &[(0x83, INTERRUPT, 16)]),
                (10, 0, 1, &[(0x01, BULK, 512), (0x82, BULK, 512)]),
            ],
        )
    }

    /// The SuperSpeed interfaces of a USB-C iPhone (15 Pro and later on a USB 3 cable): the same
    /// layout, bulk endpoints of 1024 bytes.
    pub(crate) const PTP_SS: IfaceSpec<'static> = (
        6,
        1,
        1,
        &[
            (0x02, BULK, 1024),
            (0x81, BULK, 1024),
            (0x83, INTERRUPT, 64),
        ],
    );
    pub(crate) const MUX_SS: IfaceSpec<'static> =
        (255, 254, 2, &[(0x04, BULK, 1024), (0x85, BULK, 1024)]);
    pub(crate) const ETHERNET_SS: IfaceSpec<'static> =
        (255, 253, 1, &[(0x06, BULK, 1024), (0x87, BULK, 1024)]);
    pub(crate) const NCM_CONTROL: IfaceSpec<'static> = (2, 0x0d, 0, &[(0x88, INTERRUPT, 16)]);
    pub(crate) const NCM_DATA: IfaceSpec<'static> =
        (10, 0, 1, &[(0x09, BULK, 1024), (0x8a, BULK, 1024)]);

    /// A USB-C iPhone at SuperSpeed in the CDC-NCM mode: configurations 1–4 as in the default
    /// mode, plus configuration 5 with network functions only and no usbmux interface (the
    /// highest configuration is not the one to pick).
    pub(crate) fn phone_usb_c() -> Vec<u8> {
        [
            config_ss(1, &[PTP_SS]),
            config_ss(2, &[AUDIO_CONTROL, HID]),
            config_ss(3, &[PTP_SS, MUX_SS]),
            config_ss(4, &[PTP_SS, MUX_SS, ETHERNET_SS]),
            config_ss(5, &[PTP_SS, NCM_CONTROL, NCM_DATA]),
        ]
        .concat()
    }

    /// The QEMU gadget: one configuration, mux only, endpoints reassigned by the UDC.
    pub(crate) fn gadget() -> Vec<u8> {
        config(1, &[(255, 254, 2, &[(0x02, BULK, 512), (0x81, BULK, 512)])])
    }

    /// Ethernet listed before the mux interface (an OR-ing matcher would pick Ethernet).
    pub(crate) fn ethernet_first() -> Vec<u8> {
        config(1, &[PTP, ETHERNET, MUX])
    }

    pub(crate) fn device_descriptor(num_configs: u8) -> Vec<u8> {
        device_descriptor_for(0x0200, 64, num_configs)
    }

    /// A USB 3.2 device descriptor (bcdUSB 3.20, 512-byte control endpoint as 2^9).
    pub(crate) fn device_descriptor_usb3(num_configs: u8) -> Vec<u8> {
        device_descriptor_for(0x0320, 9, num_configs)
    }

    fn device_descriptor_for(bcd_usb: u16, max_packet0: u8, num_configs: u8) -> Vec<u8> {
        let [usb_lo, usb_hi] = bcd_usb.to_le_bytes();
        vec![
            18,
            1,
            usb_lo,
            usb_hi,
            0,
            0,
            0,
            max_packet0,
            0xac,
            0x05,
            0xa8,
            0x12,
            0x02,
            0x10,
            1,
            2,
            3,
            num_configs,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn parses_a_mode1_phone() {
        let d = UsbDescriptors::parse_configurations(&phone_mode1()).unwrap();
        let values: Vec<u8> = d.configurations.iter().map(|c| c.value).collect();
        assert_eq!(values, [1, 2, 3, 4]);
        let c4 = &d.configurations[3];
        assert_eq!(c4.interface_numbers(), [0, 1, 2]);
        let mux = &c4.interfaces[1];
        assert_eq!((mux.class, mux.subclass, mux.protocol), (255, 254, 2));
        assert_eq!(
            mux.endpoints,
            [
                Endpoint {
                    address: 0x04,
                    attributes: 2,
                    max_packet_size: 512
                },
                Endpoint {
                    address: 0x85,
                    attributes: 2,
                    max_packet_size: 512
                },
            ]
        );
        assert!(mux.endpoints[1].is_in() && mux.endpoints[1].is_bulk());
        assert!(!mux.endpoints[0].is_in());
        assert!(!c4.interfaces[0].endpoints[2].is_bulk());
    }

    #[test]
    fn parses_the_device_blob_layout() {
        let blob = [device_descriptor(1), gadget()].concat();
        let d = UsbDescriptors::parse_device_blob(&blob).unwrap();
        assert_eq!(d.configurations.len(), 1);
        assert_eq!(d.configurations[0].interfaces[0].endpoints[0].address, 0x02);
        let mut bad = blob.clone();
        bad[1] = 2;
        assert!(matches!(
            UsbDescriptors::parse_device_blob(&bad),
            Err(DescriptorError::WrongType {
                at: 0,
                expected: 1,
                found: 2
            })
        ));
    }

    #[test]
    fn parses_a_usb_c_phone_at_superspeed() {
        // The layout the usbfs device node returns: device descriptor, then configurations 1–5.
        let blob = [device_descriptor_usb3(5), phone_usb_c()].concat();
        let d = UsbDescriptors::parse_device_blob(&blob).unwrap();
        let values: Vec<u8> = d.configurations.iter().map(|c| c.value).collect();
        assert_eq!(values, [1, 2, 3, 4, 5]);
        // The companion descriptor after each endpoint is skipped, not taken for an endpoint.
        let mux = &d.configurations[3].interfaces[1];
        assert_eq!(mux.endpoints.len(), 2);
        assert_eq!(mux.endpoints[0].max_packet_size, 1024);
        assert!(
            d.configurations[4]
                .interfaces
                .iter()
                .all(|i| (i.class, i.subclass) != (255, 254))
        );
    }

    #[test]
    fn skips_unknown_descriptors_and_masks_packet_size() {
        let mut raw = gadget();
        // Insert a SuperSpeed companion (type 0x30) after the first endpoint and set the
        // high-bandwidth bits of the second endpoint's wMaxPacketSize.
        let companion = [6u8, 0x30, 0, 0, 0, 0];
        let first_ep_end = 9 + 9 + 7;
        raw.splice(first_ep_end..first_ep_end, companion);
        let total = raw.len() as u16;
        raw[2..4].copy_from_slice(&total.to_le_bytes());
        let second_mps_hi = first_ep_end + 6 + 5;
        raw[second_mps_hi] |= 0x18;
        let (c, used) = Configuration::parse(&raw).unwrap();
        assert_eq!(used, raw.len());
        assert_eq!(c.interfaces[0].endpoints.len(), 2);
        assert_eq!(c.interfaces[0].endpoints[1].max_packet_size, 512);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        // A truncated set parses only when the cut falls between two configurations.
        let parts = [
            config(1, &[PTP]),
            config(3, &[PTP, MUX]),
            config(4, &[PTP, MUX, ETHERNET]),
        ];
        let good = parts.concat();
        let boundaries: Vec<usize> = parts
            .iter()
            .scan(0, |end, part| {
                *end += part.len();
                Some(*end)
            })
            .collect();
        for cut in 0..good.len() {
            let parsed = UsbDescriptors::parse_configurations(&good[..cut]);
            assert_eq!(
                parsed.is_ok(),
                cut == 0 || boundaries.contains(&cut),
                "cut at {cut}"
            );
        }
        assert!(matches!(
            Configuration::parse(&[9, 2, 0xff, 0xff, 1, 1, 0, 0, 0]),
            Err(DescriptorError::Truncated { .. })
        ));
        // A zero-length inner descriptor must not loop forever.
        assert!(matches!(
            Configuration::parse(&[9, 2, 11, 0, 1, 1, 0, 0, 0, 0, 4]),
            Err(DescriptorError::BadLength { at: 9, length: 0 })
        ));
        // An endpoint before any interface.
        assert!(matches!(
            Configuration::parse(&[9, 2, 16, 0, 1, 1, 0, 0, 0, 7, 5, 0x81, 2, 0, 2, 0]),
            Err(DescriptorError::OrphanEndpoint { at: 9 })
        ));
        // An interface descriptor too short to hold its fields.
        assert!(matches!(
            Configuration::parse(&[9, 2, 13, 0, 1, 1, 0, 0, 0, 4, 4, 0, 0]),
            Err(DescriptorError::BadLength { at: 9, length: 4 })
        ));
        // wTotalLength shorter than the header.
        assert!(Configuration::parse(&[9, 2, 3, 0, 1, 1, 0, 0, 0]).is_err());
        // Not a configuration descriptor.
        assert!(matches!(
            Configuration::parse(&[9, 4, 9, 0, 1, 1, 0, 0, 0]),
            Err(DescriptorError::WrongType { .. })
        ));
        // Pseudo-random garbage, deterministic.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let len = (state % 64) as usize;
            let mut buf = Vec::with_capacity(len);
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                buf.push(state as u8);
            }
            if buf.len() > 1 {
                buf[1] = 2; // get past the type check often
            }
            let _ = UsbDescriptors::parse_configurations(&buf);
            let _ = UsbDescriptors::parse_device_blob(&buf);
        }
    }
}
