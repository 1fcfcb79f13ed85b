//! The simulated phone's AFC service (`com.apple.afc`) over a host folder that plays
//! `/var/mobile/Media`.
//!
//! Read-only: every operation that would change the phone is refused with PERM_DENIED and
//! counted, so tests can assert the importer never tried. Paths are jailed to the folder:
//! `..` above the root is refused, absolute paths are root-relative (as on a phone, where `/`
//! is the media root), and symlinks are resolved and must stay inside. `ROOT/.iphone-mock/`
//! holds the library generator's metadata; it is neither listed nor served.
//!
//! iCloud-only placeholders (`ROOT/.iphone-mock/placeholders`, one media-relative path per
//! line) are listed, stat'ed and opened like real files, but FileRefRead answers IO_ERROR (20):
//! real phones fail such reads with EIO (ifuse #54), and 20 is the status both ifuse
//! (`AFC_E_IO_ERROR` → EIO) and pymobiledevice3 (`AfcError.IO_ERROR`) read as an I/O error.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::time::Instant;

use crate::afc::AfcProtocolError;
use crate::afc::codec::{HEADER_LEN, Header, MAX_BODY_LEN, Packet};
use crate::afc::device::{DeviceRequest, parse_request};
use crate::afc::messages::{
    DeviceInfo, FileInfo, FileKind, Reply, data_reply_header, encode_dict, encode_list,
};
use crate::afc::{AfcStatus, Opcode};
use crate::mock::phone::ServiceFn;
use crate::mock::profile::{ConnectionPace, Pacer, Profile};
use crate::usbmux::DeviceStream;

/// The generator's metadata folder at the root; hidden from clients.
pub(crate) const MOCK_DIR: &str = ".iphone-mock";
/// Inside `MOCK_DIR`: media-relative paths of iCloud-only placeholders, one per line.
pub(crate) const PLACEHOLDERS_FILE: &str = "placeholders";
/// The most bytes one FileRefRead returns (a client asking for more gets a short read).
pub(crate) const MAX_SERVED_READ: usize = MAX_BODY_LEN;
/// Open files per connection before FileRefOpen answers NO_RESOURCES.
const MAX_OPEN_FILES: usize = 256;
/// What a real phone reports as a directory's size.
const DIR_SIZE: u64 = 64;

/// Which requests a path fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOn {
    Stat,
    Open,
    Read,
    /// Every request naming the path (ReadDir included).
    Any,
}

/// Requests on `path` (media-relative, e.g. "DCIM/100APPLE/IMG_0001.JPG") fail with `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathFault {
    pub path: String,
    pub status: AfcStatus,
    pub on: FaultOn,
}

/// Faults to inject, for tests of the importer's error handling.
///
/// Connection faults (disconnect, stall, reset) hit the connections listed in
/// `only_connections` (0-based, in accept order), or every connection when it is None.
/// Path faults model the phone's content and hit every connection.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub only_connections: Option<Vec<u64>>,
    /// Close the connection once this many reply bytes have gone out on it (mid-packet).
    pub disconnect_after_bytes: Option<u64>,
    /// Close the connection once this many bytes of the file at this media-relative path
    /// have been served through one handle (mid-packet).
    pub disconnect_in_file: Option<(String, u64)>,
    pub fail_paths: Vec<PathFault>,
    /// Stop answering (but keep reading and discarding) after this many requests.
    pub stall_after_requests: Option<u64>,
    /// Stop answering at the first FileRefRead of the file at this media-relative path once
    /// this many of its bytes have been served through one handle (0: at the first read).
    pub stall_in_file: Option<(String, u64)>,
    /// Close the connection, unanswered, when the request after this many arrives.
    pub reset_after_requests: Option<u64>,
    /// Hostile phone: answer every FileRefRead with at most this many bytes (short reads).
    pub max_read_reply: Option<usize>,
    /// Hostile phone: FileRefReads of this media-relative path get one byte more than asked.
    pub read_longer_than_asked: Option<String>,
    /// Hostile phone: GetFileInfo of a media-relative path reports this st_size text
    /// (e.g. "abc", or 2^63).
    pub st_size_of: Vec<(String, String)>,
    /// Hostile phone: (media-relative folder, raw name) entries added to that folder's listing
    /// (names that are not UTF-8, with control or bidi characters, 10 kB long...).
    pub extra_names: Vec<(String, Vec<u8>)>,
    /// The stall faults hit only the first time they trigger (a phone that recovers).
    pub stall_once: bool,
    /// Each of the first N opens of the file at this media-relative path moves its mtime one
    /// second on (a phone writing its database while it is being copied).
    pub touch_on_open: Option<(String, u64)>,
}

