//! Keys and certificates for a pairing (protocol.md §5.2), made like limd and pymobiledevice3
//! make them: RSA-2048 root and host keys, X.509 v3, SHA-256, serial 1, empty names,
//! valid from one minute ago for ten years. Private keys are PKCS#8 PEM.
//!
//! Every certificate is strict DER (X.690 §11): strict parsers (Python `cryptography` ≥ 48, so
//! pymobiledevice3, and possibly the phone) reject anything else. rcgen's `ExplicitNoCa` writes
//! BasicConstraints `cA FALSE` although DER requires a DEFAULT value to be left out, and writes
//! KeyUsage as 9 bits with trailing zeros, which DER forbids for a named bit list. So host and
//! device certificates carry those two extensions (and the SubjectKeyIdentifier rcgen then no
//! longer writes) as pre-encoded DER of our own, byte for byte what OpenSSL writes.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, IsCa, KeyPair,
    PKCS_RSA_SHA256, PublicKeyData, SerialNumber, SignatureAlgorithm,
};
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs8::{DecodePublicKey, EncodePrivateKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

use super::error::CertError;

/// Key size of the root and host keys (limd, pymobiledevice3, idevice all use 2048).
pub(crate) const RSA_BITS: usize = 2048;
const TEN_YEARS: Duration = Duration::from_secs(3652 * 24 * 3600);

const OID_SUBJECT_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 14];
const OID_KEY_USAGE: &[u64] = &[2, 5, 29, 15];
const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
/// BasicConstraints of an end entity: an empty SEQUENCE (cA FALSE is the DEFAULT, so absent).
const DER_BASIC_CONSTRAINTS_NOT_CA: &[u8] = &[0x30, 0x00];
/// KeyUsage digitalSignature + keyEncipherment: BIT STRING `101` (bits 0 and 2), 5 unused bits.
const DER_KEY_USAGE_SIGN_ENCIPHER: &[u8] = &[0x03, 0x02, 0x05, 0xa0];

/// Everything a Pair request needs, all PEM.
#[derive(Clone)]
pub struct PairingCertificates {
    pub root_certificate: Vec<u8>,
    pub root_private_key: Vec<u8>,
    pub host_certificate: Vec<u8>,
    pub host_private_key: Vec<u8>,
    pub device_certificate: Vec<u8>,
}

/// A fresh RSA key.
pub fn generate_rsa_key(bits: usize) -> Result<RsaPrivateKey, CertError> {
    RsaPrivateKey::new(&mut rand::rngs::OsRng, bits).map_err(|e| CertError::KeyGen(e.to_string()))
}

/// PKCS#8 PEM (`BEGIN PRIVATE KEY`) of an RSA key.
pub(crate) fn private_key_pem(key: &RsaPrivateKey) -> Result<String, CertError> {
    Ok(key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| CertError::KeyGen(e.to_string()))?
        .to_string())
}

/// PKCS#1 PEM (`BEGIN RSA PUBLIC KEY`) of a public key: the DevicePublicKey format.
pub fn public_key_pkcs1_pem(key: &RsaPublicKey) -> Result<String, CertError> {
    key.to_pkcs1_pem(LineEnding::LF)
        .map_err(|e| CertError::KeyGen(e.to_string()))
}

/// The phone's public key as rcgen needs it: the PKCS#1 body of an rsaEncryption SPKI.
struct DevicePublicKey {
    pkcs1_der: Vec<u8>,
}

impl PublicKeyData for DevicePublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.pkcs1_der
    }

    fn algorithm(&self) -> &SignatureAlgorithm {
        &PKCS_RSA_SHA256
    }
}

/// Parse DevicePublicKey: PKCS#1 PEM as the phone sends it (SPKI PEM tolerated).
pub(crate) fn parse_device_public_key(pem: &[u8]) -> Result<RsaPublicKey, CertError> {
    let text = std::str::from_utf8(pem)
        .map_err(|e| CertError::DevicePublicKey(e.to_string()))?
        .trim();
    RsaPublicKey::from_pkcs1_pem(text)
        .or_else(|_| RsaPublicKey::from_public_key_pem(text))
        .map_err(|e| CertError::DevicePublicKey(e.to_string()))
}

fn rcgen_key(key: &RsaPrivateKey) -> Result<KeyPair, CertError> {
    Ok(KeyPair::from_pkcs8_pem_and_sign_algo(
        &private_key_pem(key)?,
        &PKCS_RSA_SHA256,
    )?)
}

fn base_params() -> CertificateParams {
    let now = SystemTime::now();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.serial_number = Some(SerialNumber::from_slice(&[1]));
    params.not_before = (now - Duration::from_secs(60)).into();
    params.not_after = (now + TEN_YEARS).into();
    params
}

/// The root: a CA (rcgen writes `cA TRUE`, which is not the DEFAULT, so DER as it is).
fn root_params() -> CertificateParams {
    let mut params = base_params();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
}

