//! Lines for stdout that report a closed reader instead of panicking. `println!` panics when
//! the pipe is gone (`iphone-import ls -R | head`); these return the `BrokenPipe` error, which
//! `cli::main` turns into a quiet exit 0, as ripgrep does: the reader had all it wanted.

/// `println!` that returns `Result<(), StdoutError>`.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::cli::stdout::StdoutError)
    }};
}

/// `print!` that returns `Result<(), StdoutError>`.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        write!(stdout, $($arg)*)
            .and_then(|()| stdout.flush())
            .map_err($crate::cli::stdout::StdoutError)
    }};
}

pub(crate) use {out, outln};

/// A failed write to our own stdout; its own type, so that a broken pipe to the *phone* is
/// never mistaken for a reader that went away.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output: {0}")]
pub(super) struct StdoutError(pub std::io::Error);

/// Whether an error is stdout's reader having gone away.
pub(super) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<StdoutError>()
            .is_some_and(|e| e.0.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
