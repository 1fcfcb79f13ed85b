//! One lockdown connection as a sans-I/O object: raw socket bytes in, raw socket bytes and
//! decoded messages out, in plaintext or inside TLS.
//!
//! Call order (`SansIo`): `send` a request and `expect_reply`; write what `poll_transmit`
//! returns; feed every socket read to `handle_input`, writing `poll_transmit` again after each
//! (TLS answers on its own: handshake, close_notify, alerts); take messages with `poll_event`
//! until `None`, then `reply_done`; while waiting, sleep until `poll_timeout()` and call
//! `handle_timeout(now)`. `start_tls`/`close_tls` switch the same socket in and out of TLS.
//!
//! Lockdown switches the *same* socket plaintext → TLS (right after StartSession's reply) →
//! plaintext (after StopSession and close_notify both ways). To make the way back exact, TLS
//! records are handed to rustls one at a time (we parse the 5-byte record header ourselves):
//! once the peer's close_notify has been fed, nothing after it ever reaches rustls, so the next
//! plaintext frame is still in our buffer.
//!
//! One socket read may hold many records: a phone commonly sends the StopSession reply, a TLS 1.3
//! session ticket and its close_notify in one write. Every record is fed in order, and messages
//! decrypted before the close_notify stay deliverable after TLS is off.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use plist::Dictionary;
use rustls::pki_types::CertificateDer;

use super::codec::{MAX_FRAME_LEN, decode_frame, encode_frame};
use super::error::{LockdownError, LockdownFrameError};
use crate::usbmux::deadline::ReplyDeadline;
use crate::usbmux::sans_io::SansIo;

/// TLS record header: type, version (2), length (2).
const RECORD_HEADER_LEN: usize = 5;
/// Largest record a peer may send: 2^14 plaintext + 2048 expansion (RFC 8446 §5.2, RFC 5246 §6.2.3).
const MAX_RECORD_BODY: usize = 16384 + 2048;

struct TlsLayer {
    conn: rustls::Connection,
    peer_closed: bool,
}

/// The state of one lockdown socket, whichever end we play.
pub(crate) struct Channel {
    /// Bytes from the socket not yet consumed (plaintext frames or TLS records).
    inbound: Vec<u8>,
    /// Bytes waiting to be written to the socket.
    outbound: Vec<u8>,
    /// Decrypted bytes not yet framed (TLS mode only).
    plain: Vec<u8>,
    /// Messages that arrived inside TLS but were still unread when the peer closed TLS; they
    /// come out of `poll_event` before anything that followed in plaintext.
    closed_session_messages: VecDeque<Dictionary>,
    tls: Option<TlsLayer>,
    max_frame: usize,
    /// What we wait for from the peer, and since when it has been silent.
    deadline: ReplyDeadline,
}

impl Default for Channel {
    fn default() -> Self {
        Self::new()
    }
}

impl Channel {
    pub(crate) fn new() -> Self {
        Channel {
            inbound: Vec::new(),
            outbound: Vec::new(),
            plain: Vec::new(),
            closed_session_messages: VecDeque::new(),
            tls: None,
            max_frame: MAX_FRAME_LEN,
            deadline: ReplyDeadline::default(),
        }
    }

    /// Queue one message (XML), encrypted when TLS is on.
    pub(crate) fn send(&mut self, message: &Dictionary) -> Result<(), LockdownError> {
        let frame = encode_frame(message)?;
        self.send_frame(&frame)
    }

