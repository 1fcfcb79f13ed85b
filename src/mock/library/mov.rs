//! QuickTime movies as an iPhone writes them: `ftyp qt`, `wide`, `mdat`, then `moov` with
//! `mvhd` (UTC creation time, 1904 epoch), one video `trak`, and `moov/meta` (hdlr mdta, keys,
//! ilst) carrying `com.apple.quicktime.creationdate` (local time + offset) and, for Live Photo
//! halves, `com.apple.quicktime.content.identifier` (photo-library.md §3, §9).
//!
//! The one video sample is an uncompressed 16×16 `raw ` (24-bit RGB) frame, so the file is also
//! decodable without any codec. `realistic_sizes` padding is unreferenced bytes inside `mdat`.

use super::bmff::{Payload, container, ftyp, full, plain};
use super::fill::Filler;
use super::time;
use std::io::{self, Write};

pub(super) const WIDTH: u32 = 16;
pub(super) const HEIGHT: u32 = 16;
const TIMESCALE: u32 = 600;
const FRAME_LEN: u32 = WIDTH * HEIGHT * 3;

/// MOV (QuickTime brand, Apple keys) or MP4 (ISO brand, no Apple keys: date only in `mvhd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    Mov,
    Mp4,
}

pub(super) struct MovieFields<'a> {
    pub flavor: Flavor,
    pub unix: i64,
    pub offset_secs: i32,
    pub duration_ms: u32,
    pub model: &'a str,
    pub software: &'a str,
    pub content_identifier: Option<&'a str>,
    pub rgb: [u8; 3],
    /// `wide` + `mdat` first and `ftyp` after them, as some real MOVs are laid out.
    pub wide_first: bool,
}

fn qt_time(unix: i64) -> u32 {
    (unix + time::QUICKTIME_EPOCH_OFFSET) as u32
}

/// `com.apple.quicktime.creationdate` value as iPhones write it: `2025-06-14T10:22:31+02:00`.
pub(super) fn apple_creation_date(unix: i64, offset_secs: i32) -> String {
    format!(
        "{}{}",
        time::iso_local(unix, offset_secs),
        time::offset_colon(offset_secs)
    )
}

fn hdlr(component: &[u8; 4], subtype: &[u8; 4]) -> Vec<u8> {
    let p = Payload::default()
        .bytes(component)
        .bytes(subtype)
        .zeros(12)
        .u8(0);
    full(b"hdlr", 0, 0, &p.0)
}

/// `moov/meta` with mdta keys; QuickTime's `meta` atom has no version/flags.
fn apple_meta(entries: &[(&str, String)]) -> Vec<u8> {
    let mut keys = Payload::default().u32(entries.len() as u32).0;
    let mut ilst = Vec::new();
    for (i, (key, value)) in entries.iter().enumerate() {
        keys.extend_from_slice(&((8 + key.len()) as u32).to_be_bytes());
        keys.extend_from_slice(b"mdta");
        keys.extend_from_slice(key.as_bytes());
        // data atom: type indicator 1 = UTF-8, locale 0
        let data = plain(
            b"data",
            &Payload::default().u32(1).u32(0).bytes(value.as_bytes()).0,
        );
        let mut item = ((8 + data.len()) as u32).to_be_bytes().to_vec();
        item.extend_from_slice(&(i as u32 + 1).to_be_bytes());
        item.extend(data);
        ilst.extend(item);
    }
    container(
        b"meta",
        &[
            hdlr(b"\0\0\0\0", b"mdta"),
            full(b"keys", 0, 0, &keys),
            plain(b"ilst", &ilst),
        ],
    )
}

fn moov(f: &MovieFields<'_>, frame_offset: u32) -> Vec<u8> {
    let t = qt_time(f.unix);
    let duration = (f.duration_ms as u64 * TIMESCALE as u64 / 1000).max(1) as u32;
    let mvhd = full(
        b"mvhd",
        0,
        0,
        &Payload::default()
            .u32(t)
            .u32(t)
            .u32(TIMESCALE)
            .u32(duration)
            .u32(0x0001_0000)
            .u16(0x0100)
            .zeros(10)
            .unity_matrix()
            .zeros(24)
            .u32(2)
            .0,
    );
    let tkhd = full(
        b"tkhd",
        0,
        0x3,
        &Payload::default()
            .u32(t)
            .u32(t)
            .u32(1)
            .u32(0)
            .u32(duration)
            .zeros(8)
            .u16(0)
            .u16(0)
            .u16(0)
            .u16(0)
            .unity_matrix()
            .u32(WIDTH << 16)
            .u32(HEIGHT << 16)
            .0,
    );
    let mdhd = full(
        b"mdhd",
        0,
        0,
        &Payload::default()
            .u32(t)
            .u32(t)
            .u32(TIMESCALE)
            .u32(duration)
            .u16(0x55C4)
            .u16(0)
            .0,
    );
    let (mhlr, dhlr): (&[u8; 4], &[u8; 4]) = match f.flavor {
        Flavor::Mov => (b"mhlr", b"dhlr"),
        Flavor::Mp4 => (b"\0\0\0\0", b"\0\0\0\0"),
    };
    let vmhd = full(b"vmhd", 0, 1, &[0u8; 8]);
    let dref = full(
        b"dref",
        0,
        0,
        &[1u32.to_be_bytes().to_vec(), full(b"url ", 0, 1, &[])].concat(),
    );
    let stbl = sample_table(duration, frame_offset);
    let minf = container(
        b"minf",
        &[vmhd, hdlr(dhlr, b"url "), container(b"dinf", &[dref]), stbl],
    );
    let mdia = container(b"mdia", &[mdhd, hdlr(mhlr, b"vide"), minf]);
    let trak = container(b"trak", &[tkhd, mdia]);
    let mut children = vec![mvhd, trak];
    if f.flavor == Flavor::Mov {
        children.push(quicktime_keys(f));
    }
    container(b"moov", &children)
}

