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
//!    that hashes (BLAKE3) and writes while the next reads are in flight, capture date from
//!    the temp file, its mtime. Then the asset's files are committed as one group
//!    ([`crate::import::batch_write`]): one durability round for their bytes, layout and
//!    final paths, renames without replacing, one round for the folders touched.
//! 3. **Record.** An asset's committed resources go into the ledger in one transaction.
//!
//! The original goes first; its date and collision suffix are the *anchor* every other
//! resource of the asset (Live Photo video, AAE, edited render) is placed with, so they keep
//! one stem. Failures of one item (iCloud-only original, file vanished) are reported and the run
//! goes on; failures of the run (phone gone, disk full, ledger) stop every worker, record what
//! was completed, and return the error. Cancellation abandons in-flight files: their temp files
//! stay for the next run, nothing partial ever reaches a final path.
//!
//! Modules: [`planner`] decides from data alone (no AFC, filesystem or SQLite); [`known`]
//! reads the ledger's view of the planned folders and the anchors of imported originals on
//! blocking threads; [`stat`] stats the files to copy; [`copy`] runs the workers and records
//! each asset; [`jpeg`] makes the `--also-jpeg` copies at the end; [`fetch`] brings a file's bytes into its temp file; [`place`] dates, lays out
//! and commits it. This file holds the public API and strings them together.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

mod copy;
mod fetch;
mod jpeg;
mod known;
mod place;
mod planner;
mod stat;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::adopt::{AdoptError, adopt_pending};
use super::filters::Filters;
use super::internal_error::InternalError;
use super::jpeg_copies::JpegCounts;
use super::layout::Layout;
pub use super::ledger::copy_key;
use super::ledger::{self, Ledger, LedgerError};
use super::lock::{DestLock, LockError};
use super::safe_write::{Destination, SafeWriteError, TMP_DIR};
use super::sidecars::{SidecarCounts, SidecarError, write_sidecars};
use super::xmp::XmpName;
use crate::afc::{AfcClient, AfcError};
use crate::library::{Asset, ResourceRole};
use copy::{same_name_bundles, worker};
use fetch::icloud_only_reason;
use jpeg::jpeg_pass;
use planner::{Job, Notice, Rules, selected};

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
    /// `--also-jpeg DIR`: a JPEG copy of every imported HEIC original under DIR.
    pub also_jpeg: Option<PathBuf>,
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
    /// `--also-jpeg`: the JPEG copy of an imported original was made.
    JpegMade {
        /// The original, DEST-relative.
        dest_path: String,
        jpeg_path: String,
    },
    /// `--also-jpeg`: the copy could not be made; the original is imported all the same.
    JpegFailed {
        dest_path: String,
        reason: String,
    },
    /// `--also-jpeg`: libheif could not be loaded, so no copies are made (once per run).
    JpegUnavailable {
        message: String,
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
    /// `--also-jpeg` copies made, already there and failed.
    pub jpeg: JpegCounts,
}

impl Summary {
    /// Some items could not be copied (exit code PARTIAL).
    pub fn is_partial(&self) -> bool {
        self.files_failed > 0
            || self.sidecars.failed > 0
            || self.jpeg.failed > 0
            || self.jpeg.libheif_missing
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

/// A run's state, shared by the planner's I/O, the workers and their blocking tasks.
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

fn internal(e: impl Into<InternalError>) -> PullError {
    PullError::Internal(e.into())
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
    let mut ledger = Ledger::open(dest)?;
    adopt_pending(&mut ledger, &writer)?;
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
        return after_copies(shared, assets).await;
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
        None => after_copies(shared, assets).await,
    }
}

/// What a run does once every original is in: the sidecars, then the JPEG copies.
async fn after_copies(shared: &Arc<Shared>, assets: Arc<Vec<Asset>>) -> Result<(), PullError> {
    sidecar_pass(shared, assets.clone()).await?;
    jpeg_pass(shared, assets).await
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

/// Decides what to copy: the ledger's view of the planned folders ([`known`], blocking
/// threads), the decisions ([`planner`], pure), the stats of what will be copied ([`stat`]).
/// Returns the jobs, the assets, and the connection used for stats (if any), which becomes
/// the first worker's.
async fn plan(
    shared: &Arc<Shared>,
    mut assets: Vec<Asset>,
) -> Result<(VecDeque<Job>, Arc<Vec<Asset>>, Option<AfcClient>), PullError> {
    let cfg = &shared.config;
    let rules = Rules {
        filters: &cfg.filters,
        edited: cfg.edited,
        by_album: cfg.layout.has_album(),
    };
    let mut counts = Plan {
        assets: assets.len() as u64,
        ..Plan::default()
    };
    let folders = planner::folders(&assets, &rules);
    let known = known::load(shared, folders, rules.by_album).await?;
    let drafts: Vec<_> = assets
        .iter_mut()
        .enumerate()
        .filter_map(|(i, a)| planner::draft(i, a, &known, &rules, &mut counts))
        .collect();
    drop(known);
    let assets = Arc::new(assets);
    let wanted = drafts
        .iter()
        .flat_map(|d| d.anchors_wanted().map(|key| (d.index, key)))
        .collect();
    let anchors = known::anchors(shared, assets.clone(), wanted).await?;
    let mut jobs = VecDeque::new();
    for draft in drafts {
        let index = draft.index;
        let (notices, job) = planner::finish(draft, &assets[index], &anchors);
        for notice in notices {
            report(shared, notice)?;
        }
        jobs.extend(job);
    }
    let client = stat::stat_pending(shared, &mut jobs).await?;
    planner::count(&jobs, &mut counts);
    shared.summary.lock().map_err(internal)?.plan = counts;
    Ok((jobs, assets, client))
}

/// Reports a decision of the planner.
fn report(shared: &Shared, notice: Notice) -> Result<(), PullError> {
    match notice {
        Notice::Unsafe {
            device_path,
            reason,
        } => {
            tracing::warn!(path = %device_path.escape_debug(), "skipping: {reason}");
            shared.observer.event(&PullEvent::Skipped {
                device_path,
                reason: format!("unsafe name from the phone: {reason}"),
            });
            Ok(())
        }
        Notice::IcloudOnly { device_path } => {
            report_failure(shared, &device_path, icloud_only_reason(None), true)
        }
        Notice::Missing { device_path } => report_missing(shared, &device_path),
    }
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

/// DEST's absolute form for messages (best effort).
pub fn display_dest(dest: &Path) -> String {
    std::path::absolute(dest)
        .unwrap_or_else(|_| dest.to_path_buf())
        .display()
        .to_string()
}
