//! Real AFC clients against the simulated iPhone behind `iphone-mock serve --library DIR`:
//! pymobiledevice3 `afc ls -r` and `afc pull`, and an ifuse mount copied with `cp -r`. The trees
//! they produce must be byte-identical to the generated library (iCloud-only placeholders aside,
//! whose reads fail as on a real phone). Missing peers print `SKIP:` (fail with REQUIRE_INTEROP=1).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{MockServer, PeerHome, peer, peer_env, run_peer, run_peer_in};
use iphone_import::mock::library::{LibraryOptions, generate, read_placeholders};

/// A small generated library (every special case, few bytes) and a server over it.
fn served_library() -> (tempfile::TempDir, PathBuf, MockServer) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Media");
    let options = LibraryOptions {
        photos: 14,
        videos: 3,
        seed: 77,
        ..LibraryOptions::demo()
    };
    generate(&root, &options).expect("generate library");
    let server = MockServer::start_with_args(&["--library", root.to_str().unwrap()]);
    (dir, root, server)
}

/// Every regular file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                out.insert(
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out
}

/// The DCIM files a client must be able to read, and the placeholders it must not.
fn dcim_expectations(root: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let placeholders: BTreeSet<String> = read_placeholders(root)
        .unwrap()
        .into_iter()
        .filter_map(|p| p.strip_prefix("DCIM/").map(str::to_string))
        .collect();
    let readable = files_under(&root.join("DCIM"))
        .into_iter()
        .filter(|p| !placeholders.contains(p))
        .collect();
    (readable, placeholders)
}

/// Every readable file was copied byte-exact; no placeholder produced a complete copy.
fn assert_copied(root: &Path, copy: &Path, what: &str) {
    let (readable, placeholders) = dcim_expectations(root);
    assert!(
        !readable.is_empty() && !placeholders.is_empty(),
        "library has both kinds"
    );
    for rel in &readable {
        let want = std::fs::read(root.join("DCIM").join(rel)).unwrap();
        let got = std::fs::read(copy.join(rel))
            .unwrap_or_else(|e| panic!("{what}: {rel} missing from the copy: {e}"));
        assert!(
            got == want,
            "{what}: {rel} differs ({} vs {} bytes)",
            got.len(),
            want.len()
        );
    }
    for rel in &placeholders {
        let want = std::fs::metadata(root.join("DCIM").join(rel))
            .unwrap()
            .len();
        let got = std::fs::metadata(copy.join(rel))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(got < want, "{what}: iCloud-only {rel} was read in full");
    }
}

#[test]
fn pymobiledevice3_afc_ls_lists_the_whole_dcim_tree() {
    let Some(pmd3) = peer("pymobiledevice3") else {
        return;
    };
    let (_dir, root, server) = served_library();
    let home = PeerHome::new();
    let out = run_peer(
        &pmd3,
        &["afc", "ls", "-r", "/DCIM"],
        &peer_env(&server, &home),
    );
    out.assert_success("pymobiledevice3 afc ls -r /DCIM");
    let listed: BTreeSet<String> = out
        .stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("/DCIM/").map(str::to_string))
        .collect();
    for rel in files_under(&root.join("DCIM")) {
        assert!(listed.contains(&rel), "{rel} not listed:\n{}", out.stdout);
    }
    assert!(listed.contains("100APPLE"), "folders listed too");
}

#[test]
fn pymobiledevice3_afc_pull_is_byte_identical() {
    let Some(pmd3) = peer("pymobiledevice3") else {
        return;
    };
    let (dir, root, server) = served_library();
    let home = PeerHome::new();
    let out_dir = dir.path().join("pulled");
    std::fs::create_dir_all(&out_dir).unwrap();
    // -i: keep going past the iCloud-only placeholders, whose reads fail.
    let out = run_peer(
        &pmd3,
        &["afc", "pull", "-i", "/DCIM", out_dir.to_str().unwrap()],
        &peer_env(&server, &home),
    );
    assert!(out.status.code() != Some(124), "timed out: {}", out.stderr);
    assert_copied(&root, &out_dir.join("DCIM"), "pymobiledevice3 afc pull");
}

#[test]
fn ifuse_mount_and_cp_is_byte_identical() {
    let Some(ifuse) = peer("ifuse") else { return };
    let Some(fusermount) = peer("fusermount") else {
        return;
    };
    if !Path::new("/dev/fuse").exists() {
        let msg = format!("SKIP: {}: /dev/fuse missing", common::test_name());
        assert!(!common::interop_required(), "{msg}");
        eprintln!("*** {msg} ***");
        return;
    }
    let (dir, root, server) = served_library();
    let home = PeerHome::new();
    let env = peer_env(&server, &home);
    let mnt = dir.path().join("mnt");
    let copy = dir.path().join("copy");
    std::fs::create_dir_all(&mnt).unwrap();
    run_peer(&ifuse, &[mnt.to_str().unwrap()], &env).assert_success("ifuse mount");
    // cp reports the placeholders' EIO and exits non-zero; the other files must all be there.
    let cp = run_peer_in(
        Path::new("/bin/cp"),
        &[
            "-r",
            mnt.join("DCIM").to_str().unwrap(),
            copy.to_str().unwrap(),
        ],
        &env,
        None,
    );
    let unmount = run_peer(&fusermount, &["-u", mnt.to_str().unwrap()], &env);
    assert!(cp.status.code() != Some(124), "cp timed out: {}", cp.stderr);
    unmount.assert_success("fusermount -u");
    assert!(
        cp.stderr.contains("Input/output error"),
        "placeholders fail with EIO through ifuse: {}",
        cp.stderr
    );
    assert_copied(&root, &copy, "ifuse + cp -r");
}
