//! The bottom layer: byte streams to services on an iPhone.
//!
//! Two routes reach a phone: our own implementation of the USB mux protocol (framing and its small
//! TCP emulation, sans-I/O in `frame`/`tcp`/`host`/`device`, driven by `driver` over a `link`),
//! or a client of the usbmuxd daemon's socket (`muxd`). `transport` chooses between them.

pub mod device;
pub mod driver;
pub mod frame;
pub mod host;
pub mod link;
pub mod muxd;
pub mod muxd_proto;
pub mod stream;
pub mod tcp;
pub mod transport;
pub mod usb;

pub use stream::DeviceStream;
pub use transport::{DeviceInfo, Transport, TransportKind};

/// Apple's USB vendor id.
pub const APPLE_VID: u16 = 0x05ac;
/// The lockdownd port on every iPhone.
pub const LOCKDOWN_PORT: u16 = 62078;
