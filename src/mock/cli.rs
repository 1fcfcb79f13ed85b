//! `iphone-mock`: serve or generate the simulated iPhone.
//!
//! Each subcommand is a variant of [`Command`] with its own argument struct; add new ones
//! beside `Serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use tokio::net::{TcpListener, UnixListener};

use crate::mock::builder::{self, BuiltPhone, MediaSource, PhoneConfig};
use crate::mock::fleet;
use crate::mock::library::LibraryOptions;
use crate::mock::lockdownd::Lockdownd;
use crate::mock::muxd_server::{MuxdServer, MuxdServerConfig};
use crate::mock::profile::Profile;
use crate::mock::stall::{Stall, silent_once};

#[derive(Debug, Parser)]
#[command(
    name = "iphone-mock",
    version,
    about = "A simulated iPhone for tests, demos and interop checks"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the simulated iPhone behind a usbmuxd-compatible socket, so that real clients
    /// (idevice_id, ideviceinfo, ifuse, pymobiledevice3) and iphone-import can reach it via
    /// USBMUXD_SOCKET_ADDRESS. SIGUSR1 unplugs / replugs the phone (Listen clients see it);
    /// SIGUSR2 restarts it (locked until its first unlock) or gives it that first unlock.
    Serve(Box<ServeArgs>),
    /// Write a simulated photo library (a /var/mobile/Media-shaped tree with Photos.sqlite).
    GenerateLibrary(super::library::cli::GenerateArgs),
    /// Be a USB device: the simulated iPhone through the Linux USB gadget framework (configfs +
    /// FunctionFS; needs root and a device controller, e.g. dummy_hcd). Used by tests/usbvm.
    #[cfg(feature = "gadget")]
    Gadget(crate::mock::gadget::GadgetArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// TCP address to listen on; port 0 picks a free one. Clients: USBMUXD_SOCKET_ADDRESS=HOST:PORT
    /// (the one form every client accepts). Default 127.0.0.1:27015 when --socket is not given.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Also listen on this unix socket (libimobiledevice: USBMUXD_SOCKET_ADDRESS=UNIX:PATH,
    /// pymobiledevice3: USBMUXD_SOCKET_ADDRESS=PATH).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Keep pair records and the BUID in this directory across runs (default: in memory).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// The BUID that ReadBUID reports (default: saved in --state, else random per run).
    #[arg(long, value_name = "UUID")]
    pub buid: Option<String>,
    /// The simulated phone's UDID (with --phones: the first phone's; the others count up from it).
    #[arg(long, value_name = "UDID")]
    pub udid: Option<String>,
    /// Serve this many phones at once (1-32), each with its own UDID, generated library (seeded
    /// differently) and link: with --profile usb2 each phone has its own 40 MB/s.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=fleet::MAX_PHONES as i64))]
    pub phones: u16,
    /// The phone's media folder (/var/mobile/Media), e.g. written by `generate-library`.
    /// Default: a small demo library generated into a temporary folder. Not with --phones > 1.
    #[arg(long, value_name = "DIR", conflicts_with = "libraries")]
    pub library: Option<PathBuf>,
    // Clap's help text: `<UDID>` is meant as written there, not as HTML.
    #[allow(rustdoc::invalid_html_tags)]
    /// Keep each phone's generated library in DIR/<UDID>/ (truth in DIR/<UDID>/.iphone-mock/);
    /// a library already there from an earlier run is served as it is.
    #[arg(long, value_name = "DIR")]
    pub libraries: Option<PathBuf>,
    /// Photo assets of each generated library (default: the 46-asset demo library).
    #[arg(long, value_name = "N")]
    pub photos: Option<usize>,
    /// Video assets of each generated library.
    #[arg(long, value_name = "N")]
    pub videos: Option<usize>,
    /// Generated photos 1.5–5 MB and videos 20–200 MB instead of tiny files.
    #[arg(long)]
    pub realistic_sizes: bool,
    /// With --phones: only phone K (1 = the first) gets the phone faults (--stall other than
    /// muxd-*, --locked-after-boot, --session-inactive-once); default every phone.
    #[arg(long, value_name = "K")]
    pub fault_phone: Option<u16>,
    /// Speed of the simulated phone: none (as fast as possible), usb2 (40 MB/s), usb3 (300 MB/s).
    #[arg(long, default_value = "none")]
    pub profile: Profile,
    /// Photos.sqlite layout of the generated demo library (ignored with --library): ios13,
    /// ios14, ios15, ios16, ios17, ios17.6, ios18, ios26.
    #[arg(long, value_name = "SHAPE")]
    pub schema: Option<crate::mock::library::SchemaShape>,
    /// TLS versions the phone offers for its lockdown session: any (1.2 and 1.3), 1.2, 1.3, or
    /// 1.0 (an old iOS; no current client can then start a session).
    #[arg(long, value_name = "VERSION", default_value = "any")]
    pub tls: crate::mock::session_tls::TlsOffer,
    /// Write every TLS record as soon as it exists, instead of in bursts as a real phone does
    /// (session tickets with the next reply; StopSession's reply with close_notify).
    #[arg(long)]
    pub no_coalesce: bool,
    /// Fault (tests): answer every GetValue with a plist nested this many levels deep, as a
    /// hostile phone could.
    #[arg(long, value_name = "LEVELS", hide = true)]
    pub fault_deep_getvalue: Option<u16>,
    // Clap's help text: `PATH[@BYTES]` is meant as written there, not as a link.
    #[allow(rustdoc::broken_intra_doc_links)]
    /// Stop answering once, here, staying connected (tests of the host's deadlines): muxd-accept,
    /// muxd-list, lockdown:REQUEST (e.g. lockdown:GetValue), tls, afc-after:N, afc-read:PATH[@BYTES],
    /// wrong-port (StartService names a port where nothing answers).
    #[arg(long, value_name = "WHERE")]
    pub stall: Option<Stall>,
    /// Start as a phone that restarted and has not been unlocked since: Pair, StartSession and
    /// StartService answer PasswordProtected until the simulated first unlock, SECONDS later
    /// (or at SIGUSR2, which toggles between that state and unlocked at any time).
    #[arg(long, value_name = "SECONDS")]
    pub locked_after_boot: Option<u64>,
    /// The first StartService finds its lockdown session ended (SessionInactive).
    #[arg(long)]
    pub session_inactive_once: bool,
    /// At most N connections to a service (AFC) at once: StartService answers ServiceLimit
    /// beyond, as a real phone limits a service's instances.
    #[arg(long, value_name = "N")]
    pub service_limit: Option<usize>,
    /// Odd files in the generated demo library (ignored with --library), comma-separated or
    /// `all`: heic-jpeg, mov-wide-first, imprt, img-wrap, full-size-render, cpl-assets.
    #[arg(long, value_name = "LIST")]
    pub odd_files: Option<crate::mock::library::OddFiles>,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("iphone-mock: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(*args).await,
            Command::GenerateLibrary(args) => super::library::cli::run(&args),
            #[cfg(feature = "gadget")]
            Command::Gadget(args) => crate::mock::gadget::serve(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("iphone-mock: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The one place a served phone is put together: phone `index` (0-based) of `--phones`,
/// identity plus the services it runs.
pub(crate) fn build_phone(args: &ServeArgs, index: usize) -> anyhow::Result<BuiltPhone> {
    let mut config = PhoneConfig::default();
    if let Some(udid) = &args.udid {
        config.identity.udid = crate::usbmux::device_info::dashed_udid(udid);
    }
    config.identity = fleet::identity(&config.identity, index);
    let options = library_options(args, index);
    if let Some(shape) = args.schema.filter(|_| args.library.is_none()) {
        // The phone says it runs the iOS version whose database it carries.
        config.identity.product_version = shape.ios_version().into();
    }
    config.media = match (&args.library, &args.libraries) {
        (Some(dir), _) => MediaSource::Dir(dir.clone()),
        (None, Some(parent)) => {
            let dir =
                fleet::library_dir(parent, &config.identity.udid).map_err(anyhow::Error::msg)?;
            if !dir.join(crate::mock::library::TRUTH_FILE).is_file() {
                crate::mock::library::generate(&dir, &options).with_context(|| {
                    format!(
                        "cannot generate the library of phone {} in {}",
                        index + 1,
                        dir.display()
                    )
                })?;
            }
            MediaSource::Dir(dir)
        }
        (None, None) => MediaSource::Generate(options),
    };
    config.profile = args.profile.clone();
    config.session_tls.offer = args.tls;
    config.session_tls.coalesce = !args.no_coalesce;
    let faulty = args.fault_phone.is_none_or(|k| usize::from(k) == index + 1);
    let stall = args.stall.clone().filter(|_| faulty);
    // Stalls hit once, like a phone that recovers after a replug.
    match &stall {
        Some(Stall::AfcAfterRequests(n)) => config.faults.stall_after_requests = Some(*n),
        Some(Stall::AfcInFile(path, at)) => {
            config.faults.stall_in_file = Some((path.clone(), *at));
        }
        _ => {}
    }
    config.faults.stall_once = true;
    config.locked_since_boot = faulty && args.locked_after_boot.is_some();
    config.session_inactive_once = faulty && args.session_inactive_once;
    config.service_limit = args.service_limit.filter(|_| faulty);
    // The Trust alert is accepted at once: real clients would poll forever otherwise.
    let built = builder::build(config)?;
    match &stall {
        Some(s @ (Stall::LockdownRequest(_) | Stall::TlsHandshake)) => {
            built.lockdownd.set_stall(Some(s.clone()))
        }
        Some(Stall::WrongServicePort) => built
            .phone
            .add_named_service("com.apple.afc", silent_once(built.afc.service_fn())),
        _ => {}
    }
    if let Some(levels) = args.fault_deep_getvalue.filter(|_| faulty) {
        built
            .lockdownd
            .set_raw_reply("GetValue", deep_plist(usize::from(levels)));
    }
    Ok(built)
}

/// What a generated library of phone `index` holds: the demo library unless sizes are given.
fn library_options(args: &ServeArgs, index: usize) -> LibraryOptions {
    let mut options = if args.photos.is_some() || args.videos.is_some() || args.realistic_sizes {
        LibraryOptions::default()
    } else {
        LibraryOptions::demo()
    };
    if let Some(photos) = args.photos {
        options.photos = photos;
    }
    if let Some(videos) = args.videos {
        options.videos = videos;
    }
    options.realistic_sizes = args.realistic_sizes;
    options.seed = fleet::seed(options.seed, index);
    if let Some(shape) = args.schema {
        options.schema = shape;
    }
    if let Some(odd) = args.odd_files {
        options.odd = odd;
    }
    options
}

/// Every phone of `--phones`, built one after the other (a failure names the phone).
fn build_phones(args: &ServeArgs) -> anyhow::Result<Vec<BuiltPhone>> {
    if args.phones > 1 && args.library.is_some() {
        bail!(
            "--library serves one folder; with --phones give --libraries DIR instead (each phone gets DIR/<UDID>/)"
        );
    }
    if let Some(k) = args.fault_phone.filter(|k| *k == 0 || *k > args.phones) {
        bail!("--fault-phone {k} names no phone; use 1..={}", args.phones);
    }
    (0..usize::from(args.phones))
        .map(|i| build_phone(args, i))
        .collect()
}

/// A reply dictionary whose Value is `levels` nested arrays (XML, ≈ 15 bytes per level).
fn deep_plist(levels: usize) -> Vec<u8> {
    let mut xml = String::from("<?xml version=\"1.0\"?><plist version=\"1.0\"><dict>");
    xml.push_str("<key>Request</key><string>GetValue</string><key>Value</key>");
    xml.push_str(&"<array>".repeat(levels));
    xml.push_str(&"</array>".repeat(levels));
    xml.push_str("</dict></plist>");
    xml.into_bytes()
}

/// `iphone-mock serve`: run until interrupted.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let built = build_phones(&args)?;
    let config = MuxdServerConfig {
        buid: args.buid.clone(),
        state_dir: args.state.clone(),
        stall: args.stall.clone(),
    };
    let phones = built.iter().map(|b| b.phone.clone()).collect();
    let server = MuxdServer::new(phones, config).context("cannot set up the state directory")?;

    let listen = match (args.listen, &args.socket) {
        (None, None) => Some(SocketAddr::from(([127, 0, 0, 1], 27015))),
        (listen, _) => listen,
    };
    let mut tasks = tokio::task::JoinSet::new();
    // Bind everything before announcing anything: tests start clients on the first line.
    let mut announce = Vec::new();
    if let Some(addr) = listen {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}; pick another port or use port 0"))?;
        let bound = listener.local_addr()?;
        tasks.spawn(server.clone().serve_tcp(listener));
        // Tests read this line to learn the port.
        announce.push(format!("listening on {bound}"));
    }
    if let Some(path) = &args.socket {
        remove_stale_socket(path)?;
        let listener = UnixListener::bind(path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        tasks.spawn(server.clone().serve_unix(listener));
        announce.push(format!("listening on unix:{}", path.display()));
    }
    // Signal handlers before the announcement: a test signals as soon as it has read it, and
    // SIGUSR1/SIGUSR2 without a handler would end the process.
    // SIGUSR1 = pull the cable out / plug it back in (tests of `iphone-import watch`).
    let mut usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?;
    let replug = server.clone();
    tokio::spawn(async move {
        while usr1.recv().await.is_some() {
            let plugged = replug.toggle_plugged();
            eprintln!(
                "iphone-mock: phone {}",
                if plugged { "plugged in" } else { "unplugged" }
            );
        }
    });
    // SIGUSR2 restarts the phones that --fault-phone names (every phone by default).
    let lockdownds = built
        .iter()
        .enumerate()
        .filter(|(i, _)| args.fault_phone.is_none_or(|k| usize::from(k) == i + 1))
        .map(|(_, b)| b.lockdownd.clone())
        .collect();
    spawn_lock_toggle(lockdownds, args.locked_after_boot)?;
    for line in announce {
        println!("{line}");
    }
    for b in &built {
        eprintln!(
            "iphone-mock: serving {} (UDID {}, library {}, BUID {}); point clients at it with USBMUXD_SOCKET_ADDRESS",
            b.phone.identity.device_name,
            b.phone.identity.udid,
            b.media_root().display(),
            server.buid()
        );
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let outcome = tokio::select! {
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = term.recv() => Ok(()),
        Some(done) = tasks.join_next() => match done {
            Ok(Err(e)) => Err(anyhow::Error::new(e).context("the listener failed")),
            Ok(Ok(())) => Ok(()),
            Err(e) => Err(anyhow::Error::new(e).context("the listener task failed")),
        },
    };
    if let Some(path) = &args.socket {
        let _ = std::fs::remove_file(path);
    }
    outcome
}

/// SIGUSR2 = the phone restarts (and stays locked), or gets its first unlock since; with
/// `--locked-after-boot` the first unlock also comes by itself after `unlock_after` seconds.
fn spawn_lock_toggle(
    lockdownds: Vec<Arc<Lockdownd>>,
    unlock_after: Option<u64>,
) -> anyhow::Result<()> {
    let mut usr2 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined2())?;
    let mut locked = unlock_after.is_some();
    if let Some(seconds) = unlock_after {
        eprintln!("iphone-mock: locked since restart; unlocks in {seconds} s or at SIGUSR2");
    }
    let timer = tokio::time::sleep(Duration::from_secs(unlock_after.unwrap_or(0)));
    tokio::spawn(async move {
        tokio::pin!(timer);
        let mut timer_armed = locked;
        loop {
            tokio::select! {
                _ = &mut timer, if timer_armed => {
                    timer_armed = false;
                    locked = false;
                }
                received = usr2.recv() => {
                    if received.is_none() {
                        break;
                    }
                    timer_armed = false;
                    locked = !locked;
                }
            }
            for lockdownd in &lockdownds {
                lockdownd.set_locked_since_boot(locked);
            }
            eprintln!(
                "iphone-mock: {}",
                if locked {
                    "restarted: locked since restart"
                } else {
                    "unlocked"
                }
            );
        }
    });
    Ok(())
}

/// A socket file left by an earlier run blocks bind; remove it, but never anything else.
fn remove_stale_socket(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)
            .with_context(|| format!("cannot remove the old socket {}", path.display())),
        Ok(_) => bail!(
            "{} exists and is not a socket; choose another --socket path",
            path.display()
        ),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_schema_shapes_the_generated_demo_library() {
        let cli = Cli::try_parse_from(["iphone-mock", "serve", "--schema", "ios18"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve");
        };
        let built = build_phone(&args, 0).unwrap();
        let truth = crate::mock::library::read_truth(built.media_root()).unwrap();
        assert_eq!(
            (truth.schema.as_str(), truth.join_table.as_str()),
            ("ios18", "Z_30ASSETS")
        );
        assert_eq!(built.phone.identity.product_version, truth.ios_version);
        assert!(truth.ios_version.starts_with("18."));
        assert!(Cli::try_parse_from(["iphone-mock", "serve", "--schema", "ios9"]).is_err());
        assert!(Cli::try_parse_from(["iphone-mock", "serve", "--odd-files", "x"]).is_err());
    }

    #[test]
    fn serve_odd_files_adds_them_to_the_generated_demo_library() {
        let cli = Cli::try_parse_from(["iphone-mock", "serve", "--odd-files", "imprt"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve");
        };
        let built = build_phone(&args, 0).unwrap();
        let truth = crate::mock::library::read_truth(built.media_root()).unwrap();
        assert!(!truth.odd_files.is_empty());
        assert!(
            truth
                .odd_files
                .iter()
                .all(|o| o.path.starts_with("DCIM/100IMPRT/"))
        );
        assert!(built.media_root().join(&truth.odd_files[0].path).is_file());
    }

    #[test]
    fn serve_tls_picks_the_offered_versions() {
        let cli = Cli::try_parse_from(["iphone-mock", "serve", "--tls", "1.2"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve");
        };
        assert_eq!(args.tls, crate::mock::session_tls::TlsOffer::Tls12);
        assert!(!args.no_coalesce);
        assert!(Cli::try_parse_from(["iphone-mock", "serve", "--tls", "1.1"]).is_err());
    }

    #[test]
    fn serve_phones_get_their_own_udid_and_differently_seeded_library() {
        let dir = tempfile::tempdir().unwrap();
        let libs = dir.path().to_str().unwrap();
        let parse = |extra: &[&str]| {
            let mut argv = vec!["iphone-mock", "serve", "--phones", "2", "--libraries", libs];
            argv.extend_from_slice(extra);
            let Command::Serve(args) = Cli::try_parse_from(argv).unwrap().command else {
                panic!("not serve");
            };
            args
        };
        let phones = build_phones(&parse(&["--fault-phone", "2"])).unwrap();
        let truths: Vec<_> = phones
            .iter()
            .map(|b| {
                assert_eq!(b.media_root(), dir.path().join(&b.phone.identity.udid));
                crate::mock::library::read_truth(b.media_root()).unwrap()
            })
            .collect();
        assert_ne!(phones[0].phone.identity.udid, phones[1].phone.identity.udid);
        assert_ne!(truths[0].seed, truths[1].seed);
        assert!(build_phones(&parse(&["--fault-phone", "3"])).is_err());
        assert!(Cli::try_parse_from(["iphone-mock", "serve", "--phones", "0"]).is_err());
        assert!(Cli::try_parse_from(["iphone-mock", "serve", "--phones", "33"]).is_err());
    }
}
