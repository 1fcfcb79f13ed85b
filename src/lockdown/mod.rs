//! Lockdown: the iPhone's control service on port 62078, in both roles.
//!
//! Sans-I/O core: `codec` (framing), `messages` (requests and replies), `channel` (one socket,
//! plaintext ⇄ TLS), `tls` (rustls configs), `certs` and `records` (pairing material).
//! Thin tokio drivers: `client` (host role), and `pairing`, the pairing flows over it and
//! `unlock`'s waits. The device role lives in `crate::mock::lockdownd`.
//!
//! Typical host use: `LockdownClient::new(stream)` on port 62078, `query_type`, then
//! `ensure_paired_session` (or `pair_device` for `pair`, `start_paired_session` to refuse
//! pairing), then `info`, or `service::start` and `StartedService::connect` to open a service
//! (TLS included), then `stop_session`. `unlock` waits for a phone that
//! has not been unlocked since it restarted. Records: `PairRecordStores`.

pub mod certs;
pub(crate) mod channel;
pub(crate) mod client;
pub mod codec;
pub(crate) mod error;
pub mod messages;
pub mod muxd_records;
mod pair_record;
mod pairing;
mod record_dir;
pub(crate) mod records;
pub mod service;
pub(crate) mod tls;
pub(crate) mod tls_stream;
pub(crate) mod unlock;

pub(crate) use client::TRUST_PROMPT;
pub use client::{
    LockdownClient, PairingOptions, PairingProgress, ServiceEndpoint, start_paired_session,
    start_service_once, unpair_device,
};
pub use error::{CertError, DeviceError, LockdownError, LockdownFrameError, RecordError};
pub use pairing::{ensure_paired_session, pair_device};
pub use record_dir::DirectoryStore;
pub use records::{PairRecord, PairRecordSource, PairRecordStores, RecordOrigin};
pub(crate) use unlock::start_session_when_unlocked;
pub use unlock::{UNLOCK_PROMPT, start_service_when_unlocked};
