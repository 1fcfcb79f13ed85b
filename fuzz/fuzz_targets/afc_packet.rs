//! AFC: the packet decoder, the host's reply decoder and its list / dictionary / file-info /
//! device-info parsers, and the device role's request parser, on one byte stream.
#![no_main]

use bytes::BytesMut;
use iphone_import::afc::device::parse_request;
use iphone_import::afc::messages::{Reply, parse_dict, parse_list};
use iphone_import::afc::{DeviceInfo, FileInfo, MAX_BODY_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(packet)) = iphone_import::afc::codec::decode_packet(&mut buf, MAX_BODY_LEN) {
        let _ = parse_request(&packet);
        let body = packet.body.clone();
        let _ = parse_list(&body, "fuzz");
        let _ = parse_dict(&body, "fuzz");
        let _ = FileInfo::parse(&body);
        let _ = DeviceInfo::parse(&body);
        let _ = Reply::decode(packet);
    }
});
