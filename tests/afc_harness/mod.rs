//! What the AFC tests share: a generated folder to serve, the simulated phone's AFC server
//! and in-process clients of it, and a bound on every wait.
#![allow(dead_code)] // Each AFC test binary uses a different subset.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use iphone_import::afc::{AfcClient, AfcError, AfcStatus};
use iphone_import::mock::afcd::{AfcServer, Faults};
use iphone_import::mock::profile::Profile;
use rand::{RngCore, SeedableRng};
use tokio::io::DuplexStream;

/// Anything that could hang is bounded by this; a hang is a failure, not a slow pass.
pub(crate) const LIMIT: Duration = Duration::from_secs(120);

/// The phone's status in a result, if it failed with one.
pub(crate) fn status<T>(r: Result<T, AfcError>) -> Option<AfcStatus> {
    r.err().and_then(|e| e.status())
}

pub(crate) async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("timed out: something hung")
}

pub(crate) fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

/// A small camera roll: DCIM/100APPLE, DCIM/101APPLE, sizes around the 4 MiB read boundary,
/// an empty file, the generator's hidden folder with one placeholder.
pub(crate) fn make_library(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mib = 1024 * 1024;
    let files: Vec<(&str, usize)> = vec![
        ("DCIM/100APPLE/IMG_0001.JPG", 700_000),
        ("DCIM/100APPLE/IMG_0002.JPG", 1),
        ("DCIM/100APPLE/IMG_0003.MOV", 4 * mib - 1),
        ("DCIM/100APPLE/IMG_0004.MOV", 4 * mib),
        ("DCIM/100APPLE/IMG_0005.MOV", 4 * mib + 1),
        ("DCIM/100APPLE/IMG_0006.AAE", 0),
        ("DCIM/100APPLE/IMG_0007.HEIC", 2_100_000),
        ("DCIM/101APPLE/IMG_0100.HEIC", 9 * mib + 12345),
        ("PhotoData/Photos.sqlite", 300_000),
    ];
    let mut expected = BTreeMap::new();
    for (i, (path, len)) in files.into_iter().enumerate() {
        let data = content(i as u64, len);
        let full = root.join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(&full, &data).unwrap();
        expected.insert(path.to_string(), data);
    }
    fs::create_dir_all(root.join(".iphone-mock")).unwrap();
    fs::write(
        root.join(".iphone-mock/placeholders"),
        "DCIM/100APPLE/IMG_0007.HEIC\n",
    )
    .unwrap();
    expected
}

pub(crate) fn server(root: &Path) -> Arc<AfcServer> {
    AfcServer::new(root.to_path_buf(), Profile::none(), Faults::none()).unwrap()
}

pub(crate) fn connect(server: &Arc<AfcServer>) -> DuplexStream {
    let (host, phone) = tokio::io::duplex(1 << 20);
    tokio::spawn(server.clone().serve(Box::new(phone)));
    host
}

pub(crate) fn client(server: &Arc<AfcServer>) -> AfcClient {
    AfcClient::new(server.connect_in_process())
}

/// Walk the phone through the client: every regular file with its size.
pub(crate) async fn walk(c: &AfcClient, dir: &str, out: &mut Vec<(String, u64)>) {
    for name in c.read_dir(dir).await.unwrap() {
        let path = format!("{}/{}", dir.trim_end_matches('/'), name);
        let info = c.stat(&path).await.unwrap();
        if info.is_dir() {
            Box::pin(walk(c, &path, out)).await;
        } else {
            out.push((path, info.st_size));
        }
    }
}
