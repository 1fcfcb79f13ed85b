//! TLS over a `DeviceStream` for service connections that StartService marks with
//! `EnableServiceSSL` (not AFC over USB today, but a phone may set it). Both roles: the
//! simulated phone can serve a service behind it too. A small poll-based adapter so no extra
//! crate (tokio-rustls) is needed; lockdown's own session TLS uses `Channel` instead, because it
//! must switch back to plaintext on the same socket.

use std::io::{self, Read, Write};
use std::pin::Pin;
#[cfg(test)]
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::error::LockdownError;
use super::records::PairRecord;
use super::tls::{host_client_config, host_client_connection};
use crate::usbmux::DeviceStream;

/// A TLS connection over a device stream; itself a `DeviceStream` once boxed.
pub(crate) struct TlsStream {
    io: DeviceStream,
    conn: rustls::Connection,
    /// Encrypted bytes not yet written to `io`.
    pending: Vec<u8>,
    io_eof: bool,
}

impl TlsStream {
    /// Complete the handshake on `io`, then hand back the stream.
    pub(crate) async fn handshake(
        mut io: DeviceStream,
        conn: impl Into<rustls::Connection>,
    ) -> Result<TlsStream, LockdownError> {
        let mut conn = conn.into();
        let mut buf = vec![0u8; 16 * 1024];
        while conn.is_handshaking() {
            let mut out = Vec::new();
            while conn.wants_write() {
                conn.write_tls(&mut out)?;
            }
            if !out.is_empty() {
                io.write_all(&out).await?;
                io.flush().await?;
            }
            if conn.is_handshaking() && conn.wants_read() {
                let n = io.read(&mut buf).await?;
                if n == 0 {
                    return Err(LockdownError::Closed);
                }
                let mut slice = &buf[..n];
                while !slice.is_empty() {
                    conn.read_tls(&mut slice)?;
                    conn.process_new_packets()?;
                }
            }
        }
        let mut pending = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut pending)?;
        }
        Ok(TlsStream {
            io,
            conn,
            pending,
            io_eof: false,
        })
    }

    /// Host role for a service: present the record's host certificate, accept the phone's.
    pub(crate) async fn connect_service(
        io: DeviceStream,
        record: &PairRecord,
    ) -> Result<TlsStream, LockdownError> {
        let config = host_client_config(&record.host_certificate, &record.host_private_key)?;
        TlsStream::handshake(io, host_client_connection(config)?).await
    }

    #[cfg(test)]
    /// Device role for a service.
    pub(crate) async fn accept(
        io: DeviceStream,
        config: Arc<rustls::ServerConfig>,
    ) -> Result<TlsStream, LockdownError> {
        TlsStream::handshake(io, rustls::ServerConnection::new(config)?).await
    }

    /// Write out queued TLS bytes; Ready(Ok) once all are written.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.pending)?;
        }
        while !self.pending.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

/// The most plaintext one TLS record carries.
const MAX_PLAINTEXT: usize = 16 * 1024;

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            // At most one record's plaintext at a time: `initialize_unfilled` would zero all of
            // a caller's free space (4 MiB for an AFC read) on every call, one call per record.
            let want = buf.remaining().min(MAX_PLAINTEXT);
            match this.conn.reader().read(buf.initialize_unfilled_to(want)) {
                Ok(n) => {
                    // n == 0: the peer sent close_notify, a clean end of stream.
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            if this.io_eof {
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
            // Requests written but not yet sent must go out before we wait for answers.
            if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
                return Poll::Ready(Err(e));
            }
            let mut raw = [0u8; 16 * 1024];
            let mut raw_buf = ReadBuf::new(&mut raw);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut raw_buf))?;
            let filled = raw_buf.filled();
            if filled.is_empty() {
                this.io_eof = true;
                continue;
            }
            let mut slice = filled;
            while !slice.is_empty() {
                if this.conn.read_tls(&mut slice)? == 0 {
                    return Poll::Ready(Err(io::Error::other("TLS layer refused input")));
                }
                this.conn.process_new_packets().map_err(io::Error::other)?;
            }
        }
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        // Bound buffering: earlier data must be on its way before more is accepted.
        ready!(this.poll_drain(cx))?;
        let n = this.conn.writer().write(buf)?;
        // Start sending now; whatever is left goes out on the next write, flush or read.
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.conn.send_close_notify();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lockdown::certs::{generate_rsa_key, generate_with_keys, public_key_pkcs1_pem};
    use crate::lockdown::records::PairRecord;
    use crate::lockdown::tls::device_server_config;
    use rsa::pkcs8::EncodePrivateKey;
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn service_tls_carries_large_transfers_both_ways() {
        let (root, host, device) = (
            generate_rsa_key(2048).unwrap(),
            generate_rsa_key(2048).unwrap(),
            generate_rsa_key(2048).unwrap(),
        );
        let pem = public_key_pkcs1_pem(&device.to_public_key()).unwrap();
        let certs = generate_with_keys(pem.as_bytes(), &root, &host).unwrap();
        let record = PairRecord::new(certs.clone(), "H".into(), "B".into(), None);
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            device.to_pkcs8_der().unwrap().as_bytes().to_vec(),
        ));
        let server_config = device_server_config(&certs.device_certificate, key, vec![]).unwrap();

        let (a, b) = tokio::io::duplex(4096);
        let phone = tokio::spawn(async move {
            let mut s = TlsStream::accept(Box::new(b), server_config).await.unwrap();
            // Echo service: read a request of known size, answer it reversed, twice.
            for _ in 0..2 {
                let mut req = vec![0u8; 300_000];
                s.read_exact(&mut req).await.unwrap();
                req.reverse();
                s.write_all(&req).await.unwrap();
                s.flush().await.unwrap();
            }
            s.shutdown().await.unwrap();
        });
        let mut s = TlsStream::connect_service(Box::new(a), &record)
            .await
            .unwrap();
        for round in 0..2u8 {
            let data: Vec<u8> = (0..300_000u32)
                .map(|i| (i as u8).wrapping_mul(7).wrapping_add(round))
                .collect();
            s.write_all(&data).await.unwrap();
            s.flush().await.unwrap();
            let mut back = vec![0u8; data.len()];
            s.read_exact(&mut back).await.unwrap();
            back.reverse();
            assert_eq!(back, data);
        }
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "clean close_notify end");
        phone.await.unwrap();
    }
}
