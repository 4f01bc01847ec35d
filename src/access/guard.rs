//! The HTTP middleware in front of `/mcp`: who is calling (the API key, its state, the
//! client's address), whether the request is signed when it must be, what the key may call,
//! and how often. A request that passes carries a [`Principal`] to the MCP handler; every
//! authenticated request leaves a usage record, written off the hot path.
//!
//! Refusals follow MCP's authorization semantics and carry a JSON body
//! `{"error": {"code", "message", "type"}}` naming what was wrong and what to do.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use ipnet::IpNet;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::json;

use super::key::{self, ApiKey};
use super::key_cache::KeyCache;
use super::limits::{Limits, MemoryLimits};
use super::rate::{AuthFailures, RateDecision, RateLimiter};
use super::scopes::{ADMIN, Level, Scopes};
use super::signature;
use super::store::{KeyRecord, KeyState, KeyStore, Outcome, StoreError, UsageEvent};
use super::usage::UsageRecorder;
use crate::metrics::{METRICS, Refusal};
use crate::tools::table;

/// Requests a key may make per minute besides tool calls and resource reads (initialize,
/// lists, ping, notifications): generous, but a ceiling.
pub const HOUSEKEEPING_PER_MINUTE: u32 = 600;

/// What the guard is configured with.
#[derive(Debug, Clone)]
pub struct GuardOptions {
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trust_proxy: Vec<IpNet>,
    /// Tool calls per minute for keys created without a rate; `None`: unlimited.
    pub default_rate: Option<u32>,
    pub max_body_bytes: usize,
    /// A session binding is forgotten after this long without a request.
    pub session_idle: Duration,
    /// Usage events older than this are deleted; `None` keeps them all.
    pub usage_retention: Option<Duration>,
}

/// The access guard: one per server, shared by every request.
pub struct Guard {
    options: GuardOptions,
    /// Looked-up keys: a revocation made elsewhere is refused within
    /// [`super::key_cache::USABLE_FOR`].
    keys: KeyCache,
    /// Tool calls per key and minute, and used signatures: shared by replicas on PostgreSQL.
    limits: Arc<dyn Limits>,
    /// Housekeeping requests per key and minute, in this process: a ceiling against runaway
    /// clients, not a quota, so each replica keeps its own.
    housekeeping: RateLimiter,
    /// Failed authentications per address, in this process.
    failures: AuthFailures,
    usage: UsageRecorder,
    /// Legacy (2025-11-25) sessions and the key that opened each.
    sessions: Mutex<HashMap<String, (String, Instant)>>,
}

/// Who is calling: handed to the MCP handler with each authenticated request.
#[derive(Debug, Clone)]
pub struct Principal {
    key: Arc<KeyRecord>,
    tool_failed: Arc<AtomicBool>,
}

impl Principal {
    pub fn key_id(&self) -> &str {
        &self.key.id
    }

    pub fn name(&self) -> &str {
        &self.key.name
    }

    pub fn scopes(&self) -> &Scopes {
        &self.key.scopes
    }

    /// Marks the request's tool call as failed, for the usage record.
    pub fn note_tool_error(&self) {
        self.tool_failed.store(true, Ordering::Relaxed);
    }
}

impl Guard {
    /// A guard whose call windows and used signatures are kept in this process (one host).
    pub fn new(store: Arc<dyn KeyStore>, options: GuardOptions) -> Guard {
        Guard::with_limits(store, Arc::new(MemoryLimits::default()), options)
    }

