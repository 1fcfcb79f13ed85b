//! Host role: a lockdown client over one `DeviceStream` (a thin tokio driver around `Channel`),
//! and the pairing / session / unpairing flows the CLI uses.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use plist::{Dictionary, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::channel::Channel;
use super::error::{DeviceError, LockdownError};
use super::messages;
use super::records::{PairRecord, PairRecordStores};
use super::tls;
use crate::usbmux::DeviceStream;
use crate::usbmux::deadline::sleep_until;
use crate::usbmux::sans_io::SansIo;

/// `Label` we send with every request.
pub(crate) const LABEL: &str = "iphone-import";

/// What to tell the user while the phone shows its Trust alert.
pub(crate) const TRUST_PROMPT: &str =
    "Unlock your iPhone and tap Trust on the 'Trust This Computer?' alert";

/// How long to wait for Trust by default.
pub(crate) const DEFAULT_PAIRING_TIMEOUT: Duration = Duration::from_secs(120);

/// Knobs of the pairing flow.
#[derive(Debug, Clone)]
pub struct PairingOptions {
    /// Give up when nobody tapped Trust within this time.
    pub timeout: Duration,
    /// Resend Pair this often while the alert is up (real clients: once a second).
    pub poll_interval: Duration,
    /// Sent as HostName (the phone may show it); `None` leaves it out.
    pub host_name: Option<String>,
    /// HostID for the new record; `None` = stable per computer (`host_id_for_this_computer`).
    pub host_id: Option<String>,
}

impl Default for PairingOptions {
    fn default() -> Self {
        PairingOptions {
            timeout: DEFAULT_PAIRING_TIMEOUT,
            poll_interval: Duration::from_secs(1),
            host_name: None,
            host_id: None,
        }
    }
}

/// What happens while pairing, for the caller to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingProgress {
    /// The Trust alert is up (`polls` = how many times the phone said so). Show `TRUST_PROMPT`
    /// when `polls == 1`.
    WaitingForTrust { polls: u32 },
    /// The phone is paired but has not been unlocked since it restarted (`polls` = how many
    /// times it said PasswordProtected). Show `UNLOCK_PROMPT` when `polls == 1`.
    WaitingForUnlock { polls: u32 },
}

/// Where a started service listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceEndpoint {
    pub port: u16,
    /// The service expects TLS on its connection (EnableServiceSSL).
    pub ssl: bool,
}

/// A lockdown connection, host side.
pub struct LockdownClient {
    stream: DeviceStream,
    channel: Channel,
    pub(super) label: String,
    session_id: Option<String>,
    /// TLS 1.3 lets the phone reject our certificate only after our side of the handshake is
    /// done; the first answer inside the session confirms it was accepted.
    session_unconfirmed: bool,
    read_buf: Vec<u8>,
    /// Set once a reply never came: the connection is out of step, every later request fails.
    stalled: Option<(String, u64)>,
}

impl LockdownClient {
    pub fn new(stream: DeviceStream) -> LockdownClient {
        LockdownClient::with_label(stream, LABEL)
    }

    pub(crate) fn with_label(stream: DeviceStream, label: &str) -> LockdownClient {
        LockdownClient {
            stream,
            channel: Channel::new(),
            label: label.to_string(),
            session_id: None,
            session_unconfirmed: false,
            read_buf: vec![0; 16 * 1024],
            stalled: None,
        }
    }

    /// How long the phone may stay silent while we wait for a reply (`--io-timeout`).
    pub fn set_io_timeout(&mut self, limit: Duration) {
        self.channel.set_reply_timeout(limit);
    }

    /// Is a session (and with it TLS) active?
    pub fn in_session(&self) -> bool {
        self.session_id.is_some()
    }

    /// Is the socket currently inside TLS?
    pub fn is_tls(&self) -> bool {
        self.channel.is_tls()
    }

    /// The TLS version of the running session, if one is running.
    pub fn tls_version(&self) -> Option<rustls::ProtocolVersion> {
        self.channel.protocol_version()
    }

    async fn flush(&mut self) -> Result<(), LockdownError> {
        if let Some(out) = self.channel.poll_transmit() {
            self.stream.write_all(&out).await?;
            self.stream.flush().await?;
        }
        Ok(())
    }

