//! Odd files real phones hold (`LibraryOptions::odd`, docs/testing.md), end to end: the
//! generator writes them, the library inventory (listings + Photos.sqlite) finds them, `pull`
//! copies them over the in-process AFC server with Live Photo halves together, same-named files
//! from different folders under stable names, and a re-run that changes nothing.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use iphone_import::afc::{AfcClient, AfcStatus};
use iphone_import::import::dates::{DateSource, embedded_date};
use iphone_import::import::layout::{DEFAULT_LAYOUT, Layout};
use iphone_import::import::ledger::Ledger;
use iphone_import::import::pull::{
    AfcConnector, ConnectError, Observer, PullConfig, PullDevice, PullEvent, Summary, pull,
};
use iphone_import::library::{Asset, InventoryOptions, inventory};
use iphone_import::mock::afcd::{AfcServer, FaultOn, Faults, PathFault};
use iphone_import::mock::library::{
    self, AssetTruth, LibraryOptions, LibraryTruth, OddFiles, OddKind,
};
use iphone_import::mock::profile::Profile;
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
struct Collect(Mutex<Vec<PullEvent>>);

impl Observer for Collect {
    fn event(&self, event: &PullEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

struct Phone {
    tmp: tempfile::TempDir,
    root: PathBuf,
    truth: LibraryTruth,
    server: Arc<AfcServer>,
}

impl Phone {
    fn new() -> Phone {
        Phone::with_faults(Faults::none())
    }

    fn with_faults(faults: Faults) -> Phone {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("phone");
        let opts = LibraryOptions {
            odd: OddFiles::all(),
            ..LibraryOptions::demo()
        };
        let truth = library::generate(&root, &opts).unwrap();
        let server = AfcServer::new(root.clone(), Profile::none(), faults).unwrap();
        Phone {
            tmp,
            root,
            truth,
            server,
        }
    }

    fn odd(&self, kind: OddKind) -> Vec<(&AssetTruth, Option<&AssetTruth>)> {
        self.truth
            .odd_files
            .iter()
            .filter(|o| o.kind == kind)
            .map(|o| {
                let a = self.truth.asset(&o.uuid).unwrap();
                (
                    a,
                    o.same_name_as
                        .as_deref()
                        .map(|u| self.truth.asset(u).unwrap()),
                )
            })
            .collect()
    }

    /// The assets as `pull` gets them: listings + Photos.sqlite.
    async fn assets(&self) -> Vec<Asset> {
        let client = AfcClient::new(self.server.connect_in_process());
        let opts = InventoryOptions {
            cache_dir: Some(self.tmp.path().join("cache")),
            ..InventoryOptions::default()
        };
        tokio::time::timeout(LIMIT, inventory(&client, &opts))
            .await
            .unwrap()
            .unwrap()
            .assets
    }

    async fn pull(&self, assets: Vec<Asset>, dest: &Path, layout: &str, jobs: usize) -> Summary {
        let (summary, failed) = self.pull_failing(assets, dest, layout, jobs).await;
        assert!(failed.is_empty(), "{failed:?}");
        summary
    }

    /// Pulls and returns the summary and the device paths that failed (originals not on the phone,
    /// iCloud-only or missing, excepted).
    async fn pull_failing(
        &self,
        assets: Vec<Asset>,
        dest: &Path,
        layout: &str,
        jobs: usize,
    ) -> (Summary, Vec<String>) {
        let cfg = PullConfig {
            dest: dest.to_path_buf(),
            layout: Layout::parse(layout).unwrap(),
            filters: Default::default(),
            jobs,
            edited: false,
            dry_run: false,
            command_line: "pull test".into(),
            xmp: None,
            also_jpeg: None,
            plan_chunk: iphone_import::import::pull::PLAN_CHUNK,
            fail_writes_after: None,
        };
        let device = PullDevice {
            udid: UDID.into(),
            name: "Test iPhone".into(),
        };
        let obs = Arc::new(Collect::default());
        let connector = Arc::new(Inproc(self.server.clone()));
        let run = pull(
            connector,
            device,
            assets,
            cfg,
            obs.clone(),
            CancellationToken::new(),
        );
        let summary = tokio::time::timeout(LIMIT, run).await.unwrap().unwrap();
        let failed = obs
            .0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                PullEvent::Failed {
                    device_path,
                    icloud_only: false,
                    original_missing: false,
                    ..
                } => Some(device_path.clone()),
                _ => None,
            })
            .collect();
        (summary, failed)
    }
}

fn dest_of(dest: &Path, device_path: &str) -> String {
    Ledger::open(dest)
        .unwrap()
        .lookup(UDID, device_path)
        .unwrap()
        .unwrap_or_else(|| panic!("{device_path} not imported"))
        .dest_path
}

