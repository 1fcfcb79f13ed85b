//! The host's AFC client: async, over one `DeviceStream`, read-only by construction.
//!
//! Several requests can be in flight on one connection: a writer task sends packets in
//! packet_num order, a reader task routes each reply to its caller by packet_num (as
//! pymobiledevice3 does). A reply to a packet_num nobody is waiting for fails the connection
//! instead of hanging it. Each reply body is allocated at exactly its announced size, after
//! the size has been checked against what the request can legitimately return.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf, WriteHalf};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::{AbortHandle, JoinHandle};

use super::body_pool::BodyPool;
use super::chunk_sink::{ChunkSink, WriteSink};
use super::codec::{HEADER_LEN, Header, MAX_BODY_LEN, MAX_READ_LEN, Packet};
use super::error::AfcError;
use super::error::AfcProtocolError;
use super::messages::{DeviceInfo, FileInfo, HostRequest, Reply, Whence, parse_list_lossy};
use super::opcode::Opcode;
use super::status_code::AfcStatus;
use crate::usbmux::DeviceStream;
use crate::usbmux::deadline::{DEFAULT_IO_TIMEOUT, ReplyDeadline, sleep_until};

/// How the client paces its reads.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// packet_num of the first request (pymobiledevice3 starts at 0, libimobiledevice at 1).
    pub first_packet_num: u64,
    /// Bytes asked for per FileRefRead in whole-file copies (capped at `MAX_READ_LEN`).
    pub read_chunk: usize,
    /// FileRefReads kept in flight during a whole-file copy. Memory held by a copy is at most
    /// `read_chunk * reads_in_flight`.
    pub reads_in_flight: usize,
    /// How long the phone may stay silent while requests are outstanding (`--io-timeout`).
    pub io_timeout: Duration,
    /// Which service this is, for errors (e.g. "com.apple.afc on port 49152").
    pub service: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            first_packet_num: 0,
            read_chunk: MAX_READ_LEN,
            reads_in_flight: 3,
            io_timeout: DEFAULT_IO_TIMEOUT,
            service: "com.apple.afc".into(),
        }
    }
}

/// An open file on the phone (always opened read-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileHandle(pub u64);

/// Bytes of reply bodies the client holds right now, and the most it ever held: the honest
/// measure of how much memory the read path needs.
#[derive(Debug, Default)]
struct BufferMeter {
    current: AtomicUsize,
    peak: AtomicUsize,
}

/// Keeps a reply body counted in the meter until the data has been handed on.
struct BufferGuard {
    meter: Arc<BufferMeter>,
    len: usize,
}

impl BufferGuard {
    fn new(meter: &Arc<BufferMeter>, len: usize) -> BufferGuard {
        let now = meter.current.fetch_add(len, Ordering::SeqCst) + len;
        meter.peak.fetch_max(now, Ordering::SeqCst);
        BufferGuard {
            meter: meter.clone(),
            len,
        }
    }
}

impl Drop for BufferGuard {
    fn drop(&mut self) {
        self.meter.current.fetch_sub(self.len, Ordering::SeqCst);
    }
}

type ReplyResult = Result<(Reply, BufferGuard), AfcError>;

struct Pending {
    /// The largest body this request's reply may have; checked before allocating.
    max_body: usize,
    /// For a FileRefRead, the bytes asked: a longer DATA reply is that read's error
    /// (`ReadTooLong`), skipped without being buffered, not the connection's.
    read_len: Option<usize>,
    reply: oneshot::Sender<ReplyResult>,
}

struct State {
    next_packet_num: u64,
    pending: HashMap<u64, Pending>,
    /// Set once the connection is unusable; every later request fails with it.
    failed: Option<AfcError>,
    outgoing: mpsc::UnboundedSender<Bytes>,
    /// Since when the phone has been silent while requests are outstanding.
    deadline: ReplyDeadline,
}

struct Shared {
    state: Mutex<State>,
    meter: Arc<BufferMeter>,
    /// Buffers of full-size reads, reused (see `body_pool`).
    pool: Arc<BodyPool>,
    /// Wakes the watchdog when a wait starts.
    wake: Notify,
}

