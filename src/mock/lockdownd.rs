//! A simulated lockdownd (device role of `crate::lockdown`), listening on port 62078 of a
//! `SimulatedPhone`. Built on the same `Channel` (framing + exact plaintext ⇄ TLS switch) as the
//! host client. Answers are shaped like the ones that satisfied ideviceinfo, idevicepair and
//! pymobiledevice3 (interop-testing.md §5; protocol.md §4.4).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use plist::{Dictionary, Value};
use rand::RngCore;
use rsa::RsaPrivateKey;
use rsa::pkcs8::EncodePrivateKey;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::lockdown::certs::{RSA_BITS, generate_rsa_key, public_key_pkcs1_pem};
use crate::lockdown::channel::Channel;
use crate::lockdown::error::{CertError, DeviceError};
use crate::lockdown::messages::LOCKDOWN_TYPE;
use crate::lockdown::tls::{cert_der_from_pem, device_server_config_with_versions};
use crate::mock::phone::{ServiceFn, SimulatedPhone};
use crate::mock::session_tls::{Burst, SessionTls, TlsOffer, tls10_server_hello};
use crate::mock::stall::{Stall, drain};
use crate::usbmux::sans_io::SansIo;
use crate::usbmux::{DeviceStream, LOCKDOWN_PORT};

/// How the simulated user answers the "Trust This Computer?" alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustBehaviour {
    /// Pair succeeds at once.
    TrustImmediately,
    /// Pair answers PairingDialogResponsePending this many times, then succeeds.
    TrustAfterPolls(u32),
    /// "Don't Trust": UserDeniedPairing.
    Deny,
    /// The phone is locked: PasswordProtected.
    Locked,
}

/// Which certificate a host presented in the session TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresentedCertificate {
    Host,
    Root,
}

/// What the phone remembers about a paired host.
#[derive(Debug, Clone)]
pub struct HostRecord {
    pub host_certificate: Vec<u8>,
    pub root_certificate: Vec<u8>,
    pub device_certificate: Vec<u8>,
    pub system_buid: Option<String>,
}

struct State {
    behaviour: TrustBehaviour,
    /// PairingDialogResponsePending answers given since the alert went up.
    pending_answers: u32,
    hosts: HashMap<String, HostRecord>,
    pair_requests: u32,
    sessions_started: u32,
    last_presented: Option<PresentedCertificate>,
    /// Where to go silent, for tests of the host's deadlines.
    stall: Option<Stall>,
    /// Restarted and not unlocked since: Pair, StartSession and StartService answer
    /// PasswordProtected until `unlock`.
    locked_since_boot: bool,
    /// The next StartService ends the connection's session and answers SessionInactive.
    session_inactive_once: bool,
}

/// The simulated lockdownd of one phone.
pub struct Lockdownd {
    phone: Arc<SimulatedPhone>,
    device_key: PrivatePkcs8KeyDer<'static>,
    /// GetValue domains; "" is the global domain.
    domains: Mutex<HashMap<String, Dictionary>>,
    state: Mutex<State>,
    session_tls: Mutex<SessionTls>,
    /// Fault: requests (by name) answered with these raw plist bodies instead of a reply.
    raw_replies: Mutex<HashMap<String, Vec<u8>>>,
}

/// Per-connection state.
#[derive(Default)]
struct Connection {
    session: Option<Session>,
    close_after_reply: bool,
    /// A stall hit: answer nothing more on this connection.
    silent: bool,
}

struct Session {
    id: String,
    host_id: String,
}

/// Storage figures for the `com.apple.disk_usage` domain (bytes).
const TOTAL_DISK: u64 = 128_000_000_000;
const TOTAL_DATA: u64 = 119_000_000_000;
const DATA_AVAILABLE: u64 = 64_000_000_000;

