//! Limits kept in memory, for one server process: requests per minute per key, and failed
//! authentications per client address.
//!
//! Requests count in fixed one-minute windows (`floor(unix seconds / 60)`), so "N per
//! minute" is exact per window and the reset time is the window's end; counters of past
//! windows are dropped as soon as a later window begins. Failed authentications count over
//! the last 60 seconds, so failures on both sides of a window's end still add up.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Failed authentications from one client address within 60 seconds after which that
/// address is refused until the oldest of them is 60 seconds old.
pub const AUTH_FAILURES_PER_MINUTE: u32 = 10;

/// Client addresses tracked for failed authentications at once. Past that, new addresses
/// are not counted until tracked ones age out: memory stays bounded under a spray of
/// addresses.
const MAX_TRACKED_ADDRESSES: usize = 100_000;

/// How long a failed authentication counts, in seconds.
const AUTH_FAILURE_MEMORY_SECS: u64 = 60;

/// The window a time falls in and the seconds until it ends (1..=60).
pub(crate) fn window(now: SystemTime) -> (u64, u64) {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (secs / 60, 60 - secs % 60)
}

/// Counters for the current window; entries of older windows are dropped when a newer
/// window is first seen.
#[derive(Debug)]
struct Windows<K> {
    current: u64,
    counts: HashMap<K, (u64, u32)>,
}

impl<K: std::hash::Hash + Eq> Windows<K> {
    fn new() -> Windows<K> {
        Windows {
            current: 0,
            counts: HashMap::new(),
        }
    }

    /// Moves to `window` if it is newer, dropping the counters of older ones.
    fn advance(&mut self, window: u64) {
        if window > self.current {
            self.current = window;
            self.counts.retain(|_, (w, _)| *w >= window);
        }
    }

    /// The count of `key` in `window`.
    fn count<Q>(&self, key: &Q, window: u64) -> u32
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        match self.counts.get(key) {
            Some(&(w, n)) if w == window => n,
            _ => 0,
        }
    }
}

/// The answer to one request's rate check, with what the `RateLimit` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    /// Requests left in this window after this one.
    pub remaining: u32,
    /// Seconds until the window ends (at least 1).
    pub reset_secs: u64,
}

/// Requests per minute per key.
#[derive(Debug)]
pub struct RateLimiter {
    windows: Mutex<Windows<String>>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::new()
    }
}

impl RateLimiter {
    pub fn new() -> RateLimiter {
        RateLimiter {
            windows: Mutex::new(Windows::new()),
        }
    }

    /// Counts a request of `key_id` against `per_min` if it is within the limit; a
    /// refused request is not counted.
    pub fn check(&self, key_id: &str, per_min: u32, now: SystemTime) -> RateDecision {
        let (window, reset_secs) = window(now);
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        windows.advance(window);
        let used = windows.count(key_id, window);
        if used >= per_min {
            return RateDecision {
                allowed: false,
                limit: per_min,
                remaining: 0,
                reset_secs,
            };
        }
        match windows.counts.get_mut(key_id) {
            Some(entry) => *entry = (window, used + 1),
            None => {
                windows
                    .counts
                    .insert(key_id.to_string(), (window, used + 1));
            }
        }
        RateDecision {
            allowed: true,
            limit: per_min,
            remaining: per_min - used - 1,
            reset_secs,
        }
    }

    /// Keys with a counter held (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .counts
            .len()
    }
}

/// Failed authentications per client address over the last 60 seconds. An IPv6 client
/// counts by its /64 (one host usually has a whole /64), an IPv4 address written as IPv6
/// as the IPv4 address.
#[derive(Debug, Default)]
pub struct AuthFailures {
    recent: Mutex<RecentFailures>,
}

#[derive(Debug, Default)]
struct RecentFailures {
    by_client: HashMap<IpAddr, FailureTimes>,
    /// When addresses whose failures all aged out were last dropped.
    swept_at: u64,
}

/// The times (unix seconds) of a client's latest failures, at most
/// `AUTH_FAILURES_PER_MINUTE` of them, in a ring.
#[derive(Debug, Clone, Copy, Default)]
struct FailureTimes {
    times: [u64; AUTH_FAILURES_PER_MINUTE as usize],
    /// Where the next failure is written; the oldest held once `len` is full.
    next: usize,
    len: usize,
}

