//! Typed errors of the lockdown layer, each saying what happened and what to do.

// missing_docs: error variants and their fields; each variant's #[error] message says what it is.
#![allow(missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

/// Generates `DeviceError`: one variant per lockdownd `Error` string, plus `Other`
/// for strings we do not know (kept verbatim).
macro_rules! device_errors {
    ($($name:ident => $hint:literal,)*) => {
        /// An `Error` string lockdownd put in a reply (protocol.md §4.5).
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum DeviceError {
            $($name,)*
            /// A string not in the known table, kept as sent.
            Other(String),
        }

        impl DeviceError {
            /// Map lockdownd's string to the typed error; unknown strings become `Other`.
            pub(crate) fn from_wire(s: &str) -> DeviceError {
                match s {
                    $(stringify!($name) => DeviceError::$name,)*
                    other => DeviceError::Other(other.to_string()),
                }
            }

            /// The exact string lockdownd uses on the wire.
            pub fn as_wire(&self) -> &str {
                match self {
                    $(DeviceError::$name => stringify!($name),)*
                    DeviceError::Other(s) => s,
                }
            }

            /// A short explanation for people.
            pub(crate) fn hint(&self) -> &'static str {
                match self {
                    $(DeviceError::$name => $hint,)*
                    DeviceError::Other(_) => "an error this program does not know",
                }
            }
        }
    };
}

device_errors! {
    InvalidResponse => "the phone could not understand the request",
    MissingKey => "a key was missing from the request",
    MissingValue => "the phone has no such value (or it is not available while the phone has not been unlocked since it started)",
    GetProhibited => "the phone does not allow reading this value",
    SetProhibited => "the phone does not allow changing this value",
    RemoveProhibited => "the phone does not allow removing this value",
    ImmutableValue => "the value cannot be changed",
    PasswordProtected => "the iPhone is locked: unlock it and try again",
    UserDeniedPairing => "\"Don't Trust\" was tapped on the iPhone",
    PairingDialogResponsePending => "the iPhone is waiting for someone to tap Trust",
    MissingHostID => "the request carried no HostID",
    InvalidHostID => "the phone does not know this computer's pairing",
    SessionActive => "a session is already active",
    SessionInactive => "no session is active",
    MissingSessionID => "the request carried no SessionID",
    InvalidSessionID => "the SessionID is not the active one",
    MissingService => "the request named no service",
    InvalidService => "the phone has no such service",
    ServiceLimit => "the phone runs as many instances of this service as it allows: quit other programs using the phone (ifuse, a file manager) or unplug and replug it",
    MissingPairRecord => "the request carried no pair record",
    SavePairRecordFailed => "the phone could not save the pairing",
    InvalidPairRecord => "the phone rejected the pair record",
    InvalidActivationRecord => "the activation record is invalid",
    MissingActivationRecord => "the phone is not activated",
    ServiceProhibited => "the phone does not allow this service",
    EscrowLocked => "the iPhone has not been unlocked since it started: unlock it once and try again",
    PairingProhibitedOverThisConnection => "the phone does not allow pairing over this connection",
    FMiPProtected => "Find My iPhone prevents this",
    MCProtected => "a management profile prevents this",
    MCChallengeRequired => "a supervised pairing challenge is required",
    InvalidConnection => "the connection is not valid for this request",
}

impl std::fmt::Display for DeviceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.as_wire(), self.hint())
    }
}

/// Failures of the length-prefixed plist framing.
#[derive(Debug, thiserror::Error)]
pub enum LockdownFrameError {
    #[error("lockdown message of {len} bytes exceeds the limit of {max} bytes")]
    TooLong { len: usize, max: usize },
    #[error(
        "the phone sent a lockdown message that cannot be read ({0}); this is not a pairing problem: reconnect the phone, and if it happens again, report it with the output of `-vv`"
    )]
    BadPlist(String),
    #[error("lockdown message is a plist but not a dictionary")]
    NotADictionary,
    #[error("could not encode a lockdown message: {0}")]
    Encode(String),
}

