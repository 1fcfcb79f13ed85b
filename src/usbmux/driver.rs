//! Tokio drivers that run a `MuxEngine` over a `Link`: `MuxHost` (the host side, used to reach a
//! real or simulated phone) and `serve_device` (the device side, used by the simulated phone).
//! Both drive the engine in the `SansIo` order (`sans_io`): link reads into `handle_input`,
//! then events, then packets out.
//!
//! One task owns the engine and the link. Each connection is a `MuxStream` sharing a small
//! buffer state with that task: received segments wait in the stream's queue (the 128 KiB window
//! bounds it, because we acknowledge only what the reader has taken), and written bytes wait in
//! a bounded queue until the peer's window lets them out. The engine task never waits for one
//! connection, only for the link.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::DeviceStream;
use super::engine::MuxEngine;
use super::error::MuxProtocolError;
use super::link::{Link, LinkError};
use super::sans_io::SansIo;
use super::tcp::{ConnId, MuxEvent};

/// How long the phone has to answer VERSION (the default, and the least `for_io_timeout` gives).
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the phone has to answer a SYN (the default, and the least `for_io_timeout` gives).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeouts for `MuxHost::start_with`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MuxOptions {
    /// How long the phone has to answer VERSION.
    pub handshake_timeout: Duration,
    /// How long the phone has to answer a SYN; then the connection is reset and `connect`
    /// fails with `Timeout`.
    pub connect_timeout: Duration,
}

impl Default for MuxOptions {
    fn default() -> Self {
        MuxOptions {
            handshake_timeout: HANDSHAKE_TIMEOUT,
            connect_timeout: CONNECT_TIMEOUT,
        }
    }
}

impl MuxOptions {
    /// The waits for a session whose phone may stay silent for `io_timeout` (`--io-timeout`):
    /// a sixth of it for VERSION and a third for a SYN, so the default 30 s gives the defaults
    /// above and a slow phone given more time gets it here too; never less than the defaults.
    pub(crate) fn for_io_timeout(io_timeout: Duration) -> MuxOptions {
        MuxOptions {
            handshake_timeout: (io_timeout / 6).max(HANDSHAKE_TIMEOUT),
            connect_timeout: (io_timeout / 3).max(CONNECT_TIMEOUT),
        }
    }
}

/// Written bytes a stream buffers beyond what the peer's window lets out.
const TX_BUFFER: usize = 128 * 1024;

/// What can go wrong talking to a phone through the mux.
#[derive(Debug, thiserror::Error)]
pub enum MuxError {
    #[error("port {port} on the phone refused the connection (no service is listening there)")]
    Refused { port: u16 },
    #[error(
        "the phone is disconnected (unplugged, or its USB link failed); reconnect it and try again"
    )]
    Disconnected,
    #[error("the phone did not answer in time; unplug it, plug it back in and try again")]
    Timeout,
    #[error("{0}; unplug the phone and plug it back in")]
    Protocol(#[from] MuxProtocolError),
    #[error("too many open connections to the phone (no free local port)")]
    NoFreePort,
    #[error("USB link failed: {0}")]
    Link(#[from] LinkError),
}

/// The device role's services: which ports listen, and who takes an accepted connection.
pub trait PortListener: Send + Sync + 'static {
    fn is_listening(&self, port: u16) -> bool;
    /// Take an accepted connection; false if nothing listens on `port` any more (the
    /// connection is then reset).
    fn accept(&self, port: u16, stream: DeviceStream) -> bool;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Host,
    Device,
}

/// Why a connection ended, as its stream reports it.
#[derive(Debug, Clone)]
enum End {
    /// The peer sent RST (with its reason text, if any).
    PeerReset(Option<String>),
    /// The peer broke the protocol and we reset the connection.
    Broken(String),
    /// The link died.
    LinkLost,
}

