//! Unit tests of the simulated lockdownd: requests out of order or incomplete, pairing and
//! sessions through `handle`, and the device values it reports.

use super::device_values::{bluetooth_address, initial_domains};
use super::state::Connection;
use super::*;
use plist::Value;

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