/// Creating keys and certificates for a pairing.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("RSA key generation failed: {0}")]
    KeyGen(String),
    #[error("the phone's DevicePublicKey is not a usable RSA public key: {0}")]
    DevicePublicKey(String),
    #[error("certificate generation failed: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("the pair record holds an unusable {what}: {detail}; run `iphone-import pair` again")]
    BadRecordMaterial { what: &'static str, detail: String },
}

/// Reading or writing pair records.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("pair record storage {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("pair record {what} is not valid: {detail}")]
    Parse { what: String, detail: String },
    #[error("pair record {what} lacks the key {key}")]
    MissingKey { what: String, key: &'static str },
    #[error("pair record store {0} is read-only")]
    ReadOnly(PathBuf),
    #[error("no place to keep pair records: neither $XDG_DATA_HOME nor $HOME is set")]
    NoDataDir,
    #[error("usbmuxd pair record request failed: {0}")]
    Usbmuxd(String),
}

/// Everything that can go wrong talking to lockdownd.
#[derive(Debug, thiserror::Error)]
pub enum LockdownError {
    #[error("connection to the iPhone's lockdownd failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the iPhone closed the lockdown connection unexpectedly (was it unplugged?)")]
    Closed,
    #[error(transparent)]
    Frame(#[from] LockdownFrameError),
    #[error("TLS with the iPhone failed: {0}")]
    Tls(#[from] rustls::Error),
    #[error("lockdownd answered {request} with something unexpected: {detail}")]
    Protocol { request: String, detail: String },
    #[error("lockdownd refused {request}: {error}")]
    Device { request: String, error: DeviceError },
    #[error(
        "the iPhone is locked. Unlock your iPhone (enter its passcode), keep it unlocked and try again"
    )]
    PasswordProtected,
    #[error(
        "the iPhone stayed locked for {} s: it has not been unlocked since it restarted, and until \
         then its photos are protected. Unlock it with its passcode (after a restart Face ID and \
         Touch ID are not offered) and run the command again, or wait longer with --trust-timeout",
        .0.as_secs()
    )]
    LockedSinceRestart(Duration),
    #[error(
        "the iPhone stayed locked for {} s, so it could not ask whether to trust this computer. \
         Unlock it (after a restart only its passcode does) and run the command again, then tap \
         Trust; or wait longer with --trust-timeout",
        .0.as_secs()
    )]
    LockedAtPairing(Duration),
    #[error(
        "\"Don't Trust\" was tapped on the iPhone, so it refuses this computer. To be asked again: on the iPhone open \
         Settings › General › Transfer or Reset iPhone › Reset › Reset Location & Privacy, then run `iphone-import pair` again and tap Trust"
    )]
    UserDeniedPairing,
    #[error("nobody tapped Trust on the iPhone within {} s. Unlock your iPhone, run `iphone-import pair` again and tap Trust", .0.as_secs())]
    PairingTimedOut(Duration),
    #[error("pairing was cancelled")]
    PairingCancelled,
    #[error(
        "the phone no longer accepts this computer's pairing: run `iphone-import pair` ({detail})"
    )]
    PairingNotAccepted { detail: String },
    #[error(
        "the connection to the iPhone broke during the TLS session ({detail}). This is not the phone refusing \
         this computer's pairing: unplug and replug the iPhone, unlock it and try again. If it keeps \
         happening, please report it with the output of the same command run with RUST_LOG=debug"
    )]
    SessionTlsBroken { detail: String },
    #[error(
        "the iPhone and this computer share no TLS version or cipher for the lockdown session ({detail}). \
         This program speaks TLS 1.2 and 1.3 (ECDHE with AES-GCM or ChaCha20), which iOS 12 and later \
         offer; an iPhone on an older iOS cannot be used: update its iOS. If it runs iOS 12 or later, \
         please report this"
    )]
    TlsIncompatible { detail: String },
    #[error(
        "this computer is not paired with the iPhone {udid}: run `iphone-import pair` and tap Trust on the iPhone"
    )]
    NotPaired { udid: String },
    #[error("no lockdown session is active (start_session first)")]
    NoSession,
    /// Nothing arrived within `--io-timeout` while a reply was outstanding.
    #[error(
        "the phone stopped answering {waiting_for} for {secs} s: unplug it and plug it in again, then run the command again (pull resumes where it stopped)"
    )]
    Stalled { waiting_for: String, secs: u64 },
    #[error(transparent)]
    Certificate(#[from] CertError),
    #[error(transparent)]
    Record(#[from] RecordError),
}

impl LockdownError {
    /// The device's error string, if this is a refusal by lockdownd.
    pub fn device_error(&self) -> Option<&DeviceError> {
        match self {
            LockdownError::Device { error, .. } => Some(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[&str] = &[
        "InvalidResponse",
        "MissingKey",
        "MissingValue",
        "GetProhibited",
        "SetProhibited",
        "RemoveProhibited",
        "ImmutableValue",
        "PasswordProtected",
        "UserDeniedPairing",
        "PairingDialogResponsePending",
        "MissingHostID",
        "InvalidHostID",
        "SessionActive",
        "SessionInactive",
        "MissingSessionID",
        "InvalidSessionID",
        "MissingService",
        "InvalidService",
        "ServiceLimit",
        "MissingPairRecord",
        "SavePairRecordFailed",
        "InvalidPairRecord",
        "InvalidActivationRecord",
        "MissingActivationRecord",
        "ServiceProhibited",
        "EscrowLocked",
        "PairingProhibitedOverThisConnection",
        "FMiPProtected",
        "MCProtected",
        "MCChallengeRequired",
        "InvalidConnection",
    ];

    #[test]
    fn every_known_error_string_maps_to_its_own_variant_and_back() {
        let mut seen = std::collections::HashSet::new();
        for s in ALL {
            let e = DeviceError::from_wire(s);
            assert!(
                !matches!(e, DeviceError::Other(_)),
                "{s} fell through to Other"
            );
            assert_eq!(e.as_wire(), *s);
            assert!(seen.insert(format!("{e:?}")), "{s} shares a variant");
        }
        assert_eq!(seen.len(), 31);
    }

    #[test]
    fn unknown_error_string_is_kept_verbatim() {
        let e = DeviceError::from_wire("SomethingNew");
        assert_eq!(e, DeviceError::Other("SomethingNew".into()));
        assert_eq!(e.as_wire(), "SomethingNew");
        assert!(e.to_string().contains("SomethingNew"));
    }

    #[test]
    fn user_facing_errors_say_what_to_do() {
        assert!(
            LockdownError::PasswordProtected
                .to_string()
                .contains("Unlock your iPhone")
        );
        let denied = LockdownError::UserDeniedPairing.to_string();
        assert!(
            denied.contains("Reset Location & Privacy") && denied.contains("iphone-import pair")
        );
        let locked = LockdownError::LockedSinceRestart(Duration::from_secs(30)).to_string();
        assert!(locked.contains("30 s") && locked.contains("not been unlocked since it restarted"));
        assert!(locked.contains("passcode") && locked.contains("--trust-timeout"));
        let at_pair = LockdownError::LockedAtPairing(Duration::from_secs(30)).to_string();
        assert!(at_pair.contains("30 s") && at_pair.contains("Trust"));
        assert!(at_pair.contains("passcode") && at_pair.contains("--trust-timeout"));
        let gone = LockdownError::PairingNotAccepted {
            detail: "InvalidHostID".into(),
        }
        .to_string();
        assert!(gone.contains("no longer accepts") && gone.contains("run `iphone-import pair`"));
    }
}
