//! Every wait on the phone has a deadline (`--io-timeout`): a phone, or usbmuxd, that stays
//! connected but stops answering ends the wait with a "stopped answering" error instead of
//! hanging for ever. In process against silent peers, then end to end: `iphone-mock serve
//! --stall WHERE` goes silent once at each layer, `pull --io-timeout 1` must end with exit 8,
//! and a second pull on the same DEST must then work (the lock was released). Every run is
//! bounded from outside, so a hang fails the test instead of hanging it.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::PeerHome;
use iphone_import::afc::codec::HEADER_LEN;
use iphone_import::afc::messages::data_reply_header;
use iphone_import::afc::{AfcClient, AfcError, ClientOptions};
use iphone_import::lockdown::{LockdownClient, LockdownError};
use iphone_import::mock::afcd::{AfcServer, Faults};
use iphone_import::mock::library::{LibraryOptions, generate};
use iphone_import::mock::profile::Profile;
use iphone_import::usbmux::muxd::{MuxdAddr, MuxdClient, MuxdError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A hang is a failure: nothing here may take this long.
const OUTER: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_secs(1);
/// The exit code of a stall (src/cli/exit.rs, docs/scripting.md).
const STALLED: i32 = 8;

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(OUTER, f)
        .await
        .expect("hung: the deadline never fired")
}

/// A peer that accepts and reads everything, and says nothing.
fn silent_peer() -> tokio::io::DuplexStream {
    let (host, mut phone) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut phone, &mut tokio::io::sink()).await;
    });
    host
}

#[tokio::test]
async fn lockdown_request_never_answered_is_a_stall_and_the_client_stays_failed() {
    let mut client = LockdownClient::new(Box::new(silent_peer()));
    client.set_io_timeout(SHORT);
    let err = bounded(client.query_type()).await.unwrap_err();
    assert!(
        matches!(&err, LockdownError::Stalled { waiting_for, secs: 1 } if waiting_for == "QueryType"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("unplug it and plug it in again"),
        "{err}"
    );
    // Out of step now: later requests fail at once instead of reading a stale reply.
    let started = Instant::now();
    let err = bounded(client.get_value(None, Some("DeviceName")))
        .await
        .unwrap_err();
    assert!(matches!(err, LockdownError::Stalled { .. }), "{err:?}");
    assert!(started.elapsed() < OUTER);
}

fn afc_options() -> ClientOptions {
    ClientOptions {
        io_timeout: SHORT,
        service: "com.apple.afc on port 49999".into(),
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn afc_request_never_answered_is_a_stall_naming_request_service_and_port() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("DCIM/100APPLE")).unwrap();
    let faults = Faults {
        stall_after_requests: Some(1),
        ..Faults::default()
    };
    let srv = AfcServer::new(tmp.path().to_path_buf(), Profile::none(), faults).unwrap();
    let client = AfcClient::with_options(srv.connect_in_process(), afc_options());
    bounded(client.read_dir("/DCIM")).await.unwrap();
    let err = bounded(client.read_dir("/DCIM/100APPLE"))
        .await
        .unwrap_err();
    assert!(matches!(err, AfcError::Stalled { secs: 1, .. }), "{err:?}");
    assert!(err.is_fatal());
    let text = err.to_string();
    assert!(
        text.contains("stopped answering ReadDir (com.apple.afc on port 49999) for 1 s"),
        "{text}"
    );
    let err = bounded(client.stat("/DCIM")).await.unwrap_err();
    assert!(
        matches!(err, AfcError::Stalled { .. }),
        "later requests fail: {err:?}"
    );
}

#[tokio::test]
async fn afc_reply_that_stops_half_way_is_a_stall() {
    let (host, mut phone) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        let mut head = [0u8; HEADER_LEN];
        phone.read_exact(&mut head).await.unwrap();
        let len = u64::from_le_bytes(head[8..16].try_into().unwrap()) as usize;
        let mut body = vec![0u8; len - HEADER_LEN];
        phone.read_exact(&mut body).await.unwrap();
        let num = u64::from_le_bytes(head[24..32].try_into().unwrap());
        // Announce 1000 bytes of listing, send 10, then go quiet (still connected).
        phone
            .write_all(&data_reply_header(num, 1000))
            .await
            .unwrap();
        phone.write_all(b"IMG_0001.J").await.unwrap();
        let _ = tokio::io::copy(&mut phone, &mut tokio::io::sink()).await;
    });
    let client = AfcClient::with_options(Box::new(host), afc_options());
    let err = bounded(client.read_dir("/DCIM")).await.unwrap_err();
    assert!(matches!(err, AfcError::Stalled { .. }), "{err:?}");
}