    /// Read once, or fail with `Stalled` when the channel's deadline passes first.
    async fn read_some(&mut self) -> Result<(), LockdownError> {
        let n = tokio::select! {
            n = self.stream.read(&mut self.read_buf) => n?,
            _ = sleep_until(self.channel.poll_timeout()) => {
                let stalled = self.channel.handle_timeout(Instant::now());
                if let Err(LockdownError::Stalled { waiting_for, secs }) = &stalled {
                    self.stalled = Some((waiting_for.clone(), *secs));
                }
                return stalled;
            }
        };
        if n == 0 {
            return Err(LockdownError::Closed);
        }
        let was_tls = self.channel.is_tls();
        let result = self
            .channel
            .handle_input(Instant::now(), Bytes::copy_from_slice(&self.read_buf[..n]));
        // Alerts and close_notify answers go out even when the input was bad.
        let flushed = self.flush().await;
        if was_tls && !self.channel.is_tls() && result.is_ok() {
            // The phone ended TLS. Our close_notify answer is a courtesy: a phone that hung up
            // right after its own must not cost the reply that came with it.
            if let Err(e) = flushed {
                tracing::debug!("lockdown: close_notify answer not delivered: {e}");
            }
            return Ok(());
        }
        flushed?;
        result
    }

    async fn recv(&mut self) -> Result<Dictionary, LockdownError> {
        loop {
            if let Some(m) = self.channel.poll_event().transpose()? {
                self.channel.reply_done();
                return Ok(m);
            }
            self.read_some().await?;
        }
    }

    /// Send a request and return its checked reply.
    pub async fn request(&mut self, message: Dictionary) -> Result<Dictionary, LockdownError> {
        let name = message
            .get("Request")
            .and_then(Value::as_string)
            .unwrap_or("?")
            .to_string();
        if let Some((waiting_for, secs)) = &self.stalled {
            return Err(LockdownError::Stalled {
                waiting_for: waiting_for.clone(),
                secs: *secs,
            });
        }
        let exchange = async {
            self.channel.send(&message)?;
            self.channel.expect_reply(Instant::now(), &name);
            self.flush().await?;
            self.recv().await
        };
        let reply = match exchange.await {
            Ok(reply) => reply,
            Err(e @ (LockdownError::Tls(_) | LockdownError::Closed | LockdownError::Io(_)))
                if self.session_unconfirmed =>
            {
                self.session_unconfirmed = false;
                let e = match e {
                    LockdownError::Tls(_) => e,
                    _ => self.pending_tls_error().await.unwrap_or(e),
                };
                return Err(session_tls_failure(e));
            }
            Err(e) => return Err(e),
        };
        self.session_unconfirmed = false;
        messages::check_reply(reply, &name)
    }

    /// After our write or read failed on a session TLS 1.3 has just started: a phone that refuses
    /// our certificate sends an alert and hangs up, and our next write can hit the closed socket
    /// before we read the alert. Read what it left (briefly, a bounded number of times) so the
    /// error says why; None when nothing explains it.
    async fn pending_tls_error(&mut self) -> Option<LockdownError> {
        const LEFTOVER_READS: usize = 4;
        for _ in 0..LEFTOVER_READS {
            let read = self.stream.read(&mut self.read_buf);
            let n = match tokio::time::timeout(Duration::from_secs(1), read).await {
                Ok(Ok(n)) if n > 0 => n,
                _ => return None,
            };
            if let Err(e) = self
                .channel
                .handle_input(Instant::now(), Bytes::copy_from_slice(&self.read_buf[..n]))
            {
                return Some(e);
            }
        }
        None
    }

    /// QueryType: "com.apple.mobile.lockdown" from a normal phone.
    pub async fn query_type(&mut self) -> Result<String, LockdownError> {
        let reply = self.request(messages::query_type(&self.label)).await?;
        messages::reply_string(&reply, "QueryType", "Type")
    }

    /// GetValue of one key, or (key `None`) the whole dictionary of the domain.
    pub async fn get_value(
        &mut self,
        domain: Option<&str>,
        key: Option<&str>,
    ) -> Result<Value, LockdownError> {
        let mut reply = self
            .request(messages::get_value(&self.label, domain, key))
            .await?;
        reply
            .remove("Value")
            .ok_or_else(|| LockdownError::Protocol {
                request: "GetValue".into(),
                detail: "no Value in the reply".into(),
            })
    }

