//! The simulated photo library: deterministic, its files parse with the crates an importer
//! would use, and Photos.sqlite (main file + WAL) agrees with the files and truth.json.

use iphone_import::mock::library::{
    self, AssetKind, CloudState, EmbeddedDate, FileFormat, GenerateError, LibraryOptions,
    LibraryTruth,
};
use rusqlite::{Connection, OpenFlags};
use std::collections::BTreeSet;
use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Every file under `root`: (relative path, bytes, mtime).
fn snapshot(root: &Path) -> Vec<(String, Vec<u8>, i64)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>, i64)>) {
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let mtime = fs::metadata(&p)
                .unwrap()
                .modified()
                .unwrap()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            if p.is_dir() {
                out.push((format!("{rel}/"), Vec::new(), mtime));
                walk(root, &p, out);
            } else {
                out.push((rel, fs::read(&p).unwrap(), mtime));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

fn demo() -> (tempfile::TempDir, LibraryTruth) {
    let dir = tempfile::tempdir().unwrap();
    let truth = library::generate(dir.path(), &LibraryOptions::demo()).unwrap();
    (dir, truth)
}

#[test]
fn same_seed_gives_a_byte_identical_tree_and_another_seed_does_not() {
    let (a, _) = demo();
    let (b, _) = demo();
    let sa = snapshot(a.path());
    let sb = snapshot(b.path());
    assert!(sa.len() > 60, "demo tree has {} entries", sa.len());
    assert_eq!(
        sa.iter().map(|e| &e.0).collect::<Vec<_>>(),
        sb.iter().map(|e| &e.0).collect::<Vec<_>>()
    );
    for (x, y) in sa.iter().zip(&sb) {
        assert!(x.1 == y.1, "{} differs between runs", x.0);
        assert_eq!(x.2, y.2, "mtime of {} differs between runs", x.0);
    }
    let c = tempfile::tempdir().unwrap();
    let opts = LibraryOptions {
        seed: 7,
        ..LibraryOptions::demo()
    };
    library::generate(c.path(), &opts).unwrap();
    let sc = snapshot(c.path());
    let same = |p: &str| {
        let f = |s: &[(String, Vec<u8>, i64)]| s.iter().find(|e| e.0 == p).map(|e| e.1.clone());
        f(&sa) == f(&sc)
    };
    assert!(!same(".iphone-mock/truth.json"));
    assert!(!same("PhotoData/Photos.sqlite"));
}

#[test]
fn demo_covers_every_special_case_and_matches_the_files_on_disk() {
    let (dir, truth) = demo();
    let c = &truth.counts;
    assert_eq!((c.assets, c.photos, c.videos), (46, 40, 6));
    for (name, n) in [
        ("live", c.live_photos),
        ("screenshots", c.screenshots),
        ("hidden", c.hidden),
        ("trashed", c.trashed),
        ("icloud-only", c.icloud_only),
        ("edited", c.edited),
        ("favorites", c.favorites),
        ("pending upload", c.pending_upload),
        ("wal-only", c.in_wal_only),
    ] {
        assert!(n > 0, "demo has no {name} assets");
    }
    assert!(truth.assets.iter().any(|a| a.aae.is_some()));
    assert!(truth.assets.iter().any(|a| a.format == FileFormat::Jpeg));
    assert!(truth.assets.iter().any(|a| a.format == FileFormat::Mp4));
    // 25 IMG numbers per folder: 100APPLE and 101APPLE, numbering unique and sequential.
    let dirs: BTreeSet<_> = truth.assets.iter().map(|a| a.directory.as_str()).collect();
    assert_eq!(
        dirs.into_iter().collect::<Vec<_>>(),
        ["DCIM/100APPLE", "DCIM/101APPLE"]
    );
    for (i, a) in truth.assets.iter().enumerate() {
        assert_eq!(a.number as usize, i + 1);
        assert!(a.filename.starts_with(&format!("IMG_{:04}.", i + 1)));
    }
    // Each resource exists with the recorded size and mtime.
    for r in truth.media_files() {
        let md = fs::metadata(dir.path().join(&r.path)).unwrap();
        assert_eq!(md.len(), r.size, "{}", r.path);
        let mtime = md.modified().unwrap().duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(mtime.as_secs() as i64, r.mtime_unix, "{}", r.path);
    }
    // Originals carry the capture time as mtime; trashed ones have a purge countdown.
    for a in &truth.assets {
        assert_eq!(a.original.mtime_unix, a.capture.unix);
        if a.trashed {
            let t = a.trashed_unix.unwrap();
            assert!(t > a.capture.unix && t < truth.snapshot_unix);
            assert_eq!(a.purge_unix, Some(t + 30 * 86_400));
        }
        if let Some(r) = &a.edited_render {
            assert!(r.path.starts_with(&format!(
                "PhotoData/Mutations/{}/IMG_{:04}/Adjustments/FullSizeRender.",
                a.directory, a.number
            )));
        }
    }
    let dcim_files = walk_files(&dir.path().join("DCIM")).len();
    assert_eq!(dcim_files, c.dcim_files);
    // The placeholder list = every original not on the phone (iCloud-only or missing, and its
    // Live Photo video), and those files still exist in DCIM.
    let listed = library::read_placeholders(dir.path()).unwrap();
    assert_eq!(listed, truth.placeholders);
    assert!(c.icloud_only > 0 && c.original_missing > 0);
    let expected: usize = truth
        .assets
        .iter()
        .filter(|a| a.icloud_only || a.original_missing)
        .map(|a| 1 + a.live_video.is_some() as usize)
        .sum();
    assert_eq!(listed.len(), expected);
    for p in &listed {
        assert!(fs::metadata(dir.path().join(p)).unwrap().len() > 100, "{p}");
    }
    assert_eq!(library::read_truth(dir.path()).unwrap(), truth);
    // Albums: folder path, a shared album, one album only in the WAL.
    let paths: Vec<_> = truth.albums.iter().map(|a| a.path.as_str()).collect();
    assert!(paths.contains(&"Trips/Iceland 2025"));
    assert!(truth.albums.iter().any(|a| a.kind == 1505));
    assert!(truth.albums.iter().any(|a| a.in_wal_only));
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Content identifier (tag 0x0011) of an Apple MakerNote as exiftool lays it out.
fn apple_content_identifier(mn: &[u8]) -> Option<String> {
    assert!(mn.starts_with(b"Apple iOS\0"), "not an Apple MakerNote");
    let u16_at = |at: usize| u16::from_be_bytes([mn[at], mn[at + 1]]) as usize;
    let u32_at = |at: usize| u32::from_be_bytes(mn[at..at + 4].try_into().unwrap()) as usize;
    let n = u16_at(14);
    (0..n).find_map(|i| {
        let e = 16 + 12 * i;
        (u16_at(e) == 0x0011).then(|| {
            let count = u32_at(e + 4);
            let at = if count <= 4 { e + 8 } else { u32_at(e + 8) };
            String::from_utf8(mn[at..at + count - 1].to_vec()).unwrap()
        })
    })
}

fn ascii(exif: &exif::Exif, tag: exif::Tag) -> String {
    match &exif.get_field(tag, exif::In::PRIMARY).unwrap().value {
        exif::Value::Ascii(v) => String::from_utf8(v[0].clone()).unwrap(),
        v => panic!("{tag} is {v:?}"),
    }
}

/// EXIF read back with kamadak-exif (JPEG and HEIF containers): date, offset, content id.
fn check_exif(path: &Path, a: &library::AssetTruth) {
    let mut r = BufReader::new(fs::File::open(path).unwrap());
    let exif = exif::Reader::new()
        .read_from_container(&mut r)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let local = a.capture.local.replacen('-', ":", 2).replace('T', " ");
    assert_eq!(ascii(&exif, exif::Tag::DateTimeOriginal), local);
    assert_eq!(
        ascii(&exif, exif::Tag::OffsetTimeOriginal),
        a.capture.offset
    );
    assert_eq!(ascii(&exif, exif::Tag::Make), "Apple");
    let mn = match &exif
        .get_field(exif::Tag::MakerNote, exif::In::PRIMARY)
        .unwrap()
        .value
    {
        exif::Value::Undefined(b, _) => b.clone(),
        v => panic!("MakerNote is {v:?}"),
    };
    assert_eq!(apple_content_identifier(&mn), a.content_identifier);
}

#[test]
fn photos_parse_with_real_exif_and_image_crates() {
    let (dir, truth) = demo();
    let mut seen = BTreeSet::new();
    for a in &truth.assets {
        let path = dir.path().join(&a.original.path);
        match a.format {
            FileFormat::Jpeg | FileFormat::Heic => {
                assert_eq!(a.embedded_date, EmbeddedDate::ExifWithOffset);
                check_exif(&path, a);
                // A second parser (nom-exif) agrees on the instant, offset included.
                let e = nom_exif::read_exif(&path).unwrap();
                let dt = e
                    .get(nom_exif::ExifTag::DateTimeOriginal)
                    .and_then(|v| v.as_datetime())
                    .and_then(|d| d.aware())
                    .unwrap_or_else(|| panic!("{}: no aware DateTimeOriginal", a.original.path));
                assert_eq!(dt.timestamp(), a.capture.unix);
                assert_eq!(dt.offset().local_minus_utc(), a.capture.offset_secs);
                if let Some(r) = &a.edited_render {
                    check_exif(&dir.path().join(&r.path), a);
                }
            }
            FileFormat::Png => {
                assert_eq!(a.kind, AssetKind::Screenshot);
                let dec = png::Decoder::new(fs::File::open(&path).unwrap());
                let mut reader = dec.read_info().unwrap();
                let mut buf = vec![0; reader.output_buffer_size()];
                let info = reader.next_frame(&mut buf).unwrap();
                assert_eq!((info.width, info.height), (a.width, a.height));
                assert!(
                    exif::Reader::new()
                        .read_from_container(&mut BufReader::new(fs::File::open(&path).unwrap()))
                        .is_err()
                );
            }
            FileFormat::Mov | FileFormat::Mp4 => continue,
        }
        if a.format == FileFormat::Jpeg {
            let mut d = jpeg_decoder::Decoder::new(BufReader::new(fs::File::open(&path).unwrap()));
            let pixels = d.decode().unwrap();
            let info = d.info().unwrap();
            assert_eq!((info.width as u32, info.height as u32), (a.width, a.height));
            assert_eq!(pixels.len(), 16 * 16 * 3);
        }
        seen.insert(format!("{:?}/{:?}", a.kind, a.format));
    }
    for k in [
        "Photo/Heic",
        "LivePhoto/Heic",
        "Photo/Jpeg",
        "LivePhoto/Jpeg",
        "Screenshot/Png",
    ] {
        assert!(seen.contains(k), "no {k} checked");
    }
}

/// Values of the `moov/meta` mdta keys (QuickTime metadata), walking the atoms by hand.
fn quicktime_keys(file: &[u8]) -> Vec<(String, String)> {
    fn atoms(b: &[u8]) -> Vec<(&[u8], &[u8])> {
        let mut out = Vec::new();
        let mut at = 0;
        while at + 8 <= b.len() {
            let size = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
            out.push((&b[at + 4..at + 8], &b[at + 8..at + size]));
            at += size;
        }
        out
    }
    let child = |b, kind: &[u8]| atoms(b).into_iter().find(|(k, _)| *k == kind).unwrap().1;
    let meta = child(child(file, b"moov"), b"meta");
    let keys = child(meta, b"keys");
    let mut names = Vec::new();
    let mut at = 8;
    while at < keys.len() {
        let size = u32::from_be_bytes(keys[at..at + 4].try_into().unwrap()) as usize;
        assert_eq!(&keys[at + 4..at + 8], b"mdta");
        names.push(String::from_utf8(keys[at + 8..at + size].to_vec()).unwrap());
        at += size;
    }
    atoms(child(meta, b"ilst"))
        .into_iter()
        .map(|(idx, item)| {
            let i = u32::from_be_bytes(idx.try_into().unwrap()) as usize;
            let data = child(item, b"data");
            (
                names[i - 1].clone(),
                String::from_utf8(data[8..].to_vec()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn movies_parse_with_nom_exif_and_carry_the_live_photo_identifier() {
    let (dir, truth) = demo();
    let mut checked = (0, 0, 0);
    for a in &truth.assets {
        let movies: Vec<_> = match (a.format, &a.live_video) {
            (FileFormat::Mov | FileFormat::Mp4, _) => vec![(&a.original, a.format)],
            (_, Some(v)) => vec![(v, FileFormat::Mov)],
            _ => vec![],
        };
        for (res, format) in movies {
            let path = dir.path().join(&res.path);
            let info = nom_exif::read_track(&path).unwrap_or_else(|e| panic!("{}: {e}", res.path));
            let created = info
                .get(nom_exif::TrackInfoTag::CreateDate)
                .and_then(|v| v.as_datetime())
                .and_then(|d| d.aware())
                .unwrap();
            assert_eq!(created.timestamp(), a.capture.unix, "{}", res.path);
            assert_eq!(
                info.get(nom_exif::TrackInfoTag::Width)
                    .and_then(|v| v.as_u32()),
                Some(16)
            );
            let keys = quicktime_keys_or_none(&fs::read(&path).unwrap(), format);
            if format == FileFormat::Mov {
                // creationdate carries the local offset; nom-exif read it (not the UTC mvhd).
                assert_eq!(created.offset().local_minus_utc(), a.capture.offset_secs);
                let get = |k: &str| keys.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                assert_eq!(
                    get("com.apple.quicktime.content.identifier"),
                    a.content_identifier
                );
                assert_eq!(
                    get("com.apple.quicktime.creationdate").unwrap(),
                    format!("{}{}", a.capture.local, a.capture.offset)
                );
                if a.kind == AssetKind::LivePhoto {
                    checked.0 += 1;
                } else {
                    checked.1 += 1;
                }
            } else {
                assert_eq!(a.embedded_date, EmbeddedDate::QuickTimeUtcOnly);
                assert!(keys.is_empty());
                checked.2 += 1;
            }
        }
    }
    assert!(
        checked.0 > 0 && checked.1 > 0 && checked.2 > 0,
        "{checked:?}"
    );
}

fn quicktime_keys_or_none(file: &[u8], format: FileFormat) -> Vec<(String, String)> {
    if format == FileFormat::Mp4 {
        assert!(!file.windows(4).any(|w| w == b"keys"));
        return Vec::new();
    }
    quicktime_keys(file)
}

/// Copies Photos.sqlite (and the WAL if asked) elsewhere and opens the copy read-only, as the
/// importer will.
fn open_copy(media: &Path, with_wal: bool) -> (tempfile::TempDir, Connection) {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("Photos.sqlite");
    fs::copy(media.join("PhotoData/Photos.sqlite"), &db).unwrap();
    if with_wal {
        fs::copy(
            media.join("PhotoData/Photos.sqlite-wal"),
            tmp.path().join("Photos.sqlite-wal"),
        )
        .unwrap();
    }
    let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    (tmp, conn)
}

fn count(conn: &Connection, sql: &str) -> usize {
    conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as usize
}

#[test]
fn photos_sqlite_agrees_with_files_and_truth() {
    let (dir, truth) = demo();
    assert!(!dir.path().join("PhotoData/Photos.sqlite-shm").exists());
    let (_tmp, conn) = open_copy(dir.path(), true);
    let c = &truth.counts;
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM ZASSET"), c.assets);
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM ZASSET WHERE ZKIND = 1"),
        c.videos
    );
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM ZASSET WHERE ZHIDDEN = 1"),
        c.hidden
    );
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM ZASSET WHERE ZTRASHEDSTATE = 1 AND ZTRASHEDDATE IS NOT NULL"
        ),
        c.trashed
    );
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM ZASSET WHERE ZHASADJUSTMENTS = 1"
        ),
        c.edited
    );
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM ZASSET WHERE ZKINDSUBTYPE = 2"),
        c.live_photos
    );
    // photo-library.md §8.3: possibly optimised = subtype 1, not local, fingerprint present.
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(DISTINCT ZASSET) FROM ZINTERNALRESOURCE WHERE ZDATASTORESUBTYPE = 1 \
             AND ZLOCALAVAILABILITY = -1 AND ZFINGERPRINT IS NOT NULL"
        ),
        c.icloud_only
    );
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM ZCLOUDMASTER WHERE ZCLOUDLOCALSTATE = 1"
        ),
        c.pending_upload
    );
    // Per asset: path, dates (Core Data epoch), flags, size, zone.
    let mut stmt = conn
        .prepare(
            "SELECT a.ZUUID, a.ZDIRECTORY, a.ZFILENAME, a.ZDATECREATED, a.ZHIDDEN, a.ZTRASHEDSTATE,
                    a.ZFAVORITE, a.ZMEDIAGROUPUUID, x.ZORIGINALFILESIZE, x.ZTIMEZONEOFFSET,
                    x.ZTIMEZONENAME, a.ZTRASHEDDATE
             FROM ZASSET a JOIN ZADDITIONALASSETATTRIBUTES x ON x.Z_PK = a.ZADDITIONALATTRIBUTES",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                format!("{}/{}", r.get::<_, String>(1)?, r.get::<_, String>(2)?),
                r.get::<_, f64>(3)?,
                (
                    r.get::<_, bool>(4)?,
                    r.get::<_, bool>(5)?,
                    r.get::<_, bool>(6)?,
                ),
                r.get::<_, Option<String>>(7)?,
                r.get::<_, i64>(8)?,
                (r.get::<_, i32>(9)?, r.get::<_, String>(10)?),
                r.get::<_, Option<f64>>(11)?,
            ))
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(rows.len(), truth.assets.len());
    for (uuid, path, created, flags, group, size, zone, trashed_at) in rows {
        let a = truth.asset(&uuid).unwrap();
        assert_eq!(path, a.original.path);
        assert!(dir.path().join(&path).is_file());
        assert_eq!(created as i64 + 978_307_200, a.capture.unix);
        assert_eq!(flags, (a.hidden, a.trashed, a.favorite));
        assert_eq!(group, a.content_identifier);
        assert_eq!(size as u64, a.original.size);
        assert_eq!(zone, (a.capture.offset_secs, a.capture.time_zone.clone()));
        assert_eq!(trashed_at.map(|t| t as i64 + 978_307_200), a.trashed_unix);
    }
    // Albums with their folder path, via the version-independent join table lookup (§6.2).
    let join: String = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'Z_[0-9]*ASSETS' \
             AND name NOT LIKE '%SUGGESTION%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(join, "Z_28ASSETS");
    for al in &truth.albums {
        let (pk, kind, title, mut parent): (i64, i64, String, Option<i64>) = conn
            .query_row(
                "SELECT Z_PK, ZKIND, ZTITLE, ZPARENTFOLDER FROM ZGENERICALBUM WHERE ZUUID = ?1",
                [&al.uuid],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(kind, al.kind);
        // Folder titles up the ZPARENTFOLDER chain (folders nest), the root has no title.
        let mut parts = vec![title];
        while let Some(p) = parent {
            let (t, up): (Option<String>, Option<i64>) = conn
                .query_row(
                    "SELECT ZTITLE, ZPARENTFOLDER FROM ZGENERICALBUM WHERE Z_PK = ?1",
                    [p],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            parts.extend(t);
            parent = up;
        }
        parts.reverse();
        assert_eq!(parts.join("/"), al.path);
        let mut members: Vec<String> = conn
            .prepare(
                "SELECT a.ZUUID FROM Z_28ASSETS j JOIN ZASSET a ON a.Z_PK = j.Z_3ASSETS \
                 WHERE j.Z_28ALBUMS = ?1",
            )
            .unwrap()
            .query_map([pk], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        members.sort();
        let mut expected = al.asset_uuids.clone();
        expected.sort();
        assert_eq!(members, expected, "album {}", al.path);
    }
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM ZGENERICALBUM WHERE ZKIND = 2 AND ZTRASHEDSTATE = 0"
        ),
        c.user_albums
    );
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM ZGENERICALBUM WHERE ZKIND = 3999"
        ),
        1
    );
    // Model version from Z_METADATA, as osxphotos reads it.
    let blob: Vec<u8> = conn
        .query_row("SELECT Z_PLIST FROM Z_METADATA", [], |r| r.get(0))
        .unwrap();
    let plist: plist::Value = plist::from_bytes(&blob).unwrap();
    let version = plist
        .as_dictionary()
        .and_then(|d| d.get("PLModelVersion"))
        .and_then(|v| v.as_signed_integer());
    assert_eq!(version, Some(truth.model_version));
    // The pending-upload assets are exactly those in truth.
    let pending = truth
        .assets
        .iter()
        .filter(|a| a.cloud_state == CloudState::PendingUpload)
        .count();
    assert_eq!(pending, c.pending_upload);
}