impl Shared {
    fn fail(&self, error: AfcError) {
        let mut state = self.state.lock().expect("afc client state");
        if state.failed.is_none() {
            state.failed = Some(error.clone());
        }
        for (_, pending) in state.pending.drain() {
            let _ = pending.reply.send(Err(error.clone()));
        }
    }

    fn failure(&self) -> AfcError {
        let state = self.state.lock().expect("afc client state");
        state
            .failed
            .clone()
            .unwrap_or_else(|| AfcError::Connection("the client stopped".into()))
    }
}

/// A read-only AFC client on one connection. Cheap to share by reference: every method takes
/// `&self`, so several tasks may use one client concurrently (requests are pipelined).
pub struct AfcClient {
    shared: Arc<Shared>,
    options: ClientOptions,
    tasks: [JoinHandle<()>; 3],
}

impl Drop for AfcClient {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What a reply means for a request that returns data.
fn expect_data(req: &HostRequest<'_>, reply: Reply) -> Result<Bytes, AfcError> {
    match reply {
        Reply::Data(data) => Ok(data),
        // limd treats STATUS 0 as success without data.
        Reply::Status(AfcStatus::Success) => Ok(Bytes::new()),
        reply => Err(unexpected(req, reply)),
    }
}

/// A FileRefRead's data, which may be shorter than asked (not the end of the file unless
/// empty) but never longer.
fn expect_read(req: &HostRequest<'_>, reply: Reply) -> Result<Bytes, AfcError> {
    let data = expect_data(req, reply)?;
    let asked = match req {
        HostRequest::Read { len, .. } => *len,
        _ => u64::MAX,
    };
    if data.len() as u64 > asked {
        return Err(AfcProtocolError::ReadTooLong {
            asked: usize::try_from(asked).unwrap_or(usize::MAX),
            got: data.len(),
        }
        .into());
    }
    Ok(data)
}

/// The sink could not take the bytes (the disk writer failed or went away).
fn output_error(e: io::Error) -> AfcError {
    AfcError::Output(Arc::new(e))
}

fn expect_ok(req: &HostRequest<'_>, reply: Reply) -> Result<(), AfcError> {
    match reply {
        Reply::Status(AfcStatus::Success) => Ok(()),
        Reply::Data(data) if data.is_empty() => Ok(()),
        reply => Err(unexpected(req, reply)),
    }
}

fn unexpected(req: &HostRequest<'_>, reply: Reply) -> AfcError {
    match reply {
        Reply::Status(status) if !status.is_success() => AfcError::Status {
            op: req.opcode(),
            path: req.path().map(str::to_string),
            status,
        },
        reply => {
            let op = match reply {
                Reply::Status(_) => Opcode::Status,
                Reply::Data(_) => Opcode::Data,
                Reply::FileOpened(_) => Opcode::FileRefOpenResult,
                Reply::Position(_) => Opcode::FileRefTellResult,
                Reply::Other(op) => op,
            };
            AfcProtocolError::UnexpectedReply {
                request: req.opcode(),
                reply: op,
            }
            .into()
        }
    }
}

fn connection_error(e: &io::Error) -> AfcError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        AfcError::Connection("the phone closed the connection".into())
    } else {
        AfcError::Connection(e.to_string().into())
    }
}

/// A whole reply has arrived: stop the deadline when nothing else is outstanding.
fn reply_received(shared: &Shared) {
    let mut state = shared.state.lock().expect("afc client state");
    if state.pending.is_empty() {
        state.deadline.done();
    } else {
        state.deadline.heard(Instant::now());
    }
}

