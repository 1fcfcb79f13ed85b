//! Our host client against the simulated lockdownd, in process over `tokio::io::duplex`:
//! pairing (with pending polls, locked, denied), session TLS, GetValue, StartService,
//! StopSession back to plaintext on the same socket, reconnecting with the saved record,
//! revocation and unpairing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use iphone_import::lockdown::{
    LockdownClient, LockdownError, PairRecord, PairRecordStores, PairingOptions, PairingProgress,
    ensure_paired_session, pair_device, start_paired_session, start_service_once, unpair_device,
};
use iphone_import::mock::lockdownd::{Lockdownd, PresentedCertificate, TrustBehaviour};
use iphone_import::mock::phone::{ServiceFn, SimulatedPhone};
use iphone_import::usbmux::LOCKDOWN_PORT;
use plist::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One device key for all tests: RSA key generation is the slow part.
fn device_key() -> &'static rsa::RsaPrivateKey {
    static KEY: std::sync::OnceLock<rsa::RsaPrivateKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| iphone_import::lockdown::certs::generate_rsa_key(2048).unwrap())
}

struct Fixture {
    phone: Arc<SimulatedPhone>,
    lockdownd: Arc<Lockdownd>,
    stores: PairRecordStores,
    udid: String,
    _tmp: tempfile::TempDir,
}

impl Fixture {
    fn new(behaviour: TrustBehaviour) -> Fixture {
        let phone = SimulatedPhone::new(Default::default());
        let lockdownd =
            Lockdownd::with_device_key(phone.clone(), behaviour, device_key()).expect("lockdownd");
        lockdownd.install();
        let tmp = tempfile::tempdir().unwrap();
        let stores = PairRecordStores::new(tmp.path().join("lockdown"));
        let udid = phone.identity.udid.clone();
        Fixture {
            phone,
            lockdownd,
            stores,
            udid,
            _tmp: tmp,
        }
    }

    /// A fresh connection to port 62078 of the simulated phone.
    fn connect(&self) -> LockdownClient {
        let (host, device) = tokio::io::duplex(64 * 1024);
        assert!(self.phone.accept(LOCKDOWN_PORT, Box::new(device)));
        LockdownClient::new(Box::new(host))
    }

    fn fast_options() -> PairingOptions {
        PairingOptions {
            poll_interval: Duration::from_millis(5),
            ..PairingOptions::default()
        }
    }

    async fn pair(&self) -> Result<PairRecord, LockdownError> {
        let mut client = self.connect();
        pair_device(
            &mut client,
            &self.stores,
            &self.udid,
            &Self::fast_options(),
            |_| {},
            std::future::pending(),
        )
        .await
    }
}

