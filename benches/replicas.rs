//! Replicas on PostgreSQL, recorded in docs/benchmarks.md ("Replicas on PostgreSQL"):
//!
//! ```text
//! IONOS_MCP_TEST_POSTGRES=postgres://… cargo bench --bench replicas            # throughput
//! IONOS_MCP_TEST_POSTGRES=postgres://… cargo bench --bench replicas -- --soak 10
//! ```
//!
//! Throughput: 100 concurrent clients, each on its own connection, call `list_datacenters`
//! (2026-07-28, stateless) in a loop against the built binary (`serve --transport http`), for
//! 1 replica on SQLite, 1 replica on PostgreSQL and 2 replicas on PostgreSQL (clients split
//! evenly). IONOS is a stub in the bench process that answers at once with two data centers,
//! so what is measured is the server (and the database), not an upstream. (The `--demo`
//! simulator is not used: it keeps a log of every request it serves, which a soak would
//! measure instead of the server.) Every call is
//! authenticated and counted against the key's rate (a rate high enough never to refuse), so
//! on PostgreSQL each call costs the shared window's upsert. Printed: calls per second, p50
//! and p99 latency, and non-200 answers.
//!
//! Soak (`--soak MINUTES`): the same 100 clients against one PostgreSQL replica for that many
//! minutes, the replica's RSS sampled once a minute from /proc.
//!
//! The user of the PostgreSQL URL must be allowed to create databases; the bench makes one of
//! its own and drops it. `--seconds N` sets each throughput run's length (default 20).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ionos_mcp::simulator::DEMO_TOKEN;
use serde_json::{Value, json};

const CLIENTS: usize = 100;
const WARM_UP: Duration = Duration::from_secs(3);

fn binary() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ionos-mcp"));
    c.env_remove("IONOS_TOKEN_FILE")
        .env_remove("IONOS_MCP_DB")
        .env_remove("IONOS_MCP_TRANSPORT")
        .env("IONOS_TOKEN", DEMO_TOKEN)
        .env("IONOS_MCP_LOG", "error");
    c
}

/// A stand-in for the Cloud API that answers every request at once; its base URL.
async fn stub_ionos() -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let body = json!({"id": "datacenters", "type": "collection", "items": [
        {"id": "b5634021-a867-4b94-a0ff-eafb37fd3e19", "type": "datacenter",
         "properties": {"name": "prod", "location": "de/fra"}},
        {"id": "5d6ecd2c-b2a0-4bd6-9b4a-1d2a9b7f1c3e", "type": "datacenter",
         "properties": {"name": "staging", "location": "de/txl"}}]})
    .to_string();
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { ([("content-type", "application/json")], body) }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/cloudapi/v6")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the PostgreSQL server answers");
    tokio::spawn(connection);
    client
}