/// Host and device certificates: not a CA, may sign and encipher; extensions as strict DER.
fn end_entity_params(subject_pkcs1_der: &[u8]) -> CertificateParams {
    let mut params = base_params();
    params.is_ca = IsCa::NoCa;
    // RFC 7093 §2 method 1: leftmost 160 bits of SHA-256 over the subjectPublicKey bits.
    let key_id = &Sha256::digest(subject_pkcs1_der)[..20];
    let mut ski = vec![0x04, key_id.len() as u8];
    ski.extend_from_slice(key_id);
    let mut basic = CustomExtension::from_oid_content(
        OID_BASIC_CONSTRAINTS,
        DER_BASIC_CONSTRAINTS_NOT_CA.to_vec(),
    );
    basic.set_criticality(true);
    let mut usage =
        CustomExtension::from_oid_content(OID_KEY_USAGE, DER_KEY_USAGE_SIGN_ENCIPHER.to_vec());
    usage.set_criticality(true);
    params.custom_extensions = vec![
        usage,
        CustomExtension::from_oid_content(OID_SUBJECT_KEY_IDENTIFIER, ski),
        basic,
    ];
    params
}

/// Make root, host and device certificates with fresh root and host keys.
pub fn generate(device_public_key_pem: &[u8]) -> Result<PairingCertificates, CertError> {
    let root = generate_rsa_key(RSA_BITS)?;
    let host = generate_rsa_key(RSA_BITS)?;
    generate_with_keys(device_public_key_pem, &root, &host)
}

/// As `generate`, with given root and host keys (tests reuse keys; key generation is the slow part).
pub(crate) fn generate_with_keys(
    device_public_key_pem: &[u8],
    root_key: &RsaPrivateKey,
    host_key: &RsaPrivateKey,
) -> Result<PairingCertificates, CertError> {
    let device_key = parse_device_public_key(device_public_key_pem)?;
    let device_key = DevicePublicKey {
        pkcs1_der: device_key
            .to_pkcs1_der()
            .map_err(|e| CertError::DevicePublicKey(e.to_string()))?
            .into_vec(),
    };

    let host_pkcs1 = host_key
        .to_public_key()
        .to_pkcs1_der()
        .map_err(|e| CertError::KeyGen(e.to_string()))?;

    let root_pair = rcgen_key(root_key)?;
    let root_cert = root_params().self_signed(&root_pair)?;
    let host_pair = rcgen_key(host_key)?;
    let host_cert =
        end_entity_params(host_pkcs1.as_bytes()).signed_by(&host_pair, &root_cert, &root_pair)?;
    let device_cert =
        end_entity_params(&device_key.pkcs1_der).signed_by(&device_key, &root_cert, &root_pair)?;

    Ok(PairingCertificates {
        root_certificate: root_cert.pem().into_bytes(),
        root_private_key: private_key_pem(root_key)?.into_bytes(),
        host_certificate: host_cert.pem().into_bytes(),
        host_private_key: private_key_pem(host_key)?.into_bytes(),
        device_certificate: device_cert.pem().into_bytes(),
    })
}

