//! `pull --also-jpeg DIR`: a JPEG copy of every imported HEIC original, for programs that
//! cannot read HEIC. The original is never changed: the copy is made from the committed file in
//! DEST (not from the phone) and written under DIR at the original's DEST-relative path with
//! `.jpg` (`DEST/2024/06/IMG_0001.HEIC` → `DIR/2024/06/IMG_0001.jpg`; DIR may be DEST itself).
//!
//! Like the XMP pass, this covers originals imported by earlier runs too, so `pull --also-jpeg`
//! on an existing archive fills DIR in; a copy already there (any file at that name) is left
//! alone, so a re-run converts nothing twice. Paths come from the ledger and are validated again
//! as [`RelPath`]s, so nothing lands outside DIR.
//!
//! Metadata: the original's EXIF goes into the JPEG's APP1, with its Orientation set to 1.
//! libheif has already applied the HEIF rotation and mirroring (`irot`/`imir`, which HEIF
//! readers follow instead of the EXIF tag), so the pixels are upright; a copied Orientation of 6
//! would make viewers rotate them a second time.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::dates::container_exif;
use super::layout::RelPath;
use super::ledger::{Ledger, LedgerError};
use super::libheif::{HeifError, Libheif, Rgb};
use super::names::InvalidName;
use super::safe_write::{Destination, SafeWriteError, SourceKey};
use super::sidecars::copies;
use crate::library::Asset;
use crate::library::asset::split_name;

/// JPEG quality of the copies (visually lossless for photos, a third of the HEIC's size more).
pub(crate) const QUALITY: u8 = 90;
/// EXIF that fits one APP1 segment (64 KiB less the segment header and `Exif\0\0`).
const MAX_EXIF: usize = 65_527;

/// What the pass did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct JpegCounts {
    /// Copies made in this run.
    pub made: u64,
    /// HEIC originals whose copy was already in DIR.
    pub existing: u64,
    /// Copies that could not be made (each reported; the original is imported all the same).
    pub failed: u64,
    /// libheif could not be loaded: HEIC originals were imported, none got its copy.
    pub libheif_missing: bool,
}

