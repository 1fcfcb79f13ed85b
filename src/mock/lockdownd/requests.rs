//! The lockdown requests the simulated phone answers (GetValue, Pair, StartSession, StopSession,
//! StartService, Unpair), one request dictionary in, one reply dictionary out.

use std::sync::Arc;

use plist::{Dictionary, Value};
use rand::RngCore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::lockdown::error::DeviceError;
use crate::lockdown::messages::LOCKDOWN_TYPE;
use crate::lockdown::tls::{cert_der_from_pem, device_server_config_with_versions};
use crate::mock::phone::StartRefused;

use super::Lockdownd;
use super::state::{Connection, HostRecord, Session, TrustBehaviour};

impl Lockdownd {
    /// One request → its reply, and a TLS server config when the reply starts a session.
    pub(super) fn handle(
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
        let port = self.phone.start_service(name).map_err(|why| match why {
            StartRefused::Unknown => DeviceError::InvalidService,
            StartRefused::Limit => DeviceError::ServiceLimit,
        })?;
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
