//! The pull engine end to end against the simulated phone's AFC server, in process: a
//! generated library (or a small hand-made tree for fault cases) served by `AfcServer`s, one
//! in-process connection per job.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use futures::future::BoxFuture;
use iphone_import::afc::{AfcClient, AfcStatus, Opcode};
use iphone_import::import::backup_figures::{file_sizes, library_status};
use iphone_import::import::filters::Filters;
use iphone_import::import::layout::{DEFAULT_LAYOUT, Layout};
use iphone_import::import::ledger::Ledger;
use iphone_import::import::pull::{
    AfcConnector, ConnectError, Observer, PullConfig, PullDevice, PullError, PullEvent, Summary,
    pull,
};
use iphone_import::import::safe_write::SafeWriteError;
use iphone_import::import::verify::{Problem, ProblemKind, VerifyObserver, check_phone};
use iphone_import::library::{
    Asset, AssetKind, InventoryOptions, Resource, ResourceRole, ScanOptions, inventory, scan,
    scan_dcim,
};
use iphone_import::mock::afcd::{AfcServer, FaultOn, Faults, PathFault};
use iphone_import::mock::library::{self, LibraryOptions, LibraryTruth, OptimisedShape};
use iphone_import::mock::profile::Profile;
use rand::{RngCore, SeedableRng};
use tokio_util::sync::CancellationToken;

const UDID: &str = "00008030-001A2B3C4D5E802E";
/// Anything that could hang is bounded by this; a hang is a failure, not a slow pass.
const LIMIT: Duration = Duration::from_secs(120);

struct Inproc(Arc<AfcServer>);

impl AfcConnector for Inproc {
    fn connect(&self) -> BoxFuture<'_, Result<AfcClient, ConnectError>> {
        Box::pin(async move { Ok(AfcClient::new(self.0.connect_in_process())) })
    }
}

#[derive(Default)]
struct Collect {
    events: Mutex<Vec<PullEvent>>,
    /// Cancelled at the first `Copied` event whose device path ends with this.
    cancel_after: Option<(String, CancellationToken)>,
    /// Cancelled once more than this many bytes arrived from the phone.
    cancel_after_bytes: Option<(u64, CancellationToken)>,
    bytes: std::sync::atomic::AtomicU64,
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
    fn events(&self) -> Vec<PullEvent> {
        self.events.lock().unwrap().clone()
    }
    fn copied(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                PullEvent::Copied { device_path, .. } => Some(device_path),
                _ => None,
            })
            .collect()
    }
}

fn device() -> PullDevice {
    PullDevice {
        udid: UDID.into(),
        name: "Test iPhone".into(),
    }
}

fn config(dest: &Path) -> PullConfig {
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
        fail_writes_after: None,
    }
}

async fn run_pull(
    server: &Arc<AfcServer>,
    assets: Vec<Asset>,
    cfg: PullConfig,
) -> (Result<Summary, PullError>, Arc<Collect>) {
    let obs = Arc::new(Collect::default());
    let r = run_observed(server, assets, cfg, obs.clone(), CancellationToken::new()).await;
    (r, obs)
}

