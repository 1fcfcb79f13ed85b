//! A pull planned in many chunks while the first ones are copied: it copies, names and counts
//! what a plan in one piece does, copying starts before planning ends, and a re-run or a dry
//! run in chunks sees what one chunk sees.

use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use iphone_import::afc::AfcClient;
use iphone_import::import::layout::Layout;
use iphone_import::import::pull::{AfcConnector, ConnectError, Observer, PullEvent, pull};
use iphone_import::library::{Asset, ScanOptions, scan_dcim};
use iphone_import::mock::afcd::{AfcServer, Faults};
use tokio_util::sync::CancellationToken;

mod pull_harness;
use pull_harness::*;

/// Files on the phone: two folders before the IMG numbers wrapped, one after, so `IMG_0001`
/// to `IMG_0003` are in `100APPLE` and in `110APPLE`; Live Photo videos beside some.
fn wrapped_tree(root: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    for (folder, numbers) in [
        ("100APPLE", 1..=6),
        ("101APPLE", 7..=9),
        ("110APPLE", 1..=3),
    ] {
        fs::create_dir_all(root.join("DCIM").join(folder)).unwrap();
        for n in numbers {
            let mut names = vec![format!("IMG_{n:04}.HEIC")];
            if n % 3 == 0 {
                names.push(format!("IMG_{n:04}.MOV"));
            }
            for name in names {
                let path = format!("DCIM/{folder}/{name}");
                let seed = files.len() as u64 + 10;
                fs::write(root.join(&path), random_bytes(seed, 20_000 + 997 * n)).unwrap();
                files.push(path);
            }
        }
    }
    files
}

/// Counts the connections a run opens.
struct Counted(Inproc, AtomicUsize);

impl AfcConnector for Counted {
    fn connect(&self) -> BoxFuture<'_, Result<AfcClient, ConnectError>> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.connect()
    }
}

/// The phone's assets as `pull` would be given them without a photo library.
async fn list(srv: &Arc<AfcServer>) -> Vec<Asset> {
    let client = AfcClient::new(srv.connect_in_process());
    scan_dcim(&client, &ScanOptions::default()).await.unwrap()
}

/// The events in order, and whether the phone's bytes had started to arrive at each.
#[derive(Default)]
struct Log {
    events: Mutex<Vec<(bool, PullEvent)>>,
    bytes: Mutex<u64>,
}

impl Observer for Log {
    fn event(&self, event: &PullEvent) {
        let started = *self.bytes.lock().unwrap() > 0;
        self.events.lock().unwrap().push((started, event.clone()));
    }
    fn bytes(&self, n: u64) {
        *self.bytes.lock().unwrap() += n;
    }
}

async fn run(
    srv: &Arc<AfcServer>,
    assets: Vec<Asset>,
    dest: &std::path::Path,
    chunk: usize,
    dry_run: bool,
) -> (iphone_import::import::pull::Summary, Vec<(bool, PullEvent)>) {
    let mut cfg = config(dest);
    cfg.layout = Layout::parse("{name}").unwrap();
    cfg.plan_chunk = chunk;
    cfg.jobs = 3;
    cfg.dry_run = dry_run;
    let log = Arc::new(Log::default());
    let connector = Arc::new(Counted(Inproc(srv.clone()), AtomicUsize::new(0)));
    let summary = tokio::time::timeout(
        LIMIT,
        pull(
            connector.clone(),
            device(),
            assets,
            cfg,
            log.clone(),
            CancellationToken::new(),
        ),
    )
    .await
    .expect("pull hung")
    .unwrap();
    let connections = connector.1.load(Ordering::SeqCst);
    assert!(connections <= 3, "{connections} connections with --jobs 3");
    let events = log.events.lock().unwrap().clone();
    (summary, events)
}

