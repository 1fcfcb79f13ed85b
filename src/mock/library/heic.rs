//! HEIC (HEIF) container as an iPhone writes it: `ftyp heic`, `meta` (hdlr pict, pitm, iinf,
//! iloc, iref, iprp) and `mdat` holding an `Exif` item and a primary `hvc1` image item.
//!
//! Honest limit: the `hvc1` payload is a placeholder NAL unit, not a decodable HEVC picture
//! (writing an HEVC encoder is out of scope). The container and its EXIF are well formed, which
//! is what an importer reads; a thumbnailer that decodes pixels would fail on these files.

use super::bmff::{Payload, container, ftyp, full, plain};
use super::fill::Filler;
use std::io::{self, Write};

pub(super) const WIDTH: u32 = 16;
pub(super) const HEIGHT: u32 = 16;
const IMAGE_ITEM: u16 = 1;
const EXIF_ITEM: u16 = 2;

fn infe(item: u16, kind: &[u8; 4], name: &str) -> Vec<u8> {
    let p = Payload::default()
        .u16(item)
        .u16(0)
        .bytes(kind)
        .bytes(name.as_bytes())
        .u8(0);
    full(b"infe", 2, 0, &p.0)
}

/// HEVC decoder configuration record with no parameter-set arrays (see the module note).
fn hvcc() -> Vec<u8> {
    let p = Payload::default()
        .u8(1) // configurationVersion
        .u8(0x01) // profile space 0, tier 0, profile Main
        .u32(0x6000_0000) // profile compatibility flags
        .zeros(6) // constraint indicator flags
        .u8(90) // level 3.0
        .u16(0xF000) // min spatial segmentation
        .u8(0xFC) // parallelism type
        .u8(0xFD) // chroma 4:2:0
        .u8(0xF8) // luma bit depth 8
        .u8(0xF8) // chroma bit depth 8
        .u16(0) // average frame rate
        .u8(0x0F) // 4-byte NAL lengths
        .u8(0); // no arrays
    plain(b"hvcC", &p.0)
}

fn meta(exif_off: u32, exif_len: u32, image_off: u32, image_len: u32) -> Vec<u8> {
    let hdlr = full(
        b"hdlr",
        0,
        0,
        &Payload::default().u32(0).bytes(b"pict").zeros(12).u8(0).0,
    );
    let pitm = full(b"pitm", 0, 0, &IMAGE_ITEM.to_be_bytes());
    let mut iinf_p = Payload::default().u16(2).0;
    iinf_p.extend(infe(IMAGE_ITEM, b"hvc1", ""));
    iinf_p.extend(infe(EXIF_ITEM, b"Exif", ""));
    let iinf = full(b"iinf", 0, 0, &iinf_p);
    let iloc_p = Payload::default()
        .u8(0x44) // offset_size 4, length_size 4
        .u8(0x00) // base_offset_size 0
        .u16(2)
        .u16(IMAGE_ITEM)
        .u16(0)
        .u16(1)
        .u32(image_off)
        .u32(image_len)
        .u16(EXIF_ITEM)
        .u16(0)
        .u16(1)
        .u32(exif_off)
        .u32(exif_len);
    let iloc = full(b"iloc", 0, 0, &iloc_p.0);
    let cdsc = plain(
        b"cdsc",
        &Payload::default().u16(EXIF_ITEM).u16(1).u16(IMAGE_ITEM).0,
    );
    let iref = full(b"iref", 0, 0, &cdsc);
    let ispe = full(b"ispe", 0, 0, &Payload::default().u32(WIDTH).u32(HEIGHT).0);
    let ipco = container(b"ipco", &[hvcc(), ispe]);
    // item 1: property 1 (hvcC, essential), property 2 (ispe)
    let ipma = full(
        b"ipma",
        0,
        0,
        &Payload::default()
            .u32(1)
            .u16(IMAGE_ITEM)
            .u8(2)
            .u8(0x81)
            .u8(0x02)
            .0,
    );
    let iprp = container(b"iprp", &[ipco, ipma]);
    full(
        b"meta",
        0,
        0,
        &[hdlr, pitm, iinf, iloc, iref, iprp].concat(),
    )
}

/// Writes the HEIC; `exif_tiff` is the TIFF block. `seed_byte` varies the placeholder image so
/// two photos never share bytes. Returns the number of bytes written.
pub(super) fn write(
    w: &mut impl Write,
    exif_tiff: &[u8],
    seed_byte: u8,
    target_len: Option<u64>,
    filler: &Filler,
) -> io::Result<u64> {
    // Exif item: 4-byte offset to the TIFF header, then "Exif\0\0", then TIFF (Apple's layout).
    let mut exif = Payload::default().u32(6).bytes(b"Exif\0\0").0;
    exif.extend_from_slice(exif_tiff);
    // One length-prefixed NAL unit (IDR_W_RADL header 0x26 0x01) of placeholder slice data.
    let mut image = Payload::default().u32(18).u8(0x26).u8(0x01).0;
    image.extend((0..16u8).map(|i| i.wrapping_mul(31) ^ seed_byte));

    let ftyp = ftyp(b"heic", &[b"mif1", b"heic", b"MiHE", b"miaf"]);
    let meta_len = meta(0, 0, 0, 0).len() as u32;
    let mdat_data_at = ftyp.len() as u32 + meta_len + 8;
    let exif_off = mdat_data_at;
    let image_off = exif_off + exif.len() as u32;
    let meta = meta(exif_off, exif.len() as u32, image_off, image.len() as u32);
    let natural = mdat_data_at as u64 + (exif.len() + image.len()) as u64;
    let pad = target_len.map_or(0, |t| t.saturating_sub(natural));
    let mdat_len = 8 + (exif.len() + image.len()) as u64 + pad;
    let mdat_len = u32::try_from(mdat_len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "HEIC target too large"))?;
    w.write_all(&ftyp)?;
    w.write_all(&meta)?;
    w.write_all(&mdat_len.to_be_bytes())?;
    w.write_all(b"mdat")?;
    w.write_all(&exif)?;
    w.write_all(&image)?;
    filler.write(w, pad)?;
    Ok(natural + pad)
}
