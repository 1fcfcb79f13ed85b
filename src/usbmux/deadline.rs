//! How long the phone may stay silent while we wait for it: a sans-I/O reply deadline.
//!
//! Time is an input, as in quinn-proto: an engine that waits for a reply calls `expect` when
//! it starts waiting, `heard` whenever bytes of the answer arrive and `done` when it has it.
//! Its driver sleeps until `poll_timeout()` and then calls `handle_timeout(now)`, which names
//! what went unanswered. Lives in the bottom layer because every protocol above needs it.

use std::time::{Duration, Instant};

/// The default `--io-timeout`: a healthy phone answers any single request within a few
/// seconds even while busy (iCloud sync, thumbnailing); 30 s of silence means it is stuck.
pub(crate) const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The phone went silent: nothing arrived for `after` while `waiting_for` was outstanding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stalled {
    pub waiting_for: String,
    pub after: Duration,
}

/// The reply an engine is waiting for, and since when the peer has been silent.
#[derive(Debug, Clone)]
pub(crate) struct ReplyDeadline {
    limit: Duration,
    waiting: Option<(String, Instant)>,
}

impl Default for ReplyDeadline {
    fn default() -> Self {
        ReplyDeadline::new(DEFAULT_IO_TIMEOUT)
    }
}

impl ReplyDeadline {
    pub(crate) fn new(limit: Duration) -> ReplyDeadline {
        ReplyDeadline {
            limit,
            waiting: None,
        }
    }

    pub(crate) fn set_limit(&mut self, limit: Duration) {
        self.limit = limit;
    }

    /// Start waiting for the answer to `what` (restarts the clock if already waiting).
    pub(crate) fn expect(&mut self, now: Instant, what: &str) {
        self.waiting = Some((what.to_string(), now));
    }

    /// Start waiting unless already waiting (pipelined requests share one silence clock).
    #[cfg(test)]
    pub(crate) fn expect_if_idle(&mut self, now: Instant, what: &str) {
        if self.waiting.is_none() {
            self.expect(now, what);
        }
    }

    /// Bytes arrived: the peer is alive, the silence clock restarts.
    pub(crate) fn heard(&mut self, now: Instant) {
        if let Some((_, since)) = &mut self.waiting {
            *since = now;
        }
    }

    /// The answer is complete; nothing is outstanding.
    pub(crate) fn done(&mut self) {
        self.waiting = None;
    }

    pub(crate) fn is_waiting(&self) -> bool {
        self.waiting.is_some()
    }

    /// When `handle_timeout` should next be called, if anything is outstanding.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.waiting.as_ref().map(|(_, since)| *since + self.limit)
    }

    /// `Some` when the peer has been silent for the whole limit; the wait is then over.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<Stalled> {
        let deadline = self.poll_timeout()?;
        if now < deadline {
            return None;
        }
        let (waiting_for, _) = self.waiting.take()?;
        Some(Stalled {
            waiting_for,
            after: self.limit,
        })
    }
}

/// Sleep until `deadline`, or for ever when there is none (for `select!` beside a read).
pub(crate) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_for_the_whole_limit_is_a_stall_naming_the_request() {
        let t0 = Instant::now();
        let mut d = ReplyDeadline::new(Duration::from_secs(30));
        assert_eq!(d.poll_timeout(), None, "nothing outstanding, no deadline");
        assert_eq!(d.handle_timeout(t0 + Duration::from_secs(999)), None);
        d.expect(t0, "QueryType");
        assert_eq!(d.poll_timeout(), Some(t0 + Duration::from_secs(30)));
        assert_eq!(d.handle_timeout(t0 + Duration::from_secs(29)), None);
        let stall = d.handle_timeout(t0 + Duration::from_secs(30)).unwrap();
        assert_eq!(stall.waiting_for, "QueryType");
        assert_eq!(stall.after, Duration::from_secs(30));
        assert!(!d.is_waiting(), "a stall ends the wait");
    }

    #[test]
    fn bytes_arriving_restart_the_clock_and_done_clears_it() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut d = ReplyDeadline::new(10 * s);
        d.expect(t0, "FileRefRead");
        d.heard(t0 + 8 * s);
        assert_eq!(d.handle_timeout(t0 + 12 * s), None, "still answering");
        assert_eq!(d.poll_timeout(), Some(t0 + 18 * s));
        d.expect_if_idle(t0 + 9 * s, "ReadDir");
        assert_eq!(d.poll_timeout(), Some(t0 + 18 * s), "pipelined: one clock");
        d.done();
        assert_eq!(d.poll_timeout(), None);
        d.heard(t0 + 20 * s);
        assert_eq!(d.poll_timeout(), None, "bytes while idle start nothing");
    }
}
