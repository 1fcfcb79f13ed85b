//! What the pull tests share: the simulated phone's AFC server in process, an observer that
//! records events (and can cancel), the config, small fixture trees and the checks on DEST
//! and the ledger.
#![allow(dead_code)] // Each pull test binary uses a different subset.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use futures::future::BoxFuture;
use iphone_import::afc::{AfcClient, Opcode};
use iphone_import::import::filters::Filters;
use iphone_import::import::layout::{DEFAULT_LAYOUT, Layout};
use iphone_import::import::ledger::Ledger;
use iphone_import::import::pull::{
    AfcConnector, ConnectError, Observer, PullConfig, PullDevice, PullError, PullEvent, Summary,
    pull,
};
use iphone_import::library::{Asset, AssetKind, Resource, ResourceRole};
use iphone_import::mock::afcd::{AfcServer, Faults};
use iphone_import::mock::library::{self, LibraryOptions, LibraryTruth};
use iphone_import::mock::profile::Profile;
use rand::{RngCore, SeedableRng};
use tokio_util::sync::CancellationToken;

pub(crate) const UDID: &str = "00008030-001A2B3C4D5E802E";
/// Anything that could hang is bounded by this; a hang is a failure, not a slow pass.
pub(crate) const LIMIT: Duration = Duration::from_secs(120);

pub(crate) struct Inproc(pub(crate) Arc<AfcServer>);

impl AfcConnector for Inproc {
    fn connect(&self) -> BoxFuture<'_, Result<AfcClient, ConnectError>> {
        Box::pin(async move { Ok(AfcClient::new(self.0.connect_in_process())) })
    }
}

#[derive(Default)]
pub(crate) struct Collect {
    pub(crate) events: Mutex<Vec<PullEvent>>,
    /// Cancelled at the first `Copied` event whose device path ends with this.
    pub(crate) cancel_after: Option<(String, CancellationToken)>,
    /// Cancelled once more than this many bytes arrived from the phone.
    pub(crate) cancel_after_bytes: Option<(u64, CancellationToken)>,
    pub(crate) bytes: std::sync::atomic::AtomicU64,
}

impl Observer for Collect {
    fn event(&self, event: &PullEvent) {
        if let (Some((suffix, token)), PullEvent::Copied { device_path, .. }) =
            (&self.cancel_after, event)
            && device_path.ends_with(suffix.as_str())
        {
            token.cancel();
        }
        self.events.lock().unwrap().push(event.clone());
    }

    fn bytes(&self, n: u64) {
        let total = self.bytes.fetch_add(n, std::sync::atomic::Ordering::SeqCst) + n;
        if let Some((limit, token)) = &self.cancel_after_bytes
            && total > *limit
        {
            token.cancel();
        }
    }
}

impl Collect {
    pub(crate) fn events(&self) -> Vec<PullEvent> {
        self.events.lock().unwrap().clone()
    }
    pub(crate) fn copied(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                PullEvent::Copied { device_path, .. } => Some(device_path),
                _ => None,
            })
            .collect()
    }
}

pub(crate) fn device() -> PullDevice {
    PullDevice {
        udid: UDID.into(),
        name: "Test iPhone".into(),
    }
}

pub(crate) fn config(dest: &Path) -> PullConfig {
    PullConfig {
        dest: dest.to_path_buf(),
        layout: Layout::parse(DEFAULT_LAYOUT).unwrap(),
        filters: Filters::default(),
        jobs: 4,
        edited: false,
        dry_run: false,
        command_line: "pull test".into(),
        xmp: None,
        also_jpeg: None,
        plan_chunk: iphone_import::import::pull::PLAN_CHUNK,
        fail_writes_after: None,
    }
}

pub(crate) async fn run_pull(
    server: &Arc<AfcServer>,
    assets: Vec<Asset>,
    cfg: PullConfig,
) -> (Result<Summary, PullError>, Arc<Collect>) {
    let obs = Arc::new(Collect::default());
    let r = run_observed(server, assets, cfg, obs.clone(), CancellationToken::new()).await;
    (r, obs)
}

pub(crate) async fn run_observed(
    server: &Arc<AfcServer>,
    assets: Vec<Asset>,
    cfg: PullConfig,
    obs: Arc<Collect>,
    cancel: CancellationToken,
) -> Result<Summary, PullError> {
    let connector = Arc::new(Inproc(server.clone()));
    tokio::time::timeout(LIMIT, pull(connector, device(), assets, cfg, obs, cancel))
        .await
        .expect("pull hung")
}

pub(crate) fn server(root: &Path, faults: Faults) -> Arc<AfcServer> {
    AfcServer::new(root.to_path_buf(), Profile::none(), faults).unwrap()
}

pub(crate) fn requests(server: &AfcServer, op: Opcode) -> u64 {
    server.stats().requests.get(&op).copied().unwrap_or(0)
}

pub(crate) fn created(truth_unix: i64, offset: i32) -> DateTime<FixedOffset> {
    DateTime::from_timestamp(truth_unix, 0)
        .unwrap()
        .with_timezone(&FixedOffset::east_opt(offset).unwrap())
}

