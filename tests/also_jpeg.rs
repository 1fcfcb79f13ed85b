//! `pull --also-jpeg DIR` end to end: real HEIC files made at test time by a real encoder
//! (`heif-enc`, with EXIF written by `exiftool`) are served by `iphone-mock serve --library`,
//! the real `iphone-import pull` imports them and makes the JPEG copies through the system's
//! libheif; the copies are read back with exiftool and jpeg-decoder. Also: a re-run makes no
//! new work, a deleted copy is made again, and with libheif unavailable
//! (`IPHONE_IMPORT_LIBHEIF=/nonexistent/…`) the originals are imported and the message says why.
//!
//! Needs `heif-enc` (Debian: libheif-examples) and `exiftool` (libimage-exiftool-perl); prints
//! `SKIP:` without them, and fails instead when REQUIRE_INTEROP=1.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{MockServer, PeerHome, peer};
use iphone_import::mock::library::{LibraryOptions, generate};
use serde_json::Value;

const WIDTH: u32 = 64;
const HEIGHT: u32 = 48;
/// What libheif missing looks like to the user.
const NO_LIBHEIF: &str = "HEIC → JPEG needs libheif (Debian/Ubuntu: apt install libheif1); the originals are imported, no JPEG copies made";

/// A small phone library whose HEIC originals are what `make_heic(path, name, first)` makes of
/// them; returns its root and the first HEIC's name.
fn library(dir: &Path, make_heic: impl Fn(&Path, &str, bool)) -> (PathBuf, String) {
    let root = dir.join("Media");
    let options = LibraryOptions {
        photos: 6,
        videos: 1,
        seed: 3,
        ..LibraryOptions::demo()
    };
    generate(&root, &options).unwrap();
    let heics = files(&root.join("DCIM"), "HEIC");
    assert!(
        heics.len() >= 3,
        "the library has too few HEIC files: {heics:?}"
    );
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    let first = name(&heics[0]);
    for (i, path) in heics.iter().enumerate() {
        make_heic(path, &name(path), i == 0);
    }
    (root, first)
}

