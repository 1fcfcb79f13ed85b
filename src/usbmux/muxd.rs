//! Client of the usbmuxd daemon's socket: list phones, watch them come and go, open a byte
//! stream to a port on one, and keep pair records and the host's BUID in the daemon, as
//! libimobiledevice does. One request per socket connection, like the real clients.
//!
//! The codec lives in `muxd_proto`; this is the thin tokio driver around it.

// missing_docs: pub for the fuzz targets and protocol tests; fields and variants carry the wire format's names.
#![allow(missing_docs)]

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use super::deadline::{DEFAULT_IO_TIMEOUT, ReplyDeadline, sleep_until};
use super::device_info::{DeviceInfo, TransportKind, dashed_udid};
use super::muxd_proto::{
    ClientInfo, DeviceEvent, DeviceRecord, FrameDecoder, ProtoError, Reply, Request, ResultCode,
};
use super::{DeviceStream, stream::AsyncStream};

/// Where the daemon listens when `USBMUXD_SOCKET_ADDRESS` is not set.
pub(crate) const DEFAULT_SOCKET_PATH: &str = "/var/run/usbmuxd";
/// The environment variable every usbmuxd client honours.
pub(crate) const SOCKET_ADDRESS_ENV: &str = "USBMUXD_SOCKET_ADDRESS";
/// How long `probe` waits for a daemon to answer before deciding there is none.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The daemon's socket address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MuxdAddr {
    Unix(PathBuf),
    /// `host:port` or `[v6]:port`, resolved when connecting.
    Tcp(String),
}

impl MuxdAddr {
    /// Parse a `USBMUXD_SOCKET_ADDRESS` value:
    /// - `UNIX:/path` → unix socket (libusbmuxd's form),
    /// - `host:port` or `[v6addr]:port` → TCP (the form every client understands),
    /// - a plain absolute path → unix socket. libusbmuxd ignores this form, but pymobiledevice3
    ///   and idevice accept it, so we do too.
    pub fn parse(value: &str) -> Result<MuxdAddr, MuxdError> {
        let bad = || MuxdError::BadAddress(value.to_string());
        let value = value.trim();
        if let Some(path) = value
            .strip_prefix("UNIX:")
            .or_else(|| value.strip_prefix("unix:"))
        {
            if path.is_empty() {
                return Err(bad());
            }
            return Ok(MuxdAddr::Unix(PathBuf::from(path)));
        }
        if value.starts_with('/') {
            return Ok(MuxdAddr::Unix(PathBuf::from(value)));
        }
        let (host, port) = value.rsplit_once(':').ok_or_else(bad)?;
        let port_ok = port.parse::<u16>().is_ok_and(|p| p != 0);
        let host_ok = !host.is_empty() && (!host.starts_with('[') || host.ends_with(']'));
        if !port_ok || !host_ok {
            return Err(bad());
        }
        Ok(MuxdAddr::Tcp(value.to_string()))
    }
}

impl fmt::Display for MuxdAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MuxdAddr::Unix(p) => write!(f, "{}", p.display()),
            MuxdAddr::Tcp(a) => write!(f, "{a}"),
        }
    }
}

