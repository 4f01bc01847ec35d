//! The SQLite key store: one file that the CLI and a running server use at the same time
//! (WAL mode, a 5 s busy timeout). Only the SHA-256 of each key and its display prefix
//! are written, never the key.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params, params_from_iter};

use super::BoxFuture;
use super::confirmations::{
    Binding, Confirmations, KEPT_SECS, Redeemed, SEALING_KEY, decide, random_key,
    stored_sealing_key,
};
use super::key::KeyHash;
use super::store::{
    Bucket, IssuedKey, KeyRecord, KeyStore, NewKey, NewRow, StoreError, StoredKey, ToolUsage,
    UsageEvent, UsageReport, check_grace, check_new, last_uses, new_row, replacement,
    rotate_refusal,
};

/// The schema, one step per version: step `n` takes a file from `user_version` `n` to
/// `n + 1`. Steps are only ever appended.
const MIGRATIONS: &[&str] = &[
    // 1: keys and usage.
    "CREATE TABLE keys (
        id TEXT PRIMARY KEY,
        hash BLOB NOT NULL UNIQUE,
        name TEXT NOT NULL,
        prefix TEXT NOT NULL,
        scopes TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        revoked_at INTEGER,
        allow_ips TEXT NOT NULL DEFAULT '',
        rate_per_min INTEGER,
        require_signature INTEGER NOT NULL DEFAULT 0,
        meta TEXT NOT NULL DEFAULT '{}',
        last_used_at INTEGER,
        last_used_ip TEXT,
        rotated_to TEXT REFERENCES keys(id)
    ) STRICT;
    CREATE INDEX keys_created_at ON keys(created_at);
    CREATE TABLE usage (
        id INTEGER PRIMARY KEY,
        key_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        method TEXT NOT NULL,
        tool TEXT,
        outcome TEXT NOT NULL,
        latency_us INTEGER NOT NULL,
        ip TEXT
    ) STRICT;
    CREATE INDEX usage_key_at ON usage(key_id, at);
    CREATE INDEX usage_at ON usage(at);",
    // 2: single-use confirmations of destructive calls, and the secret sealing MRTR states,
    // shared by every server on this file.
    "CREATE TABLE confirmations (
        id TEXT PRIMARY KEY,
        binding TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER
    ) STRICT;
    CREATE INDEX confirmations_expires_at ON confirmations(expires_at);
    CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) STRICT;",
];

/// The columns a [`KeyRecord`] is read from, in [`read_row`]'s order.
const KEY_COLUMNS: &str = "id, name, prefix, scopes, created_at, expires_at, revoked_at, \
     allow_ips, rate_per_min, require_signature, meta, last_used_at, last_used_ip, rotated_to, hash";

/// Keys and usage in a SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file (mode 0600, in directories of mode
    /// 0700) and bringing its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Unavailable(format!("cannot {what} {}: {e}", path.display()))
        };
        prepare_file(path).map_err(|e| fail("create", &e))?;
        let mut conn = Connection::open(path).map_err(|e| fail("open", &e))?;
        configure(&conn).map_err(|e| fail("set up", &e))?;
        migrate(&mut conn, MIGRATIONS).map_err(|e| match e {
            Migration::Newer(version) => StoreError::Unavailable(format!(
                "{} has schema version {version}, newer than this ionos-mcp knows ({}); \
                 use a newer ionos-mcp",
                path.display(),
                MIGRATIONS.len()
            )),
            Migration::Db(e) => fail("update the schema of", &e),
        })?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path: Arc::new(path.to_path_buf()),
        })
    }

    /// The file this store uses.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection in a blocking task; the lock is taken and released there.
    fn run<T, F>(&self, f: F) -> BoxFuture<'_, Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let path = Arc::clone(&self.path);
        Box::pin(async move {
            let result = tokio::task::spawn_blocking(move || {
                // A panic elsewhere while holding the lock leaves no transaction open
                // (rusqlite rolls back on drop), so the connection is still good.
                let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
                f(&mut conn)
            })
            .await
            .map_err(|e| StoreError::Unavailable(format!("a key store task ended: {e}")))?;
            result.map_err(|e| match e {
                StoreError::Unavailable(message) => {
                    crate::metrics::METRICS.db_error();
                    StoreError::Unavailable(format!("{}: {message}", path.display()))
                }
                other => other,
            })
        })
    }
}