/// State shared between a stream and the engine task.
#[derive(Default)]
struct ConnState {
    rx: VecDeque<Bytes>,
    /// Bytes the reader took that the engine has not acknowledged yet.
    consumed: usize,
    tx: VecDeque<Bytes>,
    tx_len: usize,
    ended: Option<End>,
    /// The stream was shut down or dropped.
    user_closed: bool,
    /// The stream already queued a signal the engine has not handled.
    signalled: bool,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

type Shared = Arc<Mutex<ConnState>>;

fn lock(shared: &Shared) -> MutexGuard<'_, ConnState> {
    // A panic while holding this lock leaves plain buffers behind: still usable.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

fn wake(waker: &mut Option<Waker>) {
    if let Some(w) = waker.take() {
        w.wake();
    }
}

/// One connection through the mux, as an async byte stream.
struct MuxStream {
    id: ConnId,
    port: u16,
    role: Role,
    shared: Shared,
    signal: mpsc::UnboundedSender<ConnId>,
}

impl MuxStream {
    fn notify(&self, st: &mut ConnState) {
        if !st.signalled {
            st.signalled = true;
            let _ = self.signal.send(self.id);
        }
    }

    fn end_error(&self, end: &End) -> io::Error {
        let who = match self.role {
            Role::Host => "the phone",
            Role::Device => "the host",
        };
        match end {
            End::PeerReset(Some(reason)) => io::Error::new(
                io::ErrorKind::ConnectionReset,
                format!(
                    "{who} closed the connection on port {}: {reason}",
                    self.port
                ),
            ),
            End::PeerReset(None) => io::Error::new(
                io::ErrorKind::ConnectionReset,
                format!("{who} closed the connection on port {}", self.port),
            ),
            End::Broken(reason) => io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "connection on port {} reset after a protocol error: {reason}",
                    self.port
                ),
            ),
            End::LinkLost => io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the phone was disconnected (USB link lost)",
            ),
        }
    }
}

