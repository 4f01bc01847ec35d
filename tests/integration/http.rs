//! The team server over real HTTP on 127.0.0.1, against the simulated account: every refusal
//! the access guard makes, per-key tool lists, rates, signatures, Host/Origin and body limits,
//! both protocol generations, revocation and rotation while the server runs, and usage.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ionos_mcp::access::guard::{Guard, GuardOptions};
use ionos_mcp::access::key::ApiKey;
use ionos_mcp::access::scopes::Scopes;
use ionos_mcp::access::signature;
use ionos_mcp::access::sqlite::SqliteStore;
use ionos_mcp::access::store::{IssuedKey, KeyStore, NewKey};
use ionos_mcp::simulator::Simulator;
use ionos_mcp::tools::dispatch::Dispatcher;
use ionos_mcp::transport::http::{self, HttpOptions};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::support::config_for;

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "ionos-mcp-test-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
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

/// The team server on a loopback port, its key database, and the simulator behind it.
pub struct TeamServer {
    pub addr: SocketAddr,
    /// Where `--metrics-addr` listens, when the setup asked for it.
    pub metrics: Option<SocketAddr>,
    pub store: Arc<SqliteStore>,
    pub db: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub sim: Simulator,
    _dir: TempDir,
}

/// What a test may change before the server starts.
pub struct Setup {
    pub config: ionos_mcp::config::Config,
    pub http: HttpOptions,
    pub guard: GuardOptions,
}

/// An HTTP answer: status, headers, and the JSON-RPC message (from JSON or server-sent events)
/// or the refusal body.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body
            .pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    fn message(&self) -> &str {
        self.body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn tool_names(&self) -> Vec<String> {
        self.body
            .pointer("/result/tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_string))
            .collect()
    }

    pub fn is_tool_success(&self) -> bool {
        self.status == StatusCode::OK
            && self.body.pointer("/result/content").is_some()
            && self.body.pointer("/result/isError") != Some(&Value::Bool(true))
    }
}

fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

/// A 2026-07-28 request body.
pub fn modern_body(method: &str, name: Option<&str>) -> Value {
    let mut params = json!({ "_meta": modern_meta() });
    if let Some(n) = name {
        params["name"] = json!(n);
        params["arguments"] = json!({});
    }
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
}

impl TeamServer {
    pub async fn start() -> TeamServer {
        TeamServer::start_with(|_| {}).await
    }

    /// A server whose configuration `tune` adjusts first.
    pub async fn start_with(tune: impl FnOnce(&mut Setup)) -> TeamServer {
        let dir = TempDir::new("http");
        let db = dir.path().join("keys.db");
        let store = Arc::new(SqliteStore::open(&db).expect("key store opens"));
        let sim = Simulator::start().await.expect("simulator starts");
        let config = config_for(&format!("http://{}", sim.addr()))
            .with_base_urls(|product| sim.base_url(product));
        let mut http = HttpOptions::new("127.0.0.1:0".parse().expect("address"));
        http.confirmations = Some(store.clone());
        let guard = GuardOptions {
            trust_proxy: Vec::new(),
            default_rate: Some(1000),
            max_body_bytes: http.max_body_bytes,
            session_idle: http.session_idle,
            usage_retention: None,
        };
        let mut setup = Setup {
            config,
            http,
            guard,
        };
        tune(&mut setup);
        let dispatcher = Arc::new(Dispatcher::new(setup.config));
        let shared: Arc<dyn KeyStore> = store.clone();
        let guard = Arc::new(Guard::new(shared, setup.guard));
        let server = http::bind(dispatcher, setup.http, Some(guard))
            .await
            .expect("server binds");
        let addr = server.local_addr().expect("bound address");
        let metrics = server.metrics_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        TeamServer {
            addr,
            metrics,
            store,
            db,
            stop: Some(stop),
            task: Some(task),
            sim,
            _dir: dir,
        }
    }

    pub async fn issue(&self, new: NewKey) -> IssuedKey {
        self.store.create(new).await.expect("key created")
    }

    pub async fn key(&self) -> String {
        self.issue(NewKey::named("test"))
            .await
            .key
            .expose()
            .to_string()
    }

    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, http::MCP_PATH)
    }

    /// Sends one POST to `/mcp` with the usual MCP headers plus `extra`.
    pub async fn post_with(
        &self,
        client: &reqwest::Client,
        key: Option<&str>,
        body: &Value,
        extra: &[(&str, String)],
    ) -> Answer {
        post_to(client, &self.url(), key, body, extra).await
    }

    pub async fn post(&self, key: Option<&str>, body: &Value) -> Answer {
        self.post_with(&reqwest::Client::new(), key, body, &[])
            .await
    }

    pub async fn call(&self, key: &str, tool: &str) -> Answer {
        self.post(Some(key), &modern_body("tools/call", Some(tool)))
            .await
    }

    pub async fn list(&self, key: &str) -> Answer {
        self.post(Some(key), &modern_body("tools/list", None)).await
    }

    /// Stops the server as SIGTERM would and waits until it has finished.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task").expect("server ends cleanly");
        }
    }
}

