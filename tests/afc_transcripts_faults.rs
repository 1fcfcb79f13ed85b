//! The simulated phone's AFC server, raw, against the real clients' request sequences
//! (transcripts 06–08), refusing changes and malformed requests, and with faults injected.

use std::fs;
use std::path::{Path, PathBuf};

use iphone_import::afc::codec::{HEADER_LEN, encode_packet};
use iphone_import::afc::messages::{parse_dict, parse_list};
use iphone_import::afc::{AfcError, AfcStatus, FileHandle, Opcode};
use iphone_import::mock::afcd::{AfcServer, FaultOn, Faults, PathFault};
use iphone_import::mock::profile::Profile;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

mod afc_harness;
use afc_harness::*;

// ---- The server against the real clients' request sequences (transcripts 06–08). ----

async fn exchange(
    stream: &mut DuplexStream,
    packet_num: u64,
    op: Opcode,
    body: &[u8],
) -> (u64, u64, u64, Opcode, Vec<u8>) {
    stream
        .write_all(&encode_packet(packet_num, op, body))
        .await
        .unwrap();
    read_raw_reply(stream).await
}

/// (entire_length, this_length, packet_num, operation, body)
async fn read_raw_reply(stream: &mut DuplexStream) -> (u64, u64, u64, Opcode, Vec<u8>) {
    let mut head = [0u8; HEADER_LEN];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(&head[..8], b"CFA6LPAA");
    let word = |i: usize| u64::from_le_bytes(head[i * 8..i * 8 + 8].try_into().unwrap());
    let mut body = vec![0u8; word(1) as usize - HEADER_LEN];
    stream.read_exact(&mut body).await.unwrap();
    (word(1), word(2), word(3), Opcode::from_code(word(4)), body)
}

fn status_of(reply: &(u64, u64, u64, Opcode, Vec<u8>)) -> u64 {
    assert_eq!(
        reply.3,
        Opcode::Status,
        "expected STATUS, got {:?}",
        reply.3
    );
    assert_eq!(reply.0, 48);
    u64::from_le_bytes(reply.4[..8].try_into().unwrap())
}

fn path_body(path: &str) -> Vec<u8> {
    let mut b = path.as_bytes().to_vec();
    b.push(0);
    b
}

#[tokio::test]
async fn server_follows_the_ifuse_sequence() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = make_library(tmp.path());
    let srv = server(tmp.path());
    let mut s = connect(&srv);
    bounded(async {
        // limd starts at packet_num 1.
        let dev = exchange(&mut s, 1, Opcode::GetDeviceInfo, &[]).await;
        assert_eq!((dev.2, dev.3), (1, Opcode::Data));
        let keys: Vec<String> = parse_dict(&dev.4, "t")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            keys,
            ["Model", "FSTotalBytes", "FSFreeBytes", "FSBlockSize"]
        );

        let info = exchange(&mut s, 2, Opcode::GetFileInfo, &path_body("/DCIM")).await;
        assert_eq!(
            (info.1, info.2, info.3),
            (40, 2, Opcode::Data),
            "DATA has this_length 40"
        );
        let dir = exchange(&mut s, 3, Opcode::ReadDir, &path_body("/DCIM")).await;
        assert_eq!(
            parse_list(&dir.4, "t").unwrap(),
            [".", "..", "100APPLE", "101APPLE"]
        );

        let info = exchange(
            &mut s,
            4,
            Opcode::GetFileInfo,
            &path_body("/DCIM/100APPLE/IMG_0001.JPG"),
        )
        .await;
        let pairs = parse_dict(&info.4, "t").unwrap();
        for key in [
            "st_size",
            "st_blocks",
            "st_nlink",
            "st_mtime",
            "st_birthtime",
        ] {
            let v = pairs
                .iter()
                .find(|(k, _)| k == key)
                .unwrap_or_else(|| panic!("{key} missing"));
            v.1.parse::<u64>().unwrap();
        }
        let mut open = 1u64.to_le_bytes().to_vec();
        open.extend(path_body("/DCIM/100APPLE/IMG_0001.JPG"));
        let opened = exchange(&mut s, 5, Opcode::FileRefOpen, &open).await;
        assert_eq!(
            (opened.0, opened.2, opened.3),
            (48, 5, Opcode::FileRefOpenResult)
        );
        let handle = u64::from_le_bytes(opened.4[..8].try_into().unwrap());
        let want = &expected["DCIM/100APPLE/IMG_0001.JPG"];
        let mut got = Vec::new();
        let mut num = 6;
        // ifuse: FILE_SEEK (STATUS 0, never an empty reply) before every 128 KiB READ.
        while got.len() < want.len() {
            let mut seek = handle.to_le_bytes().to_vec();
            seek.extend(0u64.to_le_bytes());
            seek.extend((got.len() as u64).to_le_bytes());
            let r = exchange(&mut s, num, Opcode::FileRefSeek, &seek).await;
            assert_eq!((r.2, status_of(&r)), (num, 0));
            let mut read = handle.to_le_bytes().to_vec();
            read.extend(131072u64.to_le_bytes());
            let r = exchange(&mut s, num + 1, Opcode::FileRefRead, &read).await;
            assert_eq!((r.1, r.2, r.3), (40, num + 1, Opcode::Data));
            assert!(!r.4.is_empty());
            got.extend(r.4);
            num += 2;
        }
        assert!(got == *want);
        let r = exchange(&mut s, num, Opcode::FileRefClose, &handle.to_le_bytes()).await;
        assert_eq!((r.2, status_of(&r)), (num, 0));
    })
    .await;
    assert_eq!(srv.changing_ops(), 0);
}

