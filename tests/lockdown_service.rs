//! `lockdown::service` against the simulated iPhone over the in-process mux link: StartService on
//! a paired session and a working connection to the port it answers with; a service the phone
//! does not have, and a port where nothing listens, each as its own typed error.

use std::time::Duration;

use iphone_import::afc::AfcClient;
use iphone_import::lockdown::service::{self, ServiceError, StartedService};
use iphone_import::lockdown::{
    LockdownClient, LockdownError, PairRecordStores, PairingOptions, ServiceEndpoint,
    ensure_paired_session,
};
use iphone_import::mock::demo::DemoDevice;
use iphone_import::usbmux::{LOCKDOWN_PORT, Transport};

#[tokio::test]
async fn opens_a_named_service_on_a_paired_session_and_types_its_failures() {
    let (_phone, device, link) = DemoDevice::start().unwrap();
    let transport = Transport::from_links(vec![(device.clone(), link)])
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let stores = PairRecordStores::new(tmp.path());
    let mut client = LockdownClient::new(transport.connect(&device, LOCKDOWN_PORT).await.unwrap());
    client.query_type().await.unwrap();
    let unlock = PairingOptions::default();
    let pending = std::future::pending;
    let record = ensure_paired_session(
        &mut client,
        &stores,
        &device.udid,
        &unlock,
        |_| {},
        pending(),
    )
    .await
    .unwrap();

    let afc = service::start(&mut client, "com.apple.afc", &unlock, |_| {}, pending())
        .await
        .unwrap();
    assert_eq!(afc.name, "com.apple.afc");
    let io_timeout = Duration::from_secs(30);
    let stream = afc
        .connect(&transport, &device, &record, io_timeout)
        .await
        .unwrap();
    let info = AfcClient::new(stream).device_info().await.unwrap();
    assert!(info.fs_total_bytes > 0, "{info:?}");

    let missing = service::start(&mut client, "com.apple.nothing", &unlock, |_| {}, pending())
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, ServiceError::Start { service, source: LockdownError::Device { .. } }
            if service == "com.apple.nothing"),
        "{missing:?}"
    );
    assert!(!missing.is_session_inactive());
    assert_eq!(
        missing.to_string(),
        "starting com.apple.nothing on the phone"
    );

    // StartService answered with a port that nobody listens on (e.g. the service died at once).
    let gone = StartedService {
        name: "com.example.gone".into(),
        endpoint: ServiceEndpoint {
            port: 1,
            ssl: false,
        },
    };
    let err = gone
        .connect(&transport, &device, &record, io_timeout)
        .await
        .err()
        .expect("nothing listens on port 1");
    assert!(
        matches!(&err, ServiceError::Connect { service, port: 1, .. } if service == "com.example.gone"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "connecting to com.example.gone on port 1");
}
