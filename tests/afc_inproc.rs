//! The AFC client against the simulated phone's AFC server, in process (a tokio duplex is the
//! DeviceStream), over folders built here. (The server against real clients' request
//! sequences and faults: afc_transcripts_faults.rs; hostile replies and pymobiledevice3's
//! client: afc_replies_interop.rs.)

use std::fs;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use iphone_import::afc::codec::decode_packet;
use iphone_import::afc::messages::Reply;
use iphone_import::afc::{
    AfcClient, AfcError, AfcStatus, ClientOptions, FileHandle, FileKind, MAX_BODY_LEN, Opcode,
    Whence,
};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};

mod afc_harness;
use afc_harness::*;

#[tokio::test]
async fn lists_dcim_and_stats_like_a_phone() {
    let tmp = tempfile::tempdir().unwrap();
    make_library(tmp.path());
    let srv = server(tmp.path());
    let c = client(&srv);
    bounded(async {
        let root = c.read_dir("/").await.unwrap();
        assert_eq!(
            root,
            vec!["DCIM", "PhotoData"],
            "generator metadata must be hidden"
        );
        assert_eq!(
            c.read_dir("/DCIM").await.unwrap(),
            vec!["100APPLE", "101APPLE"]
        );
        assert_eq!(
            c.read_dir("DCIM/101APPLE").await.unwrap(),
            vec!["IMG_0100.HEIC"]
        );

        let dir = c.stat("/DCIM").await.unwrap();
        assert_eq!(dir.st_ifmt, FileKind::Directory);
        assert_eq!(dir.st_size, 64);

        let path = "/DCIM/100APPLE/IMG_0001.JPG";
        let info = c.stat(path).await.unwrap();
        let meta = fs::metadata(tmp.path().join(&path[1..])).unwrap();
        assert_eq!(info.st_ifmt, FileKind::Regular);
        assert_eq!(info.st_size, 700_000);
        assert_eq!(info.st_nlink, 1);
        assert!(info.st_blocks > 0);
        let mtime_ns = meta
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        assert_eq!(info.st_mtime_ns, mtime_ns, "st_mtime is in nanoseconds");
        assert!(info.st_birthtime_ns.is_some());

        let dev = c.device_info().await.unwrap();
        assert!(!dev.model.is_empty());
        assert!(dev.fs_total_bytes > dev.fs_free_bytes);
        assert_eq!(dev.fs_block_size, 4096);
    })
    .await;
    assert_eq!(srv.changing_ops(), 0);
}

#[tokio::test]
async fn reads_every_file_byte_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = make_library(tmp.path());
    let srv = server(tmp.path());
    let c = client(&srv);
    bounded(async {
        let mut files = Vec::new();
        walk(&c, "/", &mut files).await;
        assert_eq!(files.len(), expected.len());
        for (path, size) in files {
            let want = &expected[&path[1..]];
            assert_eq!(size, want.len() as u64, "{path}");
            if path.ends_with("IMG_0007.HEIC") {
                continue; // the placeholder; see its own test
            }
            // Known size (no stat), and unknown size (read until a short read).
            let mut got = Vec::new();
            assert_eq!(
                c.read_file_to(&path, Some(size), &mut got).await.unwrap(),
                size
            );
            assert!(got == *want, "{path} differs (known size)");
            let mut got = Vec::new();
            assert_eq!(c.read_file_to(&path, None, &mut got).await.unwrap(), size);
            assert!(got == *want, "{path} differs (unknown size)");
        }
        let small = c
            .read_to_vec("/PhotoData/Photos.sqlite", 1 << 20)
            .await
            .unwrap();
        assert!(small == expected["PhotoData/Photos.sqlite"]);
        assert!(matches!(
            c.read_to_vec("/DCIM/101APPLE/IMG_0100.HEIC", 1 << 20).await,
            Err(AfcError::FileTooLarge { limit: 1048576, .. })
        ));
    })
    .await;
    let stats = srv.stats();
    assert_eq!(stats.changing_ops, 0);
    assert!(stats.requests[&Opcode::FileRefRead] > 0);
    assert!(!stats.requests.contains_key(&Opcode::FileRefWrite));
}

