//! What the copy workers and [`super::fetch`] pass between them: [`ItemError`] (an item's
//! failure or the run's) and [`AssetRef`] (one asset of the run's list).
//!
//! A leaf of the pull engine: it imports only [`super::error`] (another leaf), so `fetch`,
//! which returns these, need not import `copy`, which calls it.

use std::sync::Arc;

use super::error::PullError;
use crate::library::Asset;

/// Per-item failure (reported, run goes on) or run failure.
pub(super) enum ItemError {
    Item { reason: String, icloud_only: bool },
    Run(PullError),
}

impl From<PullError> for ItemError {
    fn from(e: PullError) -> Self {
        ItemError::Run(e)
    }
}

/// One asset of the run's list, shared with blocking tasks without copying it.
#[derive(Clone)]
pub(super) struct AssetRef {
    pub(super) all: Arc<Vec<Asset>>,
    pub(super) index: usize,
}

impl std::ops::Deref for AssetRef {
    type Target = Asset;
    fn deref(&self) -> &Asset {
        &self.all[self.index]
    }
}
