//! Who may call the team HTTP server, and what they did with it.
//!
//! - `key`: the API key format (`mcp_sk_…`), its checksum and its hash
//! - `store`: the key store interface (`KeyStore`), key records, usage reports
//! - `backend`: which store `--db` names (a SQLite path or a PostgreSQL URL), opened
//! - `sqlite`: the SQLite key store, for one host
//! - `postgres`: the PostgreSQL key store, shared by replicas
//! - `limits`: per-key call windows and used signatures, in memory or in PostgreSQL
//! - `scopes`: which product families a key may read or write
//! - `rate`: requests per minute per key, and failed authentications per client address
//! - `signature`: optional HMAC request signing, with a replay cache
//! - `usage`: recording usage off the request path, in batches
//! - `duration`: durations and expiry dates as the CLI takes them
//! - `confirmations`: single-use confirmations of destructive calls (in the store, or in
//!   memory)

use std::time::{SystemTime, UNIX_EPOCH};

pub mod backend;
pub mod confirmations;
pub mod duration;
pub mod guard;
pub mod key;
pub mod key_cache;
pub mod limits;
pub mod postgres;
pub mod rate;
pub mod scopes;
pub mod signature;
pub mod sqlite;
pub mod store;
#[cfg(test)]
mod store_suite;
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
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use super::scopes::Scopes;
    use super::store::{KeyRecord, Outcome, UsageEvent};

    /// A full-access key record with every optional field unset.
    pub fn key_record(id: &str) -> KeyRecord {
        KeyRecord {
            id: id.into(),
            name: "ci".into(),
            prefix: "mcp_sk_AbCdE".into(),
            scopes: Scopes::all(),
            created_at: 1000,
            expires_at: None,
            revoked_at: None,
            allow_ips: Vec::new(),
            rate_per_min: None,
            require_signature: false,
            meta: BTreeMap::new(),
            last_used_at: None,
            last_used_ip: None,
            rotated_to: None,
        }
    }

    /// A usage event of `key_id` at `at`: a call of `tool`, or a `tools/list` without one,
    /// from 192.0.2.10, taking 2 ms.
    pub fn usage_event(key_id: &str, tool: Option<&str>, outcome: Outcome, at: i64) -> UsageEvent {
        UsageEvent {
            key_id: key_id.into(),
            method: if tool.is_some() {
                "tools/call".into()
            } else {
                "tools/list".into()
            },
            tool: tool.map(|t| t.to_string().into()),
            outcome,
            latency_us: 2000,
            at,
            ip: Some([192, 0, 2, 10].into()),
        }
    }

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

    /// The variable that names the PostgreSQL server the tests may use.
    pub const POSTGRES_VAR: &str = "IONOS_MCP_TEST_POSTGRES";

    /// A PostgreSQL database of one test's own, dropped when it is.
    pub struct PgTestDb {
        pub location: super::backend::Location,
        url: String,
        admin_url: String,
        name: String,
    }

    async fn connect_to(url: &str) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_VAR} cannot be reached: {e}"));
        tokio::spawn(connection);
        client
    }

    impl PgTestDb {
        /// A fresh database on the server `IONOS_MCP_TEST_POSTGRES` names, or `None` (and a
        /// note on stderr) when the variable is not set.
        pub async fn create(tag: &str) -> Option<PgTestDb> {
            let admin_url = std::env::var(POSTGRES_VAR).ok().filter(|v| !v.is_empty());
            let Some(admin_url) = admin_url else {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI runs the PostgreSQL tests: .ci/run must set {POSTGRES_VAR}"
                );
                // Once per run, past the test harness's capture, so that it is seen.
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| {
                    use std::io::Write;
                    let _ = writeln!(
                        std::io::stderr(),
                        "note: the PostgreSQL store tests are skipped: {POSTGRES_VAR} is not set \
                         (a PostgreSQL URL whose user may create databases, e.g. \
                         postgres://ionos_mcp:ionos_mcp@127.0.0.1:5432/ionos_mcp; .ci/run sets it)"
                    );
                });
                return None;
            };
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let tag: String = tag
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(24)
                .collect::<String>()
                .to_ascii_lowercase();
            let name = format!(
                "ionos_mcp_t_{tag}_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let admin = connect_to(&admin_url).await;
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e:?}"));
            let url = super::backend::with_database(&admin_url, &name);
            Some(PgTestDb {
                location: super::backend::Location::parse(&url),
                url,
                admin_url,
                name,
            })
        }

        /// A plain client on the test's database.
        pub async fn connect(&self) -> tokio_postgres::Client {
            connect_to(&self.url).await
        }
    }

    impl Drop for PgTestDb {
        fn drop(&mut self) {
            let admin_url = self.admin_url.clone();
            let name = self.name.clone();
            // Drop may run inside a runtime: do the async work on a thread of its own.
            let _ = std::thread::spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async move {
                    if let Ok((client, connection)) =
                        tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await
                    {
                        tokio::spawn(connection);
                        let _ = client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                    }
                });
            })
            .join();
        }
    }

    #[test]
    fn test_urls_name_their_database() {
        assert_eq!(
            super::backend::with_database("postgres://u:p@127.0.0.1:5432/postgres", "t1"),
            "postgres://u:p@127.0.0.1:5432/t1"
        );
        assert_eq!(
            super::backend::with_database("postgres://u@h?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
        assert_eq!(
            super::backend::with_database("postgresql://h/db?application_name=x", "t2"),
            "postgresql://h/t2?application_name=x"
        );
    }
}
