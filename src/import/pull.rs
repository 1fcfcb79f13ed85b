//! The pull engine: plan what to copy, copy it over `jobs` AFC connections, record it.
//!
//! Input is a list of [`Asset`]s (from the library inventory, or [`super::scan`]). Per run:
//!
//! 1. **Plan.** Unsafe device names are skipped with a warning; filters apply per asset; each
//!    resource whose name is in `ledger.known_paths(udid, folder)` is done already, so a no-op
//!    re-run stats and reads nothing on the phone. Only new resources are stat'ed (pipelined on
//!    one connection) for their size and mtime. iCloud-only assets are counted here.
//! 2. **Copy.** `jobs` workers, each on its own AFC connection, take whole assets from a queue
//!    (assets sharing a stem together, in folder order: [`super::same_name`]).
//!    Per resource: `safe_write` temp file (resumed from its offset when the phone's file has
//!    the same size and mtime), the phone's bytes streamed through a pipe into a blocking writer
//!    that hashes (BLAKE3) and writes while the next reads are in flight, fsync, capture date
//!    from the temp file, layout, rename without replacing, folder fsync.
//! 3. **Record.** An asset's committed resources go into the ledger in one transaction.
//!
//! The original goes first; its date and collision suffix are the *anchor* every other
//! resource of the asset (Live Photo video, AAE, edited render) is placed with, so they keep
//! one stem. Failures of one item (iCloud-only original, file vanished) are reported and the run
//! goes on; failures of the run (phone gone, disk full, ledger) stop every worker, record what
//! was completed, and return the error. Cancellation abandons in-flight files: their temp files
//! stay for the next run, nothing partial ever reaches a final path.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDate};
use futures::StreamExt;
use futures::future::BoxFuture;
use serde::Serialize;
use tokio_util::io::SyncIoBridge;
use tokio_util::sync::CancellationToken;

use super::dates::{self, Fallbacks};
use super::filters::{self, AssetMeta, Filters};
use super::layout::{Layout, LayoutError, ResourceVars, split_name};
use super::ledger::{self, Entry, Ledger, LedgerError};
use super::lock::{DestLock, LockError};
use super::names;
use super::resume::{self, ProveError, Verdict};
use super::safe_write::{
    Destination, Outcome, Partial, SafeWriteError, SourceKey, Staged, TMP_DIR,
};
use super::same_name;
use super::sidecars::{SidecarCounts, SidecarError, write_sidecars};
use super::xmp::XmpName;
use crate::afc::{AfcClient, AfcError, AfcStatus};
use crate::library::{Asset, AssetKind, Resource, ResourceRole};

/// Bytes buffered between the AFC reads and the disk writer of one file.
const PIPE_BYTES: usize = 8 * 1024 * 1024;
/// Stats kept in flight on the planning connection.
const STATS_IN_FLIGHT: usize = 64;
/// Upper bound on `--jobs` (each is an AFC connection on the phone).
pub const MAX_JOBS: usize = 16;

/// Why a connection could not be opened (lockdown, service start, transport): the lead's type.
pub type ConnectError = Box<dyn std::error::Error + Send + Sync>;

/// Opens one more AFC connection to the phone. `pull` calls it once per job.
pub trait AfcConnector: Send + Sync {
    fn connect(&self) -> BoxFuture<'_, Result<AfcClient, ConnectError>>;
}

/// Any `Fn() -> future of AfcClient` is a connector.
impl<F> AfcConnector for F
where
    F: Fn() -> BoxFuture<'static, Result<AfcClient, ConnectError>> + Send + Sync,
{
    fn connect(&self) -> BoxFuture<'_, Result<AfcClient, ConnectError>> {
        (self)()
    }
}

/// The phone being pulled from.
#[derive(Debug, Clone)]
pub struct PullDevice {
    pub udid: String,
    /// The name the user gave the phone (untrusted; `{device}` in layouts).
    pub name: String,
}

/// Everything a run needs besides the phone.
#[derive(Debug, Clone)]
pub struct PullConfig {
    pub dest: PathBuf,
    pub layout: Layout,
    pub filters: Filters,
    /// AFC connections (1..=[`MAX_JOBS`]).
    pub jobs: usize,
    /// Also import edited renders (`<stem>_edited.<ext>`).
    pub edited: bool,
    /// Plan only: nothing is created or written under DEST.
    pub dry_run: bool,
    /// Shown to a second run that finds DEST locked.
    pub command_line: String,
    /// Write an XMP sidecar next to every imported original, named this way.
    pub xmp: Option<XmpName>,
    /// Test hook: every file's writes fail with "disk full" after this many bytes.
    #[doc(hidden)]
    pub fail_writes_after: Option<u64>,
}

/// Counts of the plan, emitted before copying starts.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Plan {
    /// Assets in the inventory.
    pub assets: u64,
    /// Assets the filters took.
    pub selected: u64,
    /// Assets the filters left out.
    pub filtered_out: u64,
    /// Files of selected assets already in the ledger (not touched).
    pub already_imported: u64,
    /// Files to copy and their bytes.
    pub files_to_copy: u64,
    pub bytes_to_copy: u64,
    /// Selected assets whose original is only in iCloud (from the photo library).
    pub icloud_only: u64,
    /// Selected assets whose original is neither on the phone nor in iCloud.
    pub original_missing: u64,
    /// Files skipped because their name from the phone is unsafe.
    pub unsafe_names: u64,
}

