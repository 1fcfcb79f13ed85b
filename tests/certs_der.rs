//! Pairing certificates pass a strict third-party DER parser: Python `cryptography` (≥ 48
//! rejects an encoded DEFAULT with `EncodedDefault`; pymobiledevice3 parses our certificates
//! with it). Skips loudly without Python `cryptography`, fails then under REQUIRE_INTEROP=1.

mod common;

use std::path::PathBuf;
use std::process::Command;

use iphone_import::lockdown::certs::{generate, generate_rsa_key, public_key_pkcs1_pem};

const CHECK: &str = r#"
import sys
from cryptography import x509
for path in sys.argv[1:]:
    cert = x509.load_pem_x509_certificate(open(path, "rb").read())
    # Parsing is lazy: touch every part a TLS peer would read.
    exts = [(e.oid.dotted_string, e.critical, e.value) for e in cert.extensions]
    cert.public_key(); cert.issuer; cert.subject; cert.serial_number
    print(path.rsplit("/", 1)[-1], cert.version.name, [(o, c) for o, c, _ in exts])
"#;

/// A Python with `cryptography`: the project venv first (where pymobiledevice3 lives), then PATH.
fn python_with_cryptography() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python3");
    let candidates = [venv, PathBuf::from("python3")];
    let found = candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import cryptography"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        let msg = format!(
            "SKIP: {}: no Python with the `cryptography` package",
            common::test_name()
        );
        if common::interop_required() {
            panic!("{msg} (REQUIRE_INTEROP=1 makes this a failure)");
        }
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
    }
    found
}

#[test]
fn python_cryptography_parses_every_pairing_certificate() {
    let Some(python) = python_with_cryptography() else {
        return;
    };
    let device = generate_rsa_key(2048).unwrap();
    let device_pem = public_key_pkcs1_pem(&device.to_public_key()).unwrap();
    let certs = generate(device_pem.as_bytes()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (name, pem) in [
        ("root.pem", &certs.root_certificate),
        ("host.pem", &certs.host_certificate),
        ("device.pem", &certs.device_certificate),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        paths.push(path);
    }
    let out = Command::new("timeout")
        .arg(common::PEER_TIMEOUT_SECS.to_string())
        .arg(&python)
        .args(["-c", CHECK])
        .args(&paths)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cryptography rejected a certificate:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
}
