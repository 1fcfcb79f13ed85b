//! The mux packet decoder (both header versions) on bytes from the peer, fed in pieces, and
//! the TCP header and VERSION payload parsers on whatever packets come out.
#![no_main]

use bytes::Bytes;
use iphone_import::usbmux::frame::{DEV_MRU, Decoder, Protocol, decode_version};
use iphone_import::usbmux::tcp::TcpHeader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut decoder = Decoder::new(DEV_MRU);
    decoder.set_v2(mode & 1 == 1);
    // Split the stream where the input says, so partial headers are exercised too.
    let cut = (mode as usize >> 1).min(rest.len());
    for piece in [&rest[..cut], &rest[cut..]] {
        decoder.push(Bytes::copy_from_slice(piece));
        while let Ok(Some(packet)) = decoder.next_packet() {
            match packet.protocol {
                Protocol::Version => {
                    let _ = decode_version(&packet.payload);
                }
                Protocol::Tcp => {
                    let _ = TcpHeader::parse(packet.payload);
                }
                _ => {}
            }
        }
    }
});
