//! `completions` arguments.

// missing_docs: clap would turn a doc comment on these structs and variants into the command's --help text.
#![allow(missing_docs)]

use clap::Args;
use clap_complete::Shell;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: Shell,
}
