//! Lockdown requests and replies (protocol.md §4, §5.1), as plist dictionaries, host side.
//! Requests carry `Label`; replies echo `Request`; failure is an `Error` string.

// missing_docs: pub for the fuzz targets and protocol tests; fields and variants carry the wire format's names.
#![allow(missing_docs)]

use plist::{Dictionary, Value};

use super::error::{DeviceError, LockdownError};

/// Protocol version every current client sends with Pair and Unpair.
pub(crate) const PROTOCOL_VERSION: &str = "2";
#[cfg(feature = "mock")]
/// QueryType's answer from a lockdownd (as opposed to a restore-mode service).
pub(crate) const LOCKDOWN_TYPE: &str = "com.apple.mobile.lockdown";

fn request(name: &str, label: &str) -> Dictionary {
    let mut d = Dictionary::new();
    d.insert("Label".into(), label.into());
    d.insert("Request".into(), name.into());
    d
}

pub fn query_type(label: &str) -> Dictionary {
    request("QueryType", label)
}

/// GetValue; no key = the whole dictionary of the domain.
pub fn get_value(label: &str, domain: Option<&str>, key: Option<&str>) -> Dictionary {
    let mut d = request("GetValue", label);
    if let Some(domain) = domain {
        d.insert("Domain".into(), domain.into());
    }
    if let Some(key) = key {
        d.insert("Key".into(), key.into());
    }
    d
}

/// Pair with the record's public parts (limd shape; HostName as pymobiledevice3 adds it).
pub fn pair(label: &str, pair_record: Dictionary, host_name: Option<&str>) -> Dictionary {
    let mut d = request("Pair", label);
    d.insert("PairRecord".into(), Value::Dictionary(pair_record));
    d.insert("ProtocolVersion".into(), PROTOCOL_VERSION.into());
    let mut options = Dictionary::new();
    options.insert("ExtendedPairingErrors".into(), true.into());
    d.insert("PairingOptions".into(), Value::Dictionary(options));
    if let Some(name) = host_name {
        d.insert("HostName".into(), name.into());
    }
    d
}

pub fn unpair(label: &str, pair_record: Dictionary) -> Dictionary {
    let mut d = request("Unpair", label);
    d.insert("PairRecord".into(), Value::Dictionary(pair_record));
    d.insert("ProtocolVersion".into(), PROTOCOL_VERSION.into());
    d
}

pub fn start_session(label: &str, host_id: &str, system_buid: &str) -> Dictionary {
    let mut d = request("StartSession", label);
    d.insert("HostID".into(), host_id.into());
    d.insert("SystemBUID".into(), system_buid.into());
    d
}

pub fn stop_session(label: &str, session_id: &str) -> Dictionary {
    let mut d = request("StopSession", label);
    d.insert("SessionID".into(), session_id.into());
    d
}

pub fn start_service(label: &str, service: &str, escrow_bag: Option<&[u8]>) -> Dictionary {
    let mut d = request("StartService", label);
    d.insert("Service".into(), service.into());
    if let Some(bag) = escrow_bag {
        d.insert("EscrowBag".into(), Value::Data(bag.to_vec()));
    }
    d
}

/// Check a reply to `request`: an `Error` becomes `LockdownError::Device`, a reply to some other
/// request a protocol error. iOS 5+ omits `Result`; older phones send `Result: Failure` with Error.
pub fn check_reply(reply: Dictionary, request: &str) -> Result<Dictionary, LockdownError> {
    if let Some(err) = reply.get("Error") {
        let text = err.as_string().unwrap_or("(non-string Error)");
        return Err(LockdownError::Device {
            request: request.into(),
            error: DeviceError::from_wire(text),
        });
    }
    match reply.get("Request").and_then(Value::as_string) {
        Some(r) if r != request => Err(LockdownError::Protocol {
            request: request.into(),
            detail: format!("the reply is for {r}"),
        }),
        _ => {
            if reply.get("Result").and_then(Value::as_string) == Some("Failure") {
                return Err(LockdownError::Device {
                    request: request.into(),
                    error: DeviceError::Other("Failure".into()),
                });
            }
            Ok(reply)
        }
    }
}

/// A required string field of a reply.
pub fn reply_string(reply: &Dictionary, request: &str, key: &str) -> Result<String, LockdownError> {
    reply
        .get(key)
        .and_then(Value::as_string)
        .map(str::to_string)
        .ok_or_else(|| LockdownError::Protocol {
            request: request.into(),
            detail: format!("no {key} string in the reply"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(pairs: &[(&str, Value)]) -> Dictionary {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn errors_and_mismatches_are_typed() {
        let r = reply(&[
            ("Request", "Pair".into()),
            ("Error", "PairingDialogResponsePending".into()),
        ]);
        match check_reply(r, "Pair") {
            Err(LockdownError::Device {
                error: DeviceError::PairingDialogResponsePending,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        let r = reply(&[("Request", "GetValue".into())]);
        assert!(matches!(
            check_reply(r, "StartSession"),
            Err(LockdownError::Protocol { .. })
        ));
        let r = reply(&[("Request", "Pair".into()), ("Result", "Failure".into())]);
        assert!(matches!(
            check_reply(r, "Pair"),
            Err(LockdownError::Device { .. })
        ));
        let r = reply(&[
            ("Request", "QueryType".into()),
            ("Type", LOCKDOWN_TYPE.into()),
        ]);
        assert_eq!(
            reply_string(&check_reply(r, "QueryType").unwrap(), "QueryType", "Type").unwrap(),
            LOCKDOWN_TYPE
        );
    }

    #[test]
    fn pair_request_has_the_limd_shape() {
        let mut rec = Dictionary::new();
        rec.insert("HostID".into(), "H".into());
        let d = pair("iphone-import", rec, Some("box"));
        assert_eq!(d.get("Request").unwrap().as_string(), Some("Pair"));
        assert_eq!(d.get("ProtocolVersion").unwrap().as_string(), Some("2"));
        let opts = d.get("PairingOptions").unwrap().as_dictionary().unwrap();
        assert_eq!(
            opts.get("ExtendedPairingErrors"),
            Some(&Value::Boolean(true))
        );
        assert_eq!(d.get("HostName").unwrap().as_string(), Some("box"));
    }
}
