//! The copy of a bundle of jobs: per asset, its pending resources are fetched
//! ([`fetch`](super::fetch)) into temp files, which are committed in groups across assets
//! ([`place`](super::place)) and recorded in the ledger in one transaction per group.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::config::PullDevice;
use super::error::{PullError, internal};
use super::events::PullEvent;
use super::fetch::{
    IN_MEMORY_MAX, from_phone, prove_prefix, small_from_phone, stage_local, write_failed,
};
use super::item::{AssetRef, ItemError};
use super::place::{Placement, claim, own_anchor};
use super::planner::{Anchor, CopyWork};
use super::queue::Bundle;
use super::shared::{Shared, report_failure};
use crate::afc::AfcClient;
use crate::import::batch_write::{Claim, Claims};
use crate::import::dates;
use crate::import::flush::{DROP_CACHED_MIN, drop_cached};
use crate::import::internal_error::InternalError;
use crate::import::layout::Layout;
use crate::import::ledger::{Entry, Ledger, copy_key};
use crate::import::safe_write::Ready;
use crate::import::safe_write::{
    Committed, Destination, Outcome, Partial, SafeWriteError, SourceKey,
};
use crate::library::{Resource, ResourceRole};

/// Files are committed in groups of about this many (or [`GROUP_BYTES`]), across assets.
const GROUP_FILES: usize = 64;
const GROUP_BYTES: u64 = 64 * 1024 * 1024;

/// A worker's staged copies not yet committed.
#[derive(Default)]
pub(super) struct Group {
    copies: Vec<StagedCopy>,
    files: usize,
    bytes: u64,
}

impl Group {
    fn add(&mut self, copies: Vec<StagedCopy>) {
        for copy in &copies {
            self.files += copy.files.len();
            self.bytes += copy.files.iter().map(|f| f.ready.len).sum::<u64>();
        }
        self.copies.extend(copies);
    }

    fn is_full(&self) -> bool {
        self.files >= GROUP_FILES || self.bytes >= GROUP_BYTES
    }

    /// Commits the group ([`commit_group`]) and records what reached its final path.
    pub(super) async fn commit(&mut self, shared: &Arc<Shared>) -> Result<(), PullError> {
        let copies = std::mem::take(&mut self.copies);
        (self.files, self.bytes) = (0, 0);
        let (entries, outcome) = match commit_group(shared, copies).await {
            Ok(entries) => (entries, Ok(())),
            Err((entries, e)) => (entries, Err(e)),
        };
        record(shared, entries).await?;
        outcome
    }
}

/// Copies a bundle's jobs in order into the worker's `group`, committing it whenever it fills.
pub(super) async fn copy_bundle(
    shared: &Arc<Shared>,
    client: &AfcClient,
    bundle: Bundle,
    group: &mut Group,
) -> Result<(), PullError> {
    for job in bundle.jobs {
        if shared.stop.is_cancelled() {
            return Ok(());
        }
        let asset = AssetRef {
            all: bundle.assets.clone(),
            index: job.asset,
        };
        let (staged, outcome) = stage_asset(shared, client, asset, job.copies).await;
        group.add(staged);
        match outcome {
            Ok(()) | Err(PullError::Cancelled) => {}
            Err(e) => return Err(e),
        }
        if group.is_full() {
            group.commit(shared).await?;
        }
    }
    Ok(())
}

/// A resource whose bytes are in a complete temp file, waiting for its asset's commit.
struct StagedFile {
    what: Fetched,
    ready: Ready,
    /// The original's own date and mtime (a companion's come from its anchor).
    own: Anchor,
}

/// What a staged file is and how its bytes came, for the summary and its ledger entry.
struct Fetched {
    res: Resource,
    /// Bytes received from the phone in this run.
    received: u64,
    /// Bytes resumed from an interrupted run's temp file.
    offset: u64,
    /// Copied from this run's first copy instead of the phone.
    local: bool,
}

