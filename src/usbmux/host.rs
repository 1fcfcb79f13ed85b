//! The host side of the mux engine: offer VERSION {2, 0}, send SETUP after a v2 answer, open
//! connections from source ports 1 upward (as usbmuxd does). See `engine` for the call order.

use super::engine::{Control, MuxEngine};
use super::error::MuxProtocolError;
use super::frame::{self, DEV_MRU, Decoder, Packet, Protocol, SeqCounter};
use super::side::{HostSide, Side};
use super::tcp::{ConnId, Connection, MuxEvent, TcpHeader};

/// How many TCP/control packets may precede the VERSION reply before that is a protocol error.
/// After the cable is pulled and plugged in again, the phone's IN pipe can still hold packets of
/// the connection that died with the old session (seen with the simulated phone's USB gadget in
/// the USB VM: the re-run after a replug failed on one such packet).
const MAX_STALE_BEFORE_VERSION: usize = 64;

impl MuxEngine {
    /// A host-side engine with VERSION {2, 0} queued.
    pub fn host() -> MuxEngine {
        let side = Side::Host(HostSide {
            next_sport: 1,
            stale_before_version: 0,
        });
        let mut engine = MuxEngine::with_side(side, Decoder::new(DEV_MRU), SeqCounter::new(0xffff));
        engine.control.push_back(Control::Version);
        engine
    }

    /// Open a connection to `port` on the device (its SYN is queued). `None` when every local
    /// port is in use, or on the device side (a phone never connects). Usable before the device
    /// answered VERSION: the SYN waits behind SETUP.
    pub fn connect(&mut self, port: u16) -> Option<ConnId> {
        let Side::Host(host) = &mut self.side else {
            return None;
        };
        // usbmuxd allocates source ports from 1 upward, skipping those in use.
        for _ in 0..u16::MAX {
            let sport = host.next_sport;
            host.next_sport = if sport == u16::MAX { 1 } else { sport + 1 };
            if !self.conns.port_in_use(sport) {
                return Some(self.conns.insert(Connection::connect(sport, port, 0)));
            }
        }
        None
    }

