//! The EXIF (JPEG, HEIC) and QuickTime capture-date readers on a file's bytes, and the
//! QuickTime date string parser.
#![no_main]

use std::io::Cursor;

use iphone_import::import::dates::{embedded_date, parse_quicktime_date};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = embedded_date(&mut Cursor::new(data));
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_quicktime_date(s);
    }
});
