//! Where the keys live, chosen from `--db` / `IONOS_MCP_DB`: a `postgres://` (or
//! `postgresql://`) URL selects PostgreSQL, shared by every replica; anything else is the path
//! of a SQLite file for one host. [`open`] is the one place that decides, for `serve` and
//! `keys` alike.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use super::confirmations::Confirmations;
use super::limits::{Limits, MemoryLimits};
use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::store::{KeyStore, StoreError};

/// The key database named on the command line or in the environment.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(PgUrl),
}

/// A PostgreSQL URL and the form of it that may be shown: the password left out.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl {
    url: String,
    shown: String,
}

impl PgUrl {
    /// The URL with its password, for connecting only: never print or log it.
    pub fn expose(&self) -> &str {
        &self.url
    }

    /// The URL with any password replaced by `***`, for messages and logs.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Location::Postgres(url) => f.debug_tuple("Postgres").field(url).finish(),
        }
    }
}

/// A PostgreSQL `url` naming the database `name` instead of its own (query kept): for a
/// server's other databases, as tests and benchmarks make their own.
pub fn with_database(url: &str, name: &str) -> String {
    let (main, query) = match url.find('?') {
        Some(q) => url.split_at(q),
        None => (url, ""),
    };
    let authority_start = main.find("://").map_or(0, |i| i + 3);
    let base = match main[authority_start..].find('/') {
        Some(slash) => &main[..authority_start + slash],
        None => main,
    };
    format!("{base}/{name}{query}")
}

/// The URL schemes that select PostgreSQL.
const PG_SCHEMES: [&str; 2] = ["postgres://", "postgresql://"];

impl Location {
    /// Reads `--db` / `IONOS_MCP_DB`: a PostgreSQL URL, or a SQLite path.
    pub fn parse(text: impl Into<OsString>) -> Location {
        let text = text.into();
        match text.to_str() {
            Some(s) if PG_SCHEMES.iter().any(|p| starts_with_ignore_case(s, p)) => {
                Location::Postgres(PgUrl {
                    shown: redact(s),
                    url: s.to_string(),
                })
            }
            _ => Location::Sqlite(PathBuf::from(text)),
        }
    }

    /// The SQLite file in the user's data directory.
    pub fn default_sqlite() -> Location {
        Location::Sqlite(super::sqlite::default_path())
    }

    /// How messages name it: the path, or the URL without its password.
    pub fn shown(&self) -> String {
        match self {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Postgres(url) => url.shown().to_string(),
        }
    }

    /// The text to give `--db` in a suggested command: the path, or the URL without its
    /// password (the reader adds it back, or sets PGPASSWORD).
    pub fn for_command(&self) -> String {
        let text = self.shown();
        if text.contains([' ', '&', '?', '*']) {
            format!("'{text}'")
        } else {
            text
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Location::Postgres(_))
    }
}

impl From<OsString> for Location {
    fn from(text: OsString) -> Location {
        Location::parse(text)
    }
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// `url` with the password of its user part and any `password=` parameter replaced by `***`.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let (scheme, rest) = url.split_at(scheme_end);
    let (before_query, query) = match rest.find('?') {
        Some(q) => (&rest[..q], Some(&rest[q + 1..])),
        None => (rest, None),
    };
    // The user part ends at the last `@` before the path (a password may hold `/` or `@`
    // when not percent-encoded, so the last `@` of the part before the query counts).
    let mut out = String::from(scheme);
    match before_query.rfind('@') {
        Some(at) => {
            let (userinfo, host_and_path) = before_query.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(host_and_path);
        }
        None => out.push_str(before_query),
    }
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                    format!("{name}=***")
                }
                _ => param.to_string(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

/// An opened key database: the keys, and the limits every replica on it shares.
#[derive(Clone)]
pub struct Backend {
    pub store: Arc<dyn KeyStore>,
    /// Per-key call windows and used signatures: in the database for PostgreSQL (shared by
    /// the replicas), in memory for SQLite (one host).
    pub limits: Arc<dyn Limits>,
    /// Where confirmations of destructive calls are kept: the key store, so every server on
    /// the SQLite file, or every replica on the PostgreSQL database, honours them; `None`
    /// keeps them in each process's memory.
    pub confirmations: Option<Arc<dyn Confirmations>>,
    pub location: Location,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("location", &self.location)
            .finish()
    }
}

/// Opens the key database at `location`, bringing its schema up to date. A PostgreSQL
/// database that cannot be reached is an error naming the URL without its password.
pub async fn open(location: &Location) -> Result<Backend, StoreError> {
    match location {
        Location::Sqlite(path) => {
            let path = path.clone();
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
                .await
                .map_err(|e| StoreError::Unavailable(format!("opening the key store: {e}")))??;
            let store = Arc::new(store);
            Ok(Backend {
                confirmations: Some(store.clone()),
                store,
                limits: Arc::new(MemoryLimits::default()),
                location: location.clone(),
            })
        }
        Location::Postgres(url) => {
            let store = PgStore::connect(url).await?;
            Ok(Backend {
                limits: Arc::new(store.clone()),
                confirmations: Some(Arc::new(store.clone())),
                store: Arc::new(store),
                location: location.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_postgres_and_anything_else_sqlite() {
        for url in [
            "postgres://u@h/db",
            "postgresql://h/db",
            "POSTGRES://h/db",
            "postgres:///db?host=/run/postgresql",
        ] {
            assert!(Location::parse(url).is_postgres(), "{url}");
        }
        for path in [
            "/var/lib/ionos-mcp/keys.db",
            "keys.db",
            "postgres.db",
            "./postgres://x",
        ] {
            assert_eq!(
                Location::parse(path),
                Location::Sqlite(PathBuf::from(path)),
                "{path}"
            );
        }
        assert!(!Location::default_sqlite().is_postgres());
    }

    #[test]
    fn passwords_are_never_shown() {
        let cases = [
            (
                "postgres://ionos:s3cret@db.internal:5432/keys",
                "postgres://ionos:***@db.internal:5432/keys",
            ),
            (
                "postgres://ionos:p%40ss@db/keys?sslmode=disable",
                "postgres://ionos:***@db/keys?sslmode=disable",
            ),
            (
                "postgresql://ionos:we@ird/pw@db/keys",
                "postgresql://ionos:***@db/keys",
            ),
            (
                "postgres://db/keys?user=ionos&password=s3cret&application_name=x",
                "postgres://db/keys?user=ionos&password=***&application_name=x",
            ),
            ("postgres://ionos@db/keys", "postgres://ionos@db/keys"),
            ("postgres:///keys", "postgres:///keys"),
        ];
        for (url, shown) in cases {
            let location = Location::parse(url);
            assert_eq!(location.shown(), shown, "{url}");
            let debug = format!("{location:?}");
            for secret in ["s3cret", "p%40ss", "we@ird/pw"] {
                assert!(!debug.contains(secret), "{debug}");
                assert!(!location.shown().contains(secret));
                assert!(!location.for_command().contains(secret));
            }
        }
        let Location::Postgres(url) = Location::parse(cases[0].0) else {
            panic!("postgres");
        };
        assert_eq!(url.expose(), cases[0].0);
        assert_eq!(
            Location::parse("postgres://u:x@h/db?sslmode=disable").for_command(),
            "'postgres://u:***@h/db?sslmode=disable'"
        );
    }
}
