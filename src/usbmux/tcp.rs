//! The mux protocol's emulated TCP: the 20-byte header, one connection's state machine, and the
//! table of connections one link carries. Used by both the host and the device role.
//!
//! The USB pipe neither loses nor reorders, so there are no retransmissions: a segment out of
//! sequence or beyond our window is a protocol error and resets the connection.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

use super::error::MuxFrameError;

pub const TCP_HEADER_LEN: usize = 20;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const ACK: u8 = 0x10;
/// Receive window both sides advertise (usbmuxd and rusbmux use 128 KiB).
pub const WINDOW: u32 = 131072;
/// Largest payload in one host segment: 49152 − 16 − 20.
pub const MAX_PAYLOAD: usize = 49116;
/// Data offset byte: 5 words, no options.
const DATA_OFFSET: u8 = 0x50;
/// Longest RST reason we keep (the rest is dropped).
const MAX_REASON: usize = 1024;

/// The emulated TCP header (big-endian on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpHeader {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// In units of 256 bytes.
    pub window: u16,
}

impl TcpHeader {
    pub fn to_bytes(&self) -> [u8; TCP_HEADER_LEN] {
        let mut b = [0u8; TCP_HEADER_LEN];
        b[0..2].copy_from_slice(&self.sport.to_be_bytes());
        b[2..4].copy_from_slice(&self.dport.to_be_bytes());
        b[4..8].copy_from_slice(&self.seq.to_be_bytes());
        b[8..12].copy_from_slice(&self.ack.to_be_bytes());
        b[12] = DATA_OFFSET;
        b[13] = self.flags;
        b[14..16].copy_from_slice(&self.window.to_be_bytes());
        b
    }

    /// Split a TCP packet payload into header and data.
    pub fn parse(mut packet: Bytes) -> Result<(TcpHeader, Bytes), MuxFrameError> {
        if packet.len() < TCP_HEADER_LEN {
            return Err(MuxFrameError::Malformed {
                what: "TCP segment (shorter than its 20-byte header)",
            });
        }
        let b = &packet[..];
        let hdr = TcpHeader {
            sport: u16::from_be_bytes([b[0], b[1]]),
            dport: u16::from_be_bytes([b[2], b[3]]),
            seq: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            ack: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            flags: b[13],
            window: u16::from_be_bytes([b[14], b[15]]),
        };
        // Honour a data offset other than 5 words, but never one outside the packet.
        let offset = ((b[12] >> 4) as usize * 4).max(TCP_HEADER_LEN);
        if offset > packet.len() {
            return Err(MuxFrameError::Malformed {
                what: "TCP segment (data offset beyond its end)",
            });
        }
        let data = packet.split_off(offset);
        Ok((hdr, data))
    }

    pub fn window_bytes(&self) -> u32 {
        (self.window as u32) << 8
    }
}

/// Identifies one connection on one link for its whole life (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// What the engines report to their driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MuxEvent {
    /// Host: the device answered VERSION; `major` is 1 or 2.
    Ready { major: u32, minor: u32 },
    /// Host: SYN-ACK received, the connection is open.
    Connected(ConnId),
    /// Host: the device answered the SYN with RST (nothing listens) or nonsense.
    Refused(ConnId),
    /// Device: a host opened a connection to a listening port.
    Accepted { conn: ConnId, port: u16 },
    /// Data for the application; ACKed once it reports it `consumed`.
    Data(ConnId, Bytes),
    /// The connection is gone: the peer reset it (with its reason text, if any), or it broke the
    /// protocol and we reset it (reason says what happened).
    Reset {
        conn: ConnId,
        reason: Option<String>,
        by_peer: bool,
    },
    /// Host: a CONTROL message from the device (kind 3 error, 5 warning, 7 info).
    Control { kind: u8, text: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Host: SYN sent, waiting for SYN-ACK.
    SynSent,
    /// Device: SYN-ACK sent, waiting for the host's ACK.
    SynReceived,
    Established,
    /// Reset (either way); only queued output remains.
    Closed,
}

/// A segment waiting to go out; its ACK number and window are filled in when it leaves, so it
/// always carries the latest acknowledgement.
#[derive(Debug)]
struct Outgoing {
    flags: u8,
    seq: u32,
    payload: Bytes,
}

/// What one inbound segment did to a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnEvent {
    Connected,
    Refused,
    Data(Bytes),
    Reset {
        reason: Option<String>,
        by_peer: bool,
    },
}

