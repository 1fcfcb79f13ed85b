//! The pull engine: plan what to copy, copy it over `jobs` AFC connections, record it.
//!
//! Input is a list of [`Asset`]s (from the library inventory, or
//! [`mod@crate::library::scan`]). Per run:
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
//! and commits it. What they share lives in leaves that import none of them: [`config`] (what a
//! run is given), [`events`] (what it reports), [`error`] ([`PullError`]), [`shared`] (the run's
//! state and failure reports), [`item`] (what `copy` and `fetch` pass). This file re-exports
//! the public API from those leaves, opens DEST and strings the parts together.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

mod config;
mod copy;
mod error;
mod events;
mod fetch;
mod item;
mod jpeg;
mod known;
mod place;
mod planner;
mod shared;
mod stat;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::adopt::adopt_pending;
use super::ledger::{self, Ledger};
use super::lock::DestLock;
use super::safe_write::{Destination, TMP_DIR};
use super::sidecars::write_sidecars;
use crate::afc::AfcClient;
use crate::library::Asset;
use crate::untrusted::text::{MAX_SHOWN_REASON, for_terminal_max};
pub(crate) use config::MAX_JOBS;
pub use config::{AfcConnector, ConnectError, PullConfig, PullDevice};
use copy::{WorkerEnd, same_name_bundles, worker};
pub use error::PullError;
use error::internal;
pub use events::{Observer, Plan, PullEvent, Summary};
use fetch::icloud_only_reason;
use jpeg::jpeg_pass;
use planner::{Job, Notice, Rules, selected};
pub(crate) use shared::ORIGINAL_MISSING_REASON;
use shared::{Shared, report_failure, report_missing};

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
            let resources = &assets[job.asset].resources;
            for copy in &job.copies {
                for r in copy.pending.iter().map(|&i| &resources[i]) {
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
    join_workers(handles).await?;
    after_copies(shared, assets).await
}

/// Waits for every worker. The run's error is the first worker's failure (its cause before the
/// "cancelled" of the workers it stopped), else, when no worker got a connection, why the first
/// could not; workers the phone refused while others worked are a warning.
async fn join_workers(
    handles: Vec<tokio::task::JoinHandle<Result<WorkerEnd, PullError>>>,
) -> Result<(), PullError> {
    let asked = handles.len();
    let mut first_error = None;
    let mut refused = Vec::new();
    for h in handles {
        match h.await.map_err(internal).and_then(|r| r) {
            Ok(WorkerEnd::Done) => {}
            Ok(WorkerEnd::NotConnected(e)) => refused.push(e),
            Err(e) => {
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
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let worked = asked - refused.len();
    let mut refused = refused.into_iter();
    match (worked, refused.next()) {
        (_, None) => Ok(()),
        (0, Some(e)) => Err(e),
        (_, Some(e)) => {
            // The cause alone: the error's own advice (unlock, run again) is not this case's.
            let why = match &e {
                PullError::Connect(cause) => with_causes(&**cause),
                e => with_causes(e),
            };
            tracing::warn!(
                "the phone opened {worked} of the {asked} connections asked for (the first it \
                 refused: {}); the copy went on over {worked}. Lower --jobs (or `jobs` in the \
                 config file) to {worked} to ask for no more",
                for_terminal_max(&why, MAX_SHOWN_REASON)
            );
            Ok(())
        }
    }
}

/// An error and the errors under it, on one line (the phone's refusal is the last).
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut under = e.source();
    while let Some(cause) = under {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        under = cause.source();
    }
    line
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
    let mut drafted = Vec::new();
    let mut jobs: Vec<Job> = assets
        .iter_mut()
        .enumerate()
        .filter_map(|(i, a)| planner::draft(i, a, &known, &rules, &mut counts, &mut drafted))
        .collect();
    drop(known);
    let wanted = jobs
        .iter()
        .flat_map(|j| j.anchors_wanted().map(|key| (j.asset, key)))
        .collect();
    let (mut assets, anchors) = known::anchors(shared, assets, wanted).await?;
    planner::finish(&mut jobs, &assets, &anchors, drafted, |n| report(shared, n))?;
    let mut jobs = VecDeque::from(jobs);
    let client = stat::stat_pending(shared, &mut jobs, &mut assets).await?;
    planner::count(&jobs, &assets, &mut counts);
    shared.summary.lock().map_err(internal)?.plan = counts;
    Ok((jobs, Arc::new(assets), client))
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

/// DEST's absolute form for messages (best effort).
pub(crate) fn display_dest(dest: &Path) -> String {
    std::path::absolute(dest)
        .unwrap_or_else(|_| dest.to_path_buf())
        .display()
        .to_string()
}
