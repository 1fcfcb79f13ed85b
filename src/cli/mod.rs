//! The command line: clap commands, progress, JSON output. `anyhow` lives here and nowhere below.

mod albums;
pub mod args;
pub(crate) mod completions_man;
pub(crate) mod config;
#[cfg(feature = "mock")]
mod demo;
mod devices;
mod error_text;
pub mod exit;
mod info;
mod ls;
mod pairing;
mod printer;
pub mod pull;
mod report_html;
mod session;
mod status;
mod stdout;
pub mod verify;
mod verify_html;
mod watch;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use error_text::error_text;

pub(crate) use args::Cli;

/// Entry point of the `iphone-import` binary.
pub fn main() -> ExitCode {
    // The matches are kept: config precedence needs to know which flags were typed.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_logging(cli.global.verbose, cli.global.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::code(exit::ERROR);
        }
    };
    match runtime.block_on(run(cli, &matches)) {
        Ok(code) => exit::code(code),
        Err(err) if stdout::is_broken_pipe(&err) => exit::code(exit::OK),
        Err(err) => {
            eprintln!("error: {}", error_text(&err));
            exit::code(session::exit_code_for(&err))
        }
    }
}

async fn run(mut cli: Cli, matches: &clap::ArgMatches) -> anyhow::Result<u8> {
    if let Some(secs) = config::io_timeout(matches)? {
        cli.global.io_timeout = secs;
    }
    match &cli.command {
        args::Command::Pull(a) => {
            let mut a = a.clone();
            if let Some(m) = matches.subcommand_matches("pull") {
                config::apply(&mut a, m)?;
            }
            config::require_dest(&a)?;
            pull_cmd(&cli.global, &a).await
        }
        args::Command::Watch(w) => {
            let mut w = w.clone();
            if let Some(m) = matches.subcommand_matches("watch") {
                config::apply(&mut w.pull, m)?;
            }
            watch::run(&cli.global, &w).await
        }
        args::Command::Config(a) => config::run(a.json),
        args::Command::Completions(a) => {
            completions_man::print(&completions_man::completions(a.shell))
        }
        args::Command::Man => completions_man::print(&completions_man::man_page()?),
        args::Command::Devices(a) => devices::run(&cli.global, a).await,
        args::Command::Info(a) => info::run(&cli.global, a).await,
        args::Command::Pair => pairing::pair(&cli.global).await,
        args::Command::Unpair => pairing::unpair(&cli.global).await,
        args::Command::Ls(a) => ls::run(&cli.global, a).await,
        args::Command::Verify(a) => verify_cmd(&cli.global, a).await,
        args::Command::Albums(a) => albums::run(&cli.global, a).await,
        args::Command::Status(a) => status::run(&cli.global, a).await,
    }
}

/// `pull`: a paired session whose StartService gives each of the engine's AFC connections.
async fn pull_cmd(global: &args::GlobalArgs, a: &args::PullArgs) -> anyhow::Result<u8> {
    let session = std::sync::Arc::new(session::PhoneSession::open(global).await?);
    let device = session.pull_device().await;
    let connector = std::sync::Arc::new(session::SessionConnector(session.clone()));
    let result = pull::run_with(connector, &device, a, global.quiet).await;
    session::close_shared(session).await;
    match result {
        Err(e) if pull::is_cancelled(&e) => {
            eprintln!("interrupted: {}", error_text(&e));
            Ok(exit::INTERRUPTED)
        }
        other => other,
    }
}

/// `verify`: `--offline` opens nothing but DEST (no transport, not even the usbmuxd socket);
/// otherwise a paired session like `pull`'s.
async fn verify_cmd(global: &args::GlobalArgs, a: &args::VerifyArgs) -> anyhow::Result<u8> {
    if a.offline {
        return verify::run_with(a, None).await;
    }
    // Fail on a DEST without a ledger before looking for a phone.
    crate::import::verify::require_ledger(&a.dest)?;

    let session = std::sync::Arc::new(session::PhoneSession::open(global).await?);
    let device = session.pull_device().await;
    let phone = verify::VerifyPhone {
        connector: std::sync::Arc::new(session::SessionConnector(session.clone())),
        cache_dir: pull::default_cache_dir(&device.udid),
        device,
        assets: None,
    };
    let result = verify::run_with(a, Some(phone)).await;
    session::close_shared(session).await;
    result
}

/// Quiet by default: warnings only; -v info, -vv debug, -vvv trace; -q errors only.
/// `RUST_LOG` overrides all of it.
fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("iphone_import={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