impl Lockdownd {
    /// A lockdownd for `phone` with a fresh RSA-2048 device key (generated once per phone).
    pub fn new(
        phone: Arc<SimulatedPhone>,
        behaviour: TrustBehaviour,
    ) -> Result<Arc<Lockdownd>, CertError> {
        let key = generate_rsa_key(RSA_BITS)?;
        Lockdownd::with_device_key(phone, behaviour, &key)
    }

    /// As `new`, with a given device key (tests reuse one; key generation is the slow part).
    pub fn with_device_key(
        phone: Arc<SimulatedPhone>,
        behaviour: TrustBehaviour,
        device_key: &RsaPrivateKey,
    ) -> Result<Arc<Lockdownd>, CertError> {
        let pkcs8 = device_key
            .to_pkcs8_der()
            .map_err(|e| CertError::KeyGen(e.to_string()))?;
        let public_pem = public_key_pkcs1_pem(&device_key.to_public_key())?;
        let domains = initial_domains(&phone, public_pem.into_bytes());
        Ok(Arc::new(Lockdownd {
            phone,
            device_key: PrivatePkcs8KeyDer::from(pkcs8.as_bytes().to_vec()),
            domains: Mutex::new(domains),
            state: Mutex::new(State {
                behaviour,
                pending_answers: 0,
                hosts: HashMap::new(),
                pair_requests: 0,
                sessions_started: 0,
                last_presented: None,
                stall: None,
                locked_since_boot: false,
                session_inactive_once: false,
            }),
            session_tls: Mutex::new(SessionTls::default()),
            raw_replies: Mutex::new(HashMap::new()),
        }))
    }

    /// The connection handler for port 62078.
    pub fn service_fn(self: &Arc<Self>) -> ServiceFn {
        let me = self.clone();
        Arc::new(move |stream| {
            let me = me.clone();
            Box::pin(async move { me.serve(stream).await })
        })
    }

    /// Listen on the phone's lockdown port.
    pub fn install(self: &Arc<Self>) {
        self.phone.listen(LOCKDOWN_PORT, self.service_fn());
    }

    pub fn phone(&self) -> &Arc<SimulatedPhone> {
        &self.phone
    }

    /// Script how the next Pair requests are answered.
    pub fn set_behaviour(&self, behaviour: TrustBehaviour) {
        let mut s = self.state.lock().expect("lockdownd state");
        s.behaviour = behaviour;
        s.pending_answers = 0;
    }

    /// Stop answering a request (`Stall::LockdownRequest`) or the TLS handshake
    /// (`Stall::TlsHandshake`) the next time it comes; other stalls are not lockdownd's.
    pub fn set_stall(&self, stall: Option<Stall>) {
        self.state.lock().expect("lockdownd state").stall = stall;
    }

    /// Whether the stall set up with `set_stall` hits here; it hits once, then is gone.
    fn take_stall(&self, hits: impl FnOnce(&Stall) -> bool) -> bool {
        let mut s = self.state.lock().expect("lockdownd state");
        let hit = s.stall.as_ref().is_some_and(hits);
        if hit {
            s.stall = None;
        }
        hit
    }

    /// Simulate a restart without the first unlock (`true`), or that unlock (`false`).
    pub fn set_locked_since_boot(&self, locked: bool) {
        self.state
            .lock()
            .expect("lockdownd state")
            .locked_since_boot = locked;
    }

    /// The owner enters the passcode for the first time since the restart.
    pub fn unlock(&self) {
        self.set_locked_since_boot(false);
    }

    /// Make the next StartService find its session gone (SessionInactive), once.
    pub fn answer_session_inactive_once(&self) {
        self.state
            .lock()
            .expect("lockdownd state")
            .session_inactive_once = true;
    }

    fn locked_since_boot(&self) -> bool {
        self.state
            .lock()
            .expect("lockdownd state")
            .locked_since_boot
    }

    /// "Reset Location & Privacy" for one host: forget its record.
    pub fn revoke(&self, host_id: &str) -> bool {
        self.state
            .lock()
            .expect("lockdownd state")
            .hosts
            .remove(host_id)
            .is_some()
    }

