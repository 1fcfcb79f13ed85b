//! The usbmuxd socket message decoder, and both roles' message parsers on each frame.
#![no_main]

use iphone_import::usbmux::muxd_proto::{FrameDecoder, Reply, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut decoder = FrameDecoder::new();
    decoder.feed(data);
    while let Ok(Some(frame)) = decoder.next_frame() {
        let _ = Request::decode(&frame);
        let _ = Reply::decode(&frame);
    }
});
