//! `watch` arguments: `pull`'s, and what only watching adds.

// missing_docs: clap would turn a doc comment on these structs and variants into the command's --help text.
#![allow(missing_docs)]

use clap::Args;

use super::PullArgs;

#[derive(Debug, Args, Clone)]
pub struct WatchArgs {
    #[command(flatten)]
    pub pull: PullArgs,
    /// No desktop notification after each import (by default one is sent with notify-send when
    /// it is installed and a desktop session is there).
    #[arg(long)]
    pub no_notify: bool,
}
