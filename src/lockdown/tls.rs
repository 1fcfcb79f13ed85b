//! rustls configurations for the lockdown session (and service) TLS, both roles, ring only.
//!
//! Lockdown certificates are not a PKI: the root has an empty name, the host certificate has an
//! empty subject and issuer, limd presents a SHA-1-signed CA certificate as its *client*
//! certificate. So neither side runs X.509 chain validation (protocol.md §6.3).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    CryptoProvider, WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::error::{CertError, LockdownError};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A PEM certificate (as kept in pair records) as DER.
pub(crate) fn cert_der_from_pem(
    pem: &[u8],
    what: &'static str,
) -> Result<CertificateDer<'static>, CertError> {
    CertificateDer::from_pem_slice(pem).map_err(|e| CertError::BadRecordMaterial {
        what,
        detail: e.to_string(),
    })
}

/// A PEM private key (PKCS#8 or PKCS#1) as DER.
pub(crate) fn key_der_from_pem(
    pem: &[u8],
    what: &'static str,
) -> Result<PrivateKeyDer<'static>, CertError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| CertError::BadRecordMaterial {
        what,
        detail: e.to_string(),
    })
}

/// Accepts the phone's certificate without validation.
///
/// Handshake signatures are *not* checked either. Nothing pins the phone's identity (every real
/// client accepts any server certificate), so a signature check would prove only that the peer
/// owns the key of whatever certificate it chose to send; and webpki only verifies RSA keys of
/// 2048–8192 bits, so checking would break phones whose DevicePublicKey is RSA-1024
/// (protocol.md §6.4, an open question for current devices). idevice does the same.
#[derive(Debug)]
struct AcceptPhoneCertificate {
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for AcceptPhoneCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

/// Host role: TLS client presenting the pair record's host certificate and key
/// (as pymobiledevice3 and idevice do).
pub(crate) fn host_client_config(
    host_cert_pem: &[u8],
    host_key_pem: &[u8],
) -> Result<Arc<rustls::ClientConfig>, LockdownError> {
    let provider = provider();
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    let cert = cert_der_from_pem(host_cert_pem, "HostCertificate")?;
    let key = key_der_from_pem(host_key_pem, "HostPrivateKey")?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptPhoneCertificate { schemes }))
        .with_client_auth_cert(vec![cert], key)?;
    // limd and pymobiledevice3 send no SNI; lockdownd has no name to match anyway.
    config.enable_sni = false;
    Ok(Arc::new(config))
}

/// A client connection for the host role.
pub(crate) fn host_client_connection(
    config: Arc<rustls::ClientConfig>,
) -> Result<rustls::ClientConnection, LockdownError> {
    let name = ServerName::try_from("Device").expect("static DNS name");
    Ok(rustls::ClientConnection::new(config, name)?)
}

/// Device role: asks for a client certificate without chain validation, verifies the handshake
/// signature (the host proves it owns the key), and, when `allowed` is not empty, accepts only
/// those exact certificates: the HostCertificate or RootCertificate stored for the session's
/// HostID (limd presents the root certificate, pymobiledevice3 the host certificate).
#[derive(Debug)]
struct PairedClientCertificate {
    algorithms: WebPkiSupportedAlgorithms,
    allowed: Vec<CertificateDer<'static>>,
}

impl ClientCertVerifier for PairedClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        !self.allowed.is_empty()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if self.allowed.is_empty()
            || self
                .allowed
                .iter()
                .any(|c| c.as_ref() == end_entity.as_ref())
        {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Device role: TLS server with the host-issued DeviceCertificate and the phone's own key,
/// accepting only the `allowed` client certificates (any, when empty).
#[cfg(test)]
pub(crate) fn device_server_config(
    device_cert_pem: &[u8],
    device_key: PrivateKeyDer<'static>,
    allowed: Vec<CertificateDer<'static>>,
) -> Result<Arc<rustls::ServerConfig>, LockdownError> {
    device_server_config_with_versions(
        device_cert_pem,
        device_key,
        allowed,
        rustls::DEFAULT_VERSIONS,
    )
}

/// As `device_server_config`, limited to some TLS versions (a phone that only speaks TLS 1.2).
#[cfg_attr(
    not(any(test, feature = "mock")),
    expect(
        dead_code,
        reason = "device role: used by the simulated phone (feature mock) and unit tests"
    )
)]
pub(crate) fn device_server_config_with_versions(
    device_cert_pem: &[u8],
    device_key: PrivateKeyDer<'static>,
    allowed: Vec<CertificateDer<'static>>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<Arc<rustls::ServerConfig>, LockdownError> {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let cert = cert_der_from_pem(device_cert_pem, "DeviceCertificate")?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(Arc::new(PairedClientCertificate {
            algorithms,
            allowed,
        }))
        .with_single_cert(vec![cert], device_key)?;
    Ok(Arc::new(config))
}
