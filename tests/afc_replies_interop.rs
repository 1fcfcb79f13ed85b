//! The AFC client against hostile replies, and pymobiledevice3's AFC client against the
//! simulated phone's server.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use iphone_import::afc::codec::{HEADER_LEN, decode_packet};
use iphone_import::afc::messages::Reply;
use iphone_import::afc::{AfcClient, AfcError, AfcProtocolError, AfcStatus, MAX_BODY_LEN, Opcode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod afc_harness;
use afc_harness::*;

// ---- Hostile phones: the client fails cleanly, never hangs or over-allocates. ----

/// Run the client's `stat` against a fake phone that answers with `reply(packet_num)`.
async fn stat_against(reply: impl FnOnce(u64) -> Vec<u8> + Send + 'static) -> AfcError {
    let (host, mut phone) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        let mut head = [0u8; HEADER_LEN];
        phone.read_exact(&mut head).await.unwrap();
        let len = u64::from_le_bytes(head[8..16].try_into().unwrap()) as usize;
        let mut body = vec![0u8; len - HEADER_LEN];
        phone.read_exact(&mut body).await.unwrap();
        let num = u64::from_le_bytes(head[24..32].try_into().unwrap());
        let _ = phone.write_all(&reply(num)).await;
        // Keep the connection open: the client must fail on the bytes, not on EOF.
        let mut sink = Vec::new();
        let _ = phone.read_to_end(&mut sink).await;
    });
    let c = AfcClient::new(Box::new(host));
    bounded(c.stat("/DCIM")).await.unwrap_err()
}

#[tokio::test]
async fn client_rejects_malformed_replies_cleanly() {
    let e = stat_against(|n| {
        let mut r = Reply::Data(b"x\0y\0".to_vec().into()).encode(n).to_vec();
        r[..8].copy_from_slice(b"NOTAFC!!");
        r
    })
    .await;
    assert!(
        matches!(e, AfcError::Protocol(AfcProtocolError::BadMagic(_))),
        "{e}"
    );

    let e = stat_against(|n| {
        let mut r = Reply::Data(Default::default()).encode(n).to_vec();
        r[8..16].copy_from_slice(&(1u64 << 62).to_le_bytes());
        r
    })
    .await;
    assert!(
        matches!(e, AfcError::Protocol(AfcProtocolError::TooLarge { .. })),
        "{e}"
    );

    let e = stat_against(|n| {
        Reply::Data(b"st_size\x001\0".to_vec().into())
            .encode(n + 7)
            .to_vec()
    })
    .await;
    assert!(
        matches!(e, AfcError::Protocol(AfcProtocolError::UnknownPacketNum(_))),
        "{e}"
    );

    let e = stat_against(|n| {
        Reply::Data(b"st_size\0\xff\xfe\0".to_vec().into())
            .encode(n)
            .to_vec()
    })
    .await;
    assert!(
        matches!(e, AfcError::Protocol(AfcProtocolError::NotUtf8 { .. })),
        "{e}"
    );

    let e = stat_against(|n| Reply::FileOpened(3).encode(n).to_vec()).await;
    assert!(
        matches!(
            e,
            AfcError::Protocol(AfcProtocolError::UnexpectedReply { .. })
        ),
        "{e}"
    );

    let e = stat_against(|n| Reply::Status(AfcStatus::Unknown(99)).encode(n).to_vec()).await;
    assert_eq!(e.status(), Some(AfcStatus::Unknown(99)));

    // A short header followed by EOF.
    let (host, mut phone) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        let mut head = [0u8; 42]; // ReadDir "/": header + "/\0"
        phone.read_exact(&mut head).await.unwrap();
        phone.write_all(b"CFA6LP").await.unwrap();
    });
    let c = AfcClient::new(Box::new(host));
    assert!(matches!(
        bounded(c.read_dir("/")).await,
        Err(AfcError::Connection(_))
    ));
}