fn plans(events: &[(bool, PullEvent)]) -> (Vec<usize>, Vec<usize>) {
    let (mut planning, mut plan) = (Vec::new(), Vec::new());
    for (i, (_, e)) in events.iter().enumerate() {
        match e {
            PullEvent::Planning(_) => planning.push(i),
            PullEvent::Plan(_) => plan.push(i),
            _ => {}
        }
    }
    (planning, plan)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_in_chunks_copies_and_names_what_one_plan_does() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let files = wrapped_tree(&root);
    let srv = server(&root, Faults::none());
    let (whole, chunked) = (tmp.path().join("whole"), tmp.path().join("chunked"));
    let (one, one_events) = run(&srv, list(&srv).await, &whole, 10_000, false).await;
    let (many, events) = run(&srv, list(&srv).await, &chunked, 1, false).await;

    assert_eq!(one.files_copied, files.len() as u64);
    assert_eq!(many.files_copied, one.files_copied);
    assert_eq!(many.plan, one.plan);
    for f in &files {
        assert_same(&root, &chunked, f);
        assert_eq!(dest_of(&chunked, f), dest_of(&whole, f), "{f}");
    }
    // The earlier folder keeps the plain name in both, whatever the chunks.
    assert_eq!(
        dest_of(&chunked, "DCIM/100APPLE/IMG_0001.HEIC").unwrap(),
        "IMG_0001.HEIC"
    );
    assert_eq!(
        dest_of(&chunked, "DCIM/110APPLE/IMG_0001.HEIC").unwrap(),
        "IMG_0001 (1).HEIC"
    );
    assert_ledger_consistent(&chunked, &[]);

    // One plan in one piece: its totals come first. In chunks: the counts so far after
    // each chunk (9 stems, so 9 chunks of one), then the totals, once, last.
    let (planning, plan) = plans(&one_events);
    assert!(planning.is_empty());
    assert_eq!(plan, vec![0]);
    let (planning, plan) = plans(&events);
    assert_eq!(planning.len(), 8);
    assert_eq!(plan.len(), 1);
    assert!(planning.iter().all(|&i| i < plan[0]));
    let counted: Vec<u64> = planning
        .iter()
        .map(|&i| match &events[i].1 {
            PullEvent::Planning(p) => p.files_to_copy,
            _ => unreachable!(),
        })
        .collect();
    assert!(counted.windows(2).all(|w| w[0] < w[1]), "{counted:?}");
    assert!(*counted.last().unwrap() < many.plan.files_to_copy);
    // The copy began before the plan was done.
    assert!(
        events[plan[0]].0,
        "no bytes had arrived when planning ended"
    );

    // A re-run in chunks copies nothing and counts every file as imported.
    let (again, _) = run(&srv, list(&srv).await, &chunked, 1, false).await;
    assert_eq!(again.files_copied, 0);
    assert_eq!(again.plan.already_imported, files.len() as u64);
    assert_eq!(srv.changing_ops(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_in_chunks_lists_what_one_plan_would_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let files = wrapped_tree(&root);
    let srv = server(&root, Faults::none());
    let dest = tmp.path().join("dest");
    let would = |events: &[(bool, PullEvent)]| {
        let mut paths: Vec<String> = events
            .iter()
            .filter_map(|(_, e)| match e {
                PullEvent::WouldCopy { device_path, .. } => Some(device_path.clone()),
                _ => None,
            })
            .collect();
        paths.sort();
        paths
    };
    let (one, one_events) = run(&srv, list(&srv).await, &dest, 10_000, true).await;
    let (many, events) = run(&srv, list(&srv).await, &dest, 2, true).await;
    let mut expected = files.clone();
    expected.sort();
    assert_eq!(would(&one_events), expected);
    assert_eq!(would(&events), expected);
    assert_eq!(many.plan, one.plan);
    assert!(!dest.exists(), "a dry run created DEST");
}

/// Panics at the second `planning` event: a bug in the worker holding the turn to plan.
#[derive(Default)]
struct PanicsAtSecondChunk(Mutex<usize>);

impl Observer for PanicsAtSecondChunk {
    fn event(&self, event: &PullEvent) {
        if matches!(event, PullEvent::Planning(_)) {
            let mut seen = self.0.lock().unwrap();
            *seen += 1;
            if *seen == 2 {
                drop(seen);
                panic!("test: an observer bug while planning");
            }
        }
    }
    fn bytes(&self, _: u64) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_panics_holding_the_turn_to_plan_fails_the_run_without_a_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    wrapped_tree(&root);
    let srv = server(&root, Faults::none());
    let mut cfg = config(&tmp.path().join("dest"));
    cfg.plan_chunk = 1;
    cfg.jobs = 3;
    let connector = Arc::new(Inproc(srv.clone()));
    let run = pull(
        connector,
        device(),
        list(&srv).await,
        cfg,
        Arc::new(PanicsAtSecondChunk::default()),
        CancellationToken::new(),
    );
    // The other worker waits for the turn the panicking one held; the run must still end.
    let err = tokio::time::timeout(LIMIT, run)
        .await
        .expect("the run hung after a worker panicked")
        .unwrap_err();
    assert!(
        matches!(err, iphone_import::import::pull::PullError::Internal(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("stopped with a bug"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_with_no_photos_still_gets_a_plan_of_zeros() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    fs::create_dir_all(root.join("DCIM")).unwrap();
    let srv = server(&root, Faults::none());
    let (summary, events) = run(&srv, Vec::new(), &tmp.path().join("dest"), 1, false).await;
    assert_eq!(summary.files_copied, 0);
    let plans: Vec<_> = events
        .iter()
        .filter_map(|(_, e)| match e {
            PullEvent::Plan(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(plans, vec![summary.plan.clone()]);
    assert_eq!(summary.plan.assets, 0);
}