#[cfg(test)]
mod strict_der;

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::extensions::ParsedExtension;
    use x509_parser::pem::parse_x509_pem;
    use x509_parser::prelude::*;

    fn parse(pem: &[u8]) -> Vec<u8> {
        let (rest, p) = parse_x509_pem(pem).expect("PEM");
        assert!(rest.iter().all(|b| b.is_ascii_whitespace()));
        assert_eq!(p.label, "CERTIFICATE");
        p.contents
    }

    /// Check the RSA-SHA256 signature of `c` with the root's key.
    fn signed_by(c: &X509Certificate<'_>, root: &X509Certificate<'_>) {
        use sha2::Digest;
        let key = RsaPublicKey::from_public_key_der(root.public_key().raw).unwrap();
        let digest = sha2::Sha256::digest(c.tbs_certificate.as_ref());
        // DigestInfo prefix for SHA-256 (RFC 8017 §9.2 note 1).
        let prefix = hex_prefix();
        let scheme = rsa::Pkcs1v15Sign {
            hash_len: Some(32),
            prefix: prefix.into(),
        };
        key.verify(scheme, &digest, &c.signature_value.data)
            .expect("signed by root");
    }

    fn hex_prefix() -> Vec<u8> {
        vec![
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ]
    }

    #[test]
    fn certificates_have_the_shape_real_tools_make() {
        let device = generate_rsa_key(RSA_BITS).unwrap();
        let device_pem = public_key_pkcs1_pem(&device.to_public_key()).unwrap();
        assert!(device_pem.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
        let certs = generate(device_pem.as_bytes()).unwrap();

        for key in [&certs.root_private_key, &certs.host_private_key] {
            assert!(
                std::str::from_utf8(key)
                    .unwrap()
                    .starts_with("-----BEGIN PRIVATE KEY-----")
            );
        }

        let root_der = parse(&certs.root_certificate);
        let host_der = parse(&certs.host_certificate);
        let device_der = parse(&certs.device_certificate);
        let (_, root) = X509Certificate::from_der(&root_der).unwrap();
        let (_, host) = X509Certificate::from_der(&host_der).unwrap();
        let (_, dev) = X509Certificate::from_der(&device_der).unwrap();

        let now = ASN1Time::now().timestamp();
        for c in [&root, &host, &dev] {
            assert_eq!(c.version(), X509Version::V3);
            assert_eq!(c.tbs_certificate.raw_serial(), &[1]);
            assert_eq!(c.subject().iter().count(), 0, "empty subject");
            assert_eq!(c.issuer().iter().count(), 0, "empty issuer");
            assert_eq!(
                c.signature_algorithm.algorithm,
                x509_parser::oid_registry::OID_PKCS1_SHA256WITHRSA
            );
            let nb = c.validity().not_before.timestamp();
            let na = c.validity().not_after.timestamp();
            assert!(
                nb <= now - 50 && nb >= now - 120,
                "not_before about a minute ago"
            );
            assert!(na - now > 10 * 365 * 24 * 3600 - 120, "valid ten years");
            signed_by(c, &root);
        }

        let bc = root.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && bc.value.ca);
        for c in [&host, &dev] {
            let bc = c.basic_constraints().unwrap().unwrap();
            assert!(bc.critical && !bc.value.ca);
            let ku = c.key_usage().unwrap().unwrap();
            assert!(ku.critical);
            assert!(ku.value.digital_signature() && ku.value.key_encipherment());
            assert!(!ku.value.key_cert_sign());
            assert!(c.extensions().iter().any(|e| matches!(
                e.parsed_extension(),
                ParsedExtension::SubjectKeyIdentifier(_)
            )));
        }
        // The device certificate carries the phone's own key.
        use rsa::pkcs8::EncodePublicKey;
        let device_spki = device.to_public_key().to_public_key_der().unwrap();
        assert_eq!(dev.public_key().raw, device_spki.as_bytes());
        assert_ne!(host.public_key().raw, dev.public_key().raw);
    }

    fn pairing_ders() -> [(&'static str, Vec<u8>); 3] {
        let device = generate_rsa_key(RSA_BITS).unwrap();
        let device_pem = public_key_pkcs1_pem(&device.to_public_key()).unwrap();
        let certs = generate(device_pem.as_bytes()).unwrap();
        [
            ("root", parse(&certs.root_certificate)),
            ("host", parse(&certs.host_certificate)),
            ("device", parse(&certs.device_certificate)),
        ]
    }

    #[test]
    fn every_generated_certificate_is_strict_der() {
        for (what, der) in pairing_ders() {
            super::strict_der::check_certificate(&der)
                .unwrap_or_else(|e| panic!("{what} certificate is not DER: {e}"));
        }
    }

    /// The end-entity extensions are byte for byte what OpenSSL writes for limd.
    #[test]
    fn end_entity_extensions_are_the_openssl_bytes() {
        let [_, (_, host), (_, device)] = pairing_ders();
        for der in [host, device] {
            let (_, c) = X509Certificate::from_der(&der).unwrap();
            let value = |oid: &x509_parser::oid_registry::Oid<'_>| {
                c.extensions().iter().find(|e| &e.oid == oid).unwrap().value
            };
            use x509_parser::oid_registry::{
                OID_X509_EXT_BASIC_CONSTRAINTS, OID_X509_EXT_KEY_USAGE,
            };
            assert_eq!(value(&OID_X509_EXT_BASIC_CONSTRAINTS), [0x30, 0x00]);
            assert_eq!(value(&OID_X509_EXT_KEY_USAGE), [0x03, 0x02, 0x05, 0xa0]);
        }
    }

    /// The check catches what rcgen writes on its own for a non-CA (the old certificates).
    #[test]
    fn strict_der_check_rejects_rcgen_explicit_no_ca() {
        let key = rcgen_key(&generate_rsa_key(RSA_BITS).unwrap()).unwrap();
        let mut params = base_params();
        params.is_ca = IsCa::ExplicitNoCa;
        let cert = params.self_signed(&key).unwrap();
        let err = super::strict_der::check_certificate(cert.der()).unwrap_err();
        assert!(err.contains("cA FALSE"), "{err}");
        let mut params = base_params();
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
        ];
        // rcgen writes no extensions at all for key usages alone.
        params.use_authority_key_identifier_extension = true;
        let cert = params.self_signed(&key).unwrap();
        let err = super::strict_der::check_certificate(cert.der()).unwrap_err();
        assert!(err.contains("KeyUsage"), "{err}");
    }

    #[test]
    fn garbage_device_key_is_a_typed_error() {
        assert!(matches!(
            generate(b"-----BEGIN RSA PUBLIC KEY-----\nAAAA\n"),
            Err(CertError::DevicePublicKey(_))
        ));
        assert!(matches!(
            parse_device_public_key(&[0xff, 0xfe]),
            Err(CertError::DevicePublicKey(_))
        ));
    }
}
