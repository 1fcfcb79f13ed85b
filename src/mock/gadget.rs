//! `iphone-mock gadget`: the simulated iPhone as a real USB device, through the Linux USB gadget
//! framework (configfs + FunctionFS, via the `usb-gadget` crate). On a machine with a USB device
//! controller (or `dummy_hcd`, as in the test VM of `tests/usbvm/`) the host's own USB stack sees
//! `05ac:12a8 Apple Inc. iPhone` and anything that speaks usbmux over libusb can talk to it.
//!
//! The mux interface's endpoints are bridged to a [`Link`] (device end) and served by the same
//! device-role mux code the in-process link uses.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use usb_gadget::function::custom::{
    Custom, Endpoint, EndpointDirection, EndpointReceiver, EndpointSender, Event, Interface,
    TransferType,
};
use usb_gadget::{Class, Config, Gadget, Id, RegGadget, Strings, Udc};

use crate::mock::builder::{self, BuiltPhone, MediaSource, PhoneConfig};
use crate::mock::phone::{PhoneIdentity, ServiceFn, SimulatedPhone};
use crate::usbmux::APPLE_VID;
use crate::usbmux::driver::serve_device;
use crate::usbmux::link::{Link, LinkError};

/// Name of our gadget under /sys/kernel/config/usb_gadget.
const GADGET_NAME: &str = "iphone-mock";
/// Bytes asked of the OUT endpoint per read: a multiple of every wMaxPacketSize (64, 512, 1024),
/// larger than usbmuxd's biggest OUT transfer (49152), so one read is usually one mux packet.
const OUT_READ_SIZE: usize = 64 * 1024;
/// Packets in flight between the mux and the endpoints, per direction.
const LINK_QUEUE: usize = 64;

/// Which configurations the device offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// Like a real iPhone in its initial mode: four configurations, the mux interface only in 3
    /// and 4, the kernel picks 1, so the host must switch configuration (as usbmuxd does).
    Phone,
    /// One configuration holding only the mux interface (the simplest device that works).
    Single,
}

#[derive(Debug, clap::Args)]
pub struct GadgetArgs {
    /// USB serial number = the UDID without its dash (24 or 40 hex characters).
    #[arg(long)]
    pub serial: Option<String>,
    /// USB product id (iPhones report 0x12a8).
    #[arg(long, default_value = "0x12a8", value_parser = parse_u16)]
    pub product_id: u16,
    /// USB device controller to bind to (default: the first in /sys/class/udc).
    #[arg(long)]
    pub udc: Option<String>,
    /// Configuration layout.
    #[arg(long, value_enum, default_value_t = Layout::Phone)]
    pub layout: Layout,
    /// File to create once the device is bound to the controller (for scripts).
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// The phone's media folder (/var/mobile/Media), e.g. written by `iphone-mock
    /// generate-library`. Default: a small demo library generated into a temporary folder.
    #[arg(long, value_name = "DIR")]
    pub library: Option<PathBuf>,
    /// Benchmarks: also listen on this phone port with a service that sends
    /// `--bench-bytes` bytes and closes (the mux path's throughput).
    #[arg(long, value_name = "PORT")]
    pub bench_port: Option<u16>,
    /// Bytes the `--bench-port` service sends per connection.
    #[arg(long, default_value_t = 256 << 20)]
    pub bench_bytes: u64,
    /// Benchmarks: no mux at all; stream fixed-size bulk IN transfers as fast as the host reads
    /// them (the plain USB path's throughput, to compare the mux path with).
    #[arg(long, conflicts_with = "bench_port")]
    pub raw_source: bool,
}

fn parse_u16(s: &str) -> Result<u16, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|e| format!("not a 16-bit number: {s} ({e})"))
}