/// What the library inventory will produce, built from the generator's truth (sizes unknown,
/// as from a folder listing).
pub(crate) fn assets_from_truth(truth: &LibraryTruth) -> Vec<Asset> {
    use iphone_import::mock::library::AssetKind as TK;
    truth
        .assets
        .iter()
        .map(|a| {
            let res = |role, r: &library::Resource| Resource {
                role,
                device_path: r.path.clone(),
                size: None,
                mtime_ns: None,
                birth_ns: None,
            };
            let mut resources = vec![res(ResourceRole::Original, &a.original)];
            if let Some(v) = &a.live_video {
                resources.push(res(ResourceRole::LiveVideo, v));
            }
            if let Some(s) = &a.aae {
                resources.push(res(ResourceRole::Sidecar, s));
            }
            if let Some(e) = &a.edited_render {
                resources.push(res(ResourceRole::EditedRender, e));
            }
            Asset {
                uuid: Some(a.uuid.clone()),
                kind: if a.kind == TK::Video {
                    AssetKind::Video
                } else {
                    AssetKind::Photo
                },
                resources,
                created: Some(created(a.capture.unix, a.capture.offset_secs)),
                hidden: a.hidden,
                trashed: a.trashed,
                trashed_at: None,
                icloud_only: a.icloud_only,
                original_missing: a.original_missing,
                only_copy_on_phone: false,
                favorite: a.favorite,
                albums: Vec::new(),
                meta: Default::default(),
            }
        })
        .collect()
}

pub(crate) fn demo_library(dir: &Path) -> LibraryTruth {
    library::generate(dir, &LibraryOptions::demo()).unwrap()
}

/// Every file under DEST outside the state folder, with (inode, mtime ns).
pub(crate) fn snapshot(dest: &Path) -> BTreeMap<PathBuf, (u64, i128)> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, (u64, i128)>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if p.strip_prefix(root).unwrap() == Path::new(".iphone-import") {
                continue;
            }
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                walk(&p, root, out);
            } else {
                let mtime = m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128;
                out.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    (m.ino(), mtime),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    if dest.exists() {
        walk(dest, dest, &mut out);
    }
    out
}

/// Every ledger row points at a file with exactly the recorded bytes, and every file under
/// DEST (outside the state folder) is in the ledger or was there before (`preexisting`).
pub(crate) fn assert_ledger_consistent(dest: &Path, preexisting: &[&str]) {
    let ledger = Ledger::open(dest).unwrap();
    let mut recorded = std::collections::BTreeSet::new();
    ledger
        .for_each::<iphone_import::import::ledger::LedgerError>(None, |e| {
            let local = dest.join(&e.dest_path);
            let bytes = fs::read(&local).unwrap_or_else(|_| panic!("{} missing", e.dest_path));
            assert_eq!(bytes.len() as u64, e.size, "{}", e.dest_path);
            assert_eq!(
                *blake3::hash(&bytes).as_bytes(),
                e.blake3,
                "{}",
                e.dest_path
            );
            recorded.insert(PathBuf::from(&e.dest_path));
            Ok(())
        })
        .unwrap();
    for path in snapshot(dest).keys() {
        let s = path.to_str().unwrap();
        assert!(
            recorded.contains(path) || preexisting.contains(&s),
            "{s} is at a final path but not in the ledger (a partial or unrecorded file)"
        );
    }
}

/// The destination of a device file per the ledger.
pub(crate) fn dest_of(dest: &Path, device_path: &str) -> Option<String> {
    Ledger::open(dest)
        .unwrap()
        .lookup(UDID, device_path)
        .unwrap()
        .map(|e| e.dest_path)
}

pub(crate) fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

pub(crate) const BIG: &str = "DCIM/100APPLE/IMG_0001.MOV";
pub(crate) const SMALL: &str = "DCIM/100APPLE/IMG_0002.JPG";
pub(crate) const BIG_LEN: usize = 24 * 1024 * 1024 + 4321;

/// A small tree: one large video, one small photo (assets in that order).
pub(crate) fn small_tree(root: &Path) -> Vec<Asset> {
    fs::create_dir_all(root.join("DCIM/100APPLE")).unwrap();
    fs::write(root.join(BIG), random_bytes(1, BIG_LEN)).unwrap();
    fs::write(root.join(SMALL), random_bytes(2, 300_000)).unwrap();
    let mk = |path: &str, kind| Asset {
        uuid: None,
        kind,
        resources: vec![Resource {
            role: ResourceRole::Original,
            device_path: path.into(),
            size: None,
            mtime_ns: None,
            birth_ns: None,
        }],
        created: Some(created(1_750_000_000, 7200)),
        hidden: false,
        trashed: false,
        trashed_at: None,
        icloud_only: false,
        original_missing: false,
        only_copy_on_phone: false,
        favorite: false,
        albums: Vec::new(),
        meta: Default::default(),
    };
    vec![mk(BIG, AssetKind::Video), mk(SMALL, AssetKind::Photo)]
}

pub(crate) fn assert_same(root: &Path, dest: &Path, device_path: &str) {
    let at = dest_of(dest, device_path).unwrap_or_else(|| panic!("{device_path} not imported"));
    assert_eq!(
        fs::read(dest.join(at)).unwrap(),
        fs::read(root.join(device_path)).unwrap()
    );
}
