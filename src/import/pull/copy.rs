//! The copy workers: each takes bundles of jobs from the queue and, per asset, copies its
//! pending resources ([`fetch`](super::fetch) then [`place`](super::place)) and records the
//! committed ones in the ledger in one transaction.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::fetch::{from_phone, prove_prefix, stage_local};
use super::place::{Placement, place};
use super::planner::{Anchor, CopyWork, Job};
use super::{PullError, PullEvent, Shared, connect, copy_key, internal, report_failure};
use crate::afc::AfcClient;
use crate::import::layout::LayoutError;
use crate::import::ledger::Entry;
use crate::import::safe_write::{Committed, Outcome, Partial, SafeWriteError, SourceKey};
use crate::import::same_name;
use crate::library::{Asset, Resource, ResourceRole};

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
    all: Arc<Vec<Asset>>,
    index: usize,
}

impl std::ops::Deref for AssetRef {
    type Target = Asset;
    fn deref(&self) -> &Asset {
        &self.all[self.index]
    }
}

/// The jobs in bundles of one stem, each copied by one worker in folder order (see
/// [`same_name::bundles`]).
pub(super) fn same_name_bundles(jobs: VecDeque<Job>, assets: &[Asset]) -> VecDeque<Vec<Job>> {
    let order = same_name::bundles(jobs.iter().map(|j| &assets[j.asset]));
    let mut slots: Vec<Option<Job>> = jobs.into_iter().map(Some).collect();
    order
        .into_iter()
        .map(|b| b.into_iter().filter_map(|k| slots[k].take()).collect())
        .collect()
}