impl Faults {
    pub fn none() -> Faults {
        Faults::default()
    }

    fn hits_connection(&self, index: u64) -> bool {
        self.only_connections
            .as_ref()
            .is_none_or(|list| list.contains(&index))
    }

    fn path_status(&self, rel: &str, on: FaultOn) -> Option<AfcStatus> {
        self.fail_paths
            .iter()
            .find(|f| f.path.trim_start_matches('/') == rel && (f.on == on || f.on == FaultOn::Any))
            .map(|f| f.status)
    }
}

/// Counters the tests and benchmarks read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AfcStats {
    pub requests: BTreeMap<Opcode, u64>,
    /// Reply bytes written, headers included.
    pub bytes_served: u64,
    /// Operations that would have changed the phone (all refused).
    pub changing_ops: u64,
    pub connections: u64,
}

#[derive(Default)]
struct Counters {
    requests: Mutex<BTreeMap<Opcode, u64>>,
    bytes_served: AtomicU64,
    changing_ops: AtomicU64,
    connections: AtomicU64,
    stalls: AtomicU64,
    touches: AtomicU64,
}

/// The simulated phone's AFC service. One per phone: its pacer is shared by all connections.
pub struct AfcServer {
    /// Canonical path of the media root.
    root: PathBuf,
    profile: Profile,
    faults: Faults,
    pacer: Option<Pacer>,
    model: String,
    counters: Counters,
}

/// Moves a file's mtime one second on (the `touch_on_open` fault); best effort.
fn touch(path: &Path) {
    let moved = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(|t| t + std::time::Duration::from_secs(1));
    if let (Ok(t), Ok(f)) = (moved, File::options().write(true).open(path)) {
        let _ = f.set_modified(t);
    }
}

/// A path checked against the jail.
struct Resolved {
    /// Media-relative, normalised ("" for the root).
    rel: String,
    /// Canonical host path, inside the root.
    host: PathBuf,
}

struct OpenFile {
    file: Arc<File>,
    rel: String,
    pos: u64,
    placeholder: bool,
    /// Bytes of this file served on this connection (for `disconnect_in_file`).
    served: u64,
}

/// Per-connection state.
struct Connection {
    index: u64,
    faulty: bool,
    placeholders: HashSet<String>,
    files: HashMap<u64, OpenFile>,
    next_handle: u64,
    requests: u64,
    bytes_out: u64,
    pace: ConnectionPace,
}

/// What to do after handling a request; replies get their packet_num when written.
enum Outcome {
    Reply(Reply),
    /// A DATA reply read straight from a file: header room, then the bytes. With `cut`, send
    /// only that many bytes of the packet and close (an unplug mid-transfer).
    FileData {
        packet: Vec<u8>,
        cut: Option<usize>,
    },
    Stall,
}

fn status(s: AfcStatus) -> Outcome {
    Outcome::Reply(Reply::Status(s))
}

fn nanos(t: io::Result<SystemTime>) -> Option<u64> {
    t.ok()?
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_nanos() as u64)
}

fn io_status(e: &io::Error) -> AfcStatus {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => AfcStatus::ObjectNotFound,
        io::ErrorKind::PermissionDenied => AfcStatus::PermDenied,
        _ => AfcStatus::IoError,
    }
}

impl AfcServer {
    /// Serve `root` as the phone's media folder. Fails if `root` is not a directory.
    pub fn new(root: PathBuf, profile: Profile, faults: Faults) -> io::Result<Arc<AfcServer>> {
        AfcServer::with_model(root, profile, faults, "iPhone12,8")
    }

