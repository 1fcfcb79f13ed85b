//! The mux protocol without I/O, for either side of the USB pipe: `MuxEngine::host()` is what we
//! run to reach a phone, `MuxEngine::device(listening)` what the simulated phone runs. Both
//! share the framing, the packet counters and the emulated TCP connections; the side decides
//! what a VERSION means, who opens connections and who accepts them (`host.rs`, `device.rs`).
//!
//! Call order ([`SansIo`]): feed every read from the link to `handle_input`; drain
//! `poll_event`; write what `poll_transmit` returns, one packet per link message. Between those,
//! the application may `connect` (host), `send`, report `consumed` bytes and `close`. The mux
//! itself has no timers (`poll_timeout` is always `None`): the driver bounds the handshake and
//! each connect.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::error::MuxProtocolError;
use super::frame::{Decoder, Packet, SeqCounter, encode_setup, encode_tcp, encode_version};
use super::sans_io::SansIo;
use super::side::Side;
use super::tcp::{ConnEvent, ConnId, ConnTable, MuxEvent, TcpHeader};

/// Outgoing packets that are not TCP segments.
#[derive(Debug)]
pub(super) enum Control {
    /// VERSION {2, 0}: the host's offer, or the device's answer.
    Version,
    /// SETUP; its v2 counters are assigned when it leaves (host only).
    Setup,
}

/// A mux engine for one link.
#[derive(Debug)]
pub struct MuxEngine {
    pub(super) side: Side,
    /// The peer's VERSION has been seen (host: accepted; device: answered).
    pub(super) ready: bool,
    pub(super) decoder: Decoder,
    pub(super) seqs: SeqCounter,
    pub(super) control: VecDeque<Control>,
    pub(super) conns: ConnTable,
    pub(super) events: VecDeque<MuxEvent>,
}

impl MuxEngine {
    pub(super) fn with_side(side: Side, decoder: Decoder, seqs: SeqCounter) -> MuxEngine {
        MuxEngine {
            side,
            ready: false,
            decoder,
            seqs,
            control: VecDeque::new(),
            conns: ConnTable::default(),
            events: VecDeque::new(),
        }
    }

    #[cfg(test)]
    /// The peer's VERSION has been seen.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready
    }

    /// Queue data; returns how many bytes the peer's window accepted.
    pub fn send(&mut self, conn: ConnId, data: Bytes) -> usize {
        self.conns.send(conn, data)
    }

    #[cfg(test)]
    /// How many bytes `send` would accept now.
    pub(crate) fn sendable(&self, conn: ConnId) -> usize {
        self.conns.sendable(conn)
    }

    /// The application has taken `n` received bytes: acknowledge them.
    pub(crate) fn consumed(&mut self, conn: ConnId, n: usize) {
        self.conns.consumed(conn, n)
    }

    /// Close a connection: queued data first, then RST, carrying `reason` if given (usbmuxd
    /// logs a device's reason; a host sends none).
    pub fn close(&mut self, conn: ConnId, reason: Option<&str>) {
        self.conns.close(conn, reason)
    }

    /// Connections not yet forgotten.
    pub(crate) fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// All open connections.
    pub fn connections(&self) -> Vec<ConnId> {
        self.conns.ids()
    }

    /// A TCP segment for an existing connection (or an anonymous RST for an unknown one).
    pub(super) fn on_segment(&mut self, hdr: &TcpHeader, payload: Bytes) {
        if let Some((conn, event)) = self.conns.on_segment(hdr, payload) {
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

    fn handle(&mut self, packet: Packet) -> Result<(), MuxProtocolError> {
        self.seqs.received(packet.seqs);
        match self.side {
            Side::Host(_) => self.handle_host(packet),
            Side::Device(_) => self.handle_device(packet),
        }
    }
}

impl SansIo for MuxEngine {
    /// One whole mux packet.
    type Transmit = Bytes;
    type Event = MuxEvent;
    type Error = MuxProtocolError;

    /// Bytes from the peer, split anywhere. An error is fatal for the link.
    fn handle_input(&mut self, _now: Instant, data: Bytes) -> Result<(), MuxProtocolError> {
        self.decoder.push(data);
        while let Some(packet) = self.decoder.next_packet()? {
            self.handle(packet)?;
        }
        Ok(())
    }

    fn has_transmit(&self) -> bool {
        !self.control.is_empty() || (self.ready && self.conns.has_output())
    }

    fn poll_transmit(&mut self) -> Option<Bytes> {
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
        if !self.ready {
            return None;
        }
        let (hdr, payload) = self.conns.next_segment()?;
        let seqs = self.seqs.advance();
        Some(encode_tcp(seqs, &hdr.to_bytes(), &payload))
    }

    fn poll_event(&mut self) -> Option<MuxEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _now: Instant) -> Result<(), MuxProtocolError> {
        Ok(())
    }
}