    /// All values of the global domain (inside a session for the full set).
    pub async fn info(&mut self) -> Result<Dictionary, LockdownError> {
        match self.get_value(None, None).await? {
            Value::Dictionary(d) => Ok(d),
            _ => Err(LockdownError::Protocol {
                request: "GetValue".into(),
                detail: "Value is not a dictionary".into(),
            }),
        }
    }

    /// StartSession with a stored record, then TLS on this socket, presenting the host certificate.
    pub async fn start_session(&mut self, record: &PairRecord) -> Result<(), LockdownError> {
        let reply = match self
            .request(messages::start_session(
                &self.label,
                &record.host_id,
                &record.system_buid,
            ))
            .await
        {
            Ok(r) => r,
            Err(LockdownError::Device {
                error: DeviceError::InvalidHostID,
                ..
            }) => {
                return Err(LockdownError::PairingNotAccepted {
                    detail: "it answered InvalidHostID".into(),
                });
            }
            Err(e) => return Err(map_common(e)),
        };
        let session_id = messages::reply_string(&reply, "StartSession", "SessionID")?;
        if reply.get("EnableSessionSSL").and_then(Value::as_boolean) == Some(true) {
            let config =
                tls::host_client_config(&record.host_certificate, &record.host_private_key)?;
            let conn = tls::host_client_connection(config)?;
            self.handshake(conn).await.map_err(session_tls_failure)?;
            self.session_unconfirmed = true;
        }
        self.session_id = Some(session_id);
        Ok(())
    }

    async fn handshake(&mut self, conn: rustls::ClientConnection) -> Result<(), LockdownError> {
        self.channel.start_tls(conn)?;
        self.channel
            .expect_reply(Instant::now(), "the TLS handshake");
        self.flush().await?;
        while self.channel.is_handshaking() {
            self.read_some().await?;
        }
        self.channel.reply_done();
        Ok(())
    }

    /// StartService inside the session: where to connect for the named service.
    pub async fn start_service(
        &mut self,
        name: &str,
        escrow_bag: Option<&[u8]>,
    ) -> Result<ServiceEndpoint, LockdownError> {
        if self.session_id.is_none() {
            return Err(LockdownError::NoSession);
        }
        let reply = self
            .request(messages::start_service(&self.label, name, escrow_bag))
            .await
            .map_err(map_common)?;
        let port = reply
            .get("Port")
            .and_then(Value::as_unsigned_integer)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
            .ok_or_else(|| LockdownError::Protocol {
                request: "StartService".into(),
                detail: "no valid Port in the reply".into(),
            })?;
        let ssl = reply
            .get("EnableServiceSSL")
            .and_then(Value::as_boolean)
            .unwrap_or(false);
        Ok(ServiceEndpoint { port, ssl })
    }

