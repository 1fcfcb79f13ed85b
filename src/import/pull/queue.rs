//! The run's work queue: bundles of planned jobs, and the turn to plan the next chunk.
//!
//! Planning and copying share the workers. Whoever asks for work while the queue is down to
//! its low mark (half of what the last planning left) and chunks remain gets the turn to plan
//! one chunk, on its own connection; the others copy meanwhile. So at most about one and a
//! half chunks of jobs wait in memory, and no connection sits idle for planning alone.
//!
//! A leaf of the pull engine: it imports only [`super::planner`]'s [`Job`] and the error.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::error::{PullError, internal};
use super::planner::Job;
use crate::library::Asset;

/// Jobs of one stem (see [`crate::import::same_name`]), with the chunk they index into.
pub(super) struct Bundle {
    pub assets: Arc<Vec<Asset>>,
    pub jobs: Vec<Job>,
}

/// What a worker is given.
pub(super) enum Work {
    /// Plan the next chunk, then hand its bundles to [`Queue::planned`].
    Plan,
    Copy(Bundle),
}

pub(super) struct Queue {
    state: Mutex<State>,
    /// Signalled when bundles arrive or planning ends.
    changed: Notify,
}

struct State {
    bundles: VecDeque<Bundle>,
    /// Chunks remain to be planned.
    more: bool,
    /// A worker has the turn to plan.
    planning: bool,
    /// The next chunk is planned once no more bundles than this are left.
    low: usize,
    /// Bundles taken by workers still opening their connection: one refused gives its bundle
    /// back, so nobody may call the queue done while any is held.
    held: usize,
}

impl Queue {
    /// A queue whose first work is planning (when there is anything to plan).
    pub(super) fn new(more: bool) -> Self {
        Queue {
            state: Mutex::new(State {
                bundles: VecDeque::new(),
                more,
                planning: false,
                low: 0,
                held: 0,
            }),
            changed: Notify::new(),
        }
    }

    /// The next work, waiting while another worker plans and nothing is queued; `None` when
    /// everything is planned and taken, or the run stops. A worker without a connection
    /// (`connected` false) that is given a bundle must then call [`Queue::connected`] or
    /// [`Queue::put_back`].
    pub(super) async fn next(
        &self,
        stop: &CancellationToken,
        connected: bool,
    ) -> Result<Option<Work>, PullError> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the state is read: a change in between still wakes it.
            changed.as_mut().enable();
            {
                let mut s = self.state.lock().map_err(internal)?;
                if s.more && !s.planning && s.bundles.len() <= s.low {
                    s.planning = true;
                    return Ok(Some(Work::Plan));
                }
                if let Some(b) = s.bundles.pop_front() {
                    s.held += usize::from(!connected);
                    return Ok(Some(Work::Copy(b)));
                }
                if !s.more && !s.planning && s.held == 0 {
                    return Ok(None);
                }
            }
            tokio::select! {
                _ = changed => {}
                _ = stop.cancelled() => return Ok(None),
            }
        }
    }

    /// Ends a turn of planning: its bundles join the queue; `more` says whether chunks remain.
    /// Returns how many bundles wait now.
    pub(super) fn planned(&self, bundles: Vec<Bundle>, more: bool) -> Result<usize, PullError> {
        let waiting = {
            let mut s = self.state.lock().map_err(internal)?;
            s.bundles.extend(bundles);
            s.planning = false;
            s.more = more;
            s.low = s.bundles.len() / 2;
            s.bundles.len()
        };
        self.changed.notify_waiters();
        Ok(waiting)
    }

    /// The worker holding a bundle got its connection.
    pub(super) fn connected(&self) -> Result<(), PullError> {
        let mut s = self.state.lock().map_err(internal)?;
        s.held = s.held.saturating_sub(1);
        drop(s);
        self.changed.notify_waiters();
        Ok(())
    }

    /// Gives back a bundle a worker could not copy (its connection was refused): the others
    /// take it.
    pub(super) fn put_back(&self, bundle: Bundle) -> Result<(), PullError> {
        let mut s = self.state.lock().map_err(internal)?;
        s.held = s.held.saturating_sub(1);
        s.bundles.push_front(bundle);
        drop(s);
        self.changed.notify_waiters();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> Bundle {
        Bundle {
            assets: Arc::new(Vec::new()),
            jobs: Vec::new(),
        }
    }

    fn is_plan(w: &Option<Work>) -> bool {
        matches!(w, Some(Work::Plan))
    }

    fn is_copy(w: &Option<Work>) -> bool {
        matches!(w, Some(Work::Copy(_)))
    }

    #[tokio::test]
    async fn planning_comes_first_and_again_at_half_the_queue() {
        let stop = CancellationToken::new();
        let q = Queue::new(true);
        assert!(is_plan(&q.next(&stop, true).await.unwrap()));
        assert_eq!(
            q.planned((0..4).map(|_| bundle()).collect(), true).unwrap(),
            4
        );
        // Four queued, low mark two: two copies, then the turn to plan.
        assert!(is_copy(&q.next(&stop, true).await.unwrap()));
        assert!(is_copy(&q.next(&stop, true).await.unwrap()));
        assert!(is_plan(&q.next(&stop, true).await.unwrap()));
        // While one plans, the rest is copied; none else gets a turn.
        assert!(is_copy(&q.next(&stop, true).await.unwrap()));
        assert!(is_copy(&q.next(&stop, true).await.unwrap()));
        q.planned(vec![bundle()], false).unwrap();
        assert!(is_copy(&q.next(&stop, true).await.unwrap()));
        assert!(q.next(&stop, true).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_worker_waits_while_another_plans_and_stops_with_the_run() {
        let stop = CancellationToken::new();
        let q = Arc::new(Queue::new(true));
        assert!(is_plan(&q.next(&stop, true).await.unwrap()));
        let (q2, stop2) = (q.clone(), stop.clone());
        let waiter = tokio::spawn(async move { q2.next(&stop2, true).await.unwrap().is_some() });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        q.planned(vec![bundle()], false).unwrap();
        assert!(
            waiter.await.unwrap(),
            "the waiting worker gets the new bundle"
        );

        let q = Arc::new(Queue::new(true));
        assert!(is_plan(&q.next(&stop, true).await.unwrap()));
        let (q2, stop2) = (q.clone(), stop.clone());
        let waiter = tokio::spawn(async move { q2.next(&stop2, true).await.unwrap().is_none() });
        stop.cancel();
        assert!(waiter.await.unwrap(), "a stopped run gives no more work");
    }

    #[tokio::test]
    async fn a_bundle_held_while_connecting_keeps_the_others_waiting() {
        let stop = CancellationToken::new();
        let q = Arc::new(Queue::new(true));
        assert!(is_plan(&q.next(&stop, true).await.unwrap()));
        q.planned(vec![bundle()], false).unwrap();
        let Some(Work::Copy(b)) = q.next(&stop, false).await.unwrap() else {
            panic!("a bundle was queued");
        };
        let (q2, stop2) = (q.clone(), stop.clone());
        let other = tokio::spawn(async move { q2.next(&stop2, true).await.unwrap().is_some() });
        tokio::task::yield_now().await;
        assert!(
            !other.is_finished(),
            "the queue is not done while a bundle is held"
        );
        q.put_back(b).unwrap();
        assert!(
            other.await.unwrap(),
            "the given-back bundle goes to the other worker"
        );
        assert!(q.next(&stop, true).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn nothing_to_plan_is_an_empty_queue() {
        let q = Queue::new(false);
        assert!(
            q.next(&CancellationToken::new(), true)
                .await
                .unwrap()
                .is_none()
        );
    }
}
