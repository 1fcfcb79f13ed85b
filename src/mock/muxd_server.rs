//! The simulated iPhone's usbmuxd-compatible front: real clients (libimobiledevice tools,
//! ifuse, pymobiledevice3) and our own `muxd` client reach the phone through it, exactly as
//! they would reach a real phone through the usbmuxd daemon.
//!
//! It speaks the daemon role of `usbmux::muxd_proto`: plist requests (answered with XML plists,
//! tag echoed) and the binary Listen/Connect of version-0 clients. A successful Connect hands
//! the raw socket to `SimulatedPhone::accept`. Pair records live in memory, or as
//! `<UDID>.plist` files in a state directory.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use plist::{Dictionary, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::broadcast;

use crate::mock::phone::SimulatedPhone;
use crate::mock::stall::{Stall, drain};
use crate::usbmux::muxd_proto::{
    DeviceEvent, DeviceRecord, Frame, FrameDecoder, ProtoError, Reply, Request, ResultCode,
    VERSION_BINARY,
};

/// errno values usbmuxd answers pair-record requests with.
const ENOENT: u32 = 2;
const EINVAL: u32 = 22;
/// First DeviceID handed out; usbmuxd counts from 1 as well.
const FIRST_DEVICE_ID: u32 = 1;
/// Most pair records kept in memory (one per phone is the real need).
const MAX_MEMORY_RECORDS: usize = 256;
/// File in the state directory holding the BUID, named and shaped as usbmuxd's.
const SYSTEM_CONFIG_FILE: &str = "SystemConfiguration.plist";

/// How the front is set up.
#[derive(Debug, Clone, Default)]
pub struct MuxdServerConfig {
    /// The BUID ReadBUID reports. Default: the one saved in `state_dir`, else a fresh random one.
    pub buid: Option<String>,
    /// Persist pair records (and the BUID) here; in memory only when `None`.
    pub state_dir: Option<PathBuf>,
    /// Go silent here (`Stall::MuxdAccept`, `Stall::MuxdListHalfway`); other stalls are ignored.
    pub stall: Option<Stall>,
}

/// One phone as the front reports it.
struct Attached {
    device_id: u32,
    location_id: u32,
    phone: Arc<SimulatedPhone>,
    /// False while "unplugged" ([`MuxdServer::toggle_plugged`]): not listed, not connectable.
    plugged: std::sync::atomic::AtomicBool,
}

/// The usbmuxd-compatible front for a set of simulated phones.
pub struct MuxdServer {
    devices: Vec<Attached>,
    buid: String,
    records: PairRecordStore,
    events: broadcast::Sender<DeviceEvent>,
    /// Listen connections, for ListListeners.
    listeners: Mutex<BTreeMap<u64, Dictionary>>,
    next_listener: AtomicU64,
    stall: Option<Stall>,
    /// Stalls hit once: set when the one stalled connection has happened.
    stall_used: std::sync::atomic::AtomicBool,
}

impl MuxdServer {
    /// A front for `phones`, numbered from DeviceID 1 in order.
    pub fn new(
        phones: Vec<Arc<SimulatedPhone>>,
        config: MuxdServerConfig,
    ) -> io::Result<Arc<MuxdServer>> {
        if let Some(dir) = &config.state_dir {
            std::fs::create_dir_all(dir)?;
        }
        let buid = match (config.buid, &config.state_dir) {
            (Some(buid), _) => buid,
            (None, Some(dir)) => load_or_create_buid(dir)?,
            (None, None) => new_buid(),
        };
        let devices = phones
            .into_iter()
            .zip(FIRST_DEVICE_ID..)
            .map(|(phone, device_id)| Attached {
                device_id,
                location_id: 0x0112_0000 + device_id,
                phone,
                plugged: std::sync::atomic::AtomicBool::new(true),
            })
            .collect();
        let (events, _) = broadcast::channel(64);
        Ok(Arc::new(MuxdServer {
            devices,
            buid,
            records: PairRecordStore {
                dir: config.state_dir,
                memory: Mutex::new(HashMap::new()),
            },
            events,
            listeners: Mutex::new(BTreeMap::new()),
            next_listener: AtomicU64::new(1),
            stall: config.stall,
            stall_used: Default::default(),
        }))
    }

