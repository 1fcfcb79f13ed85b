//! The run's workers: each takes work from the [`Queue`], plans a chunk when its turn comes
//! ([`stream`](super::stream)) and copies bundles ([`copy`](super::copy)) on its own AFC
//! connection, opened when it first needs one (a re-run with nothing new opens none). The first worker starts with the run;
//! the one that plans starts more, up to `jobs`, as bundles wait.

use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

use super::copy::{Group, copy_bundle};
use super::error::{PullError, internal};
use super::queue::{Queue, Work};
use super::shared::{Shared, connect};
use super::stream::{Planning, plan_next};
use crate::afc::AfcClient;
use crate::untrusted::text::{MAX_SHOWN_REASON, for_terminal_max};

/// How a worker that did not fail the run ended.
enum WorkerEnd {
    /// It worked until the queue was empty or the run stopped.
    Done,
    /// Its connection could not be opened: the others take its share. A phone may start only
    /// a few instances of a service (libimobiledevice's maintainer gives five for
    /// house_arrest); the run fails only when no worker got a connection.
    NotConnected(PullError),
}

type Handle = JoinHandle<Result<WorkerEnd, PullError>>;

/// What the workers share: the run, the queue, the planning state and each other's handles.
pub(super) struct Crew {
    shared: Arc<Shared>,
    queue: Queue,
    /// Taken by the worker whose turn it is to plan (the queue gives one turn at a time).
    planning: tokio::sync::Mutex<Planning>,
    handles: Mutex<Vec<Handle>>,
    /// Workers started so far.
    started: Mutex<usize>,
    jobs: usize,
}

impl Crew {
    /// Plans and copies everything with up to `jobs` workers; returns the planning state for
    /// the passes after the copy.
    pub(super) async fn run(
        shared: Arc<Shared>,
        planning: Planning,
        jobs: usize,
    ) -> Result<Planning, PullError> {
        let crew = Arc::new(Crew {
            queue: Queue::new(planning.more()),
            planning: tokio::sync::Mutex::new(planning),
            handles: Mutex::new(Vec::new()),
            started: Mutex::new(0),
            shared,
            jobs,
        });
        crew.top_up(0)?;
        crew.join().await?;
        let planning = std::mem::take(&mut *crew.planning.lock().await);
        Ok(planning)
    }

    /// Starts one more worker (counted by [`Crew::top_up`], its only caller).
    fn spawn(self: &Arc<Self>) -> Result<(), PullError> {
        let crew = self.clone();
        let handle = tokio::spawn(async move {
            // A worker that fails or panics stops the run: the others may be waiting for the
            // turn it held (the planning turn, a bundle while connecting), and would wait for ever.
            let stop_unless_ok = crew.shared.stop.clone().drop_guard();
            let r = worker(&crew).await;
            if r.is_ok() {
                stop_unless_ok.disarm();
            }
            r
        });
        self.handles.lock().map_err(internal)?.push(handle);
        Ok(())
    }

    /// Starts workers until there are `jobs`, or one per waiting bundle beside the planner.
    /// The count is read and raised under one lock: a planning turn may end while the last
    /// one's workers are still being started, and both must not start the same share.
    fn top_up(self: &Arc<Self>, waiting: usize) -> Result<(), PullError> {
        let mut started = self.started.lock().map_err(internal)?;
        let wanted = self.jobs.min(waiting + 1);
        while *started < wanted {
            self.spawn()?;
            *started += 1;
        }
        Ok(())
    }

    /// Waits for every worker, also those started while it waits; see [`outcome`].
    async fn join(&self) -> Result<(), PullError> {
        let mut ends = Vec::new();
        loop {
            let batch = std::mem::take(&mut *self.handles.lock().map_err(internal)?);
            if batch.is_empty() {
                break;
            }
            for h in batch {
                ends.push(h.await.map_err(internal).and_then(|r| r));
            }
        }
        outcome(ends)
    }
}

/// One worker: work from the queue until it is empty or the run stops. Files staged before a
/// stop or a failure are committed and recorded all the same.
async fn worker(crew: &Arc<Crew>) -> Result<WorkerEnd, PullError> {
    let mut client = None;
    let mut group = Group::default();
    let outcome = work(crew, &mut client, &mut group).await;
    let committed = group.commit(&crew.shared).await;
    let end = outcome?;
    committed.map(|()| end)
}

async fn work(
    crew: &Arc<Crew>,
    client: &mut Option<AfcClient>,
    group: &mut Group,
) -> Result<WorkerEnd, PullError> {
    let shared = &crew.shared;
    while let Some(work) = crew.queue.next(&shared.stop, client.is_some()).await? {
        match work {
            Work::Plan => {
                let mut planning = crew.planning.lock().await;
                let bundles = plan_next(shared, &mut planning, client).await?;
                let waiting = crew.queue.planned(bundles, planning.more())?;
                drop(planning);
                crew.top_up(waiting)?;
            }
            Work::Copy(bundle) => {
                let c = match client {
                    Some(c) => c,
                    None => match connect(shared).await {
                        Ok(c) => {
                            crew.queue.connected()?;
                            client.insert(c)
                        }
                        Err(PullError::Cancelled) => return Ok(WorkerEnd::Done),
                        Err(e) => {
                            crew.queue.put_back(bundle)?;
                            return Ok(WorkerEnd::NotConnected(e));
                        }
                    },
                };
                copy_bundle(shared, c, bundle, group).await?;
            }
        }
    }
    Ok(WorkerEnd::Done)
}

/// The run's result from its workers' ends. The run's error is the first worker's failure (its
/// cause before the "cancelled" of the workers it stopped), else, when no worker got a
/// connection, why the first could not; workers the phone refused while others worked are a
/// warning.
fn outcome(ends: Vec<Result<WorkerEnd, PullError>>) -> Result<(), PullError> {
    let asked = ends.len();
    let mut first_error = None;
    let mut refused = Vec::new();
    for end in ends {
        match end {
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
