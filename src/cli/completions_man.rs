//! `iphone-import completions SHELL` and `iphone-import man`: generated from the clap grammar, so
//! they never drift from the real options.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use super::args::Cli;

/// The completion script for `shell`.
pub(crate) fn completions(shell: Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "iphone-import", &mut out);
    out
}

/// The manual page in roff: the main page, then one section per command.
pub(crate) fn man_page() -> std::io::Result<Vec<u8>> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    for sub in cmd.get_subcommands() {
        let title = format!("iphone-import-{}", sub.get_name());
        // Each command as its own page after the main one; `man -l` renders them in sequence.
        clap_mangen::Man::new(sub.clone())
            .title(title)
            .render(&mut out)?;
    }
    Ok(out)
}

pub(crate) fn print(bytes: &[u8]) -> anyhow::Result<u8> {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    match stdout.write_all(bytes).and_then(|_| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(super::exit::OK),
    }
}