/// Sends one POST to an MCP endpoint with the usual MCP headers plus `extra`.
pub async fn post_to(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    body: &Value,
    extra: &[(&str, String)],
) -> Answer {
    let text = body.to_string();
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    let method = body.get("method").and_then(Value::as_str).unwrap_or("");
    let modern = body.pointer("/params/_meta").is_some();
    if modern {
        req = req
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method);
        if let Some(name) = body.pointer("/params/name").and_then(Value::as_str) {
            req = req.header("mcp-name", name);
        }
        if let Some(uri) = body.pointer("/params/uri").and_then(Value::as_str) {
            req = req.header("mcp-name", uri);
        }
    }
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    for (name, value) in extra {
        req = req.header(*name, value);
    }
    let response = req.body(text).send().await.expect("request answered");
    read(response).await
}

/// Reads an answer: JSON, or the JSON-RPC message of a server-sent event stream.
pub async fn read(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = if headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/event-stream"))
    {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|m| m.get("id").is_some())
            .unwrap_or(Value::Null)
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn assert_invalid_key(a: &Answer, says: &str) {
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{:?}", a.body);
    assert_eq!(a.code(), "invalid_api_key");
    assert_eq!(
        a.header("www-authenticate"),
        "Bearer error=\"invalid_token\""
    );
    assert_eq!(
        a.body.pointer("/error/type").and_then(Value::as_str),
        Some("authentication_error")
    );
    assert!(a.message().contains(says), "{}", a.message());
}

#[tokio::test]
async fn every_kind_of_invalid_key_gets_401() {
    let s = TeamServer::start().await;
    let list = modern_body("tools/list", None);

    let a = s.post(None, &list).await;
    assert_invalid_key(&a, "no API key");

    let a = s
        .post_with(
            &reqwest::Client::new(),
            None,
            &list,
            &[("authorization", "Basic dXNlcjpwYXNz".into())],
        )
        .await;
    assert_invalid_key(&a, "Bearer mcp_sk_");

    let a = s.post(Some("mcp_sk_short"), &list).await;
    assert_invalid_key(&a, "mcp_sk_ followed by");
    assert!(!a.message().contains("mcp_sk_short"));

    // An IONOS token is never accepted as an API key.
    let a = s
        .post(Some("eyJhbGciOiJSUzI1NiJ9.eyJ4IjoxfQ.c2ln"), &list)
        .await;
    assert_invalid_key(&a, "IONOS");

    let unknown = ApiKey::generate();
    let a = s.post(Some(unknown.expose()), &list).await;
    assert_invalid_key(&a, "unknown API key");

    let mut expiring = NewKey::named("expiring");
    expiring.expires_at = Some(ionos_mcp::access::now() + 1);
    let expiring = s.issue(expiring).await;
    assert!(s.list(expiring.key.expose()).await.status.is_success());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let a = s.list(expiring.key.expose()).await;
    assert_invalid_key(&a, "expired at 20");

    let revoked = s.issue(NewKey::named("revoked")).await;
    s.store
        .revoke(revoked.record.id.clone(), ionos_mcp::access::now())
        .await
        .expect("revoked");
    let a = s.list(revoked.key.expose()).await;
    assert_invalid_key(&a, "was revoked at");
    s.stop().await;
}

#[tokio::test]
async fn health_needs_no_key_and_tells_nothing() {
    let s = TeamServer::start().await;
    let r = reqwest::get(format!("http://{}/healthz", s.addr))
        .await
        .expect("healthz answers");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap().trim(), "ok");
    s.stop().await;
}

