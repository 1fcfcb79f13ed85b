//! `iphone-import devices`: which phones are connected, and how.

use serde::Serialize;

use super::args::{DevicesArgs, GlobalArgs};
use super::{exit, session};
use crate::usbmux::{DeviceInfo, TransportKind};

#[derive(Serialize)]
struct DeviceJson<'a> {
    udid: &'a str,
    product_id: String,
    connection_speed: Option<u64>,
    transport: TransportKind,
}

pub async fn run(global: &GlobalArgs, args: &DevicesArgs) -> anyhow::Result<u8> {
    let reach = session::open(global).await?;
    let devices = reach.transport.list().await?;
    if args.json {
        let rows: Vec<DeviceJson> = devices.iter().map(to_json).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if devices.is_empty() {
        println!("No iPhone or iPad found. Connect it with a USB cable and unlock it.");
    } else {
        for d in &devices {
            println!(
                "{}  product 0x{:04x}  {}  via {}",
                d.udid,
                d.product_id,
                speed_text(d.connection_speed),
                transport_text(d.transport)
            );
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