#[tokio::test]
async fn server_follows_the_pymobiledevice3_sequence_pipelined() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = make_library(tmp.path());
    let srv = server(tmp.path());
    let mut s = connect(&srv);
    bounded(async {
        // pmd3 starts at 0 and may send several requests before reading replies.
        let mut batch = Vec::new();
        batch.extend(encode_packet(0, Opcode::ReadDir, &path_body("/DCIM")));
        batch.extend(encode_packet(
            1,
            Opcode::GetFileInfo,
            &path_body("/DCIM/100APPLE"),
        ));
        batch.extend(encode_packet(
            2,
            Opcode::GetFileInfo,
            &path_body("/DCIM/101APPLE"),
        ));
        let mut open = 1u64.to_le_bytes().to_vec();
        open.extend(path_body("/DCIM/101APPLE/IMG_0100.HEIC"));
        batch.extend(encode_packet(3, Opcode::FileRefOpen, &open));
        // The handle will be 1: the first open on this connection.
        for (i, len) in [(4u64, 4194304u64), (5, 4194304), (6, 4194304)] {
            let mut read = 1u64.to_le_bytes().to_vec();
            read.extend(len.to_le_bytes());
            batch.extend(encode_packet(i, Opcode::FileRefRead, &read));
        }
        batch.extend(encode_packet(7, Opcode::FileRefClose, &1u64.to_le_bytes()));
        s.write_all(&batch).await.unwrap();
        let mut data = Vec::new();
        for num in 0..8u64 {
            let r = read_raw_reply(&mut s).await;
            assert_eq!(
                r.2, num,
                "replies come back in order with packet_num echoed"
            );
            match num {
                0 => assert_eq!(parse_list(&r.4, "t").unwrap()[..2], [".", ".."]),
                3 => assert_eq!(
                    (r.3, u64::from_le_bytes(r.4[..8].try_into().unwrap())),
                    (Opcode::FileRefOpenResult, 1)
                ),
                4..=6 => data.extend(r.4),
                7 => assert_eq!(status_of(&r), 0),
                _ => assert_eq!(r.3, Opcode::Data),
            }
        }
        assert!(data == expected["DCIM/101APPLE/IMG_0100.HEIC"]);
    })
    .await;
}

