//! `iphone-import watch [DEST] [pull options]`: wait for phones and run the `pull` code path once
//! per plug-in. Attach events come from the usbmuxd daemon's Listen when that is the route, else
//! from USB hotplug. Several phones import at once (phones sharing one DEST take turns); one
//! phone's error is reported under its UDID and the others and watching go on.
//! SIGTERM exits 0, Ctrl-C (SIGINT) exits 130; a running import is cancelled cleanly first.

use crate::untrusted::text::{for_terminal, path_for_terminal};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use futures::StreamExt;
use futures::future::LocalBoxFuture;
use futures::stream::FuturesUnordered;
use indicatif::MultiProgress;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::args::{GlobalArgs, PullArgs, WatchArgs};
use super::error_text::error_text;
use super::pull::{self, PhoneLabel, RunOptions};
use super::{exit, session};
use crate::import::pull::AfcConnector;
use crate::usbmux::TransportKind;
use crate::usbmux::device_info::dashed_udid;
use crate::usbmux::muxd_proto::DeviceEvent;
use crate::usbmux::usb::{self, UsbEvent};

/// A phone came or went (by UDID).
#[derive(Debug)]
enum Plug {
    Attached(String),
    Detached(String),
}

/// Which signal stopped the watch.
#[derive(Clone, Copy, PartialEq)]
enum Stop {
    Term,
    Int,
}

pub(super) async fn run(global: &GlobalArgs, args: &WatchArgs) -> anyhow::Result<u8> {
    super::config::require_dest(&args.pull)?;
    let cancel = CancellationToken::new();
    let stop = Arc::new(std::sync::Mutex::new(None::<Stop>));
    let signals = spawn_signal_task(cancel.clone(), stop.clone())?;

    let reach = session::open(global).await?;
    let mut plugs = plug_events(&reach).await?;
    eprintln!("watching for iPhones (Ctrl-C to stop)…");
    let mut imports = Imports::new(global, args, cancel.clone());
    // UDIDs imported during their current plug-in: a new import needs a Detached first.
    let mut done: HashSet<String> = HashSet::new();
    loop {
        let plug = tokio::select! {
            p = plugs.recv() => p,
            Some(()) = imports.running.next(), if !imports.running.is_empty() => continue,
            _ = cancel.cancelled() => break,
        };
        let Some(plug) = plug else {
            imports.finish().await;
            anyhow::bail!(
                "the device watcher stopped (usbmuxd daemon gone, or USB access lost); restart watch"
            );
        };
        match plug {
            Plug::Detached(udid) => {
                if done.remove(&udid) {
                    imports.say(&format!("{}: unplugged", for_terminal(&udid)));
                }
            }
            Plug::Attached(udid) => {
                // --udid: only that phone (dashes and case do not matter).
                let normal = |s: &str| s.replace('-', "").to_ascii_uppercase();
                let other = global
                    .udid
                    .as_deref()
                    .is_some_and(|only| normal(only) != normal(&udid));
                if !other && done.insert(udid.clone()) {
                    imports.start(udid);
                }
            }
        }
    }
    // Running imports saw the cancellation too: let them stop cleanly.
    imports.finish().await;
    signals.abort();
    let stopped = *stop
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    eprintln!("watch stopped");
    Ok(match stopped {
        Some(Stop::Int) => exit::INTERRUPTED,
        _ => exit::OK,
    })
}

/// The imports under way, one task per phone, so that phones import at once and one phone's
/// failure or stall costs that phone only. Phones whose DEST is the same folder take turns:
/// DEST has one lock and one ledger, and a second run on it would be refused as busy.
/// `{udid}` in DEST gives each phone its own folder, so they all run at once.
struct Imports {
    global: GlobalArgs,
    args: WatchArgs,
    cancel: CancellationToken,
    /// Polled by watch's own task (not spawned): the session and pull futures are not `Send`
    /// in a form tokio::spawn accepts, and the copy work runs on tasks of its own anyway.
    running: FuturesUnordered<LocalBoxFuture<'static, ()>>,
    /// One turn per DEST (absolute path): held by the phone importing into it.
    turns: HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>,
    /// The phones' progress bars, one line each.
    bars: MultiProgress,
}