/// One copy of an asset (album), staged.
struct StagedCopy {
    asset: AssetRef,
    album: Option<String>,
    key: String,
    anchor: Option<Anchor>,
    companions: Vec<(ResourceRole, String, u64)>,
    files: Vec<StagedFile>,
}

/// Copies an asset's pending resources, copy after copy, into temp files for the worker's
/// group (also those staged before a failure of the run, so they are committed). A file that
/// one copy already brought from the phone is copied from its temp file for the next.
async fn stage_asset(
    shared: &Arc<Shared>,
    client: &AfcClient,
    asset: AssetRef,
    copies: Vec<CopyWork>,
) -> (Vec<StagedCopy>, Result<(), PullError>) {
    let mut staged = Vec::new();
    let mut outcome = Ok(());
    // Device path → (temp path, BLAKE3) of a copy staged in this run.
    let mut local: HashMap<String, (PathBuf, [u8; 32])> = HashMap::new();
    // Reported once; later copies do not try them again.
    let mut failed: HashSet<String> = HashSet::new();
    'copies: for copy in copies {
        let CopyWork {
            album,
            pending,
            anchor,
            ..
        } = copy;
        let key = copy_key(album.as_deref());
        let companions: Vec<(ResourceRole, String, u64)> = pending
            .iter()
            .map(|&i| &asset.resources[i])
            .filter(|r| r.role != ResourceRole::Original)
            .map(|c| (c.role, c.name().to_string(), c.size.unwrap_or(0)))
            .collect();
        // The date companions are dated with: the anchor's, or the staged original's.
        let mut date = anchor;
        let mut files = Vec::new();
        for res in pending.iter().map(|&i| &asset.resources[i]) {
            if res.role != ResourceRole::Original && date.is_none() {
                break;
            }
            if failed.contains(&res.device_path) {
                continue;
            }
            let target = CopyTarget {
                album: album.as_deref(),
                key: &key,
                local: local.get(&res.device_path),
            };
            match stage_resource(shared, client, &asset, res, date, target).await {
                Ok(file) => {
                    if res.role == ResourceRole::Original {
                        date = Some(file.own);
                    }
                    local.entry(res.device_path.clone()).or_insert((
                        file.ready.temp_path().to_path_buf(),
                        *file.ready.blake3().as_bytes(),
                    ));
                    files.push(file);
                }
                Err(ItemError::Item {
                    reason,
                    icloud_only,
                }) => {
                    if let Err(e) = report_failure(shared, &res.device_path, reason, icloud_only) {
                        outcome = Err(e);
                        break 'copies;
                    }
                    if res.role == ResourceRole::Original {
                        // No copy can have it: the phone could not give it.
                        break 'copies;
                    }
                    failed.insert(res.device_path.clone());
                }
                Err(ItemError::Run(e)) => {
                    outcome = Err(e);
                    break 'copies;
                }
            }
        }
        staged.push(StagedCopy {
            asset: asset.clone(),
            album,
            key,
            anchor,
            companions,
            files,
        });
        if outcome.is_err() {
            break;
        }
    }
    (staged, outcome)
}

/// What the blocking part of a group commit returns: per file, its copy, the file and where it
/// went, or why it could not be placed; and the error that stopped it.
type GroupResult = (
    Vec<(usize, Fetched, Result<Committed, String>)>,
    Option<PullError>,
);

