//! `verify --deep`: every archived file of the connected phone is compared with the phone's
//! own bytes (BLAKE3 of both). It is the one check that does not trust our earlier hash: a file
//! damaged together with its ledger row, or a bad import, shows only here.
//!
//! Per ledger row of this phone (paged from the ledger, [`PAGE`] rows at a time, so memory
//! stays flat): the archived file must be present with its size (else the archive check has
//! reported it), the phone's file must still have the size and mtime of the import (else it was
//! edited or deleted on the phone and there is nothing to compare with: counted, not damage).
//! The phone's bytes stream through a hasher (nothing is buffered beyond one AFC read), the
//! archived file is hashed on a blocking thread. Not resumable: a second run starts over
//! (remembering progress would mean writing under DEST, which a check must not do).

use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::Serialize;
use tokio::io::AsyncWrite;

use super::layout::RelPath;
use super::ledger::{Entry, Ledger};
use super::verify::{
    Damaged, ProblemKind, VerifyError, VerifyObserver, hash_file, internal, problem,
};
use crate::afc::{AfcClient, AfcError};

/// Ledger rows read per page.
const PAGE: usize = 256;

/// What the deep check found (counts; problems went to the observer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeepReport {
    /// Rows of this phone, and the bytes compared with it.
    pub files: u64,
    /// Bytes read back and compared.
    pub bytes_compared: u64,
    /// Archived bytes equal to the phone's.
    pub same: u64,
    /// Archived bytes different from the phone's (damage).
    pub differs: u64,
    /// The phone's file was edited or deleted since the import: nothing to compare with.
    pub phone_changed: u64,
    /// Archived file missing or of the wrong size (reported by the archive check).
    pub not_compared: u64,
}

/// How [`check_deep`] runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeepOptions {
    /// Keep the differing entries for repair.
    pub collect: bool,
    /// The archive check hashed every file (`--checksums`): a file that differs from its
    /// ledger hash is its report, not repeated here.
    pub archive_hashed: bool,
}

/// Progress sink for the local hashing (the bar counts the phone's bytes only).
struct Silent;
impl VerifyObserver for Silent {
    fn problem(&self, _: &super::verify::Problem) {}
}

/// Hashes what the phone sends, counting it for the progress bar.
struct HashSink<'a> {
    hasher: blake3::Hasher,
    observer: &'a dyn VerifyObserver,
}

impl AsyncWrite for HashSink<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.hasher.update(buf);
        self.observer.hashed(buf.len() as u64);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Compares every archived file of `udid` with the phone `client` reaches. Returns the ledger
/// (it is moved to blocking threads for its queries), the counts and, with `collect`, the
/// differing entries for [`super::repair::repair`] with the *phone's* hash in `blake3`.
pub async fn check_deep(
    client: &AfcClient,
    dest: &Path,
    mut ledger: Ledger,
    udid: &str,
    options: DeepOptions,
    observer: &dyn VerifyObserver,
) -> Result<(Ledger, DeepReport, Vec<Damaged>), VerifyError> {
    let mut report = DeepReport::default();
    let mut damaged = Vec::new();
    let mut after: Option<(String, String)> = None;
    loop {
        let key = after.clone();
        let owner = udid.to_string();
        let (back, page) = tokio::task::spawn_blocking(move || {
            let page = ledger.page(&owner, key.as_ref(), PAGE);
            (ledger, page)
        })
        .await
        .map_err(internal)?;
        ledger = back;
        let page = page?;
        let Some(last) = page.last() else { break };
        after = Some((last.device_path.clone(), last.copy.clone()));
        for entry in page {
            report.files += 1;
            let sink = options.collect.then_some(&mut damaged);
            compare_one(client, dest, entry, &mut report, sink, options, observer).await?;
        }
    }
    Ok((ledger, report, damaged))
}

async fn compare_one(
    client: &AfcClient,
    dest: &Path,
    entry: Entry,
    report: &mut DeepReport,
    damaged: Option<&mut Vec<Damaged>>,
    options: DeepOptions,
    observer: &dyn VerifyObserver,
) -> Result<(), VerifyError> {
    let lost = |source: AfcError| VerifyError::LostPhone {
        path: entry.device_path.clone(),
        source,
    };
    let Ok(rel) = RelPath::parse(&entry.dest_path) else {
        report.not_compared += 1;
        return Ok(());
    };
    let full = rel.under(dest);
    match std::fs::symlink_metadata(&full) {
        Ok(m) if m.is_file() && m.len() == entry.size => {}
        _ => {
            report.not_compared += 1;
            return Ok(());
        }
    }
    let info = match client.stat(&entry.device_path).await {
        Ok(i) => i,
        Err(e) if e.is_fatal() => return Err(lost(e)),
        Err(_) => {
            report.phone_changed += 1;
            return Ok(());
        }
    };
    if info.st_size != entry.size || info.st_mtime_ns as i64 != entry.device_mtime_ns {
        report.phone_changed += 1;
        return Ok(());
    }
    let mut sink = HashSink {
        hasher: blake3::Hasher::new(),
        observer,
    };
    match client
        .read_file_to(&entry.device_path, Some(entry.size), &mut sink)
        .await
    {
        Ok(_) => {}
        Err(e) if e.is_fatal() => return Err(lost(e)),
        Err(_) => {
            report.phone_changed += 1;
            return Ok(());
        }
    }
    let phone = sink.hasher.finalize();
    report.bytes_compared += entry.size;
    let local = tokio::task::spawn_blocking(move || hash_file(&full, &Silent))
        .await
        .map_err(internal)?;
    let detail = match local {
        Ok(h) if h == phone => {
            report.same += 1;
            return Ok(());
        }
        Ok(h) if h.as_bytes() != &entry.blake3 && options.archive_hashed => {
            // The archive check reported it already (content changed since the import).
            report.not_compared += 1;
            return Ok(());
        }
        Ok(h) if h.as_bytes() == &entry.blake3 => {
            "the archived bytes differ from the phone's, though they match the hash recorded at import (the import or the ledger is wrong)".to_string()
        }
        Ok(_) => "the archived bytes differ from the phone's and from the hash recorded at import".to_string(),
        Err(e) => format!("cannot read the archived file: {e}"),
    };
    report.differs += 1;
    observer.problem(&problem(&entry, ProblemKind::DiffersFromPhone, detail));
    if let Some(d) = damaged {
        d.push(Damaged {
            entry: Entry {
                blake3: *phone.as_bytes(),
                ..entry
            },
            kind: ProblemKind::DiffersFromPhone,
        });
    }
    Ok(())
}