#[tokio::test]
async fn seek_tell_close_and_error_statuses() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = make_library(tmp.path());
    let srv = server(tmp.path());
    let c = client(&srv);
    let data = &expected["DCIM/100APPLE/IMG_0001.JPG"];
    bounded(async {
        let h = c.open("/DCIM/100APPLE/IMG_0001.JPG").await.unwrap();
        assert_eq!(h, FileHandle(1), "handles start at 1 as on a phone");
        c.seek(h, Whence::Start, 100).await.unwrap();
        assert_eq!(c.tell(h).await.unwrap(), 100);
        assert_eq!(c.read(h, 10).await.unwrap().as_ref(), &data[100..110]);
        c.seek(h, Whence::Current, -10).await.unwrap();
        assert_eq!(c.read(h, 10).await.unwrap().as_ref(), &data[100..110]);
        c.seek(h, Whence::End, -5).await.unwrap();
        assert_eq!(
            c.read(h, 100).await.unwrap().as_ref(),
            &data[data.len() - 5..]
        );
        assert!(
            c.read(h, 100).await.unwrap().is_empty(),
            "reading at the end gives no data"
        );
        let before_start = c.seek(h, Whence::Start, -1).await.unwrap_err();
        assert_eq!(before_start.status(), Some(AfcStatus::InvalidArg));
        c.close(h).await.unwrap();

        // Real-phone semantics (protocol.md §7.3).
        assert_eq!(
            status(c.stat("/DCIM/nope.JPG").await),
            Some(AfcStatus::ObjectNotFound)
        );
        assert_eq!(
            status(c.read_dir("/DCIM/100APPLE/IMG_0001.JPG").await),
            Some(AfcStatus::ReadError)
        );
        assert_eq!(
            status(c.read(h, 10).await),
            Some(AfcStatus::InvalidArg),
            "closed handle"
        );
        assert_eq!(
            status(c.close(FileHandle(999)).await),
            Some(AfcStatus::InvalidArg)
        );
        assert_eq!(
            status(c.tell(FileHandle(999)).await),
            Some(AfcStatus::InvalidArg)
        );
        assert_eq!(status(c.open("/DCIM").await), Some(AfcStatus::ObjectIsDir));
        let err = c.stat("/DCIM/nope.JPG").await.unwrap_err();
        assert!(
            err.to_string().contains("/DCIM/nope.JPG") && err.to_string().contains("not found"),
            "{err}"
        );
        // The client still works after failures.
        assert_eq!(c.read_dir("/DCIM").await.unwrap().len(), 2);
    })
    .await;
    assert_eq!(srv.changing_ops(), 0);
}

#[tokio::test]
async fn jail_refuses_escapes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("Media");
    fs::create_dir_all(&root).unwrap();
    let expected = make_library(&root);
    fs::write(tmp.path().join("secret.txt"), b"host secret").unwrap();
    std::os::unix::fs::symlink(tmp.path().join("secret.txt"), root.join("DCIM/escape.JPG"))
        .unwrap();
    std::os::unix::fs::symlink(tmp.path(), root.join("DCIM/escape_dir")).unwrap();
    std::os::unix::fs::symlink("100APPLE/IMG_0001.JPG", root.join("DCIM/inside.JPG")).unwrap();
    std::os::unix::fs::symlink("../.iphone-mock", root.join("DCIM/meta")).unwrap();
    let srv = server(&root);
    let c = client(&srv);
    bounded(async {
        assert_eq!(
            status(c.stat("../../etc/passwd").await),
            Some(AfcStatus::PermDenied)
        );
        assert_eq!(
            status(c.open("../secret.txt").await),
            Some(AfcStatus::PermDenied)
        );
        assert_eq!(
            status(c.read_dir("DCIM/../../").await),
            Some(AfcStatus::PermDenied)
        );
        // Absolute paths are relative to the media root, as on a phone: /etc/passwd is
        // looked up inside it and does not exist there.
        assert_eq!(
            status(c.stat("/etc/passwd").await),
            Some(AfcStatus::ObjectNotFound)
        );
        assert_eq!(
            status(c.open("/etc/passwd").await),
            Some(AfcStatus::ObjectNotFound)
        );
        assert!(c.stat("/DCIM").await.unwrap().is_dir());
        assert_eq!(
            c.read_dir("/DCIM/../DCIM/101APPLE").await.unwrap(),
            vec!["IMG_0100.HEIC"]
        );
        // Symlinks are resolved: out of the root is refused, inside is served.
        assert_eq!(
            status(c.stat("/DCIM/escape.JPG").await),
            Some(AfcStatus::PermDenied)
        );
        assert_eq!(
            status(c.open("/DCIM/escape.JPG").await),
            Some(AfcStatus::PermDenied)
        );
        assert_eq!(
            status(c.read_dir("/DCIM/escape_dir").await),
            Some(AfcStatus::PermDenied)
        );
        assert_eq!(
            status(c.stat("/DCIM/escape_dir/secret.txt").await),
            Some(AfcStatus::PermDenied)
        );
        let mut got = Vec::new();
        c.read_file_to("/DCIM/inside.JPG", None, &mut got)
            .await
            .unwrap();
        assert!(got == expected["DCIM/100APPLE/IMG_0001.JPG"]);
        // The generator's metadata is invisible, however it is reached.
        for hidden in [
            "/.iphone-mock",
            "/.iphone-mock/placeholders",
            "DCIM/../.iphone-mock/placeholders",
            "/DCIM/meta/placeholders",
        ] {
            assert_eq!(
                status(c.stat(hidden).await),
                Some(AfcStatus::ObjectNotFound),
                "{hidden}"
            );
            assert_eq!(
                status(c.open(hidden).await),
                Some(AfcStatus::ObjectNotFound),
                "{hidden}"
            );
        }
    })
    .await;
    assert_eq!(srv.changing_ops(), 0);
}

