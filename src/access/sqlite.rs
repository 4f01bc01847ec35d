//! The SQLite key store: one file that the CLI and a running server use at the same time
//! (WAL mode, a 5 s busy timeout). Only the SHA-256 of each key and its display prefix
//! are written, never the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params, params_from_iter};

use super::BoxFuture;
use super::confirmations::{Binding, Confirmations, Redeemed, decide, random_key};
use super::key::{ApiKey, KeyHash, try_new_key_id};
use super::scopes::Scopes;
use super::store::{
    Bucket, IssuedKey, KeyRecord, KeyStore, NewKey, StoreError, ToolUsage, UsageEvent, UsageReport,
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

/// A key row as stored, before its text columns are read.
struct Raw {
    id: String,
    name: String,
    prefix: String,
    scopes: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    allow_ips: String,
    rate_per_min: Option<i64>,
    require_signature: bool,
    meta: String,
    last_used_at: Option<i64>,
    last_used_ip: Option<String>,
    rotated_to: Option<String>,
    hash: Vec<u8>,
}

fn read_row(row: &Row<'_>) -> rusqlite::Result<Raw> {
    Ok(Raw {
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

impl Raw {
    fn into_record(self) -> Result<KeyRecord, StoreError> {
        let id = self.id;
        let bad = |column: &str, e: &dyn std::fmt::Display| {
            StoreError::Unavailable(format!(
                "key {id} has an unreadable {column} column ({e}); the file was changed \
                 outside ionos-mcp"
            ))
        };
        let scopes = Scopes::from_stored(&self.scopes).map_err(|e| bad("scopes", &e))?;
        let allow_ips = self
            .allow_ips
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::parse::<ipnet::IpNet>)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("allow_ips", &e))?;
        let rate_per_min = self
            .rate_per_min
            .map(u32::try_from)
            .transpose()
            .map_err(|e| bad("rate_per_min", &e))?;
        let meta: BTreeMap<String, String> =
            serde_json::from_str(&self.meta).map_err(|e| bad("meta", &e))?;
        Ok(KeyRecord {
            id,
            name: self.name,
            prefix: self.prefix,
            scopes,
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            allow_ips,
            rate_per_min,
            require_signature: self.require_signature,
            meta,
            last_used_at: self.last_used_at,
            last_used_ip: self.last_used_ip,
            rotated_to: self.rotated_to,
        })
    }
}

fn load(conn: &Connection, id: &str) -> Result<KeyRecord, StoreError> {
    conn.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM keys WHERE id = ?1"))
        .and_then(|mut stmt| stmt.query_row([id], read_row).optional())
        .map_err(db)?
        .ok_or_else(|| StoreError::not_found(id))?
        .into_record()
}

fn check_new(new: &NewKey, now: i64) -> Result<(), StoreError> {
    if new.name.trim().is_empty() {
        return Err(StoreError::Invalid(
            "a key needs a name that says who or what uses it".into(),
        ));
    }
    if new.expires_at.is_some_and(|at| at <= now) {
        return Err(StoreError::Invalid(
            "the expiry lies in the past; give a duration (30d) or a future date".into(),
        ));
    }
    if new.rate_per_min == Some(0) {
        return Err(StoreError::Invalid(
            "a rate of 0 requests per minute would refuse every request; give at least 1".into(),
        ));
    }
    Ok(())
}

/// Writes a new key row; the key itself goes no further than its hash and prefix.
fn insert(conn: &Connection, new: NewKey, now: i64) -> Result<IssuedKey, StoreError> {
    let random = |e: super::key::RandomUnavailable| StoreError::Unavailable(e.to_string());
    let key = ApiKey::try_generate().map_err(random)?;
    let id = try_new_key_id().map_err(random)?;
    let allow_ips = new
        .allow_ips
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let meta = serde_json::to_string(&new.meta)
        .map_err(|e| StoreError::Invalid(format!("the key's metadata cannot be stored: {e}")))?;
    let record = KeyRecord {
        id,
        name: new.name,
        prefix: key.display_prefix(),
        scopes: new.scopes,
        created_at: now,
        expires_at: new.expires_at,
        revoked_at: None,
        allow_ips: new.allow_ips,
        rate_per_min: new.rate_per_min,
        require_signature: new.require_signature,
        meta: new.meta,
        last_used_at: None,
        last_used_ip: None,
        rotated_to: None,
    };
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

/// Why an already revoked or rotated key cannot be rotated.
fn rotate_refusal(old: &KeyRecord, now: i64) -> Option<StoreError> {
    let at = old.revoked_at?;
    let id = &old.id;
    let message = match &old.rotated_to {
        Some(new) => format!("key {id} was already rotated to {new}; rotate {new} instead"),
        None if at <= now => {
            format!("key {id} is revoked; create a new key with `ionos-mcp keys create` instead")
        }
        None => format!(
            "key {id} is already revoked from {}; create a new key with `ionos-mcp keys create` instead",
            super::duration::format_utc(at)
        ),
    };
    Some(StoreError::Invalid(message))
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
        error_rate: if requests == 0 {
            0.0
        } else {
            errors as f64 / requests as f64
        },
        rate_limited,
        per_hour,
        per_day,
        per_tool,
        last_used_at,
        last_used_ip,
    })
}

/// The `secrets` row holding the key that seals MRTR request states.
const SEALING_KEY: &str = "confirmation-sealing-key";

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
                params![super::now() - 3600],
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
            conn.query_row(
                "SELECT value FROM secrets WHERE name = ?1",
                params![SEALING_KEY],
                |r| r.get(0),
            )
            .map_err(db)
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
                Some(raw)
                    if <[u8; 32]>::try_from(raw.hash.as_slice())
                        .is_ok_and(|stored| KeyHash(stored).ct_eq(&hash)) =>
                {
                    raw.into_record().map(Some)
                }
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
            if grace_secs < 0 {
                return Err(StoreError::Invalid(
                    "the grace period cannot be negative; give 0 to revoke the old key now".into(),
                ));
            }
            let now = super::now();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            let old = load(&tx, &id)?;
            if let Some(refusal) = rotate_refusal(&old, now) {
                return Err(refusal);
            }
            let expires_at = old.expires_at.map(|at| {
                let lifetime = at.saturating_sub(old.created_at).max(1);
                now.saturating_add(lifetime)
            });
            let issued = insert(
                &tx,
                NewKey {
                    name: old.name.clone(),
                    scopes: old.scopes.clone(),
                    expires_at,
                    allow_ips: old.allow_ips.clone(),
                    rate_per_min: old.rate_per_min,
                    require_signature: old.require_signature,
                    meta: old.meta.clone(),
                },
                now,
            )?;
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
                            event.ip,
                        ])
                        .map_err(db)?;
                    last_use
                        .execute(params![event.key_id, event.at, event.ip])
                        .map_err(db)?;
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
    use super::super::store::{KeyState, Outcome};
    use super::super::test_support::TempDir;
    use super::*;

    fn new_key(name: &str) -> NewKey {
        NewKey::named(name)
    }

    fn event(key_id: &str, tool: Option<&str>, outcome: Outcome, at: i64) -> UsageEvent {
        UsageEvent {
            key_id: key_id.to_string(),
            method: if tool.is_some() {
                "tools/call".into()
            } else {
                "tools/list".into()
            },
            tool: tool.map(str::to_string),
            outcome,
            latency_us: 2000,
            at,
            ip: Some("192.0.2.10".into()),
        }
    }

    #[tokio::test]
    async fn create_find_get_list() {
        let dir = TempDir::new("create");
        let store = SqliteStore::open(&dir.path().join("keys.db")).expect("opens");
        let mut new = new_key("ci");
        new.scopes = Scopes::parse("dns:write,billing:read").expect("scopes");
        new.allow_ips = vec!["10.0.0.0/8".parse().expect("net")];
        new.rate_per_min = Some(30);
        new.require_signature = true;
        new.meta.insert("owner".into(), "ops@example.com".into());
        new.expires_at = Some(super::super::now() + 3600);
        let first = store.create(new).await.expect("created");
        let second = store.create(new_key("laptop")).await.expect("created");

        assert_eq!(first.record.prefix, first.key.display_prefix());
        assert_eq!(first.record.name, "ci");
        assert_eq!(first.record.state(super::super::now()), KeyState::Active);

        let found = store
            .find_by_hash(first.key.hash())
            .await
            .expect("looked up")
            .expect("found");
        assert_eq!(found, first.record);
        assert_eq!(
            store.get(first.record.id.clone()).await,
            Ok(first.record.clone())
        );
        assert_eq!(
            store.find_by_hash(ApiKey::generate().hash()).await,
            Ok(None)
        );

        let listed = store.list().await.expect("listed");
        assert_eq!(listed, vec![first.record.clone(), second.record.clone()]);

        let err = store.get("key_nope".into()).await.expect_err("unknown");
        assert_eq!(
            err,
            StoreError::NotFound {
                id: "key_nope".into()
            }
        );
        assert!(err.to_string().contains("ionos-mcp keys list"));
    }

    #[tokio::test]
    async fn new_keys_are_checked() {
        let dir = TempDir::new("check");
        let store = SqliteStore::open(&dir.path().join("keys.db")).expect("opens");
        let mut blank = new_key(" ");
        assert!(matches!(
            store.create(blank.clone()).await,
            Err(StoreError::Invalid(_))
        ));
        blank.name = "x".into();
        blank.rate_per_min = Some(0);
        assert!(matches!(
            store.create(blank.clone()).await,
            Err(StoreError::Invalid(_))
        ));
        blank.rate_per_min = None;
        blank.expires_at = Some(super::super::now() - 1);
        assert!(matches!(
            store.create(blank).await,
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(store.list().await, Ok(Vec::new()));
    }

    #[tokio::test]
    async fn revoke_keeps_the_earliest_time() {
        let dir = TempDir::new("revoke");
        let store = SqliteStore::open(&dir.path().join("keys.db")).expect("opens");
        let issued = store.create(new_key("ci")).await.expect("created");
        let id = issued.record.id.clone();
        let now = super::super::now();

        let revoked = store.revoke(id.clone(), now).await.expect("revoked");
        assert_eq!(revoked.revoked_at, Some(now));
        assert_eq!(revoked.state(now), KeyState::Revoked);
        let again = store.revoke(id.clone(), now + 100).await.expect("again");
        assert_eq!(again.revoked_at, Some(now));
        let earlier = store.revoke(id.clone(), now - 100).await.expect("earlier");
        assert_eq!(earlier.revoked_at, Some(now - 100));
        assert_eq!(store.count_usable(now).await, Ok(0));

        let err = store
            .revoke("key_nope".into(), now)
            .await
            .expect_err("unknown");
        assert!(matches!(err, StoreError::NotFound { .. }));
        assert!(err.to_string().contains("ionos-mcp keys list"));
    }

    #[tokio::test]
    async fn rotate_keeps_the_old_key_working_for_the_grace_period() {
        let dir = TempDir::new("rotate");
        let store = SqliteStore::open(&dir.path().join("keys.db")).expect("opens");
        let mut new = new_key("ci");
        new.scopes = Scopes::parse("compute:read").expect("scopes");
        new.rate_per_min = Some(10);
        new.allow_ips = vec!["192.0.2.0/24".parse().expect("net")];
        new.require_signature = true;
        new.meta.insert("team".into(), "platform".into());
        let now = super::super::now();
        new.expires_at = Some(now + 86_400);
        let old = store.create(new).await.expect("created");

        let (old_after, fresh) = store
            .rotate(old.record.id.clone(), 3600)
            .await
            .expect("rotated");
        let now = super::super::now();
        assert_eq!(
            old_after.rotated_to.as_deref(),
            Some(fresh.record.id.as_str())
        );
        let grace_end = old_after.revoked_at.expect("revocation set");
        assert!((now + 3599..=now + 3600).contains(&grace_end));
        assert_eq!(old_after.state(now), KeyState::Active);
        assert_eq!(old_after.state(grace_end - 1), KeyState::Active);
        assert_eq!(old_after.state(grace_end), KeyState::Revoked);
        assert_eq!(fresh.record.state(grace_end + 1), KeyState::Active);
        assert_ne!(fresh.key.expose(), old.key.expose());

        assert_eq!(fresh.record.name, "ci");
        assert_eq!(fresh.record.scopes, old.record.scopes);
        assert_eq!(fresh.record.rate_per_min, Some(10));
        assert_eq!(fresh.record.allow_ips, old.record.allow_ips);
        assert!(fresh.record.require_signature);
        assert_eq!(fresh.record.meta, old.record.meta);
        let lifetime = fresh.record.expires_at.expect("expires") - fresh.record.created_at;
        assert_eq!(lifetime, 86_400);

        // Both keys are found by their hashes; the store says which is which.
        let by_old = store
            .find_by_hash(old.key.hash())
            .await
            .expect("ok")
            .expect("found");
        assert_eq!(by_old, old_after);
        let by_new = store
            .find_by_hash(fresh.key.hash())
            .await
            .expect("ok")
            .expect("found");
        assert_eq!(by_new, fresh.record);
        assert_eq!(store.count_usable(now).await, Ok(2));
        assert_eq!(store.count_usable(grace_end).await, Ok(1));

        let again = store
            .rotate(old.record.id.clone(), 60)
            .await
            .expect_err("rotated");
        assert!(matches!(&again, StoreError::Invalid(m) if m.contains(&fresh.record.id)));

        store
            .revoke(fresh.record.id.clone(), now)
            .await
            .expect("revoked");
        let revoked = store
            .rotate(fresh.record.id.clone(), 60)
            .await
            .expect_err("revoked");
        assert!(matches!(revoked, StoreError::Invalid(_)));
        let unknown = store
            .rotate("key_nope".into(), 60)
            .await
            .expect_err("unknown");
        assert!(matches!(unknown, StoreError::NotFound { .. }));
        assert!(unknown.to_string().contains("ionos-mcp keys list"));

        let other = store.create(new_key("other")).await.expect("created");
        let negative = store.rotate(other.record.id.clone(), -1).await;
        assert!(matches!(negative, Err(StoreError::Invalid(_))));
        let (now_revoked, _) = store.rotate(other.record.id, 0).await.expect("rotated");
        assert_eq!(
            now_revoked.state(now_revoked.revoked_at.expect("set")),
            KeyState::Revoked
        );
    }

    #[tokio::test]
    async fn expired_keys_are_not_usable() {
        let dir = TempDir::new("expiry");
        let store = SqliteStore::open(&dir.path().join("keys.db")).expect("opens");
        let now = super::super::now();
        let mut new = new_key("short");
        new.expires_at = Some(now + 10);
        let short = store.create(new).await.expect("created");
        store.create(new_key("long")).await.expect("created");
        assert_eq!(short.record.state(now + 9), KeyState::Active);
        assert_eq!(short.record.state(now + 10), KeyState::Expired);
        assert_eq!(store.count_usable(now).await, Ok(2));
        assert_eq!(store.count_usable(now + 10).await, Ok(1));
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
            .record_usage(vec![event(
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

    #[tokio::test]
    async fn usage_is_aggregated() {
        let dir = TempDir::new("usage");
        let store = SqliteStore::open(&dir.path().join("keys.db")).expect("opens");
        let a = store.create(new_key("a")).await.expect("created").record.id;
        let b = store.create(new_key("b")).await.expect("created").record.id;
        let day = 20_000 * 86_400;
        let mut events = vec![
            event(&a, Some("dns_zones_list"), Outcome::Ok, day + 10),
            event(&a, Some("dns_zones_list"), Outcome::ToolError, day + 20),
            event(
                &a,
                Some("billing_invoices_list"),
                Outcome::Ok,
                day + 3600 + 5,
            ),
            event(&a, None, Outcome::Ok, day + 3600 + 6),
            event(
                &a,
                Some("dns_zones_list"),
                Outcome::RateLimited,
                day + 86_400 + 1,
            ),
            event(
                &a,
                Some("dns_zones_list"),
                Outcome::Refused,
                day + 86_400 + 2,
            ),
            event(&b, Some("compute_servers_list"), Outcome::Ok, day + 30),
        ];
        events[0].latency_us = 1000;
        events[1].latency_us = 3000;
        events[4].ip = Some("198.51.100.7".into());
        events[5].ip = None;
        // Older than `since`: left out of the report, but counts for the last use.
        events.push(event(&a, Some("dns_zones_list"), Outcome::Ok, day - 1));
        store.record_usage(events).await.expect("recorded");

        let report = store.usage(Some(a.clone()), day).await.expect("report");
        assert_eq!(report.key_id.as_deref(), Some(a.as_str()));
        assert_eq!(report.since, day);
        assert_eq!(report.requests, 6);
        assert_eq!(report.errors, 3);
        assert!((report.error_rate - 0.5).abs() < 1e-9);
        assert_eq!(report.rate_limited, 1);
        assert_eq!(
            report.per_hour,
            vec![
                Bucket {
                    start: day,
                    requests: 2,
                    errors: 1
                },
                Bucket {
                    start: day + 3600,
                    requests: 2,
                    errors: 0
                },
                Bucket {
                    start: day + 86_400,
                    requests: 2,
                    errors: 2
                },
            ]
        );
        assert_eq!(
            report.per_day,
            vec![
                Bucket {
                    start: day,
                    requests: 4,
                    errors: 1
                },
                Bucket {
                    start: day + 86_400,
                    requests: 2,
                    errors: 2
                },
            ]
        );
        let tools: Vec<(&str, u64, u64)> = report
            .per_tool
            .iter()
            .map(|t| (t.tool.as_str(), t.calls, t.errors))
            .collect();
        assert_eq!(
            tools,
            vec![
                ("dns_zones_list", 4, 3),
                ("billing_invoices_list", 1, 0),
                ("tools/list", 1, 0),
            ]
        );
        let dns = &report.per_tool[0];
        assert!((dns.avg_latency_ms - (1.0 + 3.0 + 2.0 + 2.0) / 4.0).abs() < 1e-9);
        // The refused request had no address: the last known one stays.
        assert_eq!(report.last_used_at, Some(day + 86_400 + 2));
        assert_eq!(report.last_used_ip.as_deref(), Some("198.51.100.7"));
        let json = serde_json::to_value(&report).expect("serialises");
        assert_eq!(json["requests"], 6);

        let all = store.usage(None, 0).await.expect("report");
        assert_eq!(all.key_id, None);
        assert_eq!(all.requests, 8);
        assert_eq!(all.per_tool[0].tool, "dns_zones_list");
        assert_eq!(all.last_used_at, Some(day + 86_400 + 2));

        let record = store.get(b.clone()).await.expect("found");
        assert_eq!(record.last_used_at, Some(day + 30));
        assert_eq!(record.last_used_ip.as_deref(), Some("192.0.2.10"));

        let empty = store.usage(Some(b), day + 86_400).await.expect("report");
        assert_eq!(empty.requests, 0);
        assert_eq!(empty.error_rate, 0.0);
        assert!(empty.per_hour.is_empty() && empty.per_tool.is_empty());

        let unknown = store.usage(Some("key_nope".into()), 0).await;
        assert!(matches!(unknown, Err(StoreError::NotFound { .. })));
    }

    #[tokio::test]
    async fn two_stores_on_one_file_see_each_other() {
        let dir = TempDir::new("shared");
        let path = dir.path().join("keys.db");
        let server = SqliteStore::open(&path).expect("opens");
        let cli = SqliteStore::open(&path).expect("opens again");

        let issued = cli.create(new_key("ci")).await.expect("created");
        let seen = server.find_by_hash(issued.key.hash()).await.expect("ok");
        assert_eq!(seen, Some(issued.record.clone()));

        server
            .record_usage(vec![event(&issued.record.id, None, Outcome::Ok, 5)])
            .await
            .expect("recorded");
        let now = super::super::now();
        cli.revoke(issued.record.id.clone(), now)
            .await
            .expect("revoked");

        let record = server.get(issued.record.id.clone()).await.expect("found");
        assert_eq!(record.state(now), KeyState::Revoked);
        assert_eq!(cli.usage(None, 0).await.expect("report").requests, 1);
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
