//! The real binaries against a hostile simulated phone (`iphone-mock serve --fault-…`).

mod common;

use common::{MockServer, PeerHome, peer_env, run_peer};
use iphone_import::cli::exit;

#[test]
fn info_survives_a_getvalue_reply_nested_20000_deep() {
    let server = MockServer::start_with_args(&["--fault-deep-getvalue", "20000"]);
    let home = PeerHome::new();
    let env = peer_env(&server, &home);
    let ours = std::path::Path::new(env!("CARGO_BIN_EXE_iphone-import"));
    let out = run_peer(ours, &["--transport", "usbmuxd", "info"], &env);
    // Before: the process was killed by a stack overflow (SIGABRT, no exit code).
    assert_eq!(
        out.status.code(),
        Some(i32::from(exit::ERROR)),
        "stdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stderr.contains("deeper than 32 levels"),
        "{}",
        out.stderr
    );
}