/// Where the key store lives unless `--keys-db` says otherwise:
/// `$XDG_DATA_HOME/ionos-mcp/keys.db`, else `~/.local/share/ionos-mcp/keys.db`
/// (`~/Library/Application Support/ionos-mcp/keys.db` on macOS).
pub fn default_path() -> PathBuf {
    default_path_from(std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME"))
}

fn default_path_from(
    xdg_data_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> PathBuf {
    let app = Path::new("ionos-mcp").join("keys.db");
    // The XDG spec says to ignore a relative XDG_DATA_HOME.
    if let Some(dir) = xdg_data_home.filter(|d| Path::new(d).is_absolute()) {
        return PathBuf::from(dir).join(app);
    }
    match home.filter(|h| !h.is_empty()) {
        Some(home) if cfg!(target_os = "macos") => PathBuf::from(home)
            .join("Library")
            .join("Application Support")
            .join(app),
        Some(home) => PathBuf::from(home).join(".local").join("share").join(app),
        None => PathBuf::from("ionos-mcp-keys.db"),
    }
}

/// Creates the parent directories and the file with owner-only permissions, before SQLite
/// opens it (SQLite gives its `-wal` and `-shm` files the same permissions).
fn prepare_file(path: &Path) -> std::io::Result<()> {
    let mut dirs = std::fs::DirBuilder::new();
    dirs.recursive(true);
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        dirs.mode(0o700);
        file.mode(0o600);
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        dirs.create(parent)?;
    }
    match file.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            warn_if_open_to_others(path);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// A warning for an existing store file that others than its owner may read.
fn warn_if_open_to_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{mode:o}"),
                    "the key store can be read by other users; `chmod 600` it unless that is intended"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // Before WAL: switching the journal mode needs the lock another process may hold.
    conn.busy_timeout(Duration::from_secs(5))?;
    let _mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

/// Why the schema could not be brought up to date.
#[derive(Debug)]
enum Migration {
    /// The file's version is beyond the known steps.
    Newer(i64),
    Db(rusqlite::Error),
}

impl From<rusqlite::Error> for Migration {
    fn from(e: rusqlite::Error) -> Migration {
        Migration::Db(e)
    }
}

/// Applies the steps from the file's `user_version` on, each in its own write
/// transaction that re-reads the version (another process may be migrating too).
/// Returns how many were applied.
fn migrate(conn: &mut Connection, steps: &[&str]) -> Result<usize, Migration> {
    let known = i64::try_from(steps.len()).unwrap_or(i64::MAX);
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version == known {
        return Ok(0);
    }
    let mut applied = 0;
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if version > known || version < 0 {
            return Err(Migration::Newer(version));
        }
        let Some(step) = usize::try_from(version).ok().and_then(|v| steps.get(v)) else {
            return Ok(applied);
        };
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
        applied += 1;
    }
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn read_row(row: &Row<'_>) -> rusqlite::Result<StoredKey> {
    Ok(StoredKey {
        id: row.get(0)?,
        name: row.get(1)?,
        prefix: row.get(2)?,
        scopes: row.get(3)?,
        created_at: row.get(4)?,
        expires_at: row.get(5)?,
        revoked_at: row.get(6)?,
        allow_ips: row.get(7)?,
        rate_per_min: row.get(8)?,
        require_signature: row.get(9)?,
        meta: row.get(10)?,
        last_used_at: row.get(11)?,
        last_used_ip: row.get(12)?,
        rotated_to: row.get(13)?,
        hash: row.get(14)?,
    })
}

fn load(conn: &Connection, id: &str) -> Result<KeyRecord, StoreError> {
    conn.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM keys WHERE id = ?1"))
        .and_then(|mut stmt| stmt.query_row([id], read_row).optional())
        .map_err(db)?
        .ok_or_else(|| StoreError::not_found(id))?
        .into_record()
}

/// Writes a new key row; the key itself goes no further than its hash and prefix.
fn insert(conn: &Connection, new: NewKey, now: i64) -> Result<IssuedKey, StoreError> {
    let NewRow {
        record,
        key,
        allow_ips,
        meta,
    } = new_row(new, now)?;
    conn.prepare_cached(
        "INSERT INTO keys (id, hash, name, prefix, scopes, created_at, expires_at, allow_ips, \
         rate_per_min, require_signature, meta) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            record.id,
            &key.hash().0[..],
            record.name,
            record.prefix,
            record.scopes.to_text(),
            record.created_at,
            record.expires_at,
            allow_ips,
            record.rate_per_min,
            record.require_signature,
            meta,
        ])
    })
    .map_err(db)?;
    Ok(IssuedKey { record, key })
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Usage of one key or all keys since a time, from one consistent read.
fn report(
    conn: &mut Connection,
    key_id: Option<String>,
    since: i64,
) -> Result<UsageReport, StoreError> {
    let tx = conn.transaction().map_err(db)?;
    let (filter, args): (&str, Vec<Value>) = match &key_id {
        Some(id) => (
            "at >= ?1 AND key_id = ?2",
            vec![Value::Integer(since), Value::Text(id.clone())],
        ),
        None => ("at >= ?1", vec![Value::Integer(since)]),
    };
    let (last_used_at, last_used_ip) = match &key_id {
        Some(id) => tx
            .prepare_cached("SELECT last_used_at, last_used_ip FROM keys WHERE id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()
            })
            .map_err(db)?
            .ok_or_else(|| StoreError::not_found(id))?,
        None => tx
            .prepare_cached(
                "SELECT last_used_at, last_used_ip FROM keys WHERE last_used_at IS NOT NULL \
                 ORDER BY last_used_at DESC LIMIT 1",
            )
            .and_then(|mut stmt| {
                stmt.query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()
            })
            .map_err(db)?
            .unwrap_or((None, None)),
    };

    let (requests, errors, rate_limited) = tx
        .prepare_cached(&format!(
            "SELECT COUNT(*), COALESCE(SUM(outcome <> 'ok'), 0), \
             COALESCE(SUM(outcome = 'rate_limited'), 0) FROM usage WHERE {filter}"
        ))
        .and_then(|mut stmt| {
            stmt.query_row(params_from_iter(&args), |row| {
                Ok((count(row.get(0)?), count(row.get(1)?), count(row.get(2)?)))
            })
        })
        .map_err(db)?;

    let buckets = |width: i64| -> Result<Vec<Bucket>, StoreError> {
        let mut stmt = tx
            .prepare_cached(&format!(
                "SELECT (at / {width}) * {width} AS start, COUNT(*), SUM(outcome <> 'ok') \
                 FROM usage WHERE {filter} GROUP BY start ORDER BY start"
            ))
            .map_err(db)?;
        let rows = stmt
            .query_map(params_from_iter(&args), |row| {
                Ok(Bucket {
                    start: row.get(0)?,
                    requests: count(row.get(1)?),
                    errors: count(row.get(2)?),
                })
            })
            .map_err(db)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db)
    };
    let per_hour = buckets(3600)?;
    let per_day = buckets(86_400)?;

    let per_tool = {
        let mut stmt = tx
            .prepare_cached(&format!(
                "SELECT COALESCE(tool, method) AS name, COUNT(*) AS calls, \
                 SUM(outcome <> 'ok'), AVG(latency_us) FROM usage WHERE {filter} \
                 GROUP BY name ORDER BY calls DESC, name"
            ))
            .map_err(db)?;
        let rows = stmt
            .query_map(params_from_iter(&args), |row| {
                Ok(ToolUsage {
                    tool: row.get(0)?,
                    calls: count(row.get(1)?),
                    errors: count(row.get(2)?),
                    avg_latency_ms: row.get::<_, f64>(3)? / 1000.0,
                })
            })
            .map_err(db)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db)?
    };

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