async fn run_observed(
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

fn server(root: &Path, faults: Faults) -> Arc<AfcServer> {
    AfcServer::new(root.to_path_buf(), Profile::none(), faults).unwrap()
}

fn requests(server: &AfcServer, op: Opcode) -> u64 {
    server.stats().requests.get(&op).copied().unwrap_or(0)
}

fn created(truth_unix: i64, offset: i32) -> DateTime<FixedOffset> {
    DateTime::from_timestamp(truth_unix, 0)
        .unwrap()
        .with_timezone(&FixedOffset::east_opt(offset).unwrap())
}

/// What the library inventory will produce, built from the generator's truth (sizes unknown,
/// as from a folder listing).
fn assets_from_truth(truth: &LibraryTruth) -> Vec<Asset> {
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
            let stem = a.filename.rsplit_once('.').map_or(&*a.filename, |(s, _)| s);
            Asset {
                key: a.uuid.clone(),
                uuid: Some(a.uuid.clone()),
                folder: a.directory.clone(),
                stem: stem.to_string(),
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

fn demo_library(dir: &Path) -> LibraryTruth {
    library::generate(dir, &LibraryOptions::demo()).unwrap()
}

/// Every file under DEST outside the state folder, with (inode, mtime ns).
fn snapshot(dest: &Path) -> BTreeMap<PathBuf, (u64, i128)> {
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
fn assert_ledger_consistent(dest: &Path, preexisting: &[&str]) {
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
fn dest_of(dest: &Path, device_path: &str) -> Option<String> {
    Ledger::open(dest)
        .unwrap()
        .lookup(UDID, device_path)
        .unwrap()
        .map(|e| e.dest_path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_pull_is_byte_exact_and_a_rerun_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    let truth = demo_library(&root);
    let assets = assets_from_truth(&truth);
    let srv = server(&root, Faults::none());
    let (r, obs) = run_pull(&srv, assets.clone(), config(&dest)).await;
    let summary = r.unwrap();

    let selected: Vec<_> = truth.assets.iter().filter(|a| !a.trashed).collect();
    let icloud = selected.iter().filter(|a| a.icloud_only).count() as u64;
    assert!(icloud > 0, "the demo library has iCloud-only originals");
    assert_eq!(summary.plan.selected, selected.len() as u64);
    let lost = selected.iter().filter(|a| a.original_missing).count() as u64;
    assert!(lost > 0, "the demo library has missing originals");
    assert_eq!(summary.plan.icloud_only, icloud);
    assert_eq!(summary.plan.original_missing, lost);
    assert_eq!(summary.icloud_only_failed, icloud);
    assert_eq!(summary.original_missing_failed, lost);
    assert_eq!(summary.files_failed, icloud + lost);
    assert!(summary.is_partial());
    let mut expected_files = 0;
    for a in &selected {
        let files: Vec<_> = [Some(&a.original), a.live_video.as_ref(), a.aae.as_ref()]
            .into_iter()
            .flatten()
            .collect();
        if a.icloud_only || a.original_missing {
            for f in files {
                assert_eq!(dest_of(&dest, &f.path), None, "{} recorded", f.path);
            }
            continue;
        }
        for f in files {
            expected_files += 1;
            let at = dest_of(&dest, &f.path).unwrap_or_else(|| panic!("{} not imported", f.path));
            assert_eq!(
                fs::read(dest.join(&at)).unwrap(),
                fs::read(root.join(&f.path)).unwrap(),
                "{} -> {at} differs",
                f.path
            );
        }
        // File mtime = capture time.
        let at = dest_of(&dest, &a.original.path).unwrap();
        let mtime = fs::metadata(dest.join(&at)).unwrap().mtime();
        assert_eq!(mtime, a.capture.unix, "{at} mtime");
    }
    assert_eq!(summary.files_copied, expected_files);
    assert_eq!(obs.copied().len() as u64, expected_files);
    // Trashed assets are left out by default.
    for a in truth.assets.iter().filter(|a| a.trashed) {
        assert_eq!(dest_of(&dest, &a.original.path), None);
    }
    let failed: Vec<_> = obs
        .events()
        .into_iter()
        .filter_map(|e| match e {
            PullEvent::Failed {
                icloud_only,
                original_missing,
                reason,
                ..
            } => Some((icloud_only, original_missing, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len() as u64, icloud + lost);
    // iCloud-only originals get the download advice; missing ones never do.
    let (cloud, missing): (Vec<_>, Vec<_>) = failed.iter().partition(|(i, _, _)| *i);
    assert_eq!(cloud.len() as u64, icloud);
    assert!(
        cloud
            .iter()
            .all(|(_, m, r)| !m && r.contains("Download and Keep Originals"))
    );
    assert!(missing.iter().all(|(_, m, r)| *m
        && r.contains("neither on this phone nor in iCloud")
        && !r.contains("Download and Keep Originals")));
    assert_ledger_consistent(&dest, &[]);
    assert_eq!(srv.changing_ops(), 0);
    assert!(
        !dest
            .join(".iphone-import/tmp")
            .read_dir()
            .unwrap()
            .any(|_| true),
        "temp files left after a complete run"
    );

    // Re-run: nothing copied, nothing rewritten, no file stat'ed or opened: the iCloud-only
    // originals are known from Photos.sqlite and not tried again.
    let before = snapshot(&dest);
    let srv2 = server(&root, Faults::none());
    let (r, obs2) = run_pull(&srv2, assets, config(&dest)).await;
    let again = r.unwrap();
    assert_eq!(again.files_copied, 0);
    assert!(obs2.copied().is_empty());
    assert_eq!(again.plan.already_imported, expected_files);
    assert_eq!(again.icloud_only_failed, icloud);
    assert_eq!(requests(&srv2, Opcode::GetFileInfo), 0);
    assert_eq!(
        requests(&srv2, Opcode::FileRefOpen),
        0,
        "{:?} {:?}",
        srv2.stats(),
        obs2.events()
    );
    assert_eq!(snapshot(&dest), before, "a re-run changed files in DEST");
    assert_eq!(srv2.changing_ops(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_photos_keep_one_stem_under_a_renaming_template_and_edits_come_along() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    let truth = demo_library(&root);
    let srv = server(&root, Faults::none());
    let mut cfg = config(&dest);
    cfg.layout = Layout::parse("{device}/{year}-{month}/{dcim_folder}-{stem}.{ext}").unwrap();
    cfg.edited = true;
    cfg.jobs = 3;
    let (r, _) = run_pull(&srv, assets_from_truth(&truth), cfg).await;
    r.unwrap();
    let mut live = 0;
    let mut edited = 0;
    let on_phone = |a: &&library::AssetTruth| !a.icloud_only && !a.original_missing;
    for a in truth.assets.iter().filter(|a| !a.trashed).filter(on_phone) {
        let photo = dest_of(&dest, &a.original.path).unwrap();
        let (photo_stem, _) = photo.rsplit_once('.').unwrap();
        assert!(photo.starts_with("Test iPhone/"), "{photo}");
        assert!(photo_stem.ends_with(a.filename.rsplit_once('.').unwrap().0));
        if let Some(v) = &a.live_video {
            let video = dest_of(&dest, &v.path).unwrap();
            assert_eq!(
                video.rsplit_once('.').unwrap().0,
                photo_stem,
                "{photo} vs {video}"
            );
            live += 1;
        }
        if let Some(s) = &a.aae {
            let aae = dest_of(&dest, &s.path).unwrap();
            assert_eq!(aae.rsplit_once('.').unwrap().0, photo_stem);
        }
        if let Some(e) = &a.edited_render {
            let render = dest_of(&dest, &e.path).unwrap();
            assert_eq!(
                render.rsplit_once('.').unwrap().0,
                format!("{photo_stem}_edited")
            );
            assert_eq!(
                fs::read(dest.join(&render)).unwrap(),
                fs::read(root.join(&e.path)).unwrap()
            );
            edited += 1;
        }
    }
    assert!(
        live > 0 && edited > 0,
        "the demo library has Live Photos and edits"
    );
    assert_ledger_consistent(&dest, &[]);
    assert_eq!(srv.changing_ops(), 0);
}

fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

const BIG: &str = "DCIM/100APPLE/IMG_0001.MOV";
const SMALL: &str = "DCIM/100APPLE/IMG_0002.JPG";
const BIG_LEN: usize = 24 * 1024 * 1024 + 4321;

/// A small tree: one large video, one small photo (assets in that order).
fn small_tree(root: &Path) -> Vec<Asset> {
    fs::create_dir_all(root.join("DCIM/100APPLE")).unwrap();
    fs::write(root.join(BIG), random_bytes(1, BIG_LEN)).unwrap();
    fs::write(root.join(SMALL), random_bytes(2, 300_000)).unwrap();
    let mk = |path: &str, kind| Asset {
        key: path.into(),
        uuid: None,
        folder: "DCIM/100APPLE".into(),
        stem: path
            .rsplit('/')
            .next()
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .into(),
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

fn assert_same(root: &Path, dest: &Path, device_path: &str) {
    let at = dest_of(dest, device_path).unwrap_or_else(|| panic!("{device_path} not imported"));
    assert_eq!(
        fs::read(dest.join(at)).unwrap(),
        fs::read(root.join(device_path)).unwrap()
    );
}

async fn disconnect_then_resume(fraction: f64) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    let assets = small_tree(&root);
    let cut = (BIG_LEN as f64 * fraction) as u64;
    let faults = Faults {
        disconnect_in_file: Some((BIG.into(), cut)),
        ..Faults::none()
    };
    let srv = server(&root, faults);
    let mut cfg = config(&dest);
    cfg.jobs = 1;
    let (r, _) = run_pull(&srv, assets.clone(), cfg.clone()).await;
    let err = r.unwrap_err();
    assert!(matches!(err, PullError::Disconnected { .. }), "{err}");
    assert!(err.to_string().contains("run again"), "{err}");
    assert_eq!(dest_of(&dest, BIG), None);
    assert_ledger_consistent(&dest, &[]);
    assert_eq!(srv.changing_ops(), 0);

    // The phone is back: the large file resumes from its temp file.
    let srv2 = server(&root, Faults::none());
    let (r, obs) = run_pull(&srv2, assets, cfg).await;
    let summary = r.unwrap();
    assert_eq!(summary.files_resumed, 1, "{:?}", obs.events());
    assert!(
        srv2.stats().bytes_served < BIG_LEN as u64,
        "the resumed run read {} bytes, the file has {BIG_LEN}",
        srv2.stats().bytes_served
    );
    assert_same(&root, &dest, BIG);
    assert_same(&root, &dest, SMALL);
    assert_ledger_consistent(&dest, &[]);
    assert_eq!(srv2.changing_ops(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_at_30_percent_resumes() {
    disconnect_then_resume(0.30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_at_60_percent_resumes() {
    disconnect_then_resume(0.60).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_at_99_percent_resumes() {
    disconnect_then_resume(0.99).await;
}

/// What happens between an interrupted run and the next: the phone's file is replaced by one
/// of the same size and mtime, or the kept temp bytes were garbled (lost in a power cut).
#[derive(Clone, Copy, Debug)]
enum Between {
    PhoneFileReplaced,
    TempBytesGarbled,
}

async fn interrupted_then(between: Between) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    let assets = small_tree(&root);
    let faults = Faults {
        disconnect_in_file: Some((BIG.into(), (BIG_LEN as u64) * 6 / 10)),
        ..Faults::none()
    };
    let srv = server(&root, faults);
    let mut cfg = config(&dest);
    cfg.jobs = 1;
    let (r, _) = run_pull(&srv, assets.clone(), cfg.clone()).await;
    assert!(matches!(r, Err(PullError::Disconnected { .. })), "{r:?}");
    let tmp_dir = dest.join(".iphone-import/tmp");
    let part = fs::read_dir(&tmp_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let kept = fs::metadata(&part).unwrap().len() as usize;
    assert!(kept > 0);
    match between {
        Between::PhoneFileReplaced => {
            let big = root.join(BIG);
            let mtime = fs::metadata(&big).unwrap().modified().unwrap();
            fs::write(&big, random_bytes(99, BIG_LEN)).unwrap();
            fs::File::options()
                .write(true)
                .open(&big)
                .unwrap()
                .set_modified(mtime)
                .unwrap();
        }
        Between::TempBytesGarbled => {
            let mut bytes = fs::read(&part).unwrap();
            bytes[kept - 100..].fill(0);
            fs::write(&part, bytes).unwrap();
        }
    }

    let srv2 = server(&root, Faults::none());
    let (r, obs) = run_pull(&srv2, assets, cfg).await;
    let summary = r.unwrap();
    // Started over, never a splice of kept and new bytes.
    assert_eq!(summary.files_resumed, 0, "{between:?}: {:?}", obs.events());
    assert_same(&root, &dest, BIG);
    assert_same(&root, &dest, SMALL);
    assert_ledger_consistent(&dest, &[]);
    assert_eq!(srv2.changing_ops(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_file_replaced_with_the_same_size_and_mtime_is_copied_anew_not_spliced() {
    interrupted_then(Between::PhoneFileReplaced).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbled_kept_bytes_are_not_resumed() {
    interrupted_then(Between::TempBytesGarbled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_is_a_clear_error_and_the_ledger_stays_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    let mut assets = small_tree(&root);
    assets.reverse(); // small first: it fits, the large one does not
    let srv = server(&root, Faults::none());
    let mut cfg = config(&dest);
    cfg.jobs = 1;
    cfg.fail_writes_after = Some(1024 * 1024);
    let (r, _) = run_pull(&srv, assets.clone(), cfg.clone()).await;
    let err = r.unwrap_err();
    assert!(
        matches!(
            err,
            PullError::Write {
                source: SafeWriteError::DiskFull { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("full"), "{err}");
    assert_same(&root, &dest, SMALL);
    assert_eq!(dest_of(&dest, BIG), None);
    assert_ledger_consistent(&dest, &[]);

    // Space freed: the next run completes.
    cfg.fail_writes_after = None;
    let (r, _) = run_pull(&srv, assets, cfg).await;
    r.unwrap();
    assert_same(&root, &dest, BIG);
    assert_ledger_consistent(&dest, &[]);
    assert_eq!(srv.changing_ops(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_mid_file_leaves_no_partial_file_and_the_next_run_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    let mut assets = small_tree(&root);
    assets.reverse();
    // The large file's reads never get an answer: the pull is stuck in it until cancelled.
    let faults = Faults {
        stall_in_file: Some((BIG.into(), 0)),
        ..Faults::none()
    };
    let srv = server(&root, faults);
    let mut cfg = config(&dest);
    cfg.jobs = 1;
    let cancel = CancellationToken::new();
    let obs = Arc::new(Collect::default());
    let watcher = {
        let srv = srv.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            // Cancel once the large file is being read (its reads stall).
            while requests(&srv, Opcode::FileRefRead) == 0
                || requests(&srv, Opcode::FileRefOpen) < 2
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            cancel.cancel();
        })
    };
    let r = run_observed(&srv, assets.clone(), cfg.clone(), obs, cancel).await;
    watcher.await.unwrap();
    assert!(matches!(r, Err(PullError::Cancelled)), "{r:?}");
    assert_same(&root, &dest, SMALL);
    assert_eq!(dest_of(&dest, BIG), None);
    assert_ledger_consistent(&dest, &[]);

    let srv2 = server(&root, Faults::none());
    let (r, obs) = run_pull(&srv2, assets, cfg).await;
    r.unwrap();
    assert_eq!(obs.copied(), vec![BIG.to_string()]);
    assert_same(&root, &dest, BIG);
    assert_ledger_consistent(&dest, &[]);
    assert_eq!(srv.changing_ops() + srv2.changing_ops(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_between_assets_records_what_finished() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    let mut assets = small_tree(&root);
    assets.reverse();
    let srv = server(&root, Faults::none());
    let mut cfg = config(&dest);
    cfg.jobs = 1;
    let cancel = CancellationToken::new();
    // SMALL (300,000 bytes) comes first; the cancel lands while BIG streams. SMALL waits in
    // its worker's group, which is committed and recorded on the way out.
    let obs = Arc::new(Collect {
        cancel_after_bytes: Some((2 * 1024 * 1024, cancel.clone())),
        ..Collect::default()
    });
    let r = run_observed(&srv, assets, cfg, obs, cancel).await;
    assert!(matches!(r, Err(PullError::Cancelled)), "{r:?}");
    assert_same(&root, &dest, SMALL);
    assert_eq!(dest_of(&dest, BIG), None);
    assert_ledger_consistent(&dest, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_photos_on_the_phone_are_the_only_ones_copied() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    small_tree(&root);
    let srv = server(&root, Faults::none());
    let list = || async {
        let client = AfcClient::new(srv.connect_in_process());
        scan_dcim(&client, &ScanOptions::default()).await.unwrap()
    };
    let (r, _) = run_pull(&srv, list().await, config(&dest)).await;
    assert_eq!(r.unwrap().files_copied, 2);
    let before = snapshot(&dest);

    // Two new shots: a Live Photo pair and its sidecar.
    for (name, seed, len) in [
        ("IMG_0003.HEIC", 3, 50_000),
        ("IMG_0003.MOV", 4, 90_000),
        ("IMG_0003.AAE", 5, 700),
    ] {
        fs::write(
            root.join("DCIM/100APPLE").join(name),
            random_bytes(seed, len),
        )
        .unwrap();
    }
    let opens_before = requests(&srv, Opcode::FileRefOpen);
    let stats_before = requests(&srv, Opcode::GetFileInfo);
    let (r, obs) = run_pull(&srv, list().await, config(&dest)).await;
    let summary = r.unwrap();
    let mut copied = obs.copied();
    copied.sort();
    assert_eq!(
        copied,
        vec![
            "DCIM/100APPLE/IMG_0003.AAE",
            "DCIM/100APPLE/IMG_0003.HEIC",
            "DCIM/100APPLE/IMG_0003.MOV"
        ]
    );
    assert_eq!(summary.plan.already_imported, 2);
    assert_eq!(requests(&srv, Opcode::FileRefOpen) - opens_before, 3);
    assert_eq!(requests(&srv, Opcode::GetFileInfo) - stats_before, 3);
    let after = snapshot(&dest);
    for (path, meta) in &before {
        assert_eq!(
            after.get(path),
            Some(meta),
            "{} was rewritten",
            path.display()
        );
    }
    let photo = dest_of(&dest, "DCIM/100APPLE/IMG_0003.HEIC").unwrap();
    let video = dest_of(&dest, "DCIM/100APPLE/IMG_0003.MOV").unwrap();
    assert_eq!(
        photo.rsplit_once('.').unwrap().0,
        video.rsplit_once('.').unwrap().0
    );
    for p in ["IMG_0003.HEIC", "IMG_0003.MOV", "IMG_0003.AAE"] {
        assert_same(&root, &dest, &format!("DCIM/100APPLE/{p}"));
    }
    assert_ledger_consistent(&dest, &[]);
    assert_eq!(srv.changing_ops(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_are_skipped_and_nothing_leaves_dest() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    small_tree(&root);
    let hostile = ["IMG_\n0009.JPG", "IMG_\u{1b}[2J.JPG", "IMG_\u{7f}.HEIC"];
    for (i, name) in hostile.iter().enumerate() {
        fs::write(
            root.join("DCIM/100APPLE").join(name),
            random_bytes(10 + i as u64, 1000),
        )
        .unwrap();
    }
    let srv = server(&root, Faults::none());
    let client = AfcClient::new(srv.connect_in_process());
    // The inventory refuses them (with warnings)…
    let scanned = scan(&client, &ScanOptions::default()).await.unwrap();
    assert_eq!(scanned.hostile_names, hostile.len());
    let mut assets = scanned.assets;
    assert_eq!(assets.len(), 2);
    // …and the engine refuses them again if an inventory lets one through: a hostile device
    // path, and a stem that tries to climb out.
    let good = assets
        .iter()
        .find(|a| a.stem == "IMG_0002")
        .unwrap()
        .clone();
    let mut hostile_path = good.clone();
    hostile_path.resources[0].device_path = format!("DCIM/100APPLE/{}", hostile[0]);
    hostile_path.stem = "IMG_0009".into();
    let mut climbing = good;
    climbing.stem = "..".into();
    assets.push(hostile_path);
    assets.push(climbing);
    let (r, obs) = run_pull(&srv, assets, config(&dest)).await;
    let summary = r.unwrap();
    let skipped: Vec<_> = obs
        .events()
        .into_iter()
        .filter_map(|e| match e {
            PullEvent::Skipped {
                device_path,
                reason,
            } => Some((device_path, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped.iter().all(|(_, r)| r.contains("unsafe name")));
    assert_eq!(summary.plan.unsafe_names, 2);
    assert_eq!(summary.files_copied, 2);
    // Nothing outside DEST, nothing with a control character inside it.
    let mut beside: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    beside.sort();
    assert_eq!(beside, vec!["dest", "phone"]);
    for path in snapshot(&dest).keys() {
        assert!(
            !path.to_string_lossy().chars().any(char::is_control),
            "{path:?}"
        );
    }
    assert_ledger_consistent(&dest, &[]);
    assert_eq!(srv.changing_ops(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_file_at_the_target_gets_a_suffix_and_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    fs::create_dir_all(root.join("DCIM/100APPLE")).unwrap();
    fs::write(
        root.join("DCIM/100APPLE/IMG_0001.JPG"),
        random_bytes(1, 40_000),
    )
    .unwrap();
    fs::write(
        root.join("DCIM/100APPLE/IMG_0001.MOV"),
        random_bytes(2, 80_000),
    )
    .unwrap();
    fs::write(
        root.join("DCIM/100APPLE/IMG_0002.JPG"),
        random_bytes(3, 40_000),
    )
    .unwrap();
    // A Live Photo whose *video* name is taken (another phone's IMG_0004.MOV).
    fs::write(
        root.join("DCIM/100APPLE/IMG_0004.JPG"),
        random_bytes(4, 40_000),
    )
    .unwrap();
    fs::write(
        root.join("DCIM/100APPLE/IMG_0004.MOV"),
        random_bytes(5, 80_000),
    )
    .unwrap();
    fs::create_dir_all(&dest).unwrap();
    let theirs = b"someone else's photo".to_vec();
    fs::write(dest.join("IMG_0001.JPG"), &theirs).unwrap();
    let other_phone = random_bytes(6, 1000);
    fs::write(dest.join("IMG_0004.MOV"), &other_phone).unwrap();
    // An identical copy already there is recognised, not duplicated.
    fs::copy(
        root.join("DCIM/100APPLE/IMG_0002.JPG"),
        dest.join("IMG_0002.JPG"),
    )
    .unwrap();
    let srv = server(&root, Faults::none());
    let client = AfcClient::new(srv.connect_in_process());
    let assets = scan_dcim(&client, &ScanOptions::default()).await.unwrap();
    let mut cfg = config(&dest);
    cfg.layout = Layout::parse("{name}").unwrap();
    let (r, _) = run_pull(&srv, assets, cfg).await;
    let summary = r.unwrap();
    assert_eq!(fs::read(dest.join("IMG_0001.JPG")).unwrap(), theirs);
    assert_eq!(
        dest_of(&dest, "DCIM/100APPLE/IMG_0001.JPG").unwrap(),
        "IMG_0001 (1).JPG"
    );
    assert_eq!(
        dest_of(&dest, "DCIM/100APPLE/IMG_0001.MOV").unwrap(),
        "IMG_0001 (1).MOV"
    );
    assert_eq!(
        dest_of(&dest, "DCIM/100APPLE/IMG_0002.JPG").unwrap(),
        "IMG_0002.JPG"
    );
    assert_same(&root, &dest, "DCIM/100APPLE/IMG_0001.JPG");
    assert_same(&root, &dest, "DCIM/100APPLE/IMG_0001.MOV");
    assert_eq!(
        dest_of(&dest, "DCIM/100APPLE/IMG_0004.JPG").unwrap(),
        "IMG_0004 (1).JPG"
    );
    assert_eq!(
        dest_of(&dest, "DCIM/100APPLE/IMG_0004.MOV").unwrap(),
        "IMG_0004 (1).MOV"
    );
    assert!(!dest.join("IMG_0004.JPG").exists());
    assert_eq!(fs::read(dest.join("IMG_0004.MOV")).unwrap(), other_phone);
    assert_eq!(summary.files_renamed, 4);
    assert_eq!(summary.files_already_present, 1);
    assert_ledger_consistent(&dest, &["IMG_0001.JPG", "IMG_0004.MOV"]);

    // The ledger lost (new DEST state), same files: all recognised in place, nothing doubled.
    fs::remove_dir_all(dest.join(".iphone-import")).unwrap();
    let before = snapshot(&dest);
    let client = AfcClient::new(srv.connect_in_process());
    let assets = scan_dcim(&client, &ScanOptions::default()).await.unwrap();
    let mut cfg = config(&dest);
    cfg.layout = Layout::parse("{name}").unwrap();
    let (r, _) = run_pull(&srv, assets, cfg).await;
    let again = r.unwrap();
    assert_eq!(again.files_already_present, 5);
    assert_eq!(snapshot(&dest), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_writes_nothing_and_reads_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    let truth = demo_library(&root);
    let srv = server(&root, Faults::none());
    let mut cfg = config(&dest);
    cfg.dry_run = true;
    let (r, obs) = run_pull(&srv, assets_from_truth(&truth), cfg).await;
    let summary = r.unwrap();
    assert!(summary.dry_run);
    assert!(!dest.exists(), "dry run created DEST");
    let would: u64 = obs
        .events()
        .iter()
        .filter(|e| matches!(e, PullEvent::WouldCopy { .. }))
        .count() as u64;
    assert!(would > 0);
    assert_eq!(would, summary.plan.files_to_copy);
    assert_eq!(summary.files_copied, 0);
    assert_eq!(requests(&srv, Opcode::FileRefOpen), 0);

    // After a real run, a dry run lists only what is still missing and touches no file.
    let (r, _) = run_pull(&srv, assets_from_truth(&truth), config(&dest)).await;
    let real = r.unwrap();
    let before = snapshot(&dest);
    let opens = requests(&srv, Opcode::FileRefOpen);
    let mut cfg = config(&dest);
    cfg.dry_run = true;
    let (r, obs) = run_pull(&srv, assets_from_truth(&truth), cfg).await;
    let again = r.unwrap();
    // What is missing is only the iCloud-only assets: reported as such, not as work to do.
    let icloud = truth
        .assets
        .iter()
        .filter(|a| a.icloud_only && !a.trashed)
        .count() as u64;
    assert_eq!(
        real.files_failed,
        real.icloud_only_failed + real.original_missing_failed
    );
    assert_eq!(again.plan.files_to_copy, 0);
    assert_eq!(again.icloud_only_failed, icloud);
    assert_eq!(again.plan.already_imported, real.files_copied);
    assert!(obs.copied().is_empty());
    assert_eq!(requests(&srv, Opcode::FileRefOpen), opens);
    assert_eq!(snapshot(&dest), before);
    assert_eq!(srv.changing_ops(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_json_events() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    let truth = demo_library(&root);
    let srv = server(&root, Faults::none());
    let mut cfg = config(&dest);
    cfg.filters = Filters::from_args(None, None, false, true, true, false).unwrap();
    let (r, obs) = run_pull(&srv, assets_from_truth(&truth), cfg).await;
    let summary = r.unwrap();
    let videos = truth
        .assets
        .iter()
        .filter(|a| a.kind == library::AssetKind::Video)
        .count() as u64;
    assert_eq!(summary.plan.selected, videos);
    for a in &truth.assets {
        let imported = dest_of(&dest, &a.original.path).is_some();
        let want = a.kind == library::AssetKind::Video && !a.icloud_only;
        assert_eq!(imported, want, "{}", a.original.path);
    }
    // Every event is one JSON object with an "event" tag, and round-trips as a line.
    let mut lines = String::new();
    for e in obs.events() {
        lines.push_str(&serde_json::to_string(&e).unwrap());
        lines.push('\n');
    }
    lines.push_str(&serde_json::to_string(&summary).unwrap());
    lines.push('\n');
    let parsed: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parsed[0]["event"], "plan");
    assert_eq!(parsed[0]["selected"], videos);
    let copied: Vec<_> = parsed.iter().filter(|v| v["event"] == "copied").collect();
    assert!(!copied.is_empty());
    for c in copied {
        assert!(c["device_path"].is_string() && c["dest_path"].is_string());
        assert!(c["bytes"].is_u64());
    }
    assert_eq!(parsed.last().unwrap()["files_copied"], summary.files_copied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_the_phone_refuses_are_reported_and_the_rest_is_copied() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    let mut assets = small_tree(&root);
    fs::write(
        root.join("DCIM/100APPLE/IMG_0003.JPG"),
        random_bytes(3, 5000),
    )
    .unwrap();
    let mut third = assets[1].clone();
    third.stem = "IMG_0003".into();
    third.resources[0].device_path = "DCIM/100APPLE/IMG_0003.JPG".into();
    assets.push(third);
    // One file vanished between listing and stat, one cannot be opened (locked phone, EPERM).
    let faults = Faults {
        fail_paths: vec![
            PathFault {
                path: SMALL.into(),
                status: AfcStatus::ObjectNotFound,
                on: FaultOn::Stat,
            },
            PathFault {
                path: "DCIM/100APPLE/IMG_0003.JPG".into(),
                status: AfcStatus::PermDenied,
                on: FaultOn::Open,
            },
        ],
        ..Faults::none()
    };
    let srv = server(&root, faults);
    let (r, obs) = run_pull(&srv, assets.clone(), config(&dest)).await;
    let summary = r.unwrap();
    assert_eq!(summary.files_copied, 1);
    assert_eq!(summary.files_failed, 2);
    assert_eq!(summary.icloud_only_failed, 0);
    assert!(summary.is_partial());
    let failed: Vec<_> = obs
        .events()
        .into_iter()
        .filter_map(|e| match e {
            PullEvent::Failed {
                device_path,
                icloud_only,
                ..
            } => Some((device_path, icloud_only)),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().all(|(_, icloud)| !icloud));
    assert_same(&root, &dest, BIG);
    assert_eq!(dest_of(&dest, SMALL), None);
    assert_ledger_consistent(&dest, &[]);

    // Readable again: the next run copies exactly the two that failed.
    let srv2 = server(&root, Faults::none());
    let (r, obs) = run_pull(&srv2, assets, config(&dest)).await;
    assert!(!r.unwrap().is_partial());
    let mut copied = obs.copied();
    copied.sort();
    assert_eq!(
        copied,
        vec![SMALL.to_string(), "DCIM/100APPLE/IMG_0003.JPG".into()]
    );
    assert_ledger_consistent(&dest, &[]);
    assert_eq!(srv.changing_ops() + srv2.changing_ops(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_the_same_dest_is_refused_while_the_first_holds_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    let assets = small_tree(&root);
    let _held = iphone_import::import::lock::DestLock::acquire(&dest, "pull other").unwrap();
    let srv = server(&root, Faults::none());
    let (r, _) = run_pull(&srv, assets, config(&dest)).await;
    let err = r.unwrap_err();
    assert!(matches!(err, PullError::Lock(_)), "{err}");
    assert!(err.to_string().contains("pull other"), "{err}");
}

mod cli {
    use super::*;
    use clap::Parser;
    use iphone_import::cli::args::PullArgs;
    use iphone_import::cli::exit;
    use iphone_import::cli::pull::{RunOptions, run_with_options};

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        args: PullArgs,
    }

    fn parse(argv: &[&str]) -> Result<PullArgs, clap::Error> {
        Cmd::try_parse_from(std::iter::once("pull").chain(argv.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn arguments_and_defaults() {
        let a = parse(&["/tmp/x"]).unwrap();
        assert_eq!(a.jobs, 4);
        assert_eq!(a.layout, DEFAULT_LAYOUT);
        assert!(!a.dry_run && !a.json && !a.edited && !a.include_trashed && !a.exclude_hidden);
        let a = parse(&[
            "/tmp/x",
            "--layout",
            "{device}/{name}",
            "--jobs",
            "8",
            "--since",
            "2024-01-01",
            "--until",
            "2024-12-31",
            "--videos-only",
            "--include-trashed",
            "--exclude-hidden",
            "--edited",
            "--json",
            "--dry-run",
        ])
        .unwrap();
        assert_eq!(a.jobs, 8);
        assert_eq!(a.since.as_deref(), Some("2024-01-01"));
        assert!(a.videos_only && a.include_trashed && a.exclude_hidden && a.edited && a.json);
        assert!(parse(&["/tmp/x", "--photos-only", "--videos-only"]).is_err());
        assert!(parse(&["/tmp/x", "--jobs", "0"]).is_err());
        // DEST may come from the config file or IPHONE_IMPORT_DEST (cli::config), so the
        // grammar accepts its absence; `pull` checks before reaching the phone (tests/config.rs).
        assert!(parse(&[]).unwrap().dest.is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn exit_codes_ok_partial_usage() {
        let tmp = tempfile::tempdir().unwrap();
        // iCloud-only originals → PARTIAL.
        let root = tmp.path().join("phone");
        let truth = demo_library(&root);
        let srv = server(&root, Faults::none());
        let connector: Arc<dyn AfcConnector> = Arc::new(Inproc(srv.clone()));
        let dest = tmp.path().join("dest");
        let args = parse(&[dest.to_str().unwrap(), "--json"]).unwrap();
        let code = run_with_options(
            connector.clone(),
            &device(),
            &args,
            RunOptions {
                assets: Some(assets_from_truth(&truth)),
                cache_dir: None,
                cancel: CancellationToken::new(),
                quiet: false,
            },
        )
        .await
        .unwrap();
        assert_eq!(code, exit::PARTIAL);

        // Everything copied (DCIM listing as the inventory) → OK.
        let root2 = tmp.path().join("phone2");
        small_tree(&root2);
        let srv2 = server(&root2, Faults::none());
        let dest2 = tmp.path().join("dest2");
        let args = parse(&[dest2.to_str().unwrap()]).unwrap();
        let code = run_with_options(
            Arc::new(Inproc(srv2.clone())),
            &device(),
            &args,
            RunOptions {
                assets: None,
                cache_dir: None,
                cancel: CancellationToken::new(),
                quiet: false,
            },
        )
        .await
        .unwrap();
        assert_eq!(code, exit::OK);
        assert_same(&root2, &dest2, BIG);

        // A bad date is a usage error, and nothing is touched.
        let dest3 = tmp.path().join("dest3");
        let args = parse(&[dest3.to_str().unwrap(), "--since", "yesterday"]).unwrap();
        let code = run_with_options(
            connector.clone(),
            &device(),
            &args,
            RunOptions {
                assets: None,
                cache_dir: None,
                cancel: CancellationToken::new(),
                quiet: false,
            },
        )
        .await
        .unwrap();
        assert_eq!(code, exit::USAGE);
        assert!(!dest3.exists());

        // The phone's own inventory (DCIM + Photos.sqlite from a cache folder): iCloud-only
        // originals are known up front, everything readable arrives byte-exact.
        let dest4 = tmp.path().join("dest4");
        let args = parse(&[dest4.to_str().unwrap(), "--edited"]).unwrap();
        let code = run_with_options(
            connector,
            &device(),
            &args,
            RunOptions {
                assets: None,
                cache_dir: Some(tmp.path().join("cache")),
                cancel: CancellationToken::new(),
                quiet: false,
            },
        )
        .await
        .unwrap();
        assert_eq!(code, exit::PARTIAL);
        let on_phone = |a: &&library::AssetTruth| !a.icloud_only && !a.original_missing;
        for a in truth.assets.iter().filter(|a| !a.trashed).filter(on_phone) {
            for f in [
                Some(&a.original),
                a.live_video.as_ref(),
                a.aae.as_ref(),
                a.edited_render.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                assert_same(&root, &dest4, &f.path);
            }
        }
        for a in truth.assets.iter().filter(|a| a.trashed) {
            assert_eq!(dest_of(&dest4, &a.original.path), None);
        }
        assert_ledger_consistent(&dest4, &[]);
        assert_eq!(srv.changing_ops() + srv2.changing_ops(), 0);
    }
}

struct Problems(Mutex<Vec<Problem>>);

impl VerifyObserver for Problems {
    fn problem(&self, problem: &Problem) {
        self.0.lock().unwrap().push(problem.clone());
    }
}

/// Originals not on the phone, listed with failing reads or deleted from DCIM (thumbnails
/// left): the inventory, pull and verify tell the same story from Photos.sqlite in both shapes,
/// and keep iCloud-only and missing originals apart.
#[tokio::test]
async fn optimised_originals_get_the_same_account_listed_or_removed() {
    let mut accounts = Vec::new();
    for shape in [OptimisedShape::Placeholder, OptimisedShape::Removed] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("phone");
        let dest = tmp.path().join("dest");
        let opts = LibraryOptions {
            optimised: shape,
            ..LibraryOptions::demo()
        };
        let truth = library::generate(&root, &opts).unwrap();
        let srv = server(&root, Faults::none());
        let client = AfcClient::new(srv.connect_in_process());
        let options = InventoryOptions {
            cache_dir: Some(tmp.path().join("cache")),
            ..InventoryOptions::default()
        };
        let inv = tokio::time::timeout(LIMIT, inventory(&client, &options))
            .await
            .unwrap()
            .unwrap();
        let c = &inv.counts;
        assert_eq!(
            (c.icloud_only, c.original_missing, inv.assets.len()),
            (
                truth.counts.icloud_only,
                truth.counts.original_missing,
                truth.assets.len()
            ),
            "{shape:?}"
        );
        // status: the same items, nothing "not sized" for files that are simply not there.
        let sizes = file_sizes(&client, &inv.assets).await;
        let st = library_status(&inv, &sizes, None, chrono::Utc::now()).unwrap();
        assert_eq!(st.library.files_not_sized, 0, "{shape:?}");
        let status = (st.library.items, st.icloud_only, st.original_missing);
        let (r, obs) = run_pull(&srv, inv.assets.clone(), config(&dest)).await;
        let s = r.unwrap();
        let selected = |f: &dyn Fn(&library::AssetTruth) -> bool| {
            truth.assets.iter().filter(|a| !a.trashed && f(a)).count() as u64
        };
        assert_eq!(s.icloud_only_failed, selected(&|a| a.icloud_only));
        assert_eq!(s.original_missing_failed, selected(&|a| a.original_missing));
        let mut failed: Vec<(String, bool, bool)> = obs
            .events()
            .into_iter()
            .filter_map(|e| match e {
                PullEvent::Failed {
                    device_path,
                    icloud_only,
                    original_missing,
                    ..
                } => Some((device_path, icloud_only, original_missing)),
                _ => None,
            })
            .collect();
        failed.sort();
        let ledger = Ledger::open(&dest).unwrap();
        let problems = Problems(Mutex::new(Vec::new()));
        let phone = check_phone(&ledger, UDID, &inv.assets, &problems).unwrap();
        assert_eq!(
            phone.at_risk, 0,
            "{shape:?}: everything copyable was copied"
        );
        let mut originals: Vec<(String, ProblemKind)> = problems
            .0
            .into_inner()
            .unwrap()
            .into_iter()
            .filter(|p| {
                truth
                    .assets
                    .iter()
                    .any(|a| a.original.path == p.device_path)
            })
            .map(|p| (p.device_path, p.kind))
            .collect();
        originals.sort_by(|a, b| a.0.cmp(&b.0));
        accounts.push((
            s.plan.icloud_only,
            s.plan.original_missing,
            failed,
            phone.icloud_only_items,
            phone.original_missing_items,
            originals,
            status,
        ));
    }
    assert_eq!(accounts[0], accounts[1]);
    assert!(accounts[0].4 > 0 && accounts[0].3 > 0);
}

/// A crash after a group's renames, before its ledger transaction: the rows are still pending.
/// Moves SMALL's row back there, as that crash leaves it.
fn make_pending(dest: &Path) -> iphone_import::import::ledger::Entry {
    let mut ledger = Ledger::open(dest).unwrap();
    let entry = ledger.lookup(UDID, SMALL).unwrap().expect("SMALL recorded");
    ledger
        .intend(std::slice::from_ref(&entry), "Test iPhone")
        .unwrap();
    assert!(ledger.forget(UDID, SMALL).unwrap());
    entry
}

/// The small tree pulled into `dest`, then SMALL's row made pending.
async fn pulled_then_pending() -> (
    tempfile::TempDir,
    Arc<AfcServer>,
    Vec<Asset>,
    iphone_import::import::ledger::Entry,
) {
    let tmp = tempfile::tempdir().unwrap();
    let (root, dest) = (tmp.path().join("phone"), tmp.path().join("dest"));
    let assets = small_tree(&root);
    let srv = server(&root, Faults::none());
    let (r, _) = run_pull(&srv, assets.clone(), config(&dest)).await;
    r.unwrap();
    let entry = make_pending(&dest);
    (tmp, srv, assets, entry)
}

#[tokio::test]
async fn a_file_renamed_but_not_recorded_is_adopted_without_reading_the_phone() {
    let (tmp, srv, assets, entry) = pulled_then_pending().await;
    let (root, dest) = (tmp.path().join("phone"), tmp.path().join("dest"));
    let at = dest.join(&entry.dest_path);
    let before = fs::metadata(&at).unwrap();
    let reads = requests(&srv, Opcode::FileRefRead);
    let opens = requests(&srv, Opcode::FileRefOpen);

    let (r, obs) = run_pull(&srv, assets, config(&dest)).await;
    let summary = r.unwrap();
    assert_eq!(summary.files_copied, 0, "{:?}", obs.copied());
    assert_eq!(requests(&srv, Opcode::FileRefRead), reads);
    assert_eq!(requests(&srv, Opcode::FileRefOpen), opens);
    let after = fs::metadata(&at).unwrap();
    assert_eq!((after.ino(), after.mtime()), (before.ino(), before.mtime()));
    let ledger = Ledger::open(&dest).unwrap();
    assert_eq!(
        ledger.lookup(UDID, SMALL).unwrap().unwrap().dest_path,
        entry.dest_path
    );
    assert!(ledger.pending().unwrap().is_empty());
    assert_same(&root, &dest, SMALL);
    assert_ledger_consistent(&dest, &[]);
}

#[tokio::test]
async fn a_pending_row_whose_file_changed_is_dropped_and_the_file_kept() {
    let (tmp, srv, assets, entry) = pulled_then_pending().await;
    let (root, dest) = (tmp.path().join("phone"), tmp.path().join("dest"));
    let at = dest.join(&entry.dest_path);
    // Same size, other bytes: not the file the group renamed there.
    let mut other = fs::read(&at).unwrap();
    other[0] ^= 0xff;
    fs::remove_file(&at).unwrap();
    fs::write(&at, &other).unwrap();

    let (r, obs) = run_pull(&srv, assets, config(&dest)).await;
    assert_eq!(r.unwrap().files_copied, 1, "{:?}", obs.copied());
    assert_eq!(fs::read(&at).unwrap(), other, "the changed file is kept");
    let ledger = Ledger::open(&dest).unwrap();
    let now = ledger.lookup(UDID, SMALL).unwrap().unwrap();
    assert_ne!(now.dest_path, entry.dest_path);
    assert!(now.dest_path.contains(" (1)"), "{}", now.dest_path);
    assert!(ledger.pending().unwrap().is_empty());
    assert_same(&root, &dest, SMALL);
}
