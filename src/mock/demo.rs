//! The simulated iPhone of `--demo` and the end-to-end tests: a phone joined to the host side by an
//! in-process link (no sockets), served by the device role of the mux.

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::builder::{self, BuildError, BuiltPhone, PhoneConfig};
use crate::usbmux::driver::{PortListener, serve_device};
use crate::usbmux::link::{Link, in_process_pair};
use crate::usbmux::{DeviceInfo, TransportKind};

/// Packets that may wait in each direction of the in-process link.
const LINK_DEPTH: usize = 64;

/// A running simulated iPhone; stops when dropped.
pub struct DemoDevice {
    pub built: BuiltPhone,
    task: JoinHandle<()>,
}

impl DemoDevice {
    /// Start the default simulated phone (demo library); returns it, how the host lists it, and
    /// the host end of its link. Must run inside a tokio runtime.
    pub fn start() -> Result<(DemoDevice, DeviceInfo, Link), BuildError> {
        DemoDevice::start_with(PhoneConfig::default())
    }

    /// Start a simulated phone built from `config`.
    pub fn start_with(config: PhoneConfig) -> Result<(DemoDevice, DeviceInfo, Link), BuildError> {
        let built = builder::build(config)?;
        let phone = built.phone.clone();
        let (host_end, device_end) = in_process_pair(LINK_DEPTH);
        let listener: Arc<dyn PortListener> = phone.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = serve_device(device_end, listener).await {
                tracing::debug!("simulated phone's mux stopped: {e}");
            }
        });
        let info = DeviceInfo {
            udid: phone.identity.udid.clone(),
            device_id: 1,
            product_id: phone.identity.product_id,
            connection_speed: Some(phone.identity.connection_speed),
            location_id: None,
            transport: TransportKind::Demo,
        };
        Ok((DemoDevice { built, task }, info, host_end))
    }
}

impl Drop for DemoDevice {
    fn drop(&mut self) {
        self.task.abort();
    }
}