impl Confirmations for SqliteStore {
    fn issue(
        &self,
        id: String,
        binding: Binding,
        expires_at: i64,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        self.run(move |conn| {
            let text = serde_json::to_string(&binding)
                .map_err(|e| StoreError::Invalid(format!("confirmation binding: {e}")))?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            // Used or expired ones are kept an hour, to say "already used" or "expired".
            tx.execute(
                "DELETE FROM confirmations WHERE expires_at < ?1",
                params![super::now() - KEPT_SECS],
            )
            .map_err(db)?;
            tx.execute(
                "INSERT OR REPLACE INTO confirmations (id, binding, expires_at, used_at) \
                 VALUES (?1, ?2, ?3, NULL)",
                params![id, text, expires_at],
            )
            .map_err(db)?;
            tx.commit().map_err(db)
        })
    }

    fn redeem(
        &self,
        id: String,
        binding: Binding,
        now: i64,
    ) -> BoxFuture<'_, Result<Redeemed, StoreError>> {
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            let row: Option<(String, i64, Option<i64>)> = tx
                .query_row(
                    "SELECT binding, expires_at, used_at FROM confirmations WHERE id = ?1",
                    params![id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(db)?;
            let Some((text, expires_at, used_at)) = row else {
                return Ok(Redeemed::Unknown);
            };
            let stored: Binding = serde_json::from_str(&text)
                .map_err(|e| StoreError::Invalid(format!("confirmation binding: {e}")))?;
            let (outcome, mark) = decide(&stored, expires_at, used_at.is_some(), &binding, now);
            if mark {
                tx.execute(
                    "UPDATE confirmations SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL",
                    params![id, now],
                )
                .map_err(db)?;
            }
            tx.commit().map_err(db)?;
            Ok(outcome)
        })
    }

    fn sealing_key(&self) -> BoxFuture<'_, Result<Vec<u8>, StoreError>> {
        self.run(move |conn| {
            let fresh = random_key()?;
            conn.execute(
                "INSERT OR IGNORE INTO secrets (name, value) VALUES (?1, ?2)",
                params![SEALING_KEY, fresh],
            )
            .map_err(db)?;
            let stored = conn
                .query_row(
                    "SELECT value FROM secrets WHERE name = ?1",
                    params![SEALING_KEY],
                    |r| r.get(0),
                )
                .map_err(db)?;
            stored_sealing_key(stored)
        })
    }
}

