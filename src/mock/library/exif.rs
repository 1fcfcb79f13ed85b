//! EXIF (TIFF) block as an iPhone writes it: big-endian TIFF, IFD0 with Make/Model/DateTime,
//! an Exif IFD with DateTimeOriginal + OffsetTimeOriginal and an Apple MakerNote whose tag
//! 0x0011 is the Live Photo content identifier (photo-library.md §3, §9).

use super::time;

/// What goes into one photo's EXIF.
#[derive(Debug, Clone)]
pub(super) struct ExifFields<'a> {
    pub model: &'a str,
    pub software: &'a str,
    pub unix: i64,
    pub offset_secs: i32,
    pub subsec_millis: u32,
    pub width: u32,
    pub height: u32,
    /// Live Photo content identifier (Apple MakerNote tag 0x0011).
    pub content_identifier: Option<&'a str>,
}

/// One IFD entry value; the TIFF type code follows from the variant.
enum Value {
    Ascii(String),
    Short(u16),
    Long(u32),
    SLong(i32),
    Rational(u32, u32),
    Undefined(Vec<u8>),
}

impl Value {
    fn type_and_bytes(&self) -> (u16, u32, Vec<u8>) {
        match self {
            Value::Ascii(s) => {
                let mut b = s.as_bytes().to_vec();
                b.push(0);
                (2, b.len() as u32, b)
            }
            Value::Short(v) => (3, 1, v.to_be_bytes().to_vec()),
            Value::Long(v) => (4, 1, v.to_be_bytes().to_vec()),
            Value::Rational(n, d) => {
                let mut b = n.to_be_bytes().to_vec();
                b.extend_from_slice(&d.to_be_bytes());
                (5, 1, b)
            }
            Value::Undefined(b) => (7, b.len() as u32, b.clone()),
            Value::SLong(v) => (9, 1, v.to_be_bytes().to_vec()),
        }
    }
}

/// Serialises an IFD that will sit at `base` (offset from the origin its offsets are relative to).
/// Values longer than 4 bytes follow the IFD, word-aligned. `next` = next-IFD offset.
fn ifd(entries: &mut [(u16, Value)], base: u32, next: u32) -> Vec<u8> {
    entries.sort_by_key(|(tag, _)| *tag);
    let head_len = 2 + 12 * entries.len() as u32 + 4;
    let mut head = Vec::with_capacity(head_len as usize);
    let mut data = Vec::new();
    head.extend_from_slice(&(entries.len() as u16).to_be_bytes());
    for (tag, value) in entries.iter() {
        let (ty, count, mut bytes) = value.type_and_bytes();
        head.extend_from_slice(&tag.to_be_bytes());
        head.extend_from_slice(&ty.to_be_bytes());
        head.extend_from_slice(&count.to_be_bytes());
        if bytes.len() <= 4 {
            bytes.resize(4, 0);
            head.extend_from_slice(&bytes);
        } else {
            let at = base + head_len + data.len() as u32;
            head.extend_from_slice(&at.to_be_bytes());
            data.extend_from_slice(&bytes);
            if data.len() % 2 == 1 {
                data.push(0);
            }
        }
    }
    head.extend_from_slice(&next.to_be_bytes());
    head.extend_from_slice(&data);
    head
}

/// Apple MakerNote: "Apple iOS\0", version 0x0001, "MM", then an IFD at offset 14 whose
/// offsets are relative to the start of the MakerNote (as exiftool reads it).
pub(super) fn apple_maker_note(content_identifier: Option<&str>) -> Vec<u8> {
    let mut out = b"Apple iOS\0\0\x01MM".to_vec();
    let mut entries = vec![(0x0001u16, Value::SLong(14))];
    if let Some(id) = content_identifier {
        entries.push((0x0011, Value::Ascii(id.to_owned())));
    }
    let base = out.len() as u32;
    out.extend(ifd(&mut entries, base, 0));
    out
}

/// The TIFF structure (starting "MM\0*"), as carried after "Exif\0\0" in JPEG APP1 and HEIF.
pub(super) fn tiff(f: &ExifFields<'_>) -> Vec<u8> {
    let dt = time::exif_datetime(f.unix, f.offset_secs);
    let off = time::offset_colon(f.offset_secs);
    let subsec = format!("{:03}", f.subsec_millis % 1000);
    let ifd0 = |exif_ptr: u32| {
        vec![
            (0x010F, Value::Ascii("Apple".into())),
            (0x0110, Value::Ascii(f.model.into())),
            (0x0112, Value::Short(1)),
            (0x011A, Value::Rational(72, 1)),
            (0x011B, Value::Rational(72, 1)),
            (0x0128, Value::Short(2)),
            (0x0131, Value::Ascii(f.software.into())),
            (0x0132, Value::Ascii(dt.clone())),
            (0x013C, Value::Ascii(f.model.into())),
            (0x8769, Value::Long(exif_ptr)),
        ]
    };
    // IFD0's length does not depend on the pointer's value, so measure it first.
    let ifd0_len = ifd(&mut ifd0(0), 8, 0).len() as u32;
    let exif_at = 8 + ifd0_len;
    let mut out = b"MM\0\x2a\0\0\0\x08".to_vec();
    out.extend(ifd(&mut ifd0(exif_at), 8, 0));
    let mut exif_entries = vec![
        (0x9000, Value::Undefined(b"0232".to_vec())),
        (0x9003, Value::Ascii(dt.clone())),
        (0x9004, Value::Ascii(dt.clone())),
        (0x9010, Value::Ascii(off.clone())),
        (0x9011, Value::Ascii(off.clone())),
        (0x9012, Value::Ascii(off)),
        (
            0x927C,
            Value::Undefined(apple_maker_note(f.content_identifier)),
        ),
        (0x9291, Value::Ascii(subsec.clone())),
        (0x9292, Value::Ascii(subsec)),
        (0xA001, Value::Short(0xFFFF)),
        (0xA002, Value::Long(f.width)),
        (0xA003, Value::Long(f.height)),
        (
            0xA434,
            Value::Ascii(format!("{} back camera 6.86mm f/1.78", f.model)),
        ),
    ];
    out.extend(ifd(&mut exif_entries, exif_at, 0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maker_note_holds_content_identifier_at_tag_0x11() {
        let mn = apple_maker_note(Some("ABC"));
        assert!(mn.starts_with(b"Apple iOS\0"));
        // IFD at 14: 2 entries, sorted; second is 0x0011 ASCII count 4 "ABC\0" inline.
        assert_eq!(&mn[14..16], &[0, 2]);
        let e2 = &mn[16 + 12..16 + 24];
        assert_eq!(&e2[0..2], &[0x00, 0x11]);
        assert_eq!(&e2[2..4], &[0, 2]);
        assert_eq!(&e2[8..12], b"ABC\0");
    }
}
