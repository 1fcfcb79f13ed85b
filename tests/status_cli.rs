//! `iphone-import --demo status [DEST] --json`: every figure against the generated library's
//! truth, and the DEST figures before and after a pull.

mod common;

use std::collections::HashSet;
use std::process::{Command, Output, Stdio};

use chrono::{DateTime, Utc};
use common::PeerHome;
use iphone_import::import::backup_figures::days_until;
use iphone_import::mock::library::{self, AssetKind, CloudState, LibraryOptions, LibraryTruth};
use iphone_import::mock::phone::PhoneIdentity;

fn import(home: &PeerHome, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_iphone-import"))
        .arg("--demo")
        .args(args)
        .envs(home.env())
        .stdin(Stdio::null())
        .output()
        .expect("run iphone-import")
}

fn status_json(home: &PeerHome, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["status", "--json"];
    args.extend_from_slice(extra);
    let out = import(home, &args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status --json")
}

fn n(v: &serde_json::Value) -> usize {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}")) as usize
}

fn demo() -> (tempfile::TempDir, LibraryTruth) {
    let dir = tempfile::tempdir().unwrap();
    let truth = library::generate(dir.path(), &LibraryOptions::demo()).unwrap();
    (dir, truth)
}

#[test]
fn status_figures_match_the_truth() {
    let (root, truth) = demo();
    let home = PeerHome::new();
    let before = Utc::now();
    let v = status_json(&home, &[]);
    let after = Utc::now();

    // Who the phone is comes from lockdown: the simulated phone's identity.
    let id = PhoneIdentity::default();
    assert_eq!(v["phone"]["udid"], id.udid.as_str());
    assert_eq!(v["phone"]["ios_version"], id.product_version.as_str());
    assert_eq!(v["phone"]["name"], id.device_name.as_str());
    assert!(v["phone"]["model"].as_str().is_some_and(|s| !s.is_empty()));

    let l = &v["library"];
    let a = &truth.assets;
    assert_eq!(n(&l["items"]), a.len());
    let videos = a.iter().filter(|x| x.kind == AssetKind::Video).count();
    assert_eq!(n(&l["videos"]), videos);
    assert_eq!(n(&l["photos"]), a.len() - videos);
    let files: Vec<&str> = a
        .iter()
        .flat_map(|x| [Some(&x.original), x.live_video.as_ref(), x.aae.as_ref()])
        .flatten()
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(n(&l["files"]), files.len());
    let bytes: u64 = files
        .iter()
        .map(|p| std::fs::metadata(root.path().join(p)).unwrap().len())
        .sum();
    assert_eq!(l["bytes"].as_u64().unwrap(), bytes);
    assert_eq!(n(&l["files_not_sized"]), 0);
    assert_eq!(l["database_read"], true);

    let count = |f: &dyn Fn(&library::AssetTruth) -> bool| a.iter().filter(|x| f(x)).count();
    assert_eq!(n(&v["icloud_only"]), count(&|x| x.icloud_only));
    let lost = count(&|x| x.original_missing);
    assert!(lost > 0, "the demo library has missing originals");
    assert_eq!(n(&v["original_missing"]), lost);
    let pending = count(&|x| x.cloud_state == CloudState::PendingUpload);
    assert!(pending > 0, "the demo library has items waiting for upload");
    assert_eq!(n(&v["upload_pending"]), pending);
    assert_eq!(n(&v["only_copy_on_phone"]), pending);
    assert_eq!(n(&v["hidden"]), count(&|x| x.hidden));
    let shared_albums: HashSet<&str> = truth
        .albums
        .iter()
        .filter(|al| al.kind == 1505)
        .map(|al| al.uuid.as_str())
        .collect();
    assert_eq!(
        n(&v["shared"]),
        count(&|x| x.albums.iter().any(|u| shared_albums.contains(u.as_str())))
    );

    let rd = &v["recently_deleted"];
    assert_eq!(n(&rd["items"]), count(&|x| x.trashed));
    let purge = a.iter().filter_map(|x| x.purge_unix).min().expect("trash");
    let got: DateTime<chrono::FixedOffset> =
        DateTime::parse_from_rfc3339(rd["earliest_purge"].as_str().unwrap()).unwrap();
    assert_eq!(got.timestamp(), purge);
    let days = rd["days_until_earliest_purge"].as_i64().unwrap();
    assert!(
        days == days_until(got, before) || days == days_until(got, after),
        "{days}"
    );
    assert!(v["dest"].is_null());

    // The words say the same things.
    let out = import(&home, &["status"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "{} items only in iCloud",
            count(&|x| x.icloud_only)
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("{pending} items not yet uploaded to iCloud")),
        "{text}"
    );
    // Missing originals are not called iCloud-only, and get no download advice.
    let missing_line = text
        .lines()
        .find(|l| l.contains("the original is neither on this phone nor in iCloud"))
        .unwrap_or_else(|| panic!("no missing-originals line in {text}"));
    assert!(
        missing_line.starts_with(&format!("{lost} item")),
        "{missing_line}"
    );
    assert!(
        missing_line.contains("cannot bring it back"),
        "{missing_line}"
    );
    assert!(
        text.contains(&format!(
            "{} items in Recently Deleted",
            count(&|x| x.trashed)
        )),
        "{text}"
    );
}

#[test]
fn status_with_dest_counts_what_is_not_there_before_and_after_a_pull() {
    let (_root, truth) = demo();
    let home = PeerHome::new();
    let dest = home.path().join("photos");
    let d = dest.to_str().unwrap();

    let v = status_json(&home, &[d]);
    let s = &v["dest"];
    assert_eq!(s["ledger_found"], false);
    assert_eq!(n(&s["items_not_in_dest"]), truth.assets.len());
    assert!(s["last_received"].is_null());
    assert!(!dest.exists(), "status must not create DEST");

    let start = Utc::now();
    let out = import(&home, &["pull", d]);
    // The iCloud-only originals cannot be read: a partial run.
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let end = Utc::now();

    let v = status_json(&home, &[d]);
    let s = &v["dest"];
    let a = &truth.assets;
    assert_eq!(s["ledger_found"], true);
    // What a default pull leaves behind: Recently Deleted and iCloud-only items.
    let left = a
        .iter()
        .filter(|x| x.trashed || x.icloud_only || x.original_missing)
        .count();
    assert_eq!(n(&s["items_not_in_dest"]), left);
    assert_eq!(
        n(&s["not_in_dest_recently_deleted"]),
        a.iter().filter(|x| x.trashed).count()
    );
    assert_eq!(
        n(&s["not_in_dest_icloud_only"]),
        a.iter().filter(|x| x.icloud_only).count()
    );
    assert_eq!(
        n(&s["not_in_dest_original_missing"]),
        a.iter().filter(|x| x.original_missing).count()
    );
    let last: DateTime<Utc> = s["last_received"].as_str().unwrap().parse().unwrap();
    // Recorded in nanoseconds; compared at second precision (the clock is the same).
    assert!(
        last.timestamp() >= start.timestamp() && last.timestamp() <= end.timestamp(),
        "{last} not within {start}..{end}"
    );

    let out = import(&home, &["status", d]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{left} items on this phone not yet in")),
        "{text}"
    );
    assert!(
        text.contains("last received a file from this phone"),
        "{text}"
    );
}