/// A key for the bench on `db`, with a rate that never refuses.
fn create_key(db: &str) -> String {
    let out = binary()
        .args([
            "keys",
            "create",
            "--name",
            "bench",
            "--rate",
            "100000000/min",
        ])
        .args(["--json", "--db", db])
        .output()
        .expect("binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    v["key"].as_str().expect("key").to_string()
}

struct Replica {
    child: Child,
    url: String,
}

impl Replica {
    async fn start(db: &str, ionos: &str) -> Replica {
        let port = free_port();
        let child = binary()
            .args(["serve", "--transport", "http", "--db", db])
            .args(["--http-addr", &format!("127.0.0.1:{port}")])
            .env("IONOS_API_URL", ionos)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("server starts");
        // From here on, a panic stops it.
        let replica = Replica {
            child,
            url: format!("http://127.0.0.1:{port}/mcp"),
        };
        let health = format!("http://127.0.0.1:{port}/healthz");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.get(&health).send().await.is_err() {
            assert!(Instant::now() < deadline, "the replica did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        replica
    }

    fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
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

/// What a load run measured.
struct Run {
    calls: usize,
    failures: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
}

/// `CLIENTS` workers, worker `i` on replica `i % urls.len()`, for `length` (after a warm-up
/// whose calls are not counted).
async fn load(urls: &[String], key: &str, length: Duration) -> Run {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "list_datacenters", "arguments": {},
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": {}}}})
    .to_string();
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for i in 0..CLIENTS {
        let url = urls[i % urls.len()].clone();
        let (key, body) = (key.to_string(), body.clone());
        let (counting, stop) = (counting.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let ok = match client
                    .post(&url)
                    .header("authorization", format!("Bearer {key}"))
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .header("mcp-protocol-version", "2026-07-28")
                    .header("mcp-method", "tools/call")
                    .header("mcp-name", "list_datacenters")
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(r) => {
                        let ok = r.status().is_success();
                        let _ = r.bytes().await;
                        ok
                    }
                    Err(_) => false,
                };
                if counting.load(Ordering::Relaxed) {
                    if ok {
                        latencies.push(started.elapsed());
                    } else {
                        failures += 1;
                    }
                }
            }
            (latencies, failures)
        }));
    }
    tokio::time::sleep(WARM_UP).await;
    counting.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(length).await;
    counting.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut failures = 0;
    for worker in workers {
        let (l, f) = worker.await.expect("worker");
        latencies.extend(l);
        failures += f;
    }
    latencies.sort_unstable();
    Run {
        calls: latencies.len(),
        failures,
        elapsed,
        latencies,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

async fn throughput(pg: &str, ionos: &str, length: Duration) {
    println!("| setup | calls/s | p50 ms | p99 ms | non-200 |\n|---|---:|---:|---:|---:|");
    let row = |name: &str, run: &Run| {
        println!(
            "| {name} | {:.0} | {} | {} | {} |",
            run.per_second(),
            ms(run.percentile(0.50)),
            ms(run.percentile(0.99)),
            run.failures
        );
    };

    let dir = std::env::temp_dir().join(format!("ionos-mcp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let sqlite = dir.join("keys.db").display().to_string();
    let key = create_key(&sqlite);
    {
        let replica = Replica::start(&sqlite, ionos).await;
        let run = load(std::slice::from_ref(&replica.url), &key, length).await;
        row("1 replica, SQLite", &run);
    }
    let _ = std::fs::remove_dir_all(&dir);

    let key = create_key(pg);
    {
        let replica = Replica::start(pg, ionos).await;
        let run = load(std::slice::from_ref(&replica.url), &key, length).await;
        row("1 replica, PostgreSQL", &run);
    }
    {
        let (a, b) = tokio::join!(Replica::start(pg, ionos), Replica::start(pg, ionos));
        let run = load(&[a.url.clone(), b.url.clone()], &key, length).await;
        row("2 replicas, PostgreSQL", &run);
    }
}

async fn soak(pg: &str, ionos: &str, minutes: u64) {
    let key = create_key(pg);
    let replica = Replica::start(pg, ionos).await;
    let urls = [replica.url.clone()];
    println!("| minute | RSS MiB | calls/s | p99 ms | non-200 |\n|---:|---:|---:|---:|---:|");
    let mut samples = Vec::new();
    for minute in 1..=minutes {
        let run = load(&urls, &key, Duration::from_secs(60) - WARM_UP).await;
        let rss = replica.rss_kib();
        samples.push(rss);
        println!(
            "| {minute} | {:.1} | {:.0} | {} | {} |",
            rss as f64 / 1024.0,
            run.per_second(),
            ms(run.percentile(0.99)),
            run.failures
        );
    }
    // The first minute includes the start and the allocator's warm-up; from the second on,
    // the replica is in its steady state.
    for (from, label) in [(0, "minute 1"), (1, "minute 2")] {
        let tail = samples.get(from..).unwrap_or(&[]);
        if let (Some(&first), Some(&min), Some(&max)) =
            (tail.first(), tail.iter().min(), tail.iter().max())
        {
            let spread = (max - min) as f64 / first.max(1) as f64 * 100.0;
            println!(
                "from {label} on: RSS {:.1} MiB at first; lowest {:.1}, highest {:.1} MiB: a spread of {spread:.1} %",
                first as f64 / 1024.0,
                min as f64 / 1024.0,
                max as f64 / 1024.0
            );
        }
    }
}

fn main() {
    ionos_mcp::upstream::init_tls();
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let Some(server) = std::env::var("IONOS_MCP_TEST_POSTGRES")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        eprintln!(
            "replicas bench skipped: set IONOS_MCP_TEST_POSTGRES to a PostgreSQL URL whose user may create databases"
        );
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let name = format!("ionos_mcp_bench_{}", std::process::id());
        admin(&server)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("the bench database is created");
        let pg = ionos_mcp::access::backend::with_database(&server, &name);
        let ionos = stub_ionos().await;
        match value("--soak") {
            Some(minutes) => soak(&pg, &ionos, minutes).await,
            None => {
                let length = Duration::from_secs(value("--seconds").unwrap_or(20));
                throughput(&pg, &ionos, length).await;
            }
        }
        admin(&server)
            .await
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .expect("the bench database is dropped");
    });
}