/// One line of output per item (and the plan), serialised as JSON lines by `--json`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PullEvent {
    Plan(Plan),
    /// `--dry-run`: this file would be copied.
    WouldCopy {
        device_path: String,
        role: ResourceRole,
        bytes: u64,
        /// The album copy (layouts with `{album}`; "" = no album).
        #[serde(skip_serializing_if = "Option::is_none")]
        album: Option<String>,
    },
    Copied {
        device_path: String,
        role: ResourceRole,
        dest_path: String,
        /// The album copy (layouts with `{album}`; "" = no album).
        #[serde(skip_serializing_if = "Option::is_none")]
        album: Option<String>,
        bytes: u64,
        /// Bytes that were already in a temp file from an interrupted run.
        resumed_from: u64,
        /// An identical file was already at the destination; it was kept.
        already_present: bool,
    },
    /// Not copied, by decision (unsafe name from the phone).
    Skipped {
        device_path: String,
        reason: String,
    },
    /// Could not be copied; the run goes on.
    Failed {
        device_path: String,
        reason: String,
        /// The original is only in iCloud (or the phone could not read it, as it does then).
        icloud_only: bool,
        /// Photos.sqlite says the original is neither on the phone nor in iCloud.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        original_missing: bool,
    },
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub plan: Plan,
    pub dry_run: bool,
    pub files_copied: u64,
    /// Bytes received from the phone in this run (resumed bytes not included).
    pub bytes_copied: u64,
    pub files_resumed: u64,
    /// Files whose identical copy was already at the destination.
    pub files_already_present: u64,
    /// Files that got a ` (N)` suffix because a different file had their name.
    pub files_renamed: u64,
    /// Files that could not be copied (including iCloud-only originals).
    pub files_failed: u64,
    /// Originals that could not be copied because they are only in iCloud.
    pub icloud_only_failed: u64,
    /// Originals that could not be copied because they are on neither the phone nor iCloud.
    pub original_missing_failed: u64,
    /// XMP sidecars (`--xmp`) written, rewritten and left alone.
    pub sidecars: SidecarCounts,
}

impl Summary {
    /// Some items could not be copied (exit code PARTIAL).
    pub fn is_partial(&self) -> bool {
        self.files_failed > 0 || self.sidecars.failed > 0
    }
}

/// Receives events and byte progress; called from worker tasks and blocking writer threads.
pub trait Observer: Send + Sync {
    fn event(&self, event: &PullEvent);
    /// `n` more bytes of the phone's files reached the destination.
    fn bytes(&self, _n: u64) {}
}

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
    Internal(String),
}

/// Per-item failure (reported, run goes on) or run failure.
enum ItemError {
    Item { reason: String, icloud_only: bool },
    Run(PullError),
}

impl From<PullError> for ItemError {
    fn from(e: PullError) -> Self {
        ItemError::Run(e)
    }
}

/// Where an asset's companions go: the original's date, file mtime and collision suffix.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    day: NaiveDate,
    mtime: Option<SystemTime>,
    suffix: u32,
}

/// One asset's work: each copy it still lacks. A plain layout has one copy; a layout with
/// `{album}` has one per album (in `asset.albums`). One worker does all copies of an asset, in
/// order, so a later copy is made from the first one's file instead of the phone.
struct Job {
    /// Index in the run's asset list (moving 100,000 assets into jobs kept two lists alive).
    asset: usize,
    copies: Vec<CopyWork>,
}

/// One asset of the run's list, shared with blocking tasks without copying it.
#[derive(Clone)]
struct AssetRef {
    all: Arc<Vec<Asset>>,
    index: usize,
}

impl std::ops::Deref for AssetRef {
    type Target = Asset;
    fn deref(&self) -> &Asset {
        &self.all[self.index]
    }
}

/// One copy of an asset: the resources it still lacks (size and mtime known), original first.
struct CopyWork {
    /// `Some(album path)` under a layout with `{album}` (empty = no album).
    album: Option<String>,
    pending: Vec<Resource>,
    /// Set when the original of this copy was imported by an earlier run.
    anchor: Option<Anchor>,
}

/// The ledger's copy key of a copy in `album` (see [`Entry::copy`]): empty for a plain
/// layout's one copy, `album:<path>` for an album's (`album:` alone for "No Album").
pub fn copy_key(album: Option<&str>) -> String {
    album.map_or_else(String::new, |a| format!("album:{a}"))
}

/// Which files (and copies) the ledger holds, read once per device folder.
#[derive(Default)]
struct KnownCache {
    names: HashMap<String, HashSet<String>>,
    copies: HashMap<String, HashSet<(String, String)>>,
}

impl KnownCache {
    /// Whether the ledger has `name` of `folder`: any copy of it for a plain layout (`copy`
    /// empty), that very copy otherwise.
    fn contains(
        &mut self,
        ledger: Option<&Mutex<Ledger>>,
        udid: &str,
        folder: &str,
        name: &str,
        copy: &str,
    ) -> Result<bool, PullError> {
        let Some(ledger) = ledger else {
            return Ok(false);
        };
        if copy.is_empty() {
            if !self.names.contains_key(folder) {
                let set = ledger.lock().map_err(internal)?.known_paths(udid, folder)?;
                self.names.insert(folder.to_string(), set);
            }
            Ok(self.names[folder].contains(name))
        } else {
            if !self.copies.contains_key(folder) {
                let set = ledger
                    .lock()
                    .map_err(internal)?
                    .known_copies(udid, folder)?;
                self.copies.insert(folder.to_string(), set);
            }
            Ok(self.copies[folder].contains(&(name.to_string(), copy.to_string())))
        }
    }
}

struct Shared {
    connector: Arc<dyn AfcConnector>,
    config: PullConfig,
    device: PullDevice,
    observer: Arc<dyn Observer>,
    dest: Option<Destination>,
    ledger: Option<Arc<Mutex<Ledger>>>,
    stop: CancellationToken,
    summary: Mutex<Summary>,
    /// Birth times from the plan's stats, by device path: part of a temp file's version.
    births: Mutex<HashMap<String, u64>>,
}

