//! Adoption: a group commit notes its ledger rows as *pending* before it renames anything
//! ([`Ledger::intend`]). A crash after some renames leaves pending rows; at the start of the
//! next run each is checked against DEST (blocking): a regular file at its path with the
//! noted size and BLAKE3 is that very file, its bytes made durable before the rename, so the
//! row is recorded without reading the phone again. Anything else (no file: the crash came
//! before its rename; other bytes) drops the row, and the file is copied as usual.

use std::collections::BTreeSet;

use super::layout::RelPath;
use super::ledger::{Ledger, LedgerError};
use super::safe_write::{Destination, SafeWriteError, hash_file};

/// Adoption failed: the ledger could not be read or written, or DEST could not be flushed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AdoptError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Dest(#[from] SafeWriteError),
}

/// Records the pending rows whose files are at their paths, forgets the rest. Returns how
/// many were adopted.
pub(crate) fn adopt_pending(ledger: &mut Ledger, dest: &Destination) -> Result<usize, AdoptError> {
    let pending = ledger.pending()?;
    if pending.is_empty() {
        return Ok(0);
    }
    let mut adopted = Vec::new();
    let mut dirs = BTreeSet::new();
    for (entry, name) in pending {
        let Ok(rel) = RelPath::parse(&entry.dest_path) else {
            continue;
        };
        let full = rel.under(dest.root());
        let same = std::fs::symlink_metadata(&full)
            .is_ok_and(|m| m.is_file() && m.len() == entry.size)
            && hash_file(&full).is_ok_and(|h| *h.as_bytes() == entry.blake3);
        if same {
            if let Some(parent) = full.parent() {
                dirs.insert(parent.to_path_buf());
            }
            adopted.push((entry, name));
        }
    }
    // The rename itself may not have reached the disk before the crash.
    dest.flusher().dirs(dirs.iter().map(|d| d.as_path()))?;
    ledger.settle_pending(&adopted)?;
    if !adopted.is_empty() {
        tracing::info!(
            files = adopted.len(),
            "adopted files an interrupted run had put in place but not recorded"
        );
    }
    Ok(adopted.len())
}
