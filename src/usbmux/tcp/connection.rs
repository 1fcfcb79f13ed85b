//! One emulated TCP connection, host or device role: its state machine, sequence and window
//! accounting, and the queue of segments waiting to go out. Knows nothing of other connections.

use std::collections::VecDeque;

use bytes::Bytes;

use super::header::{ACK, MAX_PAYLOAD, RST, SYN, TcpHeader, WINDOW};

/// Longest RST reason we keep (the rest is dropped).
const MAX_REASON: usize = 1024;

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
pub(crate) enum ConnEvent {
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
    pub(super) snd_nxt: u32,
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

    /// Bytes sent (or queued) but not acknowledged.
    pub(crate) fn in_flight(&self) -> u32 {
        self.snd_nxt.wrapping_sub(self.snd_una)
    }

    /// How many more bytes `send` would take now.
    pub(crate) fn sendable(&self) -> usize {
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
    pub(crate) fn consumed(&mut self, n: usize) {
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

    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty() || self.ack_pending
    }

    /// Closed with nothing left to send: the table can forget it.
    pub(crate) fn is_finished(&self) -> bool {
        self.state == State::Closed && self.out.is_empty()
    }

    /// The next segment to transmit, if any.
    pub(crate) fn next_segment(&mut self) -> Option<(TcpHeader, Bytes)> {
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
    pub(crate) fn on_segment(&mut self, hdr: &TcpHeader, payload: Bytes) -> Option<ConnEvent> {
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