    /// Forget every paired host.
    pub fn revoke_all(&self) {
        self.state.lock().expect("lockdownd state").hosts.clear();
    }

    /// HostIDs the phone trusts.
    pub fn trusted_hosts(&self) -> Vec<String> {
        self.state
            .lock()
            .expect("lockdownd state")
            .hosts
            .keys()
            .cloned()
            .collect()
    }

    pub fn host_record(&self, host_id: &str) -> Option<HostRecord> {
        self.state
            .lock()
            .expect("lockdownd state")
            .hosts
            .get(host_id)
            .cloned()
    }

    /// How later sessions run their TLS (versions offered, bursts, faults).
    pub fn set_session_tls(&self, tls: SessionTls) {
        *self.session_tls.lock().expect("lockdownd tls") = tls;
    }

    fn session_tls(&self) -> SessionTls {
        *self.session_tls.lock().expect("lockdownd tls")
    }

    /// Pair requests received (including the polls while the alert was up).
    pub fn pair_requests(&self) -> u32 {
        self.state.lock().expect("lockdownd state").pair_requests
    }

    /// Sessions whose TLS handshake completed.
    pub fn sessions_started(&self) -> u32 {
        self.state.lock().expect("lockdownd state").sessions_started
    }

    /// The certificate the host presented in the last session.
    pub fn last_presented_certificate(&self) -> Option<PresentedCertificate> {
        self.state.lock().expect("lockdownd state").last_presented
    }

    /// Set a GetValue value (domain `None` = global), e.g. to change ProductVersion.
    pub fn set_value(&self, domain: Option<&str>, key: &str, value: Value) {
        self.domains
            .lock()
            .expect("lockdownd domains")
            .entry(domain.unwrap_or("").to_string())
            .or_default()
            .insert(key.to_string(), value);
    }

    /// Fault: answer every `request` (e.g. "GetValue") with `body` as the plist, whatever it
    /// holds (a hostile phone: 20,000 levels deep, not a plist at all, ...).
    pub fn set_raw_reply(&self, request: &str, body: Vec<u8>) {
        self.raw_replies
            .lock()
            .expect("lockdownd raw replies")
            .insert(request.to_string(), body);
    }

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

    /// One request → its reply, and a TLS server config when the reply starts a session.
    fn handle(
        &self,
        conn: &mut Connection,
        request: &Dictionary,
    ) -> (Dictionary, Option<Arc<rustls::ServerConfig>>) {
        let name = request
            .get("Request")
            .and_then(Value::as_string)
            .unwrap_or("")
            .to_string();
        let mut reply = Dictionary::new();
        reply.insert("Request".into(), name.clone().into());
        let result = match name.as_str() {
            "QueryType" => {
                reply.insert("Type".into(), LOCKDOWN_TYPE.into());
                Ok(None)
            }
            "GetValue" => self.get_value(request, &mut reply).map(|_| None),
            "Pair" => self.pair(request, &mut reply).map(|_| None),
            "StartSession" => self.start_session(conn, request, &mut reply).map(Some),
            "StopSession" => self.stop_session(conn, request).map(|_| None),
            "StartService" => self.start_service(conn, request, &mut reply).map(|_| None),
            "Unpair" => self.unpair(request).map(|_| None),
            "Goodbye" => {
                conn.close_after_reply = true;
                Ok(None)
            }
            // Modern lockdownd no longer knows ValidatePair (limd issue #510).
            _ => Err(DeviceError::Other("InvalidRequest".into())),
        };
        match result {
            Ok(tls) => (reply, tls),
            Err(e) => {
                reply.insert("Error".into(), e.as_wire().into());
                (reply, None)
            }
        }
    }

