//! The failures that stop a run ([`PullError`]) and [`internal`], its constructor for bugs.
//!
//! A leaf of the pull engine: it imports only [`super::config`] (another leaf), so `mod.rs`
//! and every worker can return `PullError` without an import cycle.

use super::config::ConnectError;
use crate::afc::AfcError;
use crate::import::adopt::AdoptError;
use crate::import::internal_error::InternalError;
use crate::import::ledger::LedgerError;
use crate::import::lock::LockError;
use crate::import::safe_write::SafeWriteError;
use crate::import::sidecars::SidecarError;

/// Failures that stop the run. Completed files are in the ledger; partial ones stay as temp
/// files and resume next time.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Dest(#[from] SafeWriteError),
    #[error(transparent)]
    Sidecar(#[from] SidecarError),
    #[error(
        "cannot open a connection to the phone's file service: {0}; unlock the phone, keep it connected and run again"
    )]
    Connect(#[source] ConnectError),
    #[error(
        "lost the phone while copying {path}: {source}. Files copied so far are kept; reconnect and run again to continue (a partly copied file resumes)"
    )]
    Disconnected { path: String, source: AfcError },
    #[error("while copying {path}: {source}")]
    Write {
        path: String,
        source: SafeWriteError,
    },
    #[error(
        "interrupted; files copied so far are kept and recorded, run again to continue (a partly copied file resumes)"
    )]
    Cancelled,
    #[error("internal error: {0}")]
    Internal(#[from] InternalError),
}

impl From<AdoptError> for PullError {
    fn from(e: AdoptError) -> PullError {
        match e {
            AdoptError::Ledger(e) => PullError::Ledger(e),
            AdoptError::Dest(e) => PullError::Dest(e),
        }
    }
}

pub(super) fn internal(e: impl Into<InternalError>) -> PullError {
    PullError::Internal(e.into())
}