#[test]
fn newest_rows_exist_only_in_the_wal() {
    let (dir, truth) = demo();
    let wal_assets: Vec<_> = truth.assets.iter().filter(|a| a.in_wal_only).collect();
    let wal_album = truth.albums.iter().find(|a| a.in_wal_only).unwrap();
    assert!(!wal_assets.is_empty());
    assert!(
        fs::metadata(dir.path().join("PhotoData/Photos.sqlite-wal"))
            .unwrap()
            .len()
            > 32
    );

    let (_t1, main_only) = open_copy(dir.path(), false);
    let (_t2, with_wal) = open_copy(dir.path(), true);
    let n = |conn: &Connection| count(conn, "SELECT COUNT(*) FROM ZASSET");
    assert_eq!(n(&main_only), truth.assets.len() - wal_assets.len());
    assert_eq!(n(&with_wal), truth.assets.len());
    let has = |conn: &Connection, sql: &str, key: &str| {
        conn.query_row(sql, [key], |r| r.get::<_, i64>(0)).unwrap() > 0
    };
    for a in &wal_assets {
        let q = "SELECT COUNT(*) FROM ZASSET WHERE ZUUID = ?1";
        assert!(
            !has(&main_only, q, &a.uuid),
            "{} visible without the WAL",
            a.filename
        );
        assert!(has(&with_wal, q, &a.uuid));
    }
    let q = "SELECT COUNT(*) FROM ZGENERICALBUM WHERE ZUUID = ?1";
    assert!(!has(&main_only, q, &wal_album.uuid));
    assert!(has(&with_wal, q, &wal_album.uuid));
    // Older rows are in both.
    let older = truth.assets.iter().find(|a| !a.in_wal_only).unwrap();
    assert!(has(
        &main_only,
        "SELECT COUNT(*) FROM ZASSET WHERE ZUUID = ?1",
        &older.uuid
    ));
}

