//! A run's shared state ([`Shared`]) and the helpers every part of the engine uses on it:
//! opening a connection, reporting an item that could not be copied.
//!
//! A leaf of the pull engine: it imports only the other leaves ([`super::config`],
//! [`super::events`], [`super::error`]), never `mod.rs` or the workers, so `mod.rs` (which
//! builds it) and the workers (which use it) do not form an import cycle.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::config::{AfcConnector, PullConfig, PullDevice};
use super::error::{PullError, internal};
use super::events::{Observer, PullEvent, Summary};
use crate::afc::AfcClient;
use crate::import::ledger::Ledger;
use crate::import::safe_write::Destination;

/// A run's state, shared by the planner's I/O, the workers and their blocking tasks.
pub(super) struct Shared {
    pub(super) connector: Arc<dyn AfcConnector>,
    pub(super) config: PullConfig,
    pub(super) device: PullDevice,
    pub(super) observer: Arc<dyn Observer>,
    pub(super) dest: Option<Destination>,
    pub(super) ledger: Option<Arc<Mutex<Ledger>>>,
    pub(super) stop: CancellationToken,
    pub(super) summary: Mutex<Summary>,
}

pub(super) async fn connect(shared: &Shared) -> Result<AfcClient, PullError> {
    tokio::select! {
        c = shared.connector.connect() => c.map_err(PullError::Connect),
        _ = shared.stop.cancelled() => Err(PullError::Cancelled),
    }
}

pub(super) fn report_failure(
    shared: &Shared,
    path: &str,
    reason: String,
    icloud_only: bool,
) -> Result<(), PullError> {
    {
        let mut s = shared.summary.lock().map_err(internal)?;
        s.files_failed += 1;
        if icloud_only {
            s.icloud_only_failed += 1;
        }
    }
    shared.observer.event(&PullEvent::Failed {
        device_path: path.to_string(),
        reason,
        icloud_only,
        original_missing: false,
    });
    Ok(())
}

/// Why a missing original was not copied: the phone has no copy and iCloud has none either.
pub(crate) const ORIGINAL_MISSING_REASON: &str = "the original is missing: Photos.sqlite says it is neither on this phone nor in iCloud, so no setting on the phone can download it; look for it in a backup or on the computer or device it came from";

pub(super) fn report_missing(shared: &Shared, path: &str) -> Result<(), PullError> {
    {
        let mut s = shared.summary.lock().map_err(internal)?;
        s.files_failed += 1;
        s.original_missing_failed += 1;
    }
    shared.observer.event(&PullEvent::Failed {
        device_path: path.to_string(),
        reason: ORIGINAL_MISSING_REASON.to_string(),
        icloud_only: false,
        original_missing: true,
    });
    Ok(())
}
