//! A hostile simulated phone against scan + pull: names that are not UTF-8 or carry control
//! and bidi characters, garbage and absurd file sizes, short reads. One bad item costs that
//! item (reported, escaped and shortened), never the run.

use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use futures::future::BoxFuture;
use iphone_import::afc::AfcClient;
use iphone_import::cli::args::PullArgs;
use iphone_import::cli::exit;
use iphone_import::cli::pull::{RunOptions, run_with_options};
use iphone_import::import::filters::Filters;
use iphone_import::import::layout::{DEFAULT_LAYOUT, Layout};
use iphone_import::import::pull::{
    AfcConnector, ConnectError, Observer, PullConfig, PullDevice, PullEvent, pull,
};
use iphone_import::library::{InventoryOptions, ScanOptions, inventory, scan};
use iphone_import::mock::afcd::{AfcServer, Faults};
use iphone_import::mock::profile::Profile;
use tokio_util::sync::CancellationToken;

const LIMIT: Duration = Duration::from_secs(120);
const FOLDER: &str = "DCIM/100APPLE";

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

/// IMG_0001..=IMG_0005.JPG of `len` bytes each.
fn five_photos(root: &Path, len: usize) {
    fs::create_dir_all(root.join(FOLDER)).unwrap();
    for i in 1..=5u8 {
        let data: Vec<u8> = (0..len).map(|j| (j as u8).wrapping_mul(i)).collect();
        fs::write(root.join(format!("{FOLDER}/IMG_000{i}.JPG")), data).unwrap();
    }
}

fn config(dest: &Path) -> PullConfig {
    PullConfig {
        dest: dest.to_path_buf(),
        layout: Layout::parse(DEFAULT_LAYOUT).unwrap(),
        filters: Filters::default(),
        jobs: 2,
        edited: false,
        dry_run: false,
        command_line: "pull test".into(),
        xmp: None,
        also_jpeg: None,
        plan_chunk: iphone_import::import::pull::PLAN_CHUNK,
        fail_writes_after: None,
    }
}

fn hostile_names() -> Vec<(String, Vec<u8>)> {
    let names: Vec<Vec<u8>> = vec![
        b"IMG_\xff\xfe.JPG".to_vec(),
        b"IMG\x1b[31m\nforged line.JPG".to_vec(),
        "IMG_\u{202e}GPJ.exe".as_bytes().to_vec(),
        format!("IMG_{}.JPG", "x".repeat(10_000)).into_bytes(),
        b"._IMG_0001.JPG".to_vec(),
    ];
    names.into_iter().map(|n| (FOLDER.to_string(), n)).collect()
}

