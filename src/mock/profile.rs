//! Device speed profiles for the simulated phone: how fast it moves bytes and how long it
//! takes to answer a request. Real iPhones are slow (USB 2: about 30–35 MB/s of AFC reads);
//! benchmarks and `iphone-mock serve --profile` use these to look like one.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How fast the simulated phone is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: &'static str,
    /// Reply bytes per second, shared by every connection of the phone; None = unlimited.
    pub bytes_per_sec: Option<u64>,
    /// Time the phone spends on each AFC request before answering.
    pub service_time: Duration,
}

impl Profile {
    /// As fast as the host can go.
    pub fn none() -> Profile {
        Profile {
            name: "none",
            bytes_per_sec: None,
            service_time: Duration::ZERO,
        }
    }

    /// A USB 2 iPhone: 40 MB/s shared, 0.25 ms per request.
    pub(crate) fn usb2() -> Profile {
        Profile {
            name: "usb2",
            bytes_per_sec: Some(40_000_000),
            service_time: Duration::from_micros(250),
        }
    }

    /// A USB 3 iPhone (15 Pro and later with a USB 3 cable): 300 MB/s shared, 0.1 ms per request.
    pub fn usb3() -> Profile {
        Profile {
            name: "usb3",
            bytes_per_sec: Some(300_000_000),
            service_time: Duration::from_micros(100),
        }
    }

    #[cfg(test)]
    pub(crate) const NAMES: [&'static str; 3] = ["none", "usb2", "usb3"];

    pub(crate) fn from_name(name: &str) -> Option<Profile> {
        match name {
            "none" => Some(Profile::none()),
            "usb2" => Some(Profile::usb2()),
            "usb3" => Some(Profile::usb3()),
            _ => None,
        }
    }
}

impl Default for Profile {
    fn default() -> Self {
        Profile::none()
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// An unknown profile name.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown device profile {0:?}; use one of none, usb2, usb3")]
pub struct UnknownProfile(pub String);

impl FromStr for Profile {
    type Err = UnknownProfile;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::from_name(s).ok_or_else(|| UnknownProfile(s.to_string()))
    }
}

/// The phone's shared link: a pacer that hands out transmission slots in time order, so all
/// connections together never exceed the rate (a token bucket with no burst allowance).
#[derive(Debug)]
pub(crate) struct Pacer {
    bytes_per_sec: u64,
    /// When the link is next free.
    next_free: Mutex<Option<Instant>>,
}

impl Pacer {
    pub(crate) fn new(bytes_per_sec: u64) -> Pacer {
        Pacer {
            bytes_per_sec: bytes_per_sec.max(1),
            next_free: Mutex::new(None),
        }
    }

    /// Reserve the link for `bytes`, starting no earlier than `not_before`; returns when the
    /// last byte has gone out.
    pub(crate) fn reserve(&self, bytes: usize, not_before: Instant) -> Instant {
        let cost = Duration::from_nanos(
            (bytes as u128 * 1_000_000_000 / self.bytes_per_sec as u128) as u64,
        );
        let mut next = self.next_free.lock().expect("pacer lock");
        let start = match *next {
            Some(free) if free > not_before => free,
            _ => not_before,
        };
        let done = start + cost;
        *next = Some(done);
        done
    }
}

/// Per-connection pacing: adds the service time and the link time of each reply, and says
/// how long to wait. Small delays accumulate instead of each being rounded up to the timer's
/// 1 ms resolution, so 0.25 ms per request stays 0.25 ms on average.
#[derive(Debug)]
pub(crate) struct ConnectionPace {
    clock: Option<Instant>,
}

/// Below this, delays are carried forward rather than slept.
const MIN_SLEEP: Duration = Duration::from_millis(1);

impl ConnectionPace {
    pub(crate) fn new() -> ConnectionPace {
        ConnectionPace { clock: None }
    }

    /// When a reply of `bytes`, ready at `now`, may be sent; None = send it now.
    pub(crate) fn reply_at(
        &mut self,
        now: Instant,
        profile: &Profile,
        pacer: Option<&Pacer>,
        bytes: usize,
    ) -> Option<Instant> {
        if profile.service_time.is_zero() && pacer.is_none() {
            return None;
        }
        let start = match self.clock {
            Some(clock) if clock > now => clock,
            _ => now,
        };
        let mut done = start + profile.service_time;
        if let Some(pacer) = pacer {
            done = pacer.reserve(bytes, done);
        }
        self.clock = Some(done);
        (done > now + MIN_SLEEP).then_some(done)
    }
}

impl Default for ConnectionPace {
    fn default() -> Self {
        ConnectionPace::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        for name in Profile::NAMES {
            assert_eq!(name.parse::<Profile>().unwrap().name, name);
        }
        assert_eq!(Profile::usb2().bytes_per_sec, Some(40_000_000));
        assert_eq!(Profile::usb3().service_time, Duration::from_micros(100));
        assert!("usb4".parse::<Profile>().is_err());
    }

    #[test]
    fn pacer_serialises_connections_at_the_rate() {
        let pacer = Pacer::new(1_000_000); // 1 MB/s: 1000 bytes = 1 ms
        let t0 = Instant::now();
        let a = pacer.reserve(1000, t0);
        let b = pacer.reserve(1000, t0); // a second connection asking at the same moment waits
        assert_eq!(a - t0, Duration::from_millis(1));
        assert_eq!(b - t0, Duration::from_millis(2));
        let later = t0 + Duration::from_secs(1);
        assert_eq!(
            pacer.reserve(500, later) - later,
            Duration::from_micros(500)
        );
    }

    #[test]
    fn service_time_accumulates_across_pipelined_requests() {
        let profile = Profile {
            name: "t",
            bytes_per_sec: None,
            service_time: Duration::from_micros(250),
        };
        let mut pace = ConnectionPace::new();
        let now = Instant::now();
        // Eight requests at once: up to 1 ms is carried forward, beyond it the reply waits.
        let waits: Vec<Option<Instant>> = (0..8)
            .map(|_| pace.reply_at(now, &profile, None, 0))
            .collect();
        assert!(waits[..4].iter().all(Option::is_none));
        assert_eq!(waits[7], Some(now + Duration::from_millis(2)));
        // Idle time is not credited: a request after a pause starts from its own arrival.
        let later = now + Duration::from_secs(1);
        assert_eq!(pace.reply_at(later, &profile, None, 0), None);
        let pacer = Pacer::new(1_000_000);
        assert_eq!(
            ConnectionPace::new().reply_at(later, &Profile::none(), Some(&pacer), 5000),
            Some(later + Duration::from_millis(5))
        );
        assert!(
            ConnectionPace::new()
                .reply_at(now, &Profile::none(), None, 1 << 20)
                .is_none()
        );
    }
}