    /// A guard that counts calls and remembers signatures in `limits`, which replicas on one
    /// database share (see [`crate::access::backend::open`]).
    pub fn with_limits(
        store: Arc<dyn KeyStore>,
        limits: Arc<dyn Limits>,
        options: GuardOptions,
    ) -> Guard {
        Guard {
            limits,
            usage: UsageRecorder::spawn(store.clone(), options.usage_retention),
            keys: KeyCache::new(store),
            options,
            housekeeping: RateLimiter::default(),
            failures: AuthFailures::default(),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Writes the usage records still pending (graceful shutdown: nothing is lost).
    pub async fn shutdown(&self) {
        self.usage.shutdown().await;
    }

    fn session_owner(&self, session: &str) -> Option<String> {
        let mut sessions = lock(&self.sessions);
        let idle = self.options.session_idle;
        let owner = sessions.get_mut(session).and_then(|(key, seen)| {
            (seen.elapsed() < idle).then(|| {
                *seen = Instant::now();
                key.clone()
            })
        });
        if owner.is_none() {
            sessions.remove(session);
        }
        owner
    }

    fn bind_session(&self, session: &str, key_id: &str) {
        let mut sessions = lock(&self.sessions);
        let idle = self.options.session_idle;
        sessions.retain(|_, (_, seen)| seen.elapsed() < idle);
        sessions.insert(session.to_string(), (key_id.to_string(), Instant::now()));
    }

    fn end_session(&self, session: &str) {
        lock(&self.sessions).remove(session);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A refusal with its JSON body.
fn refusal(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let kind = match status {
        StatusCode::UNAUTHORIZED => "authentication_error",
        StatusCode::FORBIDDEN => "permission_error",
        StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        _ => "invalid_request_error",
    };
    let body = json!({ "error": { "code": code, "message": message.into(), "type": kind } });
    (status, axum::Json(body)).into_response()
}

fn with_header(mut response: Response, name: HeaderName, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
    response
}

/// 401 `invalid_api_key`, with the challenge MCP clients expect.
fn invalid_key(message: impl Into<String>) -> Response {
    with_header(
        refusal(StatusCode::UNAUTHORIZED, "invalid_api_key", message),
        header::WWW_AUTHENTICATE,
        "Bearer error=\"invalid_token\"",
    )
}

fn rate_headers(mut response: Response, d: &RateDecision) -> Response {
    let h = response.headers_mut();
    h.insert(
        HeaderName::from_static("ratelimit-limit"),
        HeaderValue::from(d.limit),
    );
    h.insert(
        HeaderName::from_static("ratelimit-remaining"),
        HeaderValue::from(d.remaining),
    );
    h.insert(
        HeaderName::from_static("ratelimit-reset"),
        HeaderValue::from(d.reset_secs),
    );
    response
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the last address in
/// `X-Forwarded-For` that is not itself a trusted proxy.
fn client_ip(req: &Request, trust_proxy: &[IpNet]) -> Option<IpAddr> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())?;
    let trusted = |ip: &IpAddr| trust_proxy.iter().any(|n| n.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !trusted(ip))
            .unwrap_or(peer),
    )
}

/// One JSON-RPC message as the guard reads it: its method and the name or URI its params
/// carry. Every other member is skipped unread.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    method: Text<'a>,
    #[serde(borrow, default)]
    params: Option<Params<'a>>,
    #[serde(default)]
    result: Option<IgnoredAny>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

#[derive(Deserialize, Default)]
struct Params<'a> {
    #[serde(borrow, default)]
    name: Text<'a>,
    #[serde(borrow, default)]
    uri: Text<'a>,
}

/// A member that is read when it is a string and skipped otherwise, so that no value a
/// client sends makes the message unreadable here while the MCP layer reads it.
#[derive(Default)]
struct Text<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// One JSON-RPC message as the guard acts on it. The names are the server's own (`'static`)
/// whenever it knows them, so that a request's usage record copies no text.
#[derive(Debug)]
struct Asked {
    method: Cow<'static, str>,
    /// The tool a `tools/call` names, or the resource a `resources/read` reads.
    target: Option<Cow<'static, str>>,
    /// The product whose scope that needs, and at which level; `None` for names the server
    /// does not know (the MCP layer answers those).
    needs: Option<(&'static str, Level)>,
}

/// The methods of MCP the guard names without copying.
const METHODS: [&str; 17] = [
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
];

/// What a message's method and target ask of the server: see [`Asked`].
fn asked(method: Cow<'_, str>, target: Option<Cow<'_, str>>) -> Asked {
    let target = target.filter(|_| matches!(&*method, "tools/call" | "resources/read"));
    let known = target.as_deref().and_then(|t| match &*method {
        "tools/call" => match table::tool(t) {
            Some(tool) => Some((tool.name, tool.product().family, Level::from(tool.access))),
            None => {
                let doc = table::document(t)?;
                Some((doc.name, table::product(doc.product)?.family, Level::Read))
            }
        },
        _ => {
            let doc = table::DOCUMENTS.iter().find(|d| d.uri == t)?;
            Some((doc.uri, table::product(doc.product)?.family, Level::Read))
        }
    });
    let method = match METHODS.iter().find(|m| **m == method) {
        Some(m) => Cow::Borrowed(*m),
        None => Cow::Owned(method.into_owned()),
    };
    match known {
        Some((name, family, level)) => Asked {
            method,
            target: Some(Cow::Borrowed(name)),
            needs: Some((family, level)),
        },
        None => Asked {
            method,
            target: target.map(|t| Cow::Owned(t.into_owned())),
            needs: None,
        },
    }
}

/// The JSON-RPC messages of a POST body; `None` when the body is not a JSON-RPC message or
/// batch (not JSON, not objects, or a member twice), which the guard refuses rather than
/// guess at what the MCP layer would read.
fn messages(body: &[u8]) -> Option<Vec<Asked>> {
    let one = |m: Message<'_>| {
        let method = match m.method.0 {
            Some(method) => method,
            None if m.result.is_some() || m.error.is_some() => Cow::Borrowed("response"),
            None => Cow::Borrowed("unknown"),
        };
        let params = m.params.unwrap_or_default();
        let target = match &*method {
            "resources/read" => params.uri.0,
            _ => params.name.0,
        };
        asked(method, target)
    };
    let batch = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    if batch {
        let items: Vec<Message<'_>> = serde_json::from_slice(body).ok()?;
        Some(items.into_iter().map(one).collect())
    } else {
        serde_json::from_slice::<Message<'_>>(body)
            .ok()
            .map(|m| vec![one(m)])
    }
}

/// Counted against a key's rate: the requests that reach IONOS or read data.
fn is_counted(method: &str) -> bool {
    matches!(method, "tools/call" | "resources/read")
}

/// Records the request's usage when its answer has been sent (or the client left).
struct UsageTicket {
    usage: UsageRecorder,
    event: Option<UsageEvent>,
    started: Instant,
    tool_failed: Arc<AtomicBool>,
    refused: bool,
}

impl Drop for UsageTicket {
    fn drop(&mut self) {
        if let Some(mut event) = self.event.take() {
            event.latency_us = self.started.elapsed().as_micros() as u64;
            if matches!(event.outcome, Outcome::Ok) {
                if self.refused {
                    event.outcome = Outcome::Refused;
                } else if self.tool_failed.load(Ordering::Relaxed) {
                    event.outcome = Outcome::ToolError;
                }
            }
            self.usage.record(event);
        }
    }
}

/// A caller whose key is valid, active and allowed from its address.
struct Caller {
    key: ApiKey,
    record: Arc<KeyRecord>,
    now: i64,
}

/// Who is calling: the key in `Authorization`, found, active, and allowed from `ip`; or the
/// refusal. Addresses that keep sending bad keys are slowed down.
async fn authenticate(
    guard: &Guard,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
) -> Result<Caller, Response> {
    if let Some(ip) = ip
        && let Some(wait) = guard.failures.blocked(ip, SystemTime::now())
    {
        METRICS.refused(Refusal::FailedAuth);
        return Err(with_header(
            refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_failed_attempts",
                format!(
                    "too many requests with an invalid API key from {ip}; wait {wait} s and send a valid key"
                ),
            ),
            header::RETRY_AFTER,
            &wait.to_string(),
        ));
    }
    let fail = |message: String| {
        if let Some(ip) = ip {
            guard.failures.note_failure(ip, SystemTime::now());
        }
        invalid_key(message)
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let Some(presented) = presented else {
        return Err(fail("no API key: send `Authorization: Bearer mcp_sk_…` with a key from your ionos-mcp administrator (`ionos-mcp keys create`)".into()));
    };
    let token = match presented.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => {
            return Err(fail(
                "the Authorization header must be `Bearer mcp_sk_…` (an ionos-mcp API key)".into(),
            ));
        }
    };
    let key = match key::parse(token) {
        Ok(k) => k,
        Err(e) if token.starts_with("eyJ") => {
            return Err(fail(format!(
                "{e}. This looks like an IONOS token: this server holds the IONOS credentials itself and accepts only ionos-mcp API keys"
            )));
        }
        Err(e) => return Err(fail(e.to_string())),
    };
    let now = super::now();
    let record = match guard.keys.lookup(&key.hash()).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Err(fail("unknown API key: it was never issued by this server, or its database was replaced; ask your administrator for a key".into()));
        }
        Err(e) => return Err(store_unavailable(&e)),
    };
    match record.state(now) {
        KeyState::Active => {}
        KeyState::Expired => {
            return Err(fail(format!(
                "API key {} ({}) expired at {}; ask your administrator for a new key",
                record.id,
                record.name,
                super::duration::format_utc(record.expires_at.unwrap_or(now))
            )));
        }
        KeyState::Revoked => {
            return Err(fail(format!(
                "API key {} ({}) was revoked at {}{}; ask your administrator for a new key",
                record.id,
                record.name,
                super::duration::format_utc(record.revoked_at.unwrap_or(now)),
                if record.rotated_to.is_some() {
                    " (it was rotated: use its replacement)"
                } else {
                    ""
                }
            )));
        }
    }
    if let Some(ip) = ip
        && !record.allows_ip(ip)
    {
        return Err(refusal(
            StatusCode::FORBIDDEN,
            "ip_not_allowed",
            format!(
                "API key {} may not be used from {ip}; its allow-list is {}. Ask your administrator to add this address",
                record.id,
                record
                    .allow_ips
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(Caller { key, record, now })
}

/// Guards `/metrics` on the MCP listener: a valid key with the `admin` scope (or every
/// scope), signed if the key must sign, within the housekeeping ceiling.
pub async fn admin_only(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let ip = client_ip(&req, &guard.options.trust_proxy);
    let Caller { key, record, now } = match authenticate(&guard, req.headers(), ip).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    if !record.scopes.allows_admin() {
        return with_header(
            refusal(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!(
                    "API key {} may not read the metrics: it needs the scope `{ADMIN}` (the key has `{}`)",
                    record.id,
                    record.scopes.to_text()
                ),
            ),
            header::WWW_AUTHENTICATE,
            &format!("Bearer error=\"insufficient_scope\", scope=\"{ADMIN}\""),
        );
    }
    if let Err(response) = check_signature(&guard, req.headers(), &key, &record, b"", now).await {
        return response;
    }
    let d = guard
        .housekeeping
        .check(&record.id, HOUSEKEEPING_PER_MINUTE, SystemTime::now());
    if !d.allowed {
        METRICS.refused(Refusal::Housekeeping);
        return with_header(
            refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
                format!(
                    "API key {} made more than {} protocol requests this minute; wait {} s",
                    record.id, d.limit, d.reset_secs
                ),
            ),
            header::RETRY_AFTER,
            &d.reset_secs.to_string(),
        );
    }
    next.run(req).await
}

/// The middleware: see the module documentation.
pub async fn check(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let ip = client_ip(&req, &guard.options.trust_proxy);
    let Caller { key, record, now } = match authenticate(&guard, req.headers(), ip).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };

    let (parts, body) = req.into_parts();
    let body: Bytes = match http_body_util::Limited::new(body, guard.options.max_body_bytes)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "the request body is larger than {} bytes",
                    guard.options.max_body_bytes
                ),
            );
        }
    };
    if let Err(response) = check_signature(&guard, &parts.headers, &key, &record, &body, now).await
    {
        if let Some(ip) = ip
            && response.status() == StatusCode::UNAUTHORIZED
        {
            guard.failures.note_failure(ip, SystemTime::now());
        }
        return response;
    }

    let messages = if parts.method == Method::POST {
        match messages(&body) {
            Some(messages) => messages,
            None => {
                return refusal(
                    StatusCode::BAD_REQUEST,
                    "invalid_json_rpc",
                    "the request body is not a JSON-RPC message or batch: send a JSON object (or an array of them) with `jsonrpc`, `method` and `params`, each member once",
                );
            }
        }
    } else {
        Vec::new()
    };
    let first = messages.first();
    let method = first.map_or_else(
        || match parts.method {
            Method::GET => Cow::Borrowed("GET"),
            Method::DELETE => Cow::Borrowed("DELETE"),
            ref other => Cow::Owned(other.to_string()),
        },
        |m| m.method.clone(),
    );
    let target = messages.iter().find_map(|m| m.target.clone());
    let tool_failed = Arc::new(AtomicBool::new(false));
    let mut ticket = UsageTicket {
        usage: guard.usage.clone(),
        event: Some(UsageEvent {
            key_id: Arc::from(record.id.as_str()),
            method,
            tool: target,
            outcome: Outcome::Ok,
            latency_us: 0,
            at: now,
            ip,
        }),
        started,
        tool_failed: tool_failed.clone(),
        refused: false,
    };

    let session = parts
        .headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let modern = parts
        .headers
        .get("mcp-protocol-version")
        .is_some_and(|v| v.as_bytes() >= b"2026-07-28".as_slice());
    if let Some(s) = session.as_deref().filter(|_| !modern) {
        match guard.session_owner(s) {
            Some(owner) if owner == record.id => {}
            Some(_) => {
                ticket.refused = true;
                return refusal(
                    StatusCode::FORBIDDEN,
                    "session_key_mismatch",
                    "this MCP session was opened with another API key; start a new session (initialize) with your own key",
                );
            }
            // Unknown or idle too long: the client starts a new session, as MCP asks on 404.
            None => {
                ticket.refused = true;
                return refusal(
                    StatusCode::NOT_FOUND,
                    "session_not_found",
                    "this MCP session is unknown or has expired; start a new session (initialize)",
                );
            }
        }
    }

    for m in &messages {
        if let Some((family, level)) = m.needs
            && !record.scopes.allows(family, level)
        {
            let scope = Scopes::required(family, level);
            ticket.refused = true;
            return with_header(
                refusal(
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    format!(
                        "API key {} may not call {}: it needs the scope `{scope}` (the key has `{}`). Ask your administrator for a key with that scope",
                        record.id,
                        m.target.as_deref().unwrap_or(""),
                        record.scopes.to_text()
                    ),
                ),
                header::WWW_AUTHENTICATE,
                &format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""),
            );
        }
    }

    let counted = messages.iter().filter(|m| is_counted(&m.method)).count();
    let rate = record.rate_per_min.or(guard.options.default_rate);
    let decision = match (counted > 0, rate) {
        (true, Some(per_min)) => {
            match guard
                .limits
                .count_call(&record.id, per_min, SystemTime::now())
                .await
            {
                Ok(d) => Some(d),
                Err(e) => return store_unavailable(&e),
            }
        }
        (true, None) => None,
        (false, _) => Some(guard.housekeeping.check(
            &record.id,
            HOUSEKEEPING_PER_MINUTE,
            SystemTime::now(),
        )),
    };
    if let Some(d) = &decision
        && !d.allowed
    {
        METRICS.refused(if counted > 0 {
            Refusal::Calls
        } else {
            Refusal::Housekeeping
        });
        if let Some(e) = ticket.event.as_mut() {
            e.outcome = Outcome::RateLimited;
        }
        let what = if counted > 0 {
            "tool calls"
        } else {
            "protocol requests"
        };
        let response = refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            format!(
                "API key {} made more than {} {what} this minute; wait {} s",
                record.id, d.limit, d.reset_secs
            ),
        );
        let response = with_header(response, header::RETRY_AFTER, &d.reset_secs.to_string());
        return rate_headers(response, d);
    }

    let mut req = Request::from_parts(parts, Body::from(body));
    req.extensions_mut().insert(Principal {
        key: Arc::clone(&record),
        tool_failed,
    });
    let is_delete = req.method() == Method::DELETE;
    let mut response = next.run(req).await;
    if response.status().is_client_error() || response.status().is_server_error() {
        ticket.refused = true;
    }
    match &session {
        Some(s) if is_delete => guard.end_session(s),
        Some(_) => {}
        None => {
            if let Some(opened) = response
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
            {
                guard.bind_session(opened, &record.id);
            }
        }
    }
    if counted > 0
        && let Some(d) = &decision
    {
        response = rate_headers(response, d);
    }
    keep_until_sent(response, ticket)
}

