//! The host role of the mux protocol, without I/O: feed it the bytes the device sent, take the
//! packets it wants sent and the events it reports. Timeouts belong to the driver.

use std::collections::VecDeque;

use bytes::Bytes;

use super::error::MuxProtocolError;
use super::frame::{
    self, DEV_MRU, Decoder, Packet, Protocol, SeqCounter, encode_setup, encode_tcp, encode_version,
};
use super::tcp::{ConnEvent, ConnId, ConnTable, Connection, MuxEvent, TcpHeader};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitVersion,
    Ready,
}

/// Outgoing packets whose v2 counters are assigned when they leave.
#[derive(Debug)]
enum Control {
    Version,
    Setup,
}

/// Host-role engine for one device.
#[derive(Debug)]
pub struct HostEngine {
    phase: Phase,
    decoder: Decoder,
    seqs: SeqCounter,
    control: VecDeque<Control>,
    conns: ConnTable,
    events: VecDeque<MuxEvent>,
    next_sport: u16,
    /// Packets of an earlier session dropped while waiting for VERSION (see `handle`).
    stale_before_version: usize,
}

/// How many TCP/control packets may precede the VERSION reply before that is a protocol error.
/// After the cable is pulled and plugged in again, the phone's IN pipe can still hold packets of
/// the connection that died with the old session (seen with the simulated phone's USB gadget in
/// the USB VM: the re-run after a replug failed on one such packet).
const MAX_STALE_BEFORE_VERSION: usize = 64;

impl Default for HostEngine {
    fn default() -> Self {
        HostEngine::new()
    }
}

impl HostEngine {
    /// A new engine with VERSION {2, 0} queued.
    pub fn new() -> HostEngine {
        HostEngine {
            phase: Phase::AwaitVersion,
            decoder: Decoder::new(DEV_MRU),
            seqs: SeqCounter::new(0xffff),
            control: VecDeque::from([Control::Version]),
            conns: ConnTable::default(),
            events: VecDeque::new(),
            next_sport: 1,
            stale_before_version: 0,
        }
    }

    /// The device's VERSION has been accepted.
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// Open a connection to `port` on the device (its SYN is queued). `None` when every local
    /// port is in use. Usable before the device answered VERSION: the SYN waits behind SETUP.
    pub fn connect(&mut self, port: u16) -> Option<ConnId> {
        // usbmuxd allocates source ports from 1 upward, skipping those in use.
        for _ in 0..u16::MAX {
            let sport = self.next_sport;
            self.next_sport = if sport == u16::MAX { 1 } else { sport + 1 };
            if !self.conns.port_in_use(sport) {
                return Some(self.conns.insert(Connection::connect(sport, port, 0)));
            }
        }
        None
    }

    /// Queue data; returns how many bytes the device's window accepted.
    pub fn send(&mut self, conn: ConnId, data: Bytes) -> usize {
        self.conns.send(conn, data)
    }

    /// How many bytes `send` would accept now.
    pub fn sendable(&self, conn: ConnId) -> usize {
        self.conns.sendable(conn)
    }

    /// The application has taken `n` received bytes: acknowledge them.
    pub fn consumed(&mut self, conn: ConnId, n: usize) {
        self.conns.consumed(conn, n)
    }

    /// Close (queued data first, then RST).
    pub fn close(&mut self, conn: ConnId) {
        self.conns.close(conn, None)
    }

    /// Connections not yet forgotten.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// All open connections (for teardown when the link dies).
    pub fn connections(&self) -> Vec<ConnId> {
        self.conns.ids()
    }

    /// Bytes from the device. An error is fatal for the link.
    pub fn receive(&mut self, data: Bytes) -> Result<(), MuxProtocolError> {
        self.decoder.push(data);
        while let Some(packet) = self.decoder.next_packet()? {
            self.handle(packet)?;
        }
        Ok(())
    }

    fn handle(&mut self, packet: Packet) -> Result<(), MuxProtocolError> {
        // usbmuxd echoes the device's last tx_seq as its rx_seq.
        self.seqs.received(packet.seqs);
        match (self.phase, packet.protocol) {
            (Phase::AwaitVersion, Protocol::Version) => {
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
                self.phase = Phase::Ready;
                self.events.push_back(MuxEvent::Ready { major, minor });
            }
            (Phase::AwaitVersion, Protocol::Tcp | Protocol::Control)
                if self.stale_before_version < MAX_STALE_BEFORE_VERSION =>
            {
                self.stale_before_version += 1;
                tracing::debug!(
                    "dropping a {:?} packet from before VERSION",
                    packet.protocol
                );
            }
            (Phase::AwaitVersion, other) => return Err(MuxProtocolError::BeforeVersion(other)),
            (Phase::Ready, Protocol::Version | Protocol::Setup) => {
                // A repeated VERSION or a SETUP from the device means nothing to us.
                tracing::debug!("ignoring {:?} packet from the device", packet.protocol);
            }
            (Phase::Ready, Protocol::Control) => {
                let kind = packet.payload.first().copied().unwrap_or(0);
                let text = String::from_utf8_lossy(packet.payload.get(1..).unwrap_or_default());
                let text = text.trim_end_matches('\0').to_string();
                self.events.push_back(MuxEvent::Control { kind, text });
            }
            (Phase::Ready, Protocol::Tcp) => {
                let (hdr, payload) = TcpHeader::parse(packet.payload)?;
                if let Some((conn, event)) = self.conns.on_segment(&hdr, payload) {
                    self.events.push_back(match event {
                        ConnEvent::Connected => MuxEvent::Connected(conn),
                        ConnEvent::Refused => MuxEvent::Refused(conn),
                        ConnEvent::Data(d) => MuxEvent::Data(conn, d),
                        ConnEvent::Reset { reason, by_peer } => MuxEvent::Reset {
                            conn,
                            reason,
                            by_peer,
                        },
                    });
                }
            }
        }
        Ok(())
    }

