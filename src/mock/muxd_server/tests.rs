//! Unit tests of the usbmuxd-compatible front against our own `muxd` client and raw frames:
//! listing, Connect, pair records, Listen events, unplugging, hostile and binary clients.

use super::serve::{EINVAL, read_frame};
use super::store::SYSTEM_CONFIG_FILE;
use super::*;
use crate::mock::phone::{PhoneIdentity, ServiceFn};
use crate::usbmux::muxd::{MuxdAddr, MuxdClient, MuxdError};
use crate::usbmux::muxd_proto::{
    ClientInfo, Frame, FrameDecoder, Header, Reply, Request, ResultCode, VERSION_BINARY,
    VERSION_PLIST, message,
};
use crate::usbmux::{LOCKDOWN_PORT, TransportKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixListener};

const BUID: &str = "5A0A1B2C-3D4E-5F60-7182-93A4B5C6D7E8";

fn udid() -> String {
    PhoneIdentity::default().udid
}

/// A server on a free loopback port, and a client for it.
async fn start(phone: Arc<SimulatedPhone>) -> (Arc<MuxdServer>, MuxdClient) {
    let config = MuxdServerConfig {
        buid: Some(BUID.into()),
        ..Default::default()
    };
    let server = MuxdServer::new(vec![phone], config).unwrap();
    let addr = server.spawn_tcp(([127, 0, 0, 1], 0).into()).await.unwrap();
    (server, MuxdClient::new(MuxdAddr::Tcp(addr.to_string())))
}

fn echo_service() -> ServiceFn {
    Arc::new(|mut stream| {
        Box::pin(async move {
            let mut buf = [0u8; 64];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        })
    })
}

/// Send raw request bytes on a fresh connection and decode the first reply frame.
async fn raw_exchange(client: &MuxdClient, request: &[u8]) -> (TcpStream, Frame) {
    let MuxdAddr::Tcp(addr) = client.addr() else {
        unreachable!()
    };
    let mut stream = TcpStream::connect(addr.as_str()).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut decoder = FrameDecoder::new();
    let frame = read_frame(&mut stream, &mut decoder)
        .await
        .unwrap()
        .expect("a reply");
    (stream, frame)
}

#[tokio::test]
async fn lists_the_phone_with_its_identity() {
    let (_server, client) = start(SimulatedPhone::new(PhoneIdentity::default())).await;
    let devices = client.list_devices().await.unwrap();
    assert_eq!(devices.len(), 1);
    let d = &devices[0];
    assert_eq!(
        (d.udid.as_str(), d.device_id, d.product_id),
        (udid().as_str(), FIRST_DEVICE_ID, 0x12a8)
    );
    assert_eq!(d.connection_speed, Some(480_000_000));
    assert!(d.location_id.is_some());
    assert_eq!(d.transport, TransportKind::Usbmuxd);
}

#[tokio::test]
async fn read_buid_answers_the_configured_buid() {
    let (_server, client) = start(SimulatedPhone::new(PhoneIdentity::default())).await;
    assert!(client.probe().await);
    assert_eq!(client.read_buid().await.unwrap(), BUID);
}

#[tokio::test]
async fn connect_to_a_closed_port_is_refused_and_to_an_open_one_reaches_the_service() {
    let phone = SimulatedPhone::new(PhoneIdentity::default());
    let (_server, client) = start(phone.clone()).await;
    let err = client
        .connect(FIRST_DEVICE_ID, LOCKDOWN_PORT)
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(
            err,
            MuxdError::ConnectionRefused {
                port: LOCKDOWN_PORT,
                ..
            }
        ),
        "{err:?}"
    );
    let err = client
        .connect(99, LOCKDOWN_PORT)
        .await
        .err()
        .expect("no such device");
    assert!(
        matches!(err, MuxdError::NoSuchDevice { device_id: 99 }),
        "{err:?}"
    );

    phone.listen(LOCKDOWN_PORT, echo_service());
    let mut stream = client
        .connect(FIRST_DEVICE_ID, LOCKDOWN_PORT)
        .await
        .unwrap();
    stream.write_all(b"hello phone").await.unwrap();
    let mut back = [0u8; 11];
    stream.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"hello phone");
}

