//! Who may call the team HTTP server, and what they did with it.
//!
//! - `key`: the API key format (`mcp_sk_…`), its checksum and its hash
//! - `store`: the key store interface (`KeyStore`), key records, usage reports
//! - `sqlite`: the SQLite key store
//! - `scopes`: which product families a key may read or write
//! - `rate`: requests per minute per key, and failed authentications per client address
//! - `signature`: optional HMAC request signing, with a replay cache
//! - `usage`: recording usage off the request path, in batches
//! - `duration`: durations and expiry dates as the CLI takes them
//! - `confirmations`: single-use confirmations of destructive calls (in the store, or in
//!   memory)

use std::time::{SystemTime, UNIX_EPOCH};

pub mod confirmations;
pub mod duration;
pub mod guard;
pub mod key;
pub mod rate;
pub mod scopes;
pub mod signature;
pub mod sqlite;
pub mod store;
pub mod usage;

/// A boxed, sendable future: what the `KeyStore` methods return.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    unix_secs(SystemTime::now())
}

/// Seconds since the Unix epoch of `time` (0 before the epoch).
pub(crate) fn unix_secs(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A directory under the system's temporary directory, removed when dropped.
    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(tag: &str) -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let path = std::env::temp_dir().join(format!(
                "ionos-mcp-access-{tag}-{}-{nanos}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).expect("temporary directory");
            TempDir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
