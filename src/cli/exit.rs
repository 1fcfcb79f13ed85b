//! Exit codes scripts can act on (documented in docs/scripting.md).

use std::process::ExitCode;

/// Everything worked.
pub const OK: u8 = 0;
/// Something failed; the message says what.
pub const ERROR: u8 = 1;
/// The command line was wrong (clap's own code).
pub const USAGE: u8 = 2;
/// Some items could not be copied (e.g. originals only in iCloud); the rest were.
pub const PARTIAL: u8 = 3;
/// No phone was found.
pub const NO_DEVICE: u8 = 4;
/// The phone is locked, or has not trusted this computer.
pub(crate) const NOT_TRUSTED: u8 = 5;
/// `verify`: the archive is intact, but items on the phone are in no archive yet (run pull).
pub const AT_RISK: u8 = 6;
/// `verify`: archived files are missing or changed (takes precedence over [`AT_RISK`]).
pub const DAMAGED: u8 = 7;
/// The phone (or usbmuxd) stopped answering for `--io-timeout` seconds; unplug and replug it.
pub const STALLED: u8 = 8;

/// Stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub(crate) const INTERRUPTED: u8 = 130;

/// The process exit code for one of the codes above.
pub fn code(c: u8) -> ExitCode {
    ExitCode::from(c)
}
