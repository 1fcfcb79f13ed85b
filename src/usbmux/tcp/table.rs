//! All connections on one link: lookup by port pair, lifelong ids, round-robin transmit
//! scheduling, and anonymous RSTs for segments that belong to no connection.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

use super::connection::{ConnEvent, Connection};
use super::event::ConnId;
use super::header::{RST, TcpHeader, WINDOW};

/// A connection plus whether it sits in the transmit queue.
#[derive(Debug)]
struct Slot {
    conn: Connection,
    scheduled: bool,
}

/// All connections on one link, keyed by (our port, peer port), with round-robin transmit
/// scheduling so one busy connection cannot starve the others.
#[derive(Debug, Default)]
pub(crate) struct ConnTable {
    slots: HashMap<ConnId, Slot>,
    by_ports: HashMap<(u16, u16), ConnId>,
    ready: VecDeque<ConnId>,
    /// Anonymous RSTs for segments that belong to no connection.
    anon: VecDeque<TcpHeader>,
    next_id: u64,
}

impl ConnTable {
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn port_in_use(&self, local_port: u16) -> bool {
        self.by_ports.keys().any(|(l, _)| *l == local_port)
    }

    pub(crate) fn insert(&mut self, conn: Connection) -> ConnId {
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

    #[cfg(test)]
    pub(crate) fn get(&self, id: ConnId) -> Option<&Connection> {
        self.slots.get(&id).map(|s| &s.conn)
    }

    pub(crate) fn lookup(&self, local_port: u16, remote_port: u16) -> Option<ConnId> {
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
    pub(crate) fn forget_all(&mut self) -> Vec<ConnId> {
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
    pub(crate) fn send(&mut self, id: ConnId, data: Bytes) -> usize {
        let n = self
            .slots
            .get_mut(&id)
            .map(|s| s.conn.send(data))
            .unwrap_or(0);
        self.schedule(id);
        n
    }

    #[cfg(test)]
    pub(crate) fn sendable(&self, id: ConnId) -> usize {
        self.get(id).map(|c| c.sendable()).unwrap_or(0)
    }

    pub(crate) fn consumed(&mut self, id: ConnId, n: usize) {
        if let Some(s) = self.slots.get_mut(&id) {
            s.conn.consumed(n);
        }
        self.schedule(id);
    }

    pub(crate) fn close(&mut self, id: ConnId, reason: Option<&str>) {
        if let Some(s) = self.slots.get_mut(&id) {
            s.conn.close(reason);
        }
        self.schedule(id);
    }

    /// Route an inbound segment to its connection (by our port = its dport). Unknown
    /// connections get an anonymous RST, unless the segment is itself an RST.
    pub(crate) fn on_segment(
        &mut self,
        hdr: &TcpHeader,
        payload: Bytes,
    ) -> Option<(ConnId, ConnEvent)> {
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
    pub(crate) fn anon_rst(&mut self, hdr: &TcpHeader) {
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

    pub(crate) fn has_output(&self) -> bool {
        !self.ready.is_empty() || !self.anon.is_empty()
    }

    /// The next segment to transmit, round robin over connections.
    pub(crate) fn next_segment(&mut self) -> Option<(TcpHeader, Bytes)> {
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
    pub(crate) fn ids(&self) -> Vec<ConnId> {
        self.slots.keys().copied().collect()
    }
}