#[tokio::test]
async fn pair_records_save_read_delete() {
    let (_server, client) = start(SimulatedPhone::new(PhoneIdentity::default())).await;
    assert_eq!(client.read_pair_record(&udid()).await.unwrap(), None);
    client
        .save_pair_record(&udid(), FIRST_DEVICE_ID, b"<plist>r1</plist>")
        .await
        .unwrap();
    assert_eq!(
        client.read_pair_record(&udid()).await.unwrap().as_deref(),
        Some(&b"<plist>r1</plist>"[..])
    );
    client
        .save_pair_record(&udid(), FIRST_DEVICE_ID, b"r2")
        .await
        .unwrap();
    assert_eq!(
        client.read_pair_record(&udid()).await.unwrap().as_deref(),
        Some(&b"r2"[..])
    );
    client.delete_pair_record(&udid()).await.unwrap();
    assert_eq!(client.read_pair_record(&udid()).await.unwrap(), None);
    let err = client.delete_pair_record(&udid()).await.unwrap_err();
    assert!(matches!(err, MuxdError::Failed { code: 2, .. }), "{err:?}");
}

#[tokio::test]
async fn pair_record_ids_cannot_escape_the_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = MuxdServerConfig {
        state_dir: Some(state.clone()),
        ..Default::default()
    };
    let server =
        MuxdServer::new(vec![SimulatedPhone::new(PhoneIdentity::default())], config).unwrap();
    let (a, b) = tokio::io::duplex(4096);
    tokio::spawn(server.clone().serve_connection(b));
    let (mut reader, mut writer) = tokio::io::split(a);
    let save = Request::SavePairRecord {
        udid: "../escape".into(),
        device_id: None,
        data: b"x".to_vec(),
    };
    writer
        .write_all(&save.encode_plist(3, &ClientInfo::default()))
        .await
        .unwrap();
    let frame = read_frame(&mut reader, &mut FrameDecoder::new())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        Reply::decode(&frame).unwrap(),
        Reply::Result(ResultCode::Other(EINVAL))
    );
    assert!(!dir.path().join("escape.plist").exists());
    assert!(
        state.join(SYSTEM_CONFIG_FILE).exists(),
        "the BUID is saved in the state dir"
    );
}

#[tokio::test]
async fn listen_reports_attached_then_paired() {
    let (_server, client) = start(SimulatedPhone::new(PhoneIdentity::default())).await;
    let mut events = client.listen().await.unwrap();
    match events.next_event().await.unwrap() {
        Some(DeviceEvent::Attached(rec)) => {
            assert_eq!(rec.serial_number, udid());
            assert_eq!(rec.device_id, FIRST_DEVICE_ID);
            assert_eq!(rec.connection_type, "USB");
        }
        other => panic!("expected Attached, got {other:?}"),
    }
    client
        .save_pair_record(&udid(), FIRST_DEVICE_ID, b"r")
        .await
        .unwrap();
    assert_eq!(
        events.next_event().await.unwrap(),
        Some(DeviceEvent::Paired {
            device_id: FIRST_DEVICE_ID
        })
    );
}

