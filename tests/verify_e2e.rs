//! `verify` end to end: a real pull from the simulated phone's AFC server (in process), then
//! damage to the archive or news on the phone, checked through the command line's `run_with`
//! (exit codes) and the import layer (problem kinds); `--repair` against the same phone;
//! `--offline` through the real binary (the 100,000-entry memory bound: tests/verify_memory.rs).

use std::fs;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use futures::future::BoxFuture;
use iphone_import::afc::AfcClient;
use iphone_import::cli::args::VerifyArgs;
use iphone_import::cli::exit;
use iphone_import::cli::verify::{VerifyPhone, run_with};
use iphone_import::import::deep::{self, DeepOptions};
use iphone_import::import::filters::Filters;
use iphone_import::import::layout::{DEFAULT_LAYOUT, Layout};
use iphone_import::import::ledger::{Entry, Ledger};
use iphone_import::import::pull::{
    AfcConnector, ConnectError, Observer, PullConfig, PullDevice, PullEvent, pull,
};
use iphone_import::import::repair;
use iphone_import::import::verify::{
    self, ArchiveOptions, Problem, ProblemKind, RepairOutcome, VerifyObserver,
};
use iphone_import::library::{Asset, ScanOptions, scan_dcim};
use iphone_import::mock::afcd::{AfcServer, Faults};
use iphone_import::mock::profile::Profile;
use rand::{RngCore, SeedableRng};
use tokio_util::sync::CancellationToken;

const UDID: &str = "00008030-001A2B3C4D5E802E";
const LIMIT: Duration = Duration::from_secs(120);
const BIN: &str = env!("CARGO_BIN_EXE_iphone-import");

struct Inproc(Arc<AfcServer>);

impl AfcConnector for Inproc {
    fn connect(&self) -> BoxFuture<'_, Result<AfcClient, ConnectError>> {
        Box::pin(async move { Ok(AfcClient::new(self.0.connect_in_process())) })
    }
}

struct Quiet;
impl Observer for Quiet {
    fn event(&self, e: &PullEvent) {
        if let PullEvent::Failed { reason, .. } = e {
            panic!("pull failed an item: {reason}");
        }
    }
}

#[derive(Default)]
struct Collect {
    problems: Mutex<Vec<Problem>>,
    repairs: Mutex<Vec<RepairOutcome>>,
}

impl VerifyObserver for Collect {
    fn problem(&self, p: &Problem) {
        self.problems.lock().unwrap().push(p.clone());
    }
    fn repaired(&self, r: &RepairOutcome) {
        self.repairs.lock().unwrap().push(r.clone());
    }
}

impl Collect {
    fn kinds(&self) -> Vec<(ProblemKind, String)> {
        let mut v: Vec<_> = self
            .problems
            .lock()
            .unwrap()
            .iter()
            .map(|p| (p.kind, p.device_path.clone()))
            .collect();
        v.sort_by(|a, b| a.1.cmp(&b.1));
        v
    }
}

fn device() -> PullDevice {
    PullDevice {
        udid: UDID.into(),
        name: "Test iPhone".into(),
    }
}

fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

const A: &str = "DCIM/100APPLE/IMG_0001.JPG";
const B: &str = "DCIM/100APPLE/IMG_0002.MOV";
const C: &str = "DCIM/100APPLE/IMG_0003.PNG";

/// A phone with three files (one over a few AFC reads), served in process.
fn phone(root: &Path) -> Arc<AfcServer> {
    fs::create_dir_all(root.join("DCIM/100APPLE")).unwrap();
    fs::write(root.join(A), random_bytes(1, 200_000)).unwrap();
    fs::write(root.join(B), random_bytes(2, 5 * 1024 * 1024 + 17)).unwrap();
    fs::write(root.join(C), random_bytes(3, 3_000)).unwrap();
    AfcServer::new(root.to_path_buf(), Profile::none(), Faults::none()).unwrap()
}

async fn listing(srv: &Arc<AfcServer>) -> Vec<Asset> {
    let client = AfcClient::new(srv.connect_in_process());
    scan_dcim(&client, &ScanOptions::default()).await.unwrap()
}