/// The signature check: required for keys created with `--require-signature`, and checked
/// for any key that signs. A signature is accepted once across every replica sharing the
/// guard's limits.
async fn check_signature(
    guard: &Guard,
    headers: &HeaderMap,
    key: &ApiKey,
    record: &KeyRecord,
    body: &[u8],
    now: i64,
) -> Result<(), Response> {
    let timestamp = headers.get("x-mcp-timestamp").and_then(|v| v.to_str().ok());
    let signature = headers.get("x-mcp-signature").and_then(|v| v.to_str().ok());
    if !record.require_signature && timestamp.is_none() && signature.is_none() {
        return Ok(());
    }
    let refuse = |e: signature::SignatureError| {
        with_header(
            refusal(StatusCode::UNAUTHORIZED, "invalid_signature", e.to_string()),
            header::WWW_AUTHENTICATE,
            "Bearer error=\"invalid_token\"",
        )
    };
    let signed = signature::verify(key, timestamp, signature, body, now).map_err(refuse)?;
    match guard.limits.first_use(signed, now).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(refuse(signature::SignatureError::Replayed)),
        Err(e) => Err(store_unavailable(&e)),
    }
}

/// 503 `store_unavailable`: the key database cannot answer, so nothing is let through.
fn store_unavailable(e: &StoreError) -> Response {
    tracing::error!(error = %e, "key store unavailable; refusing requests");
    with_header(
        refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the key store cannot be read; try again shortly",
        ),
        header::RETRY_AFTER,
        "1",
    )
}