/// One emulated TCP connection, either role.
#[derive(Debug)]
pub struct Connection {
    /// Our port (sport on what we send).
    pub local_port: u16,
    /// The peer's port.
    pub remote_port: u16,
    state: State,
    /// Oldest unacknowledged sequence number we sent.
    snd_una: u32,
    /// Next sequence number we will send.
    snd_nxt: u32,
    /// The peer's window in bytes, relative to `snd_una`.
    peer_window: u32,
    /// Next sequence number expected from the peer.
    rcv_nxt: u32,
    /// Bytes delivered to the application but not yet consumed (so not yet acknowledged).
    unconsumed: u32,
    /// The acknowledgement number the peer last saw from us (its window is relative to it).
    ack_sent: u32,
    ack_pending: bool,
    out: VecDeque<Outgoing>,
    max_payload: usize,
}

impl Connection {
    /// Host side: a new connection with its SYN queued.
    pub fn connect(local_port: u16, remote_port: u16, isn: u32) -> Connection {
        let mut c = Connection::blank(local_port, remote_port, isn, State::SynSent);
        c.out.push_back(Outgoing {
            flags: SYN,
            seq: isn,
            payload: Bytes::new(),
        });
        c.snd_nxt = isn.wrapping_add(1);
        c.snd_una = isn;
        c
    }

    /// Device side: answer a SYN with SYN-ACK.
    pub fn accept(local_port: u16, syn: &TcpHeader, isn: u32) -> Connection {
        let mut c = Connection::blank(local_port, syn.sport, isn, State::SynReceived);
        c.rcv_nxt = syn.seq.wrapping_add(1);
        c.ack_sent = c.rcv_nxt;
        c.peer_window = syn.window_bytes();
        c.out.push_back(Outgoing {
            flags: SYN | ACK,
            seq: isn,
            payload: Bytes::new(),
        });
        c.snd_nxt = isn.wrapping_add(1);
        c.snd_una = isn.wrapping_add(1);
        c
    }

