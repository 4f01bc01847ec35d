//! What the replicas of one deployment must agree on besides the keys: how many tool calls a
//! key made this minute, and which request signatures were already used. The guard asks one
//! [`Limits`]; where the answers live depends on the key database.
//!
//! - [`MemoryLimits`]: in this process (a SQLite file serves one host).
//! - `PgStore`: in the PostgreSQL database, so a key rated 60/min gets 60 calls a minute in
//!   all, however they spread over the replicas, and a signature used on one replica is
//!   refused on every other.

use std::time::SystemTime;

use super::BoxFuture;
use super::rate::{RateDecision, RateLimiter};
use super::signature::ReplayCache;
use super::store::StoreError;

/// Per-key call windows and used signatures.
pub trait Limits: Send + Sync + 'static {
    /// Counts one call of `key_id` against `per_min` in the current one-minute window, unless
    /// the key has used them all (a refused call is not counted).
    fn count_call<'a>(
        &'a self,
        key_id: &'a str,
        per_min: u32,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<RateDecision, StoreError>>;

    /// Remembers `signature` for the replay window; `false` when it was already used within
    /// it (a replay).
    fn first_use(&self, signature: [u8; 32], now: i64) -> BoxFuture<'_, Result<bool, StoreError>>;
}

/// Limits kept in this process.
#[derive(Debug, Default)]
pub struct MemoryLimits {
    calls: RateLimiter,
    replay: ReplayCache,
}

impl Limits for MemoryLimits {
    fn count_call<'a>(
        &'a self,
        key_id: &'a str,
        per_min: u32,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<RateDecision, StoreError>> {
        let decision = self.calls.check(key_id, per_min, now);
        Box::pin(std::future::ready(Ok(decision)))
    }

    fn first_use(&self, signature: [u8; 32], now: i64) -> BoxFuture<'_, Result<bool, StoreError>> {
        let first = self.replay.insert_if_new(signature, now);
        Box::pin(std::future::ready(Ok(first)))
    }
}