#[tokio::test]
async fn placeholders_are_listed_and_stated_but_fail_to_read_with_io_error() {
    let tmp = tempfile::tempdir().unwrap();
    make_library(tmp.path());
    let srv = server(tmp.path());
    let c = client(&srv);
    bounded(async {
        let path = "/DCIM/100APPLE/IMG_0007.HEIC";
        assert!(
            c.read_dir("/DCIM/100APPLE")
                .await
                .unwrap()
                .contains(&"IMG_0007.HEIC".to_string())
        );
        assert_eq!(c.stat(path).await.unwrap().st_size, 2_100_000);
        let mut got = Vec::new();
        let err = c
            .read_file_to(path, Some(2_100_000), &mut got)
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(AfcStatus::IoError), "{err}");
        assert!(got.is_empty());
        // Its neighbours read fine on the same connection.
        let mut got = Vec::new();
        assert_eq!(
            c.read_file_to("/DCIM/100APPLE/IMG_0001.JPG", None, &mut got)
                .await
                .unwrap(),
            700_000
        );
    })
    .await;
}

/// A fake phone that reads `n` whole requests before answering any, then answers them in
/// reverse order. A client that does not keep `n` requests in flight deadlocks (and the
/// bounded timeout fails the test); one that matches replies by order gets wrong answers.
async fn hold_then_answer_reversed(mut phone: DuplexStream, n: usize) {
    let mut buf = BytesMut::new();
    let mut held = Vec::new();
    while held.len() < n {
        if phone.read_buf(&mut buf).await.unwrap() == 0 {
            return;
        }
        while let Some(p) = decode_packet(&mut buf, MAX_BODY_LEN).unwrap() {
            held.push(p);
        }
    }
    for p in held.iter().rev() {
        assert_eq!(p.operation, Opcode::GetFileInfo);
        let path = std::str::from_utf8(&p.body[..p.body.len() - 1]).unwrap();
        let size = path.trim_start_matches("/f").parse::<u64>().unwrap();
        let body = format!(
            "st_size\0{size}\0st_blocks\x000\0st_nlink\x001\0st_ifmt\0S_IFREG\0st_mtime\x001\0st_birthtime\x001\0"
        );
        phone
            .write_all(&Reply::Data(body.into_bytes().into()).encode(p.packet_num))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn eight_requests_in_flight_on_one_connection() {
    let (host, phone) = tokio::io::duplex(1 << 16);
    tokio::spawn(hold_then_answer_reversed(phone, 8));
    let c = AfcClient::new(Box::new(host));
    let sizes = bounded(futures::future::join_all((0..8u64).map(|i| {
        let c = &c;
        async move { c.stat(&format!("/f{i}")).await.unwrap().st_size }
    })))
    .await;
    assert_eq!(sizes, (0..8).collect::<Vec<u64>>());
}

#[tokio::test]
async fn eight_concurrent_reads_against_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = make_library(tmp.path());
    let srv = server(tmp.path());
    let c = client(&srv);
    let paths: Vec<&String> = expected
        .keys()
        .filter(|p| !p.ends_with("IMG_0007.HEIC"))
        .collect();
    assert_eq!(paths.len(), 8);
    let results = bounded(futures::future::join_all(paths.iter().map(|p| {
        let c = &c;
        async move {
            let mut got = Vec::new();
            c.read_file_to(&format!("/{p}"), None, &mut got)
                .await
                .unwrap();
            got
        }
    })))
    .await;
    for (p, got) in paths.iter().zip(results) {
        assert!(got == expected[*p], "{p}");
    }
    assert_eq!(srv.changing_ops(), 0);
}

#[tokio::test]
async fn four_connections_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = make_library(tmp.path());
    let srv = server(tmp.path());
    let clients: Vec<AfcClient> = (0..4).map(|_| client(&srv)).collect();
    let expected = &expected;
    bounded(futures::future::join_all(clients.iter().enumerate().map(
        |(i, c)| async move {
            for (path, want) in expected.iter().skip(i).step_by(2) {
                if path.ends_with("IMG_0007.HEIC") {
                    continue;
                }
                let mut got = Vec::new();
                c.read_file_to(&format!("/{path}"), Some(want.len() as u64), &mut got)
                    .await
                    .unwrap();
                assert!(got == *want, "{path} on connection {i}");
            }
        },
    )))
    .await;
    let stats = srv.stats();
    assert_eq!(stats.connections, 4);
    assert_eq!(stats.changing_ops, 0);
}

