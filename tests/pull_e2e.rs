//! The pull engine end to end against the simulated phone's AFC server, in process: a
//! generated library (or a small hand-made tree for fault cases) served by `AfcServer`s, one
//! in-process connection per job.
//! (Cancelling, incremental runs and refusals: pull_runs.rs; the CLI and pending rows:
//! pull_cli_pending.rs.)

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iphone_import::afc::Opcode;
use iphone_import::import::layout::Layout;
use iphone_import::import::pull::{PullError, PullEvent};
use iphone_import::import::safe_write::SafeWriteError;
use iphone_import::mock::afcd::Faults;
use iphone_import::mock::library::{self};

mod media_builders;
mod pull_harness;
use media_builders::jpeg_with_exif;
use pull_harness::*;

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

/// The one temp file an interrupted run left in `dest`.
fn kept_temp(dest: &std::path::Path) -> std::path::PathBuf {
    let tmp_dir = dest.join(".iphone-import/tmp");
    fs::read_dir(&tmp_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
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
    let part = kept_temp(&dest);
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

/// A small file is read whole before its temp file is written: bytes kept from an interrupted
/// write of it are dropped and the file written anew, never spliced with the phone's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_files_kept_bytes_are_written_anew_not_resumed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    let mut assets = small_tree(&root);
    assets.reverse(); // the small file first: its write fails part way
    let srv = server(&root, Faults::none());
    let mut cfg = config(&dest);
    cfg.jobs = 1;
    cfg.fail_writes_after = Some(100_000);
    let (r, _) = run_pull(&srv, assets.clone(), cfg.clone()).await;
    assert!(matches!(r, Err(PullError::Write { .. })), "{r:?}");
    let part = kept_temp(&dest);
    // What reached the temp file before the failure, garbled as a power cut may leave it.
    assert_eq!(fs::metadata(&part).unwrap().len(), 100_000);
    fs::write(&part, vec![0u8; 100_000]).unwrap();

    cfg.fail_writes_after = None;
    let (r, obs) = run_pull(&srv, assets, cfg).await;
    let summary = r.unwrap();
    assert_eq!(summary.files_resumed, 0, "{:?}", obs.events());
    assert_same(&root, &dest, SMALL);
    assert_same(&root, &dest, BIG);
    assert_ledger_consistent(&dest, &[]);
    assert_eq!(srv.changing_ops(), 0);
}

/// An original's capture date comes from its own bytes on either copy path: a small file read
/// whole into memory, a large one streamed into its temp file. The phone's mtime (the fallback,
/// as the assets have no library date) would place both in 2024.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_originals_date_is_read_from_its_bytes_small_or_large() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    fs::create_dir_all(root.join("DCIM/100APPLE")).unwrap();
    let (small, large) = ("DCIM/100APPLE/IMG_0010.JPG", "DCIM/100APPLE/IMG_0011.JPG");
    fs::write(
        root.join(small),
        jpeg_with_exif("2019:05:04 10:00:00", Some("+00:00")),
    )
    .unwrap();
    let mut big = jpeg_with_exif("2017:08:09 12:00:00", Some("+00:00"));
    big.resize(2 * 1024 * 1024 + 7, 0xAB); // past the in-memory limit: streamed
    fs::write(root.join(large), big).unwrap();
    let phone_mtime = UNIX_EPOCH + Duration::from_secs(1_710_000_000); // March 2024
    for path in [small, large] {
        let f = fs::File::options()
            .write(true)
            .open(root.join(path))
            .unwrap();
        f.set_modified(phone_mtime).unwrap();
    }
    // The small tree's photo, as a template (its files go elsewhere).
    let template = small_tree(&tmp.path().join("unused")).pop().unwrap();
    let assets: Vec<_> = [small, large]
        .into_iter()
        .map(|path| {
            let mut a = template.clone();
            a.created = None;
            a.resources[0].device_path = path.into();
            a
        })
        .collect();
    let srv = server(&root, Faults::none());
    let mut cfg = config(&dest);
    cfg.layout = Layout::parse("{year}/{name}").unwrap();
    let (r, obs) = run_pull(&srv, assets, cfg).await;
    r.unwrap();
    for (path, at, year) in [
        (small, 1_556_964_000, "2019"),
        (large, 1_502_280_000, "2017"),
    ] {
        assert_eq!(
            dest_of(&dest, path).as_deref(),
            Some(format!("{year}/{}", path.rsplit('/').next().unwrap()).as_str()),
            "{:?}",
            obs.events()
        );
        assert_same(&root, &dest, path);
        let mtime = fs::metadata(dest.join(dest_of(&dest, path).unwrap()))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(mtime, SystemTime::UNIX_EPOCH + Duration::from_secs(at));
    }
    assert_ledger_consistent(&dest, &[]);
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
