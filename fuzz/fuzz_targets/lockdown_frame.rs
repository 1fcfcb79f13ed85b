//! The lockdown length-prefixed plist decoder, then what the client does with a reply (error
//! check, string values) and the pair record parser on the same bytes.
#![no_main]

use iphone_import::lockdown::PairRecord;
use iphone_import::lockdown::codec::decode_frame;
use iphone_import::lockdown::messages::{check_reply, reply_string};
use libfuzzer_sys::fuzz_target;

/// The client's limit for one lockdown message.
const MAX: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let mut buf = data.to_vec();
    while let Ok(Some(dict)) = decode_frame(&mut buf, MAX) {
        let _ = reply_string(&dict, "GetValue", "Value");
        let _ = check_reply(dict, "StartSession");
    }
    let _ = PairRecord::from_bytes(data, "fuzz input");
});
