//! `iphone-mock`: serve or generate the simulated iPhone.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "iphone-mock", about = "A simulated iPhone for tests and demos")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Be a USB device (Linux USB gadget: configfs + FunctionFS; needs root and a UDC).
    #[cfg(feature = "gadget")]
    Gadget(super::gadget::GadgetArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        #[cfg(feature = "gadget")]
        Command::Gadget(args) => super::gadget::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("iphone-mock: {e:#}");
            ExitCode::FAILURE
        }
    }
}
