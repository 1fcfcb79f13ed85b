//! The device side of the mux engine: what an iPhone does on its end of the USB pipe. Used by
//! the simulated phone. Answers VERSION with {2, 0}, accepts SETUP, accepts or refuses
//! connections, and tolerates whatever packet counters the host uses. See `engine` for the call
//! order.

use super::engine::{Control, MuxEngine};
use super::error::MuxProtocolError;
use super::frame::{self, Decoder, HOST_MTU, Packet, Protocol, SeqCounter};
use super::side::{DeviceSide, Side};
use super::tcp::{Connection, MuxEvent, SYN, TcpHeader};

impl MuxEngine {
    /// A device-side engine; `listening(port)` decides whether a SYN to `port` is accepted.
    pub fn device(listening: impl Fn(u16) -> bool + Send + 'static) -> MuxEngine {
        let side = Side::Device(DeviceSide {
            isn: 0,
            listening: Box::new(listening),
        });
        MuxEngine::with_side(side, Decoder::new(HOST_MTU), SeqCounter::new(0))
    }

    #[cfg(test)]
    /// Initial sequence number for accepted connections (0, as on a real phone; tests vary it).
    /// Device side only.
    pub(crate) fn set_isn(&mut self, isn: u32) {
        if let Side::Device(device) = &mut self.side {
            device.isn = isn;
        }
    }

    pub(super) fn handle_device(&mut self, packet: Packet) -> Result<(), MuxProtocolError> {
        match packet.protocol {
            Protocol::Version => {
                let (major, _minor) = frame::decode_version(&packet.payload)?;
                // We are a v2 device; a host asking for 1 gets v1 framing (our answer says 2,
                // which such a host would reject anyway).
                self.seqs.set_v2(major >= 2);
                self.decoder.set_v2(major >= 2);
                if self.ready {
                    // A second VERSION: the host restarted its mux (a new process, a restarted
                    // usbmuxd) and will reuse source ports. Its old connections are dead; end
                    // ours quietly so its new SYNs are not refused as reused.
                    for conn in self.conns.forget_all() {
                        self.events.push_back(MuxEvent::Reset {
                            conn,
                            reason: Some("the host restarted its mux".into()),
                            by_peer: true,
                        });
                    }
                    self.control.clear();
                }
                self.ready = true;
                self.control.push_back(Control::Version);
            }
            _ if !self.ready => return Err(MuxProtocolError::BeforeVersion(packet.protocol)),
            Protocol::Setup | Protocol::Control => {
                // SETUP (0x07) restarts the host's counters; we tolerate any values, so there is
                // nothing to do. CONTROL never comes from a host.
            }
            Protocol::Tcp => {
                let (hdr, payload) = TcpHeader::parse(packet.payload)?;
                if hdr.flags == SYN {
                    self.on_syn(&hdr);
                } else {
                    // Connected and Refused cannot come up: only a host opens connections.
                    self.on_segment(&hdr, payload);
                }
            }
        }
        Ok(())
    }

