//! One pair record ([`PairRecord`]: what a host keeps after pairing, protocol.md §5.1, §5.3,
//! read from and written as a plist) and [`PairRecordSource`], the interface of a place
//! records live.
//!
//! A leaf of the record modules: it imports neither `records` (the stores in lookup order) nor
//! `record_dir` (a directory of records). `record_dir` reads and writes these records and
//! implements the trait, `records` composes directories and usbmuxd through it; with the
//! record type here neither needs the other's items, so the two form no cycle. `records`
//! re-exports both items, so `lockdown::records::{PairRecord, PairRecordSource}` stay valid.

use futures::future::BoxFuture;
use plist::{Dictionary, Value};

use super::certs::PairingCertificates;
use super::error::RecordError;
use crate::untrusted::plist::{Limits, decode_dict};

/// Largest pair record file we read (real ones are about 8 KiB).
pub(super) const MAX_RECORD_FILE: u64 = 1 << 20;

/// One pairing between this computer and one phone. Certificates and keys are PEM bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct PairRecord {
    /// `DeviceCertificate`: the phone's certificate, signed by our root at pairing.
    pub device_certificate: Vec<u8>,
    /// `HostCertificate`: this computer's certificate, shown in TLS sessions.
    pub host_certificate: Vec<u8>,
    /// `HostPrivateKey`: the key of the host certificate.
    pub host_private_key: Vec<u8>,
    /// `RootCertificate`: the root that signed both certificates.
    pub root_certificate: Vec<u8>,
    /// `RootPrivateKey`: the root's key.
    pub root_private_key: Vec<u8>,
    /// `HostID`: how the phone names this computer in its trust list.
    pub host_id: String,
    /// `SystemBUID`: the pairing host's system identifier.
    pub system_buid: String,
    /// `EscrowBag`: the escrow keybag the phone gave this host at pairing, kept as given.
    pub escrow_bag: Option<Vec<u8>>,
    /// `WiFiMACAddress`: the phone's Wi-Fi address, when it gave one.
    pub wifi_mac_address: Option<String>,
    /// Keys written by other tools, kept so saving the record does not lose them.
    pub extra: Dictionary,
}

const KNOWN_KEYS: &[&str] = &[
    "DeviceCertificate",
    "HostCertificate",
    "HostPrivateKey",
    "RootCertificate",
    "RootPrivateKey",
    "HostID",
    "SystemBUID",
    "EscrowBag",
    "WiFiMACAddress",
];

/// PEM material may be stored as `<data>` (usbmuxd, limd) or as a string.
fn bytes_of(dict: &Dictionary, key: &'static str, what: &str) -> Result<Vec<u8>, RecordError> {
    match dict.get(key) {
        Some(Value::Data(d)) => Ok(d.clone()),
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(_) => Err(RecordError::Parse {
            what: what.into(),
            detail: format!("{key} is neither data nor a string"),
        }),
        None => Err(RecordError::MissingKey {
            what: what.into(),
            key,
        }),
    }
}

fn string_of(dict: &Dictionary, key: &'static str, what: &str) -> Result<String, RecordError> {
    match dict.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(RecordError::Parse {
            what: what.into(),
            detail: format!("{key} is not a string"),
        }),
        None => Err(RecordError::MissingKey {
            what: what.into(),
            key,
        }),
    }
}

impl PairRecord {
    /// A record from freshly generated certificates and the phone's answers.
    pub fn new(
        certs: PairingCertificates,
        host_id: String,
        system_buid: String,
        wifi_mac_address: Option<String>,
    ) -> PairRecord {
        PairRecord {
            device_certificate: certs.device_certificate,
            host_certificate: certs.host_certificate,
            host_private_key: certs.host_private_key,
            root_certificate: certs.root_certificate,
            root_private_key: certs.root_private_key,
            host_id,
            system_buid,
            escrow_bag: None,
            wifi_mac_address,
            extra: Dictionary::new(),
        }
    }

