//! The run's plan, made chunk after chunk while the workers copy the chunks before.
//!
//! The assets are cut into chunks of about [`super::PullConfig::plan_chunk`] assets, each
//! holding every asset of its stems ([`same_name::chunks`]). Per chunk: the ledger's view of
//! its folders ([`known`]; folders the previous chunk loaded are kept), the decisions
//! ([`planner`]), the stats of what will be copied ([`stat`]), then its jobs in bundles of one
//! stem. So the jobs, the known names and the stats in memory are those of the chunks in
//! flight, not of the library; the assets themselves move from the inventory into their
//! chunk, and are kept after the copy only for the sidecar and JPEG passes.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use super::error::{PullError, internal};
use super::events::{Plan, PullEvent};
use super::fetch::icloud_only_reason;
use super::known;
use super::planner::{self, Job, Known, Notice, Rules};
use super::queue::Bundle;
use super::shared::{Shared, report_failure, report_missing};
use super::stat;
use crate::afc::AfcClient;
use crate::import::internal_error::InternalError;
use crate::import::same_name;
use crate::library::Asset;

/// The planning state between turns: what is left to plan and what the last turn loaded.
#[derive(Default)]
pub(super) struct Planning {
    /// The inventory; each asset is taken out when its chunk is planned.
    inventory: Vec<Option<Asset>>,
    chunks: VecDeque<Vec<usize>>,
    /// The ledger's names of the folders the last chunk used.
    known: Known,
    /// The planned chunks, kept when a pass after the copy needs every asset.
    kept: Option<Vec<Arc<Vec<Asset>>>>,
}

impl Planning {
    /// `keep`: the assets are wanted back after the copy ([`Planning::into_assets`]).
    pub(super) fn new(assets: Vec<Asset>, chunk: usize, keep: bool) -> Self {
        let mut chunks = same_name::chunks(&assets, chunk);
        if chunks.is_empty() {
            // One empty chunk: a phone with nothing on it still gets its plan (of zeros).
            chunks.push_back(Vec::new());
        }
        Planning {
            inventory: assets.into_iter().map(Some).collect(),
            chunks,
            known: Known::default(),
            kept: keep.then(Vec::new),
        }
    }

    pub(super) fn more(&self) -> bool {
        !self.chunks.is_empty()
    }

    /// The kept assets (none unless asked for in [`Planning::new`]), once no worker holds
    /// them.
    pub(super) fn into_assets(self) -> Arc<Vec<Asset>> {
        let kept = self.kept.unwrap_or_default();
        Arc::new(kept.into_iter().flat_map(Arc::unwrap_or_clone).collect())
    }
}

/// One turn of planning: the next chunk's bundles, after its counts and decisions are
/// reported (`Planning` events while chunks remain, `Plan` with the totals after the last;
/// `WouldCopy` per file on a dry run, which queues nothing). `client` is the worker's
/// connection, opened here when a file needs a stat.
pub(super) async fn plan_next(
    shared: &Arc<Shared>,
    planning: &mut Planning,
    client: &mut Option<AfcClient>,
) -> Result<Vec<Bundle>, PullError> {
    let Some(chunk) = planning.chunks.pop_front() else {
        return Ok(Vec::new());
    };
    let assets = chunk
        .iter()
        .map(|&k| planning.inventory.get_mut(k).and_then(Option::take))
        .collect::<Option<Vec<Asset>>>()
        .ok_or_else(|| internal(InternalError::PlannedTwice))?;
    drop(chunk);
    let mut counts = Plan::default();
    let (jobs, assets) =
        plan_chunk(shared, assets, &mut planning.known, client, &mut counts).await?;
    let total = {
        let mut summary = shared.summary.lock().map_err(internal)?;
        summary.plan.assets = planning.inventory.len() as u64;
        summary.plan.add(&counts);
        summary.plan.clone()
    };
    shared.observer.event(&if planning.more() {
        PullEvent::Planning(total)
    } else {
        PullEvent::Plan(total)
    });
    if shared.config.dry_run {
        would_copy(shared, &jobs, &assets);
        return Ok(Vec::new());
    }
    let assets = Arc::new(assets);
    if let Some(kept) = &mut planning.kept {
        kept.push(assets.clone());
    }
    Ok(same_name_bundles(jobs, &assets)
        .into_iter()
        .map(|jobs| Bundle {
            assets: assets.clone(),
            jobs,
        })
        .collect())
}

/// Decides what to copy of one chunk: the ledger's view of its folders ([`known`], blocking
/// threads), the decisions ([`planner`], pure), the stats of what will be copied ([`stat`]).
/// Counts into `counts`; returns the jobs and the chunk's assets they index.
async fn plan_chunk(
    shared: &Arc<Shared>,
    mut assets: Vec<Asset>,
    known: &mut Known,
    client: &mut Option<AfcClient>,
    counts: &mut Plan,
) -> Result<(VecDeque<Job>, Vec<Asset>), PullError> {
    let cfg = &shared.config;
    let rules = Rules {
        filters: &cfg.filters,
        edited: cfg.edited,
        by_album: cfg.layout.has_album(),
    };
    let folders = planner::folders(&assets, &rules);
    refresh_known(shared, known, folders, rules.by_album).await?;
    let mut drafted = Vec::new();
    let mut jobs: Vec<Job> = assets
        .iter_mut()
        .enumerate()
        .filter_map(|(i, a)| planner::draft(i, a, known, &rules, counts, &mut drafted))
        .collect();
    let wanted = jobs
        .iter()
        .flat_map(|j| j.anchors_wanted().map(|key| (j.asset, key)))
        .collect();
    let (mut assets, anchors) = known::anchors(shared, assets, wanted).await?;
    planner::finish(&mut jobs, &assets, &anchors, drafted, |n| report(shared, n))?;
    let mut jobs = VecDeque::from(jobs);
    stat::stat_pending(shared, &mut jobs, &mut assets, client).await?;
    planner::count(&jobs, &assets, counts);
    Ok((jobs, assets))
}

/// Makes `known` hold the ledger's view of exactly `folders`: those of the last chunk that
/// this one uses too are kept, the others dropped, the missing ones read.
async fn refresh_known(
    shared: &Arc<Shared>,
    known: &mut Known,
    mut folders: BTreeSet<String>,
    by_album: bool,
) -> Result<(), PullError> {
    known.retain_folders(&folders);
    folders.retain(|f| !known.has_folder(f));
    if !folders.is_empty() {
        known.absorb(known::load(shared, folders, by_album).await?);
    }
    Ok(())
}

/// The jobs in bundles of one stem, each copied by one worker in folder order (see
/// [`same_name::bundles`]).
fn same_name_bundles(jobs: VecDeque<Job>, assets: &[Asset]) -> Vec<Vec<Job>> {
    let order = same_name::bundles(jobs.iter().map(|j| &assets[j.asset]));
    let mut slots: Vec<Option<Job>> = jobs.into_iter().map(Some).collect();
    order
        .into_iter()
        .map(|b| {
            // Exact: a collected Vec starts at four slots, and most bundles hold one job.
            let mut bundle = Vec::with_capacity(b.len());
            bundle.extend(b.into_iter().filter_map(|k| slots[k].take()));
            bundle
        })
        .collect()
}

/// `--dry-run`: one event per file the plan would copy.
fn would_copy(shared: &Shared, jobs: &VecDeque<Job>, assets: &[Asset]) {
    for job in jobs {
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