async fn pull_all(srv: &Arc<AfcServer>, dest: &Path) {
    let config = PullConfig {
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
    };
    let assets = listing(srv).await;
    let run = pull(
        Arc::new(Inproc(srv.clone())),
        device(),
        assets,
        config,
        Arc::new(Quiet),
        CancellationToken::new(),
    );
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("pull hung")
        .unwrap();
}

#[derive(Parser)]
struct Cmd {
    #[command(flatten)]
    args: VerifyArgs,
}

fn args(dest: &Path, flags: &[&str]) -> VerifyArgs {
    let dest = dest.to_str().unwrap();
    Cmd::try_parse_from(
        ["verify", dest]
            .into_iter()
            .chain(flags.iter().copied())
            .chain(["--json"]),
    )
    .unwrap()
    .args
}

/// `verify` through the command line's entry point, against the in-process phone (or offline).
async fn verify_cli(srv: Option<&Arc<AfcServer>>, dest: &Path, flags: &[&str]) -> u8 {
    let phone = match srv {
        Some(s) => Some(VerifyPhone {
            connector: Arc::new(Inproc(s.clone())),
            device: device(),
            assets: Some(listing(s).await),
            cache_dir: None,
        }),
        None => None,
    };
    let a = args(dest, flags);
    tokio::time::timeout(LIMIT, run_with(&a, phone))
        .await
        .expect("verify hung")
        .unwrap()
}

/// The archive check of the import layer, for the problem kinds.
fn archive_problems(dest: &Path, checksums: bool) -> Vec<(ProblemKind, String)> {
    let ledger = verify::open_ledger(dest).unwrap();
    let obs = Collect::default();
    let options = ArchiveOptions {
        checksums,
        threads: 3,
        collect_for: None,
    };
    verify::check_archive(dest, &ledger, &options, &obs).unwrap();
    obs.kinds()
}

