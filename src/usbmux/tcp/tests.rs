//! Unit tests of the emulated TCP: header bytes, handshake, windows, resets, sequence wrap, and
//! the table's round robin and anonymous RSTs.

use bytes::Bytes;

use super::*;

/// Move every queued segment from `from` to `to`, collecting `to`'s events.
fn deliver(from: &mut Connection, to: &mut Connection) -> Vec<ConnEvent> {
    let mut events = Vec::new();
    while let Some((hdr, payload)) = from.next_segment() {
        if let Some(e) = to.on_segment(&hdr, payload) {
            events.push(e);
        }
    }
    events
}

fn pair(host_isn: u32, dev_isn: u32) -> (Connection, Connection) {
    let mut host = Connection::connect(1, 62078, host_isn);
    let (syn, _) = host.next_segment().unwrap();
    assert_eq!(syn.flags, SYN);
    let mut dev = Connection::accept(62078, &syn, dev_isn);
    assert_eq!(deliver(&mut dev, &mut host), vec![ConnEvent::Connected]);
    assert_eq!(deliver(&mut host, &mut dev), vec![]);
    assert_eq!(dev.state(), State::Established);
    (host, dev)
}

fn data_of(events: Vec<ConnEvent>) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        match e {
            ConnEvent::Data(b) => out.extend_from_slice(&b),
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

#[test]
fn header_round_trips_and_matches_usbmuxd_syn() {
    let hdr = TcpHeader {
        sport: 1,
        dport: 62078,
        seq: 0,
        ack: 0,
        flags: SYN,
        window: 0x200,
    };
    let bytes = hdr.to_bytes();
    assert_eq!(
        bytes,
        [
            0, 1, 0xf2, 0x7e, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 2, 0, 0, 0, 0, 0
        ]
    );
    let (back, data) = TcpHeader::parse(Bytes::copy_from_slice(&bytes)).unwrap();
    assert_eq!(back, hdr);
    assert!(data.is_empty());
    assert_eq!(back.window_bytes(), 131072);
    assert!(TcpHeader::parse(Bytes::from_static(&[0; 19])).is_err());
    let mut bad = bytes;
    bad[12] = 0xf0; // 60-byte data offset in a 20-byte segment
    assert!(TcpHeader::parse(Bytes::copy_from_slice(&bad)).is_err());
}

#[test]
fn handshake_uses_isn_zero_and_acks_one() {
    let mut host = Connection::connect(1, 62078, 0);
    let (syn, _) = host.next_segment().unwrap();
    assert_eq!((syn.seq, syn.ack, syn.flags, syn.window), (0, 0, SYN, 512));
    let mut dev = Connection::accept(62078, &syn, 0);
    let (synack, _) = dev.next_segment().unwrap();
    assert_eq!((synack.seq, synack.ack, synack.flags), (0, 1, SYN | ACK));
    assert_eq!(
        host.on_segment(&synack, Bytes::new()),
        Some(ConnEvent::Connected)
    );
    let (ack, _) = host.next_segment().unwrap();
    assert_eq!((ack.seq, ack.ack, ack.flags), (1, 1, ACK));
}

#[test]
fn window_exhaustion_and_recovery() {
    let (mut host, mut dev) = pair(0, 0);
    let big = Bytes::from(vec![7u8; 300_000]);
    assert_eq!(host.send(big.clone()), WINDOW as usize);
    assert_eq!(host.sendable(), 0);
    assert_eq!(host.send(big.slice(..10)), 0);
    // Segments respect the host payload limit.
    let mut sizes = Vec::new();
    while let Some((hdr, payload)) = host.next_segment() {
        sizes.push(payload.len());
        dev.on_segment(&hdr, payload);
    }
    assert_eq!(
        sizes,
        vec![MAX_PAYLOAD, MAX_PAYLOAD, WINDOW as usize - 2 * MAX_PAYLOAD]
    );
    // Nothing consumed: the device's ACKs (none yet) keep the window shut.
    assert_eq!(deliver(&mut dev, &mut host), vec![]);
    assert_eq!(host.sendable(), 0);
    // The application takes 50 000 bytes: the ACK opens exactly that much.
    dev.consumed(50_000);
    deliver(&mut dev, &mut host);
    assert_eq!(host.sendable(), 50_000);
    dev.consumed(WINDOW as usize);
    deliver(&mut dev, &mut host);
    assert_eq!(host.sendable(), WINDOW as usize);
}

#[test]
fn data_beyond_our_window_resets() {
    let (mut host, mut dev) = pair(0, 0);
    let hdr = TcpHeader {
        sport: 1,
        dport: 62078,
        seq: 1,
        ack: 1,
        flags: ACK,
        window: 512,
    };
    let too_much = Bytes::from(vec![0u8; WINDOW as usize + 1]);
    match dev.on_segment(&hdr, too_much) {
        Some(ConnEvent::Reset {
            by_peer: false,
            reason: Some(r),
        }) => assert!(r.contains("window")),
        other => panic!("{other:?}"),
    }
    let (rst, reason) = dev.next_segment().unwrap();
    assert_eq!(rst.flags, RST);
    assert!(!reason.is_empty());
    assert!(dev.is_finished());
    match host.on_segment(&rst, reason) {
        Some(ConnEvent::Reset {
            by_peer: true,
            reason: Some(r),
        }) => assert!(r.contains("window")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rst_from_either_side_with_reason() {
    let (mut host, mut dev) = pair(0, 0);
    dev.close(Some("service went away"));
    assert_eq!(
        deliver(&mut dev, &mut host),
        vec![ConnEvent::Reset {
            reason: Some("service went away".into()),
            by_peer: true
        }]
    );
    assert!(host.is_finished() && dev.is_finished());

    let (mut host, mut dev) = pair(0, 0);
    host.send(Bytes::from_static(b"last words"));
    host.close(None);
    let events = deliver(&mut host, &mut dev);
    assert_eq!(
        events,
        vec![
            ConnEvent::Data(Bytes::from_static(b"last words")),
            ConnEvent::Reset {
                reason: None,
                by_peer: true
            }
        ]
    );
}

#[test]
fn rst_to_syn_is_refused() {
    let mut host = Connection::connect(3, 1234, 0);
    let (syn, _) = host.next_segment().unwrap();
    let rst = TcpHeader {
        sport: 1234,
        dport: 3,
        seq: 0,
        ack: syn.seq,
        flags: RST,
        window: 0,
    };
    assert_eq!(
        host.on_segment(&rst, Bytes::new()),
        Some(ConnEvent::Refused)
    );
    assert!(host.is_finished());
}

#[test]
fn sequence_numbers_wrap() {
    let (mut host, mut dev) = pair(u32::MAX - 1000, u32::MAX - 5);
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut sent = 0;
    let mut got_dev = Vec::new();
    let mut got_host = Vec::new();
    while got_dev.len() < payload.len() || got_host.len() < payload.len() {
        sent += host.send(Bytes::copy_from_slice(&payload[sent.min(payload.len())..]));
        let d = data_of(deliver(&mut host, &mut dev));
        dev.consumed(d.len());
        got_dev.extend_from_slice(&d);
        // Echo back what arrived.
        assert_eq!(dev.send(Bytes::from(d.clone())), d.len());
        let h = data_of(deliver(&mut dev, &mut host));
        host.consumed(h.len());
        got_host.extend_from_slice(&h);
        deliver(&mut host, &mut dev);
    }
    assert_eq!(got_dev, payload);
    assert_eq!(got_host, payload);
    assert!(host.snd_nxt < 1_000_000, "host sequence numbers wrapped");
    assert!(dev.snd_nxt < 1_000_000, "device sequence numbers wrapped");
}

#[test]
fn out_of_sequence_and_bogus_ack_reset() {
    let (_, mut dev) = pair(0, 0);
    let hdr = TcpHeader {
        sport: 1,
        dport: 62078,
        seq: 99,
        ack: 1,
        flags: ACK,
        window: 512,
    };
    assert!(matches!(
        dev.on_segment(&hdr, Bytes::from_static(b"x")),
        Some(ConnEvent::Reset { by_peer: false, .. })
    ));
    let (_, mut dev) = pair(0, 0);
    let hdr = TcpHeader {
        sport: 1,
        dport: 62078,
        seq: 1,
        ack: 5000,
        flags: ACK,
        window: 512,
    };
    assert!(matches!(
        dev.on_segment(&hdr, Bytes::new()),
        Some(ConnEvent::Reset { .. })
    ));
    let (_, mut dev) = pair(0, 0);
    let hdr = TcpHeader {
        sport: 1,
        dport: 62078,
        seq: 1,
        ack: 1,
        flags: SYN,
        window: 512,
    };
    assert!(matches!(
        dev.on_segment(&hdr, Bytes::new()),
        Some(ConnEvent::Reset { .. })
    ));
}

#[test]
fn table_sends_anonymous_rst_for_unknown_connection() {
    let mut table = ConnTable::default();
    let hdr = TcpHeader {
        sport: 62078,
        dport: 9,
        seq: 1234,
        ack: 77,
        flags: ACK,
        window: 512,
    };
    assert_eq!(table.on_segment(&hdr, Bytes::from_static(b"stray")), None);
    let (rst, payload) = table.next_segment().unwrap();
    assert_eq!(
        (rst.sport, rst.dport, rst.seq, rst.ack, rst.flags),
        (9, 62078, 77, 1234, RST)
    );
    assert!(payload.is_empty());
    // Never answer an RST with an RST.
    let rst_in = TcpHeader { flags: RST, ..hdr };
    table.on_segment(&rst_in, Bytes::new());
    assert!(!table.has_output());
}

#[test]
fn table_round_robins_and_forgets_closed() {
    let mut table = ConnTable::default();
    let a = table.insert(Connection::connect(1, 100, 0));
    let b = table.insert(Connection::connect(2, 100, 0));
    assert_eq!(table.next_segment().unwrap().0.sport, 1);
    assert_eq!(table.next_segment().unwrap().0.sport, 2);
    assert!(table.next_segment().is_none());
    table.close(a, None);
    table.close(b, Some("bye"));
    assert!(table.next_segment().is_some());
    assert!(table.next_segment().is_some());
    assert!(table.is_empty());
    assert!(!table.port_in_use(1));
}