    /// As `new`, reporting `model` (e.g. the phone's ProductType) in GetDeviceInfo.
    pub(crate) fn with_model(
        root: PathBuf,
        profile: Profile,
        faults: Faults,
        model: &str,
    ) -> io::Result<Arc<AfcServer>> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", root.display()),
            ));
        }
        let pacer = profile.bytes_per_sec.map(Pacer::new);
        Ok(Arc::new(AfcServer {
            root,
            profile,
            faults,
            pacer,
            model: model.to_string(),
            counters: Counters::default(),
        }))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The service to register as "com.apple.afc" on a `SimulatedPhone`.
    pub(crate) fn service_fn(self: &Arc<Self>) -> ServiceFn {
        let server = self.clone();
        Arc::new(move |stream| {
            let server = server.clone();
            Box::pin(async move { server.serve(stream).await })
        })
    }

    /// A connection to this service without any mux in between (a tokio duplex; the service
    /// runs as its own task): for tests and benchmarks of the layers above AFC. Must be called
    /// inside a tokio runtime.
    pub fn connect_in_process(self: &Arc<Self>) -> DeviceStream {
        let (host, phone) = tokio::io::duplex(1 << 20);
        tokio::spawn(self.clone().serve(Box::new(phone)));
        Box::new(host)
    }

    /// Operations that would have changed the phone, refused so far. Tests assert zero.
    pub fn changing_ops(&self) -> u64 {
        self.counters.changing_ops.load(Ordering::SeqCst)
    }

    pub fn stats(&self) -> AfcStats {
        AfcStats {
            requests: self.counters.requests.lock().expect("stats lock").clone(),
            bytes_served: self.counters.bytes_served.load(Ordering::SeqCst),
            changing_ops: self.changing_ops(),
            connections: self.counters.connections.load(Ordering::SeqCst),
        }
    }

    fn load_placeholders(&self) -> HashSet<String> {
        let list = std::fs::read_to_string(self.root.join(MOCK_DIR).join(PLACEHOLDERS_FILE))
            .unwrap_or_default();
        list.lines()
            .map(|l| l.trim().trim_start_matches('/'))
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    }

    /// Map a client's path into the jail.
    fn resolve(&self, path: &str) -> Result<Resolved, AfcStatus> {
        let mut parts: Vec<&str> = Vec::new();
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(AfcStatus::PermDenied);
                    }
                }
                name => parts.push(name),
            }
        }
        if parts.first() == Some(&MOCK_DIR) {
            return Err(AfcStatus::ObjectNotFound);
        }
        let rel = parts.join("/");
        let host = self
            .root
            .join(&rel)
            .canonicalize()
            .map_err(|e| io_status(&e))?;
        // Symlinks are followed, so check where the path really lands.
        if !host.starts_with(&self.root) {
            return Err(AfcStatus::PermDenied);
        }
        if host.starts_with(self.root.join(MOCK_DIR)) {
            return Err(AfcStatus::ObjectNotFound);
        }
        Ok(Resolved { rel, host })
    }

    /// Serve one connection until the client closes it (or a fault ends it). Requests are
    /// answered in order; the client may send several before reading any reply.
    pub async fn serve(self: Arc<Self>, stream: DeviceStream) {
        let index = self.counters.connections.fetch_add(1, Ordering::SeqCst);
        let mut conn = Connection {
            index,
            faulty: self.faults.hits_connection(index),
            placeholders: self.load_placeholders(),
            files: HashMap::new(),
            next_handle: 1,
            requests: 0,
            bytes_out: 0,
            pace: ConnectionPace::new(),
        };
        let (input, mut output) = tokio::io::split(stream);
        let mut input = BufReader::with_capacity(64 * 1024, input);
        loop {
            let (packet_num, outcome) = match read_request(&mut input).await {
                Incoming::Request(packet) => {
                    conn.requests += 1;
                    self.count_request(&conn, &packet);
                    let faults = &self.faults;
                    if conn.faulty
                        && faults
                            .reset_after_requests
                            .is_some_and(|n| conn.requests > n)
                    {
                        return;
                    }
                    if conn.faulty
                        && faults
                            .stall_after_requests
                            .is_some_and(|n| conn.requests > n)
                        && self.may_stall()
                    {
                        return drain(&mut input).await;
                    }
                    (packet.packet_num, self.handle(&mut conn, &packet).await)
                }
                Incoming::OversizedChange { packet_num } => {
                    conn.requests += 1;
                    self.counters.changing_ops.fetch_add(1, Ordering::SeqCst);
                    (packet_num, status(AfcStatus::PermDenied))
                }
                Incoming::Closed => return,
            };
            let (reply, cut) = match outcome {
                Outcome::Reply(reply) => (reply.encode(packet_num), None),
                Outcome::FileData { mut packet, cut } => {
                    let header = data_reply_header(packet_num, packet.len() - HEADER_LEN);
                    packet[..HEADER_LEN].copy_from_slice(&header);
                    (Bytes::from(packet), cut)
                }
                Outcome::Stall => return drain(&mut input).await,
            };
            if !self.send_reply(&mut conn, &mut output, reply, cut).await {
                return;
            }
        }
    }

    fn count_request(&self, conn: &Connection, packet: &Packet) {
        tracing::trace!(
            connection = conn.index,
            packet_num = packet.packet_num,
            op = %packet.operation,
            len = packet.body.len(),
            "afc request"
        );
        let mut requests = self.counters.requests.lock().expect("stats lock");
        *requests.entry(packet.operation).or_default() += 1;
    }

    /// Pace and write one reply, or only its first `cut` bytes (then close). False when the
    /// connection is over.
    async fn send_reply<W: AsyncWrite + Unpin>(
        &self,
        conn: &mut Connection,
        output: &mut W,
        reply: Bytes,
        mut cut: Option<usize>,
    ) -> bool {
        if conn.faulty
            && let Some(limit) = self.faults.disconnect_after_bytes
        {
            let left = limit.saturating_sub(conn.bytes_out) as usize;
            if left < reply.len() {
                cut = Some(cut.map_or(left, |c| c.min(left)));
            }
        }
        let to_send = cut.map_or(reply.len(), |c| c.min(reply.len()));
        let pacer = self.pacer.as_ref();
        if let Some(at) = conn
            .pace
            .reply_at(Instant::now(), &self.profile, pacer, to_send)
        {
            tokio::time::sleep_until(at).await;
        }
        if output.write_all(&reply[..to_send]).await.is_err() || output.flush().await.is_err() {
            return false;
        }
        conn.bytes_out += to_send as u64;
        self.counters
            .bytes_served
            .fetch_add(to_send as u64, Ordering::SeqCst);
        if cut.is_some() {
            let _ = output.shutdown().await;
            return false;
        }
        true
    }

    async fn handle(&self, conn: &mut Connection, packet: &Packet) -> Outcome {
        let request = match parse_request(packet) {
            Ok(request) => request,
            Err(_) => return status(AfcStatus::InvalidArg),
        };
        match request {
            DeviceRequest::ReadDir { path } => self.read_dir(&path),
            DeviceRequest::GetFileInfo { path } => self.file_info(&path),
            DeviceRequest::GetDeviceInfo => {
                let info = DeviceInfo {
                    model: self.model.clone(),
                    fs_total_bytes: 128_000_000_000,
                    fs_free_bytes: 32_000_000_000,
                    fs_block_size: 4096,
                    raw: Vec::new(),
                };
                Outcome::Reply(Reply::Data(encode_dict(&info.to_pairs()).into()))
            }
            DeviceRequest::FileRefOpen { mode, path } => self.open(conn, mode, &path),
            DeviceRequest::FileRefRead { handle, len } => self.read(conn, handle, len).await,
            DeviceRequest::FileRefSeek {
                handle,
                whence,
                offset,
            } => {
                let Some(file) = conn.files.get_mut(&handle) else {
                    return status(AfcStatus::InvalidArg);
                };
                let base = match whence {
                    0 => 0,
                    1 => file.pos as i128,
                    2 => match file.file.metadata() {
                        Ok(m) => m.len() as i128,
                        Err(e) => return status(io_status(&e)),
                    },
                    _ => return status(AfcStatus::InvalidArg),
                };
                match u64::try_from(base + offset as i128) {
                    Ok(pos) => {
                        file.pos = pos;
                        status(AfcStatus::Success)
                    }
                    Err(_) => status(AfcStatus::InvalidArg),
                }
            }
            DeviceRequest::FileRefTell { handle } => match conn.files.get(&handle) {
                Some(file) => Outcome::Reply(Reply::Position(file.pos)),
                None => status(AfcStatus::InvalidArg),
            },
            DeviceRequest::FileRefClose { handle } => match conn.files.remove(&handle) {
                Some(_) => status(AfcStatus::Success),
                None => status(AfcStatus::InvalidArg),
            },
            DeviceRequest::Changing { op } => {
                self.counters.changing_ops.fetch_add(1, Ordering::SeqCst);
                tracing::warn!(connection = conn.index, %op, "refused an operation that would change the phone");
                status(AfcStatus::PermDenied)
            }
            DeviceRequest::Unsupported {
                op: Opcode::Unknown(_) | Opcode::Status | Opcode::Data,
            } => status(AfcStatus::UnknownPacketType),
            DeviceRequest::Unsupported { .. } => status(AfcStatus::OpNotSupported),
        }
    }

    fn read_dir(&self, path: &str) -> Outcome {
        let dir = match self.resolve(path) {
            Ok(dir) => dir,
            Err(s) => return status(s),
        };
        if let Some(s) = self.faults.path_status(&dir.rel, FaultOn::Any) {
            return status(s);
        }
        if !dir.host.is_dir() {
            // What a real phone answers for listdir on a file.
            return status(AfcStatus::ReadError);
        }
        let entries = match std::fs::read_dir(&dir.host) {
            Ok(entries) => entries,
            Err(e) => return status(io_status(&e)),
        };
        // Host names that are not UTF-8 cannot exist on an iPhone (APFS is UTF-8); skip them.
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        if dir.rel.is_empty() {
            names.retain(|n| n != MOCK_DIR);
        }
        names.sort();
        let mut list = vec![".".to_string(), "..".to_string()];
        list.extend(names);
        let mut body = encode_list(&list);
        for (_, name) in self
            .faults
            .extra_names
            .iter()
            .filter(|(f, _)| *f == dir.rel)
        {
            body.extend_from_slice(name);
            body.push(0);
        }
        Outcome::Reply(Reply::Data(body.into()))
    }

    fn file_info(&self, path: &str) -> Outcome {
        let target = match self.resolve(path) {
            Ok(target) => target,
            Err(s) => return status(s),
        };
        if let Some(s) = self.faults.path_status(&target.rel, FaultOn::Stat) {
            return status(s);
        }
        let meta = match std::fs::metadata(&target.host) {
            Ok(meta) => meta,
            Err(e) => return status(io_status(&e)),
        };
        let kind = if meta.is_dir() {
            FileKind::Directory
        } else if meta.is_file() {
            FileKind::Regular
        } else {
            FileKind::Other("S_IFIFO".to_string())
        };
        let mtime = nanos(meta.modified()).unwrap_or(0);
        let info = FileInfo {
            st_size: if meta.is_dir() { DIR_SIZE } else { meta.len() },
            st_blocks: meta.blocks(),
            st_nlink: meta.nlink(),
            st_ifmt: kind,
            st_mtime_ns: mtime,
            st_birthtime_ns: Some(nanos(meta.created()).unwrap_or(mtime)),
            link_target: None,
        };
        let mut pairs = info.to_pairs();
        if let Some((_, size)) = self
            .faults
            .st_size_of
            .iter()
            .find(|(p, _)| *p == target.rel)
        {
            pairs[0].1 = size.clone();
        }
        Outcome::Reply(Reply::Data(encode_dict(&pairs).into()))
    }

    fn open(&self, conn: &mut Connection, mode: u64, path: &str) -> Outcome {
        if DeviceRequest::open_mode_writes(mode) {
            if (2..=6).contains(&mode) {
                self.counters.changing_ops.fetch_add(1, Ordering::SeqCst);
                tracing::warn!(
                    connection = conn.index,
                    mode,
                    path,
                    "refused to open a file for writing"
                );
                return status(AfcStatus::PermDenied);
            }
            return status(AfcStatus::InvalidArg);
        }
        let target = match self.resolve(path) {
            Ok(target) => target,
            Err(s) => return status(s),
        };
        if let Some(s) = self.faults.path_status(&target.rel, FaultOn::Open) {
            return status(s);
        }
        if target.host.is_dir() {
            return status(AfcStatus::ObjectIsDir);
        }
        if conn.files.len() >= MAX_OPEN_FILES {
            return status(AfcStatus::NoResources);
        }
        let file = match File::open(&target.host) {
            Ok(file) => file,
            Err(e) => return status(io_status(&e)),
        };
        if let Some((path, n)) = &self.faults.touch_on_open
            && path.trim_start_matches('/') == target.rel
            && self.counters.touches.fetch_add(1, Ordering::SeqCst) < *n
        {
            touch(&target.host);
        }
        let handle = conn.next_handle;
        conn.next_handle += 1;
        let placeholder = conn.placeholders.contains(&target.rel);
        conn.files.insert(
            handle,
            OpenFile {
                file: Arc::new(file),
                rel: target.rel,
                pos: 0,
                placeholder,
                served: 0,
            },
        );
        Outcome::Reply(Reply::FileOpened(handle))
    }

    /// A stall fault triggered: does it stall (always, or only the first time)?
    fn may_stall(&self) -> bool {
        let before = self.counters.stalls.fetch_add(1, Ordering::SeqCst);
        !self.faults.stall_once || before == 0
    }

    async fn read(&self, conn: &mut Connection, handle: u64, len: u64) -> Outcome {
        let faulty = conn.faulty;
        let Some(open) = conn.files.get_mut(&handle) else {
            return status(AfcStatus::InvalidArg);
        };
        if let Some(s) = self.faults.path_status(&open.rel, FaultOn::Read) {
            return status(s);
        }
        if faulty
            && self
                .faults
                .stall_in_file
                .as_ref()
                .is_some_and(|(p, at)| p.trim_start_matches('/') == open.rel && open.served >= *at)
            && self.may_stall()
        {
            return Outcome::Stall;
        }
        if open.placeholder {
            // An iCloud-only original: listed and stat'ed, but its bytes are not on the phone.
            return status(AfcStatus::IoError);
        }
        let mut len = (len as usize)
            .min(MAX_SERVED_READ)
            .min(self.faults.max_read_reply.unwrap_or(usize::MAX));
        let overlong = self.faults.read_longer_than_asked.as_deref() == Some(open.rel.as_str());
        if overlong {
            len += 1;
        }
        let file = open.file.clone();
        let pos = open.pos;
        // Read straight into the reply buffer, behind room for its header: one copy.
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; HEADER_LEN + len];
            let mut filled = 0;
            while filled < len {
                match file.read_at(&mut buf[HEADER_LEN + filled..], pos + filled as u64) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if overlong {
                filled = len;
            }
            buf.truncate(HEADER_LEN + filled);
            Ok((buf, filled))
        })
        .await;
        let (buf, n) = match read {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return status(io_status(&e)),
            Err(_) => return status(AfcStatus::InternalError),
        };
        open.pos += n as u64;
        let served_before = open.served;
        open.served += n as u64;
        if faulty
            && let Some((path, limit)) = &self.faults.disconnect_in_file
            && path.trim_start_matches('/') == open.rel
            && open.served > *limit
        {
            let keep = HEADER_LEN + limit.saturating_sub(served_before) as usize;
            return Outcome::FileData {
                packet: buf,
                cut: Some(keep),
            };
        }
        Outcome::FileData {
            packet: buf,
            cut: None,
        }
    }
}