/// Commits a group of staged files (copies of several assets) together: one durability round for their bytes, final paths
/// claimed, renames without replacing, one round for the folders touched. Returns the ledger
/// entries of the files now at their final paths (with the error that stopped it, if any).
async fn commit_group(
    shared: &Arc<Shared>,
    staged: Vec<StagedCopy>,
) -> Result<Vec<Entry>, (Vec<Entry>, PullError)> {
    if staged.iter().all(|c| c.files.is_empty()) {
        return Ok(Vec::new());
    }
    let Some(dest) = shared.dest.clone() else {
        return Err((Vec::new(), internal(InternalError::NoDestination)));
    };
    let targets: Vec<(Option<String>, String)> = staged
        .iter()
        .map(|c| (c.album.clone(), c.key.clone()))
        .collect();
    let group = GroupContext {
        dest,
        layout: shared.config.layout.clone(),
        device: shared.device.clone(),
        ledger: shared.ledger.clone(),
    };
    let joined = tokio::task::spawn_blocking(move || commit_blocking(&group, staged)).await;
    let (results, error) = match joined {
        Ok(r) => r,
        Err(e) => return Err((Vec::new(), internal(e))),
    };
    let mut entries = Vec::new();
    for (copy, file, result) in results {
        let (album, key) = &targets[copy];
        let target = CopyTarget {
            album: album.as_deref(),
            key,
            local: None,
        };
        match result {
            Ok(committed) => {
                let tallied = tally(shared, &file, target, &committed);
                match tallied {
                    Ok(entry) => entries.push(entry),
                    Err(e) => return Err((entries, e)),
                }
            }
            Err(reason) => {
                let r = report_failure(shared, &file.res.device_path, reason, false);
                if let Err(e) = r {
                    return Err((entries, e));
                }
            }
        }
    }
    match error {
        None => Ok(entries),
        Some(e) => Err((entries, e)),
    }
}

/// What the blocking part of a group commit needs of the run.
struct GroupContext {
    dest: Destination,
    layout: Layout,
    device: PullDevice,
    ledger: Option<Arc<Mutex<Ledger>>>,
}

impl GroupContext {
    /// Notes the claimed rows as pending in the ledger before anything is renamed (see
    /// [`crate::import::adopt`]).
    fn intend(
        &self,
        planned: &[(usize, StagedFile, Claim)],
        keys: &[String],
    ) -> Result<(), PullError> {
        let Some(ledger) = &self.ledger else {
            return Ok(());
        };
        let entries: Vec<Entry> = planned
            .iter()
            .map(|(index, file, claim)| {
                entry_of(
                    &self.device.udid,
                    &file.what.res,
                    &keys[*index],
                    claim.rel.to_string(),
                    file.ready.blake3(),
                )
            })
            .collect();
        ledger
            .lock()
            .map_err(internal)?
            .intend(&entries, &self.device.name)?;
        Ok(())
    }
}

/// The file a DEST failure of a group commit is reported with: the group's first.
fn first_path(staged: &[StagedCopy]) -> String {
    staged
        .iter()
        .flat_map(|c| c.files.first())
        .next()
        .map_or_else(String::new, |f| f.what.res.device_path.clone())
}