fn internal(e: impl std::fmt::Display) -> PullError {
    PullError::Internal(e.to_string())
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn folder_of(device_path: &str) -> &str {
    let p = device_path.strip_prefix('/').unwrap_or(device_path);
    p.rsplit_once('/').map_or("", |(f, _)| f)
}

fn role_rank(role: ResourceRole) -> u8 {
    match role {
        ResourceRole::Original => 0,
        ResourceRole::LiveVideo => 1,
        ResourceRole::Sidecar => 2,
        ResourceRole::EditedRender => 3,
    }
}

/// The camera folder name (`100APPLE`) of a DCIM path, for `{dcim_folder}`.
/// `{kind}` of the layout: `live`, `screenshot`, `photo` or `video`.
fn kind_word(asset: &Asset) -> &'static str {
    if asset
        .resources
        .iter()
        .any(|r| r.role == ResourceRole::LiveVideo)
    {
        "live"
    } else if asset.meta.screenshot {
        "screenshot"
    } else {
        match asset.kind {
            AssetKind::Photo => "photo",
            AssetKind::Video => "video",
        }
    }
}

fn dcim_folder(asset: &Asset) -> &str {
    asset.folder.rsplit('/').next().unwrap_or(&asset.folder)
}

fn asset_meta(asset: &Asset) -> Option<AssetMeta> {
    Some(AssetMeta {
        kind: match asset.kind {
            AssetKind::Photo => filters::AssetKind::Photo,
            AssetKind::Video => filters::AssetKind::Video,
        },
        captured: asset.created?.date_naive(),
        hidden: asset.hidden,
        trashed: asset.trashed,
    })
}

/// Whether the filters take the asset. Without a library date (no readable Photos.sqlite) a
/// date filter cannot be decided before copying; such assets are taken.
fn selected(filters: &Filters, asset: &Asset) -> bool {
    match asset_meta(asset) {
        Some(meta) => filters.matches(&meta),
        None => {
            let undated = Filters {
                since: None,
                until: None,
                ..*filters
            };
            let meta = AssetMeta {
                kind: match asset.kind {
                    AssetKind::Photo => filters::AssetKind::Photo,
                    AssetKind::Video => filters::AssetKind::Video,
                },
                captured: NaiveDate::default(),
                hidden: asset.hidden,
                trashed: asset.trashed,
            };
            undated.matches(&meta)
        }
    }
}

/// Runs a pull. `cancel` stops it cleanly (Ctrl-C): the result is then `PullError::Cancelled`.
pub async fn pull(
    connector: Arc<dyn AfcConnector>,
    device: PullDevice,
    assets: Vec<Asset>,
    config: PullConfig,
    observer: Arc<dyn Observer>,
    cancel: CancellationToken,
) -> Result<Summary, PullError> {
    let jobs = config.jobs.clamp(1, MAX_JOBS);
    // Locking, folder creation and the ledger's open (fsync, migration) block: not on the
    // runtime's threads.
    let (dest_path, dry_run, command) = (
        config.dest.clone(),
        config.dry_run,
        config.command_line.clone(),
    );
    let (lock, dest, ledger) =
        tokio::task::spawn_blocking(move || open_dest(&dest_path, dry_run, &command))
            .await
            .map_err(internal)??;
    let shared = Arc::new(Shared {
        connector,
        device,
        observer,
        dest,
        ledger: ledger.map(|l| Arc::new(Mutex::new(l))),
        stop: cancel.child_token(),
        births: Mutex::new(HashMap::new()),
        summary: Mutex::new(Summary {
            dry_run: config.dry_run,
            ..Summary::default()
        }),
        config,
    });
    let result = run(&shared, assets, jobs).await;
    let result = match result {
        Err(e) => Err(e),
        Ok(()) if cancel.is_cancelled() => Err(PullError::Cancelled),
        Ok(()) => {
            if let Some(dest) = &shared.dest {
                // A complete run: leftover temps are worthless (failed items were removed).
                let dest = dest.clone();
                tokio::task::spawn_blocking(move || dest.remove_temps())
                    .await
                    .map_err(internal)??;
            }
            Ok(shared.summary.lock().map_err(internal)?.clone())
        }
    };
    drop(lock);
    result
}

/// What a run holds on DEST: the lock, the writer and the ledger.
type OpenDest = (Option<DestLock>, Option<Destination>, Option<Ledger>);

/// Blocking: takes the lock and opens DEST and its ledger (read-write, migrated, under the
/// lock); for a dry run only an existing ledger, read-only.
fn open_dest(dest: &Path, dry_run: bool, command: &str) -> Result<OpenDest, PullError> {
    if dry_run {
        // Nothing is created or changed: an existing ledger is read (read-only, never
        // migrated) to know what is done, a missing one means nothing is.
        let ledger = if ledger::ledger_path(dest).is_file() {
            Some(Ledger::open_read_only(dest)?)
        } else {
            None
        };
        return Ok((None, None, ledger));
    }
    let lock = DestLock::acquire(dest, command)?;
    let writer = Destination::open(dest)?;
    let ledger = Ledger::open(dest)?;
    Ok((Some(lock), Some(writer), Some(ledger)))
}