/// Why one copy could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JpegError {
    #[error(transparent)]
    Heif(#[from] HeifError),
    #[error("cannot encode the JPEG: {0}")]
    Encode(String),
    #[error("cannot write the JPEG: {0}")]
    Write(#[from] SafeWriteError),
}

/// One copy to make.
#[derive(Debug, Clone)]
pub(crate) struct JpegJob {
    /// The original in DEST.
    pub original: PathBuf,
    /// Its DEST-relative path (the ledger's).
    pub original_rel: String,
    /// The copy, relative to DIR.
    pub jpeg: RelPath,
}

/// A name libheif decodes: `.heic`, `.heif`, `.hif` in any case.
pub(crate) fn is_heif_name(name: &str) -> bool {
    let (_, ext) = split_name(name);
    ["heic", "heif", "hif"]
        .iter()
        .any(|e| ext.eq_ignore_ascii_case(e))
}

/// The copy's path relative to DIR for an original at `dest_path` (DEST-relative).
pub(crate) fn jpeg_rel(dest_path: &str) -> Result<RelPath, InvalidName> {
    let rel = RelPath::parse(dest_path)?;
    let (stem, _) = split_name(rel.file_name());
    let mut components = rel.components().to_vec();
    if let Some(last) = components.last_mut() {
        *last = format!("{stem}.jpg");
    }
    RelPath::new(components)
}

/// The imported HEIC originals of `assets` still in DEST whose copy is not in `dir`, and how
/// many already have theirs.
pub(crate) fn pending(
    dest: &Path,
    dir: &Path,
    ledger: &Ledger,
    udid: &str,
    assets: &[&Asset],
) -> Result<(Vec<JpegJob>, u64), LedgerError> {
    let mut jobs = Vec::new();
    let mut existing = 0;
    for asset in assets {
        for e in copies(ledger, udid, asset)? {
            let (Ok(original), Ok(jpeg)) = (RelPath::parse(&e.dest_path), jpeg_rel(&e.dest_path))
            else {
                continue;
            };
            let original = original.under(dest);
            // A moved-away original gets no copy (verify reports it).
            if !is_heif_name(&e.dest_path) || !original.is_file() {
                continue;
            }
            if std::fs::symlink_metadata(jpeg.under(dir)).is_ok() {
                existing += 1;
                continue;
            }
            jobs.push(JpegJob {
                original,
                original_rel: e.dest_path,
                jpeg,
            });
        }
    }
    Ok((jobs, existing))
}

/// Makes one copy (blocking: decoding and encoding take a second or so for a 12 MP photo).
/// Returns the copy's path.
pub(crate) fn make_copy(
    heif: &Libheif,
    out: &Destination,
    udid: &str,
    job: &JpegJob,
) -> Result<PathBuf, JpegError> {
    let rgb = heif.decode_file(&job.original)?;
    let exif = File::open(&job.original)
        .ok()
        .and_then(|mut f| container_exif(&mut f))
        .map(|mut tiff| {
            upright(&mut tiff);
            tiff
        })
        .filter(|tiff| tiff.len() <= MAX_EXIF);
    let bytes = encode(&rgb, exif.as_deref())?;
    drop(rgb);
    let mtime = std::fs::metadata(&job.original)
        .and_then(|m| m.modified())
        .ok();
    let key = SourceKey {
        udid,
        device_path: &job.original_rel,
        copy: "jpeg",
        size: bytes.len() as u64,
        mtime_ns: 0,
    };
    let mut partial = out.begin(&key)?;
    if partial.resume_offset() > 0 {
        // A temp of an interrupted run: these bytes are made anew, not resumed.
        partial.restart()?;
    }
    if let Err(e) = partial.write_all(&bytes) {
        let _ = partial.discard();
        return Err(e.into());
    }
    let committed = partial.finish()?.commit(&job.jpeg, mtime, 0)?;
    Ok(committed.rel.under(out.root()))
}

/// A baseline JPEG of `rgb` at [`QUALITY`], with `exif` (TIFF bytes) in APP1.
pub(crate) fn encode(rgb: &Rgb, exif: Option<&[u8]>) -> Result<Vec<u8>, JpegError> {
    let (Ok(w), Ok(h)) = (u16::try_from(rgb.width), u16::try_from(rgb.height)) else {
        return Err(JpegError::Encode("image too large for a JPEG".into()));
    };
    let mut out = Vec::with_capacity(rgb.pixels.len() / 8);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, QUALITY);
    if let Some(tiff) = exif {
        encoder
            .add_exif_metadata(tiff)
            .map_err(|e| JpegError::Encode(e.to_string()))?;
    }
    encoder
        .encode(&rgb.pixels, w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| JpegError::Encode(e.to_string()))?;
    Ok(out)
}

/// EXIF tag of the orientation, and its type SHORT.
const ORIENTATION: u16 = 0x0112;
const SHORT: u16 = 3;