/// Blocking part of [`commit_group`].
fn commit_blocking(group: &GroupContext, staged: Vec<StagedCopy>) -> GroupResult {
    let (dest, layout, device) = (&group.dest, &group.layout, group.device.name.as_str());
    let temps: Vec<&Path> = staged
        .iter()
        .flat_map(|c| c.files.iter().map(|f| f.ready.temp_path()))
        .collect();
    let path = first_path(&staged);
    let werr = |source| PullError::Write {
        path: path.clone(),
        source,
    };
    if let Err(e) = dest.flusher().files(&temps) {
        return (Vec::new(), Some(werr(e)));
    }
    let large = staged.iter().flat_map(|c| &c.files).map(|f| &f.ready);
    large
        .filter(|r| r.len() >= DROP_CACHED_MIN)
        .for_each(|r| drop_cached(r.temp_path()));
    let keys: Vec<String> = staged.iter().map(|c| c.key.clone()).collect();
    let mut claims = Claims::default();
    let mut planned = Vec::new();
    let mut results = Vec::new();
    for (index, copy) in staged.into_iter().enumerate() {
        let mut anchor = copy.anchor;
        for file in copy.files {
            let role = file.what.res.role;
            if role != ResourceRole::Original && anchor.is_none() {
                // Its original could not be placed: nor can it be, with one stem.
                let _ = std::fs::remove_file(file.ready.temp_path());
                continue;
            }
            let p = Placement {
                asset: &copy.asset,
                role,
                name: file.what.res.name(),
                device,
                album: copy.album.as_deref().unwrap_or(""),
                companions: &copy.companions,
                anchor: if role == ResourceRole::Original {
                    None
                } else {
                    anchor
                },
            };
            match claim(dest.root(), layout, &p, file.own, &file.ready, &mut claims) {
                Ok(Ok((claim, placed))) => {
                    if role == ResourceRole::Original {
                        anchor = Some(placed);
                    }
                    planned.push((index, file, claim));
                }
                Ok(Err(e)) => {
                    let _ = std::fs::remove_file(file.ready.temp_path());
                    let reason = format!("no valid destination path: {e}");
                    results.push((index, file.what, Err(reason)));
                }
                Err(e) => return (results, Some(werr(e))),
            }
        }
    }
    if let Err(e) = group.intend(&planned, &keys) {
        return (results, Some(e));
    }
    let mut error = None;
    let mut files = Vec::with_capacity(planned.len());
    for (index, file, claim) in planned {
        if error.is_some() {
            break;
        }
        match file.ready.put(claim, &mut claims) {
            Ok(committed) => files.push((index, file.what, Ok(committed))),
            Err(e) => error = Some(werr(e)),
        }
    }
    if let Err(e) = dest.flusher().dirs(claims.dirs()) {
        // Renamed but not durable as names: nothing is recorded; the next run adopts them.
        return (results, Some(werr(e)));
    }
    results.extend(files);
    (results, error)
}

/// Brings one resource into a complete temp file with its mtime set (not durable yet: its
/// group makes it so). Returns it with the original's own date.
async fn stage_resource(
    shared: &Arc<Shared>,
    client: &AfcClient,
    asset: &AssetRef,
    res: &Resource,
    date: Option<Anchor>,
    target: CopyTarget<'_>,
) -> Result<StagedFile, ItemError> {
    if target.local.is_none() && res.size.is_some_and(|s| s <= IN_MEMORY_MAX) {
        let chunks = small_from_phone(shared, client, asset, res).await?;
        return stage_small(shared, asset, res, date, target.key, chunks).await;
    }
    let mut partial = begin(shared, res, target.key).await?;
    if partial.resume_offset() > 0 && target.local.is_none() {
        partial = prove_prefix(client, &res.device_path, partial).await?;
    }
    let offset = partial.resume_offset();
    if offset > 0 && target.local.is_none() {
        // Counted as done for the progress display: the plan's total includes them.
        shared.observer.bytes(offset);
    }
    let temp = partial.temp_path().to_path_buf();
    if let Some(n) = shared.config.fail_writes_after {
        partial.fail_writes_after(n);
    }
    let (staged, received) = match target.local {
        Some((source, hash)) => (stage_local(partial, source, *hash, offset, &temp).await?, 0),
        None => {
            let staged = from_phone(shared, client, asset, res, partial, offset).await?;
            (staged, res.size.unwrap_or(0).saturating_sub(offset))
        }
    };
    // The date (read from the file for an original), its mtime: local, blocking.
    let (asset2, device_mtime) = (asset.clone(), device_mtime(res));
    let (own, ready) = tokio::task::spawn_blocking(move || {
        let own = date.unwrap_or_else(|| {
            own_anchor(&asset2, device_mtime, |f| {
                dates::capture_date_of(staged.temp_path(), f)
            })
        });
        staged.into_ready(own.mtime).map(|r| (own, r))
    })
    .await
    .map_err(internal)?
    .map_err(write_error(res))?;
    let what = Fetched {
        res: res.clone(),
        received,
        offset,
        local: target.local.is_some(),
    };
    Ok(StagedFile { what, ready, own })
}