    /// Queue a body that is already a plist, framed as is (the simulated phone's hostile-reply
    /// faults: bytes no encoder would write).
    #[cfg_attr(
        not(feature = "mock"),
        expect(
            dead_code,
            reason = "used by the simulated phone (feature mock) and unit tests"
        )
    )]
    pub(crate) fn send_raw_body(&mut self, body: &[u8]) -> Result<(), LockdownError> {
        let len = u32::try_from(body.len()).map_err(|_| LockdownFrameError::TooLong {
            len: body.len(),
            max: u32::MAX as usize,
        })?;
        let mut frame = len.to_be_bytes().to_vec();
        frame.extend_from_slice(body);
        self.send_frame(&frame)
    }

    fn send_frame(&mut self, frame: &[u8]) -> Result<(), LockdownError> {
        match &mut self.tls {
            Some(tls) => {
                // rustls buffers a bounded amount of plaintext: encrypt as we go.
                let mut rest = frame;
                while !rest.is_empty() {
                    let n = tls.conn.writer().write(rest)?;
                    Self::flush_tls(&mut tls.conn, &mut self.outbound)?;
                    if n == 0 {
                        return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
                    }
                    rest = &rest[n..];
                }
            }
            None => self.outbound.extend_from_slice(frame),
        }
        Ok(())
    }

    /// Switch to TLS. Bytes already received stay queued and are treated as TLS records.
    pub(crate) fn start_tls(
        &mut self,
        conn: impl Into<rustls::Connection>,
    ) -> Result<(), LockdownError> {
        debug_assert!(self.plain.is_empty());
        let mut conn = conn.into();
        Self::flush_tls(&mut conn, &mut self.outbound)?;
        self.tls = Some(TlsLayer {
            conn,
            peer_closed: false,
        });
        self.pump()
    }

    pub(crate) fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub(crate) fn is_handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.conn.is_handshaking())
    }

    /// Send our close_notify. TLS stays on until the peer's close_notify arrives; then the
    /// channel is plaintext again.
    pub(crate) fn close_tls(&mut self) -> Result<(), LockdownError> {
        if let Some(tls) = &mut self.tls {
            tls.conn.send_close_notify();
            Self::flush_tls(&mut tls.conn, &mut self.outbound)?;
        }
        Ok(())
    }

    /// The negotiated TLS version, while TLS is on.
    pub(crate) fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.tls.as_ref()?.conn.protocol_version()
    }

    /// The certificates the peer presented in the TLS handshake.
    #[cfg_attr(
        not(feature = "mock"),
        expect(
            dead_code,
            reason = "used by the simulated phone (feature mock) and unit tests"
        )
    )]
    pub(crate) fn peer_certificates(&self) -> Option<Vec<CertificateDer<'static>>> {
        let tls = self.tls.as_ref()?;
        tls.conn
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
    }

    /// Feed complete TLS records to rustls, one at a time, until the peer closes TLS.
    fn pump(&mut self) -> Result<(), LockdownError> {
        loop {
            let Some(tls) = &mut self.tls else {
                return Ok(());
            };
            if self.inbound.len() < RECORD_HEADER_LEN {
                return Ok(());
            }
            let body_len = u16::from_be_bytes([self.inbound[3], self.inbound[4]]) as usize;
            if body_len > MAX_RECORD_BODY {
                return Err(LockdownError::Protocol {
                    request: "TLS".into(),
                    detail: format!("TLS record of {body_len} bytes is larger than TLS allows"),
                });
            }
            let record_len = RECORD_HEADER_LEN + body_len;
            if self.inbound.len() < record_len {
                return Ok(());
            }
            let mut record = &self.inbound[..record_len];
            while !record.is_empty() {
                if tls.conn.read_tls(&mut record)? == 0 {
                    // rustls took nothing: never spin on a record it will not accept.
                    return Err(LockdownError::Protocol {
                        request: "TLS".into(),
                        detail: "the TLS layer refused more input".into(),
                    });
                }
            }
            self.inbound.drain(..record_len);
            let state = match tls.conn.process_new_packets() {
                Ok(state) => state,
                Err(e) => {
                    // Let the peer see our alert before we give up.
                    let _ = Self::flush_tls(&mut tls.conn, &mut self.outbound);
                    return Err(e.into());
                }
            };
            if state.plaintext_bytes_to_read() > 0 {
                let start = self.plain.len();
                self.plain
                    .resize(start + state.plaintext_bytes_to_read(), 0);
                tls.conn.reader().read_exact(&mut self.plain[start..])?;
            }
            Self::flush_tls(&mut tls.conn, &mut self.outbound)?;
            if state.peer_has_closed() {
                tls.peer_closed = true;
            }
            if tls.peer_closed {
                // Answer close_notify with close_notify (limd waits for it), then plaintext.
                tls.conn.send_close_notify();
                Self::flush_tls(&mut tls.conn, &mut self.outbound)?;
                self.tls = None;
                return self.keep_messages_of_closed_session();
            }
        }
    }

    /// Complete messages decrypted before the close_notify stay deliverable; only a message
    /// cut off by it is an error.
    fn keep_messages_of_closed_session(&mut self) -> Result<(), LockdownError> {
        while let Some(message) = decode_frame(&mut self.plain, self.max_frame)? {
            self.closed_session_messages.push_back(message);
        }
        if !self.plain.is_empty() {
            self.plain.clear();
            return Err(LockdownError::Protocol {
                request: "StopSession".into(),
                detail: "a partial message was cut off by close_notify".into(),
            });
        }
        Ok(())
    }

    fn flush_tls(conn: &mut rustls::Connection, out: &mut Vec<u8>) -> Result<(), LockdownError> {
        while conn.wants_write() {
            conn.write_tls(out)?;
        }
        Ok(())
    }
}

