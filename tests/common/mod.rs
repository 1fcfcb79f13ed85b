//! Shared helpers for integration tests: finding third-party peers (with the SKIP /
//! REQUIRE_INTEROP rule), running them under a timeout in a private HOME, and spawning
//! `iphone-mock serve` as a usbmuxd-compatible server.
#![allow(dead_code)] // Each test binary uses a different subset.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

/// Seconds any peer may run before `timeout` kills it (pymobiledevice3 can retry forever).
pub const PEER_TIMEOUT_SECS: u32 = 60;

/// The running test's name (libtest names each test's thread after it).
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unknown test")
        .to_string()
}

/// True when a missing peer must fail the test instead of skipping it (CI sets this).
pub fn interop_required() -> bool {
    std::env::var("REQUIRE_INTEROP").is_ok_and(|v| v == "1")
}

/// Find a third-party client in PATH; for `pymobiledevice3` look first in `$PYMOBILEDEVICE3`
/// and last in `./.venv/bin/`. Missing: prints a loud `SKIP:` line and returns `None`, or panics when
/// `REQUIRE_INTEROP=1`.
pub fn peer(name: &str) -> Option<PathBuf> {
    let found = find_peer(name);
    if found.is_none() {
        let msg = format!("SKIP: {}: {} not installed", test_name(), name);
        if interop_required() {
            panic!("{msg} (REQUIRE_INTEROP=1 makes this a failure)");
        }
        // Written straight to the stderr handle: libtest captures eprintln!, and a skip must be
        // seen even when the test passes.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
    }
    found
}

fn find_peer(name: &str) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if name == "pymobiledevice3"
        && let Some(p) = std::env::var_os("PYMOBILEDEVICE3")
    {
        candidates.push(PathBuf::from(p));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join(name)));
    }
    if name == "pymobiledevice3" {
        // The venv .ci/run creates (tests run from the package root).
        candidates.push(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(".venv/bin")
                .join(name),
        );
        candidates.push(PathBuf::from(".venv/bin").join(name));
    }
    candidates.into_iter().find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// What a peer did.
