//! A phone that starts only a few instances of its file service (StartService answers
//! ServiceLimit beyond, as a real phone limits a service's instances): `pull --jobs` above the
//! limit copies everything over the connections it got and says how many that was; a phone
//! that gives none stops the run with what to do.

mod common;

use std::path::Path;

use common::{MockServer, PeerHome, PeerOutput, peer_env, run_peer};
use iphone_import::cli::exit;

/// Runs `pull ARGS… DEST` (twice with `twice`) against a phone that starts at most `limit`
/// AFC connections at once.
fn pull_on(limit: &str, args: &[&str], twice: bool) -> Vec<PeerOutput> {
    let server = MockServer::start_with_args(&["--service-limit", limit]);
    let home = PeerHome::new();
    let env = peer_env(&server, &home);
    let ours = Path::new(env!("CARGO_BIN_EXE_iphone-import"));
    let dest = tempfile::tempdir().unwrap();
    let dest = dest.path().join("dest");
    let mut argv = vec!["--transport", "usbmuxd", "pull"];
    argv.extend_from_slice(args);
    argv.push(dest.to_str().unwrap());
    let runs = if twice { 2 } else { 1 };
    (0..runs).map(|_| run_peer(ours, &argv, &env)).collect()
}

#[test]
fn pull_with_more_jobs_than_the_phone_gives_copies_all_and_says_how_many_it_got() {
    let outs = pull_on("2", &["--jobs", "6", "--json"], true);
    let out = &outs[0];
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
    let again = &outs[1];
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

#[test]
fn a_phone_that_gives_no_connection_says_what_to_do() {
    let out = &pull_on("0", &[], false)[0];
    assert_eq!(
        out.status.code(),
        Some(i32::from(exit::ERROR)),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("ServiceLimit") && out.stderr.contains("quit other programs"),
        "{}",
        out.stderr
    );
}
