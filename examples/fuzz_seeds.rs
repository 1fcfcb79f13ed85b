//! Writes seed corpora for the cargo-fuzz targets in `fuzz/`: `fuzz_seeds DIR` fills
//! `DIR/<target>/` with what the simulated iPhone and our host send, encoded by the same codecs
//! (mux packets, usbmuxd messages, lockdown plists, AFC requests and replies about a generated
//! library's real files), plus that library's photos, videos and Photos.sqlite. `fuzz/run`
//! calls it, so no binary seed is committed.

use std::fs;
use std::path::{Path, PathBuf};

use iphone_import::afc::codec::encode_packet;
use iphone_import::afc::messages::{
    HostRequest, Reply as AfcReply, Whence, encode_dict, encode_list,
};
use iphone_import::afc::{AfcStatus, FileInfo, FileKind, Opcode};
use iphone_import::lockdown::codec::encode_frame;
use iphone_import::lockdown::messages;
use iphone_import::mock::library::{LibraryOptions, SchemaShape, generate};
use iphone_import::usbmux::frame::{self, Seqs};
use iphone_import::usbmux::muxd_proto::{ClientInfo, Reply, Request, ResultCode};
use iphone_import::usbmux::tcp::TcpHeader;

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join(name), bytes).unwrap();
}

fn mux_seeds(out: &Path) {
    let seqs = Seqs {
        tx_seq: 3,
        rx_seq: 2,
    };
    let tcp = TcpHeader {
        sport: 1,
        dport: 62078,
        seq: 0,
        ack: 0,
        flags: 0x02,
        window: 512,
    };
    let streams: [(u8, Vec<u8>); 4] = [
        (20, frame::encode_version(2, 0).to_vec()),
        (41, frame::encode_setup(seqs).to_vec()),
        (9, frame::encode_control(Some(seqs), 7, "hello").to_vec()),
        (
            1,
            frame::encode_tcp(Some(seqs), &tcp.to_bytes(), b"\0\0\0\x10payload").to_vec(),
        ),
    ];
    for (i, (mode, bytes)) in streams.into_iter().enumerate() {
        write(
            out,
            "mux_frame",
            &format!("seed{i}"),
            &[&[mode][..], &bytes].concat(),
        );
    }
}

fn muxd_seeds(out: &Path) {
    let client = ClientInfo::default();
    let requests = [
        Request::ListDevices,
        Request::Listen,
        Request::Connect {
            device_id: 1,
            port: 62078,
        },
        Request::ReadBuid,
        Request::ReadPairRecord {
            udid: "00008030-001A2B3C4D5E802E".into(),
        },
    ];
    for (i, r) in requests.iter().enumerate() {
        write(
            out,
            "muxd_message",
            &format!("request{i}"),
            &r.encode_plist(i as u32, &client),
        );
        if let Some(b) = r.encode_binary(i as u32) {
            write(out, "muxd_message", &format!("binary{i}"), &b);
        }
    }
    let replies = [
        Reply::Result(ResultCode::from_u32(0)),
        Reply::Buid("8F1C4E68-A6C8-4D9B-A04C-CC3F59C1BABA".into()),
        Reply::PairRecordData(b"<?xml version=\"1.0\"?><plist><dict/></plist>".to_vec()),
    ];
    for (i, r) in replies.iter().enumerate() {
        write(
            out,
            "muxd_message",
            &format!("reply{i}"),
            &r.encode_plist(i as u32),
        );
    }
}

fn lockdown_seeds(out: &Path) {
    let mut reply = plist::Dictionary::new();
    reply.insert("Request".into(), "GetValue".into());
    reply.insert("Value".into(), "iPhone".into());
    let mut error = plist::Dictionary::new();
    error.insert("Request".into(), "StartSession".into());
    error.insert("Error".into(), "InvalidHostID".into());
    let dicts = [
        messages::query_type("iphone-import"),
        messages::get_value("iphone-import", None, Some("DeviceName")),
        messages::start_session("iphone-import", "HOST-ID", "BUID"),
        messages::start_service("iphone-import", "com.apple.afc", None),
        reply,
        error,
    ];
    for (i, d) in dicts.iter().enumerate() {
        write(
            out,
            "lockdown_frame",
            &format!("seed{i}"),
            &encode_frame(d).unwrap(),
        );
    }
}