/// Serve the simulated iPhone as a USB device until SIGINT/SIGTERM. Needs root (configfs).
pub(crate) async fn serve(args: GadgetArgs) -> anyhow::Result<()> {
    // Handlers first: a SIGTERM at any later point must still remove the gadget from configfs.
    let mut stop = Box::pin(shutdown_signal()?);
    let identity = PhoneIdentity::default();
    let serial = match &args.serial {
        Some(s) => s.clone(),
        None => identity.udid.replace('-', ""),
    };
    if !matches!(serial.len(), 24 | 40) || !serial.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("--serial must be 24 or 40 hex characters (a UDID without its dash), got {serial:?}");
    }
    let mut identity = identity;
    identity.udid = dashed(&serial);
    identity.product_id = args.product_id;
    // The phone first (lockdownd's key generation takes seconds under emulation): a host that
    // sees the device may send VERSION at once and give up if nothing answers.
    let bench = args.bench_port.map(|port| (port, args.bench_bytes));
    let library = args.library.clone();
    let building = tokio::task::spawn_blocking(move || build_phone(identity, library, bench));
    let built = tokio::select! {
        built = building => built.context("building the simulated phone failed")??,
        () = &mut stop => return Ok(()),
    };

    let udc = pick_udc(args.udc.as_deref())?;
    let device = build_device(&serial, args.product_id, args.layout)?;
    // From here on, dropping `reg` (also on `?`) removes the gadget from configfs.
    let reg = device.gadget.bind(&udc).with_context(|| {
        format!(
            "cannot bind the gadget to USB device controller {:?}; is another gadget bound to it?",
            udc.name()
        )
    })?;
    if let Some(path) = &args.ready_file {
        std::fs::write(path, b"bound\n")
            .with_context(|| format!("cannot write the ready file {}", path.display()))?;
    }
    eprintln!(
        "iphone-mock gadget: {:04x}:{:04x} serial {serial} bound to {:?} ({:?} layout)",
        APPLE_VID,
        args.product_id,
        udc.name(),
        args.layout
    );

    let result = serve_mux(
        device.mux,
        device.out_ep,
        device.in_ep,
        device.others,
        built.phone.clone(),
        args.raw_source,
        stop,
    )
    .await;
    remove(reg);
    // The phone (and its temporary media folder, if generated) lives until the gadget is gone.
    drop(built);
    result
}

/// The phone behind the USB port: the same builder as `iphone-mock serve` and `--demo`.
fn build_phone(
    identity: PhoneIdentity,
    library: Option<PathBuf>,
    bench: Option<(u16, u64)>,
) -> anyhow::Result<BuiltPhone> {
    let mut config = PhoneConfig {
        identity,
        ..PhoneConfig::default()
    };
    if let Some(dir) = library {
        config.media = MediaSource::Dir(dir);
    }
    let built = builder::build(config)?;
    if let Some((port, bytes)) = bench {
        built.phone.listen(port, bench_source(bytes));
    }
    Ok(built)
}

/// A service that sends `total` bytes as fast as the mux takes them, then closes.
fn bench_source(total: u64) -> ServiceFn {
    Arc::new(move |mut stream| {
        Box::pin(async move {
            let chunk = vec![0x5a_u8; 64 * 1024];
            let mut left = total;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                if stream.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
                left -= n as u64;
            }
            let _ = stream.shutdown().await;
        })
    })
}

/// Bytes per transfer in `--raw-source` mode: not a multiple of any wMaxPacketSize, so every
/// transfer ends with a short packet and needs no ZLP, and a 64 KiB host read takes it whole.
const RAW_TRANSFER: usize = 65_000;

/// `--raw-source`: instead of the mux, fill the IN pipe until the host goes away.
async fn raw_source(link: Link) {
    let transfer = Bytes::from(vec![0xa5_u8; RAW_TRANSFER]);
    while link.outgoing.send(transfer.clone()).await.is_ok() {}
}

fn dashed(serial: &str) -> String {
    if serial.len() == 24 {
        format!("{}-{}", &serial[..8], &serial[8..])
    } else {
        serial.to_string()
    }
}

fn pick_udc(name: Option<&str>) -> anyhow::Result<Udc> {
    let udcs = usb_gadget::udcs().context(
        "cannot list USB device controllers in /sys/class/udc (is the kernel built with USB gadget \
         support and a UDC driver such as dummy_hcd loaded?)",
    )?;
    match name {
        Some(name) => udcs
            .into_iter()
            .find(|u| u.name() == name)
            .with_context(|| format!("no USB device controller named {name:?} in /sys/class/udc")),
        None => {
            let mut udcs = udcs;
            udcs.sort_by_key(|u| u.name().to_os_string());
            udcs.into_iter().next().context(
                "no USB device controller in /sys/class/udc; load one (e.g. `modprobe dummy_hcd`)",
            )
        }
    }
}