    fn blank(local_port: u16, remote_port: u16, isn: u32, state: State) -> Connection {
        Connection {
            local_port,
            remote_port,
            state,
            snd_una: isn,
            snd_nxt: isn,
            peer_window: 0,
            rcv_nxt: 0,
            unconsumed: 0,
            ack_sent: 0,
            ack_pending: false,
            out: VecDeque::new(),
            max_payload: MAX_PAYLOAD,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Largest payload per segment (default `MAX_PAYLOAD`).
    pub fn set_max_payload(&mut self, n: usize) {
        self.max_payload = n.clamp(1, MAX_PAYLOAD);
    }

    /// Bytes sent (or queued) but not acknowledged.
    pub fn in_flight(&self) -> u32 {
        self.snd_nxt.wrapping_sub(self.snd_una)
    }

    /// How many more bytes `send` would take now.
    pub fn sendable(&self) -> usize {
        match self.state {
            State::Established | State::SynReceived => {
                self.peer_window.saturating_sub(self.in_flight()) as usize
            }
            _ => 0,
        }
    }

    /// Queue as much of `data` as the peer's window allows; returns how many bytes were taken.
    pub fn send(&mut self, mut data: Bytes) -> usize {
        let n = data.len().min(self.sendable());
        let mut taken = data.split_to(n);
        while !taken.is_empty() {
            let seg = taken.split_to(taken.len().min(self.max_payload));
            let len = seg.len() as u32;
            self.out.push_back(Outgoing {
                flags: ACK,
                seq: self.snd_nxt,
                payload: seg,
            });
            self.snd_nxt = self.snd_nxt.wrapping_add(len);
        }
        n
    }

    /// The application took `n` bytes of received data: acknowledge them (immediately).
    pub fn consumed(&mut self, n: usize) {
        let n = (n.min(u32::MAX as usize) as u32).min(self.unconsumed);
        if n > 0 {
            self.unconsumed -= n;
            if self.state != State::Closed {
                self.ack_pending = true;
            }
        }
    }

    /// Close: whatever is already queued goes out, then an RST (with `reason` as its payload).
    pub fn close(&mut self, reason: Option<&str>) {
        if self.state == State::Closed {
            return;
        }
        if self.state == State::SynSent && !self.out.is_empty() {
            // The SYN never left: nothing to reset.
            self.out.clear();
            self.state = State::Closed;
            return;
        }
        self.queue_rst(reason);
    }

    /// Protocol error: drop queued output and reset at once.
    fn abort(&mut self, reason: String) -> ConnEvent {
        self.out.clear();
        self.queue_rst(Some(&reason));
        ConnEvent::Reset {
            reason: Some(reason),
            by_peer: false,
        }
    }

    fn queue_rst(&mut self, reason: Option<&str>) {
        let payload = reason
            .map(|r| Bytes::copy_from_slice(r.as_bytes()))
            .unwrap_or_default();
        // Before the handshake completes usbmuxd resets with the SYN's own sequence number.
        let seq = if self.state == State::SynSent {
            self.snd_una
        } else {
            self.snd_nxt
        };
        self.out.push_back(Outgoing {
            flags: RST,
            seq,
            payload,
        });
        self.state = State::Closed;
        self.ack_pending = false;
    }

    fn ack_value(&self) -> u32 {
        if self.state == State::SynSent {
            0
        } else {
            self.rcv_nxt.wrapping_sub(self.unconsumed)
        }
    }

    pub fn has_output(&self) -> bool {
        !self.out.is_empty() || self.ack_pending
    }

    /// Closed with nothing left to send: the table can forget it.
    pub fn is_finished(&self) -> bool {
        self.state == State::Closed && self.out.is_empty()
    }

    /// The next segment to transmit, if any.
    pub fn next_segment(&mut self) -> Option<(TcpHeader, Bytes)> {
        let (flags, seq, payload) = match self.out.pop_front() {
            Some(o) => (o.flags, o.seq, o.payload),
            None if self.ack_pending => (ACK, self.snd_nxt, Bytes::new()),
            None => return None,
        };
        let ack = self.ack_value();
        if flags & ACK != 0 {
            self.ack_sent = ack;
            self.ack_pending = false;
        }
        let hdr = TcpHeader {
            sport: self.local_port,
            dport: self.remote_port,
            seq,
            ack: if flags & ACK != 0 || flags & RST != 0 {
                ack
            } else {
                0
            },
            flags,
            window: (WINDOW >> 8) as u16,
        };
        Some((hdr, payload))
    }

    /// Process one inbound segment.
    pub fn on_segment(&mut self, hdr: &TcpHeader, payload: Bytes) -> Option<ConnEvent> {
        match self.state {
            State::Closed => None,
            State::SynSent => {
                if hdr.flags & RST != 0 {
                    self.state = State::Closed;
                    self.out.clear();
                    return Some(ConnEvent::Refused);
                }
                if hdr.flags != SYN | ACK || hdr.ack != self.snd_nxt {
                    self.out.clear();
                    self.queue_rst(None);
                    return Some(ConnEvent::Refused);
                }
                self.rcv_nxt = hdr.seq.wrapping_add(1);
                self.ack_sent = self.rcv_nxt;
                self.snd_una = hdr.ack;
                self.peer_window = hdr.window_bytes();
                self.state = State::Established;
                self.ack_pending = true;
                Some(ConnEvent::Connected)
            }
            State::SynReceived | State::Established => {
                if hdr.flags & RST != 0 {
                    self.state = State::Closed;
                    self.out.clear();
                    self.ack_pending = false;
                    return Some(ConnEvent::Reset {
                        reason: reason_text(&payload),
                        by_peer: true,
                    });
                }
                if hdr.flags != ACK {
                    return Some(self.abort(format!("unexpected TCP flags {:#04x}", hdr.flags)));
                }
                if self.state == State::SynReceived {
                    self.state = State::Established;
                }
                let acked = hdr.ack.wrapping_sub(self.snd_una);
                if acked > self.in_flight() {
                    return Some(self.abort(format!(
                        "acknowledgement {} for data never sent (next is {})",
                        hdr.ack, self.snd_nxt
                    )));
                }
                self.snd_una = hdr.ack;
                self.peer_window = hdr.window_bytes();
                if payload.is_empty() {
                    return None;
                }
                if hdr.seq != self.rcv_nxt {
                    return Some(self.abort(format!(
                        "segment at sequence {} where {} was expected",
                        hdr.seq, self.rcv_nxt
                    )));
                }
                let len = payload.len() as u64;
                let beyond_ack = self.rcv_nxt.wrapping_sub(self.ack_sent) as u64;
                if beyond_ack + len > WINDOW as u64 {
                    return Some(self.abort(format!(
                        "peer sent {} bytes beyond the {WINDOW}-byte window",
                        beyond_ack + len - WINDOW as u64
                    )));
                }
                self.rcv_nxt = self.rcv_nxt.wrapping_add(len as u32);
                self.unconsumed += len as u32;
                Some(ConnEvent::Data(payload))
            }
        }
    }
}

fn reason_text(payload: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&payload[..payload.len().min(MAX_REASON)]);
    let text = text.trim_matches(char::from(0)).trim();
    if text.is_empty() {
        None
    } else {
        Some(text.to_string())
    }
}

/// A connection plus whether it sits in the transmit queue.
#[derive(Debug)]
struct Slot {
    conn: Connection,
    scheduled: bool,
}

/// All connections on one link, keyed by (our port, peer port), with round-robin transmit
/// scheduling so one busy connection cannot starve the others.
#[derive(Debug, Default)]
pub struct ConnTable {
    slots: HashMap<ConnId, Slot>,
    by_ports: HashMap<(u16, u16), ConnId>,
    ready: VecDeque<ConnId>,
    /// Anonymous RSTs for segments that belong to no connection.
    anon: VecDeque<TcpHeader>,
    next_id: u64,
}

impl ConnTable {
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn port_in_use(&self, local_port: u16) -> bool {
        self.by_ports.keys().any(|(l, _)| *l == local_port)
    }

