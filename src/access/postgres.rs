//! The PostgreSQL key store: one database that every replica of a deployment and the CLI use
//! at once. It holds what the SQLite store holds (keys, revocations, usage, confirmations of
//! destructive calls and the key sealing MRTR states) and, since the replicas must agree on
//! them, the per-key call windows and the used request signatures (see `limits`). Only the
//! SHA-256 of each key and its display prefix are written, and of each confirmation secret.
//!
//! Connections: a few shared ones carry the single statements of the request path (they
//! pipeline concurrent queries), one more carries transactions. A connection that breaks is
//! replaced on the next use, so the store recovers by itself when the database returns;
//! meanwhile every operation fails at once with [`StoreError::Unavailable`] (the guard then
//! refuses requests with 503) instead of waiting on a dead server.

use std::error::Error as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, IsolationLevel, NoTls, Row, Statement};

use super::BoxFuture;
use super::backend::PgUrl;
use super::confirmations::{
    Binding, Confirmations, KEPT_SECS, Redeemed, SEALING_KEY, decide, random_key,
    stored_sealing_key,
};
use super::key::KeyHash;
use super::limits::Limits;
use super::rate::{RateDecision, window};
use super::signature::REPLAY_WINDOW_SECS;
use super::store::{
    Bucket, IssuedKey, KeyRecord, KeyStore, NewKey, NewRow, StoreError, StoredKey, ToolUsage,
    UsageEvent, UsageReport, check_grace, check_new, last_uses, new_row, replacement,
    rotate_refusal,
};

/// The schema, one step per version; step `n` takes the database from version `n` to
/// `n + 1`. Steps are only ever appended.
const MIGRATIONS: &[&str] = &[
    // 1: keys, usage, call windows and used signatures.
    "CREATE TABLE keys (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        id TEXT PRIMARY KEY,
        hash BYTEA NOT NULL UNIQUE,
        name TEXT NOT NULL,
        prefix TEXT NOT NULL,
        scopes TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        revoked_at BIGINT,
        allow_ips TEXT NOT NULL DEFAULT '',
        rate_per_min BIGINT,
        require_signature BOOLEAN NOT NULL DEFAULT FALSE,
        meta TEXT NOT NULL DEFAULT '{}',
        last_used_at BIGINT,
        last_used_ip TEXT,
        rotated_to TEXT REFERENCES keys(id)
    );
    CREATE INDEX keys_created_at ON keys(created_at, seq);
    CREATE TABLE usage (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        key_id TEXT NOT NULL,
        at BIGINT NOT NULL,
        method TEXT NOT NULL,
        tool TEXT,
        outcome TEXT NOT NULL,
        latency_us BIGINT NOT NULL,
        ip TEXT
    );
    CREATE INDEX usage_key_at ON usage(key_id, at);
    CREATE INDEX usage_at ON usage(at);
    -- Counters of the current minute: losing them in a crash costs at most a minute's count.
    CREATE UNLOGGED TABLE rate_windows (
        key_id TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        used INTEGER NOT NULL,
        PRIMARY KEY (key_id, window_start)
    );
    CREATE TABLE used_signatures (
        signature BYTEA PRIMARY KEY,
        expires_at BIGINT NOT NULL
    );
    CREATE INDEX used_signatures_expires_at ON used_signatures(expires_at);",
    // 2: single-use confirmations of destructive calls, and the secret sealing MRTR states,
    // shared by every replica (as in the SQLite store's step 2).
    "CREATE TABLE confirmations (
        id TEXT PRIMARY KEY,
        binding TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT
    );
    CREATE INDEX confirmations_expires_at ON confirmations(expires_at);
    CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        value BYTEA NOT NULL
    );",
];

/// The table that records which steps were applied.
const SCHEMA_TABLE: &str = "ionos_mcp_schema";

/// The advisory lock that migrations hold, so replicas starting at once take turns ("ionosmcp"
/// in ASCII; any constant would do).
const MIGRATION_LOCK: i64 = 0x696f_6e6f_736d_6370;

/// Connections for single statements; concurrent queries pipeline on each.
const SHARED_CONNECTIONS: usize = 4;
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one operation may take before the connection is given up.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// After a failed connection attempt, operations fail at once for this long instead of each
/// trying again.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

/// At most this many confirmations past their keeping time are deleted when one is issued:
/// each issue adds one row, so they cannot pile up, and no issue waits for another replica's
/// deletions.
const CONFIRMATION_SWEEP: i64 = 100;
/// How often `redeem` reads a confirmation again when it changed between the read and the use.
const REDEEM_ATTEMPTS: usize = 3;