/// The gadget definition plus the FunctionFS handles that must live as long as it is bound.
struct Device {
    gadget: Gadget,
    mux: Custom,
    out_ep: EndpointReceiver,
    in_ep: EndpointSender,
    /// Interfaces that are present for realism only (PTP, iPod, Ethernet); nothing serves them.
    others: Vec<Placeholder>,
}

struct Placeholder {
    function: Custom,
    _receivers: Vec<EndpointReceiver>,
    _senders: Vec<EndpointSender>,
}

/// A FunctionFS interface with endpoints that are never used.
fn placeholder(
    class: Class,
    name: &str,
    endpoints: &[(bool, TransferType)],
) -> (Placeholder, usb_gadget::function::Handle) {
    let mut interface = Interface::new(class, name);
    let mut receivers = Vec::new();
    let mut senders = Vec::new();
    for &(device_to_host, transfer) in endpoints {
        let direction = if device_to_host {
            let (sender, dir) = EndpointDirection::device_to_host();
            senders.push(sender);
            dir
        } else {
            let (receiver, dir) = EndpointDirection::host_to_device();
            receivers.push(receiver);
            dir
        };
        let mut endpoint = Endpoint::custom(direction, transfer);
        if transfer == TransferType::Interrupt {
            endpoint.max_packet_size_hs = 64;
            endpoint.max_packet_size_ss = 64;
            endpoint.interval = 8;
        }
        interface = interface.with_endpoint(endpoint);
    }
    let (function, handle) = Custom::builder().with_interface(interface).build();
    (
        Placeholder {
            function,
            _receivers: receivers,
            _senders: senders,
        },
        handle,
    )
}

fn build_device(serial: &str, product_id: u16, layout: Layout) -> anyhow::Result<Device> {
    let (out_ep, out_dir) = EndpointDirection::host_to_device();
    let (in_ep, in_dir) = EndpointDirection::device_to_host();
    let (mux, mux_handle) = Custom::builder()
        .with_interface(
            Interface::new(Class::vendor_specific(254, 2), "Apple USB Multiplexor")
                .with_endpoint(Endpoint::bulk(out_dir))
                .with_endpoint(Endpoint::bulk(in_dir)),
        )
        .build();

    let mut gadget = Gadget::new(
        // Like an iPhone: class defined per interface.
        Class::INTERFACE_SPECIFIC,
        Id::new(APPLE_VID, product_id),
        Strings::new("Apple Inc.", "iPhone", serial),
    );
    gadget.name = Some(GADGET_NAME.to_string());
    gadget.device_release = 0x1002;

    let mut others = Vec::new();
    match layout {
        Layout::Single => {
            gadget.add_config(Config::new("PTP + Apple Mobile Device").with_function(mux_handle));
        }
        Layout::Phone => {
            // The same FunctionFS function may sit in several configurations: f_fs binds it
            // once and enables it in whichever configuration the host selects.
            let (ptp, ptp_handle) = placeholder(
                Class::new(6, 1, 1),
                "PTP",
                &[
                    (false, TransferType::Bulk),
                    (true, TransferType::Bulk),
                    (true, TransferType::Interrupt),
                ],
            );
            let (ipod, ipod_handle) = placeholder(
                Class::new(3, 0, 0),
                "iPod USB Interface",
                &[(true, TransferType::Interrupt)],
            );
            let (eth, eth_handle) = placeholder(
                Class::vendor_specific(253, 1),
                "Apple USB Ethernet",
                &[(false, TransferType::Bulk), (true, TransferType::Bulk)],
            );
            others.extend([ptp, ipod, eth]);
            gadget.add_config(Config::new("PTP").with_function(ptp_handle.clone()));
            gadget.add_config(Config::new("iPod USB Interface").with_function(ipod_handle));
            gadget.add_config(
                Config::new("PTP + Apple Mobile Device")
                    .with_function(ptp_handle.clone())
                    .with_function(mux_handle.clone()),
            );
            gadget.add_config(
                Config::new("PTP + Apple Mobile Device + Apple USB Ethernet")
                    .with_function(ptp_handle)
                    .with_function(mux_handle)
                    .with_function(eth_handle),
            );
        }
    }

    let gadget_dir = PathBuf::from("/sys/kernel/config/usb_gadget").join(GADGET_NAME);
    if gadget_dir.exists() {
        bail!(
            "a gadget named {GADGET_NAME} already exists in configfs ({}); is another \
             `iphone-mock gadget` running? Remove it or stop that process first",
            gadget_dir.display()
        );
    }
    Ok(Device {
        gadget,
        mux,
        out_ep,
        in_ep,
        others,
    })
}