/// Checks a streamed copy of the sparse test file without storing it: zeros everywhere
/// except 16-byte markers at known offsets.
struct CheckingSink {
    offset: u64,
    markers: Vec<(u64, [u8; 16])>,
    scratch: Vec<u8>,
    zeros: Vec<u8>,
}

impl AsyncWrite for CheckingSink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let start = this.offset;
        let end = start + buf.len() as u64;
        this.scratch.clear();
        this.scratch.extend_from_slice(buf);
        for (at, marker) in &this.markers {
            for (i, byte) in marker.iter().enumerate() {
                let pos = at + i as u64;
                if pos >= start && pos < end {
                    let k = (pos - start) as usize;
                    assert_eq!(this.scratch[k], *byte, "marker byte at {pos}");
                    this.scratch[k] = 0;
                }
            }
        }
        if this.zeros.len() < buf.len() {
            this.zeros.resize(buf.len(), 0);
        }
        assert!(
            this.scratch[..] == this.zeros[..buf.len()],
            "unexpected data in {start}..{end}"
        );
        this.offset = end;
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_file_streams_in_bounded_memory() {
    use std::os::unix::fs::FileExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("DCIM/100APPLE");
    fs::create_dir_all(&dir).unwrap();
    let size: u64 = 1 << 30;
    let file = fs::File::create(dir.join("IMG_9999.MOV")).unwrap();
    file.set_len(size).unwrap(); // sparse: costs no disk
    let markers: Vec<(u64, [u8; 16])> = [0, 4 * 1024 * 1024 - 8, 512 << 20, size - 16]
        .iter()
        .map(|&at| (at, [0xA5u8 ^ (at as u8); 16]))
        .collect();
    for (at, m) in &markers {
        file.write_at(m, *at).unwrap();
    }
    drop(file);
    let srv = server(tmp.path());
    let options = ClientOptions {
        reads_in_flight: 3,
        ..ClientOptions::default()
    };
    let bound = options.read_chunk * options.reads_in_flight;
    let c = AfcClient::with_options(Box::new(connect(&srv)), options);
    let mut sink = CheckingSink {
        offset: 0,
        markers,
        scratch: Vec::new(),
        zeros: Vec::new(),
    };
    let copied = bounded(c.read_file_to("/DCIM/100APPLE/IMG_9999.MOV", Some(size), &mut sink))
        .await
        .unwrap();
    assert_eq!(copied, size);
    assert_eq!(sink.offset, size);
    // The client never held more reply data than its in-flight reads can carry: memory is
    // bounded by design (12 MiB here), not by the 1 GiB file.
    let peak = c.peak_buffered_bytes();
    assert!(peak <= bound, "client held {peak} bytes, bound {bound}");
    assert!(
        peak >= 4 * 1024 * 1024,
        "the meter saw the 4 MiB reads ({peak})"
    );
    assert_eq!(
        srv.stats().requests[&Opcode::FileRefRead],
        257,
        "1 GiB in 4 MiB reads, plus the end check"
    );
    assert_eq!(srv.changing_ops(), 0);
}
