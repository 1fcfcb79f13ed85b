//! Pull runs against the simulated phone in process, past the first copy: cancelling,
//! new photos only, hostile names, collisions at the target, dry runs, filters, files the
//! phone refuses, and a second run on the same DEST.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;

use iphone_import::afc::{AfcClient, AfcStatus, Opcode};
use iphone_import::import::filters::Filters;
use iphone_import::import::layout::Layout;
use iphone_import::import::pull::{AfcConnector, ConnectError, PullError, PullEvent, pull};
use iphone_import::library::{ScanOptions, scan, scan_dcim};
use iphone_import::mock::afcd::{FaultOn, Faults, PathFault};
use iphone_import::mock::library::{self};
use tokio_util::sync::CancellationToken;

mod pull_harness;
use pull_harness::*;

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
        .find(|a| a.stem() == "IMG_0002")
        .unwrap()
        .clone();
    let mut hostile_path = good.clone();
    hostile_path.resources[0].device_path = format!("DCIM/100APPLE/{}", hostile[0]);
    let mut climbing = good;
    // An original named `...JPG` has the stem `..`.
    climbing.resources[0].device_path = "DCIM/100APPLE/...JPG".into();
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

/// A phone that starts at most `left` more file-service connections, then refuses, as a phone
/// with a limit on a service's instances does.
struct Rationed {
    server: Arc<iphone_import::mock::afcd::AfcServer>,
    left: AtomicUsize,
}

impl AfcConnector for Rationed {
    fn connect(&self) -> BoxFuture<'_, Result<AfcClient, ConnectError>> {
        Box::pin(async move {
            match self
                .left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            {
                Ok(_) => Ok(AfcClient::new(self.server.connect_in_process())),
                Err(_) => Err("StartService com.apple.afc: service limit reached".into()),
            }
        })
    }
}

async fn pull_rationed(
    server: &Arc<iphone_import::mock::afcd::AfcServer>,
    assets: Vec<iphone_import::library::Asset>,
    cfg: iphone_import::import::pull::PullConfig,
    connections: usize,
) -> Result<iphone_import::import::pull::Summary, PullError> {
    let connector = Arc::new(Rationed {
        server: server.clone(),
        left: AtomicUsize::new(connections),
    });
    let obs = Arc::new(Collect::default());
    let run = pull(
        connector,
        device(),
        assets,
        cfg,
        obs,
        CancellationToken::new(),
    );
    tokio::time::timeout(LIMIT, run).await.expect("pull hung")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_that_opens_fewer_connections_than_jobs_is_still_copied_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    let truth = demo_library(&root);
    let srv = server(&root, Faults::none());
    let mut cfg = config(&dest);
    cfg.jobs = 6;
    // Two connections: the plan's stats and one more; four workers are refused.
    let summary = pull_rationed(&srv, assets_from_truth(&truth), cfg, 2)
        .await
        .unwrap();
    let on_phone = |a: &&library::AssetTruth| !a.trashed && !a.icloud_only && !a.original_missing;
    let mut originals = 0;
    for a in truth.assets.iter().filter(on_phone) {
        assert_same(&root, &dest, &a.original.path);
        originals += 1;
    }
    assert!(originals > 0);
    assert_eq!(
        summary.files_failed,
        summary.icloud_only_failed + summary.original_missing_failed
    );
    assert_ledger_consistent(&dest, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_that_opens_no_connection_fails_the_run_with_why() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    let mut assets = small_tree(&root);
    // Sizes and mtimes known: the plan stats nothing, so every worker asks for a connection.
    for a in &mut assets {
        let r = &mut a.resources[0];
        let meta = fs::metadata(root.join(&r.device_path)).unwrap();
        r.size = Some(meta.len());
        r.mtime_ns = Some(meta.mtime() as u64 * 1_000_000_000);
    }
    let srv = server(&root, Faults::none());
    let mut cfg = config(&dest);
    cfg.jobs = 3;
    let err = pull_rationed(&srv, assets, cfg, 0).await.unwrap_err();
    assert!(matches!(err, PullError::Connect(_)), "{err:?}");
    assert!(err.to_string().contains("service limit reached"), "{err}");
    assert_eq!(dest_of(&dest, SMALL), None);
}
