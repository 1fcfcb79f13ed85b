//! What can go wrong reading the phone's photo library.

// missing_docs: error variants and their fields; each variant's #[error] message says what it is.
#![allow(missing_docs)]

use std::path::PathBuf;

use thiserror::Error;

use crate::afc::AfcError;

/// What is unknown when Photos.sqlite cannot be used (said wherever that happens).
pub(crate) const WITHOUT_DB: &str = "photos and videos are still listed from DCIM, but albums, hidden items, iCloud-only and missing originals, and Recently Deleted are unknown (pull copies items in Recently Deleted too)";

#[derive(Debug, Error)]
pub enum LibraryError {
    /// Listing or reading a file on the phone failed.
    #[error("reading {path} on the phone failed: {source}")]
    Afc {
        path: String,
        #[source]
        source: AfcError,
    },
    /// The phone has no `/DCIM`: no camera roll, or the phone is locked / not trusted.
    #[error("the phone shows no /DCIM folder; unlock the phone, tap \"Trust\" if asked, and retry")]
    NoDcim,
    /// A listing is larger than any real library: refuse rather than allocate without bound.
    #[error(
        "{what} has more than {limit} entries, more than this tool accepts from a phone; if this is a real library, report it"
    )]
    TooManyEntries { what: String, limit: usize },
    /// The local cache of Photos.sqlite could not be written or read.
    #[error("the local copy of Photos.sqlite in {} failed: {source}; check free space and permissions there", .path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Photos.sqlite was copied again and no copy passed SQLite's integrity check (the phone
    /// kept writing it, or it is damaged). The import still works without it.
    #[error(
        "the copy of Photos.sqlite is damaged ({detail}) even after copying it again; {WITHOUT_DB}. Retry when the phone is idle (screen on, Photos app closed)"
    )]
    DbCorrupt { detail: String },
    /// Photos.sqlite or its -wal changed during every copy. The import still works without it.
    #[error(
        "Photos.sqlite kept changing while it was copied ({copies} copies); {WITHOUT_DB}. Retry when the phone is idle (screen on, Photos app closed)"
    )]
    DbUnstable { copies: usize },
    /// A local Photos.sqlite file (opened as it is, not copied by this run) is not a sound
    /// database.
    #[error(
        "{} is damaged ({detail}); copy Photos.sqlite together with its -wal from the phone again, while the phone is idle",
        .path.display()
    )]
    LocalDbCorrupt { path: PathBuf, detail: String },
    /// Photos.sqlite has no asset table this tool knows.
    #[error(
        "Photos.sqlite has neither a ZASSET nor a ZGENERICASSET table; this iOS version's library format is unknown to this tool"
    )]
    UnknownSchema,
    /// A query on the local copy failed.
    #[error("reading the copy of Photos.sqlite failed: {0}")]
    Sql(#[from] rusqlite::Error),
}

impl LibraryError {
    pub(crate) fn afc(path: &str) -> impl FnOnce(AfcError) -> LibraryError + '_ {
        move |source| LibraryError::Afc {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn cache(
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> LibraryError + '_ {
        move |source| LibraryError::Cache {
            path: path.to_owned(),
            source,
        }
    }

    /// The AFC connection is gone: nothing more can be read from the phone.
    pub(crate) fn is_connection_lost(&self) -> bool {
        matches!(self, LibraryError::Afc { source, .. } if source.is_fatal())
    }
}
