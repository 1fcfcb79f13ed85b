//! The front's sockets: the TCP and unix accept loops, one client connection (requests answered
//! with the tag echoed, Connect handing the raw socket to the phone, Listen turning it into an
//! event stream), and the answer to each request.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use plist::{Dictionary, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::broadcast;

use crate::mock::stall::{Stall, drain};
use crate::usbmux::muxd_proto::{
    DeviceEvent, Frame, FrameDecoder, ProtoError, Reply, Request, ResultCode, VERSION_BINARY,
};

use super::MuxdServer;

/// errno values usbmuxd answers pair-record requests with.
pub(super) const ENOENT: u32 = 2;
pub(super) const EINVAL: u32 = 22;

impl MuxdServer {
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
    pub(crate) async fn serve_tcp(self: Arc<Self>, listener: TcpListener) -> io::Result<()> {
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
    pub(crate) async fn serve_unix(self: Arc<Self>, listener: UnixListener) -> io::Result<()> {
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
    pub(crate) async fn serve_connection<S>(self: Arc<Self>, mut stream: S)
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
pub(super) async fn read_frame<S: AsyncRead + Unpin>(
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
