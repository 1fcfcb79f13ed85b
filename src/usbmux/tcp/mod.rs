//! The mux protocol's emulated TCP: the 20-byte header, one connection's state machine, and the
//! table of connections one link carries. Used by both the host and the device role.
//!
//! The USB pipe neither loses nor reorders, so there are no retransmissions: a segment out of
//! sequence or beyond our window is a protocol error and resets the connection.
//!
//! Split by concept: `header` (the wire header and constants), `event` (connection ids and the
//! engines' events), `connection` (one connection's state machine), `table` (all connections on a
//! link). The items are re-exported here, so `usbmux::tcp::X` paths stay as they were.

// missing_docs: pub for the fuzz targets and protocol tests; fields and variants carry the wire format's names.
#![allow(missing_docs)]

mod connection;
mod event;
mod header;
mod table;

pub(crate) use connection::ConnEvent;
pub use connection::{Connection, State};
pub use event::{ConnId, MuxEvent};
#[cfg(test)]
pub(crate) use header::{ACK, MAX_PAYLOAD, WINDOW};
pub use header::{RST, SYN, TcpHeader};
pub(crate) use table::ConnTable;

#[cfg(test)]
mod tests;
