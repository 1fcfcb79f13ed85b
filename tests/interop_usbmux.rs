//! Real usbmuxd clients (libimobiledevice's idevice_id, pymobiledevice3) and our own client
//! list the simulated iPhone through `iphone-mock serve`'s usbmuxd-compatible socket.
//! Missing peers print `SKIP:` (or fail with REQUIRE_INTEROP=1).

mod common;

use common::{MockServer, PeerHome, peer, peer_env, run_peer};
use iphone_import::mock::phone::PhoneIdentity;
use iphone_import::usbmux::TransportKind;

fn udid() -> String {
    PhoneIdentity::default().udid
}

#[test]
fn idevice_id_lists_the_simulated_iphone() {
    let Some(idevice_id) = peer("idevice_id") else {
        return;
    };
    let server = MockServer::start();
    let home = PeerHome::new();
    let out = run_peer(&idevice_id, &["-l"], &peer_env(&server, &home));
    out.assert_success("idevice_id -l");
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        vec![udid().as_str()],
        "stderr: {}",
        out.stderr
    );
}

#[test]
fn pymobiledevice3_usbmux_list_shows_the_simulated_iphone() {
    let Some(pmd3) = peer("pymobiledevice3") else {
        return;
    };
    let server = MockServer::start();
    let home = PeerHome::new();
    let out = run_peer(
        &pmd3,
        &["usbmux", "list", "--simple"],
        &peer_env(&server, &home),
    );
    out.assert_success("pymobiledevice3 usbmux list --simple");
    let listed: Vec<String> = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not a JSON list of UDIDs ({e}): {}", out.stdout));
    assert_eq!(listed, vec![udid()]);
}

/// Both stacks also reach the unix socket, each with the address form it understands.
#[test]
fn both_stacks_list_through_the_unix_socket() {
    let idevice_id = peer("idevice_id");
    let pmd3 = peer("pymobiledevice3");
    if idevice_id.is_none() && pmd3.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("usbmuxd.sock");
    let sock_arg = sock.to_string_lossy().into_owned();
    let server = MockServer::start_with_args(&["--socket", &sock_arg]);
    let home = PeerHome::new();
    let with_addr = |value: String| {
        let mut env = home.env();
        env.push(("USBMUXD_SOCKET_ADDRESS".into(), value));
        env
    };
    if let Some(idevice_id) = idevice_id {
        // libusbmuxd ignores a plain path; it needs the UNIX: prefix.
        let out = run_peer(&idevice_id, &["-l"], &with_addr(format!("UNIX:{sock_arg}")));
        out.assert_success("idevice_id -l over the unix socket");
        assert_eq!(out.stdout.trim(), udid());
    }
    if let Some(pmd3) = pmd3 {
        // pymobiledevice3 crashes on UNIX:; it takes the plain path.
        let out = run_peer(
            &pmd3,
            &["usbmux", "list", "--simple"],
            &with_addr(sock_arg.clone()),
        );
        out.assert_success("pymobiledevice3 usbmux list over the unix socket");
        let listed: Vec<String> = serde_json::from_str(&out.stdout).expect("JSON list");
        assert_eq!(listed, vec![udid()]);
    }
    drop(server);
}

/// Our own client against the served binary (no third-party peer needed).
#[tokio::test]
async fn our_client_lists_and_reads_buid_from_the_served_binary() {
    let server = MockServer::start_with_args(&["--buid", "5A0A1B2C-3D4E-5F60-7182-93A4B5C6D7E8"]);
    let client = server.muxd_client();
    assert!(client.probe().await);
    let devices = client.list_devices().await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].udid, udid());
    assert_eq!(devices[0].transport, TransportKind::Usbmuxd);
    assert_eq!(
        client.read_buid().await.unwrap(),
        "5A0A1B2C-3D4E-5F60-7182-93A4B5C6D7E8"
    );
}

/// With --state, pair records survive a restart of the server, as usbmuxd's do.
#[tokio::test]
async fn pair_records_persist_in_the_state_dir() {
    let server = MockServer::start_with_state();
    let state = server.state.as_ref().unwrap().path().to_path_buf();
    let client = server.muxd_client();
    let buid = client.read_buid().await.unwrap();
    client
        .save_pair_record(&udid(), 1, b"<plist>record</plist>")
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(state.join(format!("{}.plist", udid()))).unwrap(),
        b"<plist>record</plist>"
    );

    let restarted = MockServer::start_with_args(&["--state", &state.to_string_lossy()]);
    let client = restarted.muxd_client();
    assert_eq!(
        client.read_buid().await.unwrap(),
        buid,
        "the BUID is kept in the state dir too"
    );
    assert_eq!(
        client.read_pair_record(&udid()).await.unwrap().as_deref(),
        Some(&b"<plist>record</plist>"[..])
    );
    drop(server);
}