    fn get_value(&self, request: &Dictionary, reply: &mut Dictionary) -> Result<(), DeviceError> {
        let domain = request.get("Domain").and_then(Value::as_string);
        let key = request.get("Key").and_then(Value::as_string);
        let domains = self.domains.lock().expect("lockdownd domains");
        let dict = domains
            .get(domain.unwrap_or(""))
            .ok_or(DeviceError::MissingValue)?;
        let value = match key {
            Some(k) => dict.get(k).cloned().ok_or(DeviceError::MissingValue)?,
            None => Value::Dictionary(dict.clone()),
        };
        if let Some(k) = key {
            reply.insert("Key".into(), k.into());
        }
        if let Some(d) = domain {
            reply.insert("Domain".into(), d.into());
        }
        reply.insert("Value".into(), value);
        Ok(())
    }

    fn pair(&self, request: &Dictionary, reply: &mut Dictionary) -> Result<(), DeviceError> {
        let record = request
            .get("PairRecord")
            .and_then(Value::as_dictionary)
            .ok_or(DeviceError::MissingPairRecord)?;
        let host_id = record
            .get("HostID")
            .and_then(Value::as_string)
            .ok_or(DeviceError::MissingHostID)?;
        let data = |k: &str| match record.get(k) {
            Some(Value::Data(d)) => Ok(d.clone()),
            Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
            _ => Err(DeviceError::InvalidPairRecord),
        };
        let entry = HostRecord {
            host_certificate: data("HostCertificate")?,
            root_certificate: data("RootCertificate")?,
            device_certificate: data("DeviceCertificate")?,
            system_buid: record
                .get("SystemBUID")
                .and_then(Value::as_string)
                .map(str::to_string),
        };
        for pem in [
            &entry.host_certificate,
            &entry.root_certificate,
            &entry.device_certificate,
        ] {
            cert_der_from_pem(pem, "certificate").map_err(|_| DeviceError::InvalidPairRecord)?;
        }
        let mut s = self.state.lock().expect("lockdownd state");
        s.pair_requests += 1;
        if s.locked_since_boot {
            return Err(DeviceError::PasswordProtected);
        }
        match s.behaviour {
            TrustBehaviour::Locked => return Err(DeviceError::PasswordProtected),
            TrustBehaviour::Deny => return Err(DeviceError::UserDeniedPairing),
            TrustBehaviour::TrustAfterPolls(n) if s.pending_answers < n => {
                s.pending_answers += 1;
                return Err(DeviceError::PairingDialogResponsePending);
            }
            _ => {}
        }
        s.pending_answers = 0;
        s.hosts.insert(host_id.to_string(), entry);
        let mut bag = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut bag);
        reply.insert("EscrowBag".into(), Value::Data(bag));
        Ok(())
    }

    fn start_session(
        &self,
        conn: &mut Connection,
        request: &Dictionary,
        reply: &mut Dictionary,
    ) -> Result<Arc<rustls::ServerConfig>, DeviceError> {
        if conn.session.is_some() {
            return Err(DeviceError::SessionActive);
        }
        let host_id = request
            .get("HostID")
            .and_then(Value::as_string)
            .ok_or(DeviceError::MissingHostID)?;
        let record = self
            .host_record(host_id)
            .ok_or(DeviceError::InvalidHostID)?;
        // Still paired, but the keys protecting the data are not available before the first unlock.
        if self.locked_since_boot() {
            return Err(DeviceError::PasswordProtected);
        }
        let allowed: Vec<CertificateDer<'static>> =
            [&record.host_certificate, &record.root_certificate]
                .into_iter()
                .filter_map(|pem| cert_der_from_pem(pem, "certificate").ok())
                .collect();
        let versions = self
            .session_tls()
            .offer
            .rustls_versions()
            .unwrap_or(rustls::DEFAULT_VERSIONS);
        let config = device_server_config_with_versions(
            &record.device_certificate,
            PrivateKeyDer::Pkcs8(self.device_key.clone_key()),
            allowed,
            versions,
        )
        // A DeviceCertificate that is not over our key cannot serve TLS.
        .map_err(|_| DeviceError::InvalidPairRecord)?;
        let id = uuid::Uuid::new_v4().to_string().to_uppercase();
        reply.insert("SessionID".into(), id.clone().into());
        reply.insert("EnableSessionSSL".into(), true.into());
        conn.session = Some(Session {
            id,
            host_id: host_id.to_string(),
        });
        Ok(config)
    }

    fn stop_session(&self, conn: &mut Connection, request: &Dictionary) -> Result<(), DeviceError> {
        let id = request
            .get("SessionID")
            .and_then(Value::as_string)
            .ok_or(DeviceError::MissingSessionID)?;
        match &conn.session {
            None => Err(DeviceError::SessionInactive),
            Some(s) if s.id != id => Err(DeviceError::InvalidSessionID),
            Some(_) => {
                // The reply still goes inside TLS; the host's close_notify then gets ours
                // (Channel answers it) and the socket is plaintext again.
                conn.session = None;
                Ok(())
            }
        }
    }

    fn start_service(
        &self,
        conn: &mut Connection,
        request: &Dictionary,
        reply: &mut Dictionary,
    ) -> Result<(), DeviceError> {
        if std::mem::take(
            &mut self
                .state
                .lock()
                .expect("lockdownd state")
                .session_inactive_once,
        ) {
            conn.session = None;
        }
        if conn.session.is_none() {
            return Err(DeviceError::SessionInactive);
        }
        if self.locked_since_boot() {
            return Err(DeviceError::PasswordProtected);
        }
        let name = request
            .get("Service")
            .and_then(Value::as_string)
            .ok_or(DeviceError::MissingService)?;
        let port = self
            .phone
            .start_service(name)
            .ok_or(DeviceError::InvalidService)?;
        reply.insert("Service".into(), name.into());
        reply.insert("Port".into(), Value::Integer(u64::from(port).into()));
        Ok(())
    }

    fn unpair(&self, request: &Dictionary) -> Result<(), DeviceError> {
        let record = request
            .get("PairRecord")
            .and_then(Value::as_dictionary)
            .ok_or(DeviceError::MissingPairRecord)?;
        let host_id = record
            .get("HostID")
            .and_then(Value::as_string)
            .ok_or(DeviceError::MissingHostID)?;
        if self.revoke(host_id) {
            Ok(())
        } else {
            Err(DeviceError::InvalidHostID)
        }
    }
}

