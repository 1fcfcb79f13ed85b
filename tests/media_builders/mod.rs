//! Builders of tiny media files (TIFF/EXIF, JPEG, HEIC, MOV boxes) with chosen capture
//! dates, for the tests of date reading and of the import blocks.
#![allow(dead_code)] // Each test binary uses a different subset.

/// A big-endian TIFF with IFD0 → Exif IFD holding DateTimeOriginal and, optionally,
/// OffsetTimeOriginal.
pub(crate) fn tiff_with_dates(date: &str, offset: Option<&str>) -> Vec<u8> {
    let mut entries: Vec<(u16, Vec<u8>)> = vec![(0x9003, format!("{date}\0").into_bytes())];
    if let Some(o) = offset {
        entries.push((0x9011, format!("{o}\0").into_bytes()));
    }
    let mut t = Vec::new();
    t.extend_from_slice(b"MM\0*");
    t.extend_from_slice(&8u32.to_be_bytes());
    // IFD0: one entry, ExifIFDPointer.
    let exif_ifd = 8 + 2 + 12 + 4;
    t.extend_from_slice(&1u16.to_be_bytes());
    t.extend_from_slice(&0x8769u16.to_be_bytes());
    t.extend_from_slice(&4u16.to_be_bytes()); // LONG
    t.extend_from_slice(&1u32.to_be_bytes());
    t.extend_from_slice(&(exif_ifd as u32).to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    // Exif IFD, values stored after it.
    let mut data_at = exif_ifd + 2 + 12 * entries.len() + 4;
    t.extend_from_slice(&(entries.len() as u16).to_be_bytes());
    let mut data = Vec::new();
    for (tag, value) in &entries {
        t.extend_from_slice(&tag.to_be_bytes());
        t.extend_from_slice(&2u16.to_be_bytes()); // ASCII
        t.extend_from_slice(&(value.len() as u32).to_be_bytes());
        if value.len() <= 4 {
            let mut v = value.clone();
            v.resize(4, 0);
            t.extend_from_slice(&v);
        } else {
            t.extend_from_slice(&(data_at as u32).to_be_bytes());
            data.extend_from_slice(value);
            data_at += value.len();
        }
    }
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&data);
    t
}

/// SOI + APP1 "Exif" + a little scan data + EOI.
pub(crate) fn jpeg_with_exif(date: &str, offset: Option<&str>) -> Vec<u8> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff_with_dates(date, offset));
    let mut j = vec![0xff, 0xd8, 0xff, 0xe1];
    j.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    j.extend_from_slice(&payload);
    j.extend_from_slice(&[0xff, 0xda, 0x00, 0x02, 1, 2, 3, 0xff, 0xd9]);
    j
}

pub(crate) fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    b.extend_from_slice(kind);
    b.extend_from_slice(body);
    b
}

/// ftyp + mdat + moov{mvhd, meta{hdlr, keys, ilst}} like an iPhone MOV (moov after mdat).
pub(crate) fn mov(mvhd_secs_since_1904: u32, creationdate: Option<&str>) -> Vec<u8> {
    mov_with_mdat(mvhd_secs_since_1904, creationdate, 3000)
}

