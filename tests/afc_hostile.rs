//! The AFC client against a hostile simulated phone: short reads, replies longer than asked,
//! absurd sizes. Every case ends in exact bytes or a typed error, never a panic or a hang.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use iphone_import::afc::codec::decode_packet;
use iphone_import::afc::messages::Reply;
use iphone_import::afc::{AfcClient, AfcError, AfcProtocolError, AfcStatus, MAX_BODY_LEN, Opcode};
use iphone_import::mock::afcd::{AfcServer, Faults};
use iphone_import::mock::profile::Profile;
use rand::{RngCore, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(120);
const PATH: &str = "DCIM/100APPLE/IMG_0001.MOV";

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("timed out: something hung")
}

/// One 9 MiB + 12345 byte file at PATH; returns its bytes.
fn one_file(root: &Path) -> Vec<u8> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut data = vec![0u8; 9 * 1024 * 1024 + 12345];
    rng.fill_bytes(&mut data);
    let full = root.join(PATH);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(&full, &data).unwrap();
    data
}

fn client(root: &Path, faults: Faults) -> AfcClient {
    let server: Arc<AfcServer> =
        AfcServer::new(root.to_path_buf(), Profile::none(), faults).unwrap();
    AfcClient::new(server.connect_in_process())
}

#[tokio::test]
async fn short_reads_of_64_kib_still_copy_every_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let data = one_file(tmp.path());
    let faults = Faults {
        max_read_reply: Some(64 * 1024),
        ..Faults::default()
    };
    let c = client(tmp.path(), faults);
    let path = format!("/{PATH}");
    let size = data.len() as u64;

    let mut known = Vec::new();
    let n = bounded(c.read_file_to(&path, Some(size), &mut known))
        .await
        .unwrap();
    assert_eq!(n, size);
    assert!(known == data, "known-size copy is exact");

    let mut unknown = Vec::new();
    bounded(c.read_file_to(&path, None, &mut unknown))
        .await
        .unwrap();
    assert!(unknown == data, "copy to the end is exact");

    let mut resumed = Vec::new();
    let offset = 3 * 1024 * 1024 + 17;
    let n = bounded(c.read_range_to(&path, size, offset, &mut resumed))
        .await
        .unwrap();
    assert_eq!(n, size - offset);
    assert!(
        resumed[..] == data[offset as usize..],
        "resumed range is exact"
    );
}

#[tokio::test]
async fn a_read_reply_longer_than_asked_is_read_too_long() {
    let tmp = tempfile::tempdir().unwrap();
    let data = one_file(tmp.path());
    let faults = Faults {
        read_longer_than_asked: Some(PATH.to_string()),
        ..Faults::default()
    };
    let c = client(tmp.path(), faults);
    let path = format!("/{PATH}");
    for known in [Some(data.len() as u64), None] {
        let e = bounded(c.read_file_to(&path, known, &mut Vec::new()))
            .await
            .unwrap_err();
        assert!(
            matches!(e, AfcError::Protocol(AfcProtocolError::ReadTooLong { .. })),
            "{e}"
        );
    }
    let e = bounded(c.read_range_to(&path, data.len() as u64, 5, &mut Vec::new()))
        .await
        .unwrap_err();
    assert!(
        matches!(e, AfcError::Protocol(AfcProtocolError::ReadTooLong { .. })),
        "{e}"
    );
    // The connection itself is fine: the next request works.
    assert!(bounded(c.stat(&path)).await.is_ok());
}

#[tokio::test]
async fn a_status_sized_reply_to_a_one_byte_read_is_read_too_long() {
    // Replies of up to 8 bytes pass the frame check (a STATUS reply may answer anything), so
    // an 8-byte DATA answer to a 1-byte read must be caught by the read itself.
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
                    Opcode::FileRefRead => Reply::Data(vec![1u8; 8].into()),
                    _ => Reply::Status(AfcStatus::Success),
                };
                phone.write_all(&reply.encode(p.packet_num)).await.unwrap();
            }
        }
    });
    let c = AfcClient::new(Box::new(host));
    let h = bounded(c.open("/x")).await.unwrap();
    let e = bounded(c.read(h, 1)).await.unwrap_err();
    assert!(
        matches!(
            e,
            AfcError::Protocol(AfcProtocolError::ReadTooLong { asked: 1, got: 8 })
        ),
        "{e}"
    );
    // A resumed copy of the last 3 bytes would have underflowed its count.
    let e = bounded(c.read_range_to("/x", 10, 7, &mut Vec::new()))
        .await
        .unwrap_err();
    assert!(
        matches!(e, AfcError::Protocol(AfcProtocolError::ReadTooLong { .. })),
        "{e}"
    );
}