fn pem_is(pem: &[u8], der: &CertificateDer<'_>) -> bool {
    cert_der_from_pem(pem, "certificate").is_ok_and(|c| c.as_ref() == der.as_ref())
}

/// UniqueChipID is the ECID: the hex after the dash of a modern UDID.
fn chip_id(udid: &str) -> u64 {
    udid.split_once('-')
        .and_then(|(_, ecid)| u64::from_str_radix(ecid, 16).ok())
        .unwrap_or(0x1A2B_3C4D_5E80)
}

/// The 26 global values that satisfied both client stacks (interop-testing.md §5), plus storage.
fn initial_domains(
    phone: &SimulatedPhone,
    device_public_key: Vec<u8>,
) -> HashMap<String, Dictionary> {
    let id = &phone.identity;
    let mut g = Dictionary::new();
    let mut put = |k: &str, v: Value| {
        g.insert(k.to_string(), v);
    };
    put("ActivationState", "Activated".into());
    put("BasebandVersion", "".into());
    put(
        "BluetoothAddress",
        bluetooth_address(&id.wifi_address).into(),
    );
    put("BuildVersion", id.build_version.clone().into());
    put("CPUArchitecture", "arm64e".into());
    put("DeviceClass", "iPhone".into());
    put("DeviceColor", "1".into());
    put("DeviceName", id.device_name.clone().into());
    put("DevicePublicKey", Value::Data(device_public_key));
    put("FirmwareVersion", "iBoot-10151.140.19".into());
    put("HardwareModel", "D79AP".into());
    put("HardwarePlatform", "t8030".into());
    put("HostAttached", true.into());
    put("ModelNumber", "MX9R2".into());
    put("PasswordProtected", false.into());
    put("ProductName", "iPhone OS".into());
    put("ProductType", id.product_type.clone().into());
    put("ProductVersion", id.product_version.clone().into());
    put("ProtocolVersion", "2".into());
    put("RegionInfo", "LL/A".into());
    put("SerialNumber", id.serial_number.clone().into());
    put("TimeZone", "Europe/Berlin".into());
    put("TrustedHostAttached", true.into());
    put("UniqueChipID", Value::Integer(chip_id(&id.udid).into()));
    put("UniqueDeviceID", id.udid.clone().into());
    put("WiFiAddress", id.wifi_address.clone().into());

    let mut disk = Dictionary::new();
    disk.insert(
        "TotalDiskCapacity".into(),
        Value::Integer(TOTAL_DISK.into()),
    );
    disk.insert(
        "TotalDataCapacity".into(),
        Value::Integer(TOTAL_DATA.into()),
    );
    disk.insert(
        "TotalDataAvailable".into(),
        Value::Integer(DATA_AVAILABLE.into()),
    );
    disk.insert(
        "AmountDataAvailable".into(),
        Value::Integer(DATA_AVAILABLE.into()),
    );
    disk.insert(
        "TotalSystemCapacity".into(),
        Value::Integer((TOTAL_DISK - TOTAL_DATA).into()),
    );

    let mut domains = HashMap::new();
    domains.insert(String::new(), g);
    domains.insert("com.apple.disk_usage".to_string(), disk);
    domains
}