    /// Read a record dictionary; `what` names it in errors (a path, "usbmuxd record …").
    pub(crate) fn from_dictionary(
        dict: &Dictionary,
        what: &str,
    ) -> Result<PairRecord, RecordError> {
        let escrow_bag = match dict.get("EscrowBag") {
            Some(Value::Data(d)) => Some(d.clone()),
            _ => None,
        };
        let wifi_mac_address = dict
            .get("WiFiMACAddress")
            .and_then(Value::as_string)
            .map(str::to_string);
        let mut extra = dict.clone();
        for k in KNOWN_KEYS {
            extra.remove(k);
        }
        Ok(PairRecord {
            device_certificate: bytes_of(dict, "DeviceCertificate", what)?,
            host_certificate: bytes_of(dict, "HostCertificate", what)?,
            host_private_key: bytes_of(dict, "HostPrivateKey", what)?,
            root_certificate: bytes_of(dict, "RootCertificate", what)?,
            // limd records made before 1.3 may lack it; we never need it for a session.
            root_private_key: bytes_of(dict, "RootPrivateKey", what).unwrap_or_default(),
            host_id: string_of(dict, "HostID", what)?,
            system_buid: string_of(dict, "SystemBUID", what)?,
            escrow_bag,
            wifi_mac_address,
            extra,
        })
    }

    /// Parse a stored record (XML or binary plist).
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<PairRecord, RecordError> {
        match decode_dict(bytes, &Limits::MESSAGE) {
            Ok(d) => PairRecord::from_dictionary(&d, what),
            Err(e) => Err(RecordError::Parse {
                what: what.into(),
                detail: e.to_string(),
            }),
        }
    }

    /// The whole record, as saved (usbmuxd layout, limd 1.3.0 key set).
    pub(crate) fn to_dictionary(&self) -> Dictionary {
        let mut d = self.extra.clone();
        d.insert(
            "DeviceCertificate".into(),
            Value::Data(self.device_certificate.clone()),
        );
        d.insert(
            "HostCertificate".into(),
            Value::Data(self.host_certificate.clone()),
        );
        d.insert(
            "HostPrivateKey".into(),
            Value::Data(self.host_private_key.clone()),
        );
        d.insert(
            "RootCertificate".into(),
            Value::Data(self.root_certificate.clone()),
        );
        if !self.root_private_key.is_empty() {
            d.insert(
                "RootPrivateKey".into(),
                Value::Data(self.root_private_key.clone()),
            );
        }
        d.insert("HostID".into(), self.host_id.clone().into());
        d.insert("SystemBUID".into(), self.system_buid.clone().into());
        if let Some(bag) = &self.escrow_bag {
            d.insert("EscrowBag".into(), Value::Data(bag.clone()));
        }
        if let Some(mac) = &self.wifi_mac_address {
            d.insert("WiFiMACAddress".into(), mac.clone().into());
        }
        d
    }

    /// The record as sent inside a Pair request: the saved record without private keys, escrow
    /// bag or extras (limd sends exactly these).
    pub(crate) fn to_pair_request_dictionary(&self) -> Dictionary {
        const SENT: [&str; 5] = [
            "DeviceCertificate",
            "HostCertificate",
            "RootCertificate",
            "SystemBUID",
            "HostID",
        ];
        let full = self.to_dictionary();
        let mut d = Dictionary::new();
        for key in SENT {
            if let Some(value) = full.get(key) {
                d.insert(key.into(), value.clone());
            }
        }
        d
    }

    /// XML plist bytes, as usbmuxd and /var/lib/lockdown keep them.
    pub(crate) fn to_xml(&self) -> Vec<u8> {
        let mut out = Vec::new();
        plist::to_writer_xml(&mut out, &Value::Dictionary(self.to_dictionary()))
            .expect("plist to memory");
        out
    }
}

/// A place pair records can come from: a directory, or usbmuxd (its ReadPairRecord /
/// SavePairRecord / DeletePairRecord / ReadBUID requests).
pub trait PairRecordSource: Send + Sync {
    /// For messages: "usbmuxd", a directory path.
    fn describe(&self) -> String;
    /// The record for this (dashed) UDID, `None` when there is none.
    fn read<'a>(&'a self, udid: &'a str) -> BoxFuture<'a, Result<Option<PairRecord>, RecordError>>;
    /// Stores `record` for this (dashed) UDID, replacing any earlier one.
    fn save<'a>(
        &'a self,
        udid: &'a str,
        record: &'a PairRecord,
    ) -> BoxFuture<'a, Result<(), RecordError>>;
    /// Removes the record for this (dashed) UDID.
    fn delete<'a>(&'a self, udid: &'a str) -> BoxFuture<'a, Result<(), RecordError>>;
    /// The host's SystemBUID, if this source has one.
    fn system_buid(&self) -> BoxFuture<'_, Result<Option<String>, RecordError>>;
}
