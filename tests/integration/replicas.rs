//! Several replicas on one PostgreSQL database: two server processes (the built binary) share
//! the per-key rate, see a revocation or rotation made with the CLI within a second, refuse a
//! signature already used on the other, add their usage up, and honour, once, a confirmation
//! given through the other; a replica that loses the database mid-run refuses with 503, lets
//! calls in flight finish, keeps their usage and writes it when the database returns, and
//! recovers by itself (a TCP proxy in the test is cut, as a network fault would cut it).
//!
//! These tests need `IONOS_MCP_TEST_POSTGRES` (a PostgreSQL URL whose user may create
//! databases; `.ci/run` starts a server and sets it) and are skipped, saying so, without it.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ionos_mcp::access::backend::{self, Location};
use ionos_mcp::access::guard::{Guard, GuardOptions};
use ionos_mcp::access::signature;
use ionos_mcp::access::store::NewKey;
use ionos_mcp::tools::dispatch::Dispatcher;
use ionos_mcp::transport::http::{self as transport, HttpOptions};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::http::{
    Answer, TempDir, free_port, legacy_headers, modern_body, post_to, read, slow_upstream,
};
use crate::support::config_for;

const POSTGRES_VAR: &str = "IONOS_MCP_TEST_POSTGRES";

/// A database of the test's own on the server `IONOS_MCP_TEST_POSTGRES` names, dropped with it.
struct TestDatabase {
    url: String,
    admin_url: String,
    name: String,
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_VAR} cannot be reached: {e}"));
    tokio::spawn(connection);
    client
}

impl TestDatabase {
    async fn create(tag: &str) -> Option<TestDatabase> {
        let Some(admin_url) = std::env::var(POSTGRES_VAR).ok().filter(|v| !v.is_empty()) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI runs the PostgreSQL tests: .ci/run must set {POSTGRES_VAR}"
            );
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "note: the replica tests on PostgreSQL are skipped: {POSTGRES_VAR} is not set \
                     (a PostgreSQL URL whose user may create databases; .ci/run sets it)"
                );
            });
            return None;
        };
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "ionos_mcp_it_{tag}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        connect(&admin_url)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create {name}: {e:?}"));
        Some(TestDatabase {
            url: ionos_mcp::access::backend::with_database(&admin_url, &name),
            admin_url,
            name,
        })
    }

    /// The database's URL on another port (a proxy's).
    fn via_port(&self, port: u16) -> String {
        let (main, query) = match self.url.find('?') {
            Some(q) => self.url.split_at(q),
            None => (self.url.as_str(), ""),
        };
        let at = main
            .rfind('@')
            .map_or(main.find("://").map_or(0, |i| i + 3), |i| i + 1);
        let host_end = at + main[at..].find('/').unwrap_or(main.len() - at);
        let host = &main[at..host_end];
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        format!("{}{host}:{port}{}{query}", &main[..at], &main[host_end..])
    }

    /// The server's address, for the proxy.
    fn server_addr(&self) -> SocketAddr {
        let config: tokio_postgres::Config = self.url.parse().expect("a URL");
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".to_string(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let host = if host == "localhost" {
            "127.0.0.1".to_string()
        } else {
            host
        };
        format!("{host}:{port}").parse().expect("a TCP address")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
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

fn binary() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ionos-mcp"));
    c.env_remove("IONOS_TOKEN")
        .env_remove("IONOS_MCP_DB")
        .env_remove("IONOS_MCP_TRANSPORT")
        .env_remove("IONOS_MCP_METRICS_ADDR");
    c
}