async fn reader_loop(mut input: BufReader<ReadHalf<DeviceStream>>, shared: Arc<Shared>) {
    let error = loop {
        let mut head = [0u8; HEADER_LEN];
        if let Err(e) = input.read_exact(&mut head).await {
            break connection_error(&e);
        }
        let header = match Header::decode(&head, MAX_BODY_LEN) {
            Ok(header) => header,
            Err(e) => break e.into(),
        };
        let pending = {
            let mut state = shared.state.lock().expect("afc client state");
            state.deadline.heard(Instant::now());
            state.pending.remove(&header.packet_num)
        };
        let Some(pending) = pending else {
            break AfcProtocolError::UnknownPacketNum(header.packet_num).into();
        };
        let len = header.body_len();
        if let Some(asked) = pending.read_len
            && len > pending.max_body
            && header.operation == Opcode::Data
        {
            let mut body = (&mut input).take(len as u64);
            if let Err(e) = tokio::io::copy(&mut body, &mut tokio::io::sink()).await {
                break connection_error(&e);
            }
            reply_received(&shared);
            let error = AfcProtocolError::ReadTooLong { asked, got: len }.into();
            let _ = pending.reply.send(Err(error));
            continue;
        }
        if len > pending.max_body {
            let error: AfcError = AfcProtocolError::TooLarge {
                len: len as u64,
                max: pending.max_body as u64,
            }
            .into();
            let _ = pending.reply.send(Err(error.clone()));
            break error;
        }
        let guard = BufferGuard::new(&shared.meter, len);
        let body = match read_body(&mut input, shared.pool.take(len), len).await {
            Ok(body) => body,
            Err(e) => {
                let error = connection_error(&e);
                let _ = pending.reply.send(Err(error.clone()));
                break error;
            }
        };
        reply_received(&shared);
        let packet = Packet {
            packet_num: header.packet_num,
            operation: header.operation,
            body: body.into(),
        };
        let reply = Reply::decode(packet)
            .map_err(AfcError::from)
            .map(|reply| (reply, guard));
        // The caller may have given up (dropped its future); its reply is simply discarded.
        let _ = pending.reply.send(reply);
    };
    shared.fail(error);
}