/// Top-level ISOBMFF boxes of a file; panics unless they tile the file exactly.
fn top_level_boxes(path: &Path) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = fs::File::open(path).unwrap();
    let len = f.metadata().unwrap().len();
    let mut at = 0u64;
    let mut kinds = Vec::new();
    while at < len {
        let mut h = [0u8; 8];
        f.seek(SeekFrom::Start(at)).unwrap();
        f.read_exact(&mut h).unwrap();
        let size = u32::from_be_bytes(h[..4].try_into().unwrap()) as u64;
        assert!(size >= 8, "{}: bad box size at {at}", path.display());
        kinds.push(String::from_utf8_lossy(&h[4..]).into_owned());
        at += size;
    }
    assert_eq!(at, len, "{}: boxes overrun the file", path.display());
    kinds
}

fn check_box_layout(path: &Path, format: FileFormat) {
    let expected: &[&str] = match format {
        FileFormat::Heic => &["ftyp", "meta", "mdat"],
        FileFormat::Mov | FileFormat::Mp4 => &["ftyp", "mdat", "moov"],
        _ => return,
    };
    assert_eq!(top_level_boxes(path), expected, "{}", path.display());
}

#[test]
fn containers_are_exactly_tiled_by_their_boxes() {
    let (dir, truth) = demo();
    for a in &truth.assets {
        check_box_layout(&dir.path().join(&a.original.path), a.format);
        if let Some(v) = &a.live_video {
            check_box_layout(&dir.path().join(&v.path), FileFormat::Mov);
        }
    }
}