/// The next thing a client sent.
enum Incoming {
    Request(Packet),
    /// A modifying request too large to accept (a big write): its body has been discarded.
    OversizedChange {
        packet_num: u64,
    },
    /// End of stream, an I/O error, or bytes that are not AFC (a real service hangs up).
    Closed,
}

async fn read_request<R: AsyncRead + Unpin>(input: &mut R) -> Incoming {
    let mut head = [0u8; HEADER_LEN];
    if input.read_exact(&mut head).await.is_err() {
        return Incoming::Closed;
    }
    match Header::decode(&head, MAX_BODY_LEN) {
        Ok(header) => {
            let mut body = vec![0u8; header.body_len()];
            if input.read_exact(&mut body).await.is_err() {
                return Incoming::Closed;
            }
            Incoming::Request(Packet {
                packet_num: header.packet_num,
                operation: header.operation,
                body: body.into(),
            })
        }
        // Refuse a big write like any change, without buffering it.
        Err(AfcProtocolError::TooLarge { len, .. }) => {
            let word = |i: usize| u64::from_le_bytes(head[i..i + 8].try_into().expect("8 bytes"));
            if !Opcode::from_code(word(32)).changes_phone() {
                return Incoming::Closed;
            }
            let mut rest = input.take(len - HEADER_LEN as u64);
            match tokio::io::copy(&mut rest, &mut tokio::io::sink()).await {
                Ok(n) if n == len - HEADER_LEN as u64 => Incoming::OversizedChange {
                    packet_num: word(24),
                },
                _ => Incoming::Closed,
            }
        }
        Err(_) => Incoming::Closed,
    }
}

/// A stalled service: read and discard until the client gives up and closes.
async fn drain<R: AsyncRead + Unpin>(input: &mut R) {
    let _ = tokio::io::copy(input, &mut tokio::io::sink()).await;
}