impl KeyStore for SqliteStore {
    fn create(&self, new: NewKey) -> BoxFuture<'_, Result<IssuedKey, StoreError>> {
        self.run(move |conn| {
            let now = super::now();
            check_new(&new, now)?;
            insert(conn, new, now)
        })
    }

    fn find_by_hash(&self, hash: KeyHash) -> BoxFuture<'_, Result<Option<KeyRecord>, StoreError>> {
        self.run(move |conn| {
            let raw = conn
                .prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM keys WHERE hash = ?1"))
                .and_then(|mut stmt| stmt.query_row([&hash.0[..]], read_row).optional())
                .map_err(db)?;
            match raw {
                Some(raw) if raw.has_hash(&hash) => raw.into_record().map(Some),
                _ => Ok(None),
            }
        })
    }

    fn get(&self, id: String) -> BoxFuture<'_, Result<KeyRecord, StoreError>> {
        self.run(move |conn| load(conn, &id))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, StoreError>> {
        self.run(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {KEY_COLUMNS} FROM keys ORDER BY created_at, rowid"
                ))
                .map_err(db)?;
            let rows = stmt.query_map([], read_row).map_err(db)?;
            let mut records = Vec::new();
            for raw in rows {
                records.push(raw.map_err(db)?.into_record()?);
            }
            Ok(records)
        })
    }

    fn revoke(&self, id: String, at: i64) -> BoxFuture<'_, Result<KeyRecord, StoreError>> {
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            let changed = tx
                .prepare_cached(
                    "UPDATE keys SET revoked_at = MIN(COALESCE(revoked_at, ?2), ?2) WHERE id = ?1",
                )
                .and_then(|mut stmt| stmt.execute(params![id, at]))
                .map_err(db)?;
            if changed == 0 {
                return Err(StoreError::not_found(&id));
            }
            let record = load(&tx, &id)?;
            tx.commit().map_err(db)?;
            Ok(record)
        })
    }

    fn rotate(
        &self,
        id: String,
        grace_secs: i64,
    ) -> BoxFuture<'_, Result<(KeyRecord, IssuedKey), StoreError>> {
        self.run(move |conn| {
            check_grace(grace_secs)?;
            let now = super::now();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            let old = load(&tx, &id)?;
            if let Some(refusal) = rotate_refusal(&old, now) {
                return Err(refusal);
            }
            let issued = insert(&tx, replacement(&old, now), now)?;
            tx.prepare_cached("UPDATE keys SET revoked_at = ?2, rotated_to = ?3 WHERE id = ?1")
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        id,
                        now.saturating_add(grace_secs),
                        issued.record.id
                    ])
                })
                .map_err(db)?;
            let old = load(&tx, &id)?;
            tx.commit().map_err(db)?;
            Ok((old, issued))
        })
    }

    fn forget_usage_before(
        &self,
        before: i64,
        at_most: u32,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.run(move |conn| {
            conn.execute(
                "DELETE FROM usage WHERE id IN \
                 (SELECT id FROM usage WHERE at < ?1 ORDER BY at LIMIT ?2)",
                params![before, at_most],
            )
            .map(|n| n as u64)
            .map_err(db)
        })
    }

    fn count_usable(&self, now: i64) -> BoxFuture<'_, Result<usize, StoreError>> {
        self.run(move |conn| {
            let n: i64 = conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM keys WHERE (revoked_at IS NULL OR revoked_at > ?1) \
                     AND (expires_at IS NULL OR expires_at > ?1)",
                )
                .and_then(|mut stmt| stmt.query_row([now], |row| row.get(0)))
                .map_err(db)?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }

    fn record_usage(&self, events: Vec<UsageEvent>) -> BoxFuture<'_, Result<(), StoreError>> {
        self.run(move |conn| {
            if events.is_empty() {
                return Ok(());
            }
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            {
                let mut append = tx
                    .prepare_cached(
                        "INSERT INTO usage (key_id, at, method, tool, outcome, latency_us, ip) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )
                    .map_err(db)?;
                let mut last_use = tx
                    .prepare_cached(
                        "UPDATE keys SET last_used_at = ?2, last_used_ip = COALESCE(?3, last_used_ip) \
                         WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at <= ?2)",
                    )
                    .map_err(db)?;
                for event in &events {
                    append
                        .execute(params![
                            event.key_id,
                            event.at,
                            event.method,
                            event.tool,
                            event.outcome.as_str(),
                            i64::try_from(event.latency_us).unwrap_or(i64::MAX),
                            event.ip.map(|ip| ip.to_string()),
                        ])
                        .map_err(db)?;
                }
                for (key_id, (at, ip)) in last_uses(&events) {
                    last_use
                        .execute(params![key_id, at, ip.map(|ip| ip.to_string())]).map_err(db)?;
                }
            }
            tx.commit().map_err(db)
        })
    }

    fn usage(
        &self,
        key_id: Option<String>,
        since: i64,
    ) -> BoxFuture<'_, Result<UsageReport, StoreError>> {
        self.run(move |conn| report(conn, key_id, since))
    }
}