pub(crate) fn mov_with_mdat(
    mvhd_secs_since_1904: u32,
    creationdate: Option<&str>,
    mdat_len: usize,
) -> Vec<u8> {
    let mut mvhd = vec![0u8; 100];
    mvhd[4..8].copy_from_slice(&mvhd_secs_since_1904.to_be_bytes());
    let mut moov = bx(b"mvhd", &mvhd);
    if let Some(text) = creationdate {
        let mut hdlr = vec![0u8; 8];
        hdlr.extend_from_slice(b"mdta");
        hdlr.extend_from_slice(&[0u8; 13]);
        let key_names: [&[u8]; 2] = [
            b"com.apple.quicktime.make",
            b"com.apple.quicktime.creationdate",
        ];
        let mut keys = vec![0, 0, 0, 0];
        keys.extend_from_slice(&2u32.to_be_bytes());
        for k in key_names {
            keys.extend_from_slice(&((k.len() + 8) as u32).to_be_bytes());
            keys.extend_from_slice(b"mdta");
            keys.extend_from_slice(k);
        }
        let data = |v: &[u8]| {
            let mut d = 1u32.to_be_bytes().to_vec();
            d.extend_from_slice(&[0, 0, 0, 0]);
            d.extend_from_slice(v);
            bx(b"data", &d)
        };
        let mut ilst = bx(&1u32.to_be_bytes(), &data(b"Apple"));
        ilst.extend_from_slice(&bx(&2u32.to_be_bytes(), &data(text.as_bytes())));
        let mut meta = bx(b"hdlr", &hdlr);
        meta.extend_from_slice(&bx(b"keys", &keys));
        meta.extend_from_slice(&bx(b"ilst", &ilst));
        moov.extend_from_slice(&bx(b"meta", &meta));
    }
    let mut f = bx(b"ftyp", b"qt  \0\0\0\0qt  ");
    f.extend_from_slice(&bx(b"wide", b""));
    f.extend_from_slice(&bx(b"mdat", &vec![0xAB; mdat_len]));
    f.extend_from_slice(&bx(b"moov", &moov));
    f
}

/// ftyp + meta{hdlr, iinf{infe Exif}, iloc} + mdat holding the Exif item, like a HEIC.
pub(crate) fn heic_with_exif(date: &str, offset: Option<&str>) -> Vec<u8> {
    heic_with_exif_after(date, offset, 0)
}

/// Same, with `padding` bytes of image data in `mdat` before the Exif item.
pub(crate) fn heic_with_exif_after(date: &str, offset: Option<&str>, padding: usize) -> Vec<u8> {
    let full = |v: u8, body: &[u8]| {
        let mut b = vec![v, 0, 0, 0];
        b.extend_from_slice(body);
        b
    };
    let mut item = 0u32.to_be_bytes().to_vec(); // offset to the TIFF header
    item.extend_from_slice(&tiff_with_dates(date, offset));
    let ftyp = bx(b"ftyp", b"heic\0\0\0\0mif1heic");
    let build_meta = |extent_offset: u32| {
        let mut hdlr = vec![0u8; 4];
        hdlr.extend_from_slice(b"pict");
        hdlr.extend_from_slice(&[0u8; 13]);
        let mut infe = 1u16.to_be_bytes().to_vec();
        infe.extend_from_slice(&0u16.to_be_bytes());
        infe.extend_from_slice(b"Exif\0");
        let mut iinf = 1u16.to_be_bytes().to_vec();
        iinf.extend_from_slice(&bx(b"infe", &full(2, &infe)));
        let mut iloc = vec![0x44, 0x00];
        iloc.extend_from_slice(&1u16.to_be_bytes()); // item count
        iloc.extend_from_slice(&1u16.to_be_bytes()); // item id
        iloc.extend_from_slice(&0u16.to_be_bytes()); // data reference index
        iloc.extend_from_slice(&1u16.to_be_bytes()); // extent count
        iloc.extend_from_slice(&extent_offset.to_be_bytes());
        iloc.extend_from_slice(&(item.len() as u32).to_be_bytes());
        let mut meta = bx(b"hdlr", &full(0, &hdlr));
        meta.extend_from_slice(&bx(b"iinf", &full(0, &iinf)));
        meta.extend_from_slice(&bx(b"iloc", &full(0, &iloc)));
        bx(b"meta", &full(0, &meta))
    };
    let meta_len = build_meta(0).len();
    let item_at = (ftyp.len() + meta_len + 8 + padding) as u32;
    let mut f = ftyp.clone();
    f.extend_from_slice(&build_meta(item_at));
    let mut mdat = vec![0x5A; padding];
    mdat.extend_from_slice(&item);
    f.extend_from_slice(&bx(b"mdat", &mdat));
    f
}
