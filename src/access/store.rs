//! The key store interface: key records, what creating and rotating hand back, usage
//! events and reports. `SqliteStore` keeps them in a file for one host; `PgStore` in a
//! PostgreSQL database that several replicas share.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use super::BoxFuture;
use super::key::{ApiKey, KEY_PREFIX, KeyHash, try_new_key_id};
use super::scopes::Scopes;

/// What the store knows about a key (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    /// The key's first characters (`mcp_sk_AbCdE`), to recognise it in a list.
    pub prefix: String,
    pub scopes: Scopes,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    /// May lie in the future: a rotated key keeps working until then.
    pub revoked_at: Option<i64>,
    /// Client addresses the key may be used from; empty = any address.
    #[serde(serialize_with = "serialize_nets")]
    pub allow_ips: Vec<ipnet::IpNet>,
    /// Requests per minute; `None` = the server's `--default-rate`.
    pub rate_per_min: Option<u32>,
    /// Whether requests must carry `X-MCP-Timestamp` and `X-MCP-Signature`.
    pub require_signature: bool,
    /// Free-form labels (owner, team, ticket).
    pub meta: BTreeMap<String, String>,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    /// The id of the key that replaced this one.
    pub rotated_to: Option<String>,
}

fn serialize_nets<S: serde::Serializer>(
    nets: &[ipnet::IpNet],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(nets.iter().map(ToString::to_string))
}

/// Whether a key can be used at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Active,
    Expired,
    Revoked,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Expired => "expired",
            KeyState::Revoked => "revoked",
        }
    }
}

impl KeyRecord {
    /// Revoked once `revoked_at` has passed, expired once `expires_at` has (revocation
    /// wins when both have), active otherwise.
    pub fn state(&self, now: i64) -> KeyState {
        if self.revoked_at.is_some_and(|at| at <= now) {
            KeyState::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            KeyState::Expired
        } else {
            KeyState::Active
        }
    }

    /// Whether the key may be used from `ip`. An IPv4 address written as IPv6
    /// (`::ffff:10.1.2.3`, as a dual-stack listener reports it) counts as the IPv4 address.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        if self.allow_ips.is_empty() {
            return true;
        }
        let canonical = ip.to_canonical();
        self.allow_ips
            .iter()
            .any(|net| net.contains(&canonical) || net.contains(&ip))
    }
}

/// What a new key should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub name: String,
    pub scopes: Scopes,
    pub expires_at: Option<i64>,
    pub allow_ips: Vec<ipnet::IpNet>,
    pub rate_per_min: Option<u32>,
    pub require_signature: bool,
    pub meta: BTreeMap<String, String>,
}

impl NewKey {
    /// A key with every scope, no expiry and no limits beyond the server's defaults.
    pub fn named(name: impl Into<String>) -> NewKey {
        NewKey {
            name: name.into(),
            scopes: Scopes::all(),
            expires_at: None,
            allow_ips: Vec::new(),
            rate_per_min: None,
            require_signature: false,
            meta: BTreeMap::new(),
        }
    }
}

/// What `create`/`rotate` hand back: the record and the key, shown once.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub record: KeyRecord,
    pub key: ApiKey,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// The tool ran and reported an error (the API refused, a resource was missing).
    ToolError,
    /// A protocol error or a scope refusal.
    Refused,
    RateLimited,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ToolError => "tool_error",
            Outcome::Refused => "refused",
            Outcome::RateLimited => "rate_limited",
        }
    }

    /// The outcome `as_str` names.
    pub fn parse(text: &str) -> Option<Outcome> {
        [
            Outcome::Ok,
            Outcome::ToolError,
            Outcome::Refused,
            Outcome::RateLimited,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
    }
}

/// One request made with a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEvent {
    /// Shared, so that the writer's copy of a batch copies no text.
    pub key_id: Arc<str>,
    /// `tools/call`, `tools/list`, `resources/read`, …: borrowed for the methods and tools
    /// the server knows, so that recording a call copies no text.
    pub method: Cow<'static, str>,
    /// The tool name or resource URI, where the method has one.
    pub tool: Option<Cow<'static, str>>,
    pub outcome: Outcome,
    pub latency_us: u64,
    pub at: i64,
    pub ip: Option<IpAddr>,
}

/// Per key of `events`: the time of its latest event and the client address of the latest
/// event that had one, which is what a key's `last_used_at` and `last_used_ip` become once
/// the events are applied in order.
pub fn last_uses(events: &[UsageEvent]) -> BTreeMap<&str, (i64, Option<IpAddr>)> {
    let mut last: BTreeMap<&str, (i64, Option<IpAddr>)> = BTreeMap::new();
    for e in events {
        let entry = last.entry(&*e.key_id).or_insert((e.at, None));
        if e.at >= entry.0 {
            entry.0 = e.at;
            entry.1 = e.ip.or(entry.1);
        }
    }
    last
}

/// The share of `requests` that were errors (0 when there were none).
pub fn error_rate(errors: u64, requests: u64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        errors as f64 / requests as f64
    }
}

