//! Real lockdown clients (libimobiledevice's ideviceinfo / idevicepair, pymobiledevice3) against
//! the simulated lockdownd behind `iphone-mock serve`, and records shared both ways between them
//! and our own client through the usbmuxd front. Missing peers print `SKIP:` (or fail with
//! REQUIRE_INTEROP=1).

mod common;

use std::sync::Arc;

use common::{MockServer, PeerHome, peer, peer_env, run_peer};
use iphone_import::lockdown::muxd_records::MuxdPairRecords;
use iphone_import::lockdown::{
    LockdownClient, PairRecord, PairRecordStores, PairingOptions, pair_device, start_paired_session,
};
use iphone_import::mock::phone::PhoneIdentity;
use iphone_import::usbmux::LOCKDOWN_PORT;

fn udid() -> String {
    PhoneIdentity::default().udid
}

/// Our client on a fresh lockdown connection through the server's usbmuxd front, and the
/// record stores (a private own-store plus usbmuxd's records).
async fn our_client(
    server: &MockServer,
    own: &std::path::Path,
) -> (LockdownClient, PairRecordStores) {
    let muxd = server.muxd_client();
    let devices = muxd.list_devices().await.expect("ListDevices");
    let device = devices
        .iter()
        .find(|d| d.udid == udid())
        .expect("the simulated iPhone is listed");
    let stream = muxd
        .connect(device.device_id, LOCKDOWN_PORT)
        .await
        .expect("Connect 62078");
    let stores = PairRecordStores::new(own)
        .with_usbmuxd(Arc::new(MuxdPairRecords::new(muxd, device.device_id)));
    (LockdownClient::new(stream), stores)
}

/// The record usbmuxd keeps in the server's state directory.
fn server_record(server: &MockServer) -> Option<PairRecord> {
    let dir = server.state.as_ref().expect("started with state").path();
    let bytes = std::fs::read(dir.join(format!("{}.plist", udid()))).ok()?;
    Some(PairRecord::from_bytes(&bytes, "server record").expect("valid record"))
}

#[test]
fn ideviceinfo_pairs_and_reads_every_value_inside_tls() {
    let Some(ideviceinfo) = peer("ideviceinfo") else {
        return;
    };
    let server = MockServer::start_with_state();
    let home = PeerHome::new();
    let out = run_peer(&ideviceinfo, &[] as &[&str], &peer_env(&server, &home));
    out.assert_success("ideviceinfo");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 26, "{}", out.stdout);
    assert!(lines.contains(&"ProductVersion: 17.6.1"));
    assert!(lines.contains(&format!("UniqueDeviceID: {}", udid()).as_str()));
    // It auto-paired and saved the record through the usbmuxd front.
    let record = server_record(&server).expect("SavePairRecord reached the server");
    assert!(!record.host_private_key.is_empty() && record.escrow_bag.is_some());
}

