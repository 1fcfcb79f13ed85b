//! Several phones at once: `iphone-mock serve --phones 3` behind one usbmuxd socket, each with its
//! own UDID and differently seeded library in `<libraries>/<UDID>/`; `iphone-import watch` with
//! `{udid}` in DEST imports all three concurrently, each DEST byte-exact with its own phone, and
//! a phone that stalls costs that phone only.

mod common;

use std::collections::BTreeMap;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use std::time::Duration;

use common::{MockServer, PeerHome};
use iphone_import::mock::library::read_truth;

/// The longest any single step may take before the test gives up (not a timing assertion).
const STEP: Duration = Duration::from_secs(180);
/// The phone's own tree, so a copy compares 1:1 with its DCIM.
const LAYOUT: &str = "{dcim_folder}/{name}";

fn start_mock(libraries: &Path, extra: &[&str]) -> MockServer {
    let mut args = vec!["--phones", "3", "--libraries", libraries.to_str().unwrap()];
    args.extend_from_slice(extra);
    MockServer::start_with_args(&args)
}

/// Every file under `root` (relative path → bytes), leaving out `skip` (a folder name).
fn files(root: &Path, skip: &str) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_name() == skip {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

/// What a complete copy of one phone holds with `--layout {dcim_folder}/{name}`: its DCIM,
/// less the originals that are only in iCloud (their reads fail).
fn expected_copy(library: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let truth = read_truth(library).unwrap();
    let mut want = files(&library.join("DCIM"), "");
    for p in &truth.placeholders {
        want.remove(Path::new(p.strip_prefix("DCIM/").unwrap_or(p)));
    }
    assert!(!want.is_empty());
    want
}

/// The phones' UDIDs: the folders `serve --libraries` made.
fn udids(libraries: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(libraries)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs watch until every phone reported its import; returns each phone's report line, then
/// stops watch with SIGTERM and checks it exits 0.
fn watch_until_reported(
    mock: &MockServer,
    dest: &Path,
    phones: &[String],
    layout: &str,
    env: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let home = PeerHome::new();
    let mut watch = Command::new(env!("CARGO_BIN_EXE_iphone-import"))
        .args([
            "--transport",
            "usbmuxd",
            "watch",
            "--no-notify",
            "--include-trashed",
        ])
        .args(["--layout", layout])
        .arg(dest)
        .envs(home.env())
        .envs(env.iter().copied())
        .envs(mock.env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = common::stderr_lines(&mut watch, "watch");
    let mut reports = BTreeMap::new();
    let mut seen = Vec::new();
    while reports.len() < phones.len() {
        let line = lines
            .recv_timeout(STEP)
            .unwrap_or_else(|_| panic!("not every phone reported; watch said: {seen:#?}"));
        seen.push(line.clone());
        for udid in phones {
            if line.starts_with(&format!("{udid}: import ")) {
                reports.insert(udid.clone(), line.clone());
            }
        }
    }
    let ok = Command::new("kill")
        .args(["-TERM", &watch.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = common::wait_exit_within(&mut watch, STEP);
    assert_eq!(status, Some(0), "watch said: {seen:#?}");
    reports
}

#[test]
fn watch_imports_three_phones_each_into_its_own_dest() {
    let dir = tempfile::tempdir().unwrap();
    let libraries = dir.path().join("phones");
    let mock = start_mock(&libraries, &[]);
    let phones = udids(&libraries);
    assert_eq!(phones.len(), 3, "{phones:?}");
    let dest = dir.path().join("dest-{udid}");
    let reports = watch_until_reported(&mock, &dest, &phones, LAYOUT, &[]);
    let mut copies = Vec::new();
    for udid in &phones {
        assert!(!reports[udid].contains("failed"), "{}", reports[udid]);
        let want = expected_copy(&libraries.join(udid));
        let got = files(&dir.path().join(format!("dest-{udid}")), ".iphone-import");
        assert!(
            got == want,
            "{udid}: the copy differs from its phone's library"
        );
        copies.push(got);
    }
    assert!(
        copies[0] != copies[1] && copies[1] != copies[2],
        "each phone has its own library"
    );
}

#[test]
fn a_stalled_phone_does_not_stop_the_other_two() {
    let dir = tempfile::tempdir().unwrap();
    let libraries = dir.path().join("phones");
    let mock = start_mock(
        &libraries,
        &["--fault-phone", "2", "--stall", "afc-after:12"],
    );
    let phones = udids(&libraries);
    let dest = dir.path().join("dest-{udid}");
    let reports = watch_until_reported(
        &mock,
        &dest,
        &phones,
        LAYOUT,
        &[("IPHONE_IMPORT_IO_TIMEOUT", "1")],
    );
    // Phone 2 is the first phone's UDID counted up by one: the second folder in order.
    let stalled = &phones[1];
    assert!(reports[stalled].contains("failed"), "{}", reports[stalled]);
    for udid in [&phones[0], &phones[2]] {
        assert!(!reports[udid].contains("failed"), "{}", reports[udid]);
        let got = files(&dir.path().join(format!("dest-{udid}")), ".iphone-import");
        assert!(
            got == expected_copy(&libraries.join(udid)),
            "{udid}: incomplete copy"
        );
    }
}

#[test]
fn phones_sharing_one_dest_take_turns_and_each_lands_in_its_device_folder() {
    let dir = tempfile::tempdir().unwrap();
    let libraries = dir.path().join("phones");
    let mock = start_mock(&libraries, &[]);
    let phones = udids(&libraries);
    let dest = dir.path().join("dest");
    let layout = "{device}/{dcim_folder}/{name}";
    let reports = watch_until_reported(&mock, &dest, &phones, layout, &[]);
    // In UDID order the phones are the first, second and third that serve names.
    let names = [
        "Simulated iPhone",
        "Simulated iPhone 2",
        "Simulated iPhone 3",
    ];
    for (udid, name) in phones.iter().zip(names) {
        assert!(!reports[udid].contains("failed"), "{}", reports[udid]);
        let got = files(&dest.join(name), "");
        assert!(
            got == expected_copy(&libraries.join(udid)),
            "{name}: incomplete copy"
        );
    }
}