/// The columns a [`KeyRecord`] is read from, in [`read_key`]'s order.
const KEY_COLUMNS: &str = "id, name, prefix, scopes, created_at, expires_at, revoked_at, \
     allow_ips, rate_per_min, require_signature, meta, last_used_at, last_used_ip, rotated_to, hash";

/// Keys, usage, call windows and used signatures in a PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// The URL without its password, for messages.
    shown: String,
    shared: Vec<tokio::sync::Mutex<Option<Arc<Conn>>>>,
    next: AtomicUsize,
    exclusive: tokio::sync::Mutex<Option<Client>>,
    /// When connecting last failed.
    failed_at: Mutex<Option<Instant>>,
    /// The last minute window whose expired rows were deleted.
    swept: AtomicU64,
}

/// A shared connection with the statements of the request path prepared on it.
struct Conn {
    client: Client,
    find_by_hash: Statement,
    count_call: Statement,
    first_use: Statement,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.inner.shown)
            .finish()
    }
}

/// What can go wrong inside an operation: the store's own refusals, or the database.
enum Failure {
    Store(StoreError),
    Db(tokio_postgres::Error),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::Store(e)
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Failure {
        Failure::Db(e)
    }
}

/// An error's text with its causes (tokio-postgres keeps the server's message in the cause).
/// Neither carries the password: it is not part of any error.
fn describe(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl PgStore {
    /// Connects to the database at `url` and brings its schema up to date. Several
    /// processes may do this at once: migrations take turns under an advisory lock.
    pub async fn connect(url: &PgUrl) -> Result<PgStore, StoreError> {
        let mut config: Config = url.expose().parse().map_err(|e| {
            StoreError::Unavailable(format!(
                "{} is not a valid PostgreSQL URL: {}",
                url.shown(),
                describe(&e)
            ))
        })?;
        if config.get_application_name().is_none() {
            config.application_name("ionos-mcp");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // Notice a vanished server on an idle connection within about a minute, unless the
        // URL asks otherwise (the default is two hours).
        if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
            config.keepalives_idle(Duration::from_secs(30));
        }
        let store = PgStore {
            inner: Arc::new(Inner {
                config,
                shown: url.shown().to_string(),
                shared: (0..SHARED_CONNECTIONS)
                    .map(|_| tokio::sync::Mutex::new(None))
                    .collect(),
                next: AtomicUsize::new(0),
                exclusive: tokio::sync::Mutex::new(None),
                failed_at: Mutex::new(None),
                swept: AtomicU64::new(0),
            }),
        };
        let first = store.try_connect().await.map_err(|cause| {
            crate::metrics::METRICS.db_error();
            StoreError::Unavailable(format!(
                "cannot reach the PostgreSQL database {}: {cause}. Check that it runs and \
                 that the URL's host, port, user and password are right",
                url.shown()
            ))
        })?;
        *store.inner.exclusive.lock().await = Some(first);
        let migrated = store
            .exclusive(|client| Box::pin(async move { migrate(client, MIGRATIONS).await }))
            .await?;
        if migrated > 0 {
            tracing::info!(
                steps = migrated,
                database = %store.inner.shown,
                "key database schema updated"
            );
        }
        Ok(store)
    }

    /// The URL without its password.
    pub fn shown(&self) -> &str {
        &self.inner.shown
    }

    fn unavailable(&self, what: &str) -> StoreError {
        crate::metrics::METRICS.db_error();
        StoreError::Unavailable(format!("{}: {what}", self.inner.shown))
    }

    fn db_failure(&self, e: &tokio_postgres::Error) -> StoreError {
        self.unavailable(&describe(e))
    }

    /// A new connection, unless the last attempt failed moments ago.
    async fn open_connection(&self) -> Result<Client, StoreError> {
        let recent_failure =
            lock(&self.inner.failed_at).is_some_and(|at| at.elapsed() < RECONNECT_PAUSE);
        if recent_failure {
            return Err(self.unavailable("cannot connect to PostgreSQL (retrying shortly)"));
        }
        self.try_connect()
            .await
            .map_err(|cause| self.unavailable(&format!("cannot connect: {cause}")))
    }

    /// One connection attempt; the error is the cause only.
    async fn try_connect(&self) -> Result<Client, String> {
        let attempt = tokio::time::timeout(CONNECT_TIMEOUT, self.inner.config.connect(NoTls)).await;
        let cause = match attempt {
            Ok(Ok((client, connection))) => {
                *lock(&self.inner.failed_at) = None;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::warn!(error = %describe(&e), "a key database connection ended");
                    }
                });
                return Ok(client);
            }
            Ok(Err(e)) => describe(&e),
            Err(_) => format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
        };
        *lock(&self.inner.failed_at) = Some(Instant::now());
        Err(cause)
    }

    /// A shared connection, connecting (and preparing) anew when the one held broke.
    async fn shared(&self) -> Result<(usize, Arc<Conn>), StoreError> {
        let slot = self.inner.next.fetch_add(1, Ordering::Relaxed) % SHARED_CONNECTIONS;
        let mut held = self.inner.shared[slot].lock().await;
        if let Some(conn) = held.as_ref().filter(|c| !c.client.is_closed()) {
            return Ok((slot, conn.clone()));
        }
        *held = None;
        let client = self.open_connection().await?;
        let prepared = tokio::time::timeout(QUERY_TIMEOUT, async {
            Ok::<_, tokio_postgres::Error>(Conn {
                find_by_hash: client
                    .prepare(&format!("SELECT {KEY_COLUMNS} FROM keys WHERE hash = $1"))
                    .await?,
                count_call: client
                    .prepare(
                        "INSERT INTO rate_windows (key_id, window_start, used) VALUES ($1, $2, 1) \
                         ON CONFLICT (key_id, window_start) DO UPDATE \
                         SET used = rate_windows.used + 1 WHERE rate_windows.used < $3 \
                         RETURNING used",
                    )
                    .await?,
                first_use: client
                    .prepare(
                        "INSERT INTO used_signatures (signature, expires_at) VALUES ($1, $2) \
                         ON CONFLICT (signature) DO UPDATE SET expires_at = EXCLUDED.expires_at \
                         WHERE used_signatures.expires_at <= $3 RETURNING 1",
                    )
                    .await?,
                client,
            })
        })
        .await;
        let conn = match prepared {
            Ok(Ok(conn)) => Arc::new(conn),
            Ok(Err(e)) => return Err(self.db_failure(&e)),
            Err(_) => return Err(self.unavailable("no answer while preparing statements")),
        };
        *held = Some(conn.clone());
        Ok((slot, conn))
    }

    /// Runs `op` on a shared connection, within [`QUERY_TIMEOUT`].
    async fn on_shared<T>(
        &self,
        op: impl for<'c> FnOnce(&'c Conn) -> BoxFuture<'c, Result<T, Failure>>,
    ) -> Result<T, StoreError> {
        let (slot, conn) = self.shared().await?;
        match tokio::time::timeout(QUERY_TIMEOUT, op(&conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(Failure::Store(e))) => Err(e),
            // A closed client is replaced on the next use.
            Ok(Err(Failure::Db(e))) => Err(self.db_failure(&e)),
            Err(_) => {
                let mut held = self.inner.shared[slot].lock().await;
                if held.as_ref().is_some_and(|c| Arc::ptr_eq(c, &conn)) {
                    *held = None;
                }
                Err(self.unavailable(&format!("no answer within {} s", QUERY_TIMEOUT.as_secs())))
            }
        }
    }

    /// Runs `op` on the connection for transactions, within [`QUERY_TIMEOUT`]; one at a time.
    async fn exclusive<T>(
        &self,
        op: impl for<'c> FnOnce(&'c mut Client) -> BoxFuture<'c, Result<T, Failure>>,
    ) -> Result<T, StoreError> {
        let mut held = self.inner.exclusive.lock().await;
        if held.as_ref().is_some_and(Client::is_closed) {
            *held = None;
        }
        if held.is_none() {
            *held = Some(self.open_connection().await?);
        }
        let Some(client) = held.as_mut() else {
            return Err(self.unavailable("no connection"));
        };
        match tokio::time::timeout(QUERY_TIMEOUT, op(client)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(Failure::Store(e))) => Err(e),
            Ok(Err(Failure::Db(e))) => Err(self.db_failure(&e)),
            Err(_) => {
                // Dropping the client closes the connection; the server rolls back.
                *held = None;
                Err(self.unavailable(&format!("no answer within {} s", QUERY_TIMEOUT.as_secs())))
            }
        }
    }

    /// Deletes the call windows and signatures that can no longer matter, once a minute per
    /// process, off the request path.
    fn sweep_if_due(&self, current_window: u64) {
        let swept = self.inner.swept.load(Ordering::Relaxed);
        if current_window <= swept
            || self
                .inner
                .swept
                .compare_exchange(swept, current_window, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            let before = i64::try_from(current_window.saturating_sub(1)).unwrap_or(i64::MAX);
            let now = super::now();
            let result = store
                .on_shared(|conn| {
                    Box::pin(async move {
                        conn.client
                            .execute(
                                "DELETE FROM rate_windows WHERE window_start < $1",
                                &[&before],
                            )
                            .await?;
                        conn.client
                            .execute(
                                "DELETE FROM used_signatures WHERE expires_at <= $1",
                                &[&now],
                            )
                            .await?;
                        Ok(())
                    })
                })
                .await;
            if let Err(e) = result {
                tracing::debug!(error = %e, "expired call windows not deleted; next minute");
            }
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Applies the steps the database has not seen, in one transaction under the migration lock.
/// Returns how many were applied.
async fn migrate(client: &mut Client, steps: &[&str]) -> Result<usize, Failure> {
    let known = i32::try_from(steps.len()).unwrap_or(i32::MAX);
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)"
    ))
    .await?;
    let version: i32 = tx
        .query_one(
            &format!("SELECT COALESCE(MAX(version), 0) FROM {SCHEMA_TABLE}"),
            &[],
        )
        .await?
        .try_get(0)?;
    if version > known {
        return Err(Failure::Store(StoreError::Unavailable(format!(
            "the database has schema version {version}, newer than this ionos-mcp knows \
             ({known}); use a newer ionos-mcp"
        ))));
    }
    let mut applied = 0;
    for (index, step) in steps.iter().enumerate().skip(version as usize) {
        tx.batch_execute(step).await?;
        let number = i32::try_from(index + 1).unwrap_or(i32::MAX);
        tx.execute(
            &format!("INSERT INTO {SCHEMA_TABLE} (version, applied_at) VALUES ($1, $2)"),
            &[&number, &super::now()],
        )
        .await?;
        applied += 1;
    }
    tx.commit().await?;
    Ok(applied)
}