impl FailureTimes {
    fn push(&mut self, at: u64) {
        self.times[self.next] = at;
        self.next = (self.next + 1) % self.times.len();
        self.len = (self.len + 1).min(self.times.len());
    }

    fn newest(&self) -> u64 {
        self.times[(self.next + self.times.len() - 1) % self.times.len()]
    }

    /// The oldest of a full set of failures, or `None` while fewer are held.
    fn oldest_of_full(&self) -> Option<u64> {
        (self.len == self.times.len()).then(|| self.times[self.next])
    }
}

fn unix_secs(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl RecentFailures {
    /// Drops clients whose failures have all aged out, at most once per memory span.
    fn sweep(&mut self, now: u64) {
        if now >= self.swept_at + AUTH_FAILURE_MEMORY_SECS {
            self.swept_at = now;
            self.by_client
                .retain(|_, f| f.newest() + AUTH_FAILURE_MEMORY_SECS > now);
        }
    }
}

impl AuthFailures {
    pub fn new() -> AuthFailures {
        AuthFailures::default()
    }

    /// `Some(seconds until it may try again)` when `ip` has failed
    /// `AUTH_FAILURES_PER_MINUTE` times within the last 60 seconds.
    pub fn blocked(&self, ip: IpAddr, now: SystemTime) -> Option<u64> {
        let now = unix_secs(now);
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.sweep(now);
        let oldest = recent.by_client.get(&client(ip))?.oldest_of_full()?;
        let free_at = oldest + AUTH_FAILURE_MEMORY_SECS;
        (free_at > now).then(|| free_at - now)
    }

    /// Counts a failed authentication from `ip`.
    pub fn note_failure(&self, ip: IpAddr, now: SystemTime) {
        let now = unix_secs(now);
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.sweep(now);
        let tracked = recent.by_client.len();
        match recent.by_client.entry(client(ip)) {
            Entry::Occupied(mut e) => e.get_mut().push(now),
            Entry::Vacant(e) => {
                if tracked < MAX_TRACKED_ADDRESSES {
                    e.insert(FailureTimes::default()).push(now);
                }
            }
        }
    }

    /// Addresses with failures held (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_client
            .len()
    }
}

