//! How a request reaches IONOS. Two kinds of API sit behind one interface, [`Upstream`]:
//!
//! - [`bearer`]: the JSON APIs (Cloud API, DNS, Billing, …), authenticated with the IONOS
//!   token (or HTTP Basic), whose refusals are IONOS error documents;
//! - [`s3`]: the Object Storage data plane, whose requests are signed with SigV4 for the region
//!   of each bucket's endpoint, and whose answers and refusals are S3 XML.
//!
//! Both send through [`Http`], which owns what they share: the HTTP client ([`client`]),
//! retries of GET and HEAD requests within a time budget, per-product cooldowns after 429s, and
//! the body limit.

pub mod bearer;
pub mod client;
pub mod credentials;
pub mod s3;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hyper::Method;
use hyper::header::HeaderMap;

use crate::config::Config;
use crate::errors::{ToolError, truncate};
use crate::tools::request::RequestParts;
use crate::tools::table::ToolSpec;
use client::{Client, Outgoing, SendError};

/// A boxed future, for the [`Upstream`] interface.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an upstream answered to a successful request.
#[derive(Debug)]
pub enum Reply {
    /// The answer's body and media type, for the dispatcher to shape.
    Body { media: String, body: Vec<u8> },
    /// An answer the upstream already turned into a result (an S3 HEAD answer from its
    /// headers; a configuration a bucket does not have).
    Value(serde_json::Value),
    /// 202: IONOS accepted the change and works on it; `location` names the request's status.
    Accepted { location: Option<String> },
}

/// One kind of IONOS API: where a request goes, how it is authenticated, and what its
/// refusals mean.
pub trait Upstream: Send + Sync {
    fn send<'a>(
        &'a self,
        http: &'a Http,
        tool: &'static ToolSpec,
        req: &'a RequestParts,
    ) -> BoxFuture<'a, Result<Reply, ToolError>>;
}

/// The upstreams of every product, chosen by the product's `auth` in the manifest.
pub struct Upstreams {
    http: Http,
    bearer: Arc<bearer::Bearer>,
    s3: s3::S3,
}

impl Upstreams {
    pub fn new(config: Arc<Config>) -> Upstreams {
        let bearer = Arc::new(bearer::Bearer::new(&config));
        Upstreams {
            http: Http::new(config.clone()),
            s3: s3::S3::new(bearer.clone()),
            bearer,
        }
    }

    /// The bearer upstream, which also knows where the token comes from.
    pub fn bearer(&self) -> &bearer::Bearer {
        &self.bearer
    }

    fn of(&self, tool: &ToolSpec) -> &dyn Upstream {
        match tool.product().auth {
            "sigv4" => &self.s3,
            _ => self.bearer.as_ref(),
        }
    }

    /// Sends one tool's request to the upstream of its product.
    pub async fn send(
        &self,
        tool: &'static ToolSpec,
        req: &RequestParts,
    ) -> Result<Reply, ToolError> {
        let started = std::time::Instant::now();
        let reply = self.of(tool).send(&self.http, tool, req).await;
        crate::metrics::METRICS.upstream(
            tool.product,
            started.elapsed(),
            reply.as_ref().err().map(error_kind),
        );
        reply
    }
}

/// How the metrics name a failure (one of `crate::metrics::UPSTREAM_ERRORS`).
fn error_kind(e: &ToolError) -> &'static str {
    match e {
        ToolError::Unauthorized { .. } | ToolError::BasicRejected { .. } => "unauthorized",
        ToolError::Forbidden { .. } => "forbidden",
        ToolError::NotFound { .. } => "not_found",
        ToolError::RateLimited { .. } => "rate_limited",
        ToolError::ServerError { .. } => "server_error",
        ToolError::Rejected { .. } | ToolError::S3Refused { .. } => "rejected",
        ToolError::Timeout(_) => "timeout",
        ToolError::Unreachable { .. } => "unreachable",
        ToolError::TooLarge { .. } | ToolError::BadResponse { .. } => "bad_response",
        ToolError::RequestFailed { .. } => "request_failed",
        ToolError::InvalidArguments { .. }
        | ToolError::WritesDisabled { .. }
        | ToolError::MissingToken
        | ToolError::NotSelected { .. }
        | ToolError::TokenExpired { .. }
        | ToolError::TokenFile { .. }
        | ToolError::S3KeysMissing { .. }
        | ToolError::ConfirmationUnavailable { .. }
        | ToolError::CredentialsUnusable { .. } => "local",
    }
}