/// A small file read whole from the phone ([`small_from_phone`]) into a complete temp file with
/// its date and mtime, in one blocking call. Kept bytes of an interrupted run are dropped: the
/// whole file is at hand.
async fn stage_small(
    shared: &Arc<Shared>,
    asset: &AssetRef,
    res: &Resource,
    date: Option<Anchor>,
    key: &str,
    chunks: Vec<Bytes>,
) -> Result<StagedFile, ItemError> {
    let temp_for = TempFor::new(shared, res, key)?;
    let size = temp_for.size;
    let fail_after = shared.config.fail_writes_after;
    let (asset2, device_mtime) = (asset.clone(), device_mtime(res));
    let staged = tokio::task::spawn_blocking(move || {
        let mut partial = temp_for.begin_anew()?;
        if let Some(n) = fail_after {
            partial.fail_writes_after(n);
        }
        let temp = partial.temp_path().to_path_buf();
        let written = chunks.iter().try_for_each(|c| partial.write_all(c));
        let staged = match written.and_then(|()| partial.complete()) {
            Ok(staged) => staged,
            Err(e) => {
                if matches!(e, SafeWriteError::SizeMismatch { .. }) {
                    let _ = std::fs::remove_file(&temp);
                }
                return Err(e);
            }
        };
        // The date is read from the bytes in hand, not from the temp file opened again.
        let own = date.unwrap_or_else(|| {
            own_anchor(&asset2, device_mtime, |f| {
                dates::capture_date(&mut Cursor::new(&contiguous(&chunks)[..]), f)
            })
        });
        staged.into_ready(own.mtime).map(|r| (own, r))
    })
    .await
    .map_err(internal)?;
    let (own, ready) = staged.map_err(|e| write_failed(e, res))?;
    let what = Fetched {
        res: res.clone(),
        received: size,
        offset: 0,
        local: false,
    };
    Ok(StagedFile { what, ready, own })
}

/// A small file's chunks as one slice: borrowed when the read brought one chunk (the usual
/// case: one AFC read holds up to 4 MiB), joined otherwise (at most [`IN_MEMORY_MAX`] bytes).
fn contiguous(chunks: &[Bytes]) -> Cow<'_, [u8]> {
    match chunks {
        [] => Cow::Borrowed(&[]),
        [one] => Cow::Borrowed(&one[..]),
        many => Cow::Owned(many.concat()),
    }
}

/// Blocking: an asset's committed files into the ledger, in one transaction.
async fn record(shared: &Shared, entries: Vec<Entry>) -> Result<(), PullError> {
    let Some(ledger) = shared.ledger.clone().filter(|_| !entries.is_empty()) else {
        return Ok(());
    };
    let name = shared.device.name.clone();
    tokio::task::spawn_blocking(move || {
        ledger
            .lock()
            .map_err(internal)?
            .record_many(&entries, &name)
            .map_err(PullError::from)
    })
    .await
    .map_err(internal)?
}

/// Which copy of a resource [`stage_resource`] makes, and where its bytes come from.
#[derive(Clone, Copy)]
struct CopyTarget<'a> {
    /// The album of the copy (`{album}`), when the layout has one.
    album: Option<&'a str>,
    /// Its ledger copy key.
    key: &'a str,
    /// This run's earlier copy of the same file (its temp file) and its BLAKE3: read instead
    /// of the phone.
    local: Option<&'a (PathBuf, [u8; 32])>,
}

/// A failed write to DEST of `res`: stops the run.
fn write_error(res: &Resource) -> impl Fn(SafeWriteError) -> PullError + '_ {
    |source| PullError::Write {
        path: res.device_path.clone(),
        source,
    }
}

fn device_mtime(res: &Resource) -> SystemTime {
    let mtime_ns = res.mtime_ns.unwrap_or(0) as i64;
    UNIX_EPOCH + Duration::from_nanos(mtime_ns.max(0) as u64)
}

/// Blocking: the temp file of this version of `res` (resumable when one is left from an
/// interrupted run).
async fn begin(shared: &Shared, res: &Resource, key: &str) -> Result<Partial, ItemError> {
    let temp_for = TempFor::new(shared, res, key)?;
    tokio::task::spawn_blocking(move || temp_for.begin())
        .await
        .map_err(internal)?
        .map_err(|e| write_error(res)(e).into())
}

