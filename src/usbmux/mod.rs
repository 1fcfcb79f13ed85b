//! The bottom layer: byte streams to services on an iPhone.
//!
//! Two routes reach a phone: our own implementation of the USB mux protocol (framing and its small
//! TCP emulation, sans-I/O in `frame`/`tcp` and `engine` with its `host` and `device` sides, in
//! the `sans_io` vocabulary, driven by `driver` over a `link`),
//! or a client of the usbmuxd daemon's socket (`muxd`). `transport` chooses between them.

pub(crate) mod deadline;
pub(crate) mod device;
pub(crate) mod device_info;
pub mod driver;
pub mod engine;
pub(crate) mod error;
pub mod frame;
pub(crate) mod host;
pub mod link;
pub mod muxd;
pub mod muxd_proto;
pub mod sans_io;
mod side;
pub(crate) mod stream;
pub mod tcp;
pub(crate) mod transport;
pub mod usb;

pub use device_info::{DeviceInfo, TransportKind};
pub use stream::DeviceStream;
pub use transport::Transport;

/// Apple's USB vendor id.
pub const APPLE_VID: u16 = 0x05ac;
/// The lockdownd port on every iPhone.
pub const LOCKDOWN_PORT: u16 = 62078;

/// Hex test vectors (captured bytes from protocol.md and usb-vm.md) for the codec tests.
#[cfg(test)]
pub(crate) mod test_hex {
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
            .collect()
    }
}