/// `2025/06/IMG_0001 (1).HEIC` → (`2025/06`, `IMG_0001 (1)`).
fn folder_and_stem(path: &str) -> (&str, &str) {
    let (folder, name) = path.rsplit_once('/').unwrap_or(("", path));
    (folder, name.rsplit_once('.').map_or(name, |(s, _)| s))
}

/// Every file under DEST outside the state folder, with (inode, mtime ns).
fn snapshot(dest: &Path) -> BTreeMap<PathBuf, (u64, i64, i64)> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, (u64, i64, i64)>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.strip_prefix(root).unwrap() == Path::new(".iphone-import") {
                continue;
            }
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                walk(&p, root, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, (m.ino(), m.mtime(), m.mtime_nsec()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dest, dest, &mut out);
    out
}

#[test]
fn the_generator_writes_every_odd_shape_and_records_it() {
    let phone = Phone::new();
    let root = &phone.root;
    for kind in [
        OddKind::HeicJpeg,
        OddKind::MovWideFirst,
        OddKind::Imprt,
        OddKind::ImgWrap,
        OddKind::FullSizeRender,
        OddKind::CplAssets,
    ] {
        assert!(!phone.odd(kind).is_empty(), "{kind:?} missing from truth");
    }
    for (a, _) in phone.odd(OddKind::CplAssets) {
        assert!(
            a.directory.starts_with("PhotoData/CPLAssets/group"),
            "{a:?}"
        );
        assert!(a.filename.starts_with(&a.uuid));
        assert!(root.join(&a.original.path).is_file());
    }
    for (a, _) in phone.odd(OddKind::Imprt) {
        assert_eq!(a.directory, "DCIM/100IMPRT");
        assert!(root.join(&a.original.path).is_file());
    }
    for (a, first) in phone.odd(OddKind::ImgWrap) {
        let first = first.unwrap();
        assert_eq!(a.filename, first.filename);
        assert_ne!(a.directory, first.directory);
        assert_eq!(
            &a.capture.local[..7],
            &first.capture.local[..7],
            "same month"
        );
    }
    let renders = phone.odd(OddKind::FullSizeRender);
    assert_eq!(renders.len(), 2);
    for (a, _) in &renders {
        assert_eq!(a.filename, "FullSizeRender.heic");
        assert!(
            a.live_video
                .as_ref()
                .unwrap()
                .path
                .ends_with("/FullSizeRender.mov")
        );
    }
    for (a, _) in phone.odd(OddKind::HeicJpeg) {
        assert!(a.filename.ends_with(".HEIC"));
        let bytes = fs::read(root.join(&a.original.path)).unwrap();
        assert_eq!(&bytes[..2], &[0xFF, 0xD8], "JPEG bytes");
    }
    for (a, _) in phone.odd(OddKind::MovWideFirst) {
        let mov = a.live_video.as_ref().unwrap_or(&a.original);
        let bytes = fs::read(root.join(&mov.path)).unwrap();
        assert_eq!(&bytes[4..8], b"wide");
        assert_eq!(&bytes[12..16], b"mdat");
    }
    // Only DCIM files count as DCIM files.
    assert!(phone.truth.counts.dcim_files < phone.truth.media_files().len());
}

#[test]
fn dates_come_from_the_content_of_odd_files() {
    let phone = Phone::new();
    for (kind, want) in [
        (OddKind::HeicJpeg, DateSource::Exif),
        (OddKind::MovWideFirst, DateSource::QuickTimeCreationDate),
    ] {
        for (a, _) in phone.odd(kind) {
            let path = match kind {
                OddKind::MovWideFirst => &a.live_video.as_ref().unwrap_or(&a.original).path,
                _ => &a.original.path,
            };
            let mut f = fs::File::open(phone.root.join(path)).unwrap();
            let d = embedded_date(&mut f).unwrap_or_else(|| panic!("no date in {path}"));
            assert_eq!(d.source, want, "{path}");
            assert_eq!(d.at.timestamp(), a.capture.unix, "{path}");
            assert_eq!(d.at.offset().local_minus_utc(), a.capture.offset_secs);
        }
    }
}