fn remove(reg: RegGadget) {
    if let Err(e) = reg.remove() {
        eprintln!("iphone-mock gadget: could not remove the gadget from configfs: {e}");
    }
}

/// What the control endpoint tells the serving loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ep0 {
    /// The host selected a configuration that contains the mux interface.
    Enabled,
    /// It left it (configuration change, reset, unplug).
    Disabled,
}

/// Run mux sessions, one per time the host enables the mux interface, until a signal arrives.
async fn serve_mux(
    mux: Custom,
    out_ep: EndpointReceiver,
    in_ep: EndpointSender,
    others: Vec<Placeholder>,
    phone: Arc<SimulatedPhone>,
    raw_source_mode: bool,
    mut stop: Pin<Box<dyn Future<Output = ()> + Send>>,
) -> anyhow::Result<()> {
    let (ep0_tx, mut ep0_rx) = mpsc::unbounded_channel();
    spawn_named("gadget-ep0", move || watch_ep0(mux, ep0_tx))?;
    for other in others {
        spawn_named("gadget-placeholder", move || {
            drain_placeholder(other.function)
        })?;
    }
    let (out_sessions, out_sessions_rx) = std_mpsc::channel();
    spawn_named("gadget-out", move || pump_out(out_ep, out_sessions_rx))?;
    let (in_sessions, in_sessions_rx) = std_mpsc::channel();
    spawn_named("gadget-in", move || pump_in(in_ep, in_sessions_rx))?;

    {
        let mut enabled = false;
        loop {
            // Wait until the host selects a configuration with the mux interface.
            while !enabled {
                tokio::select! {
                    ev = ep0_rx.recv() => match ev {
                        Some(Ep0::Enabled) => enabled = true,
                        Some(Ep0::Disabled) => {}
                        None => bail!("the gadget's control endpoint closed"),
                    },
                    _ = &mut stop => return Ok(()),
                }
            }
            eprintln!("iphone-mock gadget: host enabled the mux interface; serving");
            let (incoming_tx, incoming_rx) = mpsc::channel(LINK_QUEUE);
            let (outgoing_tx, outgoing_rx) = mpsc::channel(LINK_QUEUE);
            let _ = out_sessions.send(incoming_tx);
            let _ = in_sessions.send(outgoing_rx);
            let link = Link {
                outgoing: outgoing_tx,
                incoming: incoming_rx,
            };
            let session: Pin<Box<dyn Future<Output = ()> + Send>> = if raw_source_mode {
                Box::pin(raw_source(link))
            } else {
                Box::pin(serve_session(link, phone.clone()))
            };
            let mut session = session;
            loop {
                tokio::select! {
                    () = &mut session => {
                        // The mux gave up on this host (or the link broke): like a phone that
                        // needs replugging, serve nothing until the host re-enables us.
                        eprintln!("iphone-mock gadget: mux session ended");
                        while enabled {
                            tokio::select! {
                                ev = ep0_rx.recv() => match ev {
                                    Some(Ep0::Disabled) => enabled = false,
                                    Some(Ep0::Enabled) => {}
                                    None => bail!("the gadget's control endpoint closed"),
                                },
                                _ = &mut stop => return Ok(()),
                            }
                        }
                        break;
                    }
                    ev = ep0_rx.recv() => match ev {
                        Some(Ep0::Disabled) => {
                            eprintln!("iphone-mock gadget: host disabled the mux interface");
                            enabled = false;
                            break;
                        }
                        Some(Ep0::Enabled) => {}
                        None => bail!("the gadget's control endpoint closed"),
                    },
                    _ = &mut stop => return Ok(()),
                }
            }
        }
    }
}

/// One plug-in's worth of mux: the device role over the link, with the phone's services.
async fn serve_session(link: Link, phone: Arc<SimulatedPhone>) {
    if let Err(e) = serve_device(link, phone).await {
        eprintln!("iphone-mock gadget: mux: {e}");
    }
}