/// Deadlines: time is an input. The driver reports when it starts waiting (`expect_reply`) and
/// when the answer is complete (`reply_done`); bytes arriving through `handle_input` keep the
/// peer alive; `poll_timeout`/`handle_timeout` (in `SansIo`) turn silence into `Stalled`.
impl Channel {
    /// How long the peer may stay silent while a reply is outstanding.
    pub(crate) fn set_reply_timeout(&mut self, limit: Duration) {
        self.deadline.set_limit(limit);
    }

    /// Start waiting for the answer to `what` (a request name, or the TLS handshake).
    pub(crate) fn expect_reply(&mut self, now: Instant, what: &str) {
        self.deadline.expect(now, what);
    }

    /// The awaited answer is complete.
    pub(crate) fn reply_done(&mut self) {
        self.deadline.done();
    }

    /// The next complete message, if one has arrived.
    fn next_message(&mut self) -> Result<Option<Dictionary>, LockdownError> {
        if let Some(message) = self.closed_session_messages.pop_front() {
            return Ok(Some(message));
        }
        let buf = if self.tls.is_some() {
            &mut self.plain
        } else {
            &mut self.inbound
        };
        Ok(decode_frame(buf, self.max_frame)?)
    }
}

impl SansIo for Channel {
    /// Socket bytes to write, everything queued so far.
    type Transmit = Vec<u8>;
    /// A message from the peer, or why the next one cannot be read (fatal for the channel).
    type Event = Result<Dictionary, LockdownError>;
    type Error = LockdownError;

    /// Socket bytes from the peer (plaintext frames or TLS records, split anywhere), which also
    /// show the peer is alive.
    fn handle_input(&mut self, now: Instant, data: Bytes) -> Result<(), LockdownError> {
        self.deadline.heard(now);
        self.inbound.extend_from_slice(&data);
        self.pump()
    }