    pub fn poll_event(&mut self) -> Option<MuxEvent> {
        self.events.pop_front()
    }

    /// Something is waiting to be sent.
    pub fn has_transmit(&self) -> bool {
        !self.control.is_empty() || (self.phase == Phase::Ready && self.conns.has_output())
    }

    /// The next whole mux packet to send.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if let Some(c) = self.control.pop_front() {
            return Some(match c {
                Control::Version => encode_version(2, 0),
                Control::Setup => {
                    // usbmuxd restarts its counters here: SETUP is tx_seq 0, rx_seq 0xffff.
                    self.seqs.restart(0, 0xffff);
                    let seqs = self.seqs.advance().expect("SETUP only in v2");
                    encode_setup(seqs)
                }
            });
        }
        if self.phase != Phase::Ready {
            return None;
        }
        let (hdr, payload) = self.conns.next_segment()?;
        let seqs = self.seqs.advance();
        Some(encode_tcp(seqs, &hdr.to_bytes(), &payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usbmux::frame::Seqs;
    use crate::usbmux::tcp::{ACK, RST, SYN};
    use crate::usbmux::test_hex::hex;

    fn device_tcp(tx_seq: u16, hdr: TcpHeader, payload: &[u8]) -> Bytes {
        encode_tcp(Some(Seqs { tx_seq, rx_seq: 0 }), &hdr.to_bytes(), payload)
    }

    #[test]
    fn startup_bytes_match_usbmuxd() {
        let mut host = HostEngine::new();
        let conn = host.connect(62078).unwrap();
        assert_eq!(
            host.poll_transmit().unwrap().as_ref(),
            hex("00000000 00000014 00000002 00000000 00000000").as_slice()
        );
        // Nothing more until the device answers VERSION.
        assert!(host.poll_transmit().is_none());
        assert!(!host.has_transmit());
        host.receive(encode_version(2, 0)).unwrap();
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
        host.close(conn);
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
        let mut host = HostEngine::new();
        host.poll_transmit();
        let v = encode_version(1, 0);
        for b in v.iter() {
            host.receive(Bytes::copy_from_slice(&[*b])).unwrap();
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
        let mut host = HostEngine::new();
        assert_eq!(
            host.receive(encode_version(3, 1)),
            Err(MuxProtocolError::UnsupportedVersion { major: 3, minor: 1 })
        );
        let mut host = HostEngine::new();
        assert!(matches!(
            host.receive(encode_setup(Seqs {
                tx_seq: 0,
                rx_seq: 0
            })),
            Err(MuxProtocolError::BeforeVersion(_) | MuxProtocolError::Frame(_))
        ));
    }

    #[test]
    fn packets_of_an_earlier_session_before_version_are_dropped_within_a_bound() {
        // A replugged phone whose IN pipe still held a segment of the dead session's connection.
        let stale = encode_tcp(None, &[0u8; 20], b"old bytes");
        let mut host = HostEngine::new();
        assert_eq!(host.receive(stale.clone()), Ok(()));
        assert!(!host.is_ready());
        host.receive(encode_version(2, 0)).unwrap();
        assert!(host.is_ready());

        let mut host = HostEngine::new();
        for _ in 0..MAX_STALE_BEFORE_VERSION {
            host.receive(stale.clone()).unwrap();
        }
        assert_eq!(
            host.receive(stale),
            Err(MuxProtocolError::BeforeVersion(Protocol::Tcp))
        );
    }

    fn ready_host() -> HostEngine {
        let mut host = HostEngine::new();
        host.receive(encode_version(2, 0)).unwrap();
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
        host.receive(Bytes::from(both)).unwrap();
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
        host.receive(device_tcp(7, rst, b"no more")).unwrap();
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
        host.receive(device_tcp(8, late, b"zzz")).unwrap();
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
        host.receive(device_tcp(1, rst, &[])).unwrap();
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
        host.receive(frame::encode_control(
            Some(Seqs {
                tx_seq: 1,
                rx_seq: 0,
            }),
            7,
            "hi there",
        ))
        .unwrap();
        assert_eq!(
            host.poll_event(),
            Some(MuxEvent::Control {
                kind: 7,
                text: "hi there".into()
            })
        );
        assert!(
            host.receive(Bytes::from_static(&[0, 0, 0, 9, 0, 0, 0, 16]))
                .is_err()
        );
    }
}