/// Exactly `len` bytes of a reply body, read into `body` (empty, with room for them) without
/// zeroing it first: the socket fills it (zeroing 4 MiB per read was a measurable share of a
/// copy's CPU).
async fn read_body(
    input: &mut BufReader<ReadHalf<DeviceStream>>,
    mut body: Vec<u8>,
    len: usize,
) -> io::Result<Vec<u8>> {
    while body.len() < len {
        let want = len - body.len();
        if input.read_buf(&mut (&mut body).limit(want)).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(body)
}

/// Ends the connection when the phone stays silent for `io_timeout` while requests are
/// outstanding: every waiting request (even one half-way through its reply) gets `Stalled`.
async fn watchdog(shared: Arc<Shared>, reader: AbortHandle) {
    loop {
        let next = shared
            .state
            .lock()
            .expect("afc client state")
            .deadline
            .poll_timeout();
        tokio::select! {
            _ = sleep_until(next) => {}
            _ = shared.wake.notified() => continue,
        }
        let stall = shared
            .state
            .lock()
            .expect("afc client state")
            .deadline
            .handle_timeout(Instant::now());
        if let Some(stall) = stall {
            shared.fail(AfcError::Stalled {
                waiting_for: stall.waiting_for,
                secs: stall.after.as_secs(),
            });
            // The reader may hold a request whose reply stopped half-way: dropping it answers
            // that request with the failure above.
            reader.abort();
            return;
        }
    }
}

async fn writer_loop(
    mut output: WriteHalf<DeviceStream>,
    mut queue: mpsc::UnboundedReceiver<Bytes>,
    shared: Arc<Shared>,
) {
    while let Some(packet) = queue.recv().await {
        let mut result = output.write_all(&packet).await;
        if result.is_ok() && queue.is_empty() {
            result = output.flush().await;
        }
        if let Err(e) = result {
            shared.fail(connection_error(&e));
            return;
        }
    }
}

impl AfcClient {
    /// Start a client on a connection to `com.apple.afc`. Must be called inside a tokio runtime.
    pub fn new(stream: DeviceStream) -> AfcClient {
        AfcClient::with_options(stream, ClientOptions::default())
    }

    pub fn with_options(stream: DeviceStream, mut options: ClientOptions) -> AfcClient {
        options.read_chunk = options.read_chunk.clamp(1, MAX_READ_LEN);
        options.reads_in_flight = options.reads_in_flight.max(1);
        let (input, output) = tokio::io::split(stream);
        let (outgoing, queue) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                next_packet_num: options.first_packet_num,
                pending: HashMap::new(),
                failed: None,
                outgoing,
                deadline: ReplyDeadline::new(options.io_timeout),
            }),
            meter: Arc::new(BufferMeter::default()),
            pool: Arc::new(BodyPool::new(options.read_chunk)),
            wake: Notify::new(),
        });
        let reader = tokio::spawn(reader_loop(
            BufReader::with_capacity(64 * 1024, input),
            shared.clone(),
        ));
        let writer = tokio::spawn(writer_loop(output, queue, shared.clone()));
        let watchdog = tokio::spawn(watchdog(shared.clone(), reader.abort_handle()));
        AfcClient {
            shared,
            options,
            tasks: [reader, writer, watchdog],
        }
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The most reply-body bytes this client has held at once (received but not yet handed
    /// to the caller or written out). Whole-file copies keep it at or below
    /// `read_chunk * reads_in_flight` whatever the file size.
    pub fn peak_buffered_bytes(&self) -> usize {
        self.shared.meter.peak.load(Ordering::SeqCst)
    }

    /// Where the full-size reads' buffers are kept: a consumer of [`Self::read_range_into`]'s
    /// chunks gives each back when it is done with it, so the next reads reuse them.
    pub fn body_pool(&self) -> Arc<BodyPool> {
        self.shared.pool.clone()
    }

    /// Queue one request; the reply arrives on the returned channel.
    fn send(&self, req: &HostRequest<'_>) -> Result<oneshot::Receiver<ReplyResult>, AfcError> {
        let mut state = self.shared.state.lock().expect("afc client state");
        if let Some(error) = &state.failed {
            return Err(error.clone());
        }
        let packet_num = state.next_packet_num;
        let packet = req.encode(packet_num)?;
        let (tx, rx) = oneshot::channel();
        // A STATUS reply (8 bytes) may answer any request, even a read of fewer bytes.
        let max_body = req.max_reply_body().max(8);
        state.pending.insert(
            packet_num,
            Pending {
                max_body,
                read_len: match req {
                    HostRequest::Read { len, .. } => Some(*len as usize),
                    _ => None,
                },
                reply: tx,
            },
        );
        // Sent under the lock so packet numbers reach the wire in increasing order.
        if state.outgoing.send(packet).is_err() {
            state.pending.remove(&packet_num);
            drop(state);
            return Err(self.shared.failure());
        }
        state.next_packet_num = packet_num.wrapping_add(1);
        if !state.deadline.is_waiting() {
            let what = format!("{} ({})", req.opcode(), self.options.service);
            state.deadline.expect(Instant::now(), &what);
            self.shared.wake.notify_one();
        }
        Ok(rx)
    }

    async fn wait(&self, rx: oneshot::Receiver<ReplyResult>) -> ReplyResult {
        match rx.await {
            Ok(result) => result,
            Err(_) => Err(self.shared.failure()),
        }
    }

    async fn request(&self, req: HostRequest<'_>) -> ReplyResult {
        let rx = self.send(&req)?;
        self.wait(rx).await
    }

    /// The names in a directory, without "." and ".."; names that are not UTF-8 are decoded
    /// lossily (with U+FFFD).
    pub async fn read_dir(&self, path: &str) -> Result<Vec<String>, AfcError> {
        let req = HostRequest::ReadDir { path };
        let (reply, _guard) = self.request(req).await?;
        // A name that is not UTF-8 comes back with U+FFFD in it: the caller reports that one
        // entry (it cannot be asked for by name), the rest of the folder is still listed.
        let names = parse_list_lossy(&expect_data(&req, reply)?);
        Ok(names
            .into_iter()
            .filter(|n| n != "." && n != "..")
            .collect())
    }

    pub async fn stat(&self, path: &str) -> Result<FileInfo, AfcError> {
        let req = HostRequest::GetFileInfo { path };
        let (reply, _guard) = self.request(req).await?;
        Ok(FileInfo::parse(&expect_data(&req, reply)?)?)
    }

    pub async fn device_info(&self) -> Result<DeviceInfo, AfcError> {
        let req = HostRequest::GetDeviceInfo;
        let (reply, _guard) = self.request(req).await?;
        Ok(DeviceInfo::parse(&expect_data(&req, reply)?)?)
    }

    /// Open a file for reading (the only mode the host has).
    pub async fn open(&self, path: &str) -> Result<FileHandle, AfcError> {
        let req = HostRequest::OpenRead { path };
        match self.request(req).await?.0 {
            Reply::FileOpened(handle) => Ok(FileHandle(handle)),
            reply => Err(unexpected(&req, reply)),
        }
    }

    /// Read up to `len` bytes (at most `MAX_READ_LEN`) at the handle's position; empty at the end.
    pub async fn read(&self, handle: FileHandle, len: usize) -> Result<Bytes, AfcError> {
        let req = HostRequest::Read {
            handle: handle.0,
            len: len.min(MAX_READ_LEN) as u64,
        };
        let (reply, _guard) = self.request(req).await?;
        expect_read(&req, reply)
    }

    pub async fn seek(
        &self,
        handle: FileHandle,
        whence: Whence,
        offset: i64,
    ) -> Result<(), AfcError> {
        let req = HostRequest::Seek {
            handle: handle.0,
            whence,
            offset,
        };
        expect_ok(&req, self.request(req).await?.0)
    }

    pub async fn tell(&self, handle: FileHandle) -> Result<u64, AfcError> {
        let req = HostRequest::Tell { handle: handle.0 };
        match self.request(req).await?.0 {
            Reply::Position(pos) => Ok(pos),
            reply => Err(unexpected(&req, reply)),
        }
    }

    pub async fn close(&self, handle: FileHandle) -> Result<(), AfcError> {
        let req = HostRequest::Close { handle: handle.0 };
        expect_ok(&req, self.request(req).await?.0)
    }

    /// Copy `path` from byte `offset` up to `size` into `out` (resuming an interrupted copy):
    /// [`Self::read_file_to`] from 0, else open + seek + reads one at a time. A file shorter
    /// than `size` is a `SizeMismatch`. Returns the bytes copied.
    pub async fn read_range_to<W>(
        &self,
        path: &str,
        size: u64,
        offset: u64,
        out: &mut W,
    ) -> Result<u64, AfcError>
    where
        W: AsyncWrite + Unpin + Send + ?Sized,
    {
        self.read_range_into(path, size, offset, &mut WriteSink(out))
            .await
    }

    /// [`Self::read_range_to`] handing the reply bodies themselves to `sink`, without a copy.
    pub async fn read_range_into(
        &self,
        path: &str,
        size: u64,
        offset: u64,
        sink: &mut impl ChunkSink,
    ) -> Result<u64, AfcError> {
        if offset >= size {
            return Ok(0);
        }
        if offset == 0 {
            return self.read_file_into(path, Some(size), sink).await;
        }
        let handle = self.open(path).await?;
        let copied = async {
            self.seek(handle, Whence::Start, offset as i64).await?;
            let mut left = size - offset;
            while left > 0 {
                let want = (MAX_READ_LEN as u64).min(left) as usize;
                let data = self.read(handle, want).await?;
                if data.is_empty() {
                    return Err(AfcError::SizeMismatch {
                        path: path.to_string(),
                        expected: size,
                        got: size - left,
                    });
                }
                // `read` refuses replies longer than asked, and `want <= left`.
                left = left.saturating_sub(data.len() as u64);
                sink.put(data).await.map_err(output_error)?;
            }
            sink.finish().await.map_err(output_error)?;
            Ok(size - offset)
        }
        .await;
        let closed = self.close(handle).await;
        let copied = copied?;
        closed?;
        Ok(copied)
    }

    /// Copy a whole file into `out`: FileRefOpen, pipelined FileRefReads, FileRefClose, and
    /// nothing else (pass `known_size` from an earlier listing to skip any stat). Memory stays
    /// at most `read_chunk * reads_in_flight` whatever the file size. A read may return less
    /// than asked; only an empty read is the end. With `known_size`, a file that turns out
    /// shorter or longer is a `SizeMismatch` (the end is confirmed by one extra 1-byte read
    /// sent along with the last chunk, so it costs no round trip). Returns the
    /// bytes copied. If the future is dropped midway the handle stays open until the
    /// connection closes; the client itself stays usable.
    pub async fn read_file_to<W>(
        &self,
        path: &str,
        known_size: Option<u64>,
        out: &mut W,
    ) -> Result<u64, AfcError>
    where
        W: AsyncWrite + Unpin + Send + ?Sized,
    {
        self.read_file_into(path, known_size, &mut WriteSink(out))
            .await
    }

    async fn read_file_into(
        &self,
        path: &str,
        known_size: Option<u64>,
        sink: &mut impl ChunkSink,
    ) -> Result<u64, AfcError> {
        let handle = self.open(path).await?;
        let copied = self.copy_handle(path, handle, known_size, sink).await;
        let closed = self.close(handle).await;
        let copied = copied?;
        closed?;
        Ok(copied)
    }

    async fn copy_handle(
        &self,
        path: &str,
        handle: FileHandle,
        known_size: Option<u64>,
        sink: &mut impl ChunkSink,
    ) -> Result<u64, AfcError> {
        let chunk = self.options.read_chunk as u64;
        let mut in_flight: VecDeque<(u64, HostRequest<'static>, oneshot::Receiver<ReplyResult>)> =
            VecDeque::new();
        // Bytes the reads sent so far can still return (a short read gives back the rest).
        let mut requested = 0u64;
        let mut copied = 0u64;
        // An empty read has been answered: the phone's position is at the end of the file.
        let mut at_end = false;
        let mismatch = |got: u64| AfcError::SizeMismatch {
            path: path.to_string(),
            expected: known_size.unwrap_or_default(),
            got,
        };
        loop {
            while !at_end && in_flight.len() < self.options.reads_in_flight {
                let len = match known_size {
                    Some(size) if requested < size => chunk.min(size - requested),
                    // One more (pipelined) 1-byte read must find the end: a file that grew
                    // since it was listed is reported, never silently truncated.
                    Some(size) if requested == size => 1,
                    Some(_) => break,
                    None => chunk,
                };
                let req = HostRequest::Read {
                    handle: handle.0,
                    len,
                };
                in_flight.push_back((len, req, self.send(&req)?));
                requested = requested.saturating_add(len);
            }
            let Some((asked, req, rx)) = in_flight.pop_front() else {
                break;
            };
            let (reply, guard) = self.wait(rx).await?;
            let data = expect_read(&req, reply)?;
            let got = data.len() as u64;
            if at_end && got > 0 {
                // Reads after an empty one must be empty: the file cannot have more.
                return Err(AfcProtocolError::UnexpectedReply {
                    request: Opcode::FileRefRead,
                    reply: Opcode::Data,
                }
                .into());
            }
            let total = copied.saturating_add(got);
            if known_size.is_some_and(|size| total > size) {
                return Err(mismatch(total));
            }
            if got > 0 {
                sink.put(data).await.map_err(output_error)?;
            }
            drop(guard);
            copied = total;
            if got == 0 {
                at_end = true;
                if known_size.is_some_and(|size| copied < size) {
                    return Err(mismatch(copied));
                }
            } else {
                // A short read is not the end (phones may return less than asked, as
                // libimobiledevice knows): the next reads continue where this one stopped.
                requested = requested.saturating_sub(asked - got);
            }
        }
        sink.finish().await.map_err(output_error)?;
        Ok(copied)
    }

    /// Read a whole small file into memory, refusing files larger than `limit` bytes.
    pub async fn read_to_vec(&self, path: &str, limit: u64) -> Result<Vec<u8>, AfcError> {
        let info = self.stat(path).await?;
        if info.st_size > limit {
            return Err(AfcError::FileTooLarge {
                path: path.to_string(),
                size: info.st_size,
                limit,
            });
        }
        let mut out = Vec::with_capacity(info.st_size as usize);
        self.read_file_to(path, Some(info.st_size), &mut out)
            .await?;
        Ok(out)
    }
}