/// Usage of one key, or of all keys, since a time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageReport {
    pub key_id: Option<String>,
    pub since: i64,
    pub requests: u64,
    /// Requests whose outcome was not `ok` (tool errors, refusals, rate limiting).
    pub errors: u64,
    /// `errors / requests`; 0 without requests.
    pub error_rate: f64,
    pub rate_limited: u64,
    /// Hours with requests, oldest first.
    pub per_hour: Vec<Bucket>,
    /// Days (UTC) with requests, oldest first.
    pub per_day: Vec<Bucket>,
    /// By tool (or, for requests without one, by method), most calls first.
    pub per_tool: Vec<ToolUsage>,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
}

/// Requests in an hour or a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Start of the hour or day, Unix seconds.
    pub start: i64,
    pub requests: u64,
    pub errors: u64,
}

/// Calls of one tool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolUsage {
    pub tool: String,
    pub calls: u64,
    pub errors: u64,
    pub avg_latency_ms: f64,
}

/// Why the store could not do something. The messages say what to do and never contain
/// key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("no API key has the id {id}; run `ionos-mcp keys list` to see the ids")]
    NotFound { id: String },
    #[error("{0}")]
    Invalid(String),
    #[error("the key store is unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// `NotFound` for `id`; an id that is a key itself (pasted by mistake) is reduced to
    /// its display prefix, so the key does not end up in a message or a log.
    pub fn not_found(id: &str) -> StoreError {
        let id = if id.trim_start().starts_with(KEY_PREFIX) {
            let prefix: String = id.trim_start().chars().take(12).collect();
            format!("{prefix}… (that is a key, not a key id)")
        } else {
            id.to_string()
        };
        StoreError::NotFound { id }
    }
}

/// A key row as a store reads it, before its text columns are parsed. Every store keeps
/// the same columns, so they share this and the checks below.
pub(crate) struct StoredKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub allow_ips: String,
    pub rate_per_min: Option<i64>,
    pub require_signature: bool,
    pub meta: String,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    pub rotated_to: Option<String>,
    pub hash: Vec<u8>,
}

impl StoredKey {
    /// Whether the stored hash is `hash` (compared in constant time).
    pub fn has_hash(&self, hash: &KeyHash) -> bool {
        <[u8; 32]>::try_from(self.hash.as_slice()).is_ok_and(|stored| KeyHash(stored).ct_eq(hash))
    }

