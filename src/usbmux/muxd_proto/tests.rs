//! Unit tests of the usbmuxd codec: captured client packets, both encodings of every reply,
//! the decoder's handling of split, oversized and hostile input.

use plist::{Dictionary, Value};

use super::fields::parse_dict;
use super::*;

const XML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n<dict>\n";

/// A captured request: header hex as printed in usbmux_client_packets.txt, then the XML body
/// (tab-indented key/value lines).
fn captured(header_hex: &str, lines: &[&str], total: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = header_hex
        .split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    let mut xml = String::from(XML_HEAD);
    for line in lines {
        xml.push('\t');
        xml.push_str(line);
        xml.push('\n');
    }
    xml.push_str("</dict>\n</plist>\n");
    bytes.extend_from_slice(xml.as_bytes());
    assert_eq!(bytes.len(), total, "test vector rebuilt wrongly");
    bytes
}

fn decode_all(bytes: &[u8]) -> Vec<Frame> {
    let mut d = FrameDecoder::new();
    d.feed(bytes);
    let mut frames = Vec::new();
    while let Some(f) = d.next_frame().unwrap() {
        frames.push(f);
    }
    assert_eq!(d.buffered(), 0);
    frames
}

fn one_request(bytes: &[u8]) -> (u32, Request) {
    let frames = decode_all(bytes);
    assert_eq!(frames.len(), 1);
    (frames[0].tag, Request::decode(&frames[0]).unwrap())
}

#[test]
fn pmd3_bare_readbuid_probe_decodes() {
    let bytes = captured(
        "ff 00 00 00 01 00 00 00 08 00 00 00 01 00 00 00",
        &["<key>MessageType</key>", "<string>ReadBUID</string>"],
        255,
    );
    assert_eq!(one_request(&bytes), (1, Request::ReadBuid));
}

#[test]
fn pmd3_list_devices_and_connect_decode() {
    let list = captured(
        "ac 01 00 00 01 00 00 00 08 00 00 00 01 00 00 00",
        &[
            "<key>ClientVersionString</key>",
            "<string>qt4i-usbmuxd</string>",
            "<key>MessageType</key>",
            "<string>ListDevices</string>",
            "<key>ProgName</key>",
            "<string>pymobiledevice3</string>",
            "<key>kLibUSBMuxVersion</key>",
            "<integer>3</integer>",
        ],
        428,
    );
    assert_eq!(one_request(&list), (1, Request::ListDevices));
    let connect = captured(
        "04 02 00 00 01 00 00 00 08 00 00 00 01 00 00 00",
        &[
            "<key>ClientVersionString</key>",
            "<string>qt4i-usbmuxd</string>",
            "<key>DeviceID</key>",
            "<integer>7</integer>",
            "<key>MessageType</key>",
            "<string>Connect</string>",
            "<key>PortNumber</key>",
            "<integer>32498</integer>",
            "<key>ProgName</key>",
            "<string>pymobiledevice3</string>",
            "<key>kLibUSBMuxVersion</key>",
            "<integer>3</integer>",
        ],
        516,
    );
    // 32498 on the wire is htons(62078): lockdown.
    assert_eq!(
        one_request(&connect),
        (
            1,
            Request::Connect {
                device_id: 7,
                port: 62078
            }
        )
    );
}

#[test]
fn libusbmuxd_requests_decode_even_when_coalesced() {
    let list = captured(
        "ac 01 00 00 01 00 00 00 08 00 00 00 01 00 00 00",
        &[
            "<key>ClientVersionString</key>",
            "<string>libusbmuxd 2.0.2</string>",
            "<key>MessageType</key>",
            "<string>ListDevices</string>",
            "<key>ProgName</key>",
            "<string>ideviceinfo</string>",
            "<key>kLibUSBMuxVersion</key>",
            "<integer>3</integer>",
        ],
        428,
    );
    let connect = captured(
        "04 02 00 00 01 00 00 00 08 00 00 00 02 00 00 00",
        &[
            "<key>ClientVersionString</key>",
            "<string>libusbmuxd 2.0.2</string>",
            "<key>MessageType</key>",
            "<string>Connect</string>",
            "<key>ProgName</key>",
            "<string>ideviceinfo</string>",
            "<key>kLibUSBMuxVersion</key>",
            "<integer>3</integer>",
            "<key>DeviceID</key>",
            "<integer>7</integer>",
            "<key>PortNumber</key>",
            "<integer>32498</integer>",
        ],
        516,
    );
    let both = [list, connect].concat();
    // Byte by byte: the decoder must reassemble across any split.
    let mut d = FrameDecoder::new();
    let mut frames = Vec::new();
    for b in &both {
        assert!(d.wanted() >= 1);
        d.feed(std::slice::from_ref(b));
        while let Some(f) = d.next_frame().unwrap() {
            frames.push(f);
        }
    }
    let decoded: Vec<_> = frames
        .iter()
        .map(|f| (f.tag, Request::decode(f).unwrap()))
        .collect();
    assert_eq!(
        decoded,
        vec![
            (1, Request::ListDevices),
            (
                2,
                Request::Connect {
                    device_id: 7,
                    port: 62078
                }
            )
        ]
    );
}