/// The address failures are counted under.
fn client(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !(u128::from(u64::MAX));
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn allows_exactly_the_limit_per_window() {
        let limiter = RateLimiter::new();
        // 20 s into a window.
        let start = 16_667 * 60 + 20;
        for i in 0..5 {
            let d = limiter.check("key_a", 5, at(start + i));
            assert!(d.allowed, "request {i}");
            assert_eq!(d.limit, 5);
            assert_eq!(d.remaining, 4 - i as u32);
            assert_eq!(d.reset_secs, 40 - i);
        }
        let refused = limiter.check("key_a", 5, at(start + 39));
        assert_eq!(
            refused,
            RateDecision {
                allowed: false,
                limit: 5,
                remaining: 0,
                reset_secs: 1
            }
        );
        // Other keys have their own counters.
        assert!(limiter.check("key_b", 5, at(start + 39)).allowed);
        // The next window starts afresh.
        let next = limiter.check("key_a", 5, at(start + 40));
        assert!(next.allowed);
        assert_eq!(next.remaining, 4);
        assert_eq!(next.reset_secs, 60);
    }

    #[test]
    fn refused_requests_are_not_counted() {
        let limiter = RateLimiter::new();
        let t = 6_000;
        assert!(limiter.check("k", 2, at(t)).allowed);
        assert!(limiter.check("k", 2, at(t)).allowed);
        for _ in 0..10 {
            assert!(!limiter.check("k", 2, at(t + 1)).allowed);
        }
        // A higher limit for the same key (its setting changed) sees the two counted.
        let d = limiter.check("k", 3, at(t + 2));
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        assert!(!limiter.check("k", 0, at(t + 70)).allowed);
    }

    #[test]
    fn old_windows_are_dropped() {
        let limiter = RateLimiter::new();
        for i in 0..100 {
            limiter.check(&format!("key_{i}"), 10, at(6_000));
        }
        assert_eq!(limiter.tracked(), 100);
        limiter.check("key_0", 10, at(6_060));
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn an_address_is_blocked_after_ten_failures_until_the_first_is_a_minute_old() {
        let failures = AuthFailures::new();
        let t = 12_000 + 15;
        let bad = ip("203.0.113.5");
        for _ in 0..AUTH_FAILURES_PER_MINUTE - 1 {
            failures.note_failure(bad, at(t));
        }
        assert_eq!(failures.blocked(bad, at(t)), None);
        failures.note_failure(bad, at(t + 1));
        assert_eq!(failures.blocked(bad, at(t + 1)), Some(59));
        assert_eq!(failures.blocked(bad, at(t + 59)), Some(1));
        assert_eq!(failures.blocked(ip("203.0.113.6"), at(t + 2)), None);
        // As IPv4-mapped IPv6 it is the same client.
        assert_eq!(
            failures.blocked(ip("::ffff:203.0.113.5"), at(t + 2)),
            Some(58)
        );
        // A minute after the first nine failures only the one at t + 1 counts: not blocked.
        assert_eq!(failures.blocked(bad, at(t + 60)), None);
        // One more: the latest ten are eight at t, one at t + 1 and this one, so only two
        // fall within the last minute.
        failures.note_failure(bad, at(t + 60));
        assert_eq!(failures.blocked(bad, at(t + 60)), None);
        assert_eq!(failures.tracked(), 1);
        // Once the last failure is a minute old the address is forgotten.
        assert_eq!(failures.blocked(bad, at(t + 200)), None);
        assert_eq!(failures.tracked(), 0);
    }

    #[test]
    fn failures_on_both_sides_of_a_minutes_end_add_up() {
        let failures = AuthFailures::new();
        let bad = ip("198.51.100.1");
        for _ in 0..5 {
            failures.note_failure(bad, at(6_059));
        }
        for _ in 0..5 {
            failures.note_failure(bad, at(6_060));
        }
        assert_eq!(failures.blocked(bad, at(6_061)), Some(58));
        assert_eq!(failures.blocked(bad, at(6_119)), None);
    }

    #[test]
    fn failures_older_than_a_minute_do_not_count() {
        let failures = AuthFailures::new();
        let bad = ip("198.51.100.2");
        for i in 0..30 {
            failures.note_failure(bad, at(6_000 + i * 7));
        }
        // Seven seconds apart, at most nine fall within any 60 seconds.
        assert_eq!(failures.blocked(bad, at(6_000 + 29 * 7)), None);
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let failures = AuthFailures::new();
        for i in 0..AUTH_FAILURES_PER_MINUTE {
            failures.note_failure(ip(&format!("2001:db8:1:2::{:x}", i + 1)), at(600));
        }
        assert!(
            failures
                .blocked(ip("2001:db8:1:2:ffff::1"), at(601))
                .is_some()
        );
        assert_eq!(failures.blocked(ip("2001:db8:1:3::1"), at(601)), None);
        assert_eq!(failures.tracked(), 1);
    }

    #[test]
    fn tracked_addresses_are_bounded() {
        let failures = AuthFailures::new();
        for i in 0..(MAX_TRACKED_ADDRESSES as u32 + 50) {
            failures.note_failure(IpAddr::from(i.to_be_bytes()), at(600));
        }
        assert_eq!(failures.tracked(), MAX_TRACKED_ADDRESSES);
        // Addresses already tracked keep counting.
        let first = IpAddr::from(0u32.to_be_bytes());
        for _ in 0..AUTH_FAILURES_PER_MINUTE {
            failures.note_failure(first, at(601));
        }
        assert!(failures.blocked(first, at(602)).is_some());
    }

    #[test]
    fn limiters_are_shared_between_threads() {
        let limiter = std::sync::Arc::new(RateLimiter::new());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let limiter = limiter.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|_| limiter.check("k", 120, at(6_000)).allowed)
                        .count()
                })
            })
            .collect();
        let allowed: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
        assert_eq!(allowed, 120);
    }
}
