//! Lockdown: the iPhone's control service on port 62078, in both roles.
//!
//! Sans-I/O core: `codec` (framing), `messages` (requests and replies), `channel` (one socket,
//! plaintext ⇄ TLS), `tls` (rustls configs), `certs` and `records` (pairing material).
//! Thin tokio drivers: `client` (host role). The device role lives in `crate::mock::lockdownd`.

pub mod certs;
pub mod channel;
pub mod client;
pub mod codec;
pub mod error;
pub mod messages;
pub mod records;
pub mod tls;

pub use client::{
    LockdownClient, PairingOptions, PairingProgress, ServiceEndpoint, TRUST_PROMPT, pair_device,
    start_paired_session, unpair_device,
};
pub use error::{CertError, DeviceError, FrameError, LockdownError, RecordError};
pub use records::{DirectoryStore, PairRecord, PairRecordSource, PairRecordStores, RecordOrigin};