fn afc_seeds(out: &Path, root: &Path) {
    let names: Vec<String> = fs::read_dir(root.join("DCIM/100APPLE"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let meta = fs::metadata(root.join("DCIM/100APPLE").join(&names[0])).unwrap();
    let info = FileInfo {
        st_size: meta.len(),
        st_blocks: meta.len().div_ceil(512),
        st_nlink: 1,
        st_ifmt: FileKind::Regular,
        st_mtime_ns: 1_700_000_000_000_000_000,
        st_birthtime_ns: Some(1_700_000_000_000_000_000),
        link_target: None,
    };
    let path = format!("/DCIM/100APPLE/{}", names[0]);
    let packets = [
        AfcReply::Data(encode_list(&names).into()).encode(1),
        AfcReply::Data(encode_dict(&info.to_pairs()).into()).encode(2),
        AfcReply::Status(AfcStatus::from_code(8)).encode(3),
        AfcReply::FileOpened(4).encode(4),
        encode_packet(
            5,
            Opcode::Data,
            &fs::read(root.join(&path[1..])).unwrap()[..64],
        ),
        HostRequest::GetFileInfo { path: &path }.encode(6).unwrap(),
        HostRequest::Seek {
            handle: 4,
            whence: Whence::Start,
            offset: 100,
        }
        .encode(7)
        .unwrap(),
    ];
    for (i, p) in packets.iter().enumerate() {
        write(out, "afc_packet", &format!("seed{i}"), p);
    }
}

/// The first file of each extension the generator makes, as date-reader seeds.
fn media_seeds(out: &Path, root: &Path) {
    let mut seen = std::collections::BTreeSet::new();
    let mut stack = vec![root.join("DCIM")];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let ext = p.extension().map(|x| x.to_string_lossy().to_uppercase());
            let len = p.metadata().unwrap().len();
            if let Some(ext) = ext
                && len <= 256 * 1024
                && seen.insert(ext.clone())
            {
                write(out, "capture_date", &ext, &fs::read(&p).unwrap());
            }
        }
    }
    write(
        out,
        "capture_date",
        "qt-string",
        b"2025-06-14T10:11:12+0200",
    );
}

fn layout_seeds(out: &Path) {
    let seeds = [
        "{year}/{month}/{name}\nIMG_0001\nHEIC\nAnna's iPhone\n100APPLE\nTrips/Iceland",
        "{album}/{year}/{name}\nIMG_0002\nMOV\niPhone\n101APPLE\n..",
        "{device}/{dcim_folder}/{stem}.{ext}\nIMG_0003\nJPG\n..\n.iphone-import\n",
        "{year}-{month}-{day} {stem}\nIMG_E0004\nAAE\niPhone\n100APPLE\nNo Album",
    ];
    for (i, s) in seeds.iter().enumerate() {
        write(out, "layout", &format!("seed{i}"), s.as_bytes());
    }
}

fn db_seeds(out: &Path, scratch: &Path) {
    for (i, schema) in [SchemaShape::default(), SchemaShape::Ios13]
        .into_iter()
        .enumerate()
    {
        let root = scratch.join(format!("db{i}"));
        let options = LibraryOptions {
            photos: 3,
            videos: 1,
            schema,
            ..LibraryOptions::demo()
        };
        generate(&root, &options).unwrap();
        let db = root.join(iphone_import::mock::library::PHOTOS_DB);
        // The reader is given one file: fold the WAL into it first.
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
        drop(conn);
        write(
            out,
            "photos_db",
            &format!("schema{i}"),
            &fs::read(&db).unwrap(),
        );
    }
}

fn main() {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .expect("usage: fuzz_seeds DIR")
        .into();
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("Media");
    generate(
        &root,
        &LibraryOptions {
            photos: 12,
            videos: 3,
            ..LibraryOptions::demo()
        },
    )
    .unwrap();
    mux_seeds(&out);
    muxd_seeds(&out);
    lockdown_seeds(&out);
    afc_seeds(&out, &root);
    media_seeds(&out, &root);
    layout_seeds(&out);
    db_seeds(&out, scratch.path());
    println!("fuzz seeds written to {}", out.display());
}
