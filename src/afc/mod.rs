//! AFC (Apple File Conduit, `com.apple.afc`): the phone's file service, jailed to
//! `/var/mobile/Media`. Sans-I/O codec in both roles (`codec`, `ops`, `device`) and an async
//! host client (`client`) that can only read.

pub mod client;
pub mod codec;
pub mod device;
pub mod error;
pub mod opcode;
pub mod ops;
pub mod status;

pub use client::{AfcClient, ClientOptions, FileHandle};
pub use codec::{MAX_BODY_LEN, MAX_READ_LEN, ProtocolError};
pub use error::AfcError;
pub use opcode::Opcode;
pub use ops::{DeviceInfo, FileInfo, FileKind, Whence};
pub use status::AfcStatus;