#[tokio::test]
async fn unplug_and_replug_are_seen_by_listen_list_and_connect() {
    let phone = SimulatedPhone::new(PhoneIdentity::default());
    phone.listen(LOCKDOWN_PORT, echo_service());
    let (server, client) = start(phone).await;
    let mut events = client.listen().await.unwrap();
    assert!(matches!(
        events.next_event().await.unwrap(),
        Some(DeviceEvent::Attached(_))
    ));

    assert!(!server.toggle_plugged(), "now unplugged");
    assert_eq!(
        events.next_event().await.unwrap(),
        Some(DeviceEvent::Detached {
            device_id: FIRST_DEVICE_ID
        })
    );
    assert!(client.list_devices().await.unwrap().is_empty());
    let err = client
        .connect(FIRST_DEVICE_ID, LOCKDOWN_PORT)
        .await
        .err()
        .expect("an unplugged phone cannot be reached");
    assert!(matches!(err, MuxdError::NoSuchDevice { .. }), "{err:?}");

    assert!(server.toggle_plugged(), "plugged in again");
    match events.next_event().await.unwrap() {
        Some(DeviceEvent::Attached(rec)) => assert_eq!(rec.serial_number, udid()),
        other => panic!("expected Attached, got {other:?}"),
    }
    assert_eq!(client.list_devices().await.unwrap().len(), 1);
    assert!(client.connect(FIRST_DEVICE_ID, LOCKDOWN_PORT).await.is_ok());
}