impl Imports {
    fn new(global: &GlobalArgs, args: &WatchArgs, cancel: CancellationToken) -> Imports {
        Imports {
            global: global.clone(),
            args: args.clone(),
            cancel,
            running: FuturesUnordered::new(),
            turns: HashMap::new(),
            bars: MultiProgress::new(),
        }
    }

    fn say(&self, text: &str) {
        say(&self.bars, text);
    }

    fn start(&mut self, udid: String) {
        let dest = pull::for_phone(&self.args.pull, &udid)
            .dest
            .map(|d| std::path::absolute(&d).unwrap_or(d))
            .unwrap_or_default();
        let turn = self.turns.entry(dest.clone()).or_default().clone();
        let (global, args, cancel) = (self.global.clone(), self.args.clone(), self.cancel.clone());
        let bars = self.bars.clone();
        self.running.push(Box::pin(import_in_turn(
            global, args, udid, cancel, turn, dest, bars,
        )));
    }

    async fn finish(&mut self) {
        while self.running.next().await.is_some() {}
    }
}

/// One phone's import, once no other phone is importing into its DEST.
async fn import_in_turn(
    global: GlobalArgs,
    args: WatchArgs,
    udid: String,
    cancel: CancellationToken,
    turn: Arc<tokio::sync::Mutex<()>>,
    dest: PathBuf,
    bars: MultiProgress,
) {
    let shown = for_terminal(&udid);
    let _turn = match turn.try_lock() {
        Ok(held) => held,
        Err(_) => {
            say(
                &bars,
                &format!(
                    "{shown}: connected; waiting for the import into {} to finish",
                    path_for_terminal(&dest.to_string_lossy())
                ),
            );
            tokio::select! {
                held = turn.lock() => held,
                _ = cancel.cancelled() => return,
            }
        }
    };
    say(&bars, &format!("{shown}: connected, importing"));
    let label = PhoneLabel {
        udid: udid.clone(),
        bars: bars.clone(),
    };
    let outcome = import_one(&global, &args.pull, &udid, cancel.clone(), label).await;
    let message = outcome_message(&outcome);
    say(&bars, &format!("{shown}: {message}"));
    if !args.no_notify && !cancel.is_cancelled() {
        notify("iPhone import", &message);
    }
}

/// A line of watch's own, kept clear of the progress bars.
fn say(bars: &MultiProgress, text: &str) {
    bars.suspend(|| eprintln!("{text}"));
}

/// What one phone's import came to, with what to do next.
fn outcome_message(outcome: &anyhow::Result<u8>) -> String {
    match outcome {
        Ok(code) if *code == exit::OK => "import complete".to_string(),
        Ok(code) if *code == exit::PARTIAL => {
            "import partly done: some files were not copied (see above)".to_string()
        }
        Ok(code) if *code == exit::INTERRUPTED => "import interrupted".to_string(),
        Ok(code) => format!("import ended with exit code {code}"),
        Err(e) => {
            let hint = match session::exit_code_for(e) {
                _ if session::locked_since_restart(e) => {
                    " — unlock the phone with its passcode, then unplug and replug it"
                }
                exit::NOT_TRUSTED => " — unlock the phone, tap Trust, then unplug and replug it",
                // The stall message already says to unplug and replug.
                exit::STALLED => "",
                _ => " — unplug and replug the phone to try again",
            };
            format!("import failed: {}{hint}", error_text(e))
        }
    }
}

fn spawn_signal_task(
    cancel: CancellationToken,
    stop: Arc<std::sync::Mutex<Option<Stop>>>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(tokio::spawn(async move {
        let which = tokio::select! {
            _ = term.recv() => Stop::Term,
            _ = int.recv() => Stop::Int,
        };
        *stop
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(which);
        eprintln!("stopping: finishing cleanly (files copied so far are kept)…");
        cancel.cancel();
    }))
}