#[tokio::test]
async fn usbmuxd_that_accepts_but_never_answers_is_a_stall() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut s, &mut tokio::io::sink()).await;
            });
        }
    });
    let mut client = MuxdClient::new(MuxdAddr::Tcp(addr.to_string()));
    client.set_io_timeout(SHORT);
    let err = bounded(client.list_devices()).await.unwrap_err();
    assert!(
        matches!(
            err,
            MuxdError::Stalled {
                request: "ListDevices",
                secs: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let err = bounded(client.connect(1, 62078)).await.err().unwrap();
    assert!(matches!(err, MuxdError::Stalled { .. }), "{err:?}");
}

// ---- End to end: iphone-mock serve --stall WHERE, iphone-import pull --io-timeout 1. ----

struct Mock {
    child: std::process::Child,
    addr: String,
}

impl Drop for Mock {
    fn drop(&mut self) {
        common::stop_child(&mut self.child);
    }
}

fn start_mock(library: &Path, stall: &str) -> Mock {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iphone-mock"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--stall",
            stall,
            "--library",
        ])
        .arg(library)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("listening on ").map(str::to_string))
        .expect("mock announces its address");
    std::thread::spawn(move || for _ in lines {});
    Mock { child, addr }
}

/// Run to the end, or kill it and fail after `OUTER`.
fn run_bounded(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > OUTER {
            common::stop_child(&mut child);
            panic!("hung: still running after {OUTER:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

struct Setup {
    _dir: tempfile::TempDir,
    mock: Mock,
    home: PeerHome,
    dest: std::path::PathBuf,
}

fn setup(stall: &str) -> Setup {
    setup_with(|_| stall.to_string())
}

/// `stall` may name a file of the generated library (under Media).
fn setup_with(stall: impl FnOnce(&Path) -> String) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Media");
    let options = LibraryOptions {
        photos: 3,
        videos: 1,
        seed: 5,
        ..LibraryOptions::demo()
    };
    generate(&root, &options).unwrap();
    let mock = start_mock(&root, &stall(&root));
    let dest = dir.path().join("dest");
    Setup {
        _dir: dir,
        mock,
        home: PeerHome::new(),
        dest,
    }
}

impl Setup {
    fn pull(&self) -> Output {
        self.pull_with(&["--io-timeout", "1"], &[])
    }

    fn pull_with(&self, options: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_iphone-import"));
        c.args(["--transport", "usbmuxd"])
            .args(options)
            .args(["pull", "--include-trashed"])
            .arg(&self.dest)
            .envs(self.home.env())
            .env_remove("IPHONE_IMPORT_IO_TIMEOUT")
            .envs(env.iter().copied())
            .env("USBMUXD_SOCKET_ADDRESS", &self.mock.addr);
        run_bounded(c)
    }
}

/// The phone goes silent once at `stall`: the first pull ends with the stall error (mentioning
/// `expect`) and exit 8; the second, on the same DEST, completes.
fn stall_ends_the_run_and_the_next_run_works(stall: &str, expect: &str) {
    check_stall(setup(stall), stall, expect);
}

fn check_stall(s: Setup, stall: &str, expect: &str) {
    let first = s.pull();
    let err = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(STALLED), "{stall}: {err}");
    assert!(err.contains("stopped answering"), "{stall}: {err}");
    assert!(err.contains(expect), "{stall}: wanted {expect:?} in {err}");
    let second = s.pull();
    assert_eq!(
        second.status.code(),
        Some(0),
        "{stall}: the second run: {}",
        String::from_utf8_lossy(&second.stderr)
    );
}

#[test]
fn usbmuxd_accepting_but_never_answering_ends_pull_with_exit_8() {
    stall_ends_the_run_and_the_next_run_works("muxd-accept", "ListDevices");
}

#[test]
fn usbmuxd_stalling_mid_list_devices_ends_pull_with_exit_8() {
    stall_ends_the_run_and_the_next_run_works("muxd-list", "ListDevices");
}

#[test]
fn lockdown_query_type_stall_ends_pull_with_exit_8() {
    stall_ends_the_run_and_the_next_run_works("lockdown:QueryType", "QueryType");
}

#[test]
fn lockdown_get_value_stall_ends_pull_with_exit_8() {
    // The first run pairs, and pairing begins with GetValue DevicePublicKey.
    stall_ends_the_run_and_the_next_run_works("lockdown:GetValue", "GetValue");
}

#[test]
fn lockdown_start_service_stall_ends_pull_with_exit_8() {
    stall_ends_the_run_and_the_next_run_works("lockdown:StartService", "StartService");
}

#[test]
fn tls_handshake_stall_ends_pull_with_exit_8() {
    stall_ends_the_run_and_the_next_run_works("tls", "the TLS handshake");
}

#[test]
fn afc_stall_ends_pull_with_exit_8() {
    stall_ends_the_run_and_the_next_run_works("afc-after:2", "com.apple.afc on port");
}

#[test]
fn afc_stall_in_the_middle_of_copying_a_file_ends_pull_with_exit_8() {
    let s = setup_with(|root| {
        let name = std::fs::read_dir(root.join("DCIM/100APPLE"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.ends_with(".JPG") || n.ends_with(".HEIC") || n.ends_with(".MOV"))
            .expect("a photo in the generated library");
        format!("afc-read:DCIM/100APPLE/{name}")
    });
    check_stall(s, "afc-read", "FileRefRead (com.apple.afc on port");
}

#[test]
fn start_service_port_where_nothing_answers_is_named() {
    stall_ends_the_run_and_the_next_run_works("wrong-port", "com.apple.afc on port");
}

#[test]
fn io_timeout_comes_from_the_environment_or_the_config_file() {
    let s = setup("lockdown:QueryType");
    let out = s.pull_with(&[], &[("IPHONE_IMPORT_IO_TIMEOUT", "1")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(STALLED), "{err}");
    assert!(err.contains("stopped answering QueryType for 1 s"), "{err}");

    let s = setup("lockdown:QueryType");
    let config = s.home.path().join("config/iphone-import");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), "io_timeout = 1\n").unwrap();
    let out = s.pull_with(&[], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(STALLED), "{err}");
    assert!(err.contains("stopped answering QueryType for 1 s"), "{err}");

    let out = s.pull_with(&[], &[("IPHONE_IMPORT_IO_TIMEOUT", "0")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("IPHONE_IMPORT_IO_TIMEOUT: io_timeout must be 1..=86400 seconds, not `0`"),
        "{err}"
    );
}

/// Read watch's stderr lines until one contains `needle`.
fn wait_line(lines: &std::sync::mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) {
    loop {
        match lines.recv_timeout(OUTER) {
            Ok(line) => {
                let hit = line.contains(needle);
                seen.push(line);
                if hit {
                    return;
                }
            }
            Err(_) => panic!("no line containing {needle:?}; watch said: {seen:#?}"),
        }
    }
}

#[test]
fn watch_reports_a_stall_and_goes_on_watching() {
    let s = setup("lockdown:StartService");
    let mut watch = Command::new(env!("CARGO_BIN_EXE_iphone-import"))
        .args(["--transport", "usbmuxd", "--io-timeout", "1", "watch"])
        .args(["--no-notify", "--include-trashed"])
        .arg(&s.dest)
        .envs(s.home.env())
        .env_remove("IPHONE_IMPORT_IO_TIMEOUT")
        .env("USBMUXD_SOCKET_ADDRESS", &s.mock.addr)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    let stderr = watch.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    wait_line(&lines, ": import failed", &mut seen);
    assert!(
        seen.last()
            .unwrap()
            .contains("stopped answering StartService"),
        "{seen:#?}"
    );
    // Unplug and replug: the phone answers again and the import completes (DEST is not
    // left locked by the stalled one).
    let kill = |sig: &str| {
        let pid = s.mock.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    kill("-USR1");
    wait_line(&lines, "unplugged", &mut seen);
    kill("-USR1");
    wait_line(&lines, ": import ", &mut seen);
    let result = seen.last().unwrap().clone();
    // SIGTERM before asserting, so that a failure leaves no watch behind.
    let _ = Command::new("kill")
        .args(["-TERM", &watch.id().to_string()])
        .status();
    let started = Instant::now();
    while watch.try_wait().unwrap().is_none() && started.elapsed() < OUTER {
        std::thread::sleep(Duration::from_millis(50));
    }
    common::stop_child(&mut watch);
    assert!(result.contains("import complete"), "{seen:#?}");
}
