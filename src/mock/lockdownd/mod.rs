//! A simulated lockdownd (device role of `crate::lockdown`), listening on port 62078 of a
//! `SimulatedPhone`. Built on the same `Channel` (framing + exact plaintext ⇄ TLS switch) as the
//! host client. Answers are shaped like the ones that satisfied ideviceinfo, idevicepair and
//! pymobiledevice3 (interop-testing.md §5; protocol.md §4.4).
//!
//! Split by concept: this file holds the `Lockdownd` handle and the calls tests and the mock's
//! wiring make on it; `state` what it remembers, `device_values` what GetValue reports,
//! `connection` the per-connection loop and TLS switch, `requests` the answer to each request.
//! The public items are re-exported here, so `mock::lockdownd::X` paths stay as they were.

mod connection;
mod device_values;
mod requests;
mod state;

pub use state::{HostRecord, PresentedCertificate, TrustBehaviour};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use plist::Dictionary;
use rsa::RsaPrivateKey;
use rsa::pkcs8::EncodePrivateKey;
use rustls::pki_types::PrivatePkcs8KeyDer;

use crate::lockdown::certs::{RSA_BITS, generate_rsa_key, public_key_pkcs1_pem};
use crate::lockdown::error::CertError;
use crate::mock::phone::{ServiceFn, SimulatedPhone};
use crate::mock::session_tls::SessionTls;
use crate::mock::stall::Stall;
use crate::usbmux::LOCKDOWN_PORT;

use device_values::initial_domains;
use state::State;

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
    pub(crate) fn service_fn(self: &Arc<Self>) -> ServiceFn {
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

    /// Stop answering a request (`Stall::LockdownRequest`) or the TLS handshake
    /// (`Stall::TlsHandshake`) the next time it comes; other stalls are not lockdownd's.
    pub(crate) fn set_stall(&self, stall: Option<Stall>) {
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
    pub(crate) fn answer_session_inactive_once(&self) {
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

    /// Fault: answer every `request` (e.g. "GetValue") with `body` as the plist, whatever it
    /// holds (a hostile phone: 20,000 levels deep, not a plist at all, ...).
    pub fn set_raw_reply(&self, request: &str, body: Vec<u8>) {
        self.raw_replies
            .lock()
            .expect("lockdownd raw replies")
            .insert(request.to_string(), body);
    }
}

#[cfg(test)]
mod tests;