#[tokio::test]
async fn client_rejects_a_read_reply_longer_than_asked() {
    let (host, mut phone) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        let mut buf = BytesMut::new();
        loop {
            if phone.read_buf(&mut buf).await.unwrap() == 0 {
                return;
            }
            while let Some(p) = decode_packet(&mut buf, MAX_BODY_LEN).unwrap() {
                let reply = match p.operation {
                    Opcode::FileRefOpen => Reply::FileOpened(1),
                    // Asked for 16 bytes; answers 1000.
                    _ => Reply::Data(vec![1u8; 1000].into()),
                };
                phone.write_all(&reply.encode(p.packet_num)).await.unwrap();
            }
        }
    });
    let c = AfcClient::new(Box::new(host));
    let h = bounded(c.open("/x")).await.unwrap();
    let e = bounded(c.read(h, 16)).await.unwrap_err();
    assert!(
        matches!(
            e,
            AfcError::Protocol(AfcProtocolError::ReadTooLong {
                asked: 16,
                got: 1000
            })
        ),
        "{e}"
    );
    assert!(
        c.peak_buffered_bytes() < 1000,
        "the oversized body was never allocated"
    );
}

#[tokio::test]
async fn whole_file_copy_with_known_size_is_open_reads_close_only() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = make_library(tmp.path());
    let srv = server(tmp.path());
    let c = client(&srv);
    let path = "DCIM/101APPLE/IMG_0100.HEIC"; // 9 MiB + 12345: three 4 MiB reads
    let mut got = Vec::new();
    bounded(c.read_file_to(
        &format!("/{path}"),
        Some(expected[path].len() as u64),
        &mut got,
    ))
    .await
    .unwrap();
    assert!(got == expected[path]);
    let requests = srv.stats().requests;
    let expect: BTreeMap<Opcode, u64> = [
        (Opcode::FileRefOpen, 1),
        (Opcode::FileRefRead, 4),
        (Opcode::FileRefClose, 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        requests, expect,
        "no stat, no seek; three reads plus the pipelined end check"
    );

    // A single read never asks for more than 4 MiB, whatever the caller wants.
    let h = bounded(c.open(&format!("/{path}"))).await.unwrap();
    assert_eq!(bounded(c.read(h, 10 << 20)).await.unwrap().len(), 4 << 20);
    bounded(c.close(h)).await.unwrap();
}

// ---- Interop: pymobiledevice3's own AFC client against the server (no usbmux/lockdown). ----

/// pymobiledevice3's AfcService on a plain TCP connection to the server: listdir, stat,
/// pull of DCIM, and a placeholder read. Prints JSON the test checks.
const PMD3_SCRIPT: &str = r#"
import asyncio, json, sys
from pymobiledevice3.lockdown_service_provider import LockdownServiceProvider
from pymobiledevice3.service_connection import ServiceConnection
from pymobiledevice3.services.afc import AfcService
from pymobiledevice3.exceptions import AfcException

async def main(port, dst):
    conn = await ServiceConnection.create_using_tcp("127.0.0.1", port)
    afc = AfcService(LockdownServiceProvider(), service_name="com.apple.afc")
    afc._service = conn
    out = {}
    async with afc:
        out["root"] = sorted(await afc.listdir("/"))
        out["dcim"] = sorted(await afc.listdir("/DCIM"))
        st = await afc.stat("/DCIM/100APPLE/IMG_0001.JPG")
        out["size"] = st["st_size"]
        out["ifmt"] = st["st_ifmt"]
        out["isdir"] = await afc.isdir("/DCIM/100APPLE")
        await afc.pull("/DCIM/101APPLE", dst, progress_bar=False)
        await afc.pull("/DCIM/100APPLE/IMG_0005.MOV", dst, progress_bar=False)
        try:
            await afc.get_file_contents("/DCIM/100APPLE/IMG_0007.HEIC")
            out["placeholder"] = "read"
        except AfcException as e:
            out["placeholder"] = int(e.status)
        try:
            await afc.stat("/../../etc/passwd")
            out["escape"] = "served"
        except AfcException as e:
            out["escape"] = int(e.status)
    print(json.dumps(out, default=str))

asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
"#;

