//! `iphone-import devices --wait`: returns once a phone is there, on each route that can be
//! reached without USB hardware (the usbmuxd daemon's Listen events; the in-process demo phone).
//! The direct-USB route (hotplug) is covered in the USB VM (`tests/usbvm/run hotplug`).

mod common;

use std::process::Command;

use common::MockServer;
use iphone_import::mock::phone::PhoneIdentity;

fn udid() -> String {
    PhoneIdentity::default().udid
}

fn import(args: &[&str], env: &[(String, String)]) -> std::process::Output {
    Command::new("timeout")
        .arg("60")
        .arg(env!("CARGO_BIN_EXE_iphone-import"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run iphone-import")
}

#[test]
fn wait_through_usbmuxd_sees_the_attached_phone_and_lists_it() {
    let server = MockServer::start();
    let out = import(
        &["--transport", "usbmuxd", "devices", "--wait", "--json"],
        &server.env(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&udid()), "{stdout}");
    assert!(stdout.contains("\"transport\": \"usbmuxd\""), "{stdout}");
}

#[test]
fn wait_with_the_demo_phone_lists_it() {
    let out = import(&["--demo", "devices", "--wait", "--timeout", "30"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with(&udid()), "{stdout}");
}

#[test]
fn timeout_without_wait_is_a_usage_error() {
    let out = import(&["--demo", "devices", "--timeout", "5"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--wait"));
}
