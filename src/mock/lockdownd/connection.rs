//! One host connection to the simulated lockdownd: the read/answer loop over the shared `Channel`,
//! the plaintext ⇄ TLS switch when a session starts, stalls and TLS faults, and recording which
//! certificate the host presented.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use plist::Value;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::lockdown::channel::Channel;
use crate::lockdown::tls::cert_der_from_pem;
use crate::mock::session_tls::{Burst, SessionTls, TlsOffer, tls10_server_hello};
use crate::mock::stall::{Stall, drain};
use crate::usbmux::DeviceStream;
use crate::usbmux::sans_io::SansIo;

use super::Lockdownd;
use super::state::{Connection, PresentedCertificate};

impl Lockdownd {
    /// Serve one host connection to the end.
    pub async fn serve(self: Arc<Self>, mut stream: DeviceStream) {
        let tls = self.session_tls();
        let mut channel = Channel::new();
        let mut conn = Connection::default();
        let mut burst = Burst::default();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let step = self.process(&mut channel, &mut conn, tls);
            let replied = matches!(step, Ok(n) if n > 0);
            let out = channel.poll_transmit().unwrap_or_default();
            let out = burst.outgoing(tls.coalesce, &channel, out, replied);
            if !out.is_empty()
                && (stream.write_all(&out).await.is_err() || stream.flush().await.is_err())
            {
                // EPIPE/ECONNRESET after StopSession is normal: hosts often close at once.
                return;
            }
            if let Err(e) = step {
                tracing::debug!("lockdownd: closing connection: {e}");
                return;
            }
            if conn.close_after_reply {
                return;
            }
            if conn.silent {
                return drain(&mut stream).await;
            }
            let was_handshaking = channel.is_handshaking();
            let n = match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if was_handshaking && (tls.reset_in_handshake || tls.offer == TlsOffer::Tls10) {
                // The ClientHello: hang up, or answer as a TLS 1.0-only phone and wait for
                // the host to give up.
                if !tls.reset_in_handshake {
                    let _ = stream.write_all(&tls10_server_hello()).await;
                    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                }
                return;
            }
            if let Err(e) = channel.handle_input(Instant::now(), Bytes::copy_from_slice(&buf[..n]))
            {
                tracing::debug!("lockdownd: TLS/framing error: {e}");
                let out = channel.poll_transmit().unwrap_or_default();
                let _ = stream.write_all(&out).await;
                return;
            }
            if was_handshaking && channel.is_tls() && !channel.is_handshaking() {
                self.session_established(&channel, &conn);
            }
        }
    }

    /// Answer every complete request; errors end the connection.
    /// Returns how many replies were queued. With `coalesce`, a session's end goes out at
    /// once: the StopSession reply and the phone's own close_notify (as iOS does).
    fn process(
        &self,
        channel: &mut Channel,
        conn: &mut Connection,
        tls: SessionTls,
    ) -> Result<usize, crate::lockdown::LockdownError> {
        let (coalesce, hang_up_after_stop) = (tls.coalesce, tls.hang_up_after_stop_session);
        let mut replies = 0;
        while !conn.close_after_reply
            && !conn.silent
            && let Some(request) = channel.poll_event().transpose()?
        {
            let name = request.get("Request").and_then(Value::as_string);
            if self
                .take_stall(|s| matches!(s, Stall::LockdownRequest(r) if Some(r.as_str()) == name))
            {
                conn.silent = true;
                break;
            }
            let raw = name.and_then(|name| self.raw_replies.lock().ok()?.get(name).cloned());
            if let Some(body) = raw {
                channel.send_raw_body(&body)?;
                replies += 1;
                continue;
            }
            let had_session = conn.session.is_some();
            let (reply, tls) = self.handle(conn, &request);
            channel.send(&reply)?;
            replies += 1;
            if let Some(config) = tls {
                channel.start_tls(rustls::ServerConnection::new(config)?)?;
                conn.silent = self.take_stall(|s| *s == Stall::TlsHandshake);
            }
            if had_session && conn.session.is_none() {
                if coalesce {
                    channel.close_tls()?;
                }
                conn.close_after_reply |= hang_up_after_stop;
            }
        }
        Ok(replies)
    }

    fn session_established(&self, channel: &Channel, conn: &Connection) {
        let presented = channel
            .peer_certificates()
            .and_then(|c| c.into_iter().next());
        let mut s = self.state.lock().expect("lockdownd state");
        s.sessions_started += 1;
        let record = conn
            .session
            .as_ref()
            .and_then(|sess| s.hosts.get(&sess.host_id))
            .cloned();
        s.last_presented = match (presented, record) {
            (Some(cert), Some(r)) => {
                if pem_is(&r.host_certificate, &cert) {
                    Some(PresentedCertificate::Host)
                } else if pem_is(&r.root_certificate, &cert) {
                    Some(PresentedCertificate::Root)
                } else {
                    None
                }
            }
            _ => None,
        };
    }
}

fn pem_is(pem: &[u8], der: &CertificateDer<'_>) -> bool {
    cert_der_from_pem(pem, "certificate").is_ok_and(|c| c.as_ref() == der.as_ref())
}