/// Files under `dir` (outside `.iphone-import`) whose extension is `ext` (any case).
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                if e.file_name() != ".iphone-import" {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case(ext)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The capture date given to a file named `IMG_000N.HEIC`.
fn date_for(name: &str) -> String {
    let n: u32 = name
        .trim_start_matches("IMG_")
        .trim_end_matches(".HEIC")
        .parse()
        .unwrap();
    format!("2024:06:{:02} 10:20:30", n % 28 + 1)
}

/// A gradient PNG (real pixels for a real encoder).
fn write_png(path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(file, WIDTH, HEIGHT);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().unwrap();
    let data: Vec<u8> = (0..HEIGHT)
        .flat_map(|y| (0..WIDTH).flat_map(move |x| [(x * 4) as u8, (y * 5) as u8, 128]))
        .collect();
    w.write_image_data(&data).unwrap();
}

/// `heif-enc` the PNG into `dest`, then give it EXIF: its date and Orientation 6 (which a
/// copy with upright pixels must not keep).
fn make_real_heic(heif_enc: &Path, exiftool: &Path, png: &Path, dest: &Path, date: &str) {
    let out = Command::new(heif_enc)
        .args(["-q", "90", "-o"])
        .arg(dest)
        .arg(png)
        .output()
        .unwrap();
    assert!(out.status.success(), "heif-enc: {out:?}");
    let out = Command::new(exiftool)
        .args(["-q", "-overwrite_original", "-Orientation#=6"])
        .arg(format!("-DateTimeOriginal={date}"))
        .arg(dest)
        .output()
        .unwrap();
    assert!(out.status.success(), "exiftool: {out:?}");
}

fn pull(
    server: &MockServer,
    home: &PeerHome,
    dest: &Path,
    dir: &Path,
    env: &[(&str, &str)],
) -> Output {
    pull_as(server, home, dest, dir, env, true)
}

/// `iphone-import pull DEST --also-jpeg DIR`, JSON lines or the plain text a user sees.
fn pull_as(
    server: &MockServer,
    home: &PeerHome,
    dest: &Path,
    dir: &Path,
    env: &[(&str, &str)],
    json: bool,
) -> Output {
    Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_iphone-import"))
        .args(["--transport", "usbmuxd", "pull"])
        .args(json.then_some("--json"))
        .arg(dest)
        .arg("--also-jpeg")
        .arg(dir)
        .envs(home.env())
        .envs(server.env())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn summary(out: &Output) -> Value {
    events(out)
        .into_iter()
        .find(|e| e["event"] == "summary")
        .unwrap_or_else(|| panic!("no summary: {out:?}"))
}

/// BLAKE3 of every file under `dir` with extension `ext`, by file name.
fn hashes(dir: &Path, ext: &str) -> BTreeMap<String, String> {
    files(dir, ext)
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                blake3::hash(&std::fs::read(&p).unwrap())
                    .to_hex()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn heic_originals_get_jpeg_copies_with_their_exif_and_a_rerun_does_nothing() {
    let (Some(heif_enc), Some(exiftool)) = (peer("heif-enc"), peer("exiftool")) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let png = tmp.path().join("source.png");
    write_png(&png);
    // The first HEIC holds no image at all: its copy must fail alone.
    let (root, broken) = library(tmp.path(), |path, name, first| {
        if first {
            std::fs::write(path, b"not a HEIF file at all").unwrap();
        } else {
            make_real_heic(&heif_enc, &exiftool, &png, path, &date_for(name));
        }
    });
    let phone = hashes(&root.join("DCIM"), "HEIC");
    let server = MockServer::start_with_args(&["--library", root.to_str().unwrap()]);
    let home = PeerHome::new();
    let (dest, dir) = (tmp.path().join("dest"), tmp.path().join("jpeg"));

    let first = pull(&server, &home, &dest, &dir, &[]);
    // The broken file's copy fails: partial, and nothing else is lost.
    assert_eq!(first.status.code(), Some(3), "{first:?}");
    let s = summary(&first);
    let real = phone.len() as u64 - 1;
    assert_eq!(s["jpeg"]["made"], real, "{s}");
    assert_eq!(s["jpeg"]["failed"], 1, "{s}");
    assert_eq!(s["files_failed"], 0, "{s}");
    let failed: Vec<Value> = events(&first)
        .into_iter()
        .filter(|e| e["event"] == "jpeg_failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["dest_path"].as_str().unwrap().ends_with(&broken));
    // Originals: byte for byte the phone's, the conversion changed none of them.
    assert_eq!(hashes(&dest, "HEIC"), phone);

    // Every real original has its copy at the same relative path, .jpg, and nothing else
    // landed in DIR.
    let originals = files(&dest, "HEIC");
    let mut expected = Vec::new();
    for original in &originals {
        let rel = original.strip_prefix(&dest).unwrap().with_extension("jpg");
        let copy = dir.join(&rel);
        let name = original.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(copy.exists(), name != broken, "{}", copy.display());
        if name != broken {
            expected.push((copy, date_for(&name)));
        }
    }
    assert_eq!(files(&dir, "jpg").len(), expected.len());
    check_copies(&exiftool, &expected);

    // A re-run converts nothing twice; a deleted copy is made again.
    let before = hashes(&dir, "jpg");
    let again = pull(&server, &home, &dest, &dir, &[]);
    let s = summary(&again);
    assert_eq!(
        (s["files_copied"].as_u64(), s["jpeg"]["made"].as_u64()),
        (Some(0), Some(0)),
        "{s}"
    );
    assert_eq!(s["jpeg"]["existing"], real, "{s}");
    assert_eq!(hashes(&dir, "jpg"), before);
    std::fs::remove_file(&expected[0].0).unwrap();
    let refill = pull(&server, &home, &dest, &dir, &[]);
    let s = summary(&refill);
    assert_eq!(s["jpeg"]["made"], 1, "{s}");
    assert_eq!(hashes(&dir, "jpg"), before, "the same copy again");
    assert_eq!(hashes(&dest, "HEIC"), phone);
}

/// Each copy is a complete JPEG of the original's size, with its date and upright.
fn check_copies(exiftool: &Path, copies: &[(PathBuf, String)]) {
    for (copy, date) in copies {
        let bytes = std::fs::read(copy).unwrap();
        assert_eq!(&bytes[..2], [0xff, 0xd8], "SOI");
        assert_eq!(&bytes[bytes.len() - 2..], [0xff, 0xd9], "EOI");
        let mut decoder = jpeg_decoder::Decoder::new(&bytes[..]);
        let pixels = decoder.decode().unwrap();
        assert_eq!(pixels.len(), (WIDTH * HEIGHT * 3) as usize);
        let out = Command::new(exiftool)
            .args(["-j", "-n", "-FileType", "-ImageWidth", "-ImageHeight"])
            .args(["-DateTimeOriginal", "-Orientation"])
            .arg(copy)
            .output()
            .unwrap();
        let read: Value = serde_json::from_slice(&out.stdout).unwrap();
        let tags = &read[0];
        assert_eq!(tags["FileType"], "JPEG", "{tags}");
        assert_eq!(
            (tags["ImageWidth"].as_u64(), tags["ImageHeight"].as_u64()),
            (Some(64), Some(48))
        );
        assert_eq!(tags["DateTimeOriginal"], date.as_str(), "{tags}");
        assert_eq!(
            tags["Orientation"], 1,
            "upright pixels, upright tag: {tags}"
        );
    }
}

#[test]
fn without_libheif_the_originals_are_imported_and_the_message_says_why() {
    // No encoder needed: libheif is never reached, the phone's HEIC files are the generator's.
    let tmp = tempfile::tempdir().unwrap();
    let (root, _) = library(tmp.path(), |_, _, _| {});
    let phone = hashes(&root.join("DCIM"), "HEIC");
    let server = MockServer::start_with_args(&["--library", root.to_str().unwrap()]);
    let home = PeerHome::new();
    let (dest, dir) = (tmp.path().join("dest"), tmp.path().join("jpeg"));
    let no_libheif = [("IPHONE_IMPORT_LIBHEIF", "/nonexistent/libheif.so.1")];
    let out = pull_as(&server, &home, &dest, &dir, &no_libheif, false);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(3), "partial: {text}");
    assert_eq!(text.matches(NO_LIBHEIF).count(), 1, "said once: {text}");
    assert_eq!(
        hashes(&dest, "HEIC"),
        phone,
        "the originals are imported: {text}"
    );
    assert!(files(&dir, "jpg").is_empty());

    // JSON: one event, and the summary tells a script.
    let json = pull(&server, &home, &tmp.path().join("dest2"), &dir, &no_libheif);
    assert_eq!(json.status.code(), Some(3));
    let unavailable = events(&json)
        .into_iter()
        .filter(|e| e["event"] == "jpeg_unavailable")
        .count();
    assert_eq!(unavailable, 1);
    assert_eq!(summary(&json)["jpeg"]["libheif_missing"], true);
}