    pub fn into_record(self) -> Result<KeyRecord, StoreError> {
        let id = self.id;
        let bad = |column: &str, e: &dyn std::fmt::Display| {
            StoreError::Unavailable(format!(
                "key {id} has an unreadable {column} column ({e}); the database was changed \
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

/// Refuses a key that could not be used as asked.
pub(crate) fn check_new(new: &NewKey, now: i64) -> Result<(), StoreError> {
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

/// What a store writes for a new key: the record, the key (handed back once, never
/// written), and the text columns.
pub(crate) struct NewRow {
    pub record: KeyRecord,
    pub key: ApiKey,
    pub allow_ips: String,
    pub meta: String,
}

/// A fresh key and id for `new`, created at `now`.
pub(crate) fn new_row(new: NewKey, now: i64) -> Result<NewRow, StoreError> {
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
    Ok(NewRow {
        record,
        key,
        allow_ips,
        meta,
    })
}

/// A rotation's grace period must not be negative.
pub(crate) fn check_grace(grace_secs: i64) -> Result<(), StoreError> {
    if grace_secs < 0 {
        return Err(StoreError::Invalid(
            "the grace period cannot be negative; give 0 to revoke the old key now".into(),
        ));
    }
    Ok(())
}

/// The settings of the key that replaces `old` at `now`: the same name, scopes, limits and
/// metadata; a key that expires keeps its lifetime.
pub(crate) fn replacement(old: &KeyRecord, now: i64) -> NewKey {
    let expires_at = old.expires_at.map(|at| {
        let lifetime = at.saturating_sub(old.created_at).max(1);
        now.saturating_add(lifetime)
    });
    NewKey {
        name: old.name.clone(),
        scopes: old.scopes.clone(),
        expires_at,
        allow_ips: old.allow_ips.clone(),
        rate_per_min: old.rate_per_min,
        require_signature: old.require_signature,
        meta: old.meta.clone(),
    }
}

/// Why an already revoked or rotated key cannot be rotated.
pub(crate) fn rotate_refusal(old: &KeyRecord, now: i64) -> Option<StoreError> {
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

/// Where keys and their usage are kept.
pub trait KeyStore: Send + Sync + 'static {
    /// A new key; the key text is in the answer only.
    fn create(&self, new: NewKey) -> BoxFuture<'_, Result<IssuedKey, StoreError>>;
    /// The key with this hash, in whatever state.
    fn find_by_hash(&self, hash: KeyHash) -> BoxFuture<'_, Result<Option<KeyRecord>, StoreError>>;
    /// The key with this id, or `NotFound`.
    fn get(&self, id: String) -> BoxFuture<'_, Result<KeyRecord, StoreError>>;
    /// Every key, oldest first.
    fn list(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, StoreError>>;
    /// Sets `revoked_at` to `at`, or keeps an earlier time already set.
    fn revoke(&self, id: String, at: i64) -> BoxFuture<'_, Result<KeyRecord, StoreError>>;
    /// A new key with the old one's name, scopes, limits and metadata; the old one is
    /// revoked at `now + grace_secs`. One transaction. A key that expires keeps its
    /// lifetime: the new one expires as long after now as the old one did after its
    /// creation. A revoked key, or one already rotated, is `Invalid`.
    fn rotate(
        &self,
        id: String,
        grace_secs: i64,
    ) -> BoxFuture<'_, Result<(KeyRecord, IssuedKey), StoreError>>;
    /// How many keys are active at `now`.
    fn count_usable(&self, now: i64) -> BoxFuture<'_, Result<usize, StoreError>>;
    /// Appends events and updates each key's last use (time, ip). One transaction per batch.
    fn record_usage(&self, events: Vec<UsageEvent>) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Usage since `since` of one key (`NotFound` if there is no such key) or of all.
    fn usage(
        &self,
        key_id: Option<String>,
        since: i64,
    ) -> BoxFuture<'_, Result<UsageReport, StoreError>>;
    /// Deletes up to `at_most` of the usage events from before `before` (seconds since the
    /// epoch), oldest first; returns how many. A long backlog goes in several short
    /// statements, so requests are not held up behind one. Keys keep their last use.
    fn forget_usage_before(
        &self,
        before: i64,
        at_most: u32,
    ) -> BoxFuture<'_, Result<u64, StoreError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> KeyRecord {
        super::super::test_support::key_record("key_000000000000")
    }

    #[test]
    fn state_follows_expiry_and_revocation() {
        let mut r = record();
        assert_eq!(r.state(5000), KeyState::Active);
        r.expires_at = Some(2000);
        assert_eq!(r.state(1999), KeyState::Active);
        assert_eq!(r.state(2000), KeyState::Expired);
        r.revoked_at = Some(3000);
        assert_eq!(r.state(2500), KeyState::Expired);
        assert_eq!(r.state(3000), KeyState::Revoked);
        r.expires_at = None;
        assert_eq!(r.state(2999), KeyState::Active);
        assert_eq!(r.state(3001).as_str(), "revoked");
        assert_eq!(KeyState::Expired.as_str(), "expired");
        assert_eq!(KeyState::Active.as_str(), "active");
    }

    #[test]
    fn allowed_addresses() {
        let mut r = record();
        let ip = |s: &str| s.parse::<IpAddr>().expect("address");
        assert!(r.allows_ip(ip("203.0.113.9")));
        r.allow_ips = vec![
            "10.1.0.0/16".parse().expect("net"),
            "2001:db8::/32".parse().expect("net"),
        ];
        assert!(r.allows_ip(ip("10.1.2.3")));
        assert!(r.allows_ip(ip("::ffff:10.1.2.3")));
        assert!(r.allows_ip(ip("2001:db8::1")));
        assert!(!r.allows_ip(ip("10.2.0.1")));
        assert!(!r.allows_ip(ip("::ffff:10.2.0.1")));
        assert!(!r.allows_ip(ip("2001:db9::1")));
        r.allow_ips = vec!["::ffff:192.0.2.0/120".parse().expect("net")];
        assert!(r.allows_ip(ip("::ffff:192.0.2.7")));
    }

    #[test]
    fn outcome_names_round_trip() {
        for o in [
            Outcome::Ok,
            Outcome::ToolError,
            Outcome::Refused,
            Outcome::RateLimited,
        ] {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
            assert_eq!(
                serde_json::to_string(&o).expect("serialises"),
                format!("\"{}\"", o.as_str())
            );
        }
        assert_eq!(Outcome::parse("OK"), None);
    }

    #[test]
    fn not_found_points_to_the_list_and_never_shows_a_key() {
        let err = StoreError::not_found("key_nope");
        assert_eq!(
            err.to_string(),
            "no API key has the id key_nope; run `ionos-mcp keys list` to see the ids"
        );
        let key = ApiKey::generate();
        let err = StoreError::not_found(key.expose());
        assert!(!err.to_string().contains(&key.expose()[12..]));
        assert!(!format!("{err:?}").contains(&key.expose()[12..]));
        assert!(err.to_string().contains("ionos-mcp keys list"));
    }

    #[test]
    fn records_serialise_for_json_output() {
        let mut r = record();
        r.allow_ips = vec!["10.0.0.0/8".parse().expect("net")];
        let json = serde_json::to_value(&r).expect("serialises");
        assert_eq!(json["allow_ips"], serde_json::json!(["10.0.0.0/8"]));
        assert_eq!(json["scopes"], "*");
    }
}
