//! A phone that starts only a few instances of its file service (StartService answers
//! ServiceLimit beyond, as a real phone limits a service's instances): `pull --jobs` above the
//! limit copies everything over the connections it got and says how many that was.

mod common;

use std::path::Path;

use common::{MockServer, PeerHome, peer_env, run_peer};
use iphone_import::cli::exit;

#[test]
fn pull_with_more_jobs_than_the_phone_gives_copies_all_and_says_how_many_it_got() {
    let server = MockServer::start_with_args(&["--service-limit", "2"]);
    let home = PeerHome::new();
    let env = peer_env(&server, &home);
    let ours = Path::new(env!("CARGO_BIN_EXE_iphone-import"));
    let dest = tempfile::tempdir().unwrap();
    let dest = dest.path().join("dest");
    let dest_arg = dest.to_str().unwrap();
    let args = [
        "--transport",
        "usbmuxd",
        "pull",
        "--jobs",
        "6",
        "--json",
        dest_arg,
    ];
    let out = run_peer(ours, &args, &env);
    // The demo library has iCloud-only and missing originals: a partial run, not an error.
    assert_eq!(
        out.status.code(),
        Some(i32::from(exit::PARTIAL)),
        "stdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stderr.contains("of the 6 connections asked for")
            && out.stderr.contains("ServiceLimit"),
        "{}",
        out.stderr
    );
    // Every file the phone could give is in DEST: a re-run has nothing left to copy.
    let again = run_peer(ours, &args, &env);
    let copied = again
        .stdout
        .lines()
        .filter(|l| l.contains("\"event\":\"copied\""))
        .count();
    assert_eq!(copied, 0, "{}", again.stdout);
    assert!(
        again.stdout.contains("\"files_copied\":0"),
        "{}",
        again.stdout
    );
}