/// Runs `ionos-mcp keys …` on `db` and returns its JSON answer.
fn keys(db: &str, args: &[&str]) -> Value {
    let out = binary()
        .arg("keys")
        .args(args)
        .args(["--json", "--db", db])
        .output()
        .expect("binary runs");
    assert!(
        out.status.success(),
        "keys {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// A server process, stopped (SIGTERM) and waited for when dropped.
struct Replica {
    child: Child,
    url: String,
    _dir: TempDir,
    stderr: std::path::PathBuf,
}

impl Replica {
    async fn start(db: &str) -> Replica {
        Replica::start_with(db, &[]).await
    }

    /// A replica with `env` set in its environment.
    async fn start_with(db: &str, env: &[(&str, &str)]) -> Replica {
        let dir = TempDir::new("replica");
        let port = free_port();
        let stderr = dir.path().join("stderr");
        let child = binary()
            .envs(env.iter().copied())
            .args(["--demo", "serve", "--transport", "http", "--db", db])
            .args(["--http-addr", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("server starts");
        let replica = Replica {
            child,
            url: format!("http://127.0.0.1:{port}{}", transport::MCP_PATH),
            _dir: dir,
            stderr,
        };
        let health = format!("http://127.0.0.1:{port}/healthz");
        // reqwest is built without a default TLS provider: the one the server installs.
        ionos_mcp::upstream::init_tls();
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while client.get(&health).send().await.is_err() {
            assert!(
                Instant::now() < deadline,
                "the replica did not start: {}",
                replica.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        replica
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    async fn call(&self, client: &reqwest::Client, key: &str, tool: &str) -> Answer {
        post_to(
            client,
            &self.url,
            Some(key),
            &modern_body("tools/call", Some(tool)),
            &[],
        )
        .await
    }

    async fn list(&self, client: &reqwest::Client, key: &str) -> Answer {
        post_to(
            client,
            &self.url,
            Some(key),
            &modern_body("tools/list", None),
            &[],
        )
        .await
    }

    /// Stops it as SIGTERM would and waits, so its pending usage is written.
    fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while let Ok(None) = self.child.try_wait() {
                if Instant::now() > deadline {
                    let _ = self.child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Seconds into the current minute.
fn second_of_minute() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() % 60)
        .unwrap_or(0)
}

fn minute() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 60)
        .unwrap_or(0)
}

/// Waits until every replica refuses `key` with 401, and returns how long that took.
async fn until_refused_by_all(replicas: &[&Replica], key: &str) -> Duration {
    let client = reqwest::Client::new();
    let started = Instant::now();
    for replica in replicas {
        loop {
            let a = replica.list(&client, key).await;
            if a.status == StatusCode::UNAUTHORIZED {
                break;
            }
            assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "still accepted after 5 s"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    started.elapsed()
}

#[tokio::test]
async fn two_replicas_share_the_rate_revocations_signatures_and_usage() {
    let Some(db) = TestDatabase::create("replicas").await else {
        return;
    };
    // The first key: the database is migrated by the CLI, the replicas then start at once.
    let rated = keys(&db.url, &["create", "--name", "rated", "--rate", "60/min"]);
    let rated_key = rated["key"].as_str().expect("key").to_string();
    let rated_id = rated["id"].as_str().expect("id").to_string();
    let (a, b) = tokio::join!(Replica::start(&db.url), Replica::start(&db.url));
    let client = reqwest::Client::new();

    // 90 calls of a key rated 60/min, alternating between the replicas, 6 at a time, within
    // one minute window: 60 get through in all.
    if second_of_minute() > 40 {
        tokio::time::sleep(Duration::from_secs(61 - second_of_minute())).await;
    }
    let window = minute();
    let ok = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let per_replica = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let next = Arc::new(AtomicUsize::new(0));
    let urls = [a.url.clone(), b.url.clone()];
    let mut workers = Vec::new();
    for _ in 0..6 {
        let (ok, refused, per_replica, next) = (
            ok.clone(),
            refused.clone(),
            per_replica.clone(),
            next.clone(),
        );
        let (urls, key, client) = (urls.clone(), rated_key.clone(), client.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= 90 {
                    return;
                }
                let body = modern_body("tools/call", Some("list_datacenters"));
                let answer = post_to(&client, &urls[i % 2], Some(&key), &body, &[]).await;
                match answer.status {
                    StatusCode::OK => {
                        assert!(answer.is_tool_success(), "{:?}", answer.body);
                        ok.fetch_add(1, Ordering::SeqCst);
                        per_replica[i % 2].fetch_add(1, Ordering::SeqCst);
                    }
                    StatusCode::TOO_MANY_REQUESTS => {
                        assert_eq!(answer.code(), "rate_limit_exceeded");
                        refused.fetch_add(1, Ordering::SeqCst);
                    }
                    other => panic!("{other}: {:?}", answer.body),
                }
            }
        }));
    }
    for worker in workers {
        worker.await.expect("worker");
    }
    assert_eq!(
        minute(),
        window,
        "the calls stayed within one minute window"
    );
    let ok = ok.load(Ordering::SeqCst);
    eprintln!(
        "rate 60/min over two replicas: {ok} allowed ({} on A, {} on B), {} refused",
        per_replica[0].load(Ordering::SeqCst),
        per_replica[1].load(Ordering::SeqCst),
        refused.load(Ordering::SeqCst)
    );
    assert!((58..=62).contains(&ok), "{ok} calls allowed in all");
    assert_eq!(ok + refused.load(Ordering::SeqCst), 90);
    assert!(per_replica[0].load(Ordering::SeqCst) > 0 && per_replica[1].load(Ordering::SeqCst) > 0);

    // A revocation made with the CLI is refused by both replicas within a second.
    let leaver = keys(&db.url, &["create", "--name", "leaver"]);
    let leaver_key = leaver["key"].as_str().expect("key");
    for r in [&a, &b] {
        assert_eq!(r.list(&client, leaver_key).await.status, StatusCode::OK);
    }
    keys(&db.url, &["revoke", leaver["id"].as_str().expect("id")]);
    let took = until_refused_by_all(&[&a, &b], leaver_key).await;
    eprintln!("revocation refused by both replicas after {took:?}");
    assert!(took <= Duration::from_secs(1), "{took:?}");

    // So is the old key of a rotation without grace; the new one works on both.
    let old = keys(&db.url, &["create", "--name", "rotated"]);
    let old_key = old["key"].as_str().expect("key");
    for r in [&a, &b] {
        assert_eq!(r.list(&client, old_key).await.status, StatusCode::OK);
    }
    let rotated = keys(
        &db.url,
        &["rotate", old["id"].as_str().expect("id"), "--grace", "0s"],
    );
    let took = until_refused_by_all(&[&a, &b], old_key).await;
    eprintln!("rotated key refused by both replicas after {took:?}");
    assert!(took <= Duration::from_secs(1), "{took:?}");
    let new_key = rotated["key"].as_str().expect("key");
    for r in [&a, &b] {
        assert!(
            r.call(&client, new_key, "list_datacenters")
                .await
                .is_tool_success()
        );
    }

    // A signature used on one replica is refused on the other.
    let robot = keys(
        &db.url,
        &["create", "--name", "robot", "--require-signature"],
    );
    let robot_key =
        ionos_mcp::access::key::ApiKey::parse(robot["key"].as_str().expect("key")).expect("a key");
    let body = modern_body("tools/list", None);
    let now = ionos_mcp::access::now();
    let signed = vec![
        ("x-mcp-timestamp", now.to_string()),
        (
            "x-mcp-signature",
            signature::sign(&robot_key, now, body.to_string().as_bytes()),
        ),
    ];
    let first = post_to(&client, &a.url, Some(robot_key.expose()), &body, &signed).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let replayed = post_to(&client, &b.url, Some(robot_key.expose()), &body, &signed).await;
    assert_eq!(replayed.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replayed.code(), "invalid_signature");

    // A 2025-11-25 session lives on the replica that opened it; the other answers 404, so
    // the client starts a new session (what the README tells load balancers).
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}});
    let opened = post_to(&client, &a.url, Some(new_key), &init, &[]).await;
    assert_eq!(opened.status, StatusCode::OK);
    let session = opened.header("mcp-session-id").to_string();
    assert!(!session.is_empty());
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let elsewhere = post_to(
        &client,
        &b.url,
        Some(new_key),
        &list,
        &legacy_headers(&session),
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    assert_eq!(elsewhere.code(), "session_not_found");

    // Usage from both replicas adds up in the one database.
    a.stop();
    b.stop();
    let usage = keys(&db.url, &["usage", &rated_id, "--since", "1h"]);
    assert_eq!(usage["requests"], 90, "{usage}");
    assert_eq!(
        usage["rate_limited"].as_u64(),
        Some(90 - ok as u64),
        "{usage}"
    );
}

/// A 2026-07-28 `tools/call` of `tool` with `args`, from a client that declares form
/// elicitation when `form`.
fn power_call(tool: &str, args: &Value, form: bool) -> Value {
    let capabilities = if form {
        json!({"elicitation": {"form": {}}})
    } else {
        json!({})
    };
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": capabilities,
        },
        "name": tool,
        "arguments": args,
    }})
}