fn read_key(row: &Row) -> Result<StoredKey, tokio_postgres::Error> {
    Ok(StoredKey {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        prefix: row.try_get(2)?,
        scopes: row.try_get(3)?,
        created_at: row.try_get(4)?,
        expires_at: row.try_get(5)?,
        revoked_at: row.try_get(6)?,
        allow_ips: row.try_get(7)?,
        rate_per_min: row.try_get(8)?,
        require_signature: row.try_get(9)?,
        meta: row.try_get(10)?,
        last_used_at: row.try_get(11)?,
        last_used_ip: row.try_get(12)?,
        rotated_to: row.try_get(13)?,
        hash: row.try_get(14)?,
    })
}

/// The key with `id`, read with `client` (a connection or a transaction).
async fn load(
    client: &impl tokio_postgres::GenericClient,
    id: &str,
    for_update: bool,
) -> Result<KeyRecord, Failure> {
    let suffix = if for_update { " FOR UPDATE" } else { "" };
    let row = client
        .query_opt(
            &format!("SELECT {KEY_COLUMNS} FROM keys WHERE id = $1{suffix}"),
            &[&id],
        )
        .await?
        .ok_or_else(|| StoreError::not_found(id))?;
    Ok(read_key(&row)?.into_record()?)
}

/// Writes a new key row; the key itself goes no further than its hash and prefix.
async fn insert(
    client: &impl tokio_postgres::GenericClient,
    new: NewKey,
    now: i64,
) -> Result<IssuedKey, Failure> {
    let NewRow {
        record,
        key,
        allow_ips,
        meta,
    } = new_row(new, now)?;
    let hash = key.hash().0.to_vec();
    let rate = record.rate_per_min.map(i64::from);
    client
        .execute(
            "INSERT INTO keys (id, hash, name, prefix, scopes, created_at, expires_at, allow_ips, \
             rate_per_min, require_signature, meta) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &record.id,
                &hash,
                &record.name,
                &record.prefix,
                &record.scopes.to_text(),
                &record.created_at,
                &record.expires_at,
                &allow_ips,
                &rate,
                &record.require_signature,
                &meta,
            ],
        )
        .await?;
    Ok(IssuedKey { record, key })
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Usage of one key or all keys since a time, from one consistent snapshot.
async fn report(
    client: &mut Client,
    key_id: Option<String>,
    since: i64,
) -> Result<UsageReport, Failure> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let (filter, args): (&str, Vec<&(dyn ToSql + Sync)>) = match &key_id {
        Some(id) => ("at >= $1 AND key_id = $2", vec![&since, id]),
        None => ("at >= $1", vec![&since]),
    };
    let last = match &key_id {
        Some(id) => Some(
            tx.query_opt(
                "SELECT last_used_at, last_used_ip FROM keys WHERE id = $1",
                &[id],
            )
            .await?
            .ok_or_else(|| StoreError::not_found(id))?,
        ),
        None => {
            tx.query_opt(
                "SELECT last_used_at, last_used_ip FROM keys WHERE last_used_at IS NOT NULL \
                 ORDER BY last_used_at DESC LIMIT 1",
                &[],
            )
            .await?
        }
    };
    let (last_used_at, last_used_ip): (Option<i64>, Option<String>) = match last {
        Some(row) => (row.try_get(0)?, row.try_get(1)?),
        None => (None, None),
    };

    let totals = tx
        .query_one(
            &format!(
                "SELECT COUNT(*), COUNT(*) FILTER (WHERE outcome <> 'ok'), \
                 COUNT(*) FILTER (WHERE outcome = 'rate_limited') FROM usage WHERE {filter}"
            ),
            &args,
        )
        .await?;
    let requests = count(totals.try_get(0)?);
    let errors = count(totals.try_get(1)?);
    let rate_limited = count(totals.try_get(2)?);

    let mut buckets = Vec::new();
    for width in [3600i64, 86_400] {
        let rows = tx
            .query(
                &format!(
                    "SELECT (at / {width}) * {width} AS start, COUNT(*), \
                     COUNT(*) FILTER (WHERE outcome <> 'ok') FROM usage WHERE {filter} \
                     GROUP BY start ORDER BY start"
                ),
                &args,
            )
            .await?;
        let mut list = Vec::with_capacity(rows.len());
        for row in rows {
            list.push(Bucket {
                start: row.try_get(0)?,
                requests: count(row.try_get(1)?),
                errors: count(row.try_get(2)?),
            });
        }
        buckets.push(list);
    }
    let per_day = buckets.pop().unwrap_or_default();
    let per_hour = buckets.pop().unwrap_or_default();

    let rows = tx
        .query(
            &format!(
                "SELECT COALESCE(tool, method) AS name, COUNT(*) AS calls, \
                 COUNT(*) FILTER (WHERE outcome <> 'ok'), AVG(latency_us)::float8 \
                 FROM usage WHERE {filter} GROUP BY COALESCE(tool, method) \
                 ORDER BY calls DESC, COALESCE(tool, method) COLLATE \"C\""
            ),
            &args,
        )
        .await?;
    let mut per_tool = Vec::with_capacity(rows.len());
    for row in rows {
        per_tool.push(ToolUsage {
            tool: row.try_get(0)?,
            calls: count(row.try_get(1)?),
            errors: count(row.try_get(2)?),
            avg_latency_ms: row.try_get::<_, f64>(3)? / 1000.0,
        });
    }
    tx.commit().await?;
    Ok(UsageReport {
        key_id,
        since,
        requests,
        errors,
        error_rate: super::store::error_rate(errors, requests),
        rate_limited,
        per_hour,
        per_day,
        per_tool,
        last_used_at,
        last_used_ip,
    })
}

