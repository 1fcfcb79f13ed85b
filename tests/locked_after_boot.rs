//! A paired phone that restarted and has not been unlocked since answers StartSession and
//! StartService with PasswordProtected: the host says "Unlock your iPhone (…)", waits for the
//! unlock (up to --trust-timeout) and goes on; so does `pair` with a phone that restarted before
//! it was ever paired; a phone that ended the lockdown session
//! (SessionInactive) gets one new connection. In process against the simulated lockdownd, then
//! through the command line against `iphone-mock serve` (SIGUSR2 = restart / first unlock).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use common::PeerHome;
use iphone_import::lockdown::{
    LockdownClient, LockdownError, PairRecordStores, PairingOptions, PairingProgress,
    UNLOCK_PROMPT, ensure_paired_session, start_service_when_unlocked,
};
use iphone_import::mock::library::{LibraryOptions, generate};
use iphone_import::mock::lockdownd::{Lockdownd, TrustBehaviour};
use iphone_import::mock::phone::SimulatedPhone;
use iphone_import::usbmux::LOCKDOWN_PORT;

/// The longest any single step may take before the test gives up (not a timing assertion).
const STEP: Duration = Duration::from_secs(120);

struct Phone {
    phone: Arc<SimulatedPhone>,
    lockdownd: Arc<Lockdownd>,
    stores: PairRecordStores,
    udid: String,
    _tmp: tempfile::TempDir,
}

impl Phone {
    fn new() -> Phone {
        let phone = SimulatedPhone::new(Default::default());
        let lockdownd = Lockdownd::new(phone.clone(), TrustBehaviour::TrustImmediately).unwrap();
        lockdownd.install();
        let tmp = tempfile::tempdir().unwrap();
        Phone {
            udid: phone.identity.udid.clone(),
            phone,
            lockdownd,
            stores: PairRecordStores::new(tmp.path().join("lockdown")),
            _tmp: tmp,
        }
    }

    fn connect(&self) -> LockdownClient {
        let (host, device) = tokio::io::duplex(64 * 1024);
        assert!(self.phone.accept(LOCKDOWN_PORT, Box::new(device)));
        LockdownClient::new(Box::new(host))
    }

    /// Pair while unlocked, then "restart" the phone.
    async fn paired_then_restarted(&self) {
        let mut client = self.connect();
        ensure_paired_session(
            &mut client,
            &self.stores,
            &self.udid,
            &options(Duration::from_secs(60)),
            |_| {},
            std::future::pending(),
        )
        .await
        .unwrap();
        client.stop_session().await.unwrap();
        self.lockdownd.set_locked_since_boot(true);
    }
}

