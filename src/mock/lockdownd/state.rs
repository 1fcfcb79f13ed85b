//! What the simulated lockdownd remembers: how the user answers the trust alert, the paired hosts,
//! the counters tests read, the scripted faults, and each connection's session. Plain data, a leaf
//! the request handlers and the connection loop share.

use std::collections::HashMap;

use crate::mock::stall::Stall;

/// How the simulated user answers the "Trust This Computer?" alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustBehaviour {
    /// Pair succeeds at once.
    TrustImmediately,
    /// Pair answers PairingDialogResponsePending this many times, then succeeds.
    TrustAfterPolls(u32),
    /// "Don't Trust": UserDeniedPairing.
    Deny,
    /// The phone is locked: PasswordProtected.
    Locked,
}

/// Which certificate a host presented in the session TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresentedCertificate {
    Host,
    Root,
}

/// What the phone remembers about a paired host.
#[derive(Debug, Clone)]
pub struct HostRecord {
    pub host_certificate: Vec<u8>,
    pub root_certificate: Vec<u8>,
    pub device_certificate: Vec<u8>,
    pub system_buid: Option<String>,
}

pub(super) struct State {
    pub(super) behaviour: TrustBehaviour,
    /// PairingDialogResponsePending answers given since the alert went up.
    pub(super) pending_answers: u32,
    pub(super) hosts: HashMap<String, HostRecord>,
    pub(super) pair_requests: u32,
    pub(super) sessions_started: u32,
    pub(super) last_presented: Option<PresentedCertificate>,
    /// Where to go silent, for tests of the host's deadlines.
    pub(super) stall: Option<Stall>,
    /// Restarted and not unlocked since: Pair, StartSession and StartService answer
    /// PasswordProtected until `unlock`.
    pub(super) locked_since_boot: bool,
    /// The next StartService ends the connection's session and answers SessionInactive.
    pub(super) session_inactive_once: bool,
}

/// Per-connection state.
#[derive(Default)]
pub(super) struct Connection {
    pub(super) session: Option<Session>,
    pub(super) close_after_reply: bool,
    /// A stall hit: answer nothing more on this connection.
    pub(super) silent: bool,
}

pub(super) struct Session {
    pub(super) id: String,
    pub(super) host_id: String,
}