/// Installs the TLS crypto provider once per process.
pub fn init_tls() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // Fails only when another provider is already installed, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A finished exchange: the last attempt's status, headers and body.
#[derive(Debug)]
pub struct Exchange {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Attempts made, the first included.
    pub attempts: u32,
    /// The last `Retry-After`, when IONOS sent one.
    pub retry_after: Option<Duration>,
}

impl Exchange {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn media(&self) -> String {
        self.headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
}

/// Adds credentials to one attempt of a request (a signature covers the time, so it is made
/// per attempt).
pub type Authenticate<'a> = &'a (dyn Fn(&mut Outgoing) -> Result<(), ToolError> + Sync);

/// What every upstream shares: the client, retries, cooldowns and the body limit.
pub struct Http {
    /// Built at the first request, not at start: loading the system's root certificates
    /// costs milliseconds a server that only lists its tools never needs. A failed build is
    /// not kept, so the next call tries again.
    client: OnceLock<Client>,
    config: Arc<Config>,
    /// Per product: no request before this instant (after a 429 or an exhausted quota).
    cooldowns: std::sync::Mutex<HashMap<&'static str, Instant>>,
}

impl Http {
    fn new(config: Arc<Config>) -> Http {
        // Cheap (no certificates yet). The server's own client names its provider; other
        // rustls clients in the process (the tests' and benches' reqwest) take this one.
        init_tls();
        Http {
            client: OnceLock::new(),
            config,
            cooldowns: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The shared client, built on first use (TLS verified against the system's roots).
    fn client(&self, tool: &ToolSpec, url: &str) -> Result<&Client, ToolError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = Client::new(self.config.connect_timeout, self.config.request_timeout)
            .map_err(|e| {
                unreachable(
                    tool,
                    url,
                    &format!(
                        "cannot set up TLS (root certificates come from the system, or from SSL_CERT_FILE / SSL_CERT_DIR): {}",
                        with_causes(&e)
                    ),
                )
            })?;
        // Two first calls at once may both build one; either is as good.
        Ok(self.client.get_or_init(|| client))
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The configured base URL of the tool's product, without a trailing slash.
    pub fn base_url(&self, tool: &ToolSpec) -> String {
        self.config
            .base_url(tool.product)
            .unwrap_or(tool.product().base_url)
            .trim_end_matches('/')
            .to_string()
    }

    /// Sends `req` to `base` + its path. GET and HEAD are retried on 429, 502, 503, 504 and
    /// connection failures, within the call's time budget; anything else is sent once. Returns
    /// the last answer, whatever its status; only a request that never got one is an error.
    pub async fn exchange(
        &self,
        tool: &'static ToolSpec,
        base: &str,
        req: &RequestParts,
        authenticate: Authenticate<'_>,
    ) -> Result<Exchange, ToolError> {
        let url = format!("{base}{}", req.path);
        let method = Method::from_bytes(req.method.as_bytes()).unwrap_or(Method::GET);
        let idempotent = matches!(req.method, "GET" | "HEAD");
        let client = self.client(tool, &url)?;
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            self.wait_for_cooldown(tool.product, started).await;
            attempt += 1;
            let mut request = Outgoing::new(method.clone(), &url).query(&req.query);
            for (name, value) in &req.headers {
                request
                    .header(name, value)
                    .map_err(|problem| ToolError::InvalidArguments {
                        tool: tool.name.to_string(),
                        problems: problem,
                        expected: "text without line breaks or control characters".into(),
                    })?;
            }
            authenticate(&mut request)?;
            let fetched = match client.fetch(request, self.config.max_body_bytes).await {
                Err(e) => {
                    // A time-out, a refused or broken connection: worth another try.
                    let retryable = matches!(e, SendError::Timeout | SendError::Transport(_));
                    let err = self.send_error(tool, &url, e);
                    match self.retry_delay(idempotent && retryable, attempt, started, None) {
                        Some(wait) => {
                            tracing::info!(
                                tool = tool.name,
                                attempt,
                                ?wait,
                                "retrying after a connection failure"
                            );
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                        None => return Err(err),
                    }
                }
                Ok(fetched) => fetched,
            };
            let client::Fetched {
                status,
                headers,
                body,
            } = fetched;
            self.note_rate_limit(tool.product, &headers);
            tracing::debug!(tool = tool.name, method = req.method, path = %req.path, status, attempt, ms = started.elapsed().as_millis() as u64, "IONOS call");
            let retry_after = retry_after(&headers);
            if status == 429 {
                self.set_cooldown(tool.product, retry_after.unwrap_or(Duration::from_secs(1)));
            }
            let retryable = matches!(status, 429 | 502 | 503 | 504);
            match self.retry_delay(idempotent && retryable, attempt, started, retry_after) {
                Some(wait) => {
                    tracing::info!(tool = tool.name, status, attempt, ?wait, "retrying");
                    tokio::time::sleep(wait).await;
                }
                None => {
                    return Ok(Exchange {
                        status,
                        headers,
                        body,
                        attempts: attempt,
                        retry_after,
                    });
                }
            }
        }
    }

    /// One request sent once, without retries (lookups on the way to the real request).
    pub async fn send_once(
        &self,
        tool: &'static ToolSpec,
        request: Outgoing,
    ) -> Result<Exchange, ToolError> {
        let url = request.url().to_string();
        let fetched = self
            .client(tool, &url)?
            .fetch(request, self.config.max_body_bytes)
            .await
            .map_err(|e| self.send_error(tool, &url, e))?;
        Ok(Exchange {
            status: fetched.status,
            retry_after: retry_after(&fetched.headers),
            headers: fetched.headers,
            body: fetched.body,
            attempts: 1,
        })
    }

    /// How long to wait before the next attempt, or `None` to give up: at most
    /// `MAX_ATTEMPTS`, within the call's budget, honouring `Retry-After` when IONOS sends it
    /// and backing off exponentially with jitter otherwise.
    fn retry_delay(
        &self,
        retryable: bool,
        attempt: u32,
        started: Instant,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if !retryable || attempt >= MAX_ATTEMPTS {
            return None;
        }
        let backoff = Duration::from_millis(200u64 << attempt.min(6));
        let jitter = Duration::from_millis(fastrand::u64(0..=backoff.as_millis() as u64 / 2));
        let wait = retry_after.unwrap_or(backoff + jitter);
        (started.elapsed() + wait <= self.config.retry_budget).then_some(wait)
    }

    /// Waits while IONOS has asked this product's callers to pause (shared by concurrent calls).
    async fn wait_for_cooldown(&self, product: &str, started: Instant) {
        let until = self
            .cooldowns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(product)
            .copied();
        if let Some(until) = until {
            let now = Instant::now();
            if until > now && started.elapsed() + (until - now) <= self.config.retry_budget {
                tokio::time::sleep(until - now).await;
            }
        }
    }

    fn set_cooldown(&self, product: &'static str, wait: Duration) {
        let until = Instant::now() + wait.min(MAX_RETRY_AFTER);
        let mut map = self
            .cooldowns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = map.entry(product).or_insert(until);
        if *entry < until {
            *entry = until;
        }
    }

    /// `X-RateLimit-Remaining: 0` pauses the product's next calls for the share of a minute
    /// one request is worth under `X-RateLimit-Limit`.
    fn note_rate_limit(&self, product: &'static str, headers: &HeaderMap) {
        let num = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if num("x-ratelimit-remaining") == Some(0) {
            let per_minute = num("x-ratelimit-limit").unwrap_or(60).max(1);
            self.set_cooldown(product, Duration::from_millis(60_000 / per_minute));
        }
    }

    fn send_error(&self, tool: &ToolSpec, url: &str, e: SendError) -> ToolError {
        match e {
            SendError::Timeout => ToolError::Timeout(self.config.request_timeout),
            SendError::TooLarge => ToolError::TooLarge {
                limit_mb: self.config.max_body_bytes / (1024 * 1024),
            },
            SendError::InvalidUrl(detail) => unreachable(
                tool,
                url,
                &format!("not a URL a request can go to: {detail}"),
            ),
            SendError::Transport(detail) => unreachable(tool, url, &detail),
        }
    }
}

/// An error and each of its causes, `: `-separated.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut detail = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        detail = format!("{detail}: {s}");
        source = s.source();
    }
    detail
}

/// `url` (without its query) could not be reached, for `detail`.
fn unreachable(tool: &ToolSpec, url: &str, detail: &str) -> ToolError {
    ToolError::Unreachable {
        url: url.split('?').next().unwrap_or(url).to_string(),
        detail: truncate(detail, 300),
        variable: tool.product().base_url_env.to_string(),
    }
}

/// Attempts per call, the first included.
const MAX_ATTEMPTS: u32 = 4;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// `Retry-After` in seconds (the form IONOS sends), bounded.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(hyper::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// The sentence a 429 error ends with: how long IONOS asked to wait, and how often we tried.
pub fn rate_limit_note(exchange: &Exchange) -> String {
    match exchange.retry_after {
        Some(d) => format!(
            "; IONOS asks to wait {} s (gave up after {} attempts)",
            d.as_secs().max(1),
            exchange.attempts
        ),
        None => format!(" (gave up after {} attempts)", exchange.attempts),
    }
}
