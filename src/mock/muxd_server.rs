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
use crate::usbmux::muxd_proto::{
    DeviceEvent, DeviceRecord, Frame, FrameDecoder, ProtoError, Reply, Request, ResultCode, VERSION_BINARY,
};

/// errno values usbmuxd answers pair-record requests with.
const ENOENT: u32 = 2;
const EINVAL: u32 = 22;
/// First DeviceID handed out; usbmuxd counts from 1 as well.
const FIRST_DEVICE_ID: u32 = 1;
/// File in the state directory holding the BUID, named and shaped as usbmuxd's.
const SYSTEM_CONFIG_FILE: &str = "SystemConfiguration.plist";

/// How the front is set up.
#[derive(Debug, Clone, Default)]
pub struct MuxdServerConfig {
    /// The BUID ReadBUID reports. Default: the one saved in `state_dir`, else a fresh random one.
    pub buid: Option<String>,
    /// Persist pair records (and the BUID) here; in memory only when `None`.
    pub state_dir: Option<PathBuf>,
}

/// One phone as the front reports it.
struct Attached {
    device_id: u32,
    location_id: u32,
    phone: Arc<SimulatedPhone>,
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
}

impl MuxdServer {
    /// A front for `phones`, numbered from DeviceID 1 in order.
    pub fn new(phones: Vec<Arc<SimulatedPhone>>, config: MuxdServerConfig) -> io::Result<Arc<MuxdServer>> {
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
            .map(|(phone, device_id)| Attached { device_id, location_id: 0x0112_0000 + device_id, phone })
            .collect();
        let (events, _) = broadcast::channel(64);
        Ok(Arc::new(MuxdServer {
            devices,
            buid,
            records: PairRecordStore { dir: config.state_dir, memory: Mutex::new(HashMap::new()) },
            events,
            listeners: Mutex::new(BTreeMap::new()),
            next_listener: AtomicU64::new(1),
        }))
    }

    /// The BUID this front reports.
    pub fn buid(&self) -> &str {
        &self.buid
    }

    /// The devices as ListDevices reports them.
    pub fn device_records(&self) -> Vec<DeviceRecord> {
        self.devices
            .iter()
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

    /// Accept TCP clients forever, each on its own task.
    pub async fn serve_tcp(self: Arc<Self>, listener: TcpListener) -> io::Result<()> {
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(self.clone().serve_connection(stream));
        }
    }

    /// Accept unix-socket clients forever, each on its own task.
    pub async fn serve_unix(self: Arc<Self>, listener: UnixListener) -> io::Result<()> {
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(self.clone().serve_connection(stream));
        }
    }

    /// Serve one client connection until it closes, turns into a Listen subscription, or is
    /// handed to a phone's service by Connect.
    pub async fn serve_connection<S>(self: Arc<Self>, mut stream: S)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let mut decoder = FrameDecoder::new();
        loop {
            let Ok(Some(frame)) = read_frame(&mut stream, &mut decoder).await else { return };
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
                    let Some(device) = self.devices.iter().find(|d| d.device_id == device_id) else {
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
                    if write_reply(&mut stream, &Reply::Result(ResultCode::Ok), tag, binary).await.is_ok() {
                        device.phone.accept(port, Box::new(stream));
                    }
                    return;
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
            Request::ListListeners => {
                Reply::ListenerList(self.listeners.lock().expect("listeners lock").values().cloned().collect())
            }
            Request::ReadPairRecord { udid } => match self.records.read(&udid) {
                Ok(Some(data)) => Reply::PairRecordData(data),
                Ok(None) => Reply::Result(ResultCode::from_u32(ENOENT)),
                Err(_) => Reply::Result(ResultCode::from_u32(EINVAL)),
            },
            Request::SavePairRecord { udid, device_id, data } => match self.records.save(&udid, &data) {
                Ok(()) => {
                    let device_id = device_id.or_else(|| {
                        self.devices.iter().find(|d| d.phone.identity.udid == udid).map(|d| d.device_id)
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
            Request::Listen | Request::Connect { .. } | Request::Unknown(_) => Reply::Result(ResultCode::BadCommand),
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
        self.listeners.lock().expect("listeners lock").insert(id, entry);

        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut greeting = vec![Reply::Result(ResultCode::Ok)];
        greeting.extend(self.device_records().into_iter().map(|r| Reply::Event(DeviceEvent::Attached(r))));
        let mut ok = true;
        for (i, reply) in greeting.iter().enumerate() {
            // The Result echoes the tag; events are unsolicited (tag 0).
            let reply_tag = if i == 0 { tag } else { 0 };
            if write_reply(&mut writer, reply, reply_tag, binary).await.is_err() {
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

/// Read exactly one message (never past it: after Connect the rest belongs to the phone).
/// `Ok(None)` on a clean close; a protocol error closes the connection.
async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S, decoder: &mut FrameDecoder) -> io::Result<Option<Frame>> {
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

async fn write_reply<W: AsyncWrite + Unpin>(writer: &mut W, reply: &Reply, tag: u32, binary: bool) -> io::Result<()> {
    let bytes = if binary { reply.encode_binary(tag) } else { None };
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
        && let Some(buid) = value.as_dictionary().and_then(|d| d.get("SystemBUID")).and_then(Value::as_string)
    {
        return Ok(buid.to_string());
    }
    let buid = new_buid();
    let mut d = Dictionary::new();
    d.insert("SystemBUID".into(), Value::String(buid.clone()));
    let mut bytes = Vec::new();
    Value::Dictionary(d).to_writer_xml(&mut bytes).map_err(io::Error::other)?;
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
        let ok = !udid.is_empty() && udid.len() <= 64 && udid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if ok { Ok(()) } else { Err(io::Error::new(io::ErrorKind::InvalidInput, "invalid pair record id")) }
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
                self.memory.lock().expect("records lock").insert(udid.to_string(), data.to_vec());
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
            None => Ok(self.memory.lock().expect("records lock").remove(udid).is_some()),
        }
    }
}