#[tokio::test]
async fn changing_operations_are_refused_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    make_library(tmp.path());
    let before: Vec<PathBuf> = walkdir(tmp.path());
    let srv = server(tmp.path());
    let mut s = connect(&srv);
    bounded(async {
        let mut requests: Vec<(Opcode, Vec<u8>)> = vec![
            (Opcode::RemovePath, path_body("/DCIM/100APPLE/IMG_0001.JPG")),
            (Opcode::RemovePathAndContents, path_body("/DCIM")),
            (Opcode::MakeDir, path_body("/DCIM/NEW")),
            (
                Opcode::RenamePath,
                [path_body("/DCIM/100APPLE"), path_body("/DCIM/X")].concat(),
            ),
            (
                Opcode::TruncateFile,
                [
                    8u64.to_le_bytes().to_vec(),
                    path_body("/PhotoData/Photos.sqlite"),
                ]
                .concat(),
            ),
            (
                Opcode::SetModTime,
                [1u64.to_le_bytes().to_vec(), path_body("/DCIM")].concat(),
            ),
            (
                Opcode::FileRefWrite,
                [1u64.to_le_bytes().to_vec(), vec![0xEE; 1000]].concat(),
            ),
            (
                Opcode::MakeLink,
                [
                    2u64.to_le_bytes().to_vec(),
                    path_body("/x"),
                    path_body("/y"),
                ]
                .concat(),
            ),
        ];
        for mode in 2..=6u64 {
            let mut open = mode.to_le_bytes().to_vec();
            open.extend(path_body("/DCIM/100APPLE/IMG_0002.JPG"));
            requests.push((Opcode::FileRefOpen, open));
        }
        let n = requests.len() as u64;
        for (i, (op, body)) in requests.into_iter().enumerate() {
            let r = exchange(&mut s, 100 + i as u64, op, &body).await;
            assert_eq!(r.2, 100 + i as u64);
            assert_eq!(status_of(&r), 10, "{op} must be refused with PERM_DENIED");
        }
        // A write larger than any accepted packet is refused too, without buffering it.
        let big = 16 * 1024 * 1024u64;
        let mut head = encode_packet(200, Opcode::FileRefWrite, &[]).to_vec();
        head[8..16].copy_from_slice(&(HEADER_LEN as u64 + big).to_le_bytes());
        head[16..24].copy_from_slice(&48u64.to_le_bytes());
        s.write_all(&head).await.unwrap();
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..16 {
            s.write_all(&chunk).await.unwrap();
        }
        let r = read_raw_reply(&mut s).await;
        assert_eq!((r.2, status_of(&r)), (200, 10));
        assert_eq!(srv.changing_ops(), n + 1);
        // The connection still answers reads.
        let r = exchange(&mut s, 300, Opcode::ReadDir, &path_body("/")).await;
        assert_eq!(r.3, Opcode::Data);
    })
    .await;
    assert_eq!(walkdir(tmp.path()), before, "the folder is untouched");
}