/// A plausible Bluetooth address: the Wi-Fi address with the last byte minus one.
fn bluetooth_address(wifi: &str) -> String {
    let mut parts: Vec<String> = wifi.split(':').map(str::to_string).collect();
    if let Some(last) = parts.last_mut()
        && let Ok(b) = u8::from_str_radix(last, 16)
    {
        *last = format!("{:02x}", b.wrapping_sub(1));
    }
    parts.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(pairs: &[(&str, Value)]) -> Dictionary {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn error_of(reply: &Dictionary) -> Option<&str> {
        reply.get("Error").and_then(Value::as_string)
    }

    #[test]
    fn requests_out_of_order_or_incomplete_get_lockdown_errors() {
        let phone = SimulatedPhone::new(Default::default());
        let key = generate_rsa_key(2048).unwrap();
        let ld = Lockdownd::with_device_key(phone, TrustBehaviour::TrustImmediately, &key).unwrap();
        let mut conn = Connection::default();
        let cases: &[(Dictionary, &str)] = &[
            (
                request(&[("Request", "StopSession".into())]),
                "MissingSessionID",
            ),
            (
                request(&[("Request", "StopSession".into()), ("SessionID", "X".into())]),
                "SessionInactive",
            ),
            (
                request(&[
                    ("Request", "StartService".into()),
                    ("Service", "com.apple.afc".into()),
                ]),
                "SessionInactive",
            ),
            (
                request(&[("Request", "StartSession".into())]),
                "MissingHostID",
            ),
            (
                request(&[
                    ("Request", "StartSession".into()),
                    ("HostID", "NOPE".into()),
                ]),
                "InvalidHostID",
            ),
            (request(&[("Request", "Pair".into())]), "MissingPairRecord"),
            (
                request(&[
                    ("Request", "Pair".into()),
                    ("PairRecord", Value::Dictionary(Dictionary::new())),
                ]),
                "MissingHostID",
            ),
            (
                request(&[("Request", "ValidatePair".into())]),
                "InvalidRequest",
            ),
            (request(&[("Label", "x".into())]), "InvalidRequest"),
            (
                request(&[
                    ("Request", "GetValue".into()),
                    ("Domain", "com.apple.nothing".into()),
                ]),
                "MissingValue",
            ),
            (
                request(&[("Request", "GetValue".into()), ("Key", "Nope".into())]),
                "MissingValue",
            ),
        ];
        for (req, expected) in cases {
            let (reply, tls) = ld.handle(&mut conn, req);
            assert_eq!(error_of(&reply), Some(*expected), "{req:?} → {reply:?}");
            assert!(tls.is_none());
        }
        // A Pair record with a certificate that is not PEM is refused.
        let mut rec = Dictionary::new();
        for k in ["HostCertificate", "RootCertificate", "DeviceCertificate"] {
            rec.insert(k.into(), Value::Data(b"junk".to_vec()));
        }
        rec.insert("HostID".into(), "H".into());
        let (reply, _) = ld.handle(
            &mut conn,
            &request(&[
                ("Request", "Pair".into()),
                ("PairRecord", Value::Dictionary(rec)),
            ]),
        );
        assert_eq!(error_of(&reply), Some("InvalidPairRecord"));
        assert!(ld.trusted_hosts().is_empty());
        // Replies echo Request, and GetValue echoes Key and Domain.
        let (reply, _) = ld.handle(
            &mut conn,
            &request(&[
                ("Request", "GetValue".into()),
                ("Domain", "com.apple.disk_usage".into()),
                ("Key", "TotalDiskCapacity".into()),
            ]),
        );
        assert_eq!(reply.get("Request").unwrap().as_string(), Some("GetValue"));
        assert_eq!(
            reply.get("Domain").unwrap().as_string(),
            Some("com.apple.disk_usage")
        );
        assert_eq!(
            reply.get("Key").unwrap().as_string(),
            Some("TotalDiskCapacity")
        );
        assert!(reply.get("Value").is_some() && error_of(&reply).is_none());
    }

    fn keys(d: &Dictionary) -> Vec<&str> {
        let mut k: Vec<&str> = d.keys().map(String::as_str).collect();
        k.sort_unstable();
        k
    }

    /// The reply shapes of transcripts 01 (ideviceinfo) and 04 (pymobiledevice3 pair), with
    /// pymobiledevice3's extra Pair keys tolerated.
    #[test]
    fn replies_have_the_shapes_real_clients_saw() {
        let phone = SimulatedPhone::new(Default::default());
        let key = generate_rsa_key(2048).unwrap();
        let ld = Lockdownd::with_device_key(phone, TrustBehaviour::TrustImmediately, &key).unwrap();
        let mut conn = Connection::default();
        let label = ("Label", Value::from("pymobiledevice3"));

        let (r, _) = ld.handle(
            &mut conn,
            &request(&[label.clone(), ("Request", "QueryType".into())]),
        );
        assert_eq!(keys(&r), ["Request", "Type"]);
        let (r, _) = ld.handle(
            &mut conn,
            &request(&[label.clone(), ("Request", "GetValue".into())]),
        );
        assert_eq!(keys(&r), ["Request", "Value"]);
        assert_eq!(r.get("Value").unwrap().as_dictionary().unwrap().len(), 26);
        let get_key = request(&[
            label.clone(),
            ("Key", "DevicePublicKey".into()),
            ("Request", "GetValue".into()),
        ]);
        let (r, _) = ld.handle(&mut conn, &get_key);
        assert_eq!(keys(&r), ["Key", "Request", "Value"]);
        let Some(Value::Data(device_pem)) = r.get("Value") else {
            panic!("DevicePublicKey is data")
        };
        assert!(device_pem.starts_with(b"-----BEGIN RSA PUBLIC KEY-----"));

        let certs = crate::lockdown::certs::generate(device_pem).unwrap();
        let mut rec = Dictionary::new();
        rec.insert(
            "DeviceCertificate".into(),
            Value::Data(certs.device_certificate.clone()),
        );
        rec.insert(
            "HostCertificate".into(),
            Value::Data(certs.host_certificate.clone()),
        );
        rec.insert(
            "HostID".into(),
            "98F42AA3-7036-31E2-BE65-7C00F2C33240".into(),
        );
        rec.insert(
            "RootCertificate".into(),
            Value::Data(certs.root_certificate.clone()),
        );
        rec.insert(
            "RootPrivateKey".into(),
            Value::Data(certs.root_private_key.clone()),
        );
        rec.insert(
            "SystemBUID".into(),
            "5A0A1B2C-3D4E-5F60-7182-93A4B5C6D7E8".into(),
        );
        rec.insert("WiFiMACAddress".into(), "a4:c3:f0:12:34:56".into());
        let mut options = Dictionary::new();
        options.insert("ExtendedPairingErrors".into(), true.into());
        let pair = request(&[
            label.clone(),
            ("HostName", "testhost".into()),
            ("PairRecord", Value::Dictionary(rec)),
            ("PairingOptions", Value::Dictionary(options)),
            ("ProtocolVersion", "2".into()),
            ("Request", "Pair".into()),
        ]);
        let (r, _) = ld.handle(&mut conn, &pair);
        assert_eq!(keys(&r), ["EscrowBag", "Request"]);

        let start = request(&[
            label.clone(),
            ("HostID", "98F42AA3-7036-31E2-BE65-7C00F2C33240".into()),
            ("Request", "StartSession".into()),
            ("SystemBUID", "5A0A1B2C-3D4E-5F60-7182-93A4B5C6D7E8".into()),
        ]);
        let (r, tls) = ld.handle(&mut conn, &start);
        assert_eq!(keys(&r), ["EnableSessionSSL", "Request", "SessionID"]);
        assert_eq!(r.get("EnableSessionSSL"), Some(&Value::Boolean(true)));
        assert!(tls.is_some(), "TLS starts right after this reply");
        let session = r.get("SessionID").unwrap().as_string().unwrap().to_string();

        ld.phone
            .add_named_service("com.apple.afc", Arc::new(|_| Box::pin(async {})));
        let svc = request(&[
            label.clone(),
            ("Request", "StartService".into()),
            ("Service", "com.apple.afc".into()),
        ]);
        let (r, _) = ld.handle(&mut conn, &svc);
        assert_eq!(keys(&r), ["Port", "Request", "Service"]);
        assert_eq!(r.get("Port"), Some(&Value::Integer(49152u64.into())));

        let stop = request(&[
            label.clone(),
            ("Request", "StopSession".into()),
            ("SessionID", session.into()),
        ]);
        let (r, _) = ld.handle(&mut conn, &stop);
        assert_eq!(keys(&r), ["Request"]);

        let mut unpair_rec = Dictionary::new();
        unpair_rec.insert(
            "HostID".into(),
            "98F42AA3-7036-31E2-BE65-7C00F2C33240".into(),
        );
        let unpair = request(&[
            label,
            ("PairRecord", Value::Dictionary(unpair_rec)),
            ("ProtocolVersion", "2".into()),
            ("Request", "Unpair".into()),
        ]);
        let (r, _) = ld.handle(&mut conn, &unpair);
        assert_eq!(keys(&r), ["Request"]);
        assert!(ld.trusted_hosts().is_empty());
    }

    #[test]
    fn identity_values_follow_the_phone() {
        let phone = SimulatedPhone::new(Default::default());
        let d = initial_domains(&phone, b"KEY".to_vec());
        let g = &d[""];
        assert_eq!(g.len(), 26);
        assert_eq!(
            g.get("UniqueChipID"),
            Some(&Value::Integer(7365887390548014u64.into()))
        );
        assert_eq!(
            g.get("UniqueDeviceID").unwrap().as_string(),
            Some(phone.identity.udid.as_str())
        );
        let major: u32 = g
            .get("ProductVersion")
            .unwrap()
            .as_string()
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(major >= 17);
        assert_eq!(bluetooth_address("a4:c3:f0:12:34:56"), "a4:c3:f0:12:34:55");
    }
}
