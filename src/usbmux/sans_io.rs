//! The one vocabulary every sans-I/O protocol engine here speaks (quinn-proto's): bytes and time
//! in, bytes and events out. The mux engine (`engine::MuxEngine`, either side) and the lockdown
//! `Channel` implement it; their tokio drivers do the I/O and nothing else.
//!
//! A driver's loop, in this order:
//!
//! 1. `handle_input(now, bytes)` with every read from the peer (an error is fatal for the peer);
//! 2. `poll_event()` until `None`, acting on each event (which may queue more output);
//! 3. `poll_transmit()` until `None` (or while `has_transmit()` and the sink has room), writing
//!    each piece in order;
//! 4. sleep until `poll_timeout()` (if any) or the next read, whichever comes first; on waking by
//!    the clock, `handle_timeout(now)`, then back to 2.
//!
//! Application calls between those steps (open a connection, queue a message) only queue output
//! or change state; nothing is written until the driver polls for it.
//! Lives in the bottom layer because every protocol above uses it.

use std::time::Instant;

use bytes::Bytes;

/// The sans-I/O vocabulary every protocol engine speaks (see the module documentation).
pub trait SansIo {
    /// One piece of output: a whole packet, or a run of socket bytes.
    type Transmit;
    /// What the engine reports to its application.
    type Event;
    /// A failure of the peer or of time; fatal for the engine's connection.
    type Error;

    /// Bytes arrived from the peer at `now`.
    fn handle_input(&mut self, now: Instant, data: Bytes) -> Result<(), Self::Error>;
    /// Output is waiting (`poll_transmit` would return something).
    fn has_transmit(&self) -> bool;
    /// The next piece of output to write, in order.
    fn poll_transmit(&mut self) -> Option<Self::Transmit>;
    /// The next event for the application, in order.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// When `handle_timeout` must be called next, if the engine is waiting for anything.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The clock reached `now` (at or after `poll_timeout()`).
    fn handle_timeout(&mut self, now: Instant) -> Result<(), Self::Error>;
}