/// What a blocking thread needs to open the temp file of one version of a resource's copy.
struct TempFor {
    dest: Destination,
    udid: String,
    path: String,
    key: String,
    size: u64,
    mtime_ns: i64,
    birth_ns: Option<u64>,
}

impl TempFor {
    fn new(shared: &Shared, res: &Resource, key: &str) -> Result<TempFor, ItemError> {
        let dest = shared
            .dest
            .clone()
            .ok_or_else(|| internal(InternalError::NoDestination))?;
        Ok(TempFor {
            dest,
            udid: shared.device.udid.clone(),
            path: res.device_path.clone(),
            key: key.to_string(),
            size: res.size.unwrap_or(0),
            mtime_ns: res.mtime_ns.unwrap_or(0) as i64,
            birth_ns: res.birth_ns,
        })
    }

    /// The temp file's key: this version of the device file, in this copy.
    fn source_key(&self) -> SourceKey<'_> {
        SourceKey {
            udid: &self.udid,
            device_path: &self.path,
            copy: &self.key,
            size: self.size,
            mtime_ns: self.mtime_ns,
        }
    }

    /// Blocking: opens (or resumes) the temp file.
    fn begin(&self) -> Result<Partial, SafeWriteError> {
        self.dest.begin_version(&self.source_key(), self.birth_ns)
    }

    /// Blocking: opens the temp file empty, dropping what an earlier run kept in it.
    fn begin_anew(&self) -> Result<Partial, SafeWriteError> {
        self.dest.begin_anew(&self.source_key(), self.birth_ns)
    }
}

/// Counts a committed file into the summary, reports it, and returns its ledger entry.
fn tally(
    shared: &Shared,
    file: &Fetched,
    target: CopyTarget<'_>,
    committed: &Committed,
) -> Result<Entry, PullError> {
    let (res, received, offset) = (&file.res, file.received, file.offset);
    let already_present = committed.outcome == Outcome::AlreadyPresent;
    {
        let mut s = shared.summary.lock().map_err(internal)?;
        s.files_copied += 1;
        s.bytes_copied = s.bytes_copied.saturating_add(received);
        if offset > 0 && !file.local {
            s.files_resumed += 1;
        }
        if already_present {
            s.files_already_present += 1;
        }
        if committed.suffix > 0 && !already_present {
            s.files_renamed += 1;
        }
    }
    let dest_path = committed.rel.to_string();
    shared.observer.event(&PullEvent::Copied {
        device_path: res.device_path.clone(),
        role: res.role,
        dest_path: dest_path.clone(),
        album: target.album.map(str::to_string),
        bytes: committed.len,
        resumed_from: offset,
        already_present,
    });
    Ok(entry_of(
        &shared.device.udid,
        res,
        target.key,
        dest_path,
        committed.blake3,
    ))
}

/// The ledger row of `res`'s copy `key` at `dest_path`.
fn entry_of(
    udid: &str,
    res: &Resource,
    key: &str,
    dest_path: String,
    blake3: blake3::Hash,
) -> Entry {
    Entry {
        udid: udid.to_string(),
        device_path: res.device_path.clone(),
        copy: key.to_string(),
        size: res.size.unwrap_or(0),
        device_mtime_ns: res.mtime_ns.unwrap_or(0) as i64,
        dest_path,
        blake3: *blake3.as_bytes(),
        imported_at_ns: now_ns(),
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_files_chunks_read_as_one_slice() {
        let one = [Bytes::from_static(b"abc")];
        assert!(matches!(contiguous(&one), Cow::Borrowed(b) if b == b"abc"));
        let two = [Bytes::from_static(b"ab"), Bytes::from_static(b"cd")];
        assert_eq!(&contiguous(&two)[..], b"abcd");
        assert!(contiguous(&[]).is_empty());
    }
}
