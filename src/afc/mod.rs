//! AFC (Apple File Conduit, `com.apple.afc`): the phone's file service, jailed to
//! `/var/mobile/Media`. Sans-I/O codec in both roles (`codec`, `messages`, `device`) and an async
//! host client (`client`).
//!
//! - The host can only read: `messages::HostRequest` has no variant for a modifying operation and
//!   FileRefOpen is always encoded in mode 1, so "write to the phone" cannot be expressed.
//! - The phone is untrusted: every length is checked against a limit before allocating
//!   (`MAX_BODY_LEN` overall; a read's reply may not exceed what was asked), names that are not
//!   UTF-8 are errors, and a reply to a packet nobody asked for ends the connection with an error.
//! - Whole-file copies are open + pipelined reads (4 MiB each, 3 in flight) + close, with memory
//!   bounded by the reads in flight, not by the file size. A consumer can take the reply bodies
//!   themselves (`ChunkSink`) and give full-size ones back for reuse (`BodyPool`).

pub(crate) mod body_pool;
pub(crate) mod chunk_sink;
pub(crate) mod client;
pub mod codec;
pub mod device;
pub(crate) mod error;
pub mod messages;
pub(crate) mod opcode;
pub(crate) mod status_code;

pub use body_pool::BodyPool;
pub use chunk_sink::ChunkSink;
pub use client::{AfcClient, ClientOptions, FileHandle};
pub use codec::MAX_BODY_LEN;
pub use error::{AfcError, AfcProtocolError};
pub use messages::{DeviceInfo, FileInfo, FileKind, Whence};
pub use opcode::Opcode;
pub use status_code::AfcStatus;
