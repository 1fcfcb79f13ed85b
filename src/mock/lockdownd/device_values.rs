//! The values a real iPhone reports through GetValue (the 26 global keys both client stacks needed,
//! plus the `com.apple.disk_usage` storage domain), derived from the simulated phone's identity.

use std::collections::HashMap;

use plist::{Dictionary, Value};

use crate::mock::phone::SimulatedPhone;

/// Storage figures for the `com.apple.disk_usage` domain (bytes).
const TOTAL_DISK: u64 = 128_000_000_000;
const TOTAL_DATA: u64 = 119_000_000_000;
const DATA_AVAILABLE: u64 = 64_000_000_000;

/// UniqueChipID is the ECID: the hex after the dash of a modern UDID.
pub(super) fn chip_id(udid: &str) -> u64 {
    udid.split_once('-')
        .and_then(|(_, ecid)| u64::from_str_radix(ecid, 16).ok())
        .unwrap_or(0x1A2B_3C4D_5E80)
}

/// The 26 global values that satisfied both client stacks (interop-testing.md §5), plus storage.
pub(super) fn initial_domains(
    phone: &SimulatedPhone,
    device_public_key: Vec<u8>,
) -> HashMap<String, Dictionary> {
    let id = &phone.identity;
    let mut g = Dictionary::new();
    let mut put = |k: &str, v: Value| {
        g.insert(k.to_string(), v);
    };
    put("ActivationState", "Activated".into());
    put("BasebandVersion", "".into());
    put(
        "BluetoothAddress",
        bluetooth_address(&id.wifi_address).into(),
    );
    put("BuildVersion", id.build_version.clone().into());
    put("CPUArchitecture", "arm64e".into());
    put("DeviceClass", "iPhone".into());
    put("DeviceColor", "1".into());
    put("DeviceName", id.device_name.clone().into());
    put("DevicePublicKey", Value::Data(device_public_key));
    put("FirmwareVersion", "iBoot-10151.140.19".into());
    put("HardwareModel", "D79AP".into());
    put("HardwarePlatform", "t8030".into());
    put("HostAttached", true.into());
    put("ModelNumber", "MX9R2".into());
    put("PasswordProtected", false.into());
    put("ProductName", "iPhone OS".into());
    put("ProductType", id.product_type.clone().into());
    put("ProductVersion", id.product_version.clone().into());
    put("ProtocolVersion", "2".into());
    put("RegionInfo", "LL/A".into());
    put("SerialNumber", id.serial_number.clone().into());
    put("TimeZone", "Europe/Berlin".into());
    put("TrustedHostAttached", true.into());
    put("UniqueChipID", Value::Integer(chip_id(&id.udid).into()));
    put("UniqueDeviceID", id.udid.clone().into());
    put("WiFiAddress", id.wifi_address.clone().into());

    let mut disk = Dictionary::new();
    disk.insert(
        "TotalDiskCapacity".into(),
        Value::Integer(TOTAL_DISK.into()),
    );
    disk.insert(
        "TotalDataCapacity".into(),
        Value::Integer(TOTAL_DATA.into()),
    );
    disk.insert(
        "TotalDataAvailable".into(),
        Value::Integer(DATA_AVAILABLE.into()),
    );
    disk.insert(
        "AmountDataAvailable".into(),
        Value::Integer(DATA_AVAILABLE.into()),
    );
    disk.insert(
        "TotalSystemCapacity".into(),
        Value::Integer((TOTAL_DISK - TOTAL_DATA).into()),
    );

    let mut domains = HashMap::new();
    domains.insert(String::new(), g);
    domains.insert("com.apple.disk_usage".to_string(), disk);
    domains
}

/// A plausible Bluetooth address: the Wi-Fi address with the last byte minus one.
pub(super) fn bluetooth_address(wifi: &str) -> String {
    let mut parts: Vec<String> = wifi.split(':').map(str::to_string).collect();
    if let Some(last) = parts.last_mut()
        && let Ok(b) = u8::from_str_radix(last, 16)
    {
        *last = format!("{:02x}", b.wrapping_sub(1));
    }
    parts.join(":")
}