    /// The BUID this front reports.
    pub fn buid(&self) -> &str {
        &self.buid
    }

    /// Simulate pulling every phone's cable out, or plugging it back in: Listen clients see
    /// Detached / Attached (same DeviceID again), ListDevices and Connect follow. Connections
    /// already open are left alone. Returns whether the phones are now plugged in.
    pub fn toggle_plugged(&self) -> bool {
        let mut now_plugged = true;
        for d in &self.devices {
            let was = d.plugged.fetch_xor(true, Ordering::SeqCst);
            now_plugged = !was;
        }
        let events: Vec<DeviceEvent> = if now_plugged {
            self.device_records()
                .into_iter()
                .map(DeviceEvent::Attached)
                .collect()
        } else {
            self.devices
                .iter()
                .map(|d| DeviceEvent::Detached {
                    device_id: d.device_id,
                })
                .collect()
        };
        for e in events {
            // Nobody listening is fine.
            let _ = self.events.send(e);
        }
        now_plugged
    }

    /// The devices as ListDevices reports them.
    pub fn device_records(&self) -> Vec<DeviceRecord> {
        self.devices
            .iter()
            .filter(|d| d.plugged.load(Ordering::SeqCst))
            .map(|d| DeviceRecord {
                device_id: d.device_id,
                serial_number: d.phone.identity.udid.clone(),
                product_id: d.phone.identity.product_id,
                location_id: Some(d.location_id),
                connection_speed: Some(d.phone.identity.connection_speed),
                connection_type: "USB".into(),
            })
            .collect()
    }

    /// Bind a TCP listener (port 0 picks a free one), serve it on a background task, and
    /// return the bound address: the one-liner for in-process tests.
    pub async fn spawn_tcp(
        self: &Arc<Self>,
        addr: std::net::SocketAddr,
    ) -> io::Result<std::net::SocketAddr> {
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        tokio::spawn(self.clone().serve_tcp(listener));
        Ok(bound)
    }

