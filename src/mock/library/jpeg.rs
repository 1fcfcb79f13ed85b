//! A tiny baseline JPEG built in code: 16×16 pixels, 4:4:4 YCbCr, quantisation 1, DC-only blocks
//! (every AC run is a single EOB). Enough for any decoder, yet a few hundred bytes. EXIF goes in
//! APP1 right after SOI (where parsers look); `realistic_sizes` padding goes in COM segments.

use super::fill::Filler;
use std::io::{self, Write};

pub(super) const WIDTH: u32 = 16;
pub(super) const HEIGHT: u32 = 16;
/// Largest payload of one marker segment (the length field counts itself).
const MAX_SEGMENT_PAYLOAD: usize = 65_533;

/// Bit writer for the entropy-coded segment, with 0xFF byte stuffing.
struct Bits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, len: u32) {
        for i in (0..len).rev() {
            self.acc = (self.acc << 1) | ((value >> i) & 1);
            self.n += 1;
            if self.n == 8 {
                self.flush_byte();
            }
        }
    }
    fn flush_byte(&mut self) {
        let b = self.acc as u8;
        self.out.push(b);
        if b == 0xFF {
            self.out.push(0);
        }
        self.acc = 0;
        self.n = 0;
    }
    fn finish(mut self) -> Vec<u8> {
        while self.n != 0 {
            self.put(1, 1);
        }
        self.out
    }
}

/// DC difference: category (4-bit code = category, see the DHT below) + magnitude bits.
fn put_dc(bits: &mut Bits, diff: i32) {
    let cat = 32 - diff.unsigned_abs().leading_zeros();
    bits.put(cat, 4);
    if cat > 0 {
        let v = if diff < 0 { diff - 1 } else { diff };
        bits.put((v as u32) & ((1 << cat) - 1), cat);
    }
    bits.put(0, 1); // AC: EOB, code "0"
}

fn segment(out: &mut Vec<u8>, marker: u8, payload: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Level-shifted DC coefficient for an 8-bit sample value with quantiser 1 (IDCT gives DC/8).
fn dc_for(sample: f32) -> i32 {
    ((sample.clamp(0.0, 255.0) - 128.0) * 8.0).round() as i32
}

/// Writes the JPEG; `exif_tiff` is the TIFF block (without "Exif\0\0"); `rgb` the base colour;
/// `target_len`, if larger than the natural size, is reached (approximately, ±4 bytes) with
/// COM padding. Returns the number of bytes written.
pub(super) fn write(
    w: &mut impl Write,
    exif_tiff: Option<&[u8]>,
    rgb: [u8; 3],
    target_len: Option<u64>,
    filler: &Filler,
) -> io::Result<u64> {
    let mut head = vec![0xFF, 0xD8];
    if let Some(tiff) = exif_tiff {
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(tiff);
        segment(&mut head, 0xE1, &app1);
    }
    let mut tail = Vec::new();
    let mut dqt = vec![0x00];
    dqt.extend_from_slice(&[1u8; 64]);
    segment(&mut tail, 0xDB, &dqt);
    let mut sof = vec![8];
    sof.extend_from_slice(&(HEIGHT as u16).to_be_bytes());
    sof.extend_from_slice(&(WIDTH as u16).to_be_bytes());
    sof.extend_from_slice(&[3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]);
    segment(&mut tail, 0xC0, &sof);
    // DC table 0: twelve 4-bit codes, symbol k = category k. AC table 0: one 1-bit code = EOB.
    let mut dht_dc = vec![0x00, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    dht_dc.extend(0u8..12);
    segment(&mut tail, 0xC4, &dht_dc);
    let mut dht_ac = vec![0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    dht_ac.push(0x00);
    segment(&mut tail, 0xC4, &dht_ac);
    segment(&mut tail, 0xDA, &[3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0]);
    // Four MCUs (2×2 blocks), each a shade of the base colour: a visible 2×2 checker.
    let mut bits = Bits {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    let mut pred = [0i32; 3];
    for mcu in 0..4u32 {
        let shade = [1.0f32, 0.8, 0.6, 0.9][mcu as usize];
        let [r, g, b] = rgb.map(|c| c as f32 * shade);
        let y = 0.299 * r + 0.587 * g + 0.114 * b;
        let cb = 128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b;
        let cr = 128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b;
        for (c, sample) in [y, cb, cr].into_iter().enumerate() {
            let dc = dc_for(sample);
            put_dc(&mut bits, dc - pred[c]);
            pred[c] = dc;
        }
    }
    tail.extend(bits.finish());
    tail.extend_from_slice(&[0xFF, 0xD9]);

    w.write_all(&head)?;
    let mut written = (head.len() + tail.len()) as u64;
    if let Some(target) = target_len {
        let mut need = target.saturating_sub(written);
        while need > 4 {
            let payload = (need as usize - 4).min(MAX_SEGMENT_PAYLOAD);
            w.write_all(&[0xFF, 0xFE])?;
            w.write_all(&((payload + 2) as u16).to_be_bytes())?;
            w.write_all(filler.slice(payload))?;
            need -= payload as u64 + 4;
            written += payload as u64 + 4;
        }
    }
    w.write_all(&tail)?;
    Ok(written)
}