/// One worker: its own connection (or the planning one), bundles until the queue is empty.
pub(super) async fn worker(
    shared: &Arc<Shared>,
    queue: Arc<Mutex<VecDeque<Vec<Job>>>>,
    assets: Arc<Vec<Asset>>,
    client: Option<AfcClient>,
) -> Result<(), PullError> {
    let client = match client {
        Some(c) => c,
        None => match connect(shared).await {
            Err(PullError::Cancelled) => return Ok(()),
            other => other?,
        },
    };
    loop {
        if shared.stop.is_cancelled() {
            return Ok(());
        }
        let Some(bundle) = queue.lock().map_err(internal)?.pop_front() else {
            return Ok(());
        };
        for job in bundle {
            if shared.stop.is_cancelled() {
                return Ok(());
            }
            let asset = AssetRef {
                all: assets.clone(),
                index: job.asset,
            };
            match copy_asset(shared, &client, asset, job.copies).await {
                Ok(()) | Err(PullError::Cancelled) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Copies an asset's pending resources, copy after copy, and records the ones that reached
/// their final path (also when the run fails midway, so the ledger matches DEST). A file that
/// one copy already brought from the phone is copied from its local file for the next.
async fn copy_asset(
    shared: &Arc<Shared>,
    client: &AfcClient,
    asset: AssetRef,
    copies: Vec<CopyWork>,
) -> Result<(), PullError> {
    let mut entries = Vec::new();
    let mut outcome = Ok(());
    // Device path → (final path, BLAKE3) of a copy made in this run.
    let mut local: HashMap<String, (PathBuf, [u8; 32])> = HashMap::new();
    // Reported once; later copies do not try them again.
    let mut failed: HashSet<String> = HashSet::new();
    'copies: for copy in copies {
        let CopyWork {
            album,
            pending,
            mut anchor,
        } = copy;
        let key = copy_key(album.as_deref());
        let companions: Vec<(ResourceRole, String, u64)> = pending
            .iter()
            .filter(|r| r.role != ResourceRole::Original)
            .map(|c| (c.role, c.name().to_string(), c.size.unwrap_or(0)))
            .collect();
        for res in pending {
            if res.role != ResourceRole::Original && anchor.is_none() {
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
            match copy_resource(shared, client, &asset, &res, anchor, &companions, target).await {
                Ok((entry, placed)) => {
                    if res.role == ResourceRole::Original {
                        anchor = Some(placed);
                    }
                    let full = shared.config.dest.join(&entry.dest_path);
                    local
                        .entry(entry.device_path.clone())
                        .or_insert((full, entry.blake3));
                    entries.push(entry);
                }
                Err(ItemError::Item {
                    reason,
                    icloud_only,
                }) => {
                    report_failure(shared, &res.device_path, reason, icloud_only)?;
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
    }
    record(shared, entries).await?;
    outcome
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

/// Which copy of a resource [`copy_resource`] makes, and where its bytes come from.
#[derive(Clone, Copy)]
struct CopyTarget<'a> {
    /// The album of the copy (`{album}`), when the layout has one.
    album: Option<&'a str>,
    /// Its ledger copy key.
    key: &'a str,
    /// This run's earlier copy of the same file and its BLAKE3: read instead of the phone.
    local: Option<&'a (PathBuf, [u8; 32])>,
}

/// Copies one resource to its final path. Returns its ledger entry and where it was placed.
async fn copy_resource(
    shared: &Arc<Shared>,
    client: &AfcClient,
    asset: &AssetRef,
    res: &Resource,
    anchor: Option<Anchor>,
    companions: &[(ResourceRole, String, u64)],
    target: CopyTarget<'_>,
) -> Result<(Entry, Anchor), ItemError> {
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

    // Date, layout, rename: local, blocking.
    let root = shared
        .dest
        .as_ref()
        .map(|d| d.root().to_path_buf())
        .ok_or_else(|| internal("copy without a destination"))?;
    let layout = shared.config.layout.clone();
    let (device, asset2, companions) = (
        shared.device.name.clone(),
        asset.clone(),
        companions.to_vec(),
    );
    let (role, name, album) = (
        res.role,
        res.name().to_string(),
        target.album.map(str::to_string),
    );
    let device_mtime = device_mtime(res);
    let committed = tokio::task::spawn_blocking(move || {
        let p = Placement {
            asset: &asset2,
            role,
            name: &name,
            device: &device,
            album: album.as_deref().unwrap_or(""),
            device_mtime,
            companions: &companions,
            anchor,
        };
        place(&root, &layout, &p, staged)
    })
    .await
    .map_err(internal)?
    .map_err(write_error(res))?;
    let (committed, placed) = committed.map_err(|e: LayoutError| {
        let _ = std::fs::remove_file(&temp);
        ItemError::Item {
            reason: format!("no valid destination path: {e}"),
            icloud_only: false,
        }
    })?;
    let entry = tally(shared, res, target, &committed, received, offset)?;
    Ok((entry, placed))
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
    let dest = shared
        .dest
        .clone()
        .ok_or_else(|| internal("copy without a destination"))?;
    let birth_ns = shared
        .births
        .lock()
        .map_err(internal)?
        .get(&res.device_path)
        .copied();
    let (udid, path, key) = (
        shared.device.udid.clone(),
        res.device_path.clone(),
        key.to_string(),
    );
    let (size, mtime_ns) = (res.size.unwrap_or(0), res.mtime_ns.unwrap_or(0) as i64);
    let partial = tokio::task::spawn_blocking(move || {
        let key = SourceKey {
            udid: &udid,
            device_path: &path,
            copy: &key,
            size,
            mtime_ns,
        };
        dest.begin_version(&key, birth_ns)
    })
    .await
    .map_err(internal)?
    .map_err(write_error(res))?;
    Ok(partial)
}

/// Counts a committed file into the summary, reports it, and returns its ledger entry.
fn tally(
    shared: &Shared,
    res: &Resource,
    target: CopyTarget<'_>,
    committed: &Committed,
    received: u64,
    offset: u64,
) -> Result<Entry, PullError> {
    let already_present = committed.outcome == Outcome::AlreadyPresent;
    {
        let mut s = shared.summary.lock().map_err(internal)?;
        s.files_copied += 1;
        s.bytes_copied = s.bytes_copied.saturating_add(received);
        if offset > 0 && target.local.is_none() {
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
    Ok(Entry {
        udid: shared.device.udid.clone(),
        device_path: res.device_path.clone(),
        copy: target.key.to_string(),
        size: res.size.unwrap_or(0),
        device_mtime_ns: res.mtime_ns.unwrap_or(0) as i64,
        dest_path,
        blake3: *committed.blake3.as_bytes(),
        imported_at_ns: now_ns(),
    })
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