#[test]
fn wanted_never_reaches_past_the_frame() {
    let bytes = Request::ReadBuid.encode_plist(5, &ClientInfo::default());
    let mut d = FrameDecoder::new();
    assert_eq!(d.wanted(), HEADER_LEN);
    d.feed(&bytes[..HEADER_LEN]);
    assert_eq!(d.next_frame().unwrap(), None);
    assert_eq!(d.wanted(), bytes.len() - HEADER_LEN);
    d.feed(&bytes[HEADER_LEN..]);
    assert!(d.next_frame().unwrap().is_some());
    assert_eq!(d.wanted(), HEADER_LEN);
}

#[test]
fn every_request_round_trips_through_plist() {
    let client = ClientInfo {
        prog_name: "t".into(),
        client_version: "v".into(),
    };
    let requests = vec![
        Request::ListDevices,
        Request::Listen,
        Request::Connect {
            device_id: 3,
            port: 49152,
        },
        Request::ReadBuid,
        Request::ReadPairRecord {
            udid: "00008030-001A2B3C4D5E802E".into(),
        },
        Request::SavePairRecord {
            udid: "U".into(),
            device_id: Some(9),
            data: b"<plist/>".to_vec(),
        },
        Request::SavePairRecord {
            udid: "U".into(),
            device_id: None,
            data: vec![0, 1, 2],
        },
        Request::DeletePairRecord { udid: "U".into() },
        Request::ListListeners,
    ];
    for (tag, req) in requests.into_iter().enumerate() {
        let bytes = req.encode_plist(tag as u32, &client);
        let frames = decode_all(&bytes);
        assert_eq!(frames[0].version, VERSION_PLIST);
        assert_eq!(frames[0].message, message::PLIST);
        assert_eq!(
            (frames[0].tag, Request::decode(&frames[0]).unwrap()),
            (tag as u32, req)
        );
        let dict = parse_dict(&frames[0].payload).unwrap();
        assert_eq!(
            dict.get("kLibUSBMuxVersion")
                .and_then(Value::as_unsigned_integer),
            Some(3)
        );
        assert_eq!(dict.get("ProgName").and_then(Value::as_string), Some("t"));
    }
}

#[test]
fn connect_port_travels_in_network_order() {
    let bytes = Request::Connect {
        device_id: 1,
        port: 49152,
    }
    .encode_plist(1, &ClientInfo::default());
    let dict = parse_dict(&decode_all(&bytes)[0].payload).unwrap();
    assert_eq!(
        dict.get("PortNumber").and_then(Value::as_unsigned_integer),
        Some(192)
    );

    let bin = Request::Connect {
        device_id: 7,
        port: 62078,
    }
    .encode_binary(4)
    .unwrap();
    assert_eq!(
        bin,
        [
            &[24, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0][..],
            &[7, 0, 0, 0, 0xf2, 0x7e, 0, 0]
        ]
        .concat()
    );
    let frame = &decode_all(&bin)[0];
    assert_eq!(
        Request::decode(frame).unwrap(),
        Request::Connect {
            device_id: 7,
            port: 62078
        }
    );
    let listen = Request::Listen.encode_binary(1).unwrap();
    assert_eq!(
        Request::decode(&decode_all(&listen)[0]).unwrap(),
        Request::Listen
    );
    assert_eq!(Request::ListDevices.encode_binary(1), None);
}

fn record(id: u32) -> DeviceRecord {
    DeviceRecord {
        device_id: id,
        serial_number: "00008030-001A2B3C4D5E802E".into(),
        product_id: 0x12a8,
        location_id: Some(0x0112_0000),
        connection_speed: Some(480_000_000),
        connection_type: "USB".into(),
    }
}