impl AsyncRead for MuxStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut st = lock(&this.shared);
        if st.rx.is_empty() {
            return match &st.ended {
                // For a service, a host's plain RST is the normal end of a session.
                Some(End::PeerReset(None)) if this.role == Role::Device => Poll::Ready(Ok(())),
                Some(end) => Poll::Ready(Err(this.end_error(end))),
                None if st.user_closed => Poll::Ready(Ok(())),
                None => {
                    st.read_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            };
        }
        let mut taken = 0;
        while buf.remaining() > 0 {
            let Some(front) = st.rx.front_mut() else {
                break;
            };
            let n = front.len().min(buf.remaining());
            buf.put_slice(&front[..n]);
            front.advance(n);
            if front.is_empty() {
                st.rx.pop_front();
            }
            taken += n;
        }
        if taken > 0 && st.ended.is_none() {
            st.consumed += taken;
            this.notify(&mut st);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for MuxStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut st = lock(&this.shared);
        if let Some(end) = &st.ended {
            return Poll::Ready(Err(this.end_error(end)));
        }
        if st.user_closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown of a mux connection",
            )));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if st.tx_len >= TX_BUFFER {
            st.write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.len().min(TX_BUFFER - st.tx_len);
        st.tx.push_back(Bytes::copy_from_slice(&buf[..n]));
        st.tx_len += n;
        this.notify(&mut st);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut st = lock(&this.shared);
        if st.tx_len == 0 {
            return Poll::Ready(Ok(()));
        }
        if let Some(end) = &st.ended {
            return Poll::Ready(Err(this.end_error(end)));
        }
        st.write_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// There is no half-close in the mux protocol: shutting down sends what is queued, then RST.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut st = lock(&this.shared);
        if !st.user_closed {
            st.user_closed = true;
            this.notify(&mut st);
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for MuxStream {
    fn drop(&mut self) {
        let mut st = lock(&self.shared);
        if !st.user_closed {
            st.user_closed = true;
            let _ = self.signal.send(self.id);
        }
    }
}

type ConnectReply = oneshot::Sender<Result<DeviceStream, MuxError>>;

enum Command {
    Connect { port: u16, reply: ConnectReply },
}

struct PendingConnect {
    port: u16,
    reply: ConnectReply,
    deadline: Instant,
}

/// The engine task's bookkeeping besides the engine and the link.
struct Conns {
    role: Role,
    open: HashMap<ConnId, (Shared, u16)>,
    /// Connections with written bytes waiting for the peer's window.
    blocked: HashSet<ConnId>,
    pending: HashMap<ConnId, PendingConnect>,
    signal: mpsc::UnboundedSender<ConnId>,
    listener: Option<Arc<dyn PortListener>>,
    connect_timeout: Duration,
}

impl Conns {
    fn new_stream(&mut self, id: ConnId, port: u16) -> DeviceStream {
        let shared: Shared = Arc::default();
        self.open.insert(id, (shared.clone(), port));
        Box::new(MuxStream {
            id,
            port,
            role: self.role,
            shared,
            signal: self.signal.clone(),
        })
    }

    /// A stream signalled: acknowledge what it read, take what it wrote, close if it is done.
    fn service(&mut self, engine: &mut MuxEngine, id: ConnId) {
        let Some((shared, _)) = self.open.get(&id) else {
            return;
        };
        let shared = shared.clone();
        let mut st = lock(&shared);
        st.signalled = false;
        let consumed = std::mem::take(&mut st.consumed);
        if consumed > 0 {
            engine.consumed(id, consumed);
        }
        self.push_tx(engine, id, &mut st);
        if st.user_closed && st.tx.is_empty() {
            if st.ended.is_none() {
                engine.close(id, None);
            }
            self.open.remove(&id);
            self.blocked.remove(&id);
        }
    }

    /// Hand written bytes to the engine as far as the peer's window allows.
    fn push_tx(&mut self, engine: &mut MuxEngine, id: ConnId, st: &mut ConnState) {
        let before = st.tx_len;
        while let Some(front) = st.tx.front_mut() {
            let n = engine.send(id, front.clone());
            if n == 0 {
                break;
            }
            st.tx_len -= n;
            if n == front.len() {
                st.tx.pop_front();
            } else {
                front.advance(n);
            }
        }
        if st.tx.is_empty() {
            self.blocked.remove(&id);
        } else {
            self.blocked.insert(id);
        }
        if st.tx_len < before {
            wake(&mut st.write_waker);
        }
    }

    /// After ACKs arrived: move more written bytes where windows opened.
    fn push_blocked(&mut self, engine: &mut MuxEngine) {
        if self.blocked.is_empty() {
            return;
        }
        for id in self.blocked.clone() {
            self.service(engine, id);
        }
    }

    fn end(&mut self, id: ConnId, end: End) {
        self.blocked.remove(&id);
        if let Some((shared, _)) = self.open.remove(&id) {
            let mut st = lock(&shared);
            st.ended = Some(end);
            st.tx.clear();
            st.tx_len = 0;
            wake(&mut st.read_waker);
            wake(&mut st.write_waker);
        }
    }

    fn dispatch(&mut self, engine: &mut MuxEngine) {
        while let Some(event) = engine.poll_event() {
            match event {
                MuxEvent::Data(id, data) => match self.open.get(&id) {
                    Some((shared, _)) => {
                        let mut st = lock(shared);
                        if st.user_closed {
                            // Nobody will read it; acknowledge so the peer is not stalled.
                            engine.consumed(id, data.len());
                        } else {
                            st.rx.push_back(data);
                            wake(&mut st.read_waker);
                        }
                    }
                    None => engine.consumed(id, data.len()),
                },
                MuxEvent::Reset {
                    conn,
                    reason,
                    by_peer,
                } => {
                    if let Some(p) = self.pending.remove(&conn) {
                        let _ = p.reply.send(Err(MuxError::Refused { port: p.port }));
                    }
                    let end = match (by_peer, reason) {
                        (true, reason) => End::PeerReset(reason),
                        (false, reason) => End::Broken(reason.unwrap_or_default()),
                    };
                    self.end(conn, end);
                }
                MuxEvent::Connected(id) => {
                    if let Some(p) = self.pending.remove(&id) {
                        let stream = self.new_stream(id, p.port);
                        // If the caller gave up, dropping the stream closes the connection.
                        let _ = p.reply.send(Ok(stream));
                    } else {
                        engine.close(id, None);
                    }
                }
                MuxEvent::Refused(id) => {
                    if let Some(p) = self.pending.remove(&id) {
                        let _ = p.reply.send(Err(MuxError::Refused { port: p.port }));
                    }
                }
                MuxEvent::Accepted { conn, port } => {
                    let stream = self.new_stream(conn, port);
                    match &self.listener {
                        Some(l) => {
                            // On refusal the stream is dropped, which resets the connection.
                            l.accept(port, stream);
                        }
                        None => drop(stream),
                    }
                }
                MuxEvent::Control { kind, text } => match kind {
                    3 => tracing::warn!("phone reports an error: {text}"),
                    5 => tracing::warn!("phone warns: {text}"),
                    _ => tracing::info!("phone says: {text}"),
                },
                MuxEvent::Ready { .. } => {}
            }
        }
    }

    fn expire(&mut self, engine: &mut MuxEngine, now: Instant) {
        let expired: Vec<ConnId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(p) = self.pending.remove(&id) {
                engine.close(id, None);
                let _ = p.reply.send(Err(MuxError::Timeout));
            }
        }
    }

    /// The link is gone: every stream fails, every waiting connect too.
    fn fail_all(&mut self) {
        for id in self.open.keys().copied().collect::<Vec<_>>() {
            self.end(id, End::LinkLost);
        }
        for (_, p) in self.pending.drain() {
            let _ = p.reply.send(Err(MuxError::Disconnected));
        }
    }
}

/// Run an engine over a link until the link dies, or (host) until every handle and stream is
/// gone. Returns why it stopped.
async fn run(
    mut engine: MuxEngine,
    mut link: Link,
    mut conns: Conns,
    mut signals: mpsc::UnboundedReceiver<ConnId>,
    mut commands: Option<mpsc::Receiver<Command>>,
) -> Result<(), MuxError> {
    let far_future = Instant::now() + Duration::from_secs(86400 * 365);
    let result = loop {
        if conns.role == Role::Host
            && commands.is_none()
            && conns.open.is_empty()
            && conns.pending.is_empty()
            && engine.connection_count() == 0
            && !engine.has_transmit()
        {
            break Ok(());
        }
        let deadline = conns
            .pending
            .values()
            .map(|p| p.deadline)
            .min()
            .unwrap_or(far_future);
        let want_send = engine.has_transmit();
        tokio::select! {
            permit = link.outgoing.reserve(), if want_send => match permit {
                Ok(permit) => {
                    if let Some(packet) = engine.poll_transmit() {
                        permit.send(packet);
                    }
                }
                Err(_) => break Err(MuxError::Disconnected),
            },
            incoming = link.incoming.recv() => match incoming {
                Some(Ok(data)) => {
                    if let Err(e) = engine.handle_input(std::time::Instant::now(), data) {
                        break Err(MuxError::Protocol(e));
                    }
                    conns.dispatch(&mut engine);
                    conns.push_blocked(&mut engine);
                }
                Some(Err(_)) | None => break Err(MuxError::Disconnected),
            },
            Some(id) = signals.recv() => {
                conns.service(&mut engine, id);
                while let Ok(id) = signals.try_recv() {
                    conns.service(&mut engine, id);
                }
            },
            command = async { commands.as_mut().expect("guarded").recv().await }, if commands.is_some() => {
                match command {
                    Some(Command::Connect { port, reply }) => match engine.connect(port) {
                        Some(id) => {
                            let deadline = Instant::now() + conns.connect_timeout;
                            conns.pending.insert(id, PendingConnect { port, reply, deadline });
                        }
                        None => {
                            let _ = reply.send(Err(MuxError::NoFreePort));
                        }
                    },
                    None => commands = None,
                }
            },
            _ = tokio::time::sleep_until(deadline), if !conns.pending.is_empty() => {
                conns.expire(&mut engine, Instant::now());
            },
        }
    };
    conns.fail_all();
    result
}

/// A running host-role mux over one link: opens connections to ports on the phone. Cheap to
/// clone; the engine task ends when every handle and every stream is gone, or the link dies.
#[derive(Clone)]
pub struct MuxHost {
    commands: mpsc::Sender<Command>,
    alive: watch::Receiver<bool>,
    version: u32,
}

impl MuxHost {
    /// Negotiate the protocol version (and SETUP) over `link`, then start the engine task.
    /// Must be called inside a tokio runtime.
    pub async fn start(link: Link) -> Result<MuxHost, MuxError> {
        MuxHost::start_with(link, MuxOptions::default()).await
    }

    /// `start` with other timeouts.
    pub async fn start_with(mut link: Link, options: MuxOptions) -> Result<MuxHost, MuxError> {
        let mut engine = MuxEngine::host();
        while let Some(packet) = engine.poll_transmit() {
            link.outgoing
                .send(packet)
                .await
                .map_err(|_| MuxError::Disconnected)?;
        }
        let handshake = async {
            loop {
                match link.incoming.recv().await {
                    Some(Ok(data)) => {
                        engine.handle_input(std::time::Instant::now(), data)?;
                        while let Some(event) = engine.poll_event() {
                            if let MuxEvent::Ready { major, .. } = event {
                                return Ok(major);
                            }
                        }
                    }
                    Some(Err(e)) => return Err(MuxError::Link(e)),
                    None => return Err(MuxError::Disconnected),
                }
            }
        };
        let version = tokio::time::timeout(options.handshake_timeout, handshake)
            .await
            .map_err(|_| MuxError::Timeout)??;
        let (signal, signals) = mpsc::unbounded_channel();
        let (commands, command_rx) = mpsc::channel(16);
        let (alive_tx, alive) = watch::channel(true);
        let conns = Conns {
            role: Role::Host,
            open: HashMap::new(),
            blocked: HashSet::new(),
            pending: HashMap::new(),
            signal,
            listener: None,
            connect_timeout: options.connect_timeout,
        };
        tokio::spawn(async move {
            if let Err(e) = run(engine, link, conns, signals, Some(command_rx)).await {
                tracing::debug!("mux host stopped: {e}");
            }
            let _ = alive_tx.send(false);
        });
        Ok(MuxHost {
            commands,
            alive,
            version,
        })
    }

    /// Open a byte stream to `port` on the phone.
    pub async fn connect(&self, port: u16) -> Result<DeviceStream, MuxError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Connect { port, reply })
            .await
            .map_err(|_| MuxError::Disconnected)?;
        answer.await.map_err(|_| MuxError::Disconnected)?
    }

    /// The mux protocol version the phone agreed to (1 or 2).
    pub fn protocol_version(&self) -> u32 {
        self.version
    }

    /// False once the link has died (every stream has then failed).
    pub fn is_alive(&self) -> bool {
        *self.alive.borrow() && !self.commands.is_closed()
    }

    /// Resolves when the link has died.
    pub async fn closed(&self) {
        let mut alive = self.alive.clone();
        while *alive.borrow_and_update() {
            if alive.changed().await.is_err() {
                return;
            }
        }
    }
}

impl std::fmt::Debug for MuxHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MuxHost")
            .field("version", &self.version)
            .field("alive", &self.is_alive())
            .finish()
    }
}

/// Serve the device role over `link` until the host goes away: answer the handshake, hand each
/// accepted connection to `listener`. Returns `Ok` when the link closes, an error when the host
/// breaks the protocol.
pub async fn serve_device(link: Link, listener: Arc<dyn PortListener>) -> Result<(), MuxError> {
    let listening = listener.clone();
    let (signal, signals) = mpsc::unbounded_channel();
    let conns = Conns {
        role: Role::Device,
        open: HashMap::new(),
        blocked: HashSet::new(),
        pending: HashMap::new(),
        signal,
        listener: Some(listener),
        connect_timeout: CONNECT_TIMEOUT,
    };
    let engine = MuxEngine::device(move |port| listening.is_listening(port));
    match run(engine, link, conns, signals, None).await {
        Err(MuxError::Disconnected) => Ok(()),
        other => other,
    }
}