/// What went wrong talking to usbmuxd.
#[derive(Debug, thiserror::Error)]
pub enum MuxdError {
    #[error(
        "{SOCKET_ADDRESS_ENV}={0:?} is not a usbmuxd address; use UNIX:/path, /path, host:port or [v6addr]:port"
    )]
    BadAddress(String),
    #[error(
        "no usbmuxd daemon is running ({addr}: {source}); use --transport usb or start usbmuxd"
    )]
    NoDaemon {
        addr: MuxdAddr,
        source: std::io::Error,
    },
    #[error(
        "not allowed to use the usbmuxd socket {addr} ({source}); add yourself to the group that owns it, or use --transport usb"
    )]
    PermissionDenied {
        addr: MuxdAddr,
        source: std::io::Error,
    },
    #[error(
        "lost the connection to usbmuxd at {addr}: {source}; check that usbmuxd is still running and retry"
    )]
    Io {
        addr: MuxdAddr,
        source: std::io::Error,
    },
    #[error("usbmuxd at {addr} sent something we cannot read: {source}")]
    Protocol { addr: MuxdAddr, source: ProtoError },
    #[error(
        "usbmuxd at {addr} closed the connection before answering {request}; check its log and retry"
    )]
    Closed {
        addr: MuxdAddr,
        request: &'static str,
    },
    #[error("usbmuxd at {addr} gave an unexpected answer to {request}: {reply}")]
    UnexpectedReply {
        addr: MuxdAddr,
        request: &'static str,
        reply: String,
    },
    #[error(
        "usbmuxd at {addr} stopped answering {request} for {secs} s: unplug the phone and plug it in again (or restart usbmuxd), then run the command again"
    )]
    Stalled {
        addr: MuxdAddr,
        request: &'static str,
        secs: u64,
    },
    #[error("the phone (usbmuxd device {device_id}) is no longer attached; reconnect it and retry")]
    NoSuchDevice { device_id: u32 },
    #[error("the phone refused a connection to port {port}: the service is not running there")]
    ConnectionRefused { device_id: u32, port: u16 },
    #[error(
        "usbmuxd refused {request} (result {code}); check that the phone is still attached and see usbmuxd's log"
    )]
    Failed { request: &'static str, code: u32 },
}

/// A usbmuxd client. Every call opens its own connection, so one client serves many tasks.
#[derive(Debug)]
pub struct MuxdClient {
    addr: MuxdAddr,
    /// A `USBMUXD_SOCKET_ADDRESS` value that did not parse: every request reports it rather
    /// than silently using another daemon.
    bad_env: Option<String>,
    client: ClientInfo,
    next_tag: AtomicU32,
    /// How long the daemon may stay silent while a reply is outstanding.
    io_timeout: Duration,
}

/// Device arrivals and departures from a `Listen` connection.
pub struct MuxdEvents {
    addr: MuxdAddr,
    conn: Conn,
}

impl MuxdEvents {
    #[cfg(test)]
    /// The events as a `futures::Stream`; it ends when the daemon closes the connection.
    pub(crate) fn into_stream(
        self,
    ) -> impl futures::Stream<Item = Result<DeviceEvent, MuxdError>> + Send {
        futures::stream::unfold(Some(self), |events| async move {
            let mut events = events?;
            match events.next_event().await {
                Ok(Some(event)) => Some((Ok(event), Some(events))),
                Ok(None) => None,
                // Report the error once, then end.
                Err(e) => Some((Err(e), None)),
            }
        })
    }