    /// Accept TCP clients forever, each on its own task.
    pub async fn serve_tcp(self: Arc<Self>, listener: TcpListener) -> io::Result<()> {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(self.clone().serve_connection(stream));
                }
                Err(e) => accept_failed(e).await,
            }
        }
    }

    /// Accept unix-socket clients forever, each on its own task.
    pub async fn serve_unix(self: Arc<Self>, listener: UnixListener) -> io::Result<()> {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(self.clone().serve_connection(stream));
                }
                Err(e) => accept_failed(e).await,
            }
        }
    }

    /// Serve one client connection until it closes, turns into a Listen subscription, or is
    /// handed to a phone's service by Connect.
    pub async fn serve_connection<S>(self: Arc<Self>, mut stream: S)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        if self.stall == Some(Stall::MuxdAccept) && !self.stall_used.swap(true, Ordering::SeqCst) {
            return drain(&mut stream).await;
        }
        let mut decoder = FrameDecoder::new();
        loop {
            let Ok(Some(frame)) = read_frame(&mut stream, &mut decoder).await else {
                return;
            };
            let tag = frame.tag;
            let binary = frame.version == VERSION_BINARY;
            let request = match Request::decode(&frame) {
                Ok(request) => request,
                Err(ProtoError::BadVersion(_)) => {
                    // libusbmuxd falls back to binary on this answer, so it goes out in binary.
                    let reply = Reply::Result(ResultCode::BadVersion);
                    if write_reply(&mut stream, &reply, tag, true).await.is_err() {
                        return;
                    }
                    continue;
                }
                Err(_) => Request::Unknown("malformed request".into()),
            };
            match request {
                Request::Listen => return self.serve_listener(stream, tag, binary).await,
                Request::Connect { device_id, port } => {
                    let Some(device) = self
                        .devices
                        .iter()
                        .find(|d| d.device_id == device_id && d.plugged.load(Ordering::SeqCst))
                    else {
                        let reply = Reply::Result(ResultCode::BadDevice);
                        if write_reply(&mut stream, &reply, tag, binary).await.is_err() {
                            return;
                        }
                        continue;
                    };
                    if !device.phone.is_listening(port) {
                        let reply = Reply::Result(ResultCode::ConnectionRefused);
                        if write_reply(&mut stream, &reply, tag, binary).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    if write_reply(&mut stream, &Reply::Result(ResultCode::Ok), tag, binary)
                        .await
                        .is_ok()
                    {
                        device.phone.accept(port, Box::new(stream));
                    }
                    return;
                }
                Request::ListDevices
                    if self.stall == Some(Stall::MuxdListHalfway)
                        && !self.stall_used.swap(true, Ordering::SeqCst) =>
                {
                    let bytes = self.answer(Request::ListDevices).encode_plist(tag);
                    let _ = stream.write_all(&bytes[..bytes.len() / 2]).await;
                    let _ = stream.flush().await;
                    return drain(&mut stream).await;
                }
                other => {
                    let reply = self.answer(other);
                    if write_reply(&mut stream, &reply, tag, binary).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Answer a request that leaves the connection in request mode.
    fn answer(&self, request: Request) -> Reply {
        match request {
            Request::ListDevices => Reply::DeviceList(self.device_records()),
            Request::ReadBuid => Reply::Buid(self.buid.clone()),
            Request::ListListeners => Reply::ListenerList(
                self.listeners
                    .lock()
                    .expect("listeners lock")
                    .values()
                    .cloned()
                    .collect(),
            ),
            Request::ReadPairRecord { udid } => match self.records.read(&udid) {
                Ok(Some(data)) => Reply::PairRecordData(data),
                Ok(None) => Reply::Result(ResultCode::from_u32(ENOENT)),
                Err(_) => Reply::Result(ResultCode::from_u32(EINVAL)),
            },
            Request::SavePairRecord {
                udid,
                device_id,
                data,
            } => match self.records.save(&udid, &data) {
                Ok(()) => {
                    let device_id = device_id.or_else(|| {
                        self.devices
                            .iter()
                            .find(|d| d.phone.identity.udid == udid)
                            .map(|d| d.device_id)
                    });
                    if let Some(device_id) = device_id {
                        // Nobody listening is fine.
                        let _ = self.events.send(DeviceEvent::Paired { device_id });
                    }
                    Reply::Result(ResultCode::Ok)
                }
                Err(_) => Reply::Result(ResultCode::from_u32(EINVAL)),
            },
            Request::DeletePairRecord { udid } => match self.records.delete(&udid) {
                Ok(true) => Reply::Result(ResultCode::Ok),
                Ok(false) => Reply::Result(ResultCode::from_u32(ENOENT)),
                Err(_) => Reply::Result(ResultCode::from_u32(EINVAL)),
            },
            // Listen and Connect are handled by the connection loop; anything else is unknown.
            Request::Listen | Request::Connect { .. } | Request::Unknown(_) => {
                Reply::Result(ResultCode::BadCommand)
            }
        }
    }

    /// Result 0, one Attached per phone, then events until the client goes away.
    async fn serve_listener<S>(self: Arc<Self>, stream: S, tag: u32, binary: bool)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        // Subscribe first so that no event between the snapshot and the loop is lost.
        let mut events = self.events.subscribe();
        let id = self.next_listener.fetch_add(1, Ordering::Relaxed);
        let mut entry = Dictionary::new();
        entry.insert("ID String".into(), Value::String(id.to_string()));
        self.listeners
            .lock()
            .expect("listeners lock")
            .insert(id, entry);

        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut greeting = vec![Reply::Result(ResultCode::Ok)];
        greeting.extend(
            self.device_records()
                .into_iter()
                .map(|r| Reply::Event(DeviceEvent::Attached(r))),
        );
        let mut ok = true;
        for (i, reply) in greeting.iter().enumerate() {
            // The Result echoes the tag; events are unsolicited (tag 0).
            let reply_tag = if i == 0 { tag } else { 0 };
            if write_reply(&mut writer, reply, reply_tag, binary)
                .await
                .is_err()
            {
                ok = false;
                break;
            }
        }
        let mut scratch = [0u8; 512];
        while ok {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(event) => ok = write_reply(&mut writer, &Reply::Event(event), 0, binary).await.is_ok(),
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => ok = false,
                },
                // A listener sends nothing more; EOF or an error means it left.
                read = reader.read(&mut scratch) => ok = matches!(read, Ok(n) if n > 0),
            }
        }
        self.listeners.lock().expect("listeners lock").remove(&id);
    }
}