/// Pulls with `layout`, from the inventory's assets in reverse order (so a copy order that
/// followed the input would give the later folder the plain name), and checks the odd files.
async fn pull_and_check(layout: &str, jobs: usize, same_folder: bool) {
    let phone = Phone::new();
    let dest = phone.tmp.path().join("dest");
    let mut assets = phone.assets().await;
    for (a, _) in phone.odd(OddKind::CplAssets) {
        let found = assets.iter().find(|x| x.uuid.as_deref() == Some(&a.uuid));
        let found = found.expect("CPLAssets original matched to its Photos.sqlite row");
        assert_eq!(found.folder(), a.directory);
    }
    assets.reverse();
    let summary = phone.pull(assets.clone(), &dest, layout, jobs).await;
    assert!(summary.files_copied > 0);

    // Everything odd is imported, byte for byte, its Live Photo video beside it.
    for o in &phone.truth.odd_files {
        let a = phone.truth.asset(&o.uuid).unwrap();
        let at = dest_of(&dest, &a.original.path);
        assert_eq!(
            fs::read(dest.join(&at)).unwrap(),
            fs::read(phone.root.join(&a.original.path)).unwrap(),
            "{at}"
        );
        let mtime = fs::metadata(dest.join(&at)).unwrap().mtime();
        assert_eq!(mtime, a.capture.unix, "{at}: capture date");
        if let Some(v) = &a.live_video {
            let video = dest_of(&dest, &v.path);
            assert_eq!(
                folder_and_stem(&video),
                folder_and_stem(&at),
                "{video} vs {at}"
            );
        }
    }
    // HEIC that is JPEG inside keeps its name.
    for (a, _) in phone.odd(OddKind::HeicJpeg) {
        assert!(dest_of(&dest, &a.original.path).ends_with(".HEIC"));
    }
    // Same names from two folders: the earlier folder keeps the plain name.
    let pairs: Vec<_> = phone
        .odd(OddKind::ImgWrap)
        .into_iter()
        .chain(phone.odd(OddKind::FullSizeRender))
        .filter_map(|(later, first)| Some((first?, later)))
        .collect();
    assert!(pairs.len() >= 2);
    for (first, later) in pairs {
        let (a, b) = (
            dest_of(&dest, &first.original.path),
            dest_of(&dest, &later.original.path),
        );
        let stem = first.filename.rsplit_once('.').unwrap().0;
        assert_eq!(folder_and_stem(&a).1, stem, "{a}");
        if same_folder {
            assert_eq!(folder_and_stem(&b).1, format!("{stem} (1)"), "{b}");
        } else {
            assert_eq!(folder_and_stem(&b).1, stem, "{b}");
            assert_ne!(a, b);
        }
    }

    // A re-run copies nothing and renames nothing.
    let before = snapshot(&dest);
    let again = phone.pull(assets, &dest, layout, jobs).await;
    assert_eq!(again.files_copied, 0);
    assert_eq!(again.files_renamed, 0);
    assert_eq!(snapshot(&dest), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_files_pull_under_the_date_layout() {
    pull_and_check(DEFAULT_LAYOUT, 4, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_files_pull_flat_with_one_job_in_reverse_order() {
    pull_and_check("{name}", 1, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_files_pull_by_camera_folder_without_suffixes() {
    pull_and_check("{dcim_folder}/{name}", 4, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpl_assets_are_found_from_photos_sqlite_when_their_root_is_not_listed() {
    // The phone refuses to list PhotoData/CPLAssets itself; its group folders are readable.
    let phone = Phone::with_faults(Faults {
        fail_paths: vec![PathFault {
            path: "PhotoData/CPLAssets".into(),
            status: AfcStatus::PermDenied,
            on: FaultOn::Any,
        }],
        ..Faults::none()
    });
    let cpl = phone.odd(OddKind::CplAssets);
    assert!(!cpl.is_empty());
    let assets = phone.assets().await;
    for (a, _) in &cpl {
        assert!(
            assets.iter().any(|x| x.uuid.as_deref() == Some(&a.uuid)),
            "{} not found",
            a.original.path
        );
    }
    let dest = phone.tmp.path().join("dest");
    phone.pull(assets, &dest, DEFAULT_LAYOUT, 2).await;
    for (a, _) in cpl {
        for f in std::iter::once(&a.original).chain(a.live_video.as_ref()) {
            let at = dest_of(&dest, &f.path);
            assert_eq!(
                fs::read(dest.join(&at)).unwrap(),
                fs::read(phone.root.join(&f.path)).unwrap(),
                "{at}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_refused_with_a_status_this_tool_does_not_know_costs_that_file_only() {
    // Whatever code a phone answers for a file it will not open (a hard-linked file, say: no
    // public source names that code), the file is reported and the rest is imported.
    let tmp = Phone::new();
    let victim = tmp.odd(OddKind::Imprt)[0].0.original.path.clone();
    drop(tmp);
    let phone = Phone::with_faults(Faults {
        fail_paths: vec![PathFault {
            path: victim.clone(),
            status: AfcStatus::from_code(0x1234),
            on: FaultOn::Open,
        }],
        ..Faults::none()
    });
    let dest = phone.tmp.path().join("dest");
    let assets = phone.assets().await;
    let (summary, failed) = phone.pull_failing(assets, &dest, DEFAULT_LAYOUT, 2).await;
    assert_eq!(failed, vec![victim.clone()]);
    assert!(summary.is_partial());
    assert_eq!(
        summary.icloud_only_failed + summary.original_missing_failed + 1,
        summary.files_failed
    );
    for o in &phone.truth.odd_files {
        let a = phone.truth.asset(&o.uuid).unwrap();
        if a.original.path != victim {
            dest_of(&dest, &a.original.path);
        }
    }
}