    /// The next event; `Ok(None)` when the daemon closed the connection.
    pub(crate) async fn next_event(&mut self) -> Result<Option<DeviceEvent>, MuxdError> {
        match self.conn.read_reply(&self.addr, "Listen").await {
            Ok(Reply::Event(event)) => Ok(Some(event)),
            Ok(other) => Err(unexpected(&self.addr, "Listen", &other)),
            Err(MuxdError::Closed { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Clone for MuxdClient {
    fn clone(&self) -> Self {
        MuxdClient {
            addr: self.addr.clone(),
            bad_env: self.bad_env.clone(),
            client: self.client.clone(),
            next_tag: AtomicU32::new(self.next_tag.load(Ordering::Relaxed)),
            io_timeout: self.io_timeout,
        }
    }
}

impl MuxdClient {
    /// A client for the daemon `USBMUXD_SOCKET_ADDRESS` names, else `/var/run/usbmuxd`.
    /// An unparsable value is reported by the first request (as `MuxdError::BadAddress`).
    pub(crate) fn from_env() -> MuxdClient {
        MuxdClient::from_env_value(std::env::var(SOCKET_ADDRESS_ENV).ok())
    }

    fn from_env_value(value: Option<String>) -> MuxdClient {
        let default = || MuxdAddr::Unix(PathBuf::from(DEFAULT_SOCKET_PATH));
        match value.filter(|v| !v.trim().is_empty()) {
            None => MuxdClient::new(default()),
            Some(v) => match MuxdAddr::parse(&v) {
                Ok(addr) => MuxdClient::new(addr),
                Err(_) => MuxdClient {
                    bad_env: Some(v),
                    ..MuxdClient::new(default())
                },
            },
        }
    }

    pub fn new(addr: MuxdAddr) -> MuxdClient {
        MuxdClient {
            addr,
            bad_env: None,
            client: ClientInfo::default(),
            next_tag: AtomicU32::new(1),
            io_timeout: DEFAULT_IO_TIMEOUT,
        }
    }

    /// How long the daemon may stay silent while a reply is outstanding (`--io-timeout`).
    pub fn set_io_timeout(&mut self, limit: Duration) {
        self.io_timeout = limit;
    }

    pub fn addr(&self) -> &MuxdAddr {
        &self.addr
    }

    /// The daemon's address for messages (`/var/run/usbmuxd`, `127.0.0.1:27015`).
    pub fn address(&self) -> String {
        match &self.bad_env {
            Some(value) => format!("{SOCKET_ADDRESS_ENV}={value:?} (invalid)"),
            None => self.addr.to_string(),
        }
    }

    fn check_addr(&self) -> Result<(), MuxdError> {
        match &self.bad_env {
            Some(value) => Err(MuxdError::BadAddress(value.clone())),
            None => Ok(()),
        }
    }

    /// Whether a usbmuxd daemon answers at the address (for `--transport auto`).
    pub async fn probe(&self) -> bool {
        let ask = async {
            self.check_addr()?;
            let mut conn = Conn::open(&self.addr).await?;
            conn.send(
                &self.addr,
                &Request::ReadBuid.encode_plist(self.tag(), &self.client),
            )
            .await?;
            conn.read_reply(&self.addr, "ReadBUID").await
        };
        // Any well-formed answer, even an error result, means a daemon is there.
        matches!(tokio::time::timeout(PROBE_TIMEOUT, ask).await, Ok(Ok(_)))
    }

    /// The phones the daemon sees. A phone attached both by USB and by network is listed once,
    /// by USB.
    pub async fn list_devices(&self) -> Result<Vec<DeviceInfo>, MuxdError> {
        const REQ: &str = "ListDevices";
        match self.request(&Request::ListDevices, REQ).await? {
            Reply::DeviceList(records) => Ok(device_infos(records)),
            Reply::Result(code) => Err(MuxdError::Failed {
                request: REQ,
                code: code.as_u32(),
            }),
            other => Err(unexpected(&self.addr, REQ, &other)),
        }
    }

    /// Subscribe to device events. The daemon first reports every attached phone.
    pub async fn listen(&self) -> Result<MuxdEvents, MuxdError> {
        const REQ: &str = "Listen";
        let (conn, reply) = self.request_keep(&Request::Listen, REQ).await?;
        expect_ok(&self.addr, REQ, reply)?;
        Ok(MuxdEvents {
            addr: self.addr.clone(),
            conn,
        })
    }

    /// Open a byte stream to `port` (host order) on the phone.
    pub async fn connect(&self, device_id: u32, port: u16) -> Result<DeviceStream, MuxdError> {
        const REQ: &str = "Connect";
        let (conn, reply) = self
            .request_keep(&Request::Connect { device_id, port }, REQ)
            .await?;
        match reply {
            Reply::Result(ResultCode::Ok) => Ok(conn.into_stream()),
            Reply::Result(ResultCode::BadDevice) => Err(MuxdError::NoSuchDevice { device_id }),
            Reply::Result(ResultCode::ConnectionRefused) => {
                Err(MuxdError::ConnectionRefused { device_id, port })
            }
            Reply::Result(code) => Err(MuxdError::Failed {
                request: REQ,
                code: code.as_u32(),
            }),
            other => Err(unexpected(&self.addr, REQ, &other)),
        }
    }

    /// The host's system BUID, which goes into pair records and StartSession.
    pub async fn read_buid(&self) -> Result<String, MuxdError> {
        const REQ: &str = "ReadBUID";
        match self.request(&Request::ReadBuid, REQ).await? {
            Reply::Buid(buid) => Ok(buid),
            Reply::Result(code) => Err(MuxdError::Failed {
                request: REQ,
                code: code.as_u32(),
            }),
            other => Err(unexpected(&self.addr, REQ, &other)),
        }
    }

    /// The pair record (plist bytes) the daemon keeps for `udid`; `None` if there is none.
    pub async fn read_pair_record(&self, udid: &str) -> Result<Option<Vec<u8>>, MuxdError> {
        const REQ: &str = "ReadPairRecord";
        match self
            .request(
                &Request::ReadPairRecord {
                    udid: udid.to_string(),
                },
                REQ,
            )
            .await?
        {
            Reply::PairRecordData(data) => Ok(Some(data)),
            // usbmuxd answers ENOENT (2) when it has no record.
            Reply::Result(ResultCode::BadDevice) => Ok(None),
            Reply::Result(code) => Err(MuxdError::Failed {
                request: REQ,
                code: code.as_u32(),
            }),
            other => Err(unexpected(&self.addr, REQ, &other)),
        }
    }

    /// Store a pair record (plist bytes) for `udid` in the daemon.
    pub async fn save_pair_record(
        &self,
        udid: &str,
        device_id: u32,
        data: &[u8],
    ) -> Result<(), MuxdError> {
        const REQ: &str = "SavePairRecord";
        let req = Request::SavePairRecord {
            udid: udid.to_string(),
            device_id: Some(device_id),
            data: data.to_vec(),
        };
        let reply = self.request(&req, REQ).await?;
        expect_ok(&self.addr, REQ, reply)
    }

    /// Remove the daemon's pair record for `udid`.
    pub(crate) async fn delete_pair_record(&self, udid: &str) -> Result<(), MuxdError> {
        const REQ: &str = "DeletePairRecord";
        let reply = self
            .request(
                &Request::DeletePairRecord {
                    udid: udid.to_string(),
                },
                REQ,
            )
            .await?;
        expect_ok(&self.addr, REQ, reply)
    }

    fn tag(&self) -> u32 {
        self.next_tag.fetch_add(1, Ordering::Relaxed)
    }

    async fn request(&self, req: &Request, name: &'static str) -> Result<Reply, MuxdError> {
        Ok(self.request_keep(req, name).await?.1)
    }

    /// Send one request on a fresh connection and read its reply, skipping events that
    /// arrive in between and replies with another tag.
    async fn request_keep(
        &self,
        req: &Request,
        name: &'static str,
    ) -> Result<(Conn, Reply), MuxdError> {
        self.check_addr()?;
        let tag = self.tag();
        let stalled = || MuxdError::Stalled {
            addr: self.addr.clone(),
            request: name,
            secs: self.io_timeout.as_secs(),
        };
        let mut conn = tokio::time::timeout(self.io_timeout, Conn::open(&self.addr))
            .await
            .map_err(|_| stalled())??;
        conn.deadline.set_limit(self.io_timeout);
        conn.deadline.expect(Instant::now(), name);
        conn.send(&self.addr, &req.encode_plist(tag, &self.client))
            .await?;
        loop {
            let (reply_tag, reply) = conn.read_tagged(&self.addr, name).await?;
            if reply_tag == tag || !matches!(reply, Reply::Event(_)) {
                conn.deadline.done();
                return Ok((conn, reply));
            }
        }
    }
}

fn expect_ok(addr: &MuxdAddr, request: &'static str, reply: Reply) -> Result<(), MuxdError> {
    match reply {
        Reply::Result(ResultCode::Ok) => Ok(()),
        Reply::Result(code) => Err(MuxdError::Failed {
            request,
            code: code.as_u32(),
        }),
        other => Err(unexpected(addr, request, &other)),
    }
}

fn unexpected(addr: &MuxdAddr, request: &'static str, reply: &Reply) -> MuxdError {
    // The reply is untrusted: cut by characters, never inside one.
    let reply: String = format!("{reply:?}").chars().take(200).collect();
    MuxdError::UnexpectedReply {
        addr: addr.clone(),
        request,
        reply,
    }
}

/// USB entries first, then network entries for phones not already seen by USB.
fn device_infos(records: Vec<DeviceRecord>) -> Vec<DeviceInfo> {
    let (usb, other): (Vec<_>, Vec<_>) = records
        .into_iter()
        .partition(|r| r.connection_type == "USB");
    let mut out: Vec<DeviceInfo> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in usb.into_iter().chain(other) {
        let udid = dashed_udid(&r.serial_number);
        if !seen.insert(udid.clone()) {
            continue;
        }
        out.push(DeviceInfo {
            udid,
            device_id: r.device_id,
            product_id: r.product_id,
            connection_speed: r.connection_speed,
            location_id: r.location_id,
            transport: TransportKind::Usbmuxd,
        });
    }
    out
}

/// One socket connection to the daemon.
struct Conn {
    stream: Box<dyn AsyncStream>,
    decoder: FrameDecoder,
    /// Set while a reply is awaited; `Listen` events have none (a phone may never come).
    deadline: ReplyDeadline,
}

impl Conn {
    async fn open(addr: &MuxdAddr) -> Result<Conn, MuxdError> {
        let opened: std::io::Result<Box<dyn AsyncStream>> = match addr {
            MuxdAddr::Unix(path) => UnixStream::connect(path)
                .await
                .map(|s| Box::new(s) as Box<dyn AsyncStream>),
            MuxdAddr::Tcp(hostport) => TcpStream::connect(hostport.as_str()).await.map(|s| {
                let _ = s.set_nodelay(true);
                Box::new(s) as Box<dyn AsyncStream>
            }),
        };
        match opened {
            Ok(stream) => Ok(Conn {
                stream,
                decoder: FrameDecoder::new(),
                deadline: ReplyDeadline::default(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                Err(MuxdError::PermissionDenied {
                    addr: addr.clone(),
                    source: e,
                })
            }
            Err(e) => Err(MuxdError::NoDaemon {
                addr: addr.clone(),
                source: e,
            }),
        }
    }

    async fn send(&mut self, addr: &MuxdAddr, bytes: &[u8]) -> Result<(), MuxdError> {
        let io = |source| MuxdError::Io {
            addr: addr.clone(),
            source,
        };
        self.stream.write_all(bytes).await.map_err(io)?;
        self.stream.flush().await.map_err(io)
    }

    async fn read_reply(
        &mut self,
        addr: &MuxdAddr,
        request: &'static str,
    ) -> Result<Reply, MuxdError> {
        Ok(self.read_tagged(addr, request).await?.1)
    }

    /// Read exactly one message: never past its end, since after Connect the bytes that follow
    /// belong to the phone's service.
    async fn read_tagged(
        &mut self,
        addr: &MuxdAddr,
        request: &'static str,
    ) -> Result<(u32, Reply), MuxdError> {
        let protocol = |source| MuxdError::Protocol {
            addr: addr.clone(),
            source,
        };
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(frame) = self.decoder.next_frame().map_err(protocol)? {
                let reply = Reply::decode(&frame).map_err(protocol)?;
                return Ok((frame.tag, reply));
            }
            let want = self.decoder.wanted().min(chunk.len());
            let n = tokio::select! {
                n = self.stream.read(&mut chunk[..want]) => n.map_err(|source| MuxdError::Io {
                    addr: addr.clone(),
                    source,
                })?,
                _ = sleep_until(self.deadline.poll_timeout()) => {
                    match self.deadline.handle_timeout(Instant::now()) {
                        Some(stall) => return Err(MuxdError::Stalled {
                            addr: addr.clone(),
                            request,
                            secs: stall.after.as_secs(),
                        }),
                        None => continue,
                    }
                }
            };
            self.deadline.heard(Instant::now());
            if n == 0 {
                return Err(MuxdError::Closed {
                    addr: addr.clone(),
                    request,
                });
            }
            self.decoder.feed(&chunk[..n]);
        }
    }

    fn into_stream(self) -> DeviceStream {
        self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_address_form() {
        assert_eq!(
            MuxdAddr::parse("UNIX:/tmp/m.sock").unwrap(),
            MuxdAddr::Unix("/tmp/m.sock".into())
        );
        assert_eq!(
            MuxdAddr::parse("/tmp/m.sock").unwrap(),
            MuxdAddr::Unix("/tmp/m.sock".into())
        );
        assert_eq!(
            MuxdAddr::parse("127.0.0.1:27015").unwrap(),
            MuxdAddr::Tcp("127.0.0.1:27015".into())
        );
        assert_eq!(
            MuxdAddr::parse("[::1]:27015").unwrap(),
            MuxdAddr::Tcp("[::1]:27015".into())
        );
        assert_eq!(
            MuxdAddr::parse("localhost:1").unwrap(),
            MuxdAddr::Tcp("localhost:1".into())
        );
        for bad in [
            "",
            "UNIX:",
            "relative/path",
            "host:",
            ":27015",
            "host:0",
            "host:70000",
            "[::1:5",
        ] {
            assert!(
                matches!(MuxdAddr::parse(bad), Err(MuxdError::BadAddress(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn unexpected_replies_are_cut_safely() {
        let addr = MuxdAddr::Tcp("127.0.0.1:1".into());
        let reply = Reply::Buid("é".repeat(300));
        let MuxdError::UnexpectedReply { reply, .. } = unexpected(&addr, "ReadBUID", &reply) else {
            panic!("wrong error")
        };
        assert_eq!(reply.chars().count(), 200);
    }

    #[test]
    fn network_duplicates_of_usb_phones_are_dropped() {
        let rec = |id, serial: &str, ty: &str| DeviceRecord {
            device_id: id,
            serial_number: serial.into(),
            product_id: 0x12a8,
            location_id: None,
            connection_speed: None,
            connection_type: ty.into(),
        };
        let list = device_infos(vec![
            rec(3, "00008030001A2B3C4D5E802E", "Network"),
            rec(1, "00008030-001A2B3C4D5E802E", "USB"),
            rec(4, "00008110000205A13E06401E", "Network"),
        ]);
        let ids: Vec<_> = list
            .iter()
            .map(|d| (d.device_id, d.udid.as_str()))
            .collect();
        assert_eq!(
            ids,
            vec![
                (1, "00008030-001A2B3C4D5E802E"),
                (4, "00008110-000205A13E06401E")
            ]
        );
        assert!(list.iter().all(|d| d.transport == TransportKind::Usbmuxd));
    }

    #[tokio::test]
    async fn environment_value_chooses_the_daemon_and_a_bad_one_is_reported() {
        let default = MuxdClient::from_env_value(None);
        assert_eq!(default.addr(), &MuxdAddr::Unix(DEFAULT_SOCKET_PATH.into()));
        assert_eq!(
            MuxdClient::from_env_value(Some(String::new())).address(),
            DEFAULT_SOCKET_PATH
        );
        let tcp = MuxdClient::from_env_value(Some("127.0.0.1:27015".into()));
        assert_eq!(tcp.address(), "127.0.0.1:27015");

        let bad = MuxdClient::from_env_value(Some("localhost".into()));
        assert!(bad.address().contains("invalid"), "{}", bad.address());
        assert!(!bad.probe().await);
        let err = bad.list_devices().await.unwrap_err();
        assert!(
            matches!(err, MuxdError::BadAddress(ref v) if v == "localhost"),
            "{err:?}"
        );
        assert!(err.to_string().contains("host:port"), "{err}");
    }

    #[tokio::test]
    async fn missing_socket_is_no_daemon_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let client = MuxdClient::new(MuxdAddr::Unix(dir.path().join("absent.sock")));
        assert!(!client.probe().await);
        let err = client.list_devices().await.unwrap_err();
        assert!(matches!(err, MuxdError::NoDaemon { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("no usbmuxd daemon is running") && text.contains("--transport usb"),
            "{text}"
        );
    }
}