    fn has_transmit(&self) -> bool {
        !self.outbound.is_empty()
    }

    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.outbound.is_empty()).then(|| std::mem::take(&mut self.outbound))
    }

    fn poll_event(&mut self) -> Option<Result<Dictionary, LockdownError>> {
        self.next_message().transpose()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline.poll_timeout()
    }

    /// `Err(Stalled)` once the peer has been silent for the whole timeout.
    fn handle_timeout(&mut self, now: Instant) -> Result<(), LockdownError> {
        match self.deadline.handle_timeout(now) {
            Some(stall) => Err(LockdownError::Stalled {
                waiting_for: stall.waiting_for,
                secs: stall.after.as_secs(),
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lockdown::certs::{generate_rsa_key, generate_with_keys, public_key_pkcs1_pem};
    use crate::lockdown::tls::{
        cert_der_from_pem, device_server_config_with_versions, host_client_config,
        host_client_connection,
    };
    use rsa::pkcs8::EncodePrivateKey;
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    fn msg(request: &str) -> Dictionary {
        let mut d = Dictionary::new();
        d.insert("Request".into(), request.into());
        d
    }

    /// Move everything `from` wants to send into `to`, `chunk` bytes per receive call.
    fn transfer(from: &mut Channel, to: &mut Channel, chunk: usize) {
        let bytes = from.poll_transmit().unwrap_or_default();
        for piece in bytes.chunks(chunk.max(1)) {
            to.handle_input(Instant::now(), Bytes::copy_from_slice(piece))
                .unwrap();
        }
    }

    type Configs = (
        std::sync::Arc<rustls::ClientConfig>,
        std::sync::Arc<rustls::ServerConfig>,
    );

    /// Host client and phone server configs from one generated pairing.
    fn tls_configs(versions: &[&'static rustls::SupportedProtocolVersion]) -> Configs {
        let root = generate_rsa_key(2048).unwrap();
        let host = generate_rsa_key(2048).unwrap();
        let device = generate_rsa_key(2048).unwrap();
        let device_pem = public_key_pkcs1_pem(&device.to_public_key()).unwrap();
        let certs = generate_with_keys(device_pem.as_bytes(), &root, &host).unwrap();
        let client = host_client_config(&certs.host_certificate, &certs.host_private_key).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            device.to_pkcs8_der().unwrap().as_bytes().to_vec(),
        ));
        let allowed = vec![cert_der_from_pem(&certs.host_certificate, "host").unwrap()];
        let server =
            device_server_config_with_versions(&certs.device_certificate, key, allowed, versions)
                .unwrap();
        (client, server)
    }

    /// plaintext → TLS → plaintext on one byte stream, fed in awkward pieces, with the first
    /// plaintext request glued to the close_notify in the same read.
    #[test]
    fn plaintext_tls_plaintext_switch_is_exact() {
        let tls13 = tls_configs(rustls::DEFAULT_VERSIONS);
        let tls12 = tls_configs(&[&rustls::version::TLS12]);
        let runs = [
            (&tls13, rustls::ProtocolVersion::TLSv1_3),
            (&tls12, rustls::ProtocolVersion::TLSv1_2),
        ];
        for ((client_config, server_config), version) in runs {
            for chunk in [1, 7, 4096] {
                switch_round_trip(client_config, server_config, version, chunk);
            }
        }
    }

    fn switch_round_trip(
        client_config: &std::sync::Arc<rustls::ClientConfig>,
        server_config: &std::sync::Arc<rustls::ServerConfig>,
        version: rustls::ProtocolVersion,
        chunk: usize,
    ) {
        let (mut host, mut phone) = (Channel::new(), Channel::new());
        host.send(&msg("StartSession")).unwrap();
        transfer(&mut host, &mut phone, chunk);
        assert_eq!(
            phone.poll_event().transpose().unwrap(),
            Some(msg("StartSession"))
        );
        phone.send(&msg("StartSession")).unwrap();
        // The phone switches right after queuing its plaintext reply.
        phone
            .start_tls(rustls::ServerConnection::new(server_config.clone()).unwrap())
            .unwrap();
        transfer(&mut phone, &mut host, chunk);
        assert_eq!(
            host.poll_event().transpose().unwrap(),
            Some(msg("StartSession"))
        );
        host.start_tls(host_client_connection(client_config.clone()).unwrap())
            .unwrap();
        while host.is_handshaking()
            || phone.is_handshaking()
            || host.has_transmit()
            || phone.has_transmit()
        {
            transfer(&mut host, &mut phone, chunk);
            transfer(&mut phone, &mut host, chunk);
        }
        assert!(host.is_tls() && phone.is_tls());
        assert_eq!(host.protocol_version(), Some(version));
        assert!(phone.peer_certificates().is_some_and(|c| c.len() == 1));

        host.send(&msg("GetValue")).unwrap();
        transfer(&mut host, &mut phone, chunk);
        assert_eq!(
            phone.poll_event().transpose().unwrap(),
            Some(msg("GetValue"))
        );
        phone.send(&msg("StopSession")).unwrap();
        transfer(&mut phone, &mut host, chunk);
        assert_eq!(
            host.poll_event().transpose().unwrap(),
            Some(msg("StopSession"))
        );

        // close_notify and a plaintext request in one write.
        host.close_tls().unwrap();
        let mut glued = host.poll_transmit().unwrap_or_default();
        glued.extend(encode_frame(&msg("QueryType")).unwrap());
        if chunk == 4096 {
            phone
                .handle_input(Instant::now(), Bytes::copy_from_slice(&glued))
                .unwrap();
        } else {
            for piece in glued.chunks(chunk) {
                phone
                    .handle_input(Instant::now(), Bytes::copy_from_slice(piece))
                    .unwrap();
            }
        }
        assert!(!phone.is_tls(), "phone back to plaintext");
        assert_eq!(
            phone.poll_event().transpose().unwrap(),
            Some(msg("QueryType"))
        );
        // The phone answered with its own close_notify, then a plaintext reply.
        phone.send(&msg("QueryType")).unwrap();
        transfer(&mut phone, &mut host, chunk);
        assert!(!host.is_tls(), "host back to plaintext");
        assert_eq!(
            host.poll_event().transpose().unwrap(),
            Some(msg("QueryType"))
        );
    }

    /// Handshake host and phone; returns them and what the phone queued once its side was done
    /// (TLS 1.3 session tickets), withheld so a test can coalesce it with later records.
    fn handshake_withholding_tickets(
        (client_config, server_config): &Configs,
    ) -> (Channel, Channel, Vec<u8>) {
        let (mut host, mut phone) = (Channel::new(), Channel::new());
        phone
            .start_tls(rustls::ServerConnection::new(server_config.clone()).unwrap())
            .unwrap();
        host.start_tls(host_client_connection(client_config.clone()).unwrap())
            .unwrap();
        loop {
            transfer(&mut host, &mut phone, 4096);
            if !phone.is_handshaking() {
                break;
            }
            transfer(&mut phone, &mut host, 4096);
        }
        if host.is_handshaking() {
            // TLS 1.2: the phone's Finished is its last handshake flight.
            transfer(&mut phone, &mut host, 4096);
        }
        assert!(!host.is_handshaking() && host.is_tls() && phone.is_tls());
        let withheld = phone.poll_transmit().unwrap_or_default();
        (host, phone, withheld)
    }

    /// A real phone writes the StopSession reply, a session ticket and its close_notify at once;
    /// the host must deliver the reply, answer close_notify and be plaintext again.
    #[test]
    fn reply_ticket_and_close_notify_in_one_read_reach_the_host() {
        for (versions, version) in [
            (
                &[&rustls::version::TLS13][..],
                rustls::ProtocolVersion::TLSv1_3,
            ),
            (
                &[&rustls::version::TLS12][..],
                rustls::ProtocolVersion::TLSv1_2,
            ),
        ] {
            let configs = tls_configs(versions);
            let (mut host, mut phone, tickets) = handshake_withholding_tickets(&configs);
            assert_eq!(host.protocol_version(), Some(version));
            if version == rustls::ProtocolVersion::TLSv1_3 {
                assert!(!tickets.is_empty(), "TLS 1.3 phone sends session tickets");
            }
            host.send(&msg("StopSession")).unwrap();
            transfer(&mut host, &mut phone, 4096);
            assert_eq!(
                phone.poll_event().transpose().unwrap(),
                Some(msg("StopSession"))
            );
            phone.send(&msg("StopSession")).unwrap();
            phone.close_tls().unwrap();
            let mut one_write = tickets;
            one_write.extend(phone.poll_transmit().unwrap_or_default());
            host.handle_input(Instant::now(), Bytes::copy_from_slice(&one_write))
                .unwrap_or_else(|e| panic!("{version:?}: {e}"));
            assert!(!host.is_tls(), "{version:?}: host back to plaintext");
            assert_eq!(
                host.poll_event().transpose().unwrap(),
                Some(msg("StopSession"))
            );
            assert_eq!(host.poll_event().transpose().unwrap(), None);
            // The host's close_notify answer and a plaintext request reach the phone.
            host.send(&msg("QueryType")).unwrap();
            transfer(&mut host, &mut phone, 4096);
            assert!(!phone.is_tls(), "{version:?}: phone back to plaintext");
            assert_eq!(
                phone.poll_event().transpose().unwrap(),
                Some(msg("QueryType"))
            );
        }
    }

    /// The phone role takes a last request and the host's close_notify from one read, too.
    #[test]
    fn request_and_close_notify_in_one_read_reach_the_phone() {
        for versions in [
            &[&rustls::version::TLS13][..],
            &[&rustls::version::TLS12][..],
        ] {
            let configs = tls_configs(versions);
            let (mut host, mut phone, tickets) = handshake_withholding_tickets(&configs);
            host.handle_input(Instant::now(), Bytes::copy_from_slice(&tickets))
                .unwrap();
            host.send(&msg("GetValue")).unwrap();
            host.send(&msg("StopSession")).unwrap();
            host.close_tls().unwrap();
            phone
                .handle_input(
                    Instant::now(),
                    Bytes::copy_from_slice(&host.poll_transmit().unwrap_or_default()),
                )
                .unwrap();
            assert!(!phone.is_tls());
            assert_eq!(
                phone.poll_event().transpose().unwrap(),
                Some(msg("GetValue"))
            );
            assert_eq!(
                phone.poll_event().transpose().unwrap(),
                Some(msg("StopSession"))
            );
            assert_eq!(phone.poll_event().transpose().unwrap(), None);
            transfer(&mut phone, &mut host, 4096);
            assert!(!host.is_tls());
        }
    }

    /// A message really cut off by close_notify is still an error.
    #[test]
    fn message_cut_off_by_close_notify_is_an_error() {
        let configs = tls_configs(rustls::DEFAULT_VERSIONS);
        let (mut host, mut phone, tickets) = handshake_withholding_tickets(&configs);
        host.handle_input(Instant::now(), Bytes::copy_from_slice(&tickets))
            .unwrap();
        let frame = encode_frame(&msg("StopSession")).unwrap();
        let tls = phone.tls.as_mut().unwrap();
        tls.conn
            .writer()
            .write_all(&frame[..frame.len() - 3])
            .unwrap();
        Channel::flush_tls(&mut tls.conn, &mut phone.outbound).unwrap();
        phone.close_tls().unwrap();
        let err = host
            .handle_input(
                Instant::now(),
                Bytes::copy_from_slice(&phone.poll_transmit().unwrap_or_default()),
            )
            .unwrap_err();
        assert!(err.to_string().contains("cut off by close_notify"), "{err}");
        assert_eq!(host.poll_event().transpose().unwrap(), None);
    }

    /// Random bytes in either mode give errors, never panics or hangs.
    #[test]
    fn random_input_never_panics() {
        use rand::{Rng, SeedableRng};
        let (client_config, _) = tls_configs(rustls::DEFAULT_VERSIONS);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for round in 0..400 {
            let mut ch = Channel::new();
            if round % 2 == 1 {
                ch.start_tls(host_client_connection(client_config.clone()).unwrap())
                    .unwrap();
            }
            let len = rng.gen_range(0..600);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
            // Often make it look like a plausible header so the parsers get past the first check.
            if round % 4 < 2 && bytes.len() > 5 {
                bytes[0] = if round % 2 == 1 { 0x16 } else { 0 };
                bytes[1..3].copy_from_slice(&[3, 3]);
            }
            let _ = ch.handle_input(Instant::now(), Bytes::copy_from_slice(&bytes));
            while let Ok(Some(_)) = ch.poll_event().transpose() {}
        }
    }

    #[test]
    fn oversized_tls_record_is_an_error_not_an_allocation() {
        let (client_config, _) = tls_configs(rustls::DEFAULT_VERSIONS);
        let mut host = Channel::new();
        host.start_tls(host_client_connection(client_config).unwrap())
            .unwrap();
        let err = host
            .handle_input(
                Instant::now(),
                Bytes::copy_from_slice(&[0x17, 0x03, 0x03, 0xff, 0xff]),
            )
            .unwrap_err();
        assert!(matches!(err, LockdownError::Protocol { .. }), "{err:?}");
    }

    #[test]
    fn an_unanswered_request_stalls_after_the_timeout_and_bytes_postpone_it() {
        let t0 = std::time::Instant::now();
        let sec = Duration::from_secs(1);
        let mut host = Channel::new();
        host.set_reply_timeout(2 * sec);
        assert_eq!(host.poll_timeout(), None);
        host.send(&msg("GetValue")).unwrap();
        host.expect_reply(t0, "GetValue");
        assert_eq!(host.poll_timeout(), Some(t0 + 2 * sec));
        // Half a reply arrives at 1 s: the phone is alive, the deadline moves.
        let frame = encode_frame(&msg("GetValue")).unwrap();
        host.handle_input(t0 + sec, Bytes::copy_from_slice(&frame[..3]))
            .unwrap();
        host.handle_timeout(t0 + 2 * sec).unwrap();
        let err = host.handle_timeout(t0 + 3 * sec).unwrap_err();
        assert!(
            matches!(&err, LockdownError::Stalled { waiting_for, secs: 2 } if waiting_for == "GetValue"),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("stopped answering GetValue for 2 s"),
            "{err}"
        );
        host.expect_reply(t0, "QueryType");
        host.reply_done();
        assert_eq!(
            host.poll_timeout(),
            None,
            "a complete reply clears the deadline"
        );
    }
}
