//! The command line: clap commands, progress, JSON output.

use std::process::ExitCode;

pub fn main() -> ExitCode {
    eprintln!("iphone-import: no commands yet");
    ExitCode::from(2)
}