/// Sets IFD0's Orientation to 1 (upright) in raw TIFF bytes, in place, so every other field and
/// offset (maker notes included) stays as the camera wrote it. Returns whether one was found.
/// Garbage is left as it is.
pub(crate) fn upright(tiff: &mut [u8]) -> bool {
    let big = match tiff.get(..4) {
        Some(b"MM\0*") => true,
        Some(b"II*\0") => false,
        _ => return false,
    };
    let u16_at = |t: &[u8], at: usize| -> Option<u16> {
        let b: [u8; 2] = t.get(at..at + 2)?.try_into().ok()?;
        Some(if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let Some(ifd) = tiff
        .get(4..8)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(|b| if big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) } as usize)
    else {
        return false;
    };
    let Some(count) = u16_at(tiff, ifd) else {
        return false;
    };
    for i in 0..usize::from(count) {
        let entry = ifd + 2 + i * 12;
        let (Some(tag), Some(kind)) = (u16_at(tiff, entry), u16_at(tiff, entry + 2)) else {
            return false;
        };
        if tag == ORIENTATION && kind == SHORT {
            let one = if big {
                1u16.to_be_bytes()
            } else {
                1u16.to_le_bytes()
            };
            if let Some(v) = tiff.get_mut(entry + 8..entry + 10) {
                v.copy_from_slice(&one);
                return true;
            }
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little- or big-endian TIFF with IFD0 = { ImageWidth, Orientation = 6 }.
    fn tiff(big: bool) -> Vec<u8> {
        let w16 = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w32 = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut t = if big {
            b"MM\0*".to_vec()
        } else {
            b"II*\0".to_vec()
        };
        t.extend(w32(8));
        t.extend(w16(2));
        for (tag, value) in [(0x0100u16, 640u16), (ORIENTATION, 6)] {
            t.extend(w16(tag));
            t.extend(w16(SHORT));
            t.extend(w32(1));
            t.extend(w16(value));
            t.extend([0, 0]);
        }
        t.extend(w32(0));
        t
    }

    fn orientation(t: &[u8]) -> u32 {
        let ex = exif::Reader::new().read_raw(t.to_vec()).unwrap();
        ex.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
            .unwrap()
            .value
            .get_uint(0)
            .unwrap()
    }

    #[test]
    fn orientation_becomes_upright_and_nothing_else_changes() {
        for big in [false, true] {
            let mut t = tiff(big);
            let before = t.clone();
            assert_eq!(orientation(&t), 6);
            assert!(upright(&mut t));
            assert_eq!(orientation(&t), 1);
            let changed = before.iter().zip(&t).filter(|(a, b)| a != b).count();
            assert_eq!(changed, 1, "one byte of the value, nothing else");
        }
    }

    #[test]
    fn garbage_and_truncated_exif_are_left_alone() {
        let mut t = tiff(false);
        t.truncate(20);
        let kept = t.clone();
        assert!(!upright(&mut t));
        assert_eq!(t, kept);
        let mut huge_count = b"II*\0\x08\0\0\0\xff\xff".to_vec();
        assert!(!upright(&mut huge_count));
        assert!(!upright(&mut b"not a tiff".to_vec()));
        assert!(!upright(&mut []));
    }

    #[test]
    fn copies_keep_the_folders_and_take_jpg() {
        assert_eq!(
            jpeg_rel("2024/06/IMG_0001.HEIC").unwrap().components(),
            ["2024", "06", "IMG_0001.jpg"]
        );
        assert_eq!(
            jpeg_rel("IMG_0001 (1).heic").unwrap().file_name(),
            "IMG_0001 (1).jpg"
        );
        assert!(jpeg_rel("../x.HEIC").is_err());
        assert!(jpeg_rel("/abs/x.HEIC").is_err());
        assert!(is_heif_name("a/IMG_0001.HEIC") && is_heif_name("x.heif"));
        assert!(!is_heif_name("IMG_0001.JPG") && !is_heif_name("IMG_0001.MOV"));
    }

    #[test]
    fn encoded_copies_decode_with_their_exif() {
        let rgb = Rgb {
            width: 40,
            height: 24,
            pixels: (0..40 * 24 * 3).map(|i| (i % 251) as u8).collect(),
        };
        let mut t = tiff(false);
        upright(&mut t);
        let bytes = encode(&rgb, Some(&t)).unwrap();
        let mut dec = jpeg_decoder::Decoder::new(&bytes[..]);
        dec.decode().unwrap();
        let info = dec.info().unwrap();
        assert_eq!((info.width, info.height), (40, 24));
        let ex = exif::Reader::new()
            .read_from_container(&mut std::io::Cursor::new(&bytes))
            .unwrap();
        assert_eq!(orientation(ex.buf()), 1);
    }
}