/// Appends `events` and moves each key's last use forward, in one transaction. The keys'
/// rows are locked in id order first, so two replicas writing at once cannot deadlock.
async fn append_usage(client: &mut Client, events: Vec<UsageEvent>) -> Result<(), Failure> {
    let mut key_ids = Vec::with_capacity(events.len());
    let mut at = Vec::with_capacity(events.len());
    let mut method = Vec::with_capacity(events.len());
    let mut tool = Vec::with_capacity(events.len());
    let mut outcome = Vec::with_capacity(events.len());
    let mut latency = Vec::with_capacity(events.len());
    let mut ip = Vec::with_capacity(events.len());
    for e in &events {
        key_ids.push(&*e.key_id);
        at.push(e.at);
        method.push(&*e.method);
        tool.push(e.tool.as_deref());
        outcome.push(e.outcome.as_str());
        latency.push(i64::try_from(e.latency_us).unwrap_or(i64::MAX));
        ip.push(e.ip.map(|ip| ip.to_string()));
    }
    let last = last_uses(&events);
    let last_ids: Vec<&str> = last.keys().copied().collect();
    let last_at: Vec<i64> = last.values().map(|(at, _)| *at).collect();
    let last_ip: Vec<Option<String>> = last
        .values()
        .map(|(_, ip)| ip.map(|ip| ip.to_string()))
        .collect();

    let tx = client.transaction().await?;
    tx.execute(
        "SELECT 1 FROM keys WHERE id = ANY($1) ORDER BY id COLLATE \"C\" FOR UPDATE",
        &[&last_ids],
    )
    .await?;
    tx.execute(
        "INSERT INTO usage (key_id, at, method, tool, outcome, latency_us, ip) \
         SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], \
         $6::int8[], $7::text[])",
        &[&key_ids, &at, &method, &tool, &outcome, &latency, &ip],
    )
    .await?;
    tx.execute(
        "UPDATE keys AS k SET last_used_at = u.at, last_used_ip = COALESCE(u.ip, k.last_used_ip) \
         FROM UNNEST($1::text[], $2::int8[], $3::text[]) AS u(id, at, ip) \
         WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at <= u.at)",
        &[&last_ids, &last_at, &last_ip],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

impl KeyStore for PgStore {
    fn create(&self, new: NewKey) -> BoxFuture<'_, Result<IssuedKey, StoreError>> {
        Box::pin(async move {
            let now = super::now();
            check_new(&new, now)?;
            self.on_shared(|conn| Box::pin(insert(&conn.client, new, now)))
                .await
        })
    }

    fn find_by_hash(&self, hash: KeyHash) -> BoxFuture<'_, Result<Option<KeyRecord>, StoreError>> {
        Box::pin(self.on_shared(move |conn| {
            Box::pin(async move {
                let row = conn
                    .client
                    .query_opt(&conn.find_by_hash, &[&&hash.0[..]])
                    .await?;
                match row.map(|r| read_key(&r)).transpose()? {
                    Some(stored) if stored.has_hash(&hash) => Ok(Some(stored.into_record()?)),
                    _ => Ok(None),
                }
            })
        }))
    }

    fn get(&self, id: String) -> BoxFuture<'_, Result<KeyRecord, StoreError>> {
        Box::pin(
            self.on_shared(move |conn| {
                Box::pin(async move { load(&conn.client, &id, false).await })
            }),
        )
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, StoreError>> {
        Box::pin(self.on_shared(|conn| {
            Box::pin(async move {
                let rows = conn
                    .client
                    .query(
                        &format!("SELECT {KEY_COLUMNS} FROM keys ORDER BY created_at, seq"),
                        &[],
                    )
                    .await?;
                let mut records = Vec::with_capacity(rows.len());
                for row in &rows {
                    records.push(read_key(row)?.into_record()?);
                }
                Ok(records)
            })
        }))
    }

    fn revoke(&self, id: String, at: i64) -> BoxFuture<'_, Result<KeyRecord, StoreError>> {
        Box::pin(self.on_shared(move |conn| {
            Box::pin(async move {
                let row = conn
                    .client
                    .query_opt(
                        &format!(
                            "UPDATE keys SET revoked_at = LEAST(COALESCE(revoked_at, $2), $2) \
                             WHERE id = $1 RETURNING {KEY_COLUMNS}"
                        ),
                        &[&id, &at],
                    )
                    .await?
                    .ok_or_else(|| StoreError::not_found(&id))?;
                Ok(read_key(&row)?.into_record()?)
            })
        }))
    }

    fn rotate(
        &self,
        id: String,
        grace_secs: i64,
    ) -> BoxFuture<'_, Result<(KeyRecord, IssuedKey), StoreError>> {
        Box::pin(async move {
            check_grace(grace_secs)?;
            self.exclusive(move |client| {
                Box::pin(async move {
                    let now = super::now();
                    let tx = client.transaction().await?;
                    let old = load(&tx, &id, true).await?;
                    if let Some(refusal) = rotate_refusal(&old, now) {
                        return Err(refusal.into());
                    }
                    let issued = insert(&tx, replacement(&old, now), now).await?;
                    tx.execute(
                        "UPDATE keys SET revoked_at = $2, rotated_to = $3 WHERE id = $1",
                        &[&id, &now.saturating_add(grace_secs), &issued.record.id],
                    )
                    .await?;
                    let old = load(&tx, &id, false).await?;
                    tx.commit().await?;
                    Ok((old, issued))
                })
            })
            .await
        })
    }

    fn count_usable(&self, now: i64) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(self.on_shared(move |conn| {
            Box::pin(async move {
                let n: i64 = conn
                    .client
                    .query_one(
                        "SELECT COUNT(*) FROM keys WHERE (revoked_at IS NULL OR revoked_at > $1) \
                         AND (expires_at IS NULL OR expires_at > $1)",
                        &[&now],
                    )
                    .await?
                    .try_get(0)?;
                Ok(usize::try_from(n).unwrap_or(0))
            })
        }))
    }

    fn record_usage(&self, events: Vec<UsageEvent>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            if events.is_empty() {
                return Ok(());
            }
            self.exclusive(move |client| Box::pin(append_usage(client, events)))
                .await
        })
    }

    fn usage(
        &self,
        key_id: Option<String>,
        since: i64,
    ) -> BoxFuture<'_, Result<UsageReport, StoreError>> {
        Box::pin(self.exclusive(move |client| Box::pin(report(client, key_id, since))))
    }

    fn forget_usage_before(
        &self,
        before: i64,
        at_most: u32,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        let at_most = i64::from(at_most);
        Box::pin(self.on_shared(move |conn| {
            Box::pin(async move {
                // Every replica does this; a row one of them deleted is simply not there.
                Ok(conn
                    .client
                    .execute(
                        "DELETE FROM usage WHERE id IN \
                         (SELECT id FROM usage WHERE at < $1 ORDER BY at LIMIT $2)",
                        &[&before, &at_most],
                    )
                    .await?)
            })
        }))
    }
}

