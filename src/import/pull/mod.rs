//! The pull engine: plan what to copy, copy it over `jobs` AFC connections, record it.
//!
//! Input is a list of [`Asset`]s (from the library inventory, or
//! [`mod@crate::library::scan`]). The plan is made in chunks of about
//! [`PullConfig::plan_chunk`] assets, each holding every asset of its stems, while the
//! workers copy the chunks planned before ([`stream`], [`queue`], [`workers`]):
//!
//! 1. **Plan** (per chunk). Unsafe device names are skipped with a warning; filters apply per
//!    asset; each resource whose name is in `ledger.known_paths(udid, folder)` is done
//!    already, so a no-op re-run stats and reads nothing on the phone. Only new resources are
//!    stat'ed (pipelined on the planning worker's connection) for their size and mtime.
//!    iCloud-only assets are counted here.
//! 2. **Copy.** Up to `jobs` workers, each on its own AFC connection, take bundles of whole
//!    assets from the queue (assets sharing a stem together, in folder order:
//!    [`super::same_name`]). Per resource: `safe_write` temp file (resumed from its offset when
//!    the phone's file has the same size and mtime), the phone's bytes streamed through a pipe
//!    into a blocking writer that hashes (BLAKE3) and writes while the next reads are in
//!    flight, capture date from the temp file, its mtime. Then a worker's staged files are
//!    committed as one group ([`crate::import::batch_write`]): one durability round for their
//!    bytes, layout and final paths, renames without replacing, one round for the folders
//!    touched.
//! 3. **Record.** A group's committed resources go into the ledger in one transaction.
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
//! blocking threads; [`stat`] stats the files to copy; [`stream`] plans one chunk after the
//! other; [`queue`] holds the bundles and hands out the turn to plan; [`workers`] runs them;
//! [`copy`] copies a bundle and records each group; [`fetch`] brings a file's bytes into its
//! temp file; [`place`] dates, lays out and commits it; [`jpeg`] makes the `--also-jpeg`
//! copies at the end. What they share lives in leaves that import none of them: [`config`]
//! (what a run is given), [`events`] (what it reports), [`error`] ([`PullError`]), [`shared`]
//! (the run's state and failure reports), [`item`] (what `copy` and `fetch` pass). This file
//! re-exports the public API from those leaves, opens DEST and strings the parts together.

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
mod queue;
mod shared;
mod stat;
mod stream;
mod workers;

use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::adopt::adopt_pending;
use super::ledger::{self, Ledger};
use super::lock::DestLock;
use super::safe_write::{Destination, TMP_DIR};
use super::sidecars::write_sidecars;
use crate::library::Asset;
pub(crate) use config::MAX_JOBS;
pub use config::{AfcConnector, ConnectError, PLAN_CHUNK, PullConfig, PullDevice};
pub use error::PullError;
use error::internal;
pub use events::{Observer, Plan, PullEvent, Summary};
use jpeg::jpeg_pass;
use planner::selected;
pub(crate) use shared::ORIGINAL_MISSING_REASON;
use shared::Shared;
use stream::Planning;
use workers::Crew;

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

/// Plans and copies (chunk by chunk, see [`stream`] and [`workers`]), then the passes that
/// need every imported original.
async fn run(shared: &Arc<Shared>, assets: Vec<Asset>, jobs: usize) -> Result<(), PullError> {
    let cfg = &shared.config;
    let keep = !cfg.dry_run && (cfg.xmp.is_some() || cfg.also_jpeg.is_some());
    let planning = Planning::new(assets, cfg.plan_chunk, keep);
    let planning = Crew::run(shared.clone(), planning, jobs).await?;
    if shared.config.dry_run {
        return Ok(());
    }
    after_copies(shared, planning.into_assets()).await
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

/// DEST's absolute form for messages (best effort).
pub(crate) fn display_dest(dest: &Path) -> String {
    std::path::absolute(dest)
        .unwrap_or_else(|_| dest.to_path_buf())
        .display()
        .to_string()
}