#[tokio::test]
async fn listen_events_work_as_a_stream() {
    use futures::StreamExt;
    let (_server, client) = start(SimulatedPhone::new(PhoneIdentity::default())).await;
    let events = client.listen().await.unwrap().into_stream();
    let mut events = std::pin::pin!(events);
    let first = events.next().await.expect("an event").unwrap();
    assert!(
        matches!(first, DeviceEvent::Attached(ref r) if r.serial_number == udid()),
        "{first:?}"
    );
    client
        .clone()
        .save_pair_record(&udid(), FIRST_DEVICE_ID, b"r")
        .await
        .unwrap();
    let paired = events.next().await.expect("an event").unwrap();
    assert_eq!(
        paired,
        DeviceEvent::Paired {
            device_id: FIRST_DEVICE_ID
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_short_connections_beside_an_open_listener() {
    // pymobiledevice3 opens 10-14 connections per command, some overlapping.
    let (_server, client) = start(SimulatedPhone::new(PhoneIdentity::default())).await;
    let mut events = client.listen().await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..48 {
        let client = client.clone();
        tasks.spawn(async move {
            if i % 2 == 0 {
                assert_eq!(client.list_devices().await.unwrap()[0].udid, udid());
            } else {
                assert_eq!(client.read_buid().await.unwrap(), BUID);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert!(matches!(
        events.next_event().await.unwrap(),
        Some(DeviceEvent::Attached(_))
    ));
}

#[tokio::test]
async fn list_listeners_counts_listen_clients() {
    let (_server, client) = start(SimulatedPhone::new(PhoneIdentity::default())).await;
    let mut events = client.listen().await.unwrap();
    assert!(matches!(
        events.next_event().await.unwrap(),
        Some(DeviceEvent::Attached(_))
    ));
    let (_s, frame) = raw_exchange(
        &client,
        &Request::ListListeners.encode_plist(4, &ClientInfo::default()),
    )
    .await;
    match Reply::decode(&frame).unwrap() {
        Reply::ListenerList(list) => assert_eq!(list.len(), 1),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unknown_requests_get_badcommand_with_the_tag_echoed() {
    let (_server, client) = start(SimulatedPhone::new(PhoneIdentity::default())).await;
    let req = Request::Unknown("Frobnicate".into()).encode_plist(42, &ClientInfo::default());
    let (mut stream, frame) = raw_exchange(&client, &req).await;
    assert_eq!(
        (frame.version, frame.message, frame.tag),
        (VERSION_PLIST, message::PLIST, 42)
    );
    assert!(frame.payload.starts_with(b"<?xml"));
    assert_eq!(
        Reply::decode(&frame).unwrap(),
        Reply::Result(ResultCode::BadCommand)
    );

    // The connection stays usable for the next request, as with usbmuxd.
    stream
        .write_all(&Request::ReadBuid.encode_plist(43, &ClientInfo::default()))
        .await
        .unwrap();
    let frame = read_frame(&mut stream, &mut FrameDecoder::new())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (frame.tag, Reply::decode(&frame).unwrap()),
        (43, Reply::Buid(BUID.into()))
    );

    // Garbage that is still framed is a BADCOMMAND, too.
    let garbage = Frame {
        version: 1,
        message: 8,
        tag: 44,
        payload: b"<plist><dict><key>".to_vec(),
    };
    stream.write_all(&garbage.encode()).await.unwrap();
    let frame = read_frame(&mut stream, &mut FrameDecoder::new())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (frame.tag, Reply::decode(&frame).unwrap()),
        (44, Reply::Result(ResultCode::BadCommand))
    );
}

#[tokio::test]
async fn bad_versions_get_badversion_and_oversized_messages_close_the_connection() {
    let (_server, client) = start(SimulatedPhone::new(PhoneIdentity::default())).await;
    let odd = Frame {
        version: 7,
        message: 8,
        tag: 5,
        payload: vec![],
    };
    let (_s, frame) = raw_exchange(&client, &odd.encode()).await;
    assert_eq!((frame.version, frame.tag), (VERSION_BINARY, 5));
    assert_eq!(
        Reply::decode(&frame).unwrap(),
        Reply::Result(ResultCode::BadVersion)
    );

    let MuxdAddr::Tcp(addr) = client.addr() else {
        unreachable!()
    };
    let mut stream = TcpStream::connect(addr.as_str()).await.unwrap();
    let huge = Header {
        length: u32::MAX,
        version: 1,
        message: 8,
        tag: 1,
    };
    stream.write_all(&huge.encode()).await.unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        stream.read(&mut buf).await.unwrap(),
        0,
        "the server hangs up"
    );
}

#[tokio::test]
async fn binary_clients_can_listen_and_connect() {
    let phone = SimulatedPhone::new(PhoneIdentity::default());
    let (_server, client) = start(phone.clone()).await;
    let (mut stream, frame) =
        raw_exchange(&client, &Request::Listen.encode_binary(8).unwrap()).await;
    assert_eq!((frame.version, frame.tag), (VERSION_BINARY, 8));
    assert_eq!(
        Reply::decode(&frame).unwrap(),
        Reply::Result(ResultCode::Ok)
    );
    let frame = read_frame(&mut stream, &mut FrameDecoder::new())
        .await
        .unwrap()
        .unwrap();
    match Reply::decode(&frame).unwrap() {
        Reply::Event(DeviceEvent::Attached(rec)) => assert_eq!(rec.serial_number, udid()),
        other => panic!("{other:?}"),
    }

    let connect = Request::Connect {
        device_id: FIRST_DEVICE_ID,
        port: 1234,
    }
    .encode_binary(9)
    .unwrap();
    let (_s, frame) = raw_exchange(&client, &connect).await;
    assert_eq!(
        Reply::decode(&frame).unwrap(),
        Reply::Result(ResultCode::ConnectionRefused)
    );
    phone.listen(1234, echo_service());
    let (mut s, frame) = raw_exchange(&client, &connect).await;
    assert_eq!(
        Reply::decode(&frame).unwrap(),
        Reply::Result(ResultCode::Ok)
    );
    s.write_all(b"ping").await.unwrap();
    let mut back = [0u8; 4];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"ping");
}

#[tokio::test]
async fn serves_a_unix_socket_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usbmuxd.sock");
    let server = MuxdServer::new(
        vec![SimulatedPhone::new(PhoneIdentity::default())],
        MuxdServerConfig::default(),
    )
    .unwrap();
    tokio::spawn(
        server
            .clone()
            .serve_unix(UnixListener::bind(&path).unwrap()),
    );
    let client = MuxdClient::new(MuxdAddr::parse(&format!("UNIX:{}", path.display())).unwrap());
    let buid = client.read_buid().await.unwrap();
    assert_eq!(buid, server.buid());
    assert!(
        uuid::Uuid::parse_str(&buid).is_ok() && buid == buid.to_uppercase(),
        "{buid}"
    );
    assert_eq!(client.list_devices().await.unwrap()[0].udid, udid());
}
