//! The two ends of the mux pipe as data: which side an engine plays and that side's own state.
//! A leaf: `engine` holds a `Side`, and `host`/`device` add each side's `impl MuxEngine` block
//! over it, so none of the three needs to import another's state types from a sibling that
//! imports it back.

/// Which end of the pipe an engine plays, and that end's own state.
#[derive(Debug)]
pub(super) enum Side {
    Host(HostSide),
    Device(DeviceSide),
}

/// The host side's own state.
#[derive(Debug)]
pub(super) struct HostSide {
    /// The source port of the next connection we open.
    pub(super) next_sport: u16,
    /// Packets of an earlier session dropped while waiting for VERSION (see `handle_host`).
    pub(super) stale_before_version: usize,
}

/// Whether a service listens on a port of the simulated phone.
pub(crate) type Listening = Box<dyn Fn(u16) -> bool + Send>;

/// The device side's own state.
pub(super) struct DeviceSide {
    /// Initial sequence number for accepted connections.
    pub(super) isn: u32,
    /// Decides whether a SYN is accepted.
    pub(super) listening: Listening,
}

impl std::fmt::Debug for DeviceSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSide")
            .field("isn", &self.isn)
            .finish()
    }
}