/// A named service that greets and echoes one line, to see StartService's port really works.
fn greeter() -> ServiceFn {
    Arc::new(|mut stream| {
        Box::pin(async move {
            let _ = stream.write_all(b"hello from the phone\n").await;
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_with_three_pending_polls_then_session_service_and_plaintext_again() {
    let fx = Fixture::new(TrustBehaviour::TrustAfterPolls(3));
    fx.phone.add_named_service("com.example.greeter", greeter());
    let mut client = fx.connect();
    assert_eq!(
        client.query_type().await.unwrap(),
        "com.apple.mobile.lockdown"
    );
    // Before pairing the phone already tells its version (pymobiledevice3 depends on it).
    assert_eq!(
        client
            .get_value(None, Some("ProductVersion"))
            .await
            .unwrap()
            .as_string(),
        Some("17.6.1")
    );

    let progress = Arc::new(Mutex::new(Vec::new()));
    let seen = progress.clone();
    let record = pair_device(
        &mut client,
        &fx.stores,
        &fx.udid,
        &Fixture::fast_options(),
        move |p| seen.lock().unwrap().push(p),
        std::future::pending(),
    )
    .await
    .expect("pairing succeeds after the alert");
    assert_eq!(
        *progress.lock().unwrap(),
        (1..=3)
            .map(|polls| PairingProgress::WaitingForTrust { polls })
            .collect::<Vec<_>>()
    );
    assert_eq!(fx.lockdownd.pair_requests(), 4);
    assert_eq!(fx.lockdownd.trusted_hosts(), vec![record.host_id.clone()]);
    assert!(record.escrow_bag.as_ref().is_some_and(|b| b.len() == 32));
    assert_eq!(
        record.wifi_mac_address.as_deref(),
        Some(fx.phone.identity.wifi_address.as_str())
    );
    let saved = fx
        .stores
        .find(&fx.udid)
        .await
        .unwrap()
        .expect("record saved")
        .0;
    assert_eq!(saved, record);

    // Session on the same socket: TLS, then requests inside it.
    client.start_session(&record).await.expect("session");
    assert!(client.is_tls() && client.in_session());
    let info = client.info().await.unwrap();
    // The phone has answered inside TLS, so it has seen our whole handshake.
    assert_eq!(fx.lockdownd.sessions_started(), 1);
    assert_eq!(
        fx.lockdownd.last_presented_certificate(),
        Some(PresentedCertificate::Host)
    );
    assert_eq!(info.len(), 26);
    assert_eq!(
        info.get("UniqueDeviceID").unwrap().as_string(),
        Some(fx.udid.as_str())
    );
    let capacity = client
        .get_value(Some("com.apple.disk_usage"), Some("TotalDiskCapacity"))
        .await
        .unwrap();
    assert!(matches!(capacity, Value::Integer(_)));
    let missing = client.get_value(None, Some("NoSuchKey")).await.unwrap_err();
    assert_eq!(
        missing.device_error().map(|e| e.as_wire()),
        Some("MissingValue")
    );

    let endpoint = client
        .start_service("com.example.greeter", None)
        .await
        .unwrap();
    assert!(endpoint.port >= 49152 && !endpoint.ssl);
    let (mut svc, device_end) = tokio::io::duplex(1024);
    assert!(fx.phone.accept(endpoint.port, Box::new(device_end)));
    let mut greeting = String::new();
    svc.read_to_string(&mut greeting).await.unwrap();
    assert_eq!(greeting, "hello from the phone\n");
    let unknown = client
        .start_service("com.apple.nothing", None)
        .await
        .unwrap_err();
    assert_eq!(
        unknown.device_error().map(|e| e.as_wire()),
        Some("InvalidService")
    );

    // StopSession: close_notify both ways, then plaintext on the same socket.
    client.stop_session().await.expect("stop session");
    assert!(!client.is_tls() && !client.in_session());
    assert_eq!(
        client.query_type().await.unwrap(),
        "com.apple.mobile.lockdown"
    );
    let after = client
        .start_service("com.example.greeter", None)
        .await
        .unwrap_err();
    assert!(matches!(after, LockdownError::NoSession));
    // And a second session on the very same socket.
    client
        .start_session(&record)
        .await
        .expect("second session on the same socket");
    assert_eq!(client.info().await.unwrap().len(), 26);
    client.stop_session().await.unwrap();
    assert_eq!(fx.lockdownd.sessions_started(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_reuses_the_saved_record_without_pairing_again() {
    let fx = Fixture::new(TrustBehaviour::TrustImmediately);
    let record = fx.pair().await.unwrap();
    assert_eq!(fx.lockdownd.pair_requests(), 1);

    let mut client = fx.connect();
    let used = start_paired_session(&mut client, &fx.stores, &fx.udid)
        .await
        .expect("session with saved record");
    assert_eq!(used.host_id, record.host_id);
    assert_eq!(
        client
            .info()
            .await
            .unwrap()
            .get("DeviceClass")
            .unwrap()
            .as_string(),
        Some("iPhone")
    );
    assert_eq!(fx.lockdownd.pair_requests(), 1, "no new Pair");
    // Closing without StopSession (as pymobiledevice3 does) is fine for the phone.
    drop(client);
    let mut client = fx.connect();
    start_paired_session(&mut client, &fx.stores, &fx.udid)
        .await
        .unwrap();
    client.stop_session().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_locked_for_the_whole_wait_says_unlock_then_trust() {
    let fx = Fixture::new(TrustBehaviour::Locked);
    let mut client = fx.connect();
    let mut seen = Vec::new();
    let options = PairingOptions {
        timeout: Duration::from_millis(50),
        ..Fixture::fast_options()
    };
    let err = pair_device(
        &mut client,
        &fx.stores,
        &fx.udid,
        &options,
        |p| seen.push(p),
        std::future::pending(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LockdownError::LockedAtPairing(_)), "{err:?}");
    assert!(err.to_string().contains("Unlock it"), "{err}");
    // It waited for the unlock (asking again) rather than failing at the first refusal.
    assert!(fx.lockdownd.pair_requests() > 1);
    assert_eq!(seen[0], PairingProgress::WaitingForUnlock { polls: 1 });
    assert!(
        fx.stores.find(&fx.udid).await.unwrap().is_none(),
        "nothing saved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_pairing_explains_how_to_recover() {
    let fx = Fixture::new(TrustBehaviour::Deny);
    let err = fx.pair().await.unwrap_err();
    assert!(matches!(err, LockdownError::UserDeniedPairing), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("Reset Location & Privacy") && text.contains("iphone-import pair"),
        "{text}"
    );
    assert!(fx.lockdownd.trusted_hosts().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_pairing_says_pair_again() {
    let fx = Fixture::new(TrustBehaviour::TrustImmediately);
    let record = fx.pair().await.unwrap();
    assert!(fx.lockdownd.revoke(&record.host_id));
    let mut client = fx.connect();
    let err = start_paired_session(&mut client, &fx.stores, &fx.udid)
        .await
        .unwrap_err();
    assert!(
        matches!(err, LockdownError::PairingNotAccepted { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("no longer accepts this computer's pairing: run `iphone-import pair`")
    );

    // Pairing again fixes it.
    fx.pair().await.unwrap();
    let mut client = fx.connect();
    start_paired_session(&mut client, &fx.stores, &fx.udid)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_gives_up_after_the_timeout_and_can_be_cancelled() {
    let fx = Fixture::new(TrustBehaviour::TrustAfterPolls(u32::MAX));
    let mut client = fx.connect();
    let options = PairingOptions {
        timeout: Duration::from_millis(40),
        ..Fixture::fast_options()
    };
    let err = pair_device(
        &mut client,
        &fx.stores,
        &fx.udid,
        &options,
        |_| {},
        std::future::pending(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LockdownError::PairingTimedOut(_)), "{err:?}");
    assert!(err.to_string().contains("tap Trust"));

    // Cancel (Ctrl-C in the CLI) once the alert is up.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut tx = Some(tx);
    let mut client = fx.connect();
    let err = pair_device(
        &mut client,
        &fx.stores,
        &fx.udid,
        &Fixture::fast_options(),
        move |_| {
            if let Some(tx) = tx.take() {
                let _ = tx.send(());
            }
        },
        async move {
            let _ = rx.await;
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LockdownError::PairingCancelled), "{err:?}");
    assert!(fx.stores.find(&fx.udid).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpair_forgets_on_both_sides() {
    let fx = Fixture::new(TrustBehaviour::TrustImmediately);
    fx.pair().await.unwrap();
    let mut client = fx.connect();
    unpair_device(&mut client, &fx.stores, &fx.udid)
        .await
        .unwrap();
    assert!(fx.lockdownd.trusted_hosts().is_empty());
    assert!(fx.stores.find(&fx.udid).await.unwrap().is_none());
    let mut client = fx.connect();
    let err = start_paired_session(&mut client, &fx.stores, &fx.udid)
        .await
        .unwrap_err();
    assert!(matches!(err, LockdownError::NotPaired { .. }), "{err:?}");
    assert!(err.to_string().contains("iphone-import pair"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_certificate_is_accepted_and_a_foreign_one_is_not() {
    let fx = Fixture::new(TrustBehaviour::TrustImmediately);
    let record = fx.pair().await.unwrap();

    // libimobiledevice presents the root certificate and key instead of the host pair.
    let mut as_limd = record.clone();
    as_limd.host_certificate = record.root_certificate.clone();
    as_limd.host_private_key = record.root_private_key.clone();
    let mut client = fx.connect();
    client.start_session(&as_limd).await.unwrap();
    assert_eq!(client.info().await.unwrap().len(), 26);
    assert_eq!(
        fx.lockdownd.last_presented_certificate(),
        Some(PresentedCertificate::Root)
    );

    // A certificate from another pairing, with this HostID: the phone ends the TLS session.
    let other = iphone_import::lockdown::certs::generate(
        fx.lockdownd
            .host_record(&record.host_id)
            .unwrap()
            .device_certificate
            .as_slice(),
    );
    assert!(other.is_err(), "a certificate is not a public key");
    let device_key = match fx
        .connect()
        .get_value(None, Some("DevicePublicKey"))
        .await
        .unwrap()
    {
        Value::Data(d) => d,
        v => panic!("{v:?}"),
    };
    let other = iphone_import::lockdown::certs::generate(&device_key).unwrap();
    let mut forged = record.clone();
    forged.host_certificate = other.host_certificate;
    forged.host_private_key = other.host_private_key;
    let mut client = fx.connect();
    let result = async {
        client.start_session(&forged).await?;
        client.info().await
    }
    .await;
    let err = result.expect_err("a foreign client certificate must not get a session");
    assert!(
        matches!(err, LockdownError::PairingNotAccepted { .. }),
        "{err:?}"
    );
    assert_eq!(fx.lockdownd.sessions_started(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockdownd_drops_garbage_and_keeps_serving_others() {
    let fx = Fixture::new(TrustBehaviour::TrustImmediately);
    for garbage in [
        b"\xff\xff\xff\xff".to_vec(), // length beyond the limit
        [&5u32.to_be_bytes()[..], b"\x00\x01\x02\x03\x04"].concat(), // not a plist
    ] {
        let (mut host, device) = tokio::io::duplex(1024);
        assert!(fx.phone.accept(LOCKDOWN_PORT, Box::new(device)));
        host.write_all(&garbage).await.unwrap();
        let mut rest = Vec::new();
        host.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "closed without an answer");
    }
    let mut client = fx.connect();
    assert_eq!(
        client.query_type().await.unwrap(),
        "com.apple.mobile.lockdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_paired_session_pairs_once_and_service_starts_like_ifuse() {
    let fx = Fixture::new(TrustBehaviour::TrustAfterPolls(1));
    fx.phone.add_named_service("com.example.greeter", greeter());
    let mut prompts = 0;
    let mut client = fx.connect();
    let record = ensure_paired_session(
        &mut client,
        &fx.stores,
        &fx.udid,
        &Fixture::fast_options(),
        |p| {
            if p == (PairingProgress::WaitingForTrust { polls: 1 }) {
                prompts += 1;
            }
        },
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(prompts, 1);
    assert!(client.in_session());
    client.stop_session().await.unwrap();

    // Second time: the saved record, no Pair; the service starts and the session ends.
    let requests = fx.lockdownd.pair_requests();
    let mut client = fx.connect();
    let again = ensure_paired_session(
        &mut client,
        &fx.stores,
        &fx.udid,
        &Fixture::fast_options(),
        |_| panic!("no pairing expected"),
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(again.host_id, record.host_id);
    assert_eq!(fx.lockdownd.pair_requests(), requests);
    let endpoint = start_service_once(&mut client, &again, "com.example.greeter")
        .await
        .unwrap();
    assert!(!client.in_session() && !client.is_tls());
    assert!(fx.phone.is_listening(endpoint.port));

    // A revoked record is reported, not silently replaced.
    fx.lockdownd.revoke_all();
    let mut client = fx.connect();
    let err = ensure_paired_session(
        &mut client,
        &fx.stores,
        &fx.udid,
        &Fixture::fast_options(),
        |_| {},
        std::future::pending(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, LockdownError::PairingNotAccepted { .. }),
        "{err:?}"
    );
}

/// XML nested `depth` arrays deep inside a reply dictionary (≈ 14 bytes per level).
fn deep_reply(depth: usize) -> Vec<u8> {
    let mut xml =
        String::from("<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>Value</key>");
    xml.push_str(&"<array>".repeat(depth));
    xml.push_str(&"</array>".repeat(depth));
    xml.push_str("</dict></plist>");
    xml.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_nested_20000_deep_is_an_error_in_plain_text_and_in_tls() {
    let fx = Fixture::new(TrustBehaviour::TrustImmediately);
    fx.pair().await.expect("pairing");
    let body = deep_reply(20_000);
    assert!(body.len() < 1 << 20, "well under the frame limit");
    let mut client = fx.connect();
    start_paired_session(&mut client, &fx.stores, &fx.udid)
        .await
        .expect("session");
    assert!(client.is_tls());
    fx.lockdownd.set_raw_reply("GetValue", body);

    let err = client.info().await.unwrap_err();
    assert!(err.to_string().contains("deeper than"), "{err}");

    let mut plain = fx.connect();
    let err = plain.get_value(None, Some("DeviceName")).await.unwrap_err();
    assert!(err.to_string().contains("deeper than"), "{err}");
}
