//! PNG screenshots: no EXIF date (importers fall back on the database or file time).
//! `realistic_sizes` padding goes in private ancillary `mkPd` chunks, which decoders skip.

use super::fill::Filler;
use std::io::{self, Write};

pub(super) const WIDTH: u32 = 24;
pub(super) const HEIGHT: u32 = 48;
const PAD_CHUNK: usize = 60 * 1024;

fn png_err(e: png::EncodingError) -> io::Error {
    io::Error::other(e)
}

/// Writes a small phone-shaped PNG in colour `rgb`, padded towards `target_len`.
pub(super) fn write(
    w: &mut impl Write,
    rgb: [u8; 3],
    target_len: Option<u64>,
    filler: &Filler,
) -> io::Result<()> {
    let mut enc = png::Encoder::new(w, WIDTH, HEIGHT);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(png_err)?;
    if let Some(target) = target_len {
        // The image itself stays well under 2 KiB; the padding brings the file near target.
        let mut need = target.saturating_sub(2048);
        while need > 12 {
            let n = (need as usize - 12).min(PAD_CHUNK);
            writer
                .write_chunk(png::chunk::ChunkType(*b"mkPd"), filler.slice(n))
                .map_err(png_err)?;
            need -= n as u64 + 12;
        }
    }
    let mut data = Vec::with_capacity((WIDTH * HEIGHT * 3) as usize);
    for y in 0..HEIGHT {
        for _x in 0..WIDTH {
            // A "status bar" band and a lighter body, like a screenshot's layout.
            let k = if y < 4 { 0.3 } else { 1.0 };
            data.extend(rgb.map(|c| (c as f32 * k) as u8));
        }
    }
    writer.write_image_data(&data).map_err(png_err)?;
    writer.finish().map_err(png_err)
}
