//! `iphone-import devices`: which phones are connected, and how.

use crate::untrusted::text::for_terminal;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

use super::args::{DevicesArgs, GlobalArgs};
use super::stdout::outln;
use super::{exit, session};
use crate::usbmux::transport::Transport;
use crate::usbmux::usb::{self, UsbEvent};
use crate::usbmux::{DeviceInfo, TransportKind, muxd_proto::DeviceEvent};

#[derive(Serialize)]
struct DeviceJson<'a> {
    udid: &'a str,
    product_id: String,
    connection_speed: Option<u64>,
    transport: TransportKind,
}

pub(super) async fn run(global: &GlobalArgs, args: &DevicesArgs) -> anyhow::Result<u8> {
    let reach = session::open(global).await?;
    if args.wait {
        let waited = wait_for_phone(&reach.transport);
        match args.timeout {
            Some(secs) => {
                // Timing out is not an error: the list below says nobody came (exit 4).
                let _ = tokio::time::timeout(Duration::from_secs(secs), waited).await;
            }
            None => waited.await?,
        }
    }
    let devices = reach.transport.list().await?;
    if args.json {
        let rows: Vec<DeviceJson> = devices.iter().map(to_json).collect();
        outln!("{}", serde_json::to_string_pretty(&rows)?)?;
    } else if devices.is_empty() {
        outln!("No iPhone or iPad found. Connect it with a USB cable and unlock it.")?;
    } else {
        for d in &devices {
            outln!(
                "{}  product 0x{:04x}  {}  via {}",
                for_terminal(&d.udid),
                d.product_id,
                speed_text(d.connection_speed),
                transport_text(d.transport)
            )?;
        }
    }
    Ok(if devices.is_empty() {
        exit::NO_DEVICE
    } else {
        exit::OK
    })
}

fn to_json(d: &DeviceInfo) -> DeviceJson<'_> {
    DeviceJson {
        udid: &d.udid,
        product_id: format!("0x{:04x}", d.product_id),
        connection_speed: d.connection_speed,
        transport: d.transport,
    }
}

fn speed_text(bps: Option<u64>) -> String {
    match bps {
        Some(b) if b >= 1_000_000_000 => format!("{} Gbit/s", b / 1_000_000_000),
        Some(b) => format!("{} Mbit/s", b / 1_000_000),
        None => "speed unknown".into(),
    }
}

fn transport_text(t: TransportKind) -> &'static str {
    match t {
        TransportKind::Usb => "USB (direct)",
        TransportKind::Usbmuxd => "usbmuxd",
        TransportKind::Demo => "simulated iPhone (demo)",
    }
}

/// Resolve once the route sees at least one phone: direct USB by watching the bus (hotplug), the
/// daemon by its Listen events; phones in process are there already.
async fn wait_for_phone(transport: &Transport) -> anyhow::Result<()> {
    if let Some(client) = transport.muxd() {
        let mut events = client.listen().await?;
        // The daemon first reports every phone it already has.
        loop {
            match events.next_event().await? {
                Some(DeviceEvent::Attached(_)) => return Ok(()),
                Some(_) => {}
                None => anyhow::bail!(
                    "the usbmuxd daemon closed the connection while waiting for a phone; is it still running?"
                ),
            }
        }
    }
    match transport.kind() {
        TransportKind::Usb => {
            let mut events = usb::watch()?;
            // The watcher first reports the phones already connected.
            loop {
                match events.recv().await.context("the USB watcher stopped")? {
                    UsbEvent::Arrived(_) => return Ok(()),
                    UsbEvent::Left(_) => {}
                }
            }
        }
        TransportKind::Usbmuxd | TransportKind::Demo => Ok(()),
    }
}
