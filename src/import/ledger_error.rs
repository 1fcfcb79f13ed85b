//! The ledger's error type, [`LedgerError`], and the schema version its `TooNew` message names.
//!
//! A leaf: it imports no module of the crate. Both `ledger` (the read-write ledger) and
//! `ledger_ro` (how read-only commands open it) return `LedgerError`, and `ledger` calls into
//! `ledger_ro`; with the type here neither needs the other's items, so the two form no cycle.
//! `ledger` re-exports both items, so `import::ledger::{LedgerError, SCHEMA_VERSION}` stay the
//! paths to use.

// missing_docs: each variant's #[error] message already says what it is.
#![allow(missing_docs)]

use std::path::PathBuf;

/// Schema version written to `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 5;

/// Ledger failures.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot open the import ledger {path}: {source}; check that DEST is writable")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot create {path}: {source}; check that DEST is writable")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the import ledger {path} has schema version {found}, newer than this iphone-import understands ({SCHEMA_VERSION}); use a newer iphone-import"
    )]
    TooNew { path: PathBuf, found: i64 },
    #[error("import ledger error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the import ledger holds an invalid row ({0}); run `verify` or remove the row")]
    Corrupt(String),
}
