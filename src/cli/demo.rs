//! `--demo`: the one bridge from the command line to the simulated iPhone in `mock`.
//! Nothing else outside `mock` may use it. Only in builds with the `mock` feature (the default).

use std::path::Path;

use anyhow::Context;

use crate::mock::demo::DemoDevice;
use crate::usbmux::Transport;

/// The simulated iPhone and its pair records, alive as long as this value.
pub(super) struct DemoPhone {
    _device: DemoDevice,
    records: tempfile::TempDir,
}

impl DemoPhone {
    pub(super) async fn start() -> anyhow::Result<(DemoPhone, Transport)> {
        let (device, info, link) = DemoDevice::start()?;
        let transport = Transport::from_links(vec![(info, link)]).await?;
        // The simulated phone forgets its pairings when it stops: keep its records apart from
        // the user's real ones, and as short-lived as the phone.
        let records = tempfile::tempdir().context("creating a folder for the demo pair records")?;
        let phone = DemoPhone {
            _device: device,
            records,
        };
        Ok((phone, transport))
    }

    /// Where this phone's pair records are kept.
    pub(super) fn records(&self) -> &Path {
        self.records.path()
    }
}
