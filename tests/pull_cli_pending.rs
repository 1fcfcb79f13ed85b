//! `pull` through its CLI arguments, optimised originals (listed or removed), and rows a
//! crash left pending between the rename and the ledger.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use iphone_import::afc::{AfcClient, Opcode};
use iphone_import::import::backup_figures::{file_sizes, library_status};
use iphone_import::import::layout::DEFAULT_LAYOUT;
use iphone_import::import::ledger::Ledger;
use iphone_import::import::pull::{AfcConnector, PullEvent};
use iphone_import::import::verify::{Problem, ProblemKind, VerifyObserver, check_phone};
use iphone_import::library::{Asset, InventoryOptions, inventory};
use iphone_import::mock::afcd::{AfcServer, Faults};
use iphone_import::mock::library::{self, LibraryOptions, OptimisedShape};
use tokio_util::sync::CancellationToken;

mod pull_harness;
use pull_harness::*;

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