/// A data center and two of its running servers in the demo account.
const PROD: &str = "b5634021-a867-4b94-a0ff-eafb37fd3e19";
const WEB01: &str = "f08daf45-aff9-46b7-8327-9da5be749620";
const WEB02: &str = "12162318-0bc5-411c-b04a-496db641b374";

#[tokio::test]
async fn a_confirmation_given_through_one_replica_is_honoured_once_by_the_other() {
    let Some(db) = TestDatabase::create("confirm").await else {
        return;
    };
    let ops = keys(&db.url, &["create", "--name", "ops"]);
    let key = ops["key"].as_str().expect("key").to_string();
    let other = keys(&db.url, &["create", "--name", "other"]);
    let other_key = other["key"].as_str().expect("key").to_string();
    let destructive = [("IONOS_MCP_TOOL_SCOPE", "destructive")];
    let (a, b) = tokio::join!(
        Replica::start_with(&db.url, &destructive),
        Replica::start_with(&db.url, &destructive)
    );
    let client = reqwest::Client::new();

    // A preview with a token from A.
    let args = json!({"datacenter_id": PROD, "server_id": WEB01});
    let preview = post_to(
        &client,
        &a.url,
        Some(&key),
        &power_call("stop_server", &args, false),
        &[],
    )
    .await;
    let token = preview
        .body
        .pointer("/result/structuredContent/confirmation_token")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("a preview with a token: {:?}", preview.body))
        .to_string();
    let mut confirmed = args.clone();
    confirmed["confirmation_token"] = json!(token);
    let confirmed = power_call("stop_server", &confirmed, false);

    // B refuses it to another key, and carries it out for the key it was issued to, once.
    let refused = post_to(&client, &b.url, Some(&other_key), &confirmed, &[]).await;
    assert_eq!(
        refused.body.pointer("/result/isError"),
        Some(&json!(true)),
        "{:?}",
        refused.body
    );
    assert!(
        refused.body.to_string().contains("not issued to you"),
        "{:?}",
        refused.body
    );
    let done = post_to(&client, &b.url, Some(&key), &confirmed, &[]).await;
    assert_eq!(
        done.body.pointer("/result/structuredContent/status"),
        Some(&json!("DONE")),
        "{:?}",
        done.body
    );
    for replica in [&a, &b] {
        let again = post_to(&client, &replica.url, Some(&key), &confirmed, &[]).await;
        assert_eq!(
            again.body.pointer("/result/isError"),
            Some(&json!(true)),
            "{:?}",
            again.body
        );
        assert!(
            again.body.to_string().contains("already used"),
            "{:?}",
            again.body
        );
    }

    // A sealed MRTR state from A opens on B (one sealing key for both), once.
    let args = json!({"datacenter_id": PROD, "server_id": WEB02});
    let asked = post_to(
        &client,
        &a.url,
        Some(&key),
        &power_call("reboot_server", &args, true),
        &[],
    )
    .await;
    assert_eq!(
        asked.body.pointer("/result/resultType"),
        Some(&json!("input_required")),
        "{:?}",
        asked.body
    );
    let state = asked
        .body
        .pointer("/result/requestState")
        .and_then(Value::as_str)
        .expect("a request state")
        .to_string();
    let mut retry = power_call("reboot_server", &args, true);
    retry["params"]["requestState"] = json!(state);
    retry["params"]["inputResponses"] =
        json!({"confirm": {"action": "accept", "content": {"confirm": true}}});
    let done = post_to(&client, &b.url, Some(&key), &retry, &[]).await;
    assert_eq!(
        done.body.pointer("/result/structuredContent/status"),
        Some(&json!("DONE")),
        "{:?}",
        done.body
    );
    let replayed = post_to(&client, &a.url, Some(&key), &retry, &[]).await;
    assert_eq!(
        replayed.body.pointer("/result/isError"),
        Some(&json!(true)),
        "{:?}",
        replayed.body
    );
    assert!(
        replayed.body.to_string().contains("already used"),
        "{:?}",
        replayed.body
    );
    a.stop();
    b.stop();
}

