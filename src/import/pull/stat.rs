//! The phone's side of the plan: size and mtime of the files to copy, pipelined on the AFC
//! connection of the worker that plans.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use futures::StreamExt;

use super::error::{PullError, internal};
use super::planner::{self, Job, StatRequest};
use super::shared::{Shared, connect, report_failure};
use crate::afc::AfcClient;
use crate::library::Asset;

/// Stats kept in flight on the planning connection.
const STATS_IN_FLIGHT: usize = 64;

/// Stats the files of `jobs` whose size or mtime is unknown, into `assets`; a file the phone
/// refuses is reported and dropped (see [`planner::settle`]). Stats go over `client`, opened
/// here if it is not yet.
pub(super) async fn stat_pending(
    shared: &Arc<Shared>,
    jobs: &mut VecDeque<Job>,
    assets: &mut [Asset],
    client: &mut Option<AfcClient>,
) -> Result<(), PullError> {
    let need_stat = planner::stat_requests(jobs, assets);
    if need_stat.is_empty() {
        return Ok(());
    }
    let c = match client {
        Some(c) => c,
        None => client.insert(connect(shared).await?),
    };
    // The assets are read when a stat is sent and written when its result arrives, never
    // across an await (a Mutex, not a RefCell: the pull's future is Send).
    let cell = Mutex::new(&mut *assets);
    let path_of = |(a, i): StatRequest| {
        cell.lock()
            .map(|assets| assets[a].resources[i].device_path.clone())
            .map_err(internal)
    };
    // Results are applied as they arrive (a collected result list and a path map were ~50 MB
    // at 100,000 assets).
    let mut stats = futures::stream::iter(need_stat)
        .map(|at| {
            let (c, path) = (&*c, path_of(at));
            async move {
                let path = path?;
                let r = c.stat(&path).await;
                Ok::<_, PullError>((
                    at,
                    path,
                    r.map(|info| (info.st_size, info.st_mtime_ns, info.st_birthtime_ns)),
                ))
            }
        })
        .buffer_unordered(STATS_IN_FLIGHT);
    // The files the phone refused.
    let mut dropped: HashSet<StatRequest> = HashSet::new();
    loop {
        let next = tokio::select! {
            n = stats.next() => n,
            _ = shared.stop.cancelled() => return Err(PullError::Cancelled),
        };
        let Some(((a, i), path, r)) = next.transpose()? else {
            break;
        };
        match r {
            Ok((size, mtime_ns, birth_ns)) => {
                let mut assets = cell.lock().map_err(internal)?;
                let res = &mut assets[a].resources[i];
                (res.size, res.mtime_ns, res.birth_ns) = (Some(size), Some(mtime_ns), birth_ns);
            }
            Err(e) if e.is_fatal() => {
                return Err(PullError::Disconnected { path, source: e });
            }
            Err(e) => {
                report_failure(shared, &path, e.to_string(), false)?;
                dropped.insert((a, i));
            }
        }
    }
    drop(stats);
    planner::settle(jobs, assets, &dropped);
    Ok(())
}
