//! The errors of writing into DEST, and how an I/O error becomes one (a full disk is told
//! apart, since its advice differs). A leaf, so that the writer and its flush rounds share it.

// missing_docs: error variants and their fields; each variant's #[error] message says what it is.
#![allow(missing_docs)]

use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

use super::names::InvalidName;

/// How many collision suffixes are tried before giving up.
pub(super) const MAX_SUFFIX: u32 = 9999;

/// Errors of the atomic writer. None of them leaves a partial file at a final path.
#[derive(Debug, thiserror::Error)]
pub enum SafeWriteError {
    #[error("cannot create folder {path}: {source}; check that DEST is writable")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot open temp file {path}: {source}; check that DEST is writable")]
    TempFile { path: PathBuf, source: io::Error },
    #[error(
        "the disk holding {path} is full; free some space and run again (the copy resumes where it stopped)"
    )]
    DiskFull { path: PathBuf },
    #[error("cannot write {path}: {source}; run again to resume")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot flush {path} to disk: {source}; run again to resume")]
    Sync { path: PathBuf, source: io::Error },
    #[error(
        "the phone's file had {got} bytes where {expected} were announced (it changed during the copy); run again"
    )]
    SizeMismatch { expected: u64, got: u64 },
    #[error("cannot move {from} to {to}: {source}")]
    Rename {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },
    #[error("no free name for {path} after {MAX_SUFFIX} tries; tidy up that folder")]
    NoFreeName { path: PathBuf },
    #[error("reading the file from the phone failed: {0}; run again to resume")]
    Source(io::Error),
    #[error("this writer already failed; start again with `Destination::begin`")]
    Poisoned,
    #[error(transparent)]
    Name(#[from] InvalidName),
}

fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == ErrorKind::StorageFull
        || e.kind() == ErrorKind::QuotaExceeded
        || e.kind() == ErrorKind::FileTooLarge
}

/// fsync can report ENOSPC too (delayed allocation, network filesystems).
pub(super) fn sync_error(path: &Path, source: io::Error) -> SafeWriteError {
    if is_disk_full(&source) {
        SafeWriteError::DiskFull {
            path: path.to_path_buf(),
        }
    } else {
        SafeWriteError::Sync {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub(super) fn write_error(path: &Path, source: io::Error) -> SafeWriteError {
    if is_disk_full(&source) {
        SafeWriteError::DiskFull {
            path: path.to_path_buf(),
        }
    } else {
        SafeWriteError::Write {
            path: path.to_path_buf(),
            source,
        }
    }
}