#[test]
fn every_reply_round_trips_as_xml_with_its_tag() {
    let mut listener = Dictionary::new();
    listener.insert("ID String".into(), "1".into());
    let replies = vec![
        Reply::Result(ResultCode::Ok),
        Reply::Result(ResultCode::BadCommand),
        Reply::Result(ResultCode::BadDevice),
        Reply::Result(ResultCode::ConnectionRefused),
        Reply::Result(ResultCode::BadVersion),
        Reply::Result(ResultCode::Other(22)),
        Reply::DeviceList(vec![record(1), record(2)]),
        Reply::DeviceList(vec![]),
        Reply::Buid("5A0A1B2C-3D4E-5F60-7182-93A4B5C6D7E8".into()),
        Reply::PairRecordData(b"record".to_vec()),
        Reply::ListenerList(vec![listener]),
        Reply::Event(DeviceEvent::Attached(record(3))),
        Reply::Event(DeviceEvent::Detached { device_id: 3 }),
        Reply::Event(DeviceEvent::Paired { device_id: 3 }),
    ];
    for (tag, reply) in replies.into_iter().enumerate() {
        let bytes = reply.encode_plist(tag as u32);
        assert!(
            bytes[HEADER_LEN..].starts_with(b"<?xml"),
            "replies must be XML"
        );
        let frame = &decode_all(&bytes)[0];
        assert_eq!(frame.tag, tag as u32);
        assert_eq!(Reply::decode(frame).unwrap(), reply);
    }
}

#[test]
fn replies_use_only_message_types_libusbmuxd_knows() {
    let allowed = ["Result", "Attached", "Detached", "Paired"];
    for reply in [
        Reply::Result(ResultCode::Ok),
        Reply::DeviceList(vec![record(1)]),
        Reply::Buid("B".into()),
        Reply::PairRecordData(vec![1]),
        Reply::Event(DeviceEvent::Paired { device_id: 1 }),
    ] {
        let dict = parse_dict(&reply.encode_plist(1)[HEADER_LEN..]).unwrap();
        if let Some(t) = dict.get("MessageType").and_then(Value::as_string) {
            assert!(allowed.contains(&t), "{t}");
        }
    }
}

#[test]
fn list_devices_reply_has_the_properties_clients_read() {
    let dict =
        parse_dict(&Reply::DeviceList(vec![record(7)]).encode_plist(1)[HEADER_LEN..]).unwrap();
    let entry = dict["DeviceList"].as_array().unwrap()[0]
        .as_dictionary()
        .unwrap();
    assert_eq!(entry["MessageType"].as_string(), Some("Attached"));
    assert_eq!(entry["DeviceID"].as_unsigned_integer(), Some(7));
    let props = entry["Properties"].as_dictionary().unwrap();
    let keys: Vec<_> = props.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "ConnectionSpeed",
            "ConnectionType",
            "DeviceID",
            "LocationID",
            "ProductID",
            "SerialNumber"
        ]
    );
    assert_eq!(props["ProductID"].as_unsigned_integer(), Some(4776));
    assert_eq!(
        props["SerialNumber"].as_string(),
        Some("00008030-001A2B3C4D5E802E")
    );
}

#[test]
fn binary_events_round_trip() {
    for reply in [
        Reply::Result(ResultCode::ConnectionRefused),
        Reply::Event(DeviceEvent::Attached(DeviceRecord {
            connection_speed: None,
            ..record(5)
        })),
        Reply::Event(DeviceEvent::Detached { device_id: 5 }),
        Reply::Event(DeviceEvent::Paired { device_id: 5 }),
    ] {
        let bytes = reply.encode_binary(9).unwrap();
        let frame = &decode_all(&bytes)[0];
        assert_eq!(frame.version, VERSION_BINARY);
        assert_eq!(Reply::decode(frame).unwrap(), reply);
    }
    let add = Reply::Event(DeviceEvent::Attached(record(5)))
        .encode_binary(0)
        .unwrap();
    assert_eq!(add.len(), HEADER_LEN + DEVICE_RECORD_LEN);
    assert_eq!(Reply::Buid("x".into()).encode_binary(1), None);
}