#[tokio::test]
async fn addresses_outside_the_allow_list_get_403_and_forwarded_for_counts_only_from_trusted_proxies()
 {
    let s = TeamServer::start_with(|s| {
        s.guard.trust_proxy = vec!["127.0.0.2/32".parse().unwrap()];
    })
    .await;
    let mut office = NewKey::named("office");
    office.allow_ips = vec!["10.0.0.0/8".parse().unwrap()];
    let office = s.issue(office).await;
    let key = office.key.expose();

    let a = s.list(key).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.code(), "ip_not_allowed");
    assert!(a.message().contains("127.0.0.1"), "{}", a.message());

    // From an untrusted peer, X-Forwarded-For is ignored.
    let list = modern_body("tools/list", None);
    let forwarded = [("x-forwarded-for", "10.1.2.3".to_string())];
    let a = s
        .post_with(&reqwest::Client::new(), Some(key), &list, &forwarded)
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    // From the trusted proxy, it names the client.
    let via_proxy = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let a = s.post_with(&via_proxy, Some(key), &list, &forwarded).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let a = s
        .post_with(
            &via_proxy,
            Some(key),
            &list,
            &[("x-forwarded-for", "192.168.1.1".to_string())],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    s.stop().await;
}

#[tokio::test]
async fn tools_list_shows_a_key_only_its_scopes_and_other_calls_get_403() {
    let s = TeamServer::start().await;
    let full = s.key().await;
    let mut dns = NewKey::named("dns reader");
    dns.scopes = Scopes::parse("dns:read").unwrap();
    let dns = s.issue(dns).await;
    let dns_key = dns.key.expose();

    let all = s.list(&full).await.tool_names();
    let mine = s.list(dns_key).await.tool_names();
    assert!(all.len() > 100, "{}", all.len());
    assert!(!mine.is_empty());
    assert!(mine.len() < 20, "{mine:?}");
    for name in &mine {
        let tool = ionos_mcp::tools::table::tool(name).expect("a generated tool");
        assert_eq!(tool.product().family, "dns", "{name}");
    }

    let a = s.call(dns_key, "list_datacenters").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.code(), "insufficient_scope");
    assert_eq!(
        a.header("www-authenticate"),
        "Bearer error=\"insufficient_scope\", scope=\"compute:read\""
    );
    assert!(a.message().contains("compute:read"), "{}", a.message());

    // A resource of another product is refused the same way.
    let read_focus = json!({"jsonrpc": "2.0", "id": 3, "method": "resources/read",
        "params": {"uri": "ionos://billing/focus-v1.3", "_meta": modern_meta()}});
    let a = s.post(Some(dns_key), &read_focus).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.header("www-authenticate").contains("billing:read"));

    // A call the guard cannot read for certain is refused, not passed on unchecked.
    let meta = modern_meta();
    for (body, status, code) in [
        (
            format!(
                r#"{{"jsonrpc":"2.0","id":4,"method":"tools/list","method":"tools/call","params":{{"name":"list_datacenters","_meta":{meta}}}}}"#
            ),
            StatusCode::BAD_REQUEST,
            "invalid_json_rpc",
        ),
        (
            format!(
                r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"list_datacenters","uri":5,"_meta":{meta}}}}}"#
            ),
            StatusCode::FORBIDDEN,
            "insufficient_scope",
        ),
        (
            "not json".to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_json_rpc",
        ),
    ] {
        let response = reqwest::Client::new()
            .post(s.url())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("authorization", format!("Bearer {dns_key}"))
            .body(body.clone())
            .send()
            .await
            .expect("answered");
        let a = read(response).await;
        assert_eq!(a.status, status, "{body}: {:?}", a.body);
        assert_eq!(a.code(), code, "{body}");
    }

    let a = s.call(dns_key, "list_dns_zones").await;
    assert!(a.is_tool_success(), "{:?}", a.body);
    let a = s.call(&full, "list_datacenters").await;
    assert!(a.is_tool_success(), "{:?}", a.body);
    s.stop().await;
}