    pub(super) fn handle_host(&mut self, packet: Packet) -> Result<(), MuxProtocolError> {
        let Side::Host(host) = &mut self.side else {
            unreachable!("host packets go to a host engine");
        };
        match (self.ready, packet.protocol) {
            (false, Protocol::Version) => {
                let (major, minor) = frame::decode_version(&packet.payload)?;
                match major {
                    1 => {}
                    2 => {
                        self.seqs.set_v2(true);
                        self.decoder.set_v2(true);
                        // SETUP goes before any SYN already queued.
                        self.control.push_back(Control::Setup);
                    }
                    _ => return Err(MuxProtocolError::UnsupportedVersion { major, minor }),
                }
                self.ready = true;
                self.events.push_back(MuxEvent::Ready { major, minor });
            }
            (false, Protocol::Tcp | Protocol::Control)
                if host.stale_before_version < MAX_STALE_BEFORE_VERSION =>
            {
                host.stale_before_version += 1;
                tracing::debug!(
                    "dropping a {:?} packet from before VERSION",
                    packet.protocol
                );
            }
            (false, other) => return Err(MuxProtocolError::BeforeVersion(other)),
            (true, Protocol::Version | Protocol::Setup) => {
                // A repeated VERSION or a SETUP from the device means nothing to us.
                tracing::debug!("ignoring {:?} packet from the device", packet.protocol);
            }
            (true, Protocol::Control) => {
                let kind = packet.payload.first().copied().unwrap_or(0);
                let text = String::from_utf8_lossy(packet.payload.get(1..).unwrap_or_default());
                let text = text.trim_end_matches('\0').to_string();
                self.events.push_back(MuxEvent::Control { kind, text });
            }
            (true, Protocol::Tcp) => {
                let (hdr, payload) = TcpHeader::parse(packet.payload)?;
                self.on_segment(&hdr, payload);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bytes::Bytes;

    use super::*;
    use crate::usbmux::frame::{Seqs, encode_setup, encode_tcp, encode_version};
    use crate::usbmux::sans_io::SansIo;
    use crate::usbmux::tcp::{ACK, RST, SYN};
    use crate::usbmux::test_hex::hex;

    fn device_tcp(tx_seq: u16, hdr: TcpHeader, payload: &[u8]) -> Bytes {
        encode_tcp(Some(Seqs { tx_seq, rx_seq: 0 }), &hdr.to_bytes(), payload)
    }

    #[test]
    fn startup_bytes_match_usbmuxd() {
        let mut host = MuxEngine::host();
        let conn = host.connect(62078).unwrap();
        assert_eq!(
            host.poll_transmit().unwrap().as_ref(),
            hex("00000000 00000014 00000002 00000000 00000000").as_slice()
        );
        // Nothing more until the device answers VERSION.
        assert!(host.poll_transmit().is_none());
        assert!(!host.has_transmit());
        host.handle_input(Instant::now(), encode_version(2, 0))
            .unwrap();
        assert_eq!(
            host.poll_event(),
            Some(MuxEvent::Ready { major: 2, minor: 0 })
        );
        assert_eq!(
            host.poll_transmit().unwrap().as_ref(),
            hex("00000002 00000011 feedface 0000 ffff 07").as_slice()
        );
        assert_eq!(
            host.poll_transmit().unwrap().as_ref(),
            hex("00000006 00000024 feedface 0001 ffff 0001 f27e 00000000 00000000 50 02 0200 0000 0000")
                .as_slice()
        );
        // Closing before the SYN-ACK: the same SYN with tx_seq 2 and RST (usb-vm.md §10 packet 4).
        host.close(conn, None);
        assert_eq!(
            host.poll_transmit().unwrap().as_ref(),
            hex("00000006 00000024 feedface 0002 ffff 0001 f27e 00000000 00000000 50 04 0200 0000 0000")
                .as_slice()
        );
        assert!(host.poll_transmit().is_none());
        assert_eq!(host.connection_count(), 0);
    }

    #[test]
    fn version_split_across_reads_and_v1_device() {
        let mut host = MuxEngine::host();
        host.poll_transmit();
        let v = encode_version(1, 0);
        for b in v.iter() {
            host.handle_input(Instant::now(), Bytes::copy_from_slice(&[*b]))
                .unwrap();
        }
        assert_eq!(
            host.poll_event(),
            Some(MuxEvent::Ready { major: 1, minor: 0 })
        );
        // v1: no SETUP, 8-byte headers.
        host.connect(7).unwrap();
        let syn = host.poll_transmit().unwrap();
        assert_eq!(syn.len(), 8 + 20);
        assert_eq!(&syn[0..8], &hex("00000006 0000001c")[..]);
    }

    #[test]
    fn unsupported_version_is_an_error() {
        let mut host = MuxEngine::host();
        assert_eq!(
            host.handle_input(Instant::now(), encode_version(3, 1)),
            Err(MuxProtocolError::UnsupportedVersion { major: 3, minor: 1 })
        );
        let mut host = MuxEngine::host();
        assert!(matches!(
            host.handle_input(
                Instant::now(),
                encode_setup(Seqs {
                    tx_seq: 0,
                    rx_seq: 0
                })
            ),
            Err(MuxProtocolError::BeforeVersion(_) | MuxProtocolError::Frame(_))
        ));
    }

    #[test]
    fn packets_of_an_earlier_session_before_version_are_dropped_within_a_bound() {
        // A replugged phone whose IN pipe still held a segment of the dead session's connection.
        let stale = encode_tcp(None, &[0u8; 20], b"old bytes");
        let mut host = MuxEngine::host();
        assert_eq!(host.handle_input(Instant::now(), stale.clone()), Ok(()));
        assert!(!host.is_ready());
        host.handle_input(Instant::now(), encode_version(2, 0))
            .unwrap();
        assert!(host.is_ready());

        let mut host = MuxEngine::host();
        for _ in 0..MAX_STALE_BEFORE_VERSION {
            host.handle_input(Instant::now(), stale.clone()).unwrap();
        }
        assert_eq!(
            host.handle_input(Instant::now(), stale),
            Err(MuxProtocolError::BeforeVersion(Protocol::Tcp))
        );
    }

    fn ready_host() -> MuxEngine {
        let mut host = MuxEngine::host();
        host.handle_input(Instant::now(), encode_version(2, 0))
            .unwrap();
        host.poll_event();
        while host.poll_transmit().is_some() {}
        host
    }

    #[test]
    fn connect_data_consume_ack_and_device_reset() {
        let mut host = ready_host();
        let conn = host.connect(62078).unwrap();
        host.poll_transmit().unwrap();
        let synack = TcpHeader {
            sport: 62078,
            dport: 1,
            seq: 0,
            ack: 1,
            flags: SYN | ACK,
            window: 512,
        };
        // SYN-ACK and the first data segment coalesced into one read.
        let data = TcpHeader {
            seq: 1,
            flags: ACK,
            ..synack
        };
        let mut both = device_tcp(5, synack, &[]).to_vec();
        both.extend_from_slice(&device_tcp(6, data, b"hello"));
        host.handle_input(Instant::now(), Bytes::from(both))
            .unwrap();
        assert_eq!(host.poll_event(), Some(MuxEvent::Connected(conn)));
        assert_eq!(
            host.poll_event(),
            Some(MuxEvent::Data(conn, Bytes::from_static(b"hello")))
        );
        // The handshake ACK acknowledges only the SYN: nothing is consumed yet.
        let ack = host.poll_transmit().unwrap();
        assert_eq!(
            &ack[12..16],
            &[0, 2, 0, 6],
            "tx_seq counts on, rx_seq echoes the device"
        );
        let (h, _) = TcpHeader::parse(ack.slice(16..)).unwrap();
        assert_eq!((h.seq, h.ack, h.flags), (1, 1, ACK));
        assert!(host.poll_transmit().is_none());
        host.consumed(conn, 5);
        let (h, _) = TcpHeader::parse(host.poll_transmit().unwrap().slice(16..)).unwrap();
        assert_eq!(h.ack, 6);
        // Device resets with a reason.
        let rst = TcpHeader {
            seq: 6,
            flags: RST,
            ..synack
        };
        host.handle_input(Instant::now(), device_tcp(7, rst, b"no more"))
            .unwrap();
        assert_eq!(
            host.poll_event(),
            Some(MuxEvent::Reset {
                conn,
                reason: Some("no more".into()),
                by_peer: true
            })
        );
        assert_eq!(host.connection_count(), 0);
        // A late segment for the dead connection gets an anonymous RST.
        let late = TcpHeader {
            seq: 6,
            ack: 1,
            flags: ACK,
            ..synack
        };
        host.handle_input(Instant::now(), device_tcp(8, late, b"zzz"))
            .unwrap();
        let (h, _) = TcpHeader::parse(host.poll_transmit().unwrap().slice(16..)).unwrap();
        assert_eq!(
            (h.sport, h.dport, h.seq, h.ack, h.flags),
            (1, 62078, 1, 6, RST)
        );
    }

    #[test]
    fn refused_port_and_sport_allocation() {
        let mut host = ready_host();
        let a = host.connect(1000).unwrap();
        let b = host.connect(1000).unwrap();
        while host.poll_transmit().is_some() {}
        let rst = TcpHeader {
            sport: 1000,
            dport: 1,
            seq: 0,
            ack: 0,
            flags: RST,
            window: 0,
        };
        host.handle_input(Instant::now(), device_tcp(1, rst, &[]))
            .unwrap();
        assert_eq!(host.poll_event(), Some(MuxEvent::Refused(a)));
        assert_eq!(host.connection_count(), 1);
        assert_ne!(a, b);
        // sport 2 is still in use; the next one is 3.
        host.connect(1000).unwrap();
        let syn = host.poll_transmit().unwrap();
        let (h, _) = TcpHeader::parse(syn.slice(16..)).unwrap();
        assert_eq!(h.sport, 3);
    }

    #[test]
    fn control_text_is_reported_and_garbage_is_fatal() {
        let mut host = ready_host();
        host.handle_input(
            Instant::now(),
            frame::encode_control(
                Some(Seqs {
                    tx_seq: 1,
                    rx_seq: 0,
                }),
                7,
                "hi there",
            ),
        )
        .unwrap();
        assert_eq!(
            host.poll_event(),
            Some(MuxEvent::Control {
                kind: 7,
                text: "hi there".into()
            })
        );
        assert!(
            host.handle_input(
                Instant::now(),
                Bytes::from_static(&[0, 0, 0, 9, 0, 0, 0, 16])
            )
            .is_err()
        );
    }
}