/// A python that can import pymobiledevice3: `$PMD3_PYTHON`, else the venv of
/// `$PYMOBILEDEVICE3` or of a `pymobiledevice3` in PATH (as .ci/run sets up), else
/// `./.venv`, else `python3`.
fn pmd3_python() -> Option<String> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PMD3_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    let mut scripts: Vec<PathBuf> = std::env::var_os("PYMOBILEDEVICE3")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    if let Some(path) = std::env::var_os("PATH") {
        scripts.extend(std::env::split_paths(&path).map(|dir| dir.join("pymobiledevice3")));
    }
    candidates.extend(
        scripts
            .iter()
            .filter(|s| s.is_file())
            .filter_map(|s| Some(s.parent()?.join("python"))),
    );
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    candidates.push("python3".into());
    candidates
        .into_iter()
        .map(|p| p.to_string_lossy().into_owned())
        .find(|py| {
            std::process::Command::new("timeout")
                .args(["30", py, "-c", "import pymobiledevice3"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymobiledevice3_afc_client_reads_the_server() {
    let Some(python) = pmd3_python() else {
        let msg = "SKIP: pymobiledevice3_afc_client_reads_the_server: pymobiledevice3 not installed \
                   (set PYMOBILEDEVICE3 or PMD3_PYTHON)";
        assert!(
            std::env::var("REQUIRE_INTEROP").as_deref() != Ok("1"),
            "{msg} (REQUIRE_INTEROP=1 makes this a failure)"
        );
        // Straight to the stderr handle: libtest captures eprintln!, and a skip must be seen.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("Media");
    fs::create_dir_all(&root).unwrap();
    let expected = make_library(&root);
    let dst = tmp.path().join("out");
    fs::create_dir_all(&dst).unwrap();
    let srv = server(&root);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accept_srv = srv.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            sock.set_nodelay(true).unwrap();
            tokio::spawn(accept_srv.clone().serve(Box::new(sock)));
        }
    });
    let output = tokio::process::Command::new("timeout")
        .args([
            "60",
            &python,
            "-c",
            PMD3_SCRIPT,
            &port.to_string(),
            dst.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pymobiledevice3 failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    let got: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(got["root"], serde_json::json!(["DCIM", "PhotoData"]));
    assert_eq!(got["dcim"], serde_json::json!(["100APPLE", "101APPLE"]));
    assert_eq!(got["size"], 700_000);
    assert_eq!(got["ifmt"], "S_IFREG");
    assert_eq!(got["isdir"], true);
    assert_eq!(
        got["placeholder"], 20,
        "placeholder read fails with IO_ERROR"
    );
    assert_eq!(got["escape"], 10, "escape refused with PERM_DENIED");
    let pulled = fs::read(dst.join("101APPLE/IMG_0100.HEIC")).unwrap();
    assert!(
        pulled == expected["DCIM/101APPLE/IMG_0100.HEIC"],
        "pulled file differs"
    );
    let pulled = fs::read(dst.join("IMG_0005.MOV")).unwrap();
    assert!(
        pulled == expected["DCIM/100APPLE/IMG_0005.MOV"],
        "pulled file differs"
    );
    assert_eq!(srv.changing_ops(), 0);
}

#[tokio::test]
async fn a_file_that_changed_size_since_listing_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = make_library(tmp.path());
    let srv = server(tmp.path());
    let c = client(&srv);
    let path = "/DCIM/100APPLE/IMG_0001.JPG";
    let real = expected[&path[1..]].len() as u64;
    bounded(async {
        for listed in [real - 1, real + 1, 0] {
            let err = c
                .read_file_to(path, Some(listed), &mut Vec::new())
                .await
                .unwrap_err();
            assert!(
                matches!(err, AfcError::SizeMismatch { expected, .. } if expected == listed),
                "listed {listed}: {err}"
            );
        }
        // Every handle was closed again, and the connection is still good.
        let mut got = Vec::new();
        assert_eq!(
            c.read_file_to(path, Some(real), &mut got).await.unwrap(),
            real
        );
    })
    .await;
    let stats = srv.stats();
    assert_eq!(
        stats.requests[&Opcode::FileRefOpen],
        stats.requests[&Opcode::FileRefClose]
    );
}