fn walkdir(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            } else {
                out.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn unknown_and_malformed_requests_get_statuses() {
    let tmp = tempfile::tempdir().unwrap();
    make_library(tmp.path());
    let srv = server(tmp.path());
    let mut s = connect(&srv);
    bounded(async {
        assert_eq!(
            status_of(&exchange(&mut s, 1, Opcode::Unknown(0x77), &[]).await),
            6
        );
        assert_eq!(
            status_of(&exchange(&mut s, 2, Opcode::GetFileHash, &path_body("/DCIM")).await),
            15
        );
        assert_eq!(
            status_of(&exchange(&mut s, 3, Opcode::FileRefRead, &[1, 2]).await),
            7
        );
        assert_eq!(
            status_of(&exchange(&mut s, 4, Opcode::GetFileInfo, b"\xff\xfe\0").await),
            7
        );
        let mut open = 9u64.to_le_bytes().to_vec();
        open.extend(path_body("/DCIM"));
        assert_eq!(
            status_of(&exchange(&mut s, 5, Opcode::FileRefOpen, &open).await),
            7
        );
        // Bad magic: a real service drops the connection.
        let mut bad = encode_packet(6, Opcode::ReadDir, &path_body("/")).to_vec();
        bad[0] = b'X';
        s.write_all(&bad).await.unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    })
    .await;
    assert_eq!(srv.changing_ops(), 0);
}

// ---- Fault injection. ----

#[tokio::test]
async fn faults_cut_stall_reset_and_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = make_library(tmp.path());
    let big = "DCIM/101APPLE/IMG_0100.HEIC";
    let faults = Faults {
        only_connections: Some(vec![0]),
        disconnect_in_file: Some((big.to_string(), 5_000_000)),
        fail_paths: vec![PathFault {
            path: "DCIM/100APPLE/IMG_0002.JPG".into(),
            status: AfcStatus::ObjectBusy,
            on: FaultOn::Read,
        }],
        ..Faults::default()
    };
    let srv = AfcServer::new(tmp.path().to_path_buf(), Profile::none(), faults).unwrap();
    bounded(async {
        // Connection 0: the big file is cut after 5 MB, as by an unplug.
        let c0 = client(&srv);
        let mut got = Vec::new();
        let err = c0
            .read_file_to(&format!("/{big}"), None, &mut got)
            .await
            .unwrap_err();
        assert!(matches!(err, AfcError::Connection(_)), "{err}");
        assert!(err.is_fatal());
        assert!(got.len() <= 5_000_000, "nothing past the cut was delivered");
        assert!(got[..] == expected[big][..got.len()]);
        assert!(
            matches!(c0.stat("/DCIM").await, Err(AfcError::Connection(_))),
            "later requests fail, not hang"
        );
        // Connection 1 is not faulty: the same file reads whole.
        let c1 = client(&srv);
        let mut got = Vec::new();
        c1.read_file_to(&format!("/{big}"), None, &mut got)
            .await
            .unwrap();
        assert!(got == expected[big]);
        // Path faults hit every connection: stat works, reads fail with the chosen status.
        assert_eq!(
            c1.stat("/DCIM/100APPLE/IMG_0002.JPG")
                .await
                .unwrap()
                .st_size,
            1
        );
        let err = c1
            .read_file_to("/DCIM/100APPLE/IMG_0002.JPG", None, &mut Vec::new())
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(AfcStatus::ObjectBusy));
    })
    .await;

    // Reset after 2 requests; the third is never answered and the connection closes.
    let reset = Faults {
        reset_after_requests: Some(2),
        ..Faults::default()
    };
    let srv = AfcServer::new(tmp.path().to_path_buf(), Profile::none(), reset).unwrap();
    bounded(async {
        let c = client(&srv);
        c.stat("/DCIM").await.unwrap();
        c.read_dir("/DCIM").await.unwrap();
        assert!(matches!(
            c.stat("/DCIM").await,
            Err(AfcError::Connection(_))
        ));
    })
    .await;

    // Disconnect after 100 bytes of the connection: the second reply is cut mid-packet.
    let cut = Faults {
        disconnect_after_bytes: Some(100),
        ..Faults::default()
    };
    let srv = AfcServer::new(tmp.path().to_path_buf(), Profile::none(), cut).unwrap();
    bounded(async {
        let c = client(&srv);
        c.open("/DCIM/100APPLE/IMG_0001.JPG").await.unwrap(); // 48 bytes
        assert!(matches!(
            c.read(FileHandle(1), 1000).await,
            Err(AfcError::Connection(_))
        ));
    })
    .await;

    // Stall after one request: nothing more is answered, and the service ends when the
    // client closes its side.
    let stall = Faults {
        stall_after_requests: Some(1),
        ..Faults::default()
    };
    let srv = AfcServer::new(tmp.path().to_path_buf(), Profile::none(), stall).unwrap();
    bounded(async {
        let mut s = connect(&srv);
        assert_eq!(
            exchange(&mut s, 0, Opcode::ReadDir, &path_body("/"))
                .await
                .3,
            Opcode::Data
        );
        s.write_all(&encode_packet(1, Opcode::ReadDir, &path_body("/")))
            .await
            .unwrap();
        s.shutdown().await.unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "a stalled phone answers nothing");
    })
    .await;
}

#[tokio::test]
async fn paced_profile_still_serves_exact_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = make_library(tmp.path());
    let srv = AfcServer::new(tmp.path().to_path_buf(), Profile::usb3(), Faults::none()).unwrap();
    let c = client(&srv);
    let mut got = Vec::new();
    bounded(c.read_file_to("/DCIM/100APPLE/IMG_0001.JPG", None, &mut got))
        .await
        .unwrap();
    assert!(got == expected["DCIM/100APPLE/IMG_0001.JPG"]);
}