    /// StopSession, then close_notify both ways: the socket is plaintext again afterwards
    /// (or closed, if the phone hung up instead, which is fine).
    pub async fn stop_session(&mut self) -> Result<(), LockdownError> {
        let Some(session_id) = self.session_id.take() else {
            return Err(LockdownError::NoSession);
        };
        self.request(messages::stop_session(&self.label, &session_id))
            .await?;
        if self.channel.is_tls() {
            self.channel.close_tls()?;
            self.channel
                .expect_reply(Instant::now(), "the end of the TLS session");
            self.flush().await?;
            while self.channel.is_tls() {
                match self.read_some().await {
                    Ok(()) => {}
                    Err(LockdownError::Closed) => break,
                    Err(LockdownError::Io(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                        ) =>
                    {
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            self.channel.reply_done();
        }
        Ok(())
    }

    /// Unpair: ask the phone to forget this computer's record (works without a session).
    pub async fn unpair(&mut self, record: &PairRecord) -> Result<(), LockdownError> {
        let mut rec = record.to_pair_request_dictionary();
        if let Some(bag) = &record.escrow_bag {
            rec.insert("EscrowBag".into(), Value::Data(bag.clone()));
        }
        if let Some(mac) = &record.wifi_mac_address {
            rec.insert("WiFiMACAddress".into(), mac.clone().into());
        }
        self.request(messages::unpair(&self.label, rec))
            .await
            .map_err(map_common)?;
        Ok(())
    }
}

/// A failure while TLS starts (handshake, or TLS 1.3's first answer, which is when the phone
/// may refuse our certificate), told apart by what the phone said: a certificate alert means
/// it refused this computer's pairing (pair again); a version or cipher alert means no TLS in
/// common; a stall stays a stall; a reset, an end of stream or any other error is a broken
/// connection (try again; pairing again would not help).
fn session_tls_failure(e: LockdownError) -> LockdownError {
    use rustls::AlertDescription as Alert;
    match e {
        // A phone gone silent is a stall, with its own advice.
        e @ LockdownError::Stalled { .. } => e,
        LockdownError::Tls(rustls::Error::AlertReceived(
            alert @ (Alert::BadCertificate
            | Alert::UnsupportedCertificate
            | Alert::CertificateRevoked
            | Alert::CertificateExpired
            | Alert::CertificateUnknown
            | Alert::UnknownCA
            | Alert::AccessDenied
            | Alert::CertificateRequired),
        )) => LockdownError::PairingNotAccepted {
            detail: format!("it refused this computer's certificate: TLS alert {alert:?}"),
        },
        LockdownError::Tls(
            e @ (rustls::Error::AlertReceived(
                Alert::ProtocolVersion | Alert::HandshakeFailure | Alert::InsufficientSecurity,
            )
            | rustls::Error::PeerIncompatible(_)),
        ) => LockdownError::TlsIncompatible {
            detail: e.to_string(),
        },
        LockdownError::Closed => LockdownError::SessionTlsBroken {
            detail: "the iPhone closed the connection".into(),
        },
        e => LockdownError::SessionTlsBroken {
            detail: e.to_string(),
        },
    }
}

/// Refusals every request can meet, turned into their actionable errors.
pub(super) fn map_common(e: LockdownError) -> LockdownError {
    match e {
        LockdownError::Device {
            error: DeviceError::PasswordProtected,
            ..
        } => LockdownError::PasswordProtected,
        e => e,
    }
}

/// Find this computer's record for the phone and start a TLS session with it.
pub async fn start_paired_session(
    client: &mut LockdownClient,
    stores: &PairRecordStores,
    udid: &str,
) -> Result<PairRecord, LockdownError> {
    let record = find_record(stores, udid).await?;
    client.start_session(&record).await?;
    Ok(record)
}

pub(super) async fn find_record(
    stores: &PairRecordStores,
    udid: &str,
) -> Result<PairRecord, LockdownError> {
    let Some((record, origin)) = stores.find(udid).await? else {
        return Err(LockdownError::NotPaired {
            udid: udid.to_string(),
        });
    };
    tracing::debug!("using the pair record from {origin:?}");
    Ok(record)
}

/// Ask the phone to forget this computer, then delete our copies of the record.
/// A phone that already forgot us (InvalidHostID) is not an error: the record goes anyway.
pub async fn unpair_device(
    client: &mut LockdownClient,
    stores: &PairRecordStores,
    udid: &str,
) -> Result<(), LockdownError> {
    let Some((record, _)) = stores.find(udid).await? else {
        return Err(LockdownError::NotPaired {
            udid: udid.to_string(),
        });
    };
    match client.unpair(&record).await {
        Ok(())
        | Err(LockdownError::Device {
            error: DeviceError::InvalidHostID,
            ..
        }) => {}
        Err(e) => return Err(e),
    }
    stores.delete(udid).await?;
    Ok(())
}

/// Start a service the way ifuse does: session, StartService, StopSession (the service
/// connection itself needs no lockdown session). The lockdown socket stays usable.
pub async fn start_service_once(
    client: &mut LockdownClient,
    record: &PairRecord,
    service: &str,
) -> Result<ServiceEndpoint, LockdownError> {
    if !client.in_session() {
        client.start_session(record).await?;
    }
    let endpoint = client.start_service(service, None).await;
    let stopped = client.stop_session().await;
    let endpoint = endpoint?;
    stopped?;
    Ok(endpoint)
}