    fn on_syn(&mut self, syn: &TcpHeader) {
        let Side::Device(device) = &self.side else {
            unreachable!("SYNs are handled on the device side");
        };
        if let Some(existing) = self.conns.lookup(syn.dport, syn.sport) {
            // A SYN on a live connection: the host lost track of it. Reset ours and refuse.
            self.conns.close(existing, Some("connection reused"));
            self.events.push_back(MuxEvent::Reset {
                conn: existing,
                reason: Some("the host reopened this connection".into()),
                by_peer: false,
            });
            self.conns.anon_rst(syn);
            return;
        }
        if (device.listening)(syn.dport) {
            let conn = self
                .conns
                .insert(Connection::accept(syn.dport, syn, device.isn));
            self.events.push_back(MuxEvent::Accepted {
                conn,
                port: syn.dport,
            });
        } else {
            self.conns.anon_rst(syn);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bytes::Bytes;

    use super::*;
    use crate::usbmux::frame::{DEV_MRU, Seqs, encode_setup, encode_tcp, encode_version};
    use crate::usbmux::sans_io::SansIo;
    use crate::usbmux::tcp::{ACK, RST, WINDOW};
    use crate::usbmux::test_hex::hex;

    #[test]
    fn a_host_that_restarts_its_mux_can_reuse_its_ports() {
        let mut dev = MuxEngine::device(only_62078);
        let mut first = MuxEngine::host();
        pump(&mut first, &mut dev, 4096);
        first.connect(62078).expect("sport");
        let (_, de) = pump(&mut first, &mut dev, 4096);
        assert!(
            de.iter().any(|e| matches!(e, MuxEvent::Accepted { .. })),
            "{de:?}"
        );
        // A new host process: VERSION again, source ports from 1 again, no RST for the old one.
        let mut second = MuxEngine::host();
        let (_, de) = pump(&mut second, &mut dev, 4096);
        assert!(
            de.iter()
                .any(|e| matches!(e, MuxEvent::Reset { by_peer: true, .. })),
            "old connection torn down: {de:?}"
        );
        assert_eq!(dev.connection_count(), 0);
        second.connect(62078).expect("sport");
        let (he, de) = pump(&mut second, &mut dev, 4096);
        assert!(
            de.iter()
                .any(|e| matches!(e, MuxEvent::Accepted { port: 62078, .. })),
            "the reused source port is accepted: {de:?}"
        );
        assert!(
            he.iter().any(|e| matches!(e, MuxEvent::Connected(_))),
            "{he:?}"
        );
    }

    fn only_62078(port: u16) -> bool {
        port == 62078
    }

    #[test]
    fn answers_usbmuxd_bytes() {
        let mut dev = MuxEngine::device(only_62078);
        // usbmuxd's first three packets, delivered coalesced.
        let input = hex(
            "00000000 00000014 00000002 00000000 00000000
             00000002 00000011 feedface 0000 ffff 07
             00000006 00000024 feedface 0001 ffff 0001 f27e 00000000 00000000 50 02 0200 0000 0000",
        );
        dev.handle_input(Instant::now(), Bytes::from(input))
            .unwrap();
        assert_eq!(
            dev.poll_transmit().unwrap().as_ref(),
            hex("00000000 00000014 00000002 00000000 00000000").as_slice()
        );
        let conn = match dev.poll_event() {
            Some(MuxEvent::Accepted { conn, port: 62078 }) => conn,
            other => panic!("{other:?}"),
        };
        let synack = dev.poll_transmit().unwrap();
        // v2 header: our tx_seq 0, rx_seq = host's last tx_seq (1).
        assert_eq!(
            &synack[..16],
            &hex("00000006 00000024 feedface 0000 0001")[..]
        );
        let (h, _) = TcpHeader::parse(synack.slice(16..)).unwrap();
        assert_eq!(
            (h.sport, h.dport, h.seq, h.ack, h.flags, h.window),
            (62078, 1, 0, 1, 0x12, 512)
        );
        assert_eq!(dev.connection_count(), 1);
        dev.close(conn, Some("bye"));
        assert!(dev.poll_transmit().is_some());
        assert_eq!(dev.connection_count(), 0);
    }

    #[test]
    fn syn_to_closed_port_is_reset() {
        let mut dev = MuxEngine::device(only_62078);
        dev.handle_input(Instant::now(), encode_version(2, 0))
            .unwrap();
        dev.poll_transmit();
        let syn = TcpHeader {
            sport: 4,
            dport: 1234,
            seq: 0,
            ack: 0,
            flags: SYN,
            window: 512,
        };
        // Any counters are tolerated.
        dev.handle_input(
            Instant::now(),
            encode_tcp(
                Some(Seqs {
                    tx_seq: 999,
                    rx_seq: 3,
                }),
                &syn.to_bytes(),
                &[],
            ),
        )
        .unwrap();
        assert_eq!(dev.poll_event(), None);
        let (h, _) = TcpHeader::parse(dev.poll_transmit().unwrap().slice(16..)).unwrap();
        assert_eq!((h.sport, h.dport, h.flags), (1234, 4, RST));
    }

    #[test]
    fn segment_for_unknown_connection_gets_anonymous_rst() {
        let mut dev = MuxEngine::device(only_62078);
        dev.handle_input(Instant::now(), encode_version(2, 0))
            .unwrap();
        dev.poll_transmit();
        let seg = TcpHeader {
            sport: 9,
            dport: 62078,
            seq: 500,
            ack: 42,
            flags: ACK,
            window: 512,
        };
        dev.handle_input(
            Instant::now(),
            encode_tcp(
                Some(Seqs {
                    tx_seq: 1,
                    rx_seq: 0,
                }),
                &seg.to_bytes(),
                b"?",
            ),
        )
        .unwrap();
        let (h, _) = TcpHeader::parse(dev.poll_transmit().unwrap().slice(16..)).unwrap();
        assert_eq!(
            (h.sport, h.dport, h.seq, h.ack, h.flags),
            (62078, 9, 42, 500, RST)
        );
    }

    #[test]
    fn packets_before_version_are_fatal() {
        let mut dev = MuxEngine::device(only_62078);
        assert!(
            dev.handle_input(
                Instant::now(),
                encode_setup(Seqs {
                    tx_seq: 0,
                    rx_seq: 0xffff
                })
            )
            .is_err()
        );
        let mut dev = MuxEngine::device(only_62078);
        dev.handle_input(Instant::now(), encode_version(2, 0))
            .unwrap();
        // Host packets are limited to 49152 bytes.
        assert!(
            dev.handle_input(Instant::now(), Bytes::from(hex("00000006 0000c001")))
                .is_err()
        );
    }

    /// Run both engines against each other, moving bytes in `chunk`-sized pieces.
    fn pump(
        host: &mut MuxEngine,
        dev: &mut MuxEngine,
        chunk: usize,
    ) -> (Vec<MuxEvent>, Vec<MuxEvent>) {
        let (mut he, mut de) = (Vec::new(), Vec::new());
        loop {
            let mut moved = false;
            let mut h2d = Vec::new();
            while let Some(p) = host.poll_transmit() {
                h2d.extend_from_slice(&p);
            }
            for c in h2d.chunks(chunk) {
                moved = true;
                dev.handle_input(Instant::now(), Bytes::copy_from_slice(c))
                    .unwrap();
            }
            let mut d2h = Vec::new();
            while let Some(p) = dev.poll_transmit() {
                d2h.extend_from_slice(&p);
            }
            for c in d2h.chunks(chunk) {
                moved = true;
                host.handle_input(Instant::now(), Bytes::copy_from_slice(c))
                    .unwrap();
            }
            while let Some(e) = host.poll_event() {
                he.push(e);
            }
            while let Some(e) = dev.poll_event() {
                de.push(e);
            }
            if !moved {
                return (he, de);
            }
        }
    }

    #[test]
    fn host_and_device_engines_talk_with_wrapping_sequences() {
        for chunk in [1usize, 13, 4096, DEV_MRU] {
            let mut host = MuxEngine::host();
            let mut dev = MuxEngine::device(only_62078);
            dev.set_isn(u32::MAX - 50_000);
            let conn = host.connect(62078).unwrap();
            let refused = host.connect(5).unwrap();
            let (he, de) = pump(&mut host, &mut dev, chunk);
            assert!(he.contains(&MuxEvent::Connected(conn)), "{he:?}");
            assert!(he.contains(&MuxEvent::Refused(refused)), "{he:?}");
            let dconn = match de.as_slice() {
                [MuxEvent::Accepted { conn, port: 62078 }] => *conn,
                other => panic!("{other:?}"),
            };
            // Device → host, 3 windows' worth, across the sequence wrap.
            let data: Vec<u8> = (0..3 * WINDOW as usize).map(|i| (i % 251) as u8).collect();
            let mut sent = 0;
            let mut got = Vec::new();
            while got.len() < data.len() {
                sent += dev.send(dconn, conn_slice(&data, sent));
                let (he, _) = pump(&mut host, &mut dev, chunk);
                for e in he {
                    if let MuxEvent::Data(c, d) = e {
                        assert_eq!(c, conn);
                        host.consumed(c, d.len());
                        got.extend_from_slice(&d);
                    }
                }
            }
            assert_eq!(got, data);
        }
    }

    fn conn_slice(data: &[u8], from: usize) -> Bytes {
        Bytes::copy_from_slice(&data[from..])
    }

    #[test]
    fn device_send_waits_for_host_consumption() {
        let mut host = MuxEngine::host();
        let mut dev = MuxEngine::device(only_62078);
        let conn = host.connect(62078).unwrap();
        let (_, de) = pump(&mut host, &mut dev, 4096);
        let MuxEvent::Accepted { conn: dconn, .. } = de[0] else {
            panic!()
        };
        assert_eq!(
            dev.send(dconn, Bytes::from(vec![1u8; 200_000])),
            WINDOW as usize
        );
        let (he, _) = pump(&mut host, &mut dev, 4096);
        let received: usize = he
            .iter()
            .map(|e| {
                if let MuxEvent::Data(_, d) = e {
                    d.len()
                } else {
                    0
                }
            })
            .sum();
        assert_eq!(received, WINDOW as usize);
        assert_eq!(dev.sendable(dconn), 0);
        host.consumed(conn, 1000);
        pump(&mut host, &mut dev, 4096);
        assert_eq!(dev.sendable(dconn), 1000);
    }
}