#[test]
fn idevicepair_pair_validate_unpair() {
    let Some(idevicepair) = peer("idevicepair") else {
        return;
    };
    let server = MockServer::start_with_state();
    let home = PeerHome::new();
    let env = peer_env(&server, &home);
    let out = run_peer(&idevicepair, &["pair"], &env);
    out.assert_success("idevicepair pair");
    assert!(
        out.stdout.contains("SUCCESS: Paired with device"),
        "{}",
        out.stdout
    );
    // validate: session, StopSession, close_notify both ways, back to plaintext.
    let out = run_peer(&idevicepair, &["validate"], &env);
    out.assert_success("idevicepair validate");
    assert!(
        out.stdout.contains(&format!(
            "SUCCESS: Validated pairing with device {}",
            udid()
        )),
        "{}",
        out.stdout
    );
    let out = run_peer(&idevicepair, &["unpair"], &env);
    out.assert_success("idevicepair unpair");
    assert!(
        out.stdout.contains("SUCCESS: Unpaired with device"),
        "{}",
        out.stdout
    );
    assert!(
        server_record(&server).is_none(),
        "DeletePairRecord removed it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_uses_a_record_made_by_idevicepair() {
    let Some(idevicepair) = peer("idevicepair") else {
        return;
    };
    let server = MockServer::start_with_state();
    let home = PeerHome::new();
    let env = peer_env(&server, &home);
    let out = tokio::task::spawn_blocking(move || run_peer(&idevicepair, &["pair"], &env))
        .await
        .unwrap();
    out.assert_success("idevicepair pair");
    let limd_record = server_record(&server).unwrap();

    let own = tempfile::tempdir().unwrap();
    let (mut client, stores) = our_client(&server, own.path()).await;
    let used = start_paired_session(&mut client, &stores, &udid())
        .await
        .expect("session with limd's record");
    assert_eq!(used.host_id, limd_record.host_id);
    if let Some(version) = common::expected_tls_version() {
        assert_eq!(client.tls_version(), Some(version), "IPHONE_MOCK_TLS");
    }
    let info = client.info().await.unwrap();
    assert_eq!(
        info.get("UniqueDeviceID").and_then(|v| v.as_string()),
        Some(udid().as_str())
    );
    client.stop_session().await.unwrap();
    assert_eq!(
        client.query_type().await.unwrap(),
        "com.apple.mobile.lockdown",
        "plaintext again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ideviceinfo_uses_a_record_made_by_our_client() {
    let Some(ideviceinfo) = peer("ideviceinfo") else {
        return;
    };
    let server = MockServer::start_with_state();
    let own = tempfile::tempdir().unwrap();
    let (mut client, stores) = our_client(&server, own.path()).await;
    let ours = pair_device(
        &mut client,
        &stores,
        &udid(),
        &PairingOptions::default(),
        |_| {},
        std::future::pending(),
    )
    .await
    .expect("pairing");
    assert_eq!(
        server_record(&server).unwrap().host_id,
        ours.host_id,
        "saved to usbmuxd too"
    );
    assert_eq!(
        ours.system_buid,
        server.muxd_client().read_buid().await.unwrap()
    );

    let home = PeerHome::new();
    let env = peer_env(&server, &home);
    let out =
        tokio::task::spawn_blocking(move || run_peer(&ideviceinfo, &["-k", "DeviceName"], &env))
            .await
            .unwrap();
    out.assert_success("ideviceinfo -k DeviceName");
    assert_eq!(out.stdout.trim(), PhoneIdentity::default().device_name);
    assert_eq!(
        server_record(&server).unwrap().host_id,
        ours.host_id,
        "ideviceinfo did not pair again"
    );
}

#[test]
fn pymobiledevice3_pairs_then_reads_info_over_tls() {
    let Some(pmd3) = peer("pymobiledevice3") else {
        return;
    };
    let server = MockServer::start_with_state();
    let home = PeerHome::new();
    let env = peer_env(&server, &home);
    run_peer(&pmd3, &["lockdown", "pair"], &env).assert_success("pymobiledevice3 lockdown pair");
    assert!(
        server_record(&server).is_some(),
        "saved through SavePairRecord"
    );
    let out = run_peer(&pmd3, &["lockdown", "info"], &env);
    out.assert_success("pymobiledevice3 lockdown info");
    let info: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.stdout));
    assert_eq!(info["ProductVersion"], "17.6.1");
    assert_eq!(info["UniqueDeviceID"], udid());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_cross_between_pymobiledevice3_and_our_client() {
    let Some(pmd3) = peer("pymobiledevice3") else {
        return;
    };
    // Our pairing, used by pymobiledevice3 (it reads usbmuxd's record first).
    let server = MockServer::start_with_state();
    let own = tempfile::tempdir().unwrap();
    let (mut client, stores) = our_client(&server, own.path()).await;
    let ours = pair_device(
        &mut client,
        &stores,
        &udid(),
        &PairingOptions::default(),
        |_| {},
        std::future::pending(),
    )
    .await
    .expect("pairing");
    let home = PeerHome::new();
    let env = peer_env(&server, &home);
    let p = pmd3.clone();
    let out = tokio::task::spawn_blocking(move || run_peer(&p, &["lockdown", "info"], &env))
        .await
        .unwrap();
    out.assert_success("pymobiledevice3 lockdown info with our record");
    assert_eq!(
        server_record(&server).unwrap().host_id,
        ours.host_id,
        "pymobiledevice3 did not pair again"
    );

    // pymobiledevice3's pairing (host certificate presented by us too), used by our client.
    let server = MockServer::start_with_state();
    let home = PeerHome::new();
    let env = peer_env(&server, &home);
    let out = tokio::task::spawn_blocking(move || run_peer(&pmd3, &["lockdown", "pair"], &env))
        .await
        .unwrap();
    out.assert_success("pymobiledevice3 lockdown pair");
    let theirs = server_record(&server).unwrap();
    let own = tempfile::tempdir().unwrap();
    let (mut client, stores) = our_client(&server, own.path()).await;
    let used = start_paired_session(&mut client, &stores, &udid())
        .await
        .expect("session with pymobiledevice3's record");
    assert_eq!(used.host_id, theirs.host_id);
    assert_eq!(
        client
            .info()
            .await
            .unwrap()
            .get("DeviceClass")
            .and_then(|v| v.as_string()),
        Some("iPhone")
    );
    client.stop_session().await.unwrap();
}

/// The cross-stack chain: pymobiledevice3 pairs; ideviceinfo and our own command line
/// (through usbmuxd, as on a machine where the daemon owns the phone) both use that record.
#[test]
fn pymobiledevice3_record_serves_ideviceinfo_and_iphone_import_info() {
    let Some(pmd3) = peer("pymobiledevice3") else {
        return;
    };
    let Some(ideviceinfo) = peer("ideviceinfo") else {
        return;
    };
    let server = MockServer::start_with_state();
    let home = PeerHome::new();
    let env = peer_env(&server, &home);
    run_peer(&pmd3, &["lockdown", "pair"], &env).assert_success("pymobiledevice3 lockdown pair");
    let made = server_record(&server)
        .expect("record saved through usbmuxd")
        .host_id;

    let out = run_peer(&ideviceinfo, &["-k", "ProductVersion"], &env);
    out.assert_success("ideviceinfo with pymobiledevice3's record");
    assert_eq!(out.stdout.trim(), "17.6.1");

    let ours = std::path::Path::new(env!("CARGO_BIN_EXE_iphone-import"));
    let out = run_peer(ours, &["--transport", "usbmuxd", "info", "--json"], &env);
    out.assert_success("iphone-import --transport usbmuxd info");
    let info: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.stdout));
    assert_eq!(info["ios_version"], "17.6.1");
    assert_eq!(info["udid"], udid());
    assert_eq!(info["transport"], "usbmuxd");
    assert_eq!(
        server_record(&server).unwrap().host_id,
        made,
        "neither ideviceinfo nor iphone-import paired again"
    );
}