#[test]
fn realistic_sizes_stay_in_bounds_and_files_stay_valid() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LibraryOptions {
        photos: 3,
        videos: 1,
        seed: 11,
        realistic_sizes: true,
        items_per_folder: 1000,
        ..LibraryOptions::default()
    };
    let truth = library::generate(dir.path(), &opts).unwrap();
    for a in &truth.assets {
        let size = a.original.size;
        let path = dir.path().join(&a.original.path);
        check_box_layout(&path, a.format);
        if a.kind == AssetKind::Video {
            assert!((20_000_000..=200_000_000).contains(&size), "video {size}");
            let info = nom_exif::read_track(&path).unwrap();
            assert!(info.get(nom_exif::TrackInfoTag::CreateDate).is_some());
        } else {
            assert!((1_500_000..=5_000_000).contains(&size), "photo {size}");
            match a.format {
                FileFormat::Heic | FileFormat::Jpeg => check_exif(&path, a),
                _ => {
                    let mut r = png::Decoder::new(fs::File::open(&path).unwrap())
                        .read_info()
                        .unwrap();
                    let mut buf = vec![0; r.output_buffer_size()];
                    r.next_frame(&mut buf).unwrap();
                }
            }
            if a.format == FileFormat::Jpeg {
                jpeg_decoder::Decoder::new(BufReader::new(fs::File::open(&path).unwrap()))
                    .decode()
                    .unwrap();
            }
        }
        if let Some(v) = &a.live_video {
            assert!(v.size >= 1_500_000, "live video {}", v.size);
        }
    }
}

