//! The one generic dispatcher: validate arguments, build the request through the generated
//! builder, authenticate, send, decode, shape the result and map failures.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::config::Config;
use crate::credentials::{Auth, CredentialSource};
use crate::errors::{ToolError, ionos_detail};
use crate::request::RequestParts;
use crate::tool_table::{self, Access, TOOLS, ToolSpec};

/// A successful call's result.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A JSON object (also sent as `structuredContent`).
    Json(Value),
    /// Text passed through as it came (kubeconfig, zone files).
    Text(String),
}

/// Runs tool calls against IONOS.
pub struct Dispatcher {
    http: reqwest::Client,
    config: Arc<Config>,
    credentials: CredentialSource,
    /// Per product: no request before this instant (after a 429 or an exhausted quota).
    cooldowns: std::sync::Mutex<HashMap<&'static str, Instant>>,
    validators: HashMap<&'static str, OnceLock<Option<jsonschema::Validator>>>,
    /// S3: the endpoint each bucket was found at.
    s3_endpoints: crate::s3::EndpointCache,
}

/// What an S3 request needs beyond the generic ones: the key pair and where the bucket is.
struct S3Call {
    keys: crate::s3::Keys,
    bucket: Option<String>,
    endpoint: crate::s3::Endpoint,
}

/// Installs the TLS crypto provider once per process.
pub fn init_tls() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // Fails only when another provider is already installed, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Dispatcher {
    pub fn new(config: Config) -> Result<Dispatcher, reqwest::Error> {
        init_tls();
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("ionos-mcp/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let validators = TOOLS.iter().map(|t| (t.name, OnceLock::new())).collect();
        Ok(Dispatcher {
            http,
            credentials: CredentialSource::new(config.credentials.clone()),
            cooldowns: std::sync::Mutex::new(HashMap::new()),
            config: Arc::new(config),
            validators,
            s3_endpoints: crate::s3::EndpointCache::default(),
        })
    }

    /// Where the credentials come from, and when the token expires.
    pub fn credentials(&self) -> &CredentialSource {
        &self.credentials
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Calls a tool. `None` means the tool does not exist (a protocol error, not a tool result).
    pub async fn call(
        &self,
        name: &str,
        arguments: Option<Map<String, Value>>,
    ) -> Option<Result<Output, ToolError>> {
        let tool = tool_table::tool(name)?;
        Some(self.call_tool(tool, arguments).await)
    }

    async fn call_tool(
        &self,
        tool: &'static ToolSpec,
        arguments: Option<Map<String, Value>>,
    ) -> Result<Output, ToolError> {
        if !self.config.selects(tool.product, tool.toolset) {
            return Err(ToolError::NotSelected {
                tool: tool.name.to_string(),
                toolset: format!("{}/{}", tool.product, tool.toolset),
            });
        }
        if tool.access == Access::Write && !self.config.writes_enabled {
            return Err(ToolError::WritesDisabled {
                tool: tool.name.to_string(),
            });
        }
        let (req, args) = self.prepare(tool, arguments)?;
        let behaviour = crate::behaviour::of(tool);
        let mut out = self.send(tool, req).await?;
        // A HEAD answer says which resource it is about: the arguments that named it.
        if tool.method == "HEAD"
            && let (Output::Json(Value::Object(obj)), Value::Object(given)) = (&mut out, &args)
        {
            for (k, v) in given {
                obj.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        if let (Some(b), Output::Json(v)) = (behaviour, &mut out) {
            let omitted = crate::behaviour::finish(b, &args, v);
            if omitted > 0
                && let (Some(x), Some(obj)) = (&b.exclude_items, v.as_object_mut())
            {
                obj.insert(
                    "omitted".into(),
                    serde_json::json!({
                        "count": omitted,
                        "why": format!("left out as requested by default; set `{}` to true to include them", x.unless),
                    }),
                );
            }
        }
        Ok(out)
    }

    /// Everything before sending: schema validation, declared behaviour (date windows), the
    /// generated request builder, and the path-segment checks. Returns the request and the
    /// arguments as completed.
    pub fn prepare(
        &self,
        tool: &'static ToolSpec,
        arguments: Option<Map<String, Value>>,
    ) -> Result<(RequestParts, Value), ToolError> {
        let invalid = |problems: String| ToolError::InvalidArguments {
            tool: tool.name.to_string(),
            problems,
            expected: expected_args(tool),
        };
        let mut args = self.validate(tool, arguments)?;
        if let Some(b) = crate::behaviour::of(tool) {
            crate::behaviour::prepare(b, &mut args, crate::behaviour::Day::today())
                .map_err(invalid)?;
        }
        let req = (tool.build)(args.clone()).map_err(|e| invalid(e.to_string()))?;
        if !req.problems.is_empty() {
            return Err(invalid(req.problems.join("; ")));
        }
        Ok((req, args))
    }

    /// Checks arguments against the tool's input schema before anything is sent. Top-level
    /// `null` values count as "not given", as models often send them for optional arguments.
    pub fn validate(
        &self,
        tool: &'static ToolSpec,
        arguments: Option<Map<String, Value>>,
    ) -> Result<Value, ToolError> {
        let mut args = arguments.unwrap_or_default();
        args.retain(|_, v| !v.is_null());
        let args = Value::Object(args);
        let validator = self.validators.get(tool.name).and_then(|cell| {
            cell.get_or_init(|| {
                jsonschema::validator_for(&Value::Object((*tool.input_schema_object()).clone()))
                    .ok()
            })
            .as_ref()
        });
        if let Some(v) = validator {
            let problems: Vec<String> = v
                .iter_errors(&args)
                .take(5)
                .map(|e| {
                    let at = e.instance_path().to_string();
                    let name = at.trim_start_matches('/');
                    // A failed pattern reads better as the argument's own description
                    // ("Billing period as YYYY-MM.") than as a regular expression.
                    let described = matches!(
                        e.kind(),
                        jsonschema::error::ValidationErrorKind::Pattern { .. }
                    )
                    .then(|| {
                        tool.input_schema_object()
                            .get("properties")
                            .and_then(|p| p.get(name))
                            .and_then(|p| p.get("description"))
                            .and_then(Value::as_str)
                            .map(|d| {
                                format!(
                                    "{} does not fit: {}",
                                    e.instance(),
                                    d.trim_end_matches('.')
                                )
                            })
                    })
                    .flatten();
                    let msg = described.unwrap_or_else(|| truncate(&e.to_string(), 200));
                    if at.is_empty() {
                        msg
                    } else {
                        format!("argument `{name}`: {msg}")
                    }
                })
                .collect();
            if !problems.is_empty() {
                return Err(ToolError::InvalidArguments {
                    tool: tool.name.to_string(),
                    problems: problems.join("; "),
                    expected: expected_args(tool),
                });
            }
        }
        // A day pattern admits 2026-02-31; the calendar does not.
        let schema = tool.input_schema_object();
        let props = schema.get("properties");
        for (name, value) in args.as_object().into_iter().flatten() {
            let is_day = props
                .and_then(|p| p.get(name))
                .and_then(|s| s.get("pattern"))
                .and_then(Value::as_str)
                .is_some_and(|p| p.ends_with(DAY_PATTERN_END));
            if let (true, Some(text)) = (is_day, value.as_str())
                && crate::behaviour::Day::parse(text).is_none()
            {
                return Err(ToolError::InvalidArguments {
                    tool: tool.name.to_string(),
                    problems: format!(
                        "argument `{name}`: {text:?} is not a day of the calendar; expected YYYY-MM-DD"
                    ),
                    expected: expected_args(tool),
                });
            }
        }
        Ok(args)
    }

    /// The full URL of a request, for logs and tests.
    pub fn url_for(&self, tool: &ToolSpec, req: &RequestParts) -> String {
        let base = self
            .config
            .base_url(tool.product)
            .unwrap_or(tool.product().base_url);
        format!("{base}{}", req.path)
    }

    async fn send(&self, tool: &'static ToolSpec, req: RequestParts) -> Result<Output, ToolError> {
        let retry = (tool.product().auth == "sigv4" && !self.config.s3.single_endpoint)
            .then(|| req.clone());
        let first = self.send_once(tool, req).await;
        match (&first, retry) {
            // A bucket found at another endpoint than cached (it was dropped from the cache
            // with the error): located anew, the request is sent once more.
            (Err(ToolError::S3Refused { code, .. }), Some(req))
                if code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" =>
            {
                self.send_once(tool, req).await
            }
            _ => first,
        }
    }

    async fn send_once(
        &self,
        tool: &'static ToolSpec,
        req: RequestParts,
    ) -> Result<Output, ToolError> {
        let s3 = if tool.product().auth == "sigv4" {
            let keys = crate::s3::keys(&self.config.s3, tool.name)?;
            let bucket = crate::s3::bucket_of(&req.path);
            let endpoint = self.s3_endpoint(tool, bucket.as_deref(), &keys).await?;
            Some(S3Call {
                keys,
                bucket,
                endpoint,
            })
        } else {
            None
        };
        let url = match &s3 {
            Some(c) => format!("{}{}", c.endpoint.url, req.path),
            None => self.url_for(tool, &req),
        };
        let method =
            reqwest::Method::from_bytes(req.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut builder = self.http.request(method, &url).query(&req.query);
        for (k, v) in &req.headers {
            builder = builder.header(*k, v);
        }
        if tool.product().auth == "bearer" {
            builder = self.authorized(builder)?;
        }
        // GET and HEAD are retried on 429, 502, 503, 504 and connection failures, within a
        // time budget per call; anything else is sent once.
        let idempotent = matches!(req.method, "GET" | "HEAD");
        let started = Instant::now();
        let budget = self.config.retry_budget;
        let mut attempt: u32 = 0;
        loop {
            self.wait_for_cooldown(tool.product, started, budget).await;
            attempt += 1;
            let Some(this) = builder.try_clone() else {
                return Err(ToolError::BadResponse {
                    detail: "the request could not be prepared".into(),
                });
            };
            let sent = match &s3 {
                // Signed per attempt: the signature covers the time.
                Some(c) => match this.build() {
                    Ok(mut request) => {
                        crate::s3::sign(
                            &mut request,
                            &c.keys,
                            &c.endpoint.region,
                            std::time::SystemTime::now(),
                        )?;
                        self.http.execute(request).await
                    }
                    Err(e) => Err(e),
                },
                None => this.send().await,
            };
            let (status, headers, result) = match sent {
                Err(e) => {
                    let retryable = e.is_connect() || e.is_request() || e.is_body();
                    let err = self.transport_error(tool, &url, e);
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
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    (status, headers, self.read_body(tool, &url, response).await)
                }
            };
            self.note_rate_limit(tool.product, &headers);
            tracing::debug!(tool = tool.name, method = req.method, path = %req.path, status, attempt, ms = started.elapsed().as_millis() as u64, "IONOS call");
            let body = result?;
            if (200..300).contains(&status) {
                if req.method == "HEAD" {
                    return Ok(Output::Json(crate::s3::head_result(tool, &headers)));
                }
                let media = headers
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                return shape(tool, &req, media, &body);
            }
            let s3_error = s3.as_ref().and_then(|_| crate::xml::s3_error(&body));
            if status == 404
                && let Some(v) = s3_error.as_ref().and_then(crate::s3::not_configured)
            {
                return Ok(Output::Json(v));
            }
            let retry_after = retry_after(&headers);
            if status == 429 {
                let wait = retry_after.unwrap_or(Duration::from_secs(1));
                self.set_cooldown(tool.product, wait);
            }
            let retryable = matches!(status, 429 | 502 | 503 | 504);
            match self.retry_delay(idempotent && retryable, attempt, started, retry_after) {
                Some(wait) => {
                    tracing::info!(tool = tool.name, status, attempt, ?wait, "retrying");
                    tokio::time::sleep(wait).await;
                }
                None => {
                    let mut err = match &s3 {
                        Some(c) => {
                            if let Some(b) = &c.bucket
                                && matches!(status, 301 | 400)
                            {
                                self.s3_endpoints.forget(b);
                            }
                            crate::s3::refusal(
                                tool,
                                status,
                                s3_error.as_ref(),
                                c.bucket.as_deref(),
                                &c.endpoint,
                                self.config.s3.single_endpoint,
                            )
                        }
                        None => self.status_error(tool, &req, status, &body),
                    };
                    if let ToolError::RateLimited { retry } = &mut err {
                        *retry = match retry_after {
                            Some(d) => format!(
                                "; IONOS asks to wait {} s (gave up after {} attempts)",
                                d.as_secs().max(1),
                                attempt
                            ),
                            None => format!(" (gave up after {attempt} attempts)"),
                        };
                    }
                    return Err(err);
                }
            }
        }
    }

    /// Where a bucket is addressed: `IONOS_S3_ENDPOINT` when set (and for requests without a
    /// bucket), else the bucket's regional endpoint, found once and cached.
    async fn s3_endpoint(
        &self,
        tool: &'static ToolSpec,
        bucket: Option<&str>,
        keys: &crate::s3::Keys,
    ) -> Result<crate::s3::Endpoint, ToolError> {
        let url = self
            .config
            .base_url(tool.product)
            .unwrap_or(tool.product().base_url)
            .trim_end_matches('/')
            .to_string();
        let region = self
            .config
            .s3
            .region
            .clone()
            .or_else(|| crate::s3::region_of_endpoint(&url))
            .unwrap_or_else(|| crate::s3::DEFAULT_REGION.to_string());
        let home = crate::s3::Endpoint { url, region };
        let Some(bucket) = bucket else {
            return Ok(home);
        };
        if self.config.s3.single_endpoint {
            return Ok(home);
        }
        if let Some(found) = self.s3_endpoints.get(bucket) {
            return Ok(found);
        }
        // GetBucketLocation, asked at the base endpoint.
        let (status, headers, body) = self.s3_location(tool, bucket, &home, keys).await?;
        let region = if (200..300).contains(&status) {
            Some(crate::s3::location_region(&body, &home.region))
        } else {
            // S3's redirect names the region.
            headers
                .get("x-amz-bucket-region")
                .and_then(|v| v.to_str().ok())
                .filter(|r| !r.is_empty())
                .map(str::to_string)
        };
        let found = match region {
            Some(region) => Some(self.regional_endpoint(&home, region).await),
            // Endpoints that only know their own region's buckets: ask each region.
            None if matches!(status, 301 | 404) => self.s3_sweep(tool, bucket, &home, keys).await,
            None => None,
        };
        let Some(endpoint) = found else {
            return Err(crate::s3::refusal(
                tool,
                status,
                crate::xml::s3_error(&body).as_ref(),
                Some(bucket),
                &home,
                false,
            ));
        };
        tracing::debug!(bucket, endpoint = %endpoint.url, region = %endpoint.region, "S3 bucket located");
        self.s3_endpoints.put(bucket, endpoint.clone());
        Ok(endpoint)
    }

    /// `builder` with the IONOS credentials (a bearer token, or Basic username and password).
    fn authorized(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, ToolError> {
        Ok(match self.credentials.current()? {
            Auth::Bearer(t) => builder.bearer_auth(t.expose()),
            Auth::Basic { username, password } => {
                builder.basic_auth(username, Some(password.expose()))
            }
        })
    }

    /// One signed GetBucketLocation at `endpoint`: status, headers and body.
    async fn s3_location(
        &self,
        tool: &'static ToolSpec,
        bucket: &str,
        endpoint: &crate::s3::Endpoint,
        keys: &crate::s3::Keys,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), ToolError> {
        let mut parts = RequestParts::new("GET");
        parts.literal("/");
        parts.segment(bucket);
        let url = format!("{}{}", endpoint.url, parts.path);
        let mut request = self
            .http
            .get(&url)
            .query(&[("location", "")])
            .build()
            .map_err(|e| self.transport_error(tool, &url, e))?;
        crate::s3::sign(
            &mut request,
            keys,
            &endpoint.region,
            std::time::SystemTime::now(),
        )?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| self.transport_error(tool, &url, e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = self.read_body(tool, &url, response).await?;
        Ok((status, headers, body))
    }

    /// The endpoint of `region`: the base endpoint for its own region, else the management
    /// API's answer, else IONOS's naming.
    async fn regional_endpoint(
        &self,
        home: &crate::s3::Endpoint,
        region: String,
    ) -> crate::s3::Endpoint {
        if region == home.region {
            return home.clone();
        }
        let url = match self.region_endpoint(&region).await {
            Some(u) => u,
            None => crate::s3::known_endpoint(&region),
        };
        crate::s3::Endpoint { url, region }
    }

    /// Asks every other region's endpoint (from the management API's region list) for the
    /// bucket's location; the first that knows it wins.
    async fn s3_sweep(
        &self,
        tool: &'static ToolSpec,
        bucket: &str,
        home: &crate::s3::Endpoint,
        keys: &crate::s3::Keys,
    ) -> Option<crate::s3::Endpoint> {
        let regions = self.management_get("/regions").await?;
        for r in regions.get("items")?.as_array()? {
            let (Some(id), Some(endpoint)) = (
                r.get("id").and_then(Value::as_str),
                r.pointer("/properties/endpoint").and_then(Value::as_str),
            ) else {
                continue;
            };
            if id == home.region {
                continue;
            }
            let candidate = crate::s3::Endpoint {
                url: crate::s3::endpoint_url(endpoint),
                region: id.to_string(),
            };
            if let Ok((status, _, body)) = self.s3_location(tool, bucket, &candidate, keys).await
                && (200..300).contains(&status)
            {
                let region = crate::s3::location_region(&body, &candidate.region);
                if region == candidate.region {
                    return Some(candidate);
                }
                return Some(self.regional_endpoint(home, region).await);
            }
        }
        None
    }

    /// A GET of the Object Storage management API with the IONOS credentials, if it answers.
    async fn management_get(&self, path: &str) -> Option<Value> {
        let product = crate::tool_table::product(crate::s3::MANAGEMENT_PRODUCT)?;
        let base = self
            .config
            .base_url(product.key)
            .unwrap_or(product.base_url)
            .trim_end_matches('/')
            .to_string();
        let builder = self
            .authorized(self.http.get(format!("{base}{path}")))
            .ok()?;
        let response = builder.send().await.ok()?;
        if !response.status().is_success() {
            tracing::debug!(path, status = %response.status(), "Object Storage management API refused");
            return None;
        }
        response.json().await.ok()
    }

    /// A region's S3 endpoint from the Object Storage management API, if it can be asked.
    async fn region_endpoint(&self, region: &str) -> Option<String> {
        let mut parts = RequestParts::new("GET");
        parts.literal("/regions/");
        parts.segment(region);
        let v = self.management_get(&parts.path).await?;
        let endpoint = v.pointer("/properties/endpoint")?.as_str()?;
        (!endpoint.trim().is_empty()).then(|| crate::s3::endpoint_url(endpoint))
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
    async fn wait_for_cooldown(&self, product: &str, started: Instant, budget: Duration) {
        let until = self
            .cooldowns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(product)
            .copied();
        if let Some(until) = until {
            let now = Instant::now();
            if until > now && started.elapsed() + (until - now) <= budget {
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
    fn note_rate_limit(&self, product: &'static str, headers: &reqwest::header::HeaderMap) {
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

    async fn read_body(
        &self,
        tool: &ToolSpec,
        url: &str,
        mut response: reqwest::Response,
    ) -> Result<Vec<u8>, ToolError> {
        let limit = self.config.max_body_bytes;
        if response
            .content_length()
            .is_some_and(|n| n as usize > limit)
        {
            return Err(ToolError::TooLarge {
                limit_mb: limit / (1024 * 1024),
            });
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > limit {
                        return Err(ToolError::TooLarge {
                            limit_mb: limit / (1024 * 1024),
                        });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(body),
                Err(e) => return Err(self.transport_error(tool, url, e)),
            }
        }
    }

    fn transport_error(&self, tool: &ToolSpec, url: &str, e: reqwest::Error) -> ToolError {
        if e.is_timeout() {
            return ToolError::Timeout(self.config.request_timeout);
        }
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            detail = format!("{detail}: {s}");
            source = s.source();
        }
        ToolError::Unreachable {
            url: url.split('?').next().unwrap_or(url).to_string(),
            detail: truncate(&detail, 300),
            variable: tool.product().base_url_env.to_string(),
        }
    }

    fn status_error(
        &self,
        tool: &ToolSpec,
        req: &RequestParts,
        status: u16,
        body: &[u8],
    ) -> ToolError {
        let detail = ionos_detail(body);
        match status {
            401 if self.credentials.is_basic() => ToolError::BasicRejected { detail },
            401 => match self.credentials.expiry() {
                Some(exp) if exp <= crate::credentials::now() => ToolError::TokenExpired {
                    variable: "IONOS_TOKEN",
                    at: crate::credentials::format_utc(exp),
                },
                _ => ToolError::Unauthorized { detail },
            },
            403 => ToolError::Forbidden {
                product: tool.product().title.to_string(),
                privilege: tool.product().privilege.to_string(),
                detail,
            },
            404 => ToolError::NotFound {
                what: not_found_subject(tool, req),
                detail,
                list_hint: list_hint(tool),
            },
            429 => ToolError::RateLimited {
                retry: String::new(),
            },
            500..=599 => ToolError::ServerError { status, detail },
            _ => ToolError::Rejected { status, detail },
        }
    }
}

/// How the patterns of day arguments (`YYYY-MM-DD`) end; such values are also checked against
/// the calendar.
const DAY_PATTERN_END: &str = "-(0[1-9]|[12][0-9]|3[01])$";

/// Attempts per call, the first included.
const MAX_ATTEMPTS: u32 = 4;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// `Retry-After` in seconds (the form IONOS sends), bounded.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// Turns a successful answer into the tool result: redacted, paged, wrapped.
fn shape(
    tool: &ToolSpec,
    req: &RequestParts,
    media: &str,
    body: &[u8],
) -> Result<Output, ToolError> {
    let is_json =
        media.contains("json") || (media.is_empty() && tool.response_media.contains("json"));
    let xml_schema = tool
        .xml_schema_value()
        .filter(|_| !is_json && (media.contains("xml") || media.is_empty()));
    if let Some(schema) = xml_schema {
        if body.is_empty() {
            return Ok(Output::Json(Value::Object(Map::new())));
        }
        let text = std::str::from_utf8(body).map_err(|_| ToolError::BadResponse {
            detail: "the XML answer is not UTF-8".into(),
        })?;
        let value = crate::xml::to_json(text, schema).map_err(|e| ToolError::BadResponse {
            detail: truncate(&e, 160),
        })?;
        return finish_json(tool, req, value);
    }
    if !is_json {
        let text = String::from_utf8_lossy(body).into_owned();
        return Ok(match tool.wrap {
            Some(key) => Output::Json(Value::Object(Map::from_iter([(
                key.to_string(),
                Value::String(text),
            )]))),
            None => Output::Text(text),
        });
    }
    if body.is_empty() {
        return Ok(Output::Json(Value::Object(Map::new())));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| ToolError::BadResponse {
        detail: format!("not JSON: {}", truncate(&e.to_string(), 120)),
    })?;
    finish_json(tool, req, value)
}

/// Redaction, null dropping, client-side paging and wrapping of a JSON answer.
fn finish_json(tool: &ToolSpec, req: &RequestParts, mut value: Value) -> Result<Output, ToolError> {
    for key in tool.redact {
        redact(&mut value, key);
    }
    drop_nulls(&mut value);
    if let Some(page) = req.client_page {
        apply_page(&mut value, page);
    }
    let value = match (value, tool.wrap) {
        (Value::Object(o), _) => Value::Object(o),
        (other, Some(key)) => Value::Object(Map::from_iter([(key.to_string(), other)])),
        (other, None) => Value::Object(Map::from_iter([("value".to_string(), other)])),
    };
    Ok(Output::Json(value))
}

/// Removes object members whose value is `null`: absent and null mean the same in IONOS
/// answers, and the answer gets shorter. Output schemas therefore never need `null`.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn apply_page(value: &mut Value, page: crate::request::ClientPage) {
    let slice = |items: &mut Vec<Value>| {
        let total = items.len();
        let start = page.offset.min(total);
        let end = page
            .limit
            .map_or(total, |l| start.saturating_add(l).min(total));
        *items = items[start..end].to_vec();
        total
    };
    match value {
        Value::Array(items) => {
            slice(items);
        }
        Value::Object(obj) => {
            // The list is `items`, or else the answer's only array (`tokens`, ...).
            let key = if obj.get("items").is_some_and(Value::is_array) {
                Some("items".to_string())
            } else {
                let mut arrays = obj.iter().filter(|(_, v)| v.is_array()).map(|(k, _)| k);
                match (arrays.next(), arrays.next()) {
                    (Some(k), None) => Some(k.clone()),
                    _ => None,
                }
            };
            if let Some(key) = key
                && let Some(Value::Array(items)) = obj.get_mut(&key)
            {
                let total = slice(items);
                obj.insert("offset".into(), Value::from(page.offset));
                if let Some(l) = page.limit {
                    obj.insert("limit".into(), Value::from(l));
                }
                obj.insert("total".into(), Value::from(total));
            }
        }
        _ => {}
    }
}

/// Removes every property named `key`, at any depth.
pub fn redact(value: &mut Value, key: &str) {
    match value {
        Value::Object(obj) => {
            obj.remove(key);
            for v in obj.values_mut() {
                redact(v, key);
            }
        }
        Value::Array(items) => {
            for v in items {
                redact(v, key);
            }
        }
        _ => {}
    }
}

fn expected_args(tool: &ToolSpec) -> String {
    let schema = tool.input_schema_object();
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let props = schema.get("properties").and_then(Value::as_object);
    let describe = |name: &str| {
        let ty = props
            .and_then(|p| p.get(name))
            .and_then(|s| s.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("value");
        format!("{name} ({ty})")
    };
    let req: Vec<String> = required.iter().map(|n| describe(n)).collect();
    let opt: Vec<String> = props
        .into_iter()
        .flat_map(|p| p.keys())
        .filter(|k| !required.contains(&k.as_str()))
        .map(|k| describe(k))
        .collect();
    let mut parts = Vec::new();
    if !req.is_empty() {
        parts.push(format!("required {}", req.join(", ")));
    }
    if !opt.is_empty() {
        parts.push(format!("optional {}", opt.join(", ")));
    }
    if parts.is_empty() {
        "no arguments".into()
    } else {
        parts.join("; ")
    }
}

/// "server `abc` (datacenter_id=x)" from the tool's path arguments.
fn not_found_subject(tool: &ToolSpec, req: &RequestParts) -> String {
    let placeholders: Vec<&str> = tool
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect();
    let values: Vec<String> = req
        .path
        .split('/')
        .zip(tool.path.split('/'))
        .filter(|(_, t)| t.starts_with('{'))
        .map(|(v, _)| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    match (placeholders.last(), values.last()) {
        (Some(last), Some(id)) => {
            let kind = last.trim_end_matches("Id").trim_end_matches("_id");
            let mut s = format!("{kind} `{}`", truncate(id, 80));
            if placeholders.len() > 1 {
                let parents: Vec<String> = placeholders[..placeholders.len() - 1]
                    .iter()
                    .zip(values.iter())
                    .map(|(p, v)| format!("{p} {}", truncate(v, 80)))
                    .collect();
                s.push_str(&format!(" (in {})", parents.join(", ")));
            }
            s
        }
        _ => format!("{} {}", tool.method, tool.path),
    }
}

fn list_hint(tool: &ToolSpec) -> String {
    let stem = tool.name.strip_prefix("get_").unwrap_or(tool.name);
    let candidates = [
        format!("list_{stem}s"),
        format!("list_{stem}"),
        format!("list_{}", stem.trim_end_matches('y')) + "ies",
    ];
    candidates
        .iter()
        .find(|c| tool_table::tool(c).is_some())
        .map(|c| format!(" ({c})"))
        .unwrap_or_default()
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}
