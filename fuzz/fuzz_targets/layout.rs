//! The layout template parser, and rendering with phone-supplied values taken from the input:
//! whatever the template and values, a rendered path stays inside DEST and out of its state
//! folder.
#![no_main]

use chrono::NaiveDate;
use iphone_import::import::layout::{Layout, RelPath, ResourceVars};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // template \n stem \n ext \n device \n folder \n album \n original stem; `kind` is ours
    // (one of four words), picked with `favorite` from the first byte.
    let first = data.first().copied().unwrap_or(0);
    let favorite = first & 1 == 1;
    let kind = ["photo", "video", "screenshot", "live"][usize::from(first >> 1) % 4];
    let mut parts = text.split('\n');
    let template = parts.next().unwrap_or("");
    let mut next = || parts.next().unwrap_or("");
    let (stem, ext, device, dcim_folder, album) = (next(), next(), next(), next(), next());
    let original_stem = next();
    let _ = RelPath::parse(template);
    let Ok(layout) = Layout::parse(template) else {
        return;
    };
    let vars = ResourceVars {
        date: NaiveDate::from_ymd_opt(2025, 6, 14).unwrap(),
        stem,
        ext,
        device,
        dcim_folder,
        album,
        original_stem,
        favorite,
        kind,
    };
    for rendered in [layout.render(&vars), layout.render_edited(&vars, ext)] {
        if let Ok(path) = rendered {
            let c = path.components();
            assert!(!c.is_empty());
            assert_ne!(
                c[0], ".iphone-import",
                "{template:?} reached the state folder"
            );
            for part in c {
                assert!(
                    !part.is_empty() && part != "." && part != "..",
                    "{template:?}: {c:?}"
                );
                assert!(
                    !part.contains('/') && !part.contains('\0'),
                    "{template:?}: {c:?}"
                );
            }
        }
    }
});
