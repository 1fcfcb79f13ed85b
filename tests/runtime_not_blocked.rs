//! No blocking work on the async runtime: `pull` on a *current-thread* runtime while another
//! SQLite connection holds the ledger's write lock, to be released by a task of that same
//! runtime. If the ledger's open/migration or a file's commit ran on the runtime's only thread,
//! that task could never run: SQLite would wait out its busy timeout and the pull would fail
//! with "database is locked". Run on a blocking thread, they wait until the task releases it.
//! Likewise for pair records: a record that arrives only through a task of the same runtime.

use std::fs;
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use futures::future::BoxFuture;
use iphone_import::afc::AfcClient;
use iphone_import::import::filters::Filters;
use iphone_import::import::layout::{DEFAULT_LAYOUT, Layout};
use iphone_import::import::ledger::{Ledger, ledger_path};
use iphone_import::import::pull::{
    AfcConnector, ConnectError, Observer, PullConfig, PullDevice, PullEvent, pull,
};
use iphone_import::library::{ScanOptions, scan_dcim};
use iphone_import::mock::afcd::{AfcServer, Faults};
use iphone_import::mock::profile::Profile;
use tokio_util::sync::CancellationToken;

struct Inproc(Arc<AfcServer>);

impl AfcConnector for Inproc {
    fn connect(&self) -> BoxFuture<'_, Result<AfcClient, ConnectError>> {
        Box::pin(async move { Ok(AfcClient::new(self.0.connect_in_process())) })
    }
}

struct Quiet;
impl Observer for Quiet {
    fn event(&self, _: &PullEvent) {}
}

/// Holds an exclusive SQLite transaction on the ledger of `dest` until `release` fires.
fn hold_write_lock(dest: &Path) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let path = ledger_path(dest);
    let (locked_tx, locked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv();
        conn.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();
    (release_tx, holder)
}

/// Pulls a two-file phone into `dest` on a current-thread runtime while the ledger is locked;
/// a task of that runtime releases the lock after a moment.
fn pull_while_locked(dest: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir_all(root.join("DCIM/100APPLE")).unwrap();
    fs::write(root.join("DCIM/100APPLE/IMG_0001.JPG"), vec![1u8; 5000]).unwrap();
    fs::write(root.join("DCIM/100APPLE/IMG_0002.PNG"), vec![2u8; 7000]).unwrap();
    let (release, holder) = hold_write_lock(dest);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = rt.block_on(async move {
        let srv = AfcServer::new(root.to_path_buf(), Profile::none(), Faults::none()).unwrap();
        let client = AfcClient::new(srv.connect_in_process());
        let assets = scan_dcim(&client, &ScanOptions::default()).await.unwrap();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = release.send(());
        });
        let config = PullConfig {
            dest: dest.to_path_buf(),
            layout: Layout::parse(DEFAULT_LAYOUT).unwrap(),
            filters: Filters::default(),
            jobs: 1,
            edited: false,
            dry_run: false,
            command_line: "pull test".into(),
            xmp: None,
            also_jpeg: None,
            plan_chunk: iphone_import::import::pull::PLAN_CHUNK,
            fail_writes_after: None,
        };
        pull(
            Arc::new(Inproc(srv)),
            PullDevice {
                udid: "u1".into(),
                name: "phone".into(),
            },
            assets,
            config,
            Arc::new(Quiet),
            CancellationToken::new(),
        )
        .await
    });
    // Dropping the runtime drops the release task's sender if it never ran: the holder ends.
    drop(rt);
    holder.join().unwrap();
    let summary = result.expect("pull while the ledger was briefly locked");
    assert_eq!(summary.files_copied, 2);
    assert_eq!(
        Ledger::open_read_only(dest).unwrap().count(None).unwrap(),
        2
    );
}

#[test]
fn opening_and_migrating_the_ledger_does_not_block_the_runtime() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    drop(Ledger::open(&dest).unwrap());
    // Back to schema 2: the pull's open has a migration (a write) to make.
    let conn = rusqlite::Connection::open(ledger_path(&dest)).unwrap();
    conn.execute_batch(
        "DROP INDEX resources_by_folder;
         CREATE INDEX resources_by_folder ON resources (udid, folder);
         DROP TABLE sidecars;
         DROP TABLE pending;
         PRAGMA user_version = 2;",
    )
    .unwrap();
    drop(conn);
    pull_while_locked(&dest);
    assert_eq!(
        Ledger::open_read_only(&dest)
            .unwrap()
            .schema_version()
            .unwrap(),
        iphone_import::import::ledger::SCHEMA_VERSION
    );
}

#[test]
fn committing_files_to_the_ledger_does_not_block_the_runtime() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    drop(Ledger::open(&dest).unwrap());
    pull_while_locked(&dest);
}

/// The pair record is a FIFO here: opening it waits until a writer opens the other end, and that
/// writer is started by a task of the same current-thread runtime. Read on the runtime's only
/// thread, the record could never arrive; read on a blocking thread, it does.
#[test]
fn reading_a_pair_record_does_not_block_the_runtime() {
    use iphone_import::lockdown::PairRecordStores;
    const UDID: &str = "00008110-000A1B2C3D4E5F60";
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lockdown");
    fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join(format!("{UDID}.plist"));
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let stores = PairRecordStores::new(&dir);
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let found = rt.block_on(async {
            tokio::spawn(async move {
                tokio::task::spawn_blocking(move || fs::write(&fifo, b"not a plist")).await
            });
            stores.find(UDID).await
        });
        let _ = done_tx.send(found.map(|r| r.is_some()).map_err(|e| e.to_string()));
    });
    // A hang guard, not a timing assertion: the read either finishes or never does.
    let found = done_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("reading the pair record blocked the runtime's only thread");
    let err = found.expect_err("the bytes written were not a record");
    assert!(err.contains("is not valid"), "{err}");
}