/// A failed accept (out of file descriptors, a client that vanished) must not end the server:
/// note it and pause briefly so a persistent failure does not spin.
async fn accept_failed(e: io::Error) {
    tracing::warn!("usbmuxd front: accept failed: {e}");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
}

/// Read exactly one message (never past it: after Connect the rest belongs to the phone).
/// `Ok(None)` on a clean close; a protocol error closes the connection.
async fn read_frame<S: AsyncRead + Unpin>(
    stream: &mut S,
    decoder: &mut FrameDecoder,
) -> io::Result<Option<Frame>> {
    let mut chunk = [0u8; 4096];
    loop {
        match decoder.next_frame() {
            Ok(Some(frame)) => return Ok(Some(frame)),
            Ok(None) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
        let want = decoder.wanted().min(chunk.len());
        let n = stream.read(&mut chunk[..want]).await?;
        if n == 0 {
            return Ok(None);
        }
        decoder.feed(&chunk[..n]);
    }
}

async fn write_reply<W: AsyncWrite + Unpin>(
    writer: &mut W,
    reply: &Reply,
    tag: u32,
    binary: bool,
) -> io::Result<()> {
    let bytes = if binary {
        reply.encode_binary(tag)
    } else {
        None
    };
    let bytes = bytes.unwrap_or_else(|| reply.encode_plist(tag));
    writer.write_all(&bytes).await?;
    writer.flush().await
}

fn new_buid() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

/// The BUID saved in `dir`, or a new one saved there.
fn load_or_create_buid(dir: &Path) -> io::Result<String> {
    let path = dir.join(SYSTEM_CONFIG_FILE);
    if let Ok(value) = Value::from_file(&path)
        && let Some(buid) = value
            .as_dictionary()
            .and_then(|d| d.get("SystemBUID"))
            .and_then(Value::as_string)
    {
        return Ok(buid.to_string());
    }
    let buid = new_buid();
    let mut d = Dictionary::new();
    d.insert("SystemBUID".into(), Value::String(buid.clone()));
    let mut bytes = Vec::new();
    Value::Dictionary(d)
        .to_writer_xml(&mut bytes)
        .map_err(io::Error::other)?;
    write_atomically(&path, &bytes)?;
    Ok(buid)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Pair records by UDID, in memory or as `<UDID>.plist` files.
struct PairRecordStore {
    dir: Option<PathBuf>,
    memory: Mutex<HashMap<String, Vec<u8>>>,
}

impl PairRecordStore {
    /// The record id comes from an untrusted client and may become a file name: only UDID
    /// characters are allowed, so it cannot leave the state directory.
    fn check_id(udid: &str) -> io::Result<()> {
        let ok = !udid.is_empty()
            && udid.len() <= 64
            && udid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if ok {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "invalid pair record id",
            ))
        }
    }

    fn path(dir: &Path, udid: &str) -> PathBuf {
        dir.join(format!("{udid}.plist"))
    }

    fn read(&self, udid: &str) -> io::Result<Option<Vec<u8>>> {
        Self::check_id(udid)?;
        match &self.dir {
            Some(dir) => match std::fs::read(Self::path(dir, udid)) {
                Ok(data) => Ok(Some(data)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
            None => Ok(self.memory.lock().expect("records lock").get(udid).cloned()),
        }
    }

    fn save(&self, udid: &str, data: &[u8]) -> io::Result<()> {
        Self::check_id(udid)?;
        match &self.dir {
            Some(dir) => write_atomically(&Self::path(dir, udid), data),
            None => {
                let mut memory = self.memory.lock().expect("records lock");
                // Bounded: a misbehaving client cannot grow the mock without limit.
                if memory.len() >= MAX_MEMORY_RECORDS && !memory.contains_key(udid) {
                    return Err(io::Error::other("too many pair records"));
                }
                memory.insert(udid.to_string(), data.to_vec());
                Ok(())
            }
        }
    }

    /// True if a record was removed.
    fn delete(&self, udid: &str) -> io::Result<bool> {
        Self::check_id(udid)?;
        match &self.dir {
            Some(dir) => match std::fs::remove_file(Self::path(dir, udid)) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e),
            },
            None => Ok(self
                .memory
                .lock()
                .expect("records lock")
                .remove(udid)
                .is_some()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::phone::{PhoneIdentity, ServiceFn};
    use crate::usbmux::muxd::{MuxdAddr, MuxdClient, MuxdError};
    use crate::usbmux::muxd_proto::{ClientInfo, Header, VERSION_PLIST, message};
    use crate::usbmux::{LOCKDOWN_PORT, TransportKind};
    use tokio::net::TcpStream;

    const BUID: &str = "5A0A1B2C-3D4E-5F60-7182-93A4B5C6D7E8";

    fn udid() -> String {
        PhoneIdentity::default().udid
    }

    /// A server on a free loopback port, and a client for it.
    async fn start(phone: Arc<SimulatedPhone>) -> (Arc<MuxdServer>, MuxdClient) {
        let config = MuxdServerConfig {
            buid: Some(BUID.into()),
            ..Default::default()
        };
        let server = MuxdServer::new(vec![phone], config).unwrap();
        let addr = server.spawn_tcp(([127, 0, 0, 1], 0).into()).await.unwrap();
        (server, MuxdClient::new(MuxdAddr::Tcp(addr.to_string())))
    }

    fn echo_service() -> ServiceFn {
        Arc::new(|mut stream| {
            Box::pin(async move {
                let mut buf = [0u8; 64];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            })
        })
    }

    /// Send raw request bytes on a fresh connection and decode the first reply frame.
    async fn raw_exchange(client: &MuxdClient, request: &[u8]) -> (TcpStream, Frame) {
        let MuxdAddr::Tcp(addr) = client.addr() else {
            unreachable!()
        };
        let mut stream = TcpStream::connect(addr.as_str()).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut decoder = FrameDecoder::new();
        let frame = read_frame(&mut stream, &mut decoder)
            .await
            .unwrap()
            .expect("a reply");
        (stream, frame)
    }

    #[tokio::test]
    async fn lists_the_phone_with_its_identity() {
        let (_server, client) = start(SimulatedPhone::new(PhoneIdentity::default())).await;
        let devices = client.list_devices().await.unwrap();
        assert_eq!(devices.len(), 1);
        let d = &devices[0];
        assert_eq!(
            (d.udid.as_str(), d.device_id, d.product_id),
            (udid().as_str(), FIRST_DEVICE_ID, 0x12a8)
        );
        assert_eq!(d.connection_speed, Some(480_000_000));
        assert!(d.location_id.is_some());
        assert_eq!(d.transport, TransportKind::Usbmuxd);
    }

    #[tokio::test]
    async fn read_buid_answers_the_configured_buid() {
        let (_server, client) = start(SimulatedPhone::new(PhoneIdentity::default())).await;
        assert!(client.probe().await);
        assert_eq!(client.read_buid().await.unwrap(), BUID);
    }

    #[tokio::test]
    async fn connect_to_a_closed_port_is_refused_and_to_an_open_one_reaches_the_service() {
        let phone = SimulatedPhone::new(PhoneIdentity::default());
        let (_server, client) = start(phone.clone()).await;
        let err = client
            .connect(FIRST_DEVICE_ID, LOCKDOWN_PORT)
            .await
            .err()
            .expect("refused");
        assert!(
            matches!(
                err,
                MuxdError::ConnectionRefused {
                    port: LOCKDOWN_PORT,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = client
            .connect(99, LOCKDOWN_PORT)
            .await
            .err()
            .expect("no such device");
        assert!(
            matches!(err, MuxdError::NoSuchDevice { device_id: 99 }),
            "{err:?}"
        );

        phone.listen(LOCKDOWN_PORT, echo_service());
        let mut stream = client
            .connect(FIRST_DEVICE_ID, LOCKDOWN_PORT)
            .await
            .unwrap();
        stream.write_all(b"hello phone").await.unwrap();
        let mut back = [0u8; 11];
        stream.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"hello phone");
    }

    #[tokio::test]
    async fn pair_records_save_read_delete() {
        let (_server, client) = start(SimulatedPhone::new(PhoneIdentity::default())).await;
        assert_eq!(client.read_pair_record(&udid()).await.unwrap(), None);
        client
            .save_pair_record(&udid(), FIRST_DEVICE_ID, b"<plist>r1</plist>")
            .await
            .unwrap();
        assert_eq!(
            client.read_pair_record(&udid()).await.unwrap().as_deref(),
            Some(&b"<plist>r1</plist>"[..])
        );
        client
            .save_pair_record(&udid(), FIRST_DEVICE_ID, b"r2")
            .await
            .unwrap();
        assert_eq!(
            client.read_pair_record(&udid()).await.unwrap().as_deref(),
            Some(&b"r2"[..])
        );
        client.delete_pair_record(&udid()).await.unwrap();
        assert_eq!(client.read_pair_record(&udid()).await.unwrap(), None);
        let err = client.delete_pair_record(&udid()).await.unwrap_err();
        assert!(matches!(err, MuxdError::Failed { code: 2, .. }), "{err:?}");
    }

    #[tokio::test]
    async fn pair_record_ids_cannot_escape_the_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let config = MuxdServerConfig {
            state_dir: Some(state.clone()),
            ..Default::default()
        };
        let server =
            MuxdServer::new(vec![SimulatedPhone::new(PhoneIdentity::default())], config).unwrap();
        let (a, b) = tokio::io::duplex(4096);
        tokio::spawn(server.clone().serve_connection(b));
        let (mut reader, mut writer) = tokio::io::split(a);
        let save = Request::SavePairRecord {
            udid: "../escape".into(),
            device_id: None,
            data: b"x".to_vec(),
        };
        writer
            .write_all(&save.encode_plist(3, &ClientInfo::default()))
            .await
            .unwrap();
        let frame = read_frame(&mut reader, &mut FrameDecoder::new())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            Reply::decode(&frame).unwrap(),
            Reply::Result(ResultCode::Other(EINVAL))
        );
        assert!(!dir.path().join("escape.plist").exists());
        assert!(
            state.join(SYSTEM_CONFIG_FILE).exists(),
            "the BUID is saved in the state dir"
        );
    }

    #[tokio::test]
    async fn listen_reports_attached_then_paired() {
        let (_server, client) = start(SimulatedPhone::new(PhoneIdentity::default())).await;
        let mut events = client.listen().await.unwrap();
        match events.next_event().await.unwrap() {
            Some(DeviceEvent::Attached(rec)) => {
                assert_eq!(rec.serial_number, udid());
                assert_eq!(rec.device_id, FIRST_DEVICE_ID);
                assert_eq!(rec.connection_type, "USB");
            }
            other => panic!("expected Attached, got {other:?}"),
        }
        client
            .save_pair_record(&udid(), FIRST_DEVICE_ID, b"r")
            .await
            .unwrap();
        assert_eq!(
            events.next_event().await.unwrap(),
            Some(DeviceEvent::Paired {
                device_id: FIRST_DEVICE_ID
            })
        );
    }

    #[tokio::test]
    async fn unplug_and_replug_are_seen_by_listen_list_and_connect() {
        let phone = SimulatedPhone::new(PhoneIdentity::default());
        phone.listen(LOCKDOWN_PORT, echo_service());
        let (server, client) = start(phone).await;
        let mut events = client.listen().await.unwrap();
        assert!(matches!(
            events.next_event().await.unwrap(),
            Some(DeviceEvent::Attached(_))
        ));

        assert!(!server.toggle_plugged(), "now unplugged");
        assert_eq!(
            events.next_event().await.unwrap(),
            Some(DeviceEvent::Detached {
                device_id: FIRST_DEVICE_ID
            })
        );
        assert!(client.list_devices().await.unwrap().is_empty());
        let err = client
            .connect(FIRST_DEVICE_ID, LOCKDOWN_PORT)
            .await
            .err()
            .expect("an unplugged phone cannot be reached");
        assert!(matches!(err, MuxdError::NoSuchDevice { .. }), "{err:?}");

        assert!(server.toggle_plugged(), "plugged in again");
        match events.next_event().await.unwrap() {
            Some(DeviceEvent::Attached(rec)) => assert_eq!(rec.serial_number, udid()),
            other => panic!("expected Attached, got {other:?}"),
        }
        assert_eq!(client.list_devices().await.unwrap().len(), 1);
        assert!(client.connect(FIRST_DEVICE_ID, LOCKDOWN_PORT).await.is_ok());
    }

    #[tokio::test]
    async fn listen_events_work_as_a_stream() {
        use futures::StreamExt;
        let (_server, client) = start(SimulatedPhone::new(PhoneIdentity::default())).await;
        let events = client.listen().await.unwrap().into_stream();
        let mut events = std::pin::pin!(events);
        let first = events.next().await.expect("an event").unwrap();
        assert!(
            matches!(first, DeviceEvent::Attached(ref r) if r.serial_number == udid()),
            "{first:?}"
        );
        client
            .clone()
            .save_pair_record(&udid(), FIRST_DEVICE_ID, b"r")
            .await
            .unwrap();
        let paired = events.next().await.expect("an event").unwrap();
        assert_eq!(
            paired,
            DeviceEvent::Paired {
                device_id: FIRST_DEVICE_ID
            }
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_short_connections_beside_an_open_listener() {
        // pymobiledevice3 opens 10-14 connections per command, some overlapping.
        let (_server, client) = start(SimulatedPhone::new(PhoneIdentity::default())).await;
        let mut events = client.listen().await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..48 {
            let client = client.clone();
            tasks.spawn(async move {
                if i % 2 == 0 {
                    assert_eq!(client.list_devices().await.unwrap()[0].udid, udid());
                } else {
                    assert_eq!(client.read_buid().await.unwrap(), BUID);
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        assert!(matches!(
            events.next_event().await.unwrap(),
            Some(DeviceEvent::Attached(_))
        ));
    }

    #[tokio::test]
    async fn list_listeners_counts_listen_clients() {
        let (_server, client) = start(SimulatedPhone::new(PhoneIdentity::default())).await;
        let mut events = client.listen().await.unwrap();
        assert!(matches!(
            events.next_event().await.unwrap(),
            Some(DeviceEvent::Attached(_))
        ));
        let (_s, frame) = raw_exchange(
            &client,
            &Request::ListListeners.encode_plist(4, &ClientInfo::default()),
        )
        .await;
        match Reply::decode(&frame).unwrap() {
            Reply::ListenerList(list) => assert_eq!(list.len(), 1),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn unknown_requests_get_badcommand_with_the_tag_echoed() {
        let (_server, client) = start(SimulatedPhone::new(PhoneIdentity::default())).await;
        let req = Request::Unknown("Frobnicate".into()).encode_plist(42, &ClientInfo::default());
        let (mut stream, frame) = raw_exchange(&client, &req).await;
        assert_eq!(
            (frame.version, frame.message, frame.tag),
            (VERSION_PLIST, message::PLIST, 42)
        );
        assert!(frame.payload.starts_with(b"<?xml"));
        assert_eq!(
            Reply::decode(&frame).unwrap(),
            Reply::Result(ResultCode::BadCommand)
        );

        // The connection stays usable for the next request, as with usbmuxd.
        stream
            .write_all(&Request::ReadBuid.encode_plist(43, &ClientInfo::default()))
            .await
            .unwrap();
        let frame = read_frame(&mut stream, &mut FrameDecoder::new())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (frame.tag, Reply::decode(&frame).unwrap()),
            (43, Reply::Buid(BUID.into()))
        );

        // Garbage that is still framed is a BADCOMMAND, too.
        let garbage = Frame {
            version: 1,
            message: 8,
            tag: 44,
            payload: b"<plist><dict><key>".to_vec(),
        };
        stream.write_all(&garbage.encode()).await.unwrap();
        let frame = read_frame(&mut stream, &mut FrameDecoder::new())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (frame.tag, Reply::decode(&frame).unwrap()),
            (44, Reply::Result(ResultCode::BadCommand))
        );
    }

    #[tokio::test]
    async fn bad_versions_get_badversion_and_oversized_messages_close_the_connection() {
        let (_server, client) = start(SimulatedPhone::new(PhoneIdentity::default())).await;
        let odd = Frame {
            version: 7,
            message: 8,
            tag: 5,
            payload: vec![],
        };
        let (_s, frame) = raw_exchange(&client, &odd.encode()).await;
        assert_eq!((frame.version, frame.tag), (VERSION_BINARY, 5));
        assert_eq!(
            Reply::decode(&frame).unwrap(),
            Reply::Result(ResultCode::BadVersion)
        );

        let MuxdAddr::Tcp(addr) = client.addr() else {
            unreachable!()
        };
        let mut stream = TcpStream::connect(addr.as_str()).await.unwrap();
        let huge = Header {
            length: u32::MAX,
            version: 1,
            message: 8,
            tag: 1,
        };
        stream.write_all(&huge.encode()).await.unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(
            stream.read(&mut buf).await.unwrap(),
            0,
            "the server hangs up"
        );
    }

    #[tokio::test]
    async fn binary_clients_can_listen_and_connect() {
        let phone = SimulatedPhone::new(PhoneIdentity::default());
        let (_server, client) = start(phone.clone()).await;
        let (mut stream, frame) =
            raw_exchange(&client, &Request::Listen.encode_binary(8).unwrap()).await;
        assert_eq!((frame.version, frame.tag), (VERSION_BINARY, 8));
        assert_eq!(
            Reply::decode(&frame).unwrap(),
            Reply::Result(ResultCode::Ok)
        );
        let frame = read_frame(&mut stream, &mut FrameDecoder::new())
            .await
            .unwrap()
            .unwrap();
        match Reply::decode(&frame).unwrap() {
            Reply::Event(DeviceEvent::Attached(rec)) => assert_eq!(rec.serial_number, udid()),
            other => panic!("{other:?}"),
        }

        let connect = Request::Connect {
            device_id: FIRST_DEVICE_ID,
            port: 1234,
        }
        .encode_binary(9)
        .unwrap();
        let (_s, frame) = raw_exchange(&client, &connect).await;
        assert_eq!(
            Reply::decode(&frame).unwrap(),
            Reply::Result(ResultCode::ConnectionRefused)
        );
        phone.listen(1234, echo_service());
        let (mut s, frame) = raw_exchange(&client, &connect).await;
        assert_eq!(
            Reply::decode(&frame).unwrap(),
            Reply::Result(ResultCode::Ok)
        );
        s.write_all(b"ping").await.unwrap();
        let mut back = [0u8; 4];
        s.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"ping");
    }

    #[tokio::test]
    async fn serves_a_unix_socket_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usbmuxd.sock");
        let server = MuxdServer::new(
            vec![SimulatedPhone::new(PhoneIdentity::default())],
            MuxdServerConfig::default(),
        )
        .unwrap();
        tokio::spawn(
            server
                .clone()
                .serve_unix(UnixListener::bind(&path).unwrap()),
        );
        let client = MuxdClient::new(MuxdAddr::parse(&format!("UNIX:{}", path.display())).unwrap());
        let buid = client.read_buid().await.unwrap();
        assert_eq!(buid, server.buid());
        assert!(
            uuid::Uuid::parse_str(&buid).is_ok() && buid == buid.to_uppercase(),
            "{buid}"
        );
        assert_eq!(client.list_devices().await.unwrap()[0].udid, udid());
    }
}
