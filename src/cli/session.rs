//! Reaching the phone from the command line: the transport the global options ask for (or the
//! simulated iPhone of `--demo`), and the exit code an error maps to.

use anyhow::Context;

use super::args::{GlobalArgs, TransportArg};
use super::demo::DemoPhone;
use super::exit;
use crate::usbmux::Transport;
use crate::usbmux::transport::{TransportChoice, TransportError};

/// A transport plus whatever must stay alive while it is used (the demo phone).
pub struct Reach {
    pub transport: Transport,
    _demo: Option<DemoPhone>,
}

pub async fn open(global: &GlobalArgs) -> anyhow::Result<Reach> {
    if global.demo {
        let (demo, transport) = DemoPhone::start()
            .await
            .context("starting the simulated iPhone")?;
        return Ok(Reach {
            transport,
            _demo: Some(demo),
        });
    }
    let choice = match global.transport {
        TransportArg::Auto => TransportChoice::Auto,
        TransportArg::Usb => TransportChoice::Usb,
        TransportArg::Usbmuxd => TransportChoice::Usbmuxd,
    };
    Ok(Reach {
        transport: Transport::open(choice).await?,
        _demo: None,
    })
}

/// Exit codes scripts can tell apart: no phone, phone not trusted, anything else.
pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(TransportError::NoDevice { .. }) = cause.downcast_ref::<TransportError>() {
            return exit::NO_DEVICE;
        }
    }
    exit::ERROR
}