fn options(timeout: Duration) -> PairingOptions {
    PairingOptions {
        timeout,
        poll_interval: Duration::from_millis(5),
        ..PairingOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_start_waits_for_the_first_unlock_then_goes_on() {
    let fx = Phone::new();
    fx.paired_then_restarted().await;
    let mut client = fx.connect();
    let lockdownd = fx.lockdownd.clone();
    let mut seen = Vec::new();
    let record = ensure_paired_session(
        &mut client,
        &fx.stores,
        &fx.udid,
        &options(STEP),
        |p| {
            // The owner unlocks after the third refusal.
            if p == (PairingProgress::WaitingForUnlock { polls: 3 }) {
                lockdownd.unlock();
            }
            seen.push(p);
        },
        std::future::pending(),
    )
    .await
    .unwrap();
    assert!(client.in_session());
    assert_eq!(
        seen,
        (1..=3)
            .map(|polls| PairingProgress::WaitingForUnlock { polls })
            .collect::<Vec<_>>()
    );
    assert_eq!(fx.lockdownd.trusted_hosts(), [record.host_id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_still_locked_at_the_timeout_gets_the_locked_since_restart_error() {
    let fx = Phone::new();
    fx.paired_then_restarted().await;
    let mut client = fx.connect();
    let mut polls = 0;
    let err = ensure_paired_session(
        &mut client,
        &fx.stores,
        &fx.udid,
        &options(Duration::from_millis(50)),
        |_| polls += 1,
        std::future::pending(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, LockdownError::LockedSinceRestart(_)),
        "{err:?}"
    );
    assert!(polls > 1, "it polled before giving up");
    let text = err.to_string();
    assert!(
        text.contains("not been unlocked since it restarted"),
        "{text}"
    );
    assert!(text.contains("passcode"), "{text}");
    // The pair record is kept: the phone still trusts this computer.
    assert!(fx.stores.find(&fx.udid).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_start_waits_for_the_first_unlock_too() {
    let fx = Phone::new();
    fx.phone
        .add_named_service("com.example.idle", Arc::new(|_| Box::pin(async {})));
    let mut client = fx.connect();
    ensure_paired_session(
        &mut client,
        &fx.stores,
        &fx.udid,
        &options(STEP),
        |_| {},
        std::future::pending(),
    )
    .await
    .unwrap();
    fx.lockdownd.set_locked_since_boot(true);
    let lockdownd = fx.lockdownd.clone();
    let endpoint = start_service_when_unlocked(
        &mut client,
        "com.example.idle",
        &options(STEP),
        |p| {
            assert!(matches!(p, PairingProgress::WaitingForUnlock { .. }));
            lockdownd.unlock();
        },
        std::future::pending(),
    )
    .await
    .unwrap();
    assert!(fx.phone.is_listening(endpoint.port));
}

// ---- through the command line ----

/// `iphone-mock serve` with its stderr followed line by line.
struct Mock {
    child: Child,
    addr: String,
    lines: mpsc::Receiver<String>,
}

impl Drop for Mock {
    fn drop(&mut self) {
        common::stop_child(&mut self.child);
    }
}

impl Mock {
    fn start(library: &Path, extra: &[&str]) -> Mock {
        let mut child = Command::new(env!("CARGO_BIN_EXE_iphone-mock"))
            .args(["serve", "--listen", "127.0.0.1:0", "--library"])
            .arg(library)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = out
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("listening on ").map(str::to_string))
            .expect("mock announces its address");
        std::thread::spawn(move || for _ in out {});
        let lines = follow("mock", child.stderr.take().unwrap());
        Mock { child, addr, lines }
    }

    /// SIGUSR2: restart (locked) or first unlock; returns once the mock has done it.
    fn toggle_lock(&self, expect: &str) {
        signal(self.child.id(), "-USR2");
        wait_line(&self.lines, expect, &mut Vec::new());
    }
}

fn follow(
    who: &'static str,
    stream: impl std::io::Read + Send + 'static,
) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            eprintln!("{who}: {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn wait_line(lines: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) -> String {
    loop {
        match lines.recv_timeout(STEP) {
            Ok(line) => {
                seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
            Err(_) => panic!("no line containing {needle:?}; saw: {seen:#?}"),
        }
    }
}

fn wait_exit(child: &mut Child) -> Option<i32> {
    let deadline = std::time::Instant::now() + STEP;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("iphone-import did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Setup {
    dir: tempfile::TempDir,
    home: PeerHome,
    mock: Mock,
}

impl Setup {
    /// A small library behind `iphone-mock serve`, not paired with this computer.
    fn unpaired() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Media");
        let library = LibraryOptions {
            photos: 1,
            videos: 0,
            seed: 17,
            ..LibraryOptions::demo()
        };
        generate(&root, &library).unwrap();
        let mock = Mock::start(&root, &[]);
        Setup {
            dir,
            home: PeerHome::new(),
            mock,
        }
    }

    /// A small library behind `iphone-mock serve EXTRA…`, and this computer paired with it.
    fn paired(extra: &[&str]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Media");
        let library = LibraryOptions {
            photos: 3,
            videos: 1,
            seed: 17,
            ..LibraryOptions::demo()
        };
        generate(&root, &library).unwrap();
        let mock = Mock::start(&root, extra);
        let setup = Setup {
            dir,
            home: PeerHome::new(),
            mock,
        };
        let out = setup.import(&["pair"]).output().unwrap();
        assert!(out.status.success(), "pair: {out:?}");
        setup
    }

    fn import(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_iphone-import"));
        cmd.args(["--transport", "usbmuxd"])
            .args(args)
            .envs(self.home.env())
            .env("USBMUXD_SOCKET_ADDRESS", &self.mock.addr)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    fn dest(&self) -> String {
        self.dir.path().join("dest").to_string_lossy().into_owned()
    }

    fn copied(&self) -> usize {
        count_files(&self.dir.path().join("dest"), &|_| true)
    }
}

/// `<UDID>.plist` files anywhere under `dir` (SystemConfiguration.plist is not a pairing).
fn pair_records(dir: &Path) -> usize {
    count_files(dir, &|p| {
        p.extension().is_some_and(|x| x == "plist")
            && p.file_stem().is_some_and(|n| n != "SystemConfiguration")
    })
}

/// Files under `dir` (outside our `.iphone-import` state) that `keep` accepts.
fn count_files(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name() != ".iphone-import")
        .map(|e| match e.file_type().unwrap().is_dir() {
            true => count_files(&e.path(), keep),
            false => usize::from(keep(&e.path())),
        })
        .sum()
}

#[test]
fn pull_waits_for_the_unlock_after_a_restart_and_succeeds() {
    let s = Setup::paired(&[]);
    s.mock.toggle_lock("locked since restart");
    let mut pull = s.import(&["pull", &s.dest()]).spawn().unwrap();
    let lines = follow("pull", pull.stderr.take().unwrap());
    let mut seen = Vec::new();
    wait_line(&lines, UNLOCK_PROMPT, &mut seen);
    s.mock.toggle_lock("unlocked");
    assert_eq!(wait_exit(&mut pull), Some(0), "pull said: {seen:#?}");
    assert!(s.copied() > 0, "files were copied after the unlock");
}

#[test]
fn pull_still_locked_at_the_timeout_says_so() {
    let s = Setup::paired(&[]);
    s.mock.toggle_lock("locked since restart");
    let out = s
        .import(&["--trust-timeout", "1", "pull", &s.dest()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{text}");
    assert!(text.contains(UNLOCK_PROMPT), "{text}");
    assert!(
        text.contains("not been unlocked since it restarted"),
        "{text}"
    );
    assert!(text.contains("--trust-timeout"), "{text}");
    assert_eq!(s.copied(), 0);
}

#[test]
fn pair_waits_for_the_first_unlock_after_a_restart_then_pairs() {
    let s = Setup::unpaired();
    s.mock.toggle_lock("locked since restart");
    let mut pair = s.import(&["pair"]).spawn().unwrap();
    let lines = follow("pair", pair.stderr.take().unwrap());
    let mut seen = Vec::new();
    wait_line(&lines, UNLOCK_PROMPT, &mut seen);
    s.mock.toggle_lock("unlocked");
    assert_eq!(wait_exit(&mut pair), Some(0), "pair said: {seen:#?}");
    // Shown once, however many times the phone refused.
    seen.extend(lines.iter());
    let prompts = seen.iter().filter(|l| l.contains(UNLOCK_PROMPT)).count();
    assert_eq!(prompts, 1, "{seen:#?}");
    // The new record works: a pull needs no further pairing.
    let out = s.import(&["pull", &s.dest()]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(s.copied() > 0);
}

#[test]
fn pair_with_a_phone_still_locked_at_the_timeout_says_unlock() {
    let s = Setup::unpaired();
    s.mock.toggle_lock("locked since restart");
    let out = s
        .import(&["--trust-timeout", "1", "pair"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{text}");
    assert!(text.contains(UNLOCK_PROMPT), "{text}");
    assert!(text.contains("stayed locked"), "{text}");
    assert!(text.contains("--trust-timeout"), "{text}");
    // Nothing was paired: the next command still has to pair.
    assert_eq!(pair_records(s.home.path()), 0, "no pair record saved");
}

#[test]
fn pull_reconnects_once_when_the_phone_ended_the_session() {
    let s = Setup::paired(&["--session-inactive-once"]);
    let out = s.import(&["pull", &s.dest()]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(s.copied() > 0);
}

#[test]
fn watch_reports_a_phone_left_locked_and_goes_on_watching() {
    let s = Setup::paired(&[]);
    s.mock.toggle_lock("locked since restart");
    let mut watch = s
        .import(&["--trust-timeout", "1", "watch", "--no-notify", &s.dest()])
        .spawn()
        .unwrap();
    let lines = follow("watch", watch.stderr.take().unwrap());
    let mut seen = Vec::new();
    // It waited, then gave up on this plug-in with the locked advice.
    wait_line(&lines, UNLOCK_PROMPT, &mut seen);
    let failed = wait_line(&lines, ": import ", &mut seen);
    assert!(failed.contains("import failed"), "{failed}");
    assert!(
        failed.contains("not been unlocked since it restarted"),
        "{failed}"
    );
    assert!(
        failed.contains("unlock the phone with its passcode"),
        "{failed}"
    );
    assert_eq!(s.copied(), 0);

    // Still watching: unlocked and replugged, the phone is imported.
    s.mock.toggle_lock("unlocked");
    signal(s.mock.child.id(), "-USR1");
    wait_line(&lines, "unplugged", &mut seen);
    signal(s.mock.child.id(), "-USR1");
    let second = wait_line(&lines, ": import ", &mut seen);
    assert!(second.contains("import complete"), "{second}; {seen:#?}");
    assert!(s.copied() > 0);

    signal(watch.id(), "-TERM");
    assert_eq!(wait_exit(&mut watch), Some(0), "watch said: {seen:#?}");
}