#[derive(Debug)]
pub struct PeerOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl PeerOutput {
    /// Panic with everything the peer said unless it exited 0.
    pub fn assert_success(&self, what: &str) -> &Self {
        assert!(
            self.status.success(),
            "{what} failed ({}; 124 = timed out)\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// A private HOME and XDG directories, so peers' caches (pymobiledevice3 pair records,
/// libimobiledevice config) neither leak between tests nor touch the user's.
pub struct PeerHome {
    pub dir: tempfile::TempDir,
}

impl PeerHome {
    pub fn new() -> PeerHome {
        let dir = tempfile::tempdir().expect("temp HOME");
        for sub in ["data", "config", "cache"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("XDG dir");
        }
        PeerHome { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// HOME and XDG_* variables pointing into this directory.
    pub fn env(&self) -> Vec<(String, String)> {
        let p = self.dir.path();
        let s = |q: &Path| q.to_string_lossy().into_owned();
        vec![
            ("HOME".into(), s(p)),
            ("XDG_DATA_HOME".into(), s(&p.join("data"))),
            ("XDG_CONFIG_HOME".into(), s(&p.join("config"))),
            ("XDG_CACHE_HOME".into(), s(&p.join("cache"))),
        ]
    }
}

/// Run a peer under `timeout PEER_TIMEOUT_SECS` with extra environment, in `cwd` if given,
/// and collect its output.
pub fn run_peer<S: AsRef<OsStr>>(cmd: &Path, args: &[S], env: &[(String, String)]) -> PeerOutput {
    run_peer_in(cmd, args, env, None)
}

pub fn run_peer_in<S: AsRef<OsStr>>(
    cmd: &Path,
    args: &[S],
    env: &[(String, String)],
    cwd: Option<&Path>,
) -> PeerOutput {
    let mut command = Command::new("timeout");
    command
        .arg("--kill-after=5")
        .arg(PEER_TIMEOUT_SECS.to_string())
        .arg(cmd)
        .args(args);
    command.stdin(Stdio::null());
    // Keep the user's daemon and device choice out of the test.
    command
        .env_remove("USBMUXD_SOCKET_ADDRESS")
        .env_remove("PYMOBILEDEVICE3_UDID");
    for (k, v) in env {
        command.env(k, v);
    }
    if let Some(dir) = cwd {
        command.current_dir(dir);
    }
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run timeout {}: {e}", cmd.display()));
    PeerOutput {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The TLS version sessions must negotiate when `IPHONE_MOCK_TLS` restricts the simulated phone.
pub fn expected_tls_version() -> Option<rustls::ProtocolVersion> {
    match std::env::var("IPHONE_MOCK_TLS").ok()?.as_str() {
        "1.2" => Some(rustls::ProtocolVersion::TLSv1_2),
        "1.3" => Some(rustls::ProtocolVersion::TLSv1_3),
        _ => None,
    }
}

/// A running `iphone-mock serve --listen 127.0.0.1:0`, killed on drop.
pub struct MockServer {
    child: Child,
    /// The TCP address it listens on.
    pub addr: SocketAddr,
    /// Its `--state` directory, when it has one (see `start_with_state`).
    pub state: Option<tempfile::TempDir>,
}

impl MockServer {
    /// Start a server with in-memory pair records.
    pub fn start() -> MockServer {
        Self::start_with(&[], false)
    }

    /// Start a server keeping pair records in a fresh state directory (inspect `state`).
    pub fn start_with_state() -> MockServer {
        Self::start_with(&[], true)
    }

    /// Start a server with extra `serve` arguments.
    pub fn start_with_args(extra: &[&str]) -> MockServer {
        Self::start_with(extra, false)
    }

    /// Start `iphone-mock serve --listen 127.0.0.1:0 EXTRA…`, with `--state <fresh tempdir>`
    /// when `with_state`, and `--tls $IPHONE_MOCK_TLS` when that is set (1.2 or 1.3).
    pub fn start_with(extra: &[&str], with_state: bool) -> MockServer {
        let state = with_state.then(|| tempfile::tempdir().expect("state dir"));
        let mut args: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        // CI runs the interop suites once per TLS version the phone may offer.
        if let Ok(version) = std::env::var("IPHONE_MOCK_TLS")
            && !version.is_empty()
            && !extra.contains(&"--tls")
        {
            args.extend(["--tls".to_string(), version]);
        }
        if let Some(dir) = &state {
            args.push("--state".into());
            args.push(dir.path().to_string_lossy().into_owned());
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_iphone-mock"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn iphone-mock serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut addr = None;
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("listening on ")
                && let Ok(a) = rest.trim().parse::<SocketAddr>()
            {
                addr = Some(a);
                break;
            }
        }
        let Some(addr) = addr else {
            let _ = child.kill();
            let status = child.wait();
            panic!("iphone-mock serve exited before listening ({status:?})");
        };
        // Drain the rest of stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        MockServer { child, addr, state }
    }

    /// `USBMUXD_SOCKET_ADDRESS=127.0.0.1:PORT`, the form every client accepts.
    pub fn socket_address(&self) -> String {
        self.addr.to_string()
    }

    /// Our own usbmuxd client, pointed at this server.
    pub fn muxd_client(&self) -> iphone_import::usbmux::muxd::MuxdClient {
        use iphone_import::usbmux::muxd::{MuxdAddr, MuxdClient};
        MuxdClient::new(MuxdAddr::Tcp(self.socket_address()))
    }

    /// The environment a peer needs to reach this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("USBMUXD_SOCKET_ADDRESS".into(), self.socket_address())]
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

/// Stops a child politely (SIGTERM, so `iphone-mock` removes its generated library from /tmp),
/// then for good if it has not exited within 5 s.
pub fn stop_child(child: &mut std::process::Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) on our own child's pid; it cannot have been reaped (we hold `child`).
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < until {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Environment for a peer talking to `server` from its own private home.
pub fn peer_env(server: &MockServer, home: &PeerHome) -> Vec<(String, String)> {
    let mut env = home.env();
    env.extend(server.env());
    env
}

/// A child's stderr, line by line as it comes, each also echoed to the test's output after `tag`.
pub fn stderr_lines(child: &mut Child, tag: &'static str) -> std::sync::mpsc::Receiver<String> {
    let (tx, lines) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{tag}: {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// A child's exit code once it exits; after `within` it is killed and the test fails.
pub fn wait_exit_within(child: &mut Child, within: std::time::Duration) -> Option<i32> {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child did not exit within {within:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