/// Attach/detach events for the route the global options chose. Each source first reports the
/// phones already connected, so a phone plugged in before `watch` starts is imported too.
async fn plug_events(reach: &session::Reach) -> anyhow::Result<mpsc::Receiver<Plug>> {
    let (tx, rx) = mpsc::channel(32);
    if let Some(client) = reach.transport.muxd() {
        let mut events = client.listen().await?;
        tokio::spawn(async move {
            let mut ids: HashMap<u32, String> = HashMap::new();
            while let Ok(Some(event)) = events.next_event().await {
                let plug = match event {
                    // Wi-Fi sync pairs show up as "Network" devices: plug-ins are USB only.
                    DeviceEvent::Attached(r) if r.connection_type != "USB" => continue,
                    DeviceEvent::Attached(r) => {
                        let udid = dashed_udid(&r.serial_number);
                        ids.insert(r.device_id, udid.clone());
                        Plug::Attached(udid)
                    }
                    DeviceEvent::Detached { device_id } => match ids.remove(&device_id) {
                        Some(udid) => Plug::Detached(udid),
                        None => continue,
                    },
                    DeviceEvent::Paired { .. } => continue,
                };
                if tx.send(plug).await.is_err() {
                    break;
                }
            }
        });
        return Ok(rx);
    }
    match reach.transport.kind() {
        TransportKind::Usb => {
            let mut events = usb::watch()?;
            tokio::spawn(async move {
                while let Some(e) = events.recv().await {
                    let plug = match e {
                        UsbEvent::Arrived(d) => Plug::Attached(d.udid),
                        UsbEvent::Left(d) => Plug::Detached(d.udid),
                    };
                    if tx.send(plug).await.is_err() {
                        break;
                    }
                }
            });
        }
        // The demo phone is there from the start and never leaves.
        TransportKind::Demo | TransportKind::Usbmuxd => {
            for d in reach.transport.list().await? {
                let _ = tx.send(Plug::Attached(d.udid)).await;
            }
            tokio::spawn(async move {
                tx.closed().await;
            });
        }
    }
    Ok(rx)
}

/// The pull command's code path for one phone, stopped by `cancel`.
async fn import_one(
    global: &GlobalArgs,
    args: &PullArgs,
    udid: &str,
    cancel: CancellationToken,
    label: PhoneLabel,
) -> anyhow::Result<u8> {
    let mut global = global.clone();
    global.udid = Some(udid.to_string());
    let session = tokio::select! {
        s = session::PhoneSession::open(&global) => Arc::new(s?),
        _ = cancel.cancelled() => return Ok(exit::INTERRUPTED),
    };
    let device = session.pull_device().await;
    let connector: Arc<dyn AfcConnector> = Arc::new(session::SessionConnector(session.clone()));
    let options = RunOptions {
        assets: None,
        cache_dir: pull::default_cache_dir(&device.udid),
        cancel,
        quiet: global.quiet,
    };
    let result = pull::run_labelled(connector, &device, args, options, Some(label)).await;
    session::close_shared(session).await;
    match result {
        Err(e) if pull::is_cancelled(&e) => Ok(exit::INTERRUPTED),
        other => other,
    }
}

/// A desktop notification when `notify-send` exists and a session bus is there; never required,
/// failures ignored (a headless server or a systemd system unit simply has none).
fn notify(title: &str, body: &str) {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none()
        && std::env::var_os("XDG_RUNTIME_DIR")
            .map(|d| !std::path::Path::new(&d).join("bus").exists())
            .unwrap_or(true)
    {
        return;
    }
    let spawned = std::process::Command::new("notify-send")
        .args(["--app-name=iphone-import", title, body])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Ok(mut child) = spawned {
        // Reap it in the background so no zombie is left.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
    }
}
