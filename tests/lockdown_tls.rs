//! The lockdown session TLS against the simulated phone, in process: a phone that writes the
//! StopSession reply, a session ticket and close_notify in one burst (TLS 1.2 and 1.3), and the
//! errors that tell "the phone refused our pairing" from "the connection broke" and from "no TLS
//! version in common".

mod common;

use std::sync::Arc;

use iphone_import::lockdown::{
    LockdownClient, LockdownError, PairRecordStores, PairingOptions, pair_device,
    start_paired_session,
};
use iphone_import::mock::lockdownd::{Lockdownd, TrustBehaviour};
use iphone_import::mock::phone::SimulatedPhone;
use iphone_import::mock::session_tls::{SessionTls, TlsOffer};
use iphone_import::usbmux::LOCKDOWN_PORT;

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
    /// A paired phone whose later sessions run with `tls`.
    async fn paired(tls: SessionTls) -> Fixture {
        let phone = SimulatedPhone::new(Default::default());
        let lockdownd = Lockdownd::with_device_key(
            phone.clone(),
            TrustBehaviour::TrustImmediately,
            device_key(),
        )
        .unwrap();
        lockdownd.install();
        let tmp = tempfile::tempdir().unwrap();
        let fx = Fixture {
            udid: phone.identity.udid.clone(),
            phone,
            lockdownd,
            stores: PairRecordStores::new(tmp.path().join("lockdown")),
            _tmp: tmp,
        };
        let mut client = fx.connect();
        let options = PairingOptions::default();
        pair_device(
            &mut client,
            &fx.stores,
            &fx.udid,
            &options,
            |_| {},
            std::future::pending(),
        )
        .await
        .unwrap();
        fx.lockdownd.set_session_tls(tls);
        fx
    }

    fn connect(&self) -> LockdownClient {
        let (host, device) = tokio::io::duplex(64 * 1024);
        assert!(self.phone.accept(LOCKDOWN_PORT, Box::new(device)));
        LockdownClient::new(Box::new(host))
    }

    async fn session_error(&self) -> LockdownError {
        let mut client = self.connect();
        let result = async {
            start_paired_session(&mut client, &self.stores, &self.udid).await?;
            client.info().await
        }
        .await;
        result.expect_err("the session must fail")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_session_takes_reply_ticket_and_close_notify_in_one_burst() {
    for (offer, version) in [
        (TlsOffer::Tls13, rustls::ProtocolVersion::TLSv1_3),
        (TlsOffer::Tls12, rustls::ProtocolVersion::TLSv1_2),
    ] {
        let tls = SessionTls {
            offer,
            coalesce: true,
            ..SessionTls::default()
        };
        let fx = Fixture::paired(tls).await;
        for _ in 0..2 {
            let mut client = fx.connect();
            start_paired_session(&mut client, &fx.stores, &fx.udid)
                .await
                .unwrap();
            assert_eq!(client.tls_version(), Some(version));
            client.stop_session().await.unwrap_or_else(|e| {
                panic!("{version:?}: StopSession failed: {e}");
            });
            assert!(!client.is_tls(), "{version:?}: plaintext again");
            // The same socket carries plaintext requests afterwards.
            assert_eq!(
                client.query_type().await.unwrap(),
                "com.apple.mobile.lockdown"
            );
        }
    }
}

/// The phone hangs up right after its StopSession reply and close_notify: the reply counts,
/// though our close_notify answer cannot be written. (Single-threaded runtime: the phone is
/// gone before the host reads, every time.)
#[tokio::test(flavor = "current_thread")]
async fn stop_session_succeeds_when_the_phone_hangs_up_after_close_notify() {
    for offer in [TlsOffer::Tls13, TlsOffer::Tls12] {
        let fx = Fixture::paired(SessionTls {
            offer,
            hang_up_after_stop_session: true,
            ..SessionTls::default()
        })
        .await;
        let mut client = fx.connect();
        start_paired_session(&mut client, &fx.stores, &fx.udid)
            .await
            .unwrap();
        client
            .stop_session()
            .await
            .unwrap_or_else(|e| panic!("{offer:?}: {e}"));
        assert!(!client.is_tls());
        let err = client.query_type().await.unwrap_err();
        assert!(
            matches!(err, LockdownError::Io(_) | LockdownError::Closed),
            "the phone is gone: {err:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_during_the_handshake_is_not_a_pairing_refusal() {
    let fx = Fixture::paired(SessionTls {
        reset_in_handshake: true,
        ..SessionTls::default()
    })
    .await;
    let err = fx.session_error().await;
    assert!(
        matches!(err, LockdownError::SessionTlsBroken { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("unplug and replug the iPhone"), "{text}");
    assert!(!text.contains("run `iphone-import pair`"), "{text}");
    // The phone still knows this computer: pairing again would change nothing.
    assert_eq!(fx.lockdownd.trusted_hosts().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_host_id_says_pair_again() {
    let fx = Fixture::paired(SessionTls::default()).await;
    fx.lockdownd.revoke_all();
    let err = fx.session_error().await;
    assert!(
        matches!(err, LockdownError::PairingNotAccepted { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("run `iphone-import pair`"), "{text}");
    assert!(text.contains("InvalidHostID"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_with_only_tls_1_0_gets_a_clear_error() {
    let fx = Fixture::paired(SessionTls {
        offer: TlsOffer::Tls10,
        ..SessionTls::default()
    })
    .await;
    let err = fx.session_error().await;
    assert!(
        matches!(err, LockdownError::TlsIncompatible { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("TLS 1.2 and 1.3") && text.contains("update its iOS"),
        "{text}"
    );
    assert!(!text.contains("run `iphone-import pair`"), "{text}");
}

/// `iphone-mock serve --tls` decides the version our client gets, through the usbmuxd front.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iphone_mock_serve_tls_sets_the_session_version() {
    use iphone_import::lockdown::muxd_records::MuxdPairRecords;
    for (flag, version) in [
        ("1.2", rustls::ProtocolVersion::TLSv1_2),
        ("1.3", rustls::ProtocolVersion::TLSv1_3),
    ] {
        let server = common::MockServer::start_with_args(&["--tls", flag]);
        let muxd = server.muxd_client();
        let device = muxd.list_devices().await.unwrap().remove(0);
        let own = tempfile::tempdir().unwrap();
        let stores = PairRecordStores::new(own.path()).with_usbmuxd(Arc::new(
            MuxdPairRecords::new(muxd.clone(), device.device_id),
        ));
        let connect = || async {
            LockdownClient::new(muxd.connect(device.device_id, LOCKDOWN_PORT).await.unwrap())
        };
        let mut client = connect().await;
        let options = PairingOptions::default();
        pair_device(
            &mut client,
            &stores,
            &device.udid,
            &options,
            |_| {},
            std::future::pending(),
        )
        .await
        .unwrap();
        let mut client = connect().await;
        start_paired_session(&mut client, &stores, &device.udid)
            .await
            .unwrap();
        assert_eq!(client.tls_version(), Some(version), "--tls {flag}");
        client.stop_session().await.unwrap();
        assert_eq!(
            client.query_type().await.unwrap(),
            "com.apple.mobile.lockdown"
        );
    }
}
