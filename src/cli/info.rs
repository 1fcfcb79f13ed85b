//! `iphone-import info`: who the phone is and how full it is.

use plist::{Dictionary, Value};
use serde::Serialize;

use super::args::{GlobalArgs, JsonArgs};
use super::exit;
use super::session::PhoneSession;
use super::stdout::{out, outln};
use crate::untrusted::text::for_terminal;

#[derive(Debug, Serialize)]
struct Info {
    name: Option<String>,
    model: Option<String>,
    product_type: Option<String>,
    ios_version: Option<String>,
    build: Option<String>,
    udid: String,
    serial_number: Option<String>,
    storage_total_bytes: Option<u64>,
    storage_free_bytes: Option<u64>,
    transport: crate::usbmux::TransportKind,
}

pub(super) async fn run(global: &GlobalArgs, args: &JsonArgs) -> anyhow::Result<u8> {
    let session = PhoneSession::open(global).await?;
    let values = session.with_lockdown(async |c| c.info().await).await?;
    let disk = session
        .with_lockdown(async |c| c.get_value(Some("com.apple.disk_usage"), None).await)
        .await
        .ok()
        .and_then(|v| v.into_dictionary());
    let text = |d: &Dictionary, k: &str| d.get(k).and_then(Value::as_string).map(str::to_string);
    let number = |d: &Option<Dictionary>, k: &str| {
        d.as_ref()
            .and_then(|d| d.get(k))
            .and_then(|v| v.as_unsigned_integer())
    };
    let product_type = text(&values, "ProductType");
    let info = Info {
        name: text(&values, "DeviceName"),
        model: product_type
            .as_deref()
            .map(|p| model_name(p).unwrap_or(p).to_string()),
        product_type,
        ios_version: text(&values, "ProductVersion"),
        build: text(&values, "BuildVersion"),
        udid: session.device.udid.clone(),
        serial_number: text(&values, "SerialNumber"),
        storage_total_bytes: number(&disk, "TotalDataCapacity")
            .or_else(|| number(&disk, "TotalDiskCapacity")),
        storage_free_bytes: number(&disk, "TotalDataAvailable"),
        transport: session.device.transport,
    };
    session.close().await;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&info)?)?;
        return Ok(exit::OK);
    }
    out!("{}", render_text(&info))?;
    Ok(exit::OK)
}

/// The human-readable form. Every value comes from the phone, so each is escaped for the
/// terminal (a DeviceName can hold escape sequences, newlines, bidi overrides, 10 kB).
fn render_text(info: &Info) -> String {
    let or = |v: &Option<String>| for_terminal(v.as_deref().unwrap_or("unknown"));
    let mut out = format!("Name:         {}\n", or(&info.name));
    out += &format!(
        "Model:        {} ({})\n",
        or(&info.model),
        or(&info.product_type)
    );
    out += &format!(
        "iOS:          {} ({})\n",
        or(&info.ios_version),
        or(&info.build)
    );
    out += &format!("UDID:         {}\n", for_terminal(&info.udid));
    if let (Some(total), Some(free)) = (info.storage_total_bytes, info.storage_free_bytes) {
        out += &format!(
            "Storage:      {} free of {}\n",
            human_bytes(free),
            human_bytes(total)
        );
    }
    out
}

/// Marketing names for the product types people are likely to plug in; others print as is.
pub(super) fn model_name(product_type: &str) -> Option<&'static str> {
    Some(match product_type {
        "iPhone12,1" => "iPhone 11",
        "iPhone12,3" => "iPhone 11 Pro",
        "iPhone12,5" => "iPhone 11 Pro Max",
        "iPhone12,8" => "iPhone SE (2nd generation)",
        "iPhone13,2" => "iPhone 12",
        "iPhone13,3" => "iPhone 12 Pro",
        "iPhone14,5" => "iPhone 13",
        "iPhone14,2" => "iPhone 13 Pro",
        "iPhone14,6" => "iPhone SE (3rd generation)",
        "iPhone14,7" => "iPhone 14",
        "iPhone15,2" => "iPhone 14 Pro",
        "iPhone15,4" => "iPhone 15",
        "iPhone16,1" => "iPhone 15 Pro",
        "iPhone16,2" => "iPhone 15 Pro Max",
        "iPhone17,3" => "iPhone 16",
        "iPhone17,1" => "iPhone 16 Pro",
        _ => return None,
    })
}

pub(super) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_values_are_escaped_and_shortened() {
        let info = Info {
            name: Some("../../x\u{1b}[31m\nsecond line".into()),
            model: Some("m".repeat(10_000)),
            product_type: Some("iPhone\u{202e}1".into()),
            ios_version: None,
            build: None,
            udid: "00008030\r".into(),
            serial_number: None,
            storage_total_bytes: None,
            storage_free_bytes: None,
            transport: crate::usbmux::TransportKind::Usbmuxd,
        };
        let text = render_text(&info);
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(!text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\u{202e}'));
        assert!(text.starts_with("Name:         ../../x\\u{1b}[31m\\nsecond line\n"));
        assert!(text.len() < 400, "the 10 kB model is cut");
    }

    #[test]
    fn bytes_read_like_a_phone_settings_page() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(64_000_000_000), "64.0 GB");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
    }
}