impl Limits for PgStore {
    fn count_call<'a>(
        &'a self,
        key_id: &'a str,
        per_min: u32,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<RateDecision, StoreError>> {
        Box::pin(async move {
            let (current, reset_secs) = window(now);
            self.sweep_if_due(current);
            let window_start = i64::try_from(current).unwrap_or(i64::MAX);
            let limit = i32::try_from(per_min).unwrap_or(i32::MAX);
            let key_id = key_id.to_string();
            let used = self
                .on_shared(move |conn| {
                    Box::pin(async move {
                        let row = conn
                            .client
                            .query_opt(&conn.count_call, &[&key_id, &window_start, &limit])
                            .await?;
                        Ok(row.map(|r| r.try_get::<_, i32>(0)).transpose()?)
                    })
                })
                .await?;
            Ok(match used {
                Some(used) => RateDecision {
                    allowed: true,
                    limit: per_min,
                    remaining: per_min.saturating_sub(u32::try_from(used).unwrap_or(u32::MAX)),
                    reset_secs,
                },
                None => RateDecision {
                    allowed: false,
                    limit: per_min,
                    remaining: 0,
                    reset_secs,
                },
            })
        })
    }

    fn first_use(&self, signature: [u8; 32], now: i64) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.on_shared(move |conn| {
            Box::pin(async move {
                let until = now.saturating_add(REPLAY_WINDOW_SECS);
                let row = conn
                    .client
                    .query_opt(&conn.first_use, &[&&signature[..], &until, &now])
                    .await?;
                Ok(row.is_some())
            })
        }))
    }
}