fn spawn_named(name: &str, f: impl FnOnce() + Send + 'static) -> anyhow::Result<()> {
    thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(drop)
        .with_context(|| format!("cannot start thread {name}"))
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, not polled.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Forward ep0 events; stall every control request (Apple's mode requests are device-level and
/// reach a FunctionFS function only with ALL_CTRL_RECIP, which we do not set; interface requests
/// have no meaning for usbmux).
fn watch_ep0(mut mux: Custom, events: mpsc::UnboundedSender<Ep0>) {
    loop {
        let ev = match mux.event_timeout(Duration::from_secs(1)) {
            Ok(Some(ev)) => ev,
            Ok(None) => {
                if events.is_closed() {
                    return;
                }
                continue;
            }
            Err(e) => {
                // Also how it ends when the gadget is removed at shutdown: say so only if the
                // serving loop still listens.
                if !events.is_closed() {
                    eprintln!("iphone-mock gadget: reading ep0 events failed: {e}");
                }
                return;
            }
        };
        let state = match ev {
            Event::Enable => Some(Ep0::Enabled),
            Event::Disable | Event::Unbind => Some(Ep0::Disabled),
            Event::SetupHostToDevice(req) => {
                let _ = req.halt();
                None
            }
            Event::SetupDeviceToHost(req) => {
                let _ = req.halt();
                None
            }
            _ => None,
        };
        if let Some(state) = state
            && events.send(state).is_err()
        {
            return;
        }
    }
}

/// Placeholder interfaces: consume their ep0 events so nothing queues up; stall requests.
fn drain_placeholder(mut function: Custom) {
    loop {
        match function.event_timeout(Duration::from_secs(1)) {
            Ok(Some(Event::SetupHostToDevice(req))) => drop(req.halt()),
            Ok(Some(Event::SetupDeviceToHost(req))) => drop(req.halt()),
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// Bulk OUT → the current session's `incoming`. A failed read (the host disabled the interface)
/// ends the session: the mux sees the link close, as on unplug.
fn pump_out(
    mut ep: EndpointReceiver,
    sessions: std_mpsc::Receiver<mpsc::Sender<Result<Bytes, LinkError>>>,
) {
    // A read that completes after its session ended (the host disabled us, then re-enabled us
    // after a re-plug) holds the next host's first packet, its VERSION: hand it to the next
    // session instead of dropping it.
    let mut carried: Option<Bytes> = None;
    while let Ok(incoming) = sessions.recv() {
        if let Some(data) = carried.take()
            && let Err(e) = incoming.blocking_send(Ok(data))
        {
            carried = e.0.ok();
            continue;
        }
        loop {
            match ep.recv_and_fetch(BytesMut::with_capacity(OUT_READ_SIZE)) {
                // A zero-length read is the host's ZLP ending a packet-multiple transfer.
                Ok(data) if data.is_empty() => {}
                Ok(data) => {
                    if let Err(e) = incoming.blocking_send(Ok(data.freeze())) {
                        carried = e.0.ok();
                        break;
                    }
                }
                Err(e) => {
                    let _ = incoming.blocking_send(Err(link_error(&e)));
                    let _ = ep.cancel();
                    break;
                }
            }
        }
    }
}

/// The current session's `outgoing` → bulk IN, each mux packet its own transfer, followed by a
/// zero-length packet when its length is a multiple of wMaxPacketSize: otherwise a host that
/// asked for more bytes would wait for the end of the transfer forever.
fn pump_in(mut ep: EndpointSender, sessions: std_mpsc::Receiver<mpsc::Receiver<Bytes>>) {
    while let Ok(mut outgoing) = sessions.recv() {
        // Drop whatever a previous session left queued.
        let _ = ep.cancel();
        let max_packet = match ep.max_packet_size() {
            Ok(n) if n > 0 => n,
            _ => 512,
        };
        while let Some(packet) = outgoing.blocking_recv() {
            // The session ended (host disabled us): what it left queued belongs to the old host.
            if outgoing.is_closed() {
                break;
            }
            let needs_zlp = !packet.is_empty() && packet.len() % max_packet == 0;
            let sent = ep.send(packet).and_then(|()| {
                if needs_zlp {
                    ep.send(Bytes::new())
                } else {
                    Ok(())
                }
            });
            if let Err(e) = sent {
                eprintln!("iphone-mock gadget: bulk IN failed: {e}");
                break;
            }
        }
    }
}

fn link_error(e: &io::Error) -> LinkError {
    match e.raw_os_error() {
        // ESHUTDOWN / ENODEV / ECONNRESET: the host deconfigured us or went away.
        Some(108) | Some(19) | Some(104) => LinkError::Disconnected,
        _ => LinkError::Transfer(e.to_string()),
    }
}
