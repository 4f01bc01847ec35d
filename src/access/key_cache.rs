//! Looked-up keys, kept briefly so that a request seldom waits for the key store.
//!
//! A record read less than [`FRESH_FOR`] ago is used as it is. A record older than that but
//! younger than [`USABLE_FOR`] is used too, while one background read replaces it: under
//! load the store is asked about each key once per [`FRESH_FOR`], not once per request, and
//! no request waits behind the store (or behind the usage writes that share its
//! connection). A record older than [`USABLE_FOR`], or a key not seen yet, is read before
//! the request goes on, so a failing store refuses requests within [`USABLE_FOR`].
//!
//! A revocation or any other change made elsewhere (the CLI, another replica) is therefore
//! applied within [`USABLE_FOR`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::key::KeyHash;
use super::store::{KeyRecord, KeyStore, StoreError};

/// How long a record is used without asking the store again.
pub const FRESH_FOR: Duration = Duration::from_millis(250);
/// How long a record may be used at all; between [`FRESH_FOR`] and this, it is used while
/// a background read replaces it.
pub const USABLE_FOR: Duration = Duration::from_millis(500);
/// Keys remembered at once; past that, records too old to use are dropped.
const MAX_ENTRIES: usize = 10_000;

/// A lookup's answer: the key's record, or `None` for a key the store does not know.
pub type Found = Option<Arc<KeyRecord>>;

struct Entry {
    found: Found,
    read_at: Instant,
    /// A background read is under way.
    refreshing: bool,
}

type Entries = HashMap<[u8; 32], Entry>;

/// Key records by the hash of the key, shared by every request of one server.
pub struct KeyCache {
    store: Arc<dyn KeyStore>,
    entries: Arc<Mutex<Entries>>,
}

fn lock(entries: &Mutex<Entries>) -> std::sync::MutexGuard<'_, Entries> {
    entries.lock().unwrap_or_else(PoisonError::into_inner)
}

fn remember(entries: &Mutex<Entries>, hash: [u8; 32], found: Found, read_at: Instant) {
    let mut entries = lock(entries);
    if entries.len() >= MAX_ENTRIES {
        entries.retain(|_, e| e.read_at.elapsed() < USABLE_FOR);
    }
    entries.insert(
        hash,
        Entry {
            found,
            read_at,
            refreshing: false,
        },
    );
}