#[test]
fn refuses_non_empty_dirs_and_impossible_counts() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("x"), b"x").unwrap();
    let opts = LibraryOptions {
        photos: 1,
        videos: 0,
        ..LibraryOptions::default()
    };
    assert!(matches!(
        library::generate(dir.path(), &opts),
        Err(GenerateError::NotEmpty { .. })
    ));
    let empty = tempfile::tempdir().unwrap();
    let too_many = LibraryOptions {
        photos: library::MAX_ASSETS,
        videos: 1,
        ..LibraryOptions::default()
    };
    assert!(matches!(
        library::generate(empty.path(), &too_many),
        Err(GenerateError::TooManyAssets { requested, .. }) if requested == library::MAX_ASSETS + 1
    ));
    let folders = LibraryOptions {
        photos: 901,
        videos: 0,
        items_per_folder: 1,
        ..LibraryOptions::default()
    };
    assert!(matches!(
        library::generate(empty.path(), &folders),
        Err(GenerateError::TooManyFolders { .. })
    ));
    assert!(library::is_mock_internal(".iphone-mock/truth.json"));
    assert!(library::is_mock_internal("/.iphone-mock"));
    assert!(!library::is_mock_internal("DCIM/100APPLE/IMG_0001.HEIC"));
    // Tiny libraries work too: one photo, no special cases, no WAL-only rows.
    let t = library::generate(empty.path(), &opts).unwrap();
    assert_eq!(t.counts.assets, 1);
    assert_eq!(t.counts.in_wal_only, 0);
}