#[tokio::test]
async fn hostile_names_cost_only_themselves_and_are_reported_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    five_photos(tmp.path(), 1000);
    let faults = Faults {
        extra_names: hostile_names(),
        ..Faults::default()
    };
    let srv = AfcServer::new(tmp.path().to_path_buf(), Profile::none(), faults).unwrap();
    let afc = AfcClient::new(srv.connect_in_process());
    let found = tokio::time::timeout(LIMIT, scan(&afc, &ScanOptions::default()))
        .await
        .unwrap()
        .expect("one bad name does not stop the scan");
    assert_eq!(found.assets.len(), 5);
    assert_eq!(found.hostile_names, 4, "{:#?}", found.warnings);
    assert_eq!(found.warnings.len(), 5, "{:#?}", found.warnings);
    for w in &found.warnings {
        assert!(
            !w.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "unescaped: {w:?}"
        );
        assert!(w.len() < 300, "not shortened: {} bytes", w.len());
    }
    assert!(found.warnings.iter().any(|w| w.contains("not valid UTF-8")));
    assert!(found.warnings.iter().any(|w| w.contains("hidden name")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_absurd_sizes_fail_their_items_and_the_rest_is_copied() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    five_photos(&root, 300_000);
    let huge = (1u64 << 63).to_string();
    let faults = Faults {
        st_size_of: vec![
            (format!("{FOLDER}/IMG_0001.JPG"), "abc".into()),
            (format!("{FOLDER}/IMG_0002.JPG"), huge.clone()),
            (format!("{FOLDER}/IMG_0003.JPG"), huge),
        ],
        // And a phone that returns at most 64 KiB per read.
        max_read_reply: Some(64 * 1024),
        ..Faults::default()
    };
    let srv = AfcServer::new(root.clone(), Profile::none(), faults).unwrap();
    let afc = AfcClient::new(srv.connect_in_process());
    let assets = scan(&afc, &ScanOptions::default()).await.unwrap().assets;
    assert_eq!(assets.len(), 5);
    let obs = Arc::new(Collect::default());
    let device = PullDevice {
        udid: "00008030-001A2B3C4D5E802E".into(),
        name: "Test iPhone".into(),
    };
    let run = pull(
        Arc::new(Inproc(srv.clone())),
        device,
        assets,
        config(&dest),
        obs.clone(),
        CancellationToken::new(),
    );
    let summary = tokio::time::timeout(LIMIT, run)
        .await
        .unwrap()
        .expect("bad file info is a per-item failure, not a lost phone");
    assert_eq!(summary.files_copied, 2);
    assert_eq!(summary.files_failed, 3);
    assert!(summary.is_partial());
    assert_eq!(summary.plan.bytes_to_copy, u64::MAX, "the total saturates");
    let failed: Vec<String> = obs
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            PullEvent::Failed { device_path, .. } => Some(device_path.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert_eq!(srv.changing_ops(), 0);
}

#[tokio::test]
async fn a_folder_of_100000_entries_is_scanned() {
    let tmp = tempfile::tempdir().unwrap();
    five_photos(tmp.path(), 10);
    // 99,995 more names (listed, never opened): 100,000 in all, the per-folder limit.
    let extra = (10_000..109_995u32)
        .map(|i| (FOLDER.to_string(), format!("IMG_{i}.JPG").into_bytes()))
        .collect();
    let faults = Faults {
        extra_names: extra,
        ..Faults::default()
    };
    let srv = AfcServer::new(tmp.path().to_path_buf(), Profile::none(), faults).unwrap();
    let afc = AfcClient::new(srv.connect_in_process());
    let found = tokio::time::timeout(LIMIT, scan(&afc, &ScanOptions::default()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.assets.len(), 100_000);
    assert!(found.warnings.is_empty(), "{:?}", &found.warnings[..1]);
}

#[derive(Parser)]
struct Cmd {
    #[command(flatten)]
    args: PullArgs,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_with_an_unsafe_name_on_the_phone_exits_partial() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let dest = tmp.path().join("dest");
    five_photos(&root, 1000);
    let faults = Faults {
        extra_names: vec![(FOLDER.to_string(), b"IMG_\xff.JPG".to_vec())],
        ..Faults::default()
    };
    let srv = AfcServer::new(root, Profile::none(), faults).unwrap();
    let device = PullDevice {
        udid: "00008030-001A2B3C4D5E802E".into(),
        name: "Test iPhone".into(),
    };
    let dest_arg = dest.to_string_lossy().into_owned();
    let args = Cmd::try_parse_from(["pull", dest_arg.as_str()])
        .unwrap()
        .args;
    let run = run_with_options(
        Arc::new(Inproc(srv.clone())),
        &device,
        &args,
        RunOptions {
            assets: None,
            cache_dir: None,
            cancel: CancellationToken::new(),
            quiet: true,
        },
    );
    let code = tokio::time::timeout(LIMIT, run).await.unwrap().unwrap();
    assert_eq!(
        code,
        exit::PARTIAL,
        "the skipped name makes the run partial"
    );
    let copied = walk_files(&dest);
    assert_eq!(copied, 5, "the five good photos are copied");
}

/// Regular files under `dir`, outside the importer's state folder.
fn walk_files(dir: &Path) -> usize {
    let mut n = 0;
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            n += walk_files(&entry.path());
        } else {
            n += 1;
        }
    }
    n
}

/// A binary plist of `depth` nested one-element arrays (2-byte refs, 4-byte offsets).
fn deep_bplist(depth: u16) -> Vec<u8> {
    let mut out = b"bplist00".to_vec();
    let mut offsets = Vec::new();
    for i in 0..depth {
        offsets.push(out.len() as u32);
        if i + 1 < depth {
            out.push(0xa1);
            out.extend_from_slice(&(i + 1).to_be_bytes());
        } else {
            out.push(0xa0);
        }
    }
    let table = out.len() as u64;
    for o in offsets {
        out.extend_from_slice(&o.to_be_bytes());
    }
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0, 4, 2]);
    out.extend_from_slice(&u64::from(depth).to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&table.to_be_bytes());
    out
}

#[tokio::test]
async fn a_photos_sqlite_metadata_plist_20000_deep_is_ignored() {
    use iphone_import::mock::library::{self, LibraryOptions, PHOTOS_DB};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("media");
    let truth = library::generate(&root, &LibraryOptions::demo()).unwrap();
    let db = rusqlite::Connection::open(root.join(PHOTOS_DB)).unwrap();
    db.execute("UPDATE Z_METADATA SET Z_PLIST = ?1", [deep_bplist(20_000)])
        .unwrap();
    drop(db);
    let srv = AfcServer::new(root, Profile::none(), Faults::default()).unwrap();
    let afc = AfcClient::new(srv.connect_in_process());
    let opts = InventoryOptions {
        scan: ScanOptions::default(),
        cache_dir: Some(tmp.path().join("cache")),
        edited: false,
        without_metadata: false,
    };
    let inv = tokio::time::timeout(LIMIT, inventory(&afc, &opts))
        .await
        .unwrap()
        .expect("the database is read without its model version");
    let db = inv.db.expect("database read");
    assert_eq!(db.rows, truth.assets.len());
}
