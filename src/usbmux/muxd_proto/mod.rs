//! The usbmuxd socket protocol, sans I/O, in both roles: the client (our `muxd` driver) and the
//! daemon (the simulated iPhone's usbmuxd-compatible front).
//!
//! Every message is a 16-byte little-endian header (length including the header, version
//! 0 = binary / 1 = plist, message type, tag) and a body. Plist messages (type 8) carry an XML
//! dictionary; binary ones carry fixed records. Bytes in, typed requests/replies out, and back.
//! Both peers are untrusted: lengths are checked against
//! [`MAX_MESSAGE_LEN`](frame::MAX_MESSAGE_LEN) before any buffer grows, and nothing here panics
//! on garbage.
//!
//! Split by concept: `frame` (header, limits, decoder), `fields` (typed reads from bodies),
//! `device` (device records and events), `request` (what clients ask), `reply` (what the daemon
//! answers). The items are re-exported here, so `usbmux::muxd_proto::X` paths stay as they were.

// missing_docs: pub for the fuzz targets and protocol tests; fields and variants carry the wire format's names.
#![allow(missing_docs)]

mod device;
mod fields;
mod frame;
mod reply;
mod request;

pub use device::{DeviceEvent, DeviceRecord};
#[cfg(feature = "mock")]
pub(crate) use frame::VERSION_BINARY;
#[cfg(test)]
pub(crate) use frame::message;
pub use frame::{Frame, FrameDecoder, HEADER_LEN, ProtoError};
pub use reply::{Reply, ResultCode};
pub use request::{ClientInfo, Request};
#[cfg(test)]
pub(crate) use {
    device::DEVICE_RECORD_LEN,
    frame::Header,
    frame::{MAX_MESSAGE_LEN, VERSION_PLIST},
};

#[cfg(test)]
mod tests;
