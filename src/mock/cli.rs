//! `iphone-mock`: serve or generate the simulated iPhone.

use std::process::ExitCode;

pub fn main() -> ExitCode {
    eprintln!("iphone-mock: no commands yet");
    ExitCode::from(2)
}