#[test]
fn img_numbers_wrap_after_9999_into_unique_paths() {
    // As on a phone: IMG_9999 is followed by IMG_0001, in the next DCIM folder.
    let dir = tempfile::tempdir().unwrap();
    let opts = LibraryOptions {
        photos: 10_001,
        videos: 0,
        items_per_folder: 1000,
        ..LibraryOptions::default()
    };
    let t = library::generate(dir.path(), &opts).unwrap();
    let a = &t.assets;
    assert_eq!(
        (a[9_998].number, a[9_999].number, a[10_000].number),
        (9_999, 1, 2)
    );
    assert_eq!(a[9_999].directory, "DCIM/109APPLE");
    assert_eq!(a[0].directory, "DCIM/100APPLE");
    assert_eq!(a[0].number, 1);
    let paths: std::collections::HashSet<&str> =
        a.iter().map(|x| x.original.path.as_str()).collect();
    assert_eq!(paths.len(), a.len(), "original paths stay unique");
    assert!(dir.path().join(&a[9_999].original.path).is_file());
}

#[test]
fn removed_shape_deletes_originals_not_on_the_phone_and_keeps_thumbnails() {
    let gen_in = |shape| {
        let dir = tempfile::tempdir().unwrap();
        let opts = LibraryOptions {
            optimised: shape,
            ..LibraryOptions::demo()
        };
        let truth = library::generate(dir.path(), &opts).unwrap();
        (dir, truth)
    };
    let (listed_dir, listed) = gen_in(library::OptimisedShape::Placeholder);
    let (dir, truth) = gen_in(library::OptimisedShape::Removed);
    assert_eq!(truth.optimised, library::OptimisedShape::Removed);
    assert!(truth.placeholders.is_empty());
    assert!(library::read_placeholders(dir.path()).unwrap().is_empty());
    let gone: Vec<_> = truth
        .assets
        .iter()
        .filter(|a| a.icloud_only || a.original_missing)
        .collect();
    assert!(gone.iter().any(|a| a.icloud_only) && gone.iter().any(|a| a.original_missing));
    for a in &gone {
        assert!(
            !dir.path().join(&a.original.path).exists(),
            "{}",
            a.original.path
        );
        let thumb = library::optimised::thumbnail_path(&a.original.path);
        assert!(dir.path().join(&thumb).is_file(), "{thumb}");
    }
    // Everything else is where truth says; DCIM holds exactly the counted files.
    for r in truth.media_files() {
        assert_eq!(
            fs::metadata(dir.path().join(&r.path)).unwrap().len(),
            r.size
        );
    }
    let dcim = walk_files(&dir.path().join("DCIM")).len();
    assert_eq!(dcim, truth.counts.dcim_files);
    let removed: usize = gone
        .iter()
        .map(|a| 1 + a.live_video.is_some() as usize)
        .sum();
    assert_eq!(dcim + removed, listed.counts.dcim_files);
    // The database is the same in both shapes: only the files differ.
    let db = |d: &Path| fs::read(d.join(library::PHOTOS_DB)).unwrap();
    assert_eq!(db(dir.path()), db(listed_dir.path()));
}
