//! `status` arguments.

// missing_docs: clap would turn a doc comment on these structs and variants into the command's --help text.
#![allow(missing_docs)]

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Also tell how much of the phone is already in this folder (a `pull` destination).
    pub dest: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as one self-contained HTML page to FILE (with thumbnails of the
    /// items at risk). DEST is still only read.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}