/// The one-frame video track's sample table: a raw 24-bit frame at `frame_offset`.
fn sample_table(duration: u32, frame_offset: u32) -> Vec<u8> {
    let mut compressor = [0u8; 32];
    compressor[0] = 4;
    compressor[1..5].copy_from_slice(b"None");
    let raw_entry = plain(
        b"raw ",
        &Payload::default()
            .zeros(6)
            .u16(1) // data reference index
            .u16(0)
            .u16(0)
            .u32(0) // vendor
            .u32(0)
            .u32(0) // temporal / spatial quality
            .u16(WIDTH as u16)
            .u16(HEIGHT as u16)
            .u32(72 << 16)
            .u32(72 << 16)
            .u32(0)
            .u16(1) // frames per sample
            .bytes(&compressor)
            .u16(24) // depth
            .u16(0xFFFF) // no colour table
            .0,
    );
    let stsd = full(
        b"stsd",
        0,
        0,
        &[1u32.to_be_bytes().to_vec(), raw_entry].concat(),
    );
    let stts = full(
        b"stts",
        0,
        0,
        &Payload::default().u32(1).u32(1).u32(duration).0,
    );
    let stsc = full(
        b"stsc",
        0,
        0,
        &Payload::default().u32(1).u32(1).u32(1).u32(1).0,
    );
    let stsz = full(b"stsz", 0, 0, &Payload::default().u32(FRAME_LEN).u32(1).0);
    let stco = full(
        b"stco",
        0,
        0,
        &Payload::default().u32(1).u32(frame_offset).0,
    );
    container(b"stbl", &[stsd, stts, stsc, stsz, stco])
}

/// Apple's QuickTime metadata (make, model, software, creation date with offset, and the Live
/// Photo pairing id) in a `meta` box.
fn quicktime_keys(f: &MovieFields<'_>) -> Vec<u8> {
    let mut entries = vec![
        ("com.apple.quicktime.make", "Apple".to_owned()),
        ("com.apple.quicktime.model", f.model.to_owned()),
        ("com.apple.quicktime.software", f.software.to_owned()),
        (
            "com.apple.quicktime.creationdate",
            apple_creation_date(f.unix, f.offset_secs),
        ),
    ];
    if let Some(id) = f.content_identifier {
        entries.push(("com.apple.quicktime.content.identifier", id.to_owned()));
    }
    apple_meta(&entries)
}

/// Writes the movie; returns the number of bytes written.
pub(super) fn write(
    w: &mut impl Write,
    f: &MovieFields<'_>,
    target_len: Option<u64>,
    filler: &Filler,
) -> io::Result<u64> {
    let ftyp = match f.flavor {
        Flavor::Mov => ftyp(b"qt  ", &[b"qt  "]),
        Flavor::Mp4 => ftyp(b"mp42", &[b"isom", b"mp42"]),
    };
    // ftyp, then mdat (frame first), then moov: the frame offset is known before moov is built.
    // Wide-first: `wide` (an empty 8-byte box), mdat, then ftyp and moov.
    const WIDE: [u8; 8] = [0, 0, 0, 8, b'w', b'i', b'd', b'e'];
    let head = if f.wide_first { WIDE.len() } else { ftyp.len() };
    let frame_offset = head as u32 + 8;
    let moov = moov(f, frame_offset);
    let natural =
        (ftyp.len() + f.wide_first as usize * WIDE.len() + 8 + FRAME_LEN as usize + moov.len())
            as u64;
    let pad = target_len.map_or(0, |t| t.saturating_sub(natural));
    let mdat_len = 8 + FRAME_LEN as u64 + pad;
    w.write_all(if f.wide_first { &WIDE[..] } else { &ftyp[..] })?;
    if let Ok(len) = u32::try_from(mdat_len) {
        w.write_all(&len.to_be_bytes())?;
        w.write_all(b"mdat")?;
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "movie target size above 4 GiB",
        ));
    }
    let mut frame = Vec::with_capacity(FRAME_LEN as usize);
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let k = if (x / 8 + y / 8) % 2 == 0 { 1.0 } else { 0.7 };
            frame.extend(f.rgb.map(|c| (c as f32 * k) as u8));
        }
    }
    w.write_all(&frame)?;
    filler.write(w, pad)?;
    if f.wide_first {
        w.write_all(&ftyp)?;
    }
    w.write_all(&moov)?;
    Ok(natural + pad)
}