/// `response` with `value` kept alive until its body has been sent or dropped.
pub fn keep_until_sent<T: Send + 'static>(response: Response, value: T) -> Response {
    let (parts, body) = response.into_parts();
    let body = body.map_frame(move |frame| {
        let _ = &value;
        frame
    });
    Response::from_parts(parts, Body::new(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(body: &str) -> Option<Vec<(String, Option<String>)>> {
        messages(body.as_bytes()).map(|all| {
            all.into_iter()
                .map(|m| (m.method.into_owned(), m.target.map(Cow::into_owned)))
                .collect()
        })
    }

    #[test]
    fn a_call_names_its_tool_and_a_read_its_resource() {
        assert_eq!(
            asked(
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_servers","arguments":{"datacenter_id":"x","deep":{"a":[1,2,{"b":null}]}}}}"#
            ),
            Some(vec![("tools/call".into(), Some("list_servers".into()))])
        );
        assert_eq!(
            asked(
                r#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"ionos://focus"}}"#
            ),
            Some(vec![(
                "resources/read".into(),
                Some("ionos://focus".into())
            )])
        );
        // Escapes are read as the MCP layer reads them.
        assert_eq!(
            asked(r#"{"method":"tools\/call","params":{"name":"suspend\u005fserver"}}"#),
            Some(vec![("tools/call".into(), Some("suspend_server".into()))])
        );
    }

    #[test]
    fn other_messages_and_batches() {
        assert_eq!(
            asked(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":"ignored"}}"#),
            Some(vec![("tools/list".into(), None)])
        );
        assert_eq!(
            asked(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
            Some(vec![("response".into(), None)])
        );
        assert_eq!(
            asked(r#" [{"method":"ping"},{"method":"tools/call","params":{"name":"get_server"}}]"#),
            Some(vec![
                ("ping".into(), None),
                ("tools/call".into(), Some("get_server".into()))
            ])
        );
    }

    #[test]
    fn members_of_other_types_do_not_hide_a_call() {
        // A `uri` that is not a string leaves the tool name readable: the scope check
        // still sees the call.
        assert_eq!(
            asked(r#"{"method":"tools/call","params":{"name":"suspend_server","uri":5}}"#),
            Some(vec![("tools/call".into(), Some("suspend_server".into()))])
        );
        assert_eq!(
            asked(r#"{"method":7,"params":{"name":["x"]}}"#),
            Some(vec![("unknown".into(), None)])
        );
    }

    #[test]
    fn what_is_not_a_message_is_refused_not_guessed() {
        for body in [
            "",
            "not json",
            "\"tools/call\"",
            "5",
            r#"{"method":"tools/call","params":"suspend_server"}"#,
            r#"{"method":"tools/list","method":"tools/call","params":{"name":"suspend_server"}}"#,
            r#"{"method":"tools/call","params":{"name":"get_server","name":"suspend_server"}}"#,
            r#"{"method":"tools/call","params":{"name":"get_server"}} trailing"#,
        ] {
            assert_eq!(asked(body), None, "{body}");
        }
    }
}