impl KeyCache {
    pub fn new(store: Arc<dyn KeyStore>) -> KeyCache {
        KeyCache {
            store,
            entries: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The record of the key with this hash: see the module documentation for how fresh.
    ///
    /// Needs a Tokio runtime (the background reads are spawned on it).
    pub async fn lookup(&self, hash: &KeyHash) -> Result<Found, StoreError> {
        {
            let mut entries = lock(&self.entries);
            if let Some(entry) = entries.get_mut(&hash.0) {
                let age = entry.read_at.elapsed();
                if age < FRESH_FOR {
                    return Ok(entry.found.clone());
                }
                if age < USABLE_FOR {
                    if !entry.refreshing {
                        entry.refreshing = true;
                        self.refresh_in_background(hash.0);
                    }
                    return Ok(entry.found.clone());
                }
            }
        }
        // Looked up by the SHA-256 of a high-entropy key: the index reveals nothing about
        // any stored key's text.
        let asked = Instant::now();
        let found = self
            .store
            .find_by_hash(KeyHash(hash.0))
            .await?
            .map(Arc::new);
        remember(&self.entries, hash.0, found.clone(), asked);
        Ok(found)
    }

    fn refresh_in_background(&self, hash: [u8; 32]) {
        let store = Arc::clone(&self.store);
        let entries = Arc::clone(&self.entries);
        tokio::spawn(async move {
            let asked = Instant::now();
            match store.find_by_hash(KeyHash(hash)).await {
                Ok(found) => remember(&entries, hash, found.map(Arc::new), asked),
                Err(e) => {
                    // The record ages out; the first request after that reads the store
                    // itself and is refused while it fails.
                    tracing::debug!(error = %e, "key record not refreshed");
                    if let Some(entry) = lock(&entries).get_mut(&hash) {
                        entry.refreshing = false;
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::super::BoxFuture;
    use super::super::store::{IssuedKey, NewKey, UsageEvent, UsageReport};
    use super::super::test_support::key_record;
    use super::*;

    /// A store that knows one key, counts its reads and can be made to fail.
    struct Counting {
        record: Mutex<KeyRecord>,
        reads: AtomicUsize,
        failing: AtomicBool,
    }

    fn unused<T: Send + 'static>() -> BoxFuture<'static, Result<T, StoreError>> {
        Box::pin(async { Err(StoreError::Unavailable("not in this test".into())) })
    }

    impl KeyStore for Counting {
        fn create(&self, _: NewKey) -> BoxFuture<'_, Result<IssuedKey, StoreError>> {
            unused()
        }
        fn find_by_hash(&self, _: KeyHash) -> BoxFuture<'_, Result<Option<KeyRecord>, StoreError>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let answer = if self.failing.load(Ordering::SeqCst) {
                Err(StoreError::Unavailable("database away".into()))
            } else {
                Ok(Some(self.record.lock().expect("lock").clone()))
            };
            Box::pin(async move { answer })
        }
        fn get(&self, _: String) -> BoxFuture<'_, Result<KeyRecord, StoreError>> {
            unused()
        }
        fn list(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, StoreError>> {
            unused()
        }
        fn revoke(&self, _: String, _: i64) -> BoxFuture<'_, Result<KeyRecord, StoreError>> {
            unused()
        }
        fn rotate(
            &self,
            _: String,
            _: i64,
        ) -> BoxFuture<'_, Result<(KeyRecord, IssuedKey), StoreError>> {
            unused()
        }
        fn count_usable(&self, _: i64) -> BoxFuture<'_, Result<usize, StoreError>> {
            unused()
        }
        fn record_usage(&self, _: Vec<UsageEvent>) -> BoxFuture<'_, Result<(), StoreError>> {
            unused()
        }
        fn usage(
            &self,
            _: Option<String>,
            _: i64,
        ) -> BoxFuture<'_, Result<UsageReport, StoreError>> {
            unused()
        }
        fn forget_usage_before(&self, _: i64, _: u32) -> BoxFuture<'_, Result<u64, StoreError>> {
            unused()
        }
    }

    fn counting() -> Arc<Counting> {
        Arc::new(Counting {
            record: Mutex::new(key_record("key_a")),
            reads: AtomicUsize::new(0),
            failing: AtomicBool::new(false),
        })
    }

    const HASH: KeyHash = KeyHash([7; 32]);

    async fn until(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(Instant::now() < deadline, "still waiting: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_fresh_record_is_not_read_again() {
        let store = counting();
        let cache = KeyCache::new(store.clone());
        for _ in 0..100 {
            let found = cache.lookup(&HASH).await.expect("found");
            assert_eq!(found.expect("known").id, "key_a");
        }
        assert_eq!(store.reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_aging_record_is_used_while_one_background_read_replaces_it() {
        let store = counting();
        let cache = KeyCache::new(store.clone());
        cache.lookup(&HASH).await.expect("found");
        tokio::time::sleep(FRESH_FOR + Duration::from_millis(20)).await;
        store.record.lock().expect("lock").revoked_at = Some(1);

        // Used as it was by every request while one read replaces it.
        for _ in 0..20 {
            let found = cache.lookup(&HASH).await.expect("found").expect("known");
            assert_eq!(found.revoked_at, None);
        }
        until("the background read", || {
            store.reads.load(Ordering::SeqCst) == 2
        })
        .await;
        until("the new record in use", || {
            cached(&cache).is_some_and(|r| r.revoked_at == Some(1))
        })
        .await;
        let found = cache.lookup(&HASH).await.expect("found").expect("known");
        assert_eq!(found.revoked_at, Some(1));
        assert_eq!(store.reads.load(Ordering::SeqCst), 2);
    }

    /// The cached record, as the next lookup would find it.
    fn cached(cache: &KeyCache) -> Option<Arc<KeyRecord>> {
        lock(&cache.entries)
            .get(&HASH.0)
            .and_then(|e| e.found.clone())
    }

    #[tokio::test]
    async fn a_record_too_old_is_read_before_use_and_a_failing_store_refuses() {
        let store = counting();
        let cache = KeyCache::new(store.clone());
        cache.lookup(&HASH).await.expect("found");
        store.failing.store(true, Ordering::SeqCst);
        tokio::time::sleep(USABLE_FOR + Duration::from_millis(20)).await;
        let answer = cache.lookup(&HASH).await;
        assert!(
            matches!(answer, Err(StoreError::Unavailable(_))),
            "fails closed"
        );
        // While aging and the store fails, the background read leaves it be; once too old,
        // every request asks the store.
        store.failing.store(false, Ordering::SeqCst);
        assert!(cache.lookup(&HASH).await.expect("read").is_some());
    }
}
