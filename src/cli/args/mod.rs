//! Command-line grammar (clap derive), every command's arguments in one place (one file per
//! command with many options). Global options apply to every command. Nothing here imports the
//! commands: they turn these into their engine's configuration.

// missing_docs: clap would turn a doc comment on these structs and variants into the command's --help text.
#![allow(missing_docs)]

mod completions;
mod pull;
mod status;
mod verify;
mod watch;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use completions::CompletionsArgs;
pub use pull::PullArgs;
pub use status::StatusArgs;
pub use verify::VerifyArgs;
pub use watch::WatchArgs;

#[derive(Debug, Parser)]
#[command(
    name = "iphone-import",
    version,
    about = "Copy the photos and videos of an iPhone to this computer over USB, and prove the copy is complete"
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub(crate) struct GlobalArgs {
    /// How to reach the phone: the usbmuxd daemon when it answers, else direct USB (auto).
    #[arg(long, global = true, value_enum, default_value_t = TransportArg::Auto, env = "IPHONE_IMPORT_TRANSPORT")]
    pub transport: TransportArg,
    /// Which phone, when several are connected.
    #[arg(long, global = true, env = "IPHONE_IMPORT_UDID")]
    pub udid: Option<String>,
    /// Talk to a simulated iPhone in this process instead of a real one.
    #[cfg(feature = "mock")]
    #[arg(long, global = true)]
    pub demo: bool,
    /// How long to wait for "Trust This Computer?" to be answered on the phone, or for the first
    /// unlock of a phone that restarted, in seconds.
    #[arg(long, global = true, default_value_t = 120, value_name = "SECONDS")]
    pub trust_timeout: u64,
    /// How long the phone may stay silent while an answer is due, in seconds, before the
    /// command gives up (exit 8). Waiting for Trust has its own --trust-timeout.
    #[arg(long, global = true, default_value_t = 30, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub io_timeout: u64,
    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TransportArg {
    Auto,
    Usb,
    Usbmuxd,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List connected iPhones and iPads.
    Devices(DevicesArgs),
    /// Show the phone's name, model, iOS version, UDID and storage (pairs on first use).
    Info(JsonArgs),
    /// Make this computer trusted by the phone ("Trust This Computer?").
    Pair,
    /// Make the phone forget this computer, and delete this computer's pair record.
    Unpair,
    /// Copy every photo and video to DEST, incrementally and safely (see docs/pull.md).
    Pull(PullArgs),
    /// Check that every imported file is intact and everything on the phone is imported
    /// (exit 0 safe, 6 items at risk on the phone, 7 archive damaged; see docs/scripting.md).
    Verify(VerifyArgs),
    /// List files in the phone's media folder (paths relative to it; default /DCIM).
    Ls(LsArgs),
    /// List the phone's albums (folders as paths, shared albums marked, item counts).
    Albums(JsonArgs),
    /// Is this phone backed up? Library, iCloud, Recently Deleted, and with DEST what is not in it yet.
    Status(StatusArgs),
    /// Wait for phones and import each trusted one once per plug-in (Ctrl-C or SIGTERM stops).
    Watch(WatchArgs),
    /// Show the effective pull defaults and where each came from (default, file, env).
    Config(JsonArgs),
    /// Print a shell completion script: `iphone-import completions bash > ...`.
    Completions(CompletionsArgs),
    /// Print the manual page (roff): `iphone-import man | man -l -`.
    Man,
}

#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Folder or file, relative to the media folder.
    #[arg(default_value = "/DCIM")]
    pub path: String,
    /// Sizes and dates.
    #[arg(short, long)]
    pub long: bool,
    /// Descend into folders.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Machine-readable output (one JSON object per line).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Wait until at least one phone is connected, then list (exit 4 if --timeout passes first).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (default: wait forever).
    #[arg(long, value_name = "SECS", requires = "wait")]
    pub timeout: Option<u64>,
}
