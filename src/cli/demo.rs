//! `--demo`: the one bridge from the command line to the simulated iPhone in `mock`.
//! Nothing else outside `mock` may use it.

use crate::mock::demo::DemoDevice;
use crate::usbmux::Transport;

/// The simulated iPhone, alive as long as this value.
pub struct DemoPhone {
    _device: DemoDevice,
}

impl DemoPhone {
    pub async fn start() -> anyhow::Result<(DemoPhone, Transport)> {
        let (device, info, link) = DemoDevice::start()?;
        let transport = Transport::from_links(vec![(info, link)]).await?;
        Ok((DemoPhone { _device: device }, transport))
    }
}