fn archived(dest: &Path, device_path: &str) -> PathBuf {
    let ledger = Ledger::open(dest).unwrap();
    let e = ledger.lookup(UDID, device_path).unwrap().unwrap();
    dest.join(e.dest_path)
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x40;
    fs::write(path, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_damage_is_found_with_the_damaged_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = phone(&tmp.path().join("phone"));
    let dest = tmp.path().join("dest");
    pull_all(&srv, &dest).await;
    assert_eq!(
        verify_cli(Some(&srv), &dest, &["--checksums"]).await,
        exit::OK
    );
    assert_eq!(verify_cli(None, &dest, &["--offline"]).await, exit::OK);

    // A flipped byte: same size, so only --checksums sees it.
    flip_byte(&archived(&dest, B), 3 * 1024 * 1024);
    assert_eq!(verify_cli(None, &dest, &["--offline"]).await, exit::OK);
    assert_eq!(
        verify_cli(None, &dest, &["--offline", "--checksums"]).await,
        exit::DAMAGED
    );
    assert_eq!(
        verify_cli(Some(&srv), &dest, &["--checksums"]).await,
        exit::DAMAGED
    );
    assert_eq!(
        archive_problems(&dest, true),
        vec![(ProblemKind::HashMismatch, B.to_string())]
    );

    // A truncated file and a deleted one: found by size and presence alone.
    let a = archived(&dest, A);
    fs::write(&a, &fs::read(&a).unwrap()[..1000]).unwrap();
    fs::remove_file(archived(&dest, C)).unwrap();
    assert_eq!(verify_cli(None, &dest, &["--offline"]).await, exit::DAMAGED);
    assert_eq!(
        archive_problems(&dest, false),
        vec![
            (ProblemKind::SizeChanged, A.to_string()),
            (ProblemKind::Missing, C.to_string()),
        ]
    );
    assert_eq!(
        archive_problems(&dest, true),
        vec![
            (ProblemKind::SizeChanged, A.to_string()),
            (ProblemKind::HashMismatch, B.to_string()),
            (ProblemKind::Missing, C.to_string()),
        ]
    );
    assert_eq!(srv.changing_ops(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_photo_on_the_phone_is_at_risk_until_pulled() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let srv = phone(&root);
    let dest = tmp.path().join("dest");
    pull_all(&srv, &dest).await;
    fs::write(
        root.join("DCIM/100APPLE/IMG_0004.HEIC"),
        random_bytes(4, 9_000),
    )
    .unwrap();

    assert_eq!(verify_cli(Some(&srv), &dest, &[]).await, exit::AT_RISK);
    // The archive alone is fine: offline knows nothing of the phone.
    assert_eq!(verify_cli(None, &dest, &["--offline"]).await, exit::OK);
    let ledger = verify::open_ledger(&dest).unwrap();
    let obs = Collect::default();
    let report = verify::check_phone(&ledger, UDID, &listing(&srv).await, &obs).unwrap();
    assert_eq!((report.files, report.archived, report.at_risk), (4, 3, 1));
    assert_eq!(
        obs.kinds(),
        vec![(
            ProblemKind::AtRisk,
            "DCIM/100APPLE/IMG_0004.HEIC".to_string()
        )]
    );
    // Items of another phone in the same DEST are not this phone's risk.
    let other = verify::check_phone(&ledger, "another-phone", &[], &Collect::default()).unwrap();
    assert_eq!(other.at_risk, 0);

    // A reader keeps writers (here `--repair`) out while it holds the ledger.
    drop(ledger);

    // Damage outranks risk.
    fs::remove_file(archived(&dest, C)).unwrap();
    assert_eq!(verify_cli(Some(&srv), &dest, &[]).await, exit::DAMAGED);
    fs::remove_file(root.join("DCIM/100APPLE/IMG_0004.HEIC")).unwrap();
    assert_eq!(verify_cli(Some(&srv), &dest, &["--repair"]).await, exit::OK);

    fs::write(
        root.join("DCIM/100APPLE/IMG_0004.HEIC"),
        random_bytes(4, 9_000),
    )
    .unwrap();
    pull_all(&srv, &dest).await;
    assert_eq!(
        verify_cli(Some(&srv), &dest, &["--checksums"]).await,
        exit::OK
    );
    assert_eq!(srv.changing_ops(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_catches_damage_that_the_ledger_hash_hides_and_repair_restores_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let srv = phone(&root);
    let dest = tmp.path().join("dest");
    pull_all(&srv, &dest).await;
    let b = archived(&dest, B);
    flip_byte(&b, 4_000_000);
    // The ledger is "updated" to the damaged bytes: our own hash now vouches for them.
    let forged = *blake3::hash(&fs::read(&b).unwrap()).as_bytes();
    assert!(
        Ledger::open(&dest)
            .unwrap()
            .set_blake3(UDID, B, "", &forged)
            .unwrap()
    );

    assert_eq!(
        verify_cli(Some(&srv), &dest, &["--checksums"]).await,
        exit::OK
    );
    assert!(archive_problems(&dest, true).is_empty());
    assert_eq!(
        verify_cli(Some(&srv), &dest, &["--deep"]).await,
        exit::DAMAGED
    );
    let obs = Collect::default();
    let ledger = verify::open_ledger(&dest).unwrap();
    let client = AfcClient::new(srv.connect_in_process());
    let options = DeepOptions {
        collect: false,
        archive_hashed: true,
    };
    let (ledger, report, _) = deep::check_deep(&client, &dest, ledger, UDID, options, &obs)
        .await
        .unwrap();
    drop(ledger);
    assert_eq!((report.files, report.same, report.differs), (3, 2, 1));
    assert_eq!(
        obs.kinds(),
        vec![(ProblemKind::DiffersFromPhone, B.to_string())]
    );

    assert_eq!(
        verify_cli(Some(&srv), &dest, &["--deep", "--repair"]).await,
        exit::OK
    );
    assert_eq!(fs::read(&b).unwrap(), fs::read(root.join(B)).unwrap());
    // The ledger records the phone's hash again: every check agrees.
    assert_eq!(
        verify_cli(Some(&srv), &dest, &["--deep", "--checksums"]).await,
        exit::OK
    );
    assert_eq!(srv.changing_ops(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_restores_byte_exact_and_keeps_the_damaged_copies() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let srv = phone(&root);
    let dest = tmp.path().join("dest");
    pull_all(&srv, &dest).await;
    let (a, b, c) = (archived(&dest, A), archived(&dest, B), archived(&dest, C));
    let mtime_b = fs::metadata(&b).unwrap().modified().unwrap();
    flip_byte(&b, 10);
    let damaged_b = fs::read(&b).unwrap();
    fs::write(&a, &fs::read(&a).unwrap()[..777]).unwrap();
    fs::remove_file(&c).unwrap();

    // Without --checksums only the truncated and the deleted file are seen, and repaired;
    // the flipped byte is not looked for (so not repaired either).
    assert_eq!(verify_cli(Some(&srv), &dest, &["--repair"]).await, exit::OK);
    assert_eq!(fs::read(&a).unwrap(), fs::read(root.join(A)).unwrap());
    assert_eq!(fs::read(&c).unwrap(), fs::read(root.join(C)).unwrap());
    assert_eq!(fs::read(&b).unwrap(), damaged_b);

    assert_eq!(
        verify_cli(Some(&srv), &dest, &["--checksums", "--repair"]).await,
        exit::OK
    );
    for (local, remote) in [(&a, A), (&b, B), (&c, C)] {
        assert_eq!(
            fs::read(local).unwrap(),
            fs::read(root.join(remote)).unwrap()
        );
    }
    // The repaired file keeps the archive's date; the damaged bytes are kept aside.
    assert_eq!(fs::metadata(&b).unwrap().modified().unwrap(), mtime_b);
    let kept_root = dest.join(".iphone-import/damaged");
    let mut kept = Vec::new();
    for run in fs::read_dir(&kept_root).unwrap() {
        let rel = b.strip_prefix(&dest).unwrap();
        let p = run.unwrap().path().join(rel);
        if p.exists() {
            kept.push(fs::read(p).unwrap());
        }
    }
    assert_eq!(kept, vec![damaged_b]);
    assert_eq!(
        verify_cli(Some(&srv), &dest, &["--checksums"]).await,
        exit::OK
    );
    // Nothing left in the temp folder, nothing written on the phone.
    assert_eq!(
        fs::read_dir(dest.join(".iphone-import/tmp"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(srv.changing_ops(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_leaves_alone_what_the_phone_no_longer_has_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("phone");
    let srv = phone(&root);
    let dest = tmp.path().join("dest");
    pull_all(&srv, &dest).await;
    let (a, c) = (archived(&dest, A), archived(&dest, C));
    flip_byte(&a, 5);
    let damaged_a = fs::read(&a).unwrap();
    fs::remove_file(&c).unwrap();
    // The phone's copy of A was edited (same size, new mtime); C was deleted from the phone.
    flip_byte(&root.join(A), 99);
    filetime_later(&root.join(A));
    fs::remove_file(root.join(C)).unwrap();

    let ledger = Ledger::open(&dest).unwrap();
    let (_, damaged) = verify::check_archive(
        &dest,
        &ledger,
        &ArchiveOptions {
            checksums: true,
            threads: 2,
            collect_for: Some(UDID.into()),
        },
        &Collect::default(),
    )
    .unwrap();
    assert_eq!(damaged.len(), 2);
    let client = AfcClient::new(srv.connect_in_process());
    let obs = Collect::default();
    let report = repair::repair(&client, &dest, ledger, damaged, &obs)
        .await
        .unwrap();
    assert_eq!((report.repaired, report.not_repaired), (0, 2));
    let repairs = obs.repairs.lock().unwrap().clone();
    assert!(repairs.iter().all(|r| !r.repaired && r.reason.is_some()));
    // The archive is left as it was: the damaged file untouched, no file invented.
    assert_eq!(fs::read(&a).unwrap(), damaged_a);
    assert!(!c.exists());
    assert_eq!(
        verify_cli(Some(&srv), &dest, &["--checksums", "--repair"]).await,
        exit::DAMAGED
    );
    assert_eq!(srv.changing_ops(), 0);
}

/// Moves a file's mtime a minute on (an edit on the phone changes it).
fn filetime_later(path: &Path) {
    let f = fs::File::options().write(true).open(path).unwrap();
    let t = f.metadata().unwrap().modified().unwrap() + Duration::from_secs(60);
    f.set_modified(t).unwrap();
}

#[test]
fn offline_never_opens_a_transport() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    fs::create_dir_all(&dest).unwrap();
    let body = b"hello archive";
    fs::write(dest.join("a.jpg"), body).unwrap();
    let mut ledger = Ledger::open(&dest).unwrap();
    ledger
        .record(&entry("DCIM/100APPLE/a.jpg", "a.jpg", body), "Phone")
        .unwrap();
    drop(ledger);

    // A usbmuxd socket that records every connection.
    let sock = tmp.path().join("usbmuxd.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new("timeout")
            .arg("60")
            .arg(BIN)
            .args(extra)
            .arg(&dest)
            .env("USBMUXD_SOCKET_ADDRESS", format!("UNIX:{}", sock.display()))
            .env("IPHONE_IMPORT_TRANSPORT", "usbmuxd")
            .env("XDG_CACHE_HOME", tmp.path().join("cache"))
            .env("HOME", tmp.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, stdout) = run(&["verify", "--offline", "--checksums"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("RESULT: safe"), "{stdout}");
    assert!(listener.accept().is_err(), "--offline connected to usbmuxd");

    fs::write(dest.join("a.jpg"), b"hello archivE").unwrap();
    let (code, _) = run(&["verify", "--offline", "--checksums"]);
    assert_eq!(code, Some(i32::from(exit::DAMAGED)));
    assert!(listener.accept().is_err(), "--offline connected to usbmuxd");

    // The control: without --offline the same command does reach for the socket (it is
    // hung up on at once, so the command fails).
    let mut child = Command::new("timeout")
        .arg("60")
        .arg(BIN)
        .arg("verify")
        .arg(&dest)
        .env("USBMUXD_SOCKET_ADDRESS", format!("UNIX:{}", sock.display()))
        .env("IPHONE_IMPORT_TRANSPORT", "usbmuxd")
        .env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .env("HOME", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = false;
    for _ in 0..600 {
        if let Ok((conn, _)) = listener.accept() {
            drop(conn);
            seen = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let code = child.wait().unwrap().code();
    assert!(seen, "the listener never saw a connection");
    assert_ne!(code, Some(0));

    // A folder that was never imported into: an error that says so, nothing created.
    let empty = tmp.path().join("never-imported");
    let out = Command::new("timeout")
        .args(["60", BIN, "verify", "--offline"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(i32::from(exit::ERROR)));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no import ledger"));
    assert!(!empty.exists());
}

fn entry(device_path: &str, dest_path: &str, body: &[u8]) -> Entry {
    Entry {
        udid: UDID.into(),
        device_path: device_path.into(),
        copy: String::new(),
        size: body.len() as u64,
        device_mtime_ns: 1_700_000_000_000_000_000,
        dest_path: dest_path.into(),
        blake3: *blake3::hash(body).as_bytes(),
        imported_at_ns: 1_700_000_000_000_000_000,
    }
}

#[test]
fn arguments() {
    let parse = |argv: &[&str]| {
        Cmd::try_parse_from(std::iter::once("verify").chain(argv.iter().copied())).map(|c| c.args)
    };
    let a = parse(&["/tmp/x"]).unwrap();
    assert!(!a.checksums && !a.offline && !a.repair && !a.json && a.jobs.is_none());
    let a = parse(&["/tmp/x", "--checksums", "--repair", "--jobs", "3"]).unwrap();
    assert!(a.checksums && a.repair && a.jobs == Some(3));
    assert!(parse(&["/tmp/x", "--offline", "--repair"]).is_err());
    assert!(parse(&[]).is_err());
}

/// Without `--offline` and without a phone: NO_DEVICE, as for every command (a usbmuxd with no
/// phone attached).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_phone_without_offline_is_no_device() {
    use iphone_import::mock::muxd_server::{MuxdServer, MuxdServerConfig};
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    fs::create_dir_all(&dest).unwrap();
    let mut ledger = Ledger::open(&dest).unwrap();
    ledger
        .record(&entry("DCIM/100APPLE/a.jpg", "a.jpg", b"x"), "Phone")
        .unwrap();
    drop(ledger);
    let server = MuxdServer::new(Vec::new(), MuxdServerConfig::default()).unwrap();
    let addr = server
        .spawn_tcp("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let out = tokio::process::Command::new("timeout")
        .args(["60", BIN, "verify", "--transport", "usbmuxd"])
        .arg(&dest)
        .env("USBMUXD_SOCKET_ADDRESS", addr.to_string())
        .env("HOME", tmp.path())
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(i32::from(exit::NO_DEVICE)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