async fn run(shared: &Arc<Shared>, assets: Vec<Asset>, jobs: usize) -> Result<(), PullError> {
    let (jobs_planned, assets, first_client) = plan(shared, assets).await?;
    let plan = shared.summary.lock().map_err(internal)?.plan.clone();
    shared.observer.event(&PullEvent::Plan(plan));
    if shared.config.dry_run {
        for job in &jobs_planned {
            for copy in &job.copies {
                for r in &copy.pending {
                    shared.observer.event(&PullEvent::WouldCopy {
                        device_path: r.device_path.clone(),
                        role: r.role,
                        bytes: r.size.unwrap_or(0),
                        album: copy.album.clone(),
                    });
                }
            }
        }
        return Ok(());
    }
    let queue = same_name_bundles(jobs_planned, &assets);
    if queue.is_empty() {
        return sidecar_pass(shared, assets).await;
    }
    let workers = jobs.min(queue.len());
    let queue = Arc::new(Mutex::new(queue));
    let mut first_client = first_client;
    let mut handles = Vec::with_capacity(workers);
    for _ in 0..workers {
        let sh = shared.clone();
        let q = queue.clone();
        let all = assets.clone();
        let client = first_client.take();
        handles.push(tokio::spawn(async move {
            let r = worker(&sh, q, all, client).await;
            if r.is_err() {
                sh.stop.cancel();
            }
            r
        }));
    }
    let mut first_error = None;
    for h in handles {
        let r = h.await.map_err(internal).and_then(|r| r);
        if let Err(e) = r {
            // The cause beats the "cancelled" of the workers it stopped.
            let replace = match (&first_error, &e) {
                (None, _) => true,
                (Some(PullError::Cancelled), e) => !matches!(e, PullError::Cancelled),
                _ => false,
            };
            if replace {
                first_error = Some(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => sidecar_pass(shared, assets).await,
    }
}

/// `--xmp`: sidecars for every imported original of the selected assets (see `sidecars`).
async fn sidecar_pass(shared: &Arc<Shared>, assets: Arc<Vec<Asset>>) -> Result<(), PullError> {
    let (Some(style), Some(dest), Some(ledger)) = (shared.config.xmp, &shared.dest, &shared.ledger)
    else {
        return Ok(());
    };
    if shared.stop.is_cancelled() {
        return Ok(());
    }
    let (dest, ledger, sh) = (dest.clone(), ledger.clone(), shared.clone());
    let counts = tokio::task::spawn_blocking(move || {
        let chosen: Vec<&Asset> = assets
            .iter()
            .filter(|a| selected(&sh.config.filters, a))
            .collect();
        let ledger = ledger.lock().map_err(internal)?;
        let tmp = dest.state_dir().join(TMP_DIR);
        let udid = sh.device.udid.as_str();
        Ok::<_, PullError>(write_sidecars(
            dest.root(),
            &tmp,
            &ledger,
            udid,
            &chosen,
            style,
        )?)
    })
    .await
    .map_err(internal)??;
    shared.summary.lock().map_err(internal)?.sidecars = counts;
    Ok(())
}

/// Decides what to copy. Returns the jobs and the connection used for stats (if any), which
/// becomes the first worker's.
async fn plan(
    shared: &Arc<Shared>,
    mut assets: Vec<Asset>,
) -> Result<(VecDeque<Job>, Arc<Vec<Asset>>, Option<AfcClient>), PullError> {
    let cfg = &shared.config;
    let udid = shared.device.udid.as_str();
    let mut plan = Plan {
        assets: assets.len() as u64,
        ..Plan::default()
    };
    let mut known = KnownCache::default();
    let ledger = shared.ledger.as_deref();
    let by_album = cfg.layout.has_album();
    let mut jobs = VecDeque::new();
    for (index, asset) in assets.iter_mut().enumerate() {
        if !selected(&cfg.filters, asset) {
            plan.filtered_out += 1;
            continue;
        }
        plan.selected += 1;
        if asset.icloud_only {
            plan.icloud_only += 1;
        }
        if asset.original_missing {
            plan.original_missing += 1;
        }
        asset.resources.sort_by_key(|r| role_rank(r.role));
        let mut wanted = Vec::new();
        let mut unsafe_original = false;
        for r in &asset.resources {
            if r.role == ResourceRole::EditedRender && !cfg.edited {
                continue;
            }
            let unsafe_reason = names::validate_device_path(&r.device_path)
                .err()
                .map(|e| e.to_string())
                .or_else(|| {
                    names::validate_name(&asset.stem)
                        .err()
                        .map(|e| format!("asset name: {e}"))
                });
            if let Some(reason) = unsafe_reason {
                plan.unsafe_names += 1;
                tracing::warn!(path = %r.device_path.escape_debug(), "skipping: {reason}");
                shared.observer.event(&PullEvent::Skipped {
                    device_path: r.device_path.clone(),
                    reason: format!("unsafe name from the phone: {reason}"),
                });
                if r.role == ResourceRole::Original {
                    unsafe_original = true;
                    break;
                }
                continue;
            }
            wanted.push(r);
        }
        if unsafe_original || wanted.is_empty() {
            continue;
        }
        // One copy, or one per album when the layout sorts by album.
        let albums: Vec<Option<String>> = if !by_album {
            vec![None]
        } else if asset.albums.is_empty() {
            vec![Some(String::new())]
        } else {
            asset.albums.iter().cloned().map(Some).collect()
        };
        let mut copies = Vec::with_capacity(albums.len());
        for album in albums {
            let key = copy_key(album.as_deref());
            let mut pending = Vec::with_capacity(wanted.len());
            let mut original_known = false;
            for r in &wanted {
                if known.contains(ledger, udid, folder_of(&r.device_path), r.name(), &key)? {
                    plan.already_imported += 1;
                    if r.role == ResourceRole::Original {
                        original_known = true;
                    }
                } else {
                    pending.push((*r).clone());
                }
            }
            if pending.is_empty() {
                continue;
            }
            let anchor = if original_known {
                anchor_from_ledger(shared, asset, &key)?
            } else {
                None
            };
            if original_known && anchor.is_none() {
                // The original's copy is gone from the ledger's view; companions wait for it.
                continue;
            }
            copies.push(CopyWork {
                album,
                pending,
                anchor,
            });
        }
        let Some(first) = copies.first() else {
            continue;
        };
        if asset.icloud_only && first.pending[0].role == ResourceRole::Original {
            // Photos.sqlite says the original is not on the phone (a fresh copy of the database
            // is fetched whenever it changes): reading it would only fail, and trying costs
            // round trips on every run. Its companions wait for it, as after a failed read.
            report_failure(
                shared,
                &first.pending[0].device_path,
                icloud_only_reason(None),
                true,
            )?;
            continue;
        }
        if asset.original_missing && first.pending[0].role == ResourceRole::Original {
            // Not on the phone and not in iCloud: no read can succeed, no setting can help.
            report_missing(shared, &first.pending[0].device_path)?;
            continue;
        }
        jobs.push_back(Job {
            asset: index,
            copies,
        });
    }

    // Stat only what will be copied, pipelined on one connection; results are applied as they
    // arrive (a collected result list and a path map were ~50 MB at 100,000 assets). A file in
    // several album copies of an asset is stat'ed once, for its first copy.
    let mut need_stat: Vec<(usize, usize, usize, String)> = Vec::new();
    for (j, job) in jobs.iter().enumerate() {
        for (c, copy) in job.copies.iter().enumerate() {
            for (i, r) in copy.pending.iter().enumerate() {
                let earlier = job.copies[..c]
                    .iter()
                    .any(|e| e.pending.iter().any(|x| x.device_path == r.device_path));
                if (r.size.is_none() || r.mtime_ns.is_none()) && !earlier {
                    need_stat.push((j, c, i, r.device_path.clone()));
                }
            }
        }
    }
    let mut client = None;
    if !need_stat.is_empty() {
        let c = connect(shared).await?;
        let mut stats = futures::stream::iter(need_stat)
            .map(|(j, ci, i, path)| {
                let c = &c;
                async move {
                    let r = c.stat(&path).await;
                    (
                        (j, ci, i),
                        path,
                        r.map(|info| (info.st_size, info.st_mtime_ns, info.st_birthtime_ns)),
                    )
                }
            })
            .buffer_unordered(STATS_IN_FLIGHT);
        // (job, device path) of files the phone refused.
        let mut dropped: HashSet<(usize, String)> = HashSet::new();
        loop {
            let next = tokio::select! {
                n = stats.next() => n,
                _ = shared.stop.cancelled() => return Err(PullError::Cancelled),
            };
            let Some(((j, ci, i), path, r)) = next else {
                break;
            };
            match r {
                Ok((size, mtime_ns, birth_ns)) => {
                    if let Some(birth) = birth_ns {
                        shared
                            .births
                            .lock()
                            .map_err(internal)?
                            .insert(path.clone(), birth);
                    }
                    let res = &mut jobs[j].copies[ci].pending[i];
                    res.size = Some(size);
                    res.mtime_ns = Some(mtime_ns);
                }
                Err(e) if e.is_fatal() => {
                    return Err(PullError::Disconnected { path, source: e });
                }
                Err(e) => {
                    report_failure(shared, &path, e.to_string(), false)?;
                    dropped.insert((j, path));
                }
            }
        }
        drop(stats);
        for (j, job) in jobs.iter_mut().enumerate() {
            // Later copies take the first copy's stat.
            if job.copies.len() > 1 {
                let known: HashMap<String, (Option<u64>, Option<u64>)> = job
                    .copies
                    .iter()
                    .flat_map(|c| &c.pending)
                    .filter(|r| r.size.is_some())
                    .map(|r| (r.device_path.clone(), (r.size, r.mtime_ns)))
                    .collect();
                for r in job.copies.iter_mut().flat_map(|c| c.pending.iter_mut()) {
                    if let Some(&(size, mtime_ns)) = known.get(&r.device_path) {
                        r.size = size;
                        r.mtime_ns = mtime_ns;
                    }
                }
            }
            for copy in job.copies.iter_mut() {
                if !dropped.is_empty() {
                    copy.pending
                        .retain(|r| !dropped.contains(&(j, r.device_path.clone())));
                }
                // Without its original, an asset's companions have no anchor.
                if copy.anchor.is_none()
                    && copy
                        .pending
                        .first()
                        .is_none_or(|r| r.role != ResourceRole::Original)
                {
                    copy.pending.clear();
                }
            }
            job.copies.retain(|c| !c.pending.is_empty());
        }
        jobs.retain(|j| !j.copies.is_empty());
        client = Some(c);
    }
    for job in &jobs {
        let mut from_phone: HashSet<&str> = HashSet::new();
        for r in job.copies.iter().flat_map(|c| &c.pending) {
            plan.files_to_copy += 1;
            // Further copies of a file are made from the first one, not read again.
            if from_phone.insert(&r.device_path) {
                plan.bytes_to_copy = plan.bytes_to_copy.saturating_add(r.size.unwrap_or(0));
            }
        }
    }
    shared.summary.lock().map_err(internal)?.plan = plan;
    Ok((jobs, Arc::new(assets), client))
}

/// Why an iCloud-only original was not copied, and what to change on the phone.
fn icloud_only_reason(read_error: Option<&AfcError>) -> String {
    let why = match read_error {
        Some(e) => format!("the phone could not read it: {e}"),
        None => "Photos.sqlite says it is not on the phone".to_owned(),
    };
    format!(
        "the original is only in iCloud ({why}); on the phone turn on Settings › Photos › Download and Keep Originals, wait for the download, and run again"
    )
}

/// The anchor of an asset whose original an earlier run imported: its destination's date and
/// collision suffix, so a new companion (an AAE after an edit) lands beside it.
fn anchor_from_ledger(
    shared: &Shared,
    asset: &Asset,
    copy: &str,
) -> Result<Option<Anchor>, PullError> {
    let (Some(ledger), Some(original)) = (&shared.ledger, asset.original()) else {
        return Ok(None);
    };
    let entry = ledger.lock().map_err(internal)?.lookup_copy(
        &shared.device.udid,
        &original.device_path,
        copy,
    )?;
    let Some(entry) = entry else {
        return Ok(None);
    };
    let local = shared.config.dest.join(&entry.dest_path);
    let fallbacks = Fallbacks {
        photos_db: asset.created,
        birth_time: None,
    };
    let date = dates::capture_date_of(&local, &fallbacks);
    let (dest_stem, _) = split_name(entry.dest_path.rsplit('/').next().unwrap_or(""));
    let suffix = collision_suffix(dest_stem, &asset.stem);
    Ok(date.map(|d| Anchor {
        day: d.day(),
        mtime: Some(d.system_time()),
        suffix,
    }))
}

/// The first collision suffix at which none of an asset's companions (Live Photo video, AAE,
/// edited render) would land on a different file, so they can all keep the original's stem
/// (a second phone's `IMG_0001.MOV` must not split this phone's `IMG_0001` pair). An existing
/// file of the companion's size counts as free: it is most likely this very file from an
/// earlier import, and the commit checks its content anyway.
fn companion_suffix(
    root: &Path,
    layout: &Layout,
    vars: &ResourceVars<'_>,
    companions: &[(ResourceRole, String, u64)],
) -> u32 {
    let free = |n: u32| {
        companions.iter().all(|(role, name, size)| {
            let (_, ext) = split_name(name);
            let v = ResourceVars { ext, ..*vars };
            let rel = if *role == ResourceRole::EditedRender {
                layout.render_edited(&v, ext)
            } else {
                layout.render(&v)
            };
            let Some(path) = rel.ok().and_then(|r| r.with_suffix(n).ok()) else {
                return true;
            };
            match std::fs::symlink_metadata(path.under(root)) {
                Ok(meta) => meta.is_file() && meta.len() == *size,
                Err(_) => true,
            }
        })
    };
    (0..COMPANION_SUFFIX_TRIES).find(|&n| free(n)).unwrap_or(0)
}

/// ` (N)` suffixes tried to keep an asset's files together before letting each find its own.
const COMPANION_SUFFIX_TRIES: u32 = 100;

/// The ` (N)` a committed file's stem carries beyond the asset's stem (0 = none).
fn collision_suffix(dest_stem: &str, stem: &str) -> u32 {
    dest_stem
        .rsplit_once(" (")
        .filter(|(base, _)| base.ends_with(stem))
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn connect(shared: &Shared) -> Result<AfcClient, PullError> {
    tokio::select! {
        c = shared.connector.connect() => c.map_err(PullError::Connect),
        _ = shared.stop.cancelled() => Err(PullError::Cancelled),
    }
}

fn report_failure(
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
pub const ORIGINAL_MISSING_REASON: &str = "the original is missing: Photos.sqlite says it is neither on this phone nor in iCloud, so no setting on the phone can download it; look for it in a backup or on the computer or device it came from";

fn report_missing(shared: &Shared, path: &str) -> Result<(), PullError> {
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

async fn worker(
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

/// The jobs in bundles of one stem, each copied by one worker in folder order (see
/// [`same_name::bundles`]).
fn same_name_bundles(jobs: VecDeque<Job>, assets: &[Asset]) -> VecDeque<Vec<Job>> {
    let order = same_name::bundles(jobs.iter().map(|j| &assets[j.asset]));
    let mut slots: Vec<Option<Job>> = jobs.into_iter().map(Some).collect();
    order
        .into_iter()
        .map(|b| b.into_iter().filter_map(|k| slots[k].take()).collect())
        .collect()
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
        let companions: Vec<Resource> = pending
            .iter()
            .filter(|r| r.role != ResourceRole::Original)
            .cloned()
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
    if !entries.is_empty()
        && let Some(ledger) = &shared.ledger
    {
        let ledger = ledger.clone();
        let name = shared.device.name.clone();
        tokio::task::spawn_blocking(move || {
            ledger
                .lock()
                .map_err(internal)?
                .record_many(&entries, &name)
                .map_err(PullError::from)
        })
        .await
        .map_err(internal)??;
    }
    outcome
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

/// Stages a further copy of a file this run already brought from the phone, from that file
/// (resuming at `offset`), and checks it has the bytes the phone sent.
async fn stage_local(
    mut partial: Partial,
    source: &Path,
    hash: [u8; 32],
    offset: u64,
    temp: &Path,
) -> Result<Staged, ItemError> {
    let source = source.to_path_buf();
    let staged = tokio::task::spawn_blocking(move || {
        let read_err = |e| SafeWriteError::Read {
            path: source.clone(),
            source: e,
        };
        let mut file = std::fs::File::open(&source).map_err(read_err)?;
        file.seek(SeekFrom::Start(offset)).map_err(read_err)?;
        partial.copy_from(&mut file)?;
        partial.finish()
    })
    .await
    .map_err(internal)?;
    match staged {
        Ok(staged) if *staged.blake3().as_bytes() == hash => Ok(staged),
        Ok(_) | Err(SafeWriteError::SizeMismatch { .. }) => {
            let _ = std::fs::remove_file(temp);
            Err(ItemError::Item {
                reason:
                    "its first copy in DEST changed while the album copies were made; run again"
                        .into(),
                icloud_only: false,
            })
        }
        Err(source) => Err(PullError::Write {
            path: temp.display().to_string(),
            source,
        }
        .into()),
    }
}

/// Checks a resumed temp file's kept bytes against the phone ([`resume`]); a difference
/// restarts the file from 0.
async fn prove_prefix(
    client: &AfcClient,
    device_path: &str,
    partial: Partial,
) -> Result<Partial, ItemError> {
    match resume::prove_prefix(client, device_path, partial).await {
        Ok((partial, Verdict::Kept)) => Ok(partial),
        Ok((partial, Verdict::Restarted { at })) => {
            tracing::info!(
                path = %device_path.escape_debug(),
                "the kept bytes of an interrupted copy differ from the phone's near byte {at}; copying it again from the start"
            );
            Ok(partial)
        }
        Err(ProveError::Phone(source)) => Err(PullError::Disconnected {
            path: device_path.to_string(),
            source,
        }
        .into()),
        Err(ProveError::Dest(source)) => Err(PullError::Write {
            path: device_path.to_string(),
            source,
        }
        .into()),
    }
}

/// Counts bytes on their way to the disk writer, for the progress display.
struct Counting<R> {
    inner: R,
    observer: Arc<dyn Observer>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.observer.bytes(n as u64);
        }
        Ok(n)
    }
}

fn is_unreadable_original(e: &AfcError) -> bool {
    e.status() == Some(AfcStatus::IoError)
}

/// Copies one resource to its final path. Returns its ledger entry and where it was placed.
async fn copy_resource(
    shared: &Arc<Shared>,
    client: &AfcClient,
    asset: &AssetRef,
    res: &Resource,
    anchor: Option<Anchor>,
    companions: &[Resource],
    target: CopyTarget<'_>,
) -> Result<(Entry, Anchor), ItemError> {
    let dest = shared
        .dest
        .clone()
        .ok_or_else(|| internal("copy without a destination"))?;
    let size = res.size.unwrap_or(0);
    let mtime_ns = res.mtime_ns.unwrap_or(0) as i64;
    let udid = shared.device.udid.clone();
    let path = res.device_path.clone();
    let key = target.key.to_string();
    let begin_dest = dest.clone();
    let birth_ns = shared
        .births
        .lock()
        .map_err(internal)?
        .get(&res.device_path)
        .copied();
    let mut partial = tokio::task::spawn_blocking(move || {
        let key = SourceKey {
            udid: &udid,
            device_path: &path,
            copy: &key,
            size,
            mtime_ns,
        };
        begin_dest.begin_version(&key, birth_ns)
    })
    .await
    .map_err(internal)?
    .map_err(|source| PullError::Write {
        path: res.device_path.clone(),
        source,
    })?;
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
    let (staged, received) = if let Some((source, hash)) = target.local {
        (stage_local(partial, source, *hash, offset, &temp).await?, 0)
    } else {
        let (pipe_in, pipe_out) = tokio::io::duplex(PIPE_BYTES);
        let mut reader = Counting {
            inner: SyncIoBridge::new(pipe_out),
            observer: shared.observer.clone(),
        };
        let writer = tokio::task::spawn_blocking(move || {
            partial.copy_from(&mut reader)?;
            partial.finish()
        });
        let device_path = res.device_path.as_str();
        // The pipe is dropped when the read ends: the writer sees the end of the file.
        let read = async move {
            let mut pipe_in = pipe_in;
            client
                .read_range_to(device_path, size, offset, &mut pipe_in)
                .await
        };
        let read_result = tokio::select! {
            r = read => Some(r),
            _ = shared.stop.cancelled() => None,
        };
        let written = writer.await.map_err(internal)?;
        let Some(read_result) = read_result else {
            // Abandoned: the temp file keeps what arrived, for the next run.
            return Err(PullError::Cancelled.into());
        };
        let staged = match (read_result, written) {
            (Ok(_), Ok(staged)) => staged,
            (Err(e), _) if e.is_fatal() => {
                return Err(PullError::Disconnected {
                    path: res.device_path.clone(),
                    source: e,
                }
                .into());
            }
            (
                Err(AfcError::Output(_)) | Ok(_),
                Err(SafeWriteError::SizeMismatch { expected, got }),
            ) => {
                let _ = std::fs::remove_file(&temp);
                return Err(ItemError::Item {
                    reason: format!(
                        "the phone sent {got} bytes where {expected} were announced (the file changed); run again"
                    ),
                    icloud_only: false,
                });
            }
            (Err(AfcError::Output(_)) | Ok(_), Err(source)) => {
                return Err(PullError::Write {
                    path: res.device_path.clone(),
                    source,
                }
                .into());
            }
            (Err(e), _) => {
                // The phone refused this file (vanished, unreadable, iCloud-only): drop its temp.
                let _ = std::fs::remove_file(&temp);
                let icloud = res.role == ResourceRole::Original
                    && (asset.icloud_only || is_unreadable_original(&e));
                let reason = if icloud {
                    icloud_only_reason(Some(&e))
                } else {
                    e.to_string()
                };
                return Err(ItemError::Item {
                    reason,
                    icloud_only: icloud,
                });
            }
        };
        (staged, size.saturating_sub(offset))
    };

    // Date, layout, rename: local, blocking.
    let layout = shared.config.layout.clone();
    let device_name = shared.device.name.clone();
    let asset2 = asset.clone();
    let role = res.role;
    let name = res.name().to_string();
    let device_mtime = UNIX_EPOCH + Duration::from_nanos(mtime_ns.max(0) as u64);
    let companions: Vec<(ResourceRole, String, u64)> = companions
        .iter()
        .map(|c| (c.role, c.name().to_string(), c.size.unwrap_or(0)))
        .collect();
    let root = dest.root().to_path_buf();
    let album = target.album.map(str::to_string);
    let committed = tokio::task::spawn_blocking(move || {
        let placed = match anchor {
            Some(a) => a,
            None => {
                let fallbacks = Fallbacks {
                    photos_db: asset2.created,
                    birth_time: Some(device_mtime),
                };
                let date = dates::capture_date_of(staged.temp_path(), &fallbacks);
                Anchor {
                    day: date.map_or_else(
                        || DateTime::<chrono::Utc>::from(device_mtime).date_naive(),
                        |d| d.day(),
                    ),
                    mtime: date.map(|d| d.system_time()).or(Some(device_mtime)),
                    suffix: 0,
                }
            }
        };
        let (_, ext) = split_name(&name);
        let vars = ResourceVars {
            date: placed.day,
            stem: &asset2.stem,
            ext,
            device: &device_name,
            dcim_folder: dcim_folder(&asset2),
            album: album.as_deref().unwrap_or(""),
            original_stem: asset2
                .meta
                .original_filename
                .as_deref()
                .map_or("", |n| split_name(n).0),
            favorite: asset2.favorite,
            kind: kind_word(&asset2),
        };
        let rel = if role == ResourceRole::EditedRender {
            layout.render_edited(&vars, ext)
        } else {
            layout.render(&vars)
        };
        let rel = match rel {
            Ok(rel) => rel,
            Err(e) => return Ok(Err(e)),
        };
        let first_suffix = if anchor.is_none() {
            companion_suffix(&root, &layout, &vars, &companions)
        } else {
            placed.suffix
        };
        let committed = staged.commit(&rel, placed.mtime, first_suffix)?;
        let placed = Anchor {
            suffix: committed.suffix,
            ..placed
        };
        Ok::<_, SafeWriteError>(Ok((committed, placed)))
    })
    .await
    .map_err(internal)?
    .map_err(|source| PullError::Write {
        path: res.device_path.clone(),
        source,
    })?;
    let (committed, placed) = committed.map_err(|e: LayoutError| {
        let _ = std::fs::remove_file(&temp);
        ItemError::Item {
            reason: format!("no valid destination path: {e}"),
            icloud_only: false,
        }
    })?;
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
    let entry = Entry {
        udid: shared.device.udid.clone(),
        device_path: res.device_path.clone(),
        copy: target.key.to_string(),
        size,
        device_mtime_ns: mtime_ns,
        dest_path,
        blake3: *committed.blake3.as_bytes(),
        imported_at_ns: now_ns(),
    };
    Ok((entry, placed))
}

/// DEST's absolute form for messages (best effort).
pub fn display_dest(dest: &Path) -> String {
    std::path::absolute(dest)
        .unwrap_or_else(|_| dest.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(kind: AssetKind, created: Option<&str>) -> Asset {
        Asset {
            key: "k".into(),
            uuid: None,
            folder: "DCIM/100APPLE".into(),
            stem: "IMG_0001".into(),
            kind,
            resources: Vec::new(),
            created: created.map(|c| DateTime::parse_from_rfc3339(c).unwrap()),
            hidden: false,
            trashed: false,
            trashed_at: None,
            icloud_only: false,
            original_missing: false,
            only_copy_on_phone: false,
            favorite: false,
            albums: Vec::new(),
            meta: Default::default(),
        }
    }

    #[test]
    fn date_filters_use_the_local_day_and_take_undated_assets() {
        let f = Filters::from_args(Some("2025-06-14"), None, false, false, false, false).unwrap();
        // 23:30 on the 13th where it was taken (already the 14th in UTC): before --since.
        assert!(!selected(
            &f,
            &asset(AssetKind::Photo, Some("2025-06-13T23:30:00-02:00"))
        ));
        assert!(selected(
            &f,
            &asset(AssetKind::Photo, Some("2025-06-14T00:10:00+09:00"))
        ));
        // No library date: the filter cannot decide before copying; the asset is taken.
        assert!(selected(&f, &asset(AssetKind::Photo, None)));
        // Kind filters still apply to undated assets.
        let videos =
            Filters::from_args(Some("2025-06-14"), None, false, true, false, false).unwrap();
        assert!(!selected(&videos, &asset(AssetKind::Photo, None)));
        let mut trashed = asset(AssetKind::Video, None);
        trashed.trashed = true;
        assert!(!selected(&videos, &trashed));
    }

    #[test]
    fn collision_suffix_is_read_back_from_a_destination_name() {
        assert_eq!(collision_suffix("IMG_0001", "IMG_0001"), 0);
        assert_eq!(collision_suffix("IMG_0001 (3)", "IMG_0001"), 3);
        assert_eq!(collision_suffix("100APPLE-IMG_0001 (2)", "IMG_0001"), 2);
        assert_eq!(collision_suffix("IMG_0001 (x)", "IMG_0001"), 0);
        assert_eq!(collision_suffix("IMG_0002 (1)", "IMG_0001"), 0);
    }

    #[test]
    fn originals_go_first() {
        let mut roles = [
            ResourceRole::Sidecar,
            ResourceRole::EditedRender,
            ResourceRole::LiveVideo,
            ResourceRole::Original,
        ];
        roles.sort_by_key(|r| role_rank(*r));
        assert_eq!(roles[0], ResourceRole::Original);
        assert_eq!(roles[1], ResourceRole::LiveVideo);
    }

    #[test]
    fn folder_of_device_paths() {
        assert_eq!(folder_of("DCIM/100APPLE/IMG_0001.HEIC"), "DCIM/100APPLE");
        assert_eq!(folder_of("/DCIM/100APPLE/IMG_0001.HEIC"), "DCIM/100APPLE");
        assert_eq!(folder_of("IMG_0001.HEIC"), "");
    }
}