/// A TCP proxy in front of the database that the test can cut and restore.
struct Proxy {
    port: u16,
    target: SocketAddr,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut proxy = Proxy {
            port,
            target,
            running: None,
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let target = self.target;
        self.running = Some(tokio::spawn(async move {
            let mut pipes = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                pipes.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    /// Closes every connection and refuses new ones, as a lost database server would.
    async fn cut(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort();
            let _ = running.await;
        }
    }

    /// Accepts connections again, on the same port.
    async fn restore(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the proxy's port again");
        self.serve(listener);
    }
}

#[tokio::test]
async fn a_replica_that_loses_the_database_fails_closed_keeps_usage_and_recovers() {
    let Some(db) = TestDatabase::create("fault").await else {
        return;
    };
    let direct = backend::open(&Location::parse(&db.url))
        .await
        .expect("the database opens");
    let issued = direct
        .store
        .create(NewKey::named("fault"))
        .await
        .expect("created");
    let key = issued.key.expose().to_string();

    let mut proxy = Proxy::start(db.server_addr()).await;
    let through_proxy = Location::parse(db.via_port(proxy.port));
    let replica = backend::open(&through_proxy)
        .await
        .expect("opens through the proxy");
    let origin = slow_upstream(Duration::from_millis(1500)).await;
    let dispatcher = Arc::new(Dispatcher::new(config_for(&origin.url)));
    let options = HttpOptions::new("127.0.0.1:0".parse().expect("address"));
    let guard = Arc::new(Guard::with_limits(
        replica.store,
        replica.limits,
        GuardOptions {
            trust_proxy: Vec::new(),
            default_rate: Some(1000),
            max_body_bytes: options.max_body_bytes,
            session_idle: options.session_idle,
            usage_retention: None,
        },
    ));
    let server = transport::bind(dispatcher, options, Some(guard))
        .await
        .expect("binds");
    let url = format!(
        "http://{}{}",
        server.local_addr().expect("addr"),
        transport::MCP_PATH
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let call = modern_body("tools/call", Some("list_datacenters"));

    let before = post_to(&client, &url, Some(&key), &call, &[]).await;
    assert!(before.is_tool_success(), "{:?}", before.body);

    // A call in flight when the database goes away.
    let in_flight = {
        let (client, url, key, call) = (client.clone(), url.clone(), key.clone(), call.clone());
        tokio::spawn(async move { post_to(&client, &url, Some(&key), &call, &[]).await })
    };
    origin.reached(2).await;
    proxy.cut().await;
    let cut_at = Instant::now();

    // Past the key cache's half second, authentication fails closed.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let refused = post_to(&client, &url, Some(&key), &call, &[]).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        refused.body
    );
    assert_eq!(refused.code(), "store_unavailable");
    let retry: u64 = refused
        .header("retry-after")
        .parse()
        .expect("Retry-After seconds");
    assert!(retry >= 1);
    let refused_after = cut_at.elapsed();

    // The call in flight finishes.
    let finished = in_flight.await.expect("the call task");
    assert!(finished.is_tool_success(), "{:?}", finished.body);

    // The database returns; the replica recovers by itself.
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.restore().await;
    let restored_at = Instant::now();
    let deadline = restored_at + Duration::from_secs(10);
    loop {
        let r = client
            .post(&url)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/list")
            .body(modern_body("tools/list", None).to_string())
            .send()
            .await
            .expect("answered");
        let a = read(r).await;
        if a.status == StatusCode::OK {
            break;
        }
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", a.body);
        assert!(Instant::now() < deadline, "the replica did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered_after = restored_at.elapsed();

    // The usage of the call that finished while the database was away was kept and written.
    let deadline = Instant::now() + Duration::from_secs(10);
    let report = loop {
        let report = direct
            .store
            .usage(Some(issued.record.id.clone()), 0)
            .await
            .expect("report");
        let calls = report
            .per_tool
            .iter()
            .find(|t| t.tool == "list_datacenters")
            .map_or(0, |t| t.calls);
        if calls >= 2 {
            break report;
        }
        assert!(Instant::now() < deadline, "usage not written: {report:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "database cut: 503 after {refused_after:?}; restored: serving again after {recovered_after:?}; {} requests recorded",
        report.requests
    );
    assert!(
        recovered_after < Duration::from_secs(5),
        "{recovered_after:?}"
    );
    let _ = stop.send(());
    running.await.expect("server task").expect("ends cleanly");
}

#[test]
fn an_unreachable_database_at_start_is_named_without_its_password() {
    let port = free_port();
    let db = format!("postgres://ionos:Very-Secret-Pw-7@127.0.0.1:{port}/keys");
    let addr = format!("127.0.0.1:{}", free_port());
    let serve = [
        "--demo",
        "serve",
        "--transport",
        "http",
        "--http-addr",
        &addr,
        "--db",
        &db,
    ];
    let list = ["keys", "list", "--db", &db];
    for args in [&serve[..], &list[..]] {
        let started = Instant::now();
        let out = binary().args(args).output().expect("binary runs");
        assert!(!out.status.success(), "{args:?}");
        assert!(started.elapsed() < Duration::from_secs(15));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "cannot reach the PostgreSQL database postgres://ionos:***@127.0.0.1:{port}/keys"
            )),
            "{err}"
        );
        assert!(!err.contains("Very-Secret-Pw-7"), "{err}");
    }
}