    pub fn insert(&mut self, conn: Connection) -> ConnId {
        let id = ConnId(self.next_id);
        self.next_id += 1;
        self.by_ports
            .insert((conn.local_port, conn.remote_port), id);
        self.slots.insert(
            id,
            Slot {
                conn,
                scheduled: false,
            },
        );
        self.schedule(id);
        id
    }

    pub fn get(&self, id: ConnId) -> Option<&Connection> {
        self.slots.get(&id).map(|s| &s.conn)
    }

    pub fn lookup(&self, local_port: u16, remote_port: u16) -> Option<ConnId> {
        self.by_ports.get(&(local_port, remote_port)).copied()
    }

    fn schedule(&mut self, id: ConnId) {
        if let Some(slot) = self.slots.get_mut(&id) {
            if slot.conn.is_finished() {
                self.forget(id);
            } else if !slot.scheduled && slot.conn.has_output() {
                slot.scheduled = true;
                self.ready.push_back(id);
            }
        }
    }

    /// Drop every connection without sending anything: the peer that knew them is gone (a host
    /// that restarted its mux). Returns their ids so the owner can tear down what it holds.
    pub fn forget_all(&mut self) -> Vec<ConnId> {
        let ids = self.ids();
        for id in &ids {
            self.forget(*id);
        }
        self.ready.clear();
        self.anon.clear();
        ids
    }

    fn forget(&mut self, id: ConnId) {
        if let Some(slot) = self.slots.remove(&id) {
            self.by_ports
                .remove(&(slot.conn.local_port, slot.conn.remote_port));
        }
    }

    /// Queue data; returns how many bytes the peer's window let through.
    pub fn send(&mut self, id: ConnId, data: Bytes) -> usize {
        let n = self
            .slots
            .get_mut(&id)
            .map(|s| s.conn.send(data))
            .unwrap_or(0);
        self.schedule(id);
        n
    }

    pub fn sendable(&self, id: ConnId) -> usize {
        self.get(id).map(|c| c.sendable()).unwrap_or(0)
    }

    pub fn consumed(&mut self, id: ConnId, n: usize) {
        if let Some(s) = self.slots.get_mut(&id) {
            s.conn.consumed(n);
        }
        self.schedule(id);
    }

    pub fn close(&mut self, id: ConnId, reason: Option<&str>) {
        if let Some(s) = self.slots.get_mut(&id) {
            s.conn.close(reason);
        }
        self.schedule(id);
    }

    /// Route an inbound segment to its connection (by our port = its dport). Unknown
    /// connections get an anonymous RST, unless the segment is itself an RST.
    pub fn on_segment(&mut self, hdr: &TcpHeader, payload: Bytes) -> Option<(ConnId, ConnEvent)> {
        let Some(id) = self.lookup(hdr.dport, hdr.sport) else {
            self.anon_rst(hdr);
            return None;
        };
        let slot = self.slots.get_mut(&id).expect("by_ports and slots agree");
        let event = slot.conn.on_segment(hdr, payload);
        self.schedule(id);
        event.map(|e| (id, e))
    }

    /// Answer a segment that belongs to no connection.
    pub fn anon_rst(&mut self, hdr: &TcpHeader) {
        if hdr.flags & RST == 0 {
            self.anon.push_back(TcpHeader {
                sport: hdr.dport,
                dport: hdr.sport,
                seq: hdr.ack,
                ack: hdr.seq,
                flags: RST,
                window: (WINDOW >> 8) as u16,
            });
        }
    }

    pub fn has_output(&self) -> bool {
        !self.ready.is_empty() || !self.anon.is_empty()
    }

    /// The next segment to transmit, round robin over connections.
    pub fn next_segment(&mut self) -> Option<(TcpHeader, Bytes)> {
        if let Some(hdr) = self.anon.pop_front() {
            return Some((hdr, Bytes::new()));
        }
        while let Some(id) = self.ready.pop_front() {
            let Some(slot) = self.slots.get_mut(&id) else {
                continue;
            };
            slot.scheduled = false;
            let seg = slot.conn.next_segment();
            self.schedule(id);
            if seg.is_some() {
                return seg;
            }
        }
        None
    }

    /// All connection ids (for teardown when the link dies).
    pub fn ids(&self) -> Vec<ConnId> {
        self.slots.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
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
}