#[test]
fn out_of_range_lengths_are_refused_before_buffering() {
    for len in [0u32, 15, (MAX_MESSAGE_LEN + 1) as u32, u32::MAX] {
        let mut bytes = Header {
            length: len,
            version: 1,
            message: 8,
            tag: 1,
        }
        .encode()
        .to_vec();
        bytes.extend_from_slice(&[0; 32]);
        let mut d = FrameDecoder::new();
        d.feed(&bytes);
        assert_eq!(d.next_frame(), Err(ProtoError::BadLength(len)));
        assert_eq!(d.buffered(), 0, "nothing kept after a bad header");
        // The error sticks: the stream has lost its framing.
        d.feed(&[0; 16]);
        assert!(d.next_frame().is_err());
    }
}

#[test]
fn garbage_bodies_are_clean_errors() {
    let frame = |version, message, payload: &[u8]| Frame {
        version,
        message,
        tag: 1,
        payload: payload.to_vec(),
    };
    assert!(matches!(
        Request::decode(&frame(1, 8, b"not a plist")),
        Err(ProtoError::BadPlist(_))
    ));
    assert!(matches!(
        Request::decode(&frame(1, 8, b"")),
        Err(ProtoError::BadPlist(_))
    ));
    let array = Value::Array(vec![]);
    let mut xml = Vec::new();
    array.to_writer_xml(&mut xml).unwrap();
    assert!(matches!(
        Request::decode(&frame(1, 8, &xml)),
        Err(ProtoError::BadPlist(_))
    ));
    assert_eq!(
        Request::decode(&frame(2, 8, b"")),
        Err(ProtoError::BadVersion(2))
    );
    assert!(matches!(
        Request::decode(&frame(0, 2, &[1, 2, 3])),
        Err(ProtoError::BadBinaryBody { .. })
    ));
    assert!(matches!(
        Reply::decode(&frame(0, 4, &[0; 10])),
        Err(ProtoError::BadBinaryBody { .. })
    ));
    assert!(matches!(
        Reply::decode(&frame(0, 1, &[])),
        Err(ProtoError::BadBinaryBody { .. })
    ));
    assert!(matches!(
        Reply::decode(&frame(0, 99, &[])),
        Err(ProtoError::Unexpected { .. })
    ));

    // A Connect without a port, a port that is not 16 bits, an unknown reply type.
    let mut d = Dictionary::new();
    d.insert("MessageType".into(), "Connect".into());
    d.insert("DeviceID".into(), 1u64.into());
    let f = Frame::plist(1, d.clone());
    assert!(matches!(
        Request::decode(&f),
        Err(ProtoError::MissingKey {
            key: "PortNumber",
            ..
        })
    ));
    d.insert("PortNumber".into(), 70000u64.into());
    assert!(matches!(
        Request::decode(&Frame::plist(1, d)),
        Err(ProtoError::MissingKey { .. })
    ));
    let mut r = Dictionary::new();
    r.insert("MessageType".into(), "Surprise".into());
    assert!(Reply::decode(&Frame::plist(1, r)).is_err());
    // Unknown request types are not errors: the daemon answers them with BADCOMMAND.
    let mut u = Dictionary::new();
    u.insert("MessageType".into(), "Frobnicate".into());
    assert_eq!(
        Request::decode(&Frame::plist(1, u)).unwrap(),
        Request::Unknown("Frobnicate".into())
    );
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    // ~60k nested arrays fit in well under 1 MiB.
    let depth = 60_000;
    let mut xml = String::from("<?xml version=\"1.0\"?><plist version=\"1.0\">");
    xml.push_str(&"<array>".repeat(depth));
    xml.push_str(&"</array>".repeat(depth));
    xml.push_str("</plist>");
    assert!(xml.len() < MAX_MESSAGE_LEN);
    let frame = Frame {
        version: 1,
        message: 8,
        tag: 1,
        payload: xml.into_bytes(),
    };
    let result = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || Request::decode(&frame))
        .unwrap()
        .join()
        .expect("decoder thread must not crash");
    assert_eq!(result, Err(ProtoError::TooDeep));
}

#[test]
fn random_bytes_never_panic() {
    // A deterministic xorshift stream: headers with small lengths so frames complete.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..2000 {
        let len = 16 + (next() % 64) as u32;
        let version = (next() % 3) as u32;
        let message = (next() % 10) as u32;
        let mut bytes = Header {
            length: len,
            version,
            message,
            tag: 1,
        }
        .encode()
        .to_vec();
        bytes.extend((0..len - 16).map(|_| next() as u8));
        let frame = &decode_all(&bytes)[0];
        let _ = Request::decode(frame);
        let _ = Reply::decode(frame);
    }
}