#[tokio::test]
async fn a_key_over_its_rate_gets_429_with_retry_after_and_housekeeping_is_not_counted() {
    let s = TeamServer::start().await;
    let mut slow = NewKey::named("slow");
    slow.rate_per_min = Some(3);
    let slow = s.issue(slow).await;
    let key = slow.key.expose();
    for _ in 0..5 {
        assert_eq!(s.list(key).await.status, StatusCode::OK);
    }
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let a = s.call(key, "get_billing_profile").await;
        assert!(a.is_tool_success(), "{:?}", a.body);
        remaining.push(a.header("ratelimit-remaining").to_string());
    }
    // The window may roll over between calls; the count within one window is what matters.
    let a = s.call(key, "get_billing_profile").await;
    if a.status == StatusCode::OK {
        // A new minute began during the test: the next three are still limited the same way.
        for _ in 0..2 {
            s.call(key, "get_billing_profile").await;
        }
        let a = s.call(key, "get_billing_profile").await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
        return;
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.code(), "rate_limit_exceeded");
    let retry: u64 = a
        .header("retry-after")
        .parse()
        .expect("Retry-After seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(a.header("ratelimit-limit"), "3");
    assert_eq!(a.header("ratelimit-remaining"), "0");
    assert!(!a.header("ratelimit-reset").is_empty());
    // Lists still work while tool calls are refused.
    assert_eq!(s.list(key).await.status, StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn repeated_bad_keys_from_one_address_are_slowed_down_and_others_are_not() {
    let s = TeamServer::start().await;
    let good = s.key().await;
    let list = modern_body("tools/list", None);
    let bad = ApiKey::generate();
    for _ in 0..10 {
        let a = s.post(Some(bad.expose()), &list).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let a = s.post(Some(bad.expose()), &list).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.code(), "too_many_failed_attempts");
    assert!(!a.header("retry-after").is_empty());
    let other = reqwest::Client::builder()
        .local_address("127.0.0.3".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let a = s.post_with(&other, Some(&good), &list, &[]).await;
    assert_eq!(a.status, StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn signatures_good_bad_stale_and_replayed() {
    let s = TeamServer::start().await;
    let mut signed = NewKey::named("robot");
    signed.require_signature = true;
    let signed = s.issue(signed).await;
    let key = &signed.key;
    let client = reqwest::Client::new();
    let body = modern_body("tools/list", None);
    let bytes = body.to_string();
    let now = ionos_mcp::access::now();
    let headers = |ts: i64, sig: String| {
        vec![
            ("x-mcp-timestamp", ts.to_string()),
            ("x-mcp-signature", sig),
        ]
    };

    let a = s.post(Some(key.expose()), &body).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.code(), "invalid_signature");
    assert!(a.message().contains("X-MCP-"), "{}", a.message());

    let good = headers(now, signature::sign(key, now, bytes.as_bytes()));
    let a = s.post_with(&client, Some(key.expose()), &body, &good).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);

    let a = s.post_with(&client, Some(key.expose()), &body, &good).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "a replay is refused");
    assert_eq!(a.code(), "invalid_signature");

    let wrong = headers(now, signature::sign(key, now, b"another body"));
    let a = s
        .post_with(&client, Some(key.expose()), &body, &wrong)
        .await;
    assert_eq!(a.code(), "invalid_signature");

    let stale_at = now - 301;
    let stale = headers(stale_at, signature::sign(key, stale_at, bytes.as_bytes()));
    let a = s
        .post_with(&client, Some(key.expose()), &body, &stale)
        .await;
    assert_eq!(a.code(), "invalid_signature");
    assert!(!a.message().contains(key.expose()));

    // A key that need not sign may, and its signature is then checked.
    let free = s.issue(NewKey::named("free")).await;
    let a = s.post(Some(free.key.expose()), &body).await;
    assert_eq!(a.status, StatusCode::OK);
    let bad = headers(now, "00".repeat(32));
    let a = s
        .post_with(&client, Some(free.key.expose()), &body, &bad)
        .await;
    assert_eq!(a.code(), "invalid_signature");
    s.stop().await;
}

#[tokio::test]
async fn foreign_origin_foreign_host_and_oversized_bodies_are_refused() {
    let s = TeamServer::start_with(|s| {
        s.http.max_body_bytes = 4096;
        s.guard.max_body_bytes = 4096;
    })
    .await;
    let key = s.key().await;
    let list = modern_body("tools/list", None);
    let client = reqwest::Client::new();
    let a = s
        .post_with(
            &client,
            Some(&key),
            &list,
            &[("origin", "https://evil.example".into())],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = s
        .post_with(
            &client,
            Some(&key),
            &list,
            &[("origin", format!("http://localhost:{}", s.addr.port()))],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "a loopback page is allowed");
    let a = s
        .post_with(
            &client,
            Some(&key),
            &list,
            &[("host", "evil.example".into())],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let mut big = modern_body("tools/call", Some("list_datacenters"));
    big["params"]["arguments"] = json!({ "filter": "x".repeat(5000) });
    let a = s.post(Some(&key), &big).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.code(), "body_too_large");
    s.stop().await;
}

/// Opens a 2025-11-25 session; returns its id.
async fn initialize_legacy(s: &TeamServer, key: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}});
    let a = s.post(Some(key), &init).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(
        a.body
            .pointer("/result/protocolVersion")
            .and_then(Value::as_str),
        Some("2025-11-25")
    );
    let session = a.header("mcp-session-id").to_string();
    assert!(!session.is_empty());
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let a = s
        .post_with(
            &reqwest::Client::new(),
            Some(key),
            &initialized,
            &legacy_headers(&session),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    session
}

pub fn legacy_headers(session: &str) -> Vec<(&'static str, String)> {
    vec![
        ("mcp-session-id", session.to_string()),
        ("mcp-protocol-version", "2025-11-25".into()),
    ]
}

#[tokio::test]
async fn both_protocol_generations_and_sessions_bound_to_their_key() {
    let s = TeamServer::start().await;
    let alice = s.key().await;
    let bob = s.key().await;
    let client = reqwest::Client::new();

    // 2026-07-28: stateless, no session.
    let a = s.call(&alice, "list_datacenters").await;
    assert!(a.is_tool_success(), "{:?}", a.body);
    assert!(a.headers.get("mcp-session-id").is_none());

    // 2025-11-25: a session, usable by the key that opened it only.
    let session = initialize_legacy(&s, &alice).await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let a = s
        .post_with(&client, Some(&alice), &list, &legacy_headers(&session))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.tool_names().len() > 100);
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "list_datacenters", "arguments": {}}});
    let a = s
        .post_with(&client, Some(&alice), &call, &legacy_headers(&session))
        .await;
    assert!(a.is_tool_success(), "{:?}", a.body);

    let a = s
        .post_with(&client, Some(&bob), &list, &legacy_headers(&session))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.code(), "session_key_mismatch");

    // A session the server does not know: 404, so the client starts a new one.
    let a = s
        .post_with(
            &client,
            Some(&alice),
            &list,
            &legacy_headers("made-up-session"),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.code(), "session_not_found");

    // Ended by its client: gone for everyone.
    let ended = client
        .delete(s.url())
        .header("authorization", format!("Bearer {alice}"))
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("DELETE answered");
    assert!(ended.status().is_success(), "{}", ended.status());
    let a = s
        .post_with(&client, Some(&alice), &list, &legacy_headers(&session))
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn revocation_from_the_cli_is_refused_by_a_running_server_within_a_second() {
    let s = TeamServer::start().await;
    let issued = s.issue(NewKey::named("leaver")).await;
    let key = issued.key.expose();
    assert_eq!(s.list(key).await.status, StatusCode::OK);
    let out = binary()
        .args(["keys", "revoke", &issued.record.id, "--db"])
        .arg(&s.db)
        .output()
        .expect("binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let a = s.list(key).await;
    assert_invalid_key(&a, "revoked");
    s.stop().await;
}

#[tokio::test]
async fn a_rotated_key_works_through_its_grace_period_then_not() {
    let s = TeamServer::start().await;
    let old = s.issue(NewKey::named("ci")).await;
    let (replaced, new) = s
        .store
        .rotate(old.record.id.clone(), 2)
        .await
        .expect("rotated");
    assert_eq!(replaced.rotated_to.as_deref(), Some(new.record.id.as_str()));
    assert_eq!(s.list(old.key.expose()).await.status, StatusCode::OK);
    assert_eq!(s.list(new.key.expose()).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let a = s.list(old.key.expose()).await;
    assert_invalid_key(&a, "rotated");
    assert_eq!(s.list(new.key.expose()).await.status, StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn usage_is_recorded_per_key_and_tool_and_kept_on_shutdown() {
    let s = TeamServer::start().await;
    let mut limited = NewKey::named("usage");
    limited.rate_per_min = Some(4);
    let issued = s.issue(limited).await;
    let key = issued.key.expose();
    for _ in 0..3 {
        assert!(s.call(key, "get_billing_profile").await.is_tool_success());
    }
    let bad = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
        "name": "get_datacenter", "arguments": {"datacenter_id": "no-such-dc"},
        "_meta": modern_meta()}});
    let a = s.post(Some(key), &bad).await;
    assert_eq!(
        a.body.pointer("/result/isError"),
        Some(&Value::Bool(true)),
        "{:?}",
        a.body
    );
    let refused = s.call(key, "get_billing_profile").await;
    let store = s.store.clone();
    let id = issued.record.id.clone();
    s.stop().await;

    let report = store
        .usage(Some(id.clone()), ionos_mcp::access::now() - 3600)
        .await
        .expect("usage");
    let calls = |tool: &str| {
        report
            .per_tool
            .iter()
            .find(|t| t.tool == tool)
            .map(|t| (t.calls, t.errors))
    };
    if refused.status == StatusCode::TOO_MANY_REQUESTS {
        assert_eq!(report.rate_limited, 1);
        assert_eq!(calls("get_billing_profile"), Some((4, 1)));
    }
    assert_eq!(calls("get_datacenter"), Some((1, 1)));
    assert!(report.requests >= 5);
    assert!(report.last_used_at.is_some());
    assert_eq!(report.last_used_ip.as_deref(), Some("127.0.0.1"));
    let listed = store.get(id).await.expect("key");
    assert_eq!(listed.last_used_ip.as_deref(), Some("127.0.0.1"));
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn binary() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ionos-mcp"));
    c.env_remove("IONOS_TOKEN")
        .env_remove("IONOS_MCP_DB")
        .env_remove("IONOS_MCP_TRANSPORT")
        .envs(crate::support::empty_home());
    c
}

#[test]
fn the_http_server_never_runs_open_by_accident() {
    let dir = TempDir::new("open");
    let db = dir.path().join("keys.db");
    let out = binary()
        .args(["--demo", "serve", "--transport", "http", "--db"])
        .arg(&db)
        .args(["--http-addr", &format!("127.0.0.1:{}", free_port())])
        .output()
        .expect("binary runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no usable API key"), "{err}");
    assert!(err.contains("ionos-mcp keys create --name admin"), "{err}");

    let out = binary()
        .args(["--demo", "serve", "--transport", "http", "--no-auth"])
        .args(["--http-addr", "0.0.0.0:0"])
        .output()
        .expect("binary runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("only on a loopback address"), "{err}");
}

#[tokio::test]
async fn no_key_and_no_key_hash_reach_stderr_even_at_trace_level() {
    let dir = TempDir::new("trace");
    let db = dir.path().join("keys.db");
    let created = binary()
        .args(["keys", "create", "--name", "traced", "--json", "--db"])
        .arg(&db)
        .output()
        .expect("binary runs");
    assert!(created.status.success());
    let created: Value = serde_json::from_slice(&created.stdout).expect("JSON");
    let key = created["key"].as_str().expect("the key").to_string();
    let parsed = ApiKey::parse(&key).expect("a valid key");
    let hash = parsed.hash().to_hex();
    let port = free_port();
    let stderr_path = dir.path().join("stderr");
    let mut child = binary()
        .args(["--demo", "serve", "--transport", "http", "--db"])
        .arg(&db)
        .args(["--http-addr", &format!("127.0.0.1:{port}")])
        .env("IONOS_MCP_LOG", "trace")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("server starts");
    let url = format!("http://127.0.0.1:{port}/mcp");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the server answers /healthz");
    let now = ionos_mcp::access::now();
    for (k, signed) in [
        (key.as_str(), false),
        (key.as_str(), true),
        (&key[..30], false),
    ] {
        let body = modern_body("tools/call", Some("list_datacenters")).to_string();
        let mut req = client
            .post(&url)
            .header("authorization", format!("Bearer {k}"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "list_datacenters");
        if signed {
            req = req
                .header("x-mcp-timestamp", now.to_string())
                .header("x-mcp-signature", signature::sign(&parsed, now, b"other"));
        }
        let r = req.body(body).send().await.expect("answered");
        let _ = r.text().await;
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = child.wait().expect("server exits");
    assert!(exit.success(), "SIGTERM ends the server cleanly: {exit}");
    let log = std::fs::read_to_string(&stderr_path).expect("stderr");
    assert!(
        log.len() > 1000,
        "trace logging was on: {} bytes",
        log.len()
    );
    let secret_part = &key[ionos_mcp::access::key::KEY_PREFIX.len() + 5..];
    assert!(!log.contains(secret_part), "the key is in the log");
    assert!(!log.contains(&key[..30]), "part of the key is in the log");
    assert!(!log.contains(&hash), "the key's hash is in the log");
    assert!(
        !log.contains(&hash[..16]),
        "part of the key's hash is in the log"
    );
}

#[tokio::test]
async fn no_key_reaches_past_what_the_server_serves_and_keys_never_go_to_ionos() {
    let s = TeamServer::start_with(|s| {
        s.config.toolsets = Some(vec!["dns".to_string()]);
    })
    .await;
    let key = s.key().await;
    let names = s.list(&key).await.tool_names();
    assert!(!names.is_empty());
    assert!(names.iter().all(|n| n.contains("dns")), "{names:?}");
    assert!(!names.iter().any(|n| n == "start_server"));
    let a = s.call(&key, "list_datacenters").await;
    assert_eq!(a.body.pointer("/result/isError"), Some(&Value::Bool(true)));
    let a = s.call(&key, "start_server").await;
    assert_eq!(a.body.pointer("/result/isError"), Some(&Value::Bool(true)));
    assert!(s.call(&key, "list_dns_zones").await.is_tool_success());
    let sent = s.sim.requests();
    assert!(!sent.is_empty());
    for r in &sent {
        let auth = r.authorization.as_deref().unwrap_or("");
        assert!(
            !auth.contains("mcp_sk_"),
            "an API key went to IONOS: {}",
            r.path
        );
        assert!(
            auth.contains(ionos_mcp::simulator::DEMO_TOKEN),
            "{}",
            r.path
        );
    }
    s.stop().await;
}

/// An upstream that answers every request after `delay`.
pub async fn slow_upstream(delay: Duration) -> SlowUpstream {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let reached = Arc::new(AtomicUsize::new(0));
    let counter = reached.clone();
    let app = axum::Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(delay).await;
            (
                [("content-type", "application/json")],
                json!({"id": "datacenters", "items": []}).to_string(),
            )
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    SlowUpstream {
        url: format!("http://{addr}"),
        reached,
    }
}

/// An upstream that answers after a delay, counting the requests that reached it.
pub struct SlowUpstream {
    pub url: String,
    reached: Arc<AtomicUsize>,
}

impl SlowUpstream {
    /// Waits (up to 10 s) until `n` requests have reached the upstream: a call is then in
    /// flight past the server's checks, however slow the machine.
    pub async fn reached(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.reached.load(Ordering::SeqCst) < n {
            assert!(
                Instant::now() < deadline,
                "{n} requests never reached the upstream"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test]
async fn on_shutdown_calls_in_flight_finish_and_new_connections_are_refused() {
    let origin = slow_upstream(Duration::from_millis(1500)).await;
    let s = TeamServer::start_with(|s| {
        s.config = config_for(&origin.url);
    })
    .await;
    let key = s.key().await;
    let url = s.url();
    let body = modern_body("tools/call", Some("list_datacenters"));
    let in_flight = {
        let key = key.clone();
        let body = body.clone();
        tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(&url)
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/call")
                .header("mcp-name", "list_datacenters")
                .body(body.to_string())
                .send()
                .await
                .expect("answered");
            read(r).await
        })
    };
    origin.reached(1).await;
    let addr = s.addr;
    s.stop().await;
    let a = in_flight.await.expect("the call task");
    assert!(
        a.is_tool_success(),
        "the call in flight finished: {:?}",
        a.body
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the server stopped listening"
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TeamServer::start_with(|s| {
        s.http.header_read_timeout = Duration::from_millis(500);
    })
    .await;
    let mut tcp = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    tcp.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .expect("write");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection was closed by the server");
    s.stop().await;
}

/// The value of the sample `series` (name and labels as rendered) in a metrics text.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_need_an_admin_key_on_the_mcp_address_and_none_on_their_own() {
    let s = TeamServer::start_with(|s| {
        s.http.metrics_addr = Some("127.0.0.1:0".parse().expect("address"));
    })
    .await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/metrics", s.addr);
    let get = |key: Option<String>| {
        let mut req = client.get(&url);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        async move { req.send().await.expect("answered") }
    };

    let r = get(None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let mut reader = NewKey::named("reader");
    reader.scopes = Scopes::parse("read").expect("scopes");
    let reader = s.issue(reader).await;
    let r = get(Some(reader.key.expose().to_string())).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"insufficient_scope\", scope=\"admin\""
    );

    // Traffic to count: a tool call, a tool error, a refusal of the rate.
    let mut limited = NewKey::named("limited");
    limited.rate_per_min = Some(1);
    let limited = s.issue(limited).await;
    let key = limited.key.expose();
    assert!(s.call(key, "list_datacenters").await.is_tool_success());
    let second = s.call(key, "list_datacenters").await;

    let mut admin = NewKey::named("monitoring");
    admin.scopes = Scopes::parse("admin").expect("scopes");
    let admin = s.issue(admin).await;
    let r = get(Some(admin.key.expose().to_string())).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.expect("text");
    assert!(
        sample(
            &text,
            "ionos_mcp_tool_calls_total{tool=\"list_datacenters\",outcome=\"ok\"}"
        ) >= 1.0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            "ionos_mcp_http_requests_total{path=\"/mcp\",status=\"200\"}"
        ) >= 1.0
    );
    assert!(
        sample(
            &text,
            "ionos_mcp_http_requests_total{path=\"/metrics\",status=\"401\"}"
        ) >= 1.0
    );
    assert!(sample(&text, "ionos_mcp_http_request_duration_seconds_count") >= 2.0);
    assert!(
        sample(
            &text,
            "ionos_mcp_upstream_request_duration_seconds_count{product=\"compute\"}"
        ) >= 1.0,
        "{text}"
    );
    if second.status == StatusCode::TOO_MANY_REQUESTS {
        assert!(sample(&text, "ionos_mcp_rate_limited_total{limit=\"calls\"}") >= 1.0);
    }
    assert!(text.contains("# TYPE ionos_mcp_db_errors_total counter"));
    assert!(!text.contains("mcp_sk_"), "no key material in the metrics");

    // The key with every scope may read them too; the separate address needs no key.
    let everything = s.key().await;
    assert_eq!(get(Some(everything)).await.status(), StatusCode::OK);
    let own = s.metrics.expect("metrics address");
    let r = reqwest::get(format!("http://{own}/metrics"))
        .await
        .expect("answered");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .expect("text")
            .contains("ionos_mcp_tool_calls_total")
    );
    // It serves the metrics only.
    let r = reqwest::get(format!("http://{own}/mcp"))
        .await
        .expect("answered");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    s.stop().await;
}