#[cfg(test)]
mod tests {
    use super::super::store::Outcome;
    use super::super::test_support::{TempDir, usage_event};
    use super::*;

    fn new_key(name: &str) -> NewKey {
        NewKey::named(name)
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_file_is_for_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("mode");
        let path = dir.path().join("nested").join("keys.db");
        let store = SqliteStore::open(&path).expect("opens");
        store.create(new_key("ci")).await.expect("created");
        let mode = |p: &Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("nested")), 0o700);
        let wal = dir.path().join("nested").join("keys.db-wal");
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600);
        }
    }

    #[tokio::test]
    async fn the_file_never_contains_a_key() {
        let dir = TempDir::new("secret");
        let path = dir.path().join("keys.db");
        let store = SqliteStore::open(&path).expect("opens");
        let mut keys = Vec::new();
        for name in ["a", "b", "c"] {
            keys.push(store.create(new_key(name)).await.expect("created"));
        }
        let (_, rotated) = store
            .rotate(keys[0].record.id.clone(), 60)
            .await
            .expect("rotated");
        keys.push(rotated);
        store
            .record_usage(vec![usage_event(
                &keys[1].record.id,
                Some("dns_zones_list"),
                Outcome::Ok,
                1,
            )])
            .await
            .expect("recorded");
        drop(store);

        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let file = dir.path().join(format!("keys.db{suffix}"));
            if let Ok(content) = std::fs::read(&file) {
                bytes.extend(content);
            }
        }
        assert!(!bytes.is_empty());
        let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        for issued in &keys {
            let text = issued.key.expose().as_bytes();
            assert!(!contains(text));
            assert!(!contains(&text[12..]));
            assert!(contains(&issued.key.hash().0));
        }
    }

    #[test]
    fn migrations_are_applied_once_and_a_v0_file_is_migrated() {
        let dir = TempDir::new("migrate");
        let path = dir.path().join("keys.db");
        // A file SQLite made without the schema: user_version 0.
        let conn = Connection::open(&path).expect("opens");
        conn.execute_batch("CREATE TABLE unrelated (x INTEGER)")
            .expect("created");
        drop(conn);

        drop(SqliteStore::open(&path).expect("migrates"));
        let mut conn = Connection::open(&path).expect("opens");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, MIGRATIONS.len() as i64);
        for table in ["keys", "usage"] {
            let n: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .expect("counted");
            assert_eq!(n, 1, "{table}");
        }
        assert_eq!(migrate(&mut conn, MIGRATIONS).expect("nothing to do"), 0);

        // A further step is applied once; re-running applies nothing.
        let mut steps = MIGRATIONS.to_vec();
        steps.push("CREATE TABLE later (y INTEGER)");
        assert_eq!(migrate(&mut conn, &steps).expect("applied"), 1);
        assert_eq!(migrate(&mut conn, &steps).expect("nothing to do"), 0);
        drop(conn);

        // This build does not know step 2.
        let err = SqliteStore::open(&path).expect_err("newer");
        assert!(err.to_string().contains("newer ionos-mcp"), "{err}");
    }

    #[tokio::test]
    async fn confirmations_are_shared_by_stores_on_one_file() {
        let dir = TempDir::new("confirm");
        let path = dir.path().join("keys.db");
        let a = SqliteStore::open(&path).expect("opens");
        let b = SqliteStore::open(&path).expect("opens");
        let key = a.sealing_key().await.expect("key");
        assert_eq!(key.len(), 32);
        assert_eq!(b.sealing_key().await.expect("key"), key);
        {
            // A key shortened outside ionos-mcp seals nothing.
            let conn = rusqlite::Connection::open(&path).expect("opens");
            conn.execute(
                "UPDATE secrets SET value = x'0102' WHERE name = ?1",
                params![SEALING_KEY],
            )
            .expect("changed");
            let err = b.sealing_key().await.expect_err("a 2-byte key");
            assert!(err.to_string().contains("is 2 bytes, not 32"), "{err}");
            conn.execute(
                "UPDATE secrets SET value = ?2 WHERE name = ?1",
                params![SEALING_KEY, key],
            )
            .expect("put back");
        }
        let binding = Binding {
            caller: "key_1".into(),
            tool: "stop_server".into(),
            args: "digest".into(),
            label: "server web-01".into(),
        };
        let id = crate::access::confirmations::id_of("ct_x");
        let later = crate::access::now() + 300;
        a.issue(id.clone(), binding.clone(), later)
            .await
            .expect("issued");
        let mut other = binding.clone();
        other.args = "another".into();
        assert_eq!(
            b.redeem(id.clone(), other, crate::access::now())
                .await
                .unwrap(),
            Redeemed::OtherTarget {
                label: "server web-01".into()
            }
        );
        assert_eq!(
            b.redeem(id.clone(), binding.clone(), crate::access::now())
                .await
                .unwrap(),
            Redeemed::Valid
        );
        assert_eq!(
            a.redeem(id, binding, crate::access::now()).await.unwrap(),
            Redeemed::AlreadyUsed
        );
        let text = std::fs::read(&path).expect("file");
        assert!(!String::from_utf8_lossy(&text).contains("ct_x"));
    }

    #[test]
    fn a_fresh_connection_applies_every_step() {
        let mut conn = Connection::open_in_memory().expect("opens");
        assert_eq!(
            migrate(&mut conn, MIGRATIONS).expect("applied"),
            MIGRATIONS.len()
        );
        assert_eq!(migrate(&mut conn, MIGRATIONS).expect("nothing"), 0);
    }

    #[test]
    fn default_path_follows_xdg_then_home() {
        let os = |s: &str| Some(std::ffi::OsString::from(s));
        assert_eq!(
            default_path_from(os("/data"), os("/home/u")),
            PathBuf::from("/data/ionos-mcp/keys.db")
        );
        let home = default_path_from(os("relative"), os("/home/u"));
        if cfg!(target_os = "macos") {
            assert_eq!(
                home,
                PathBuf::from("/home/u/Library/Application Support/ionos-mcp/keys.db")
            );
        } else {
            assert_eq!(
                home,
                PathBuf::from("/home/u/.local/share/ionos-mcp/keys.db")
            );
        }
        assert_eq!(default_path_from(None, os("/home/u")), home);
        assert_eq!(
            default_path_from(None, None),
            PathBuf::from("ionos-mcp-keys.db")
        );
    }

    #[tokio::test]
    async fn unreadable_rows_are_reported_not_panicked_on() {
        let dir = TempDir::new("corrupt");
        let path = dir.path().join("keys.db");
        let store = SqliteStore::open(&path).expect("opens");
        let issued = store.create(new_key("ci")).await.expect("created");
        let conn = Connection::open(&path).expect("opens");
        conn.execute("UPDATE keys SET allow_ips = 'not-a-net'", [])
            .expect("updated");
        let err = store
            .get(issued.record.id.clone())
            .await
            .expect_err("unreadable");
        let message = err.to_string();
        assert!(
            message.contains("allow_ips") && message.contains(&issued.record.id),
            "{message}"
        );
        assert!(!message.contains(&issued.key.expose()[12..]));
    }
}