fn binding_error(e: serde_json::Error) -> StoreError {
    StoreError::Invalid(format!("confirmation binding: {e}"))
}

impl Confirmations for PgStore {
    fn issue(
        &self,
        id: String,
        binding: Binding,
        expires_at: i64,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let text = serde_json::to_string(&binding).map_err(binding_error)?;
            // Used or expired ones are kept an hour, to say "already used" or "expired".
            let forgotten_before = super::now() - KEPT_SECS;
            self.on_shared(move |conn| {
                Box::pin(async move {
                    conn.client
                        .execute(
                            "DELETE FROM confirmations WHERE id IN (SELECT id FROM confirmations \
                             WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
                            &[&forgotten_before, &CONFIRMATION_SWEEP],
                        )
                        .await?;
                    conn.client
                        .execute(
                            "INSERT INTO confirmations (id, binding, expires_at, used_at) \
                             VALUES ($1, $2, $3, NULL) ON CONFLICT (id) DO UPDATE \
                             SET binding = EXCLUDED.binding, expires_at = EXCLUDED.expires_at, \
                             used_at = NULL",
                            &[&id, &text, &expires_at],
                        )
                        .await?;
                    Ok(())
                })
            })
            .await
        })
    }

    /// The decision is made on the row as read; the use is recorded by an update that only
    /// matches the row still unused and unchanged. Of two replicas using a confirmation at
    /// once, one update matches; the other finds the row changed, reads it again and answers
    /// `AlreadyUsed`.
    fn redeem(
        &self,
        id: String,
        binding: Binding,
        now: i64,
    ) -> BoxFuture<'_, Result<Redeemed, StoreError>> {
        Box::pin(self.on_shared(move |conn| {
            Box::pin(async move {
                for _ in 0..REDEEM_ATTEMPTS {
                    let row = conn
                        .client
                        .query_opt(
                            "SELECT binding, expires_at, used_at FROM confirmations WHERE id = $1",
                            &[&id],
                        )
                        .await?;
                    let Some(row) = row else {
                        return Ok(Redeemed::Unknown);
                    };
                    let text: String = row.try_get(0)?;
                    let expires_at: i64 = row.try_get(1)?;
                    let used_at: Option<i64> = row.try_get(2)?;
                    let stored: Binding = serde_json::from_str(&text).map_err(binding_error)?;
                    let (outcome, mark) =
                        decide(&stored, expires_at, used_at.is_some(), &binding, now);
                    if !mark {
                        return Ok(outcome);
                    }
                    let marked = conn
                        .client
                        .query_opt(
                            "UPDATE confirmations SET used_at = $2 WHERE id = $1 \
                             AND used_at IS NULL AND binding = $3 AND expires_at = $4 RETURNING 1",
                            &[&id, &now, &text, &expires_at],
                        )
                        .await?;
                    if marked.is_some() {
                        return Ok(outcome);
                    }
                }
                // Changed under every attempt: refused, never let through.
                Ok(Redeemed::AlreadyUsed)
            })
        }))
    }

    fn sealing_key(&self) -> BoxFuture<'_, Result<Vec<u8>, StoreError>> {
        Box::pin(async move {
            let fresh = random_key()?;
            self.on_shared(move |conn| {
                Box::pin(async move {
                    // The first server to ask makes it; every other reads that one.
                    conn.client
                        .execute(
                            "INSERT INTO secrets (name, value) VALUES ($1, $2) \
                             ON CONFLICT (name) DO NOTHING",
                            &[&SEALING_KEY, &fresh],
                        )
                        .await?;
                    let row = conn
                        .client
                        .query_one("SELECT value FROM secrets WHERE name = $1", &[&SEALING_KEY])
                        .await?;
                    Ok(row.try_get::<_, Vec<u8>>(0)?)
                })
            })
            .await
            .and_then(stored_sealing_key)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::backend::Location;
    use super::super::confirmations::id_of;
    use super::super::store::NewKey;
    use super::super::test_support::PgTestDb;
    use super::*;

    #[tokio::test]
    async fn a_database_of_the_first_schema_gains_confirmations_and_keeps_its_keys() {
        let Some(db) = PgTestDb::create("first_schema").await else {
            return;
        };
        // As a release before confirmations left it.
        let mut client = db.connect().await;
        assert_eq!(
            migrate(&mut client, &MIGRATIONS[..1]).await.ok(),
            Some(1),
            "the first step applies"
        );
        let Location::Postgres(url) = &db.location else {
            unreachable!("a PostgreSQL test database")
        };
        let old = PgStore::connect(url).await.expect("opens");
        let issued = old.create(NewKey::named("ci")).await.expect("created");
        drop(old);

        let store = PgStore::connect(url).await.expect("migrates");
        let versions: Vec<i32> = client
            .query(
                &format!("SELECT version FROM {SCHEMA_TABLE} ORDER BY version"),
                &[],
            )
            .await
            .expect("versions")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(versions, (1..=MIGRATIONS.len() as i32).collect::<Vec<_>>());
        assert_eq!(store.get(issued.record.id.clone()).await, Ok(issued.record));
        let binding = Binding {
            caller: "key_1".into(),
            tool: "stop_server".into(),
            args: "digest".into(),
            label: String::new(),
        };
        store
            .issue(
                id_of("ct_after_upgrade"),
                binding.clone(),
                super::super::now() + 60,
            )
            .await
            .expect("issued");
        assert_eq!(
            store
                .redeem(id_of("ct_after_upgrade"), binding, super::super::now())
                .await,
            Ok(Redeemed::Valid)
        );
    }

    #[tokio::test]
    async fn an_unreadable_confirmation_is_an_error_not_a_panic() {
        let Some(db) = PgTestDb::create("bad_binding").await else {
            return;
        };
        let Location::Postgres(url) = &db.location else {
            unreachable!("a PostgreSQL test database")
        };
        let store = PgStore::connect(url).await.expect("opens");
        let client = db.connect().await;
        client
            .execute(
                "INSERT INTO confirmations (id, binding, expires_at) VALUES ($1, 'not json', $2)",
                &[&id_of("ct_bad"), &(super::super::now() + 60)],
            )
            .await
            .expect("inserted");
        let binding = Binding {
            caller: "key_1".into(),
            tool: "stop_server".into(),
            args: "digest".into(),
            label: String::new(),
        };
        let err = store
            .redeem(id_of("ct_bad"), binding, super::super::now())
            .await
            .expect_err("unreadable");
        assert!(matches!(err, StoreError::Invalid(_)), "{err}");
        assert!(err.to_string().contains("confirmation binding"), "{err}");
    }
}
