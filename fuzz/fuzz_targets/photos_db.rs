//! The Photos.sqlite reader on mutated database files: the bytes become a file, which
//! `photos_db::read_local` opens as it opens the cached copy of the phone's database.
#![no_main]

use iphone_import::library::photos_db::read_local;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let path = dir.path().join("Photos.sqlite");
    if std::fs::write(&path, data).is_ok() {
        let _ = read_local(&path);
    }
});
