//! Tool calls over HTTP, recorded in docs/benchmarks.md: `cargo bench --bench http`.
//!
//! Tool calls per second and p50/p99 latency at 1, 10 and 100 concurrent clients, each
//! client a task with its own keep-alive connection (reqwest) sending stateless 2026-07-28
//! `tools/call` requests for `get_billing_profile` (a small answer from the simulator's
//! billing API) to `/mcp`, in two setups served side by side by the same dispatcher and
//! simulator, each by `http::bind` and `HttpServer::run` as `serve` uses them:
//!
//! - *auth*: the access guard with a real `SqliteStore` in a temporary file, every client
//!   sending `Authorization: Bearer <key>` of a full-access key whose rate (10,000,000 a
//!   minute) is checked on every call but never refuses, usage recorded in batches;
//! - *no auth*: the same server without a guard (`--no-auth`).
//!
//! Every answer (JSON or SSE) is checked to be a result without `isError`. At each
//! concurrency the two setups run back to back, alternating which goes first (AB, BA, AB, …;
//! `-- --rounds N` pairs, default 3), so drift on a shared machine falls on both alike; the
//! samples of all rounds are pooled, and the cost of auth is also given per pair of rounds
//! run back to back, as the median and range over the pairs.
//! Each cell opens its connections and makes a few calls before the clock starts, and
//! waits for the usage writer's flush (every 250 ms) before and after.
//!
//! `-- --only auth|no-auth [--clients N] [--seconds S]` loads one setup alone (100 clients
//! for 10 s by default) and prints its calls per second and CPU per call: a steady load to
//! run under a profiler.
//!
//! The overhead of auth, rates and usage is reported three ways: the throughput
//! difference, the difference of the p50 latencies, and the difference in CPU time per
//! call of the whole process (clients, server, simulator, the usage writes on blocking
//! threads; from /proc/self/stat). The last is the steadiest on a shared machine: other
//! processes' load changes the wall-clock numbers, not this process's CPU time. On a
//! machine saturated by the server alone it is what throughput would lose. A column counts
//! the calls slower than 30 ms, where stalls of the TCP stack (about 40 ms: Nagle's
//! algorithm against delayed ACKs) show at 1 and 10 clients; at 100 clients queueing alone
//! comes near 30 ms.
//!
//! Server and clients share the process but not a Tokio runtime: the server's runtime
//! holds the simulator, the dispatcher's upstream client, the HTTP server and the usage
//! writer, the clients' runtime only the load, so the kernel schedules the two like a
//! server and its clients in two processes, without a child process to start and stop.
//! With one shared runtime a client and the server often run on the same worker with no
//! wake-up between them, which no remote client gets (the 1-client p50 came out 30-40 %
//! lower that way), and at 10 and 100 clients the clients' tasks queue with the server's.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ionos_mcp::access::guard::{Guard, GuardOptions};
use ionos_mcp::access::sqlite::SqliteStore;
use ionos_mcp::access::store::{KeyStore, NewKey};
use ionos_mcp::transport::http::{self, HttpOptions};
use serde_json::Value;

/// A cheap read tool that reaches the simulator.
const TOOL: &str = "get_billing_profile";
const PROTOCOL: &str = "2026-07-28";
const CONCURRENCY: [usize; 3] = [1, 10, 100];
/// Pause before and after each cell's measured calls, longer than the usage writer's
/// flush interval.
const SETTLE: Duration = Duration::from_millis(400);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Setup {
    Auth,
    NoAuth,
}

/// One server to load.
#[derive(Clone)]
struct Target {
    url: String,
    /// `Authorization` value; `None` without auth.
    bearer: Option<String>,
}

/// Calls made and their latencies, pooled over rounds.
#[derive(Default)]
struct Samples {
    calls: u64,
    elapsed: Duration,
    /// CPU time of the whole process (clients, server, simulator) while calling.
    cpu: Duration,
    /// Microseconds per call.
    latencies: Vec<u32>,
    /// Calls per second of each round.
    rounds: Vec<f64>,
    /// Process CPU time per call of each round, in µs.
    rounds_cpu: Vec<f64>,
}

impl Samples {
    fn add(&mut self, calls: u64, elapsed: Duration, cpu: Duration, mut latencies: Vec<u32>) {
        self.calls += calls;
        self.elapsed += elapsed;
        self.cpu += cpu;
        self.rounds.push(calls as f64 / elapsed.as_secs_f64());
        self.rounds_cpu
            .push(cpu.as_secs_f64() * 1e6 / calls.max(1) as f64);
        self.latencies.append(&mut latencies);
    }

    fn per_sec(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    /// The share of calls slower than `us`, in %.
    fn share_over(&self, us: u32) -> f64 {
        let slow = self.latencies.iter().filter(|&&l| l > us).count();
        slow as f64 * 100.0 / self.latencies.len().max(1) as f64
    }

    /// Process CPU time per call, in µs.
    fn cpu_per_call(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.calls as f64
    }

    fn percentile(&mut self, p: f64) -> f64 {
        self.latencies.sort_unstable();
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.latencies[i])
    }
}

/// The median and the range of `values`.
fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0], values[n - 1])
}

/// Per round pair (auth and no auth, run back to back): the throughput auth costs, in %, and
/// the CPU time it adds per call, in µs.
fn paired(with: &Samples, without: &Samples) -> (Vec<f64>, Vec<f64>) {
    let cost = with
        .rounds
        .iter()
        .zip(&without.rounds)
        .map(|(w, wo)| (wo - w) / wo * 100.0)
        .collect();
    let cpu = with
        .rounds_cpu
        .iter()
        .zip(&without.rounds_cpu)
        .map(|(w, wo)| w - wo)
        .collect();
    (cost, cpu)
}

/// A unique directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        TempDir(std::env::temp_dir().join(format!(
            "ionos-mcp-bench-http-{}-{nanos}",
            std::process::id()
        )))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// User and system CPU time of this process so far (all its threads), from /proc; zero
/// where there is no /proc.
fn cpu_time() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name: state is the 3rd, utime the 14th, stime the 15th.
            let fields: Vec<u64> = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .skip(11)
                .take(2)
                .map(|f| f.parse().ok())
                .collect::<Option<_>>()?;
            Some(fields.iter().sum::<u64>())
        })
        .unwrap_or(0);
    // USER_HZ is 100 on every Linux target.
    Duration::from_millis(ticks * 10)
}

fn body(id: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{TOOL}","arguments":{{}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"{PROTOCOL}","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
    )
}

/// Checks that an answer (a JSON body, or SSE `data:` lines) holds the result of call `id`
/// and that the tool did not report an error.
fn check_answer(text: &str, id: u64) {
    let message = if text.trim_start().starts_with('{') {
        serde_json::from_str::<Value>(text).ok()
    } else {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|m| m.get("id").and_then(Value::as_u64) == Some(id))
    };
    let Some(message) = message else {
        panic!("no answer to call {id} in {text:?}");
    };
    let result = message
        .get("result")
        .unwrap_or_else(|| panic!("not a result: {message}"));
    assert!(
        result.get("isError").and_then(Value::as_bool) != Some(true),
        "the tool failed: {result}"
    );
}

async fn call(client: &reqwest::Client, target: &Target, id: u64) {
    let mut request = client
        .post(&target.url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", PROTOCOL)
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", TOOL)
        .body(body(id));
    if let Some(bearer) = &target.bearer {
        request = request.header("Authorization", bearer);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let text = response.text().await.expect("answer read");
    assert!(status.is_success(), "HTTP {status}: {text}");
    check_answer(&text, id);
}

/// One cell: `clients` clients, each with its own connection, warmed up, then calling for
/// `length`. Returns the calls made, the time they took, the process CPU time they took
/// (including the usage writes they queued) and each call's latency in µs.
async fn cell(
    target: &Target,
    clients: usize,
    length: Duration,
    warm_up: u64,
) -> (u64, Duration, Duration, Vec<u32>) {
    let warmed = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let go = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let target = target.clone();
        let (warmed, go) = (warmed.clone(), go.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut id = (c as u64) << 32;
            for _ in 0..warm_up {
                id += 1;
                call(&client, &target, id).await;
            }
            warmed.wait().await;
            go.wait().await;
            let deadline = Instant::now() + length;
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                id += 1;
                let t = Instant::now();
                call(&client, &target, id).await;
                latencies.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            }
            (latencies, Instant::now())
        }));
    }
    warmed.wait().await;
    // The warm-up's usage records are written before the clock starts.
    tokio::time::sleep(SETTLE).await;
    let cpu = cpu_time();
    go.wait().await;
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut ended = started;
    for task in tasks {
        let (mut l, end) = task.await.expect("client task");
        latencies.append(&mut l);
        ended = ended.max(end);
    }
    // And this cell's are written before the CPU time is read (the usage writer flushes
    // every 250 ms); the server is idle meanwhile.
    tokio::time::sleep(SETTLE).await;
    let cpu = cpu_time() - cpu;
    (latencies.len() as u64, ended - started, cpu, latencies)
}

/// The value after `name` on the command line.
fn flag(args: &[String], name: &str) -> Option<String> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn main() {
    // `cargo test --benches` runs this with --bench absent; keep that quick.
    let args: Vec<String> = std::env::args().collect();
    let quick = !args.iter().any(|a| a == "--bench");
    // `-- --rounds N`: round pairs per concurrency (default 3).
    let asked_rounds = flag(&args, "--rounds").map(|n| {
        n.parse::<usize>()
            .expect("--rounds takes a number of rounds")
    });
    let (rounds, length, warm_up) = if quick {
        (1, Duration::from_millis(200), 2)
    } else {
        (asked_rounds.unwrap_or(3), Duration::from_secs(3), 5)
    };

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("server")
        .enable_all()
        .build()
        .expect("server runtime");
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("client")
        .enable_all()
        .build()
        .expect("client runtime");

    let dir = TempDir::new();
    let (auth, no_auth, stop, servers, sim) = server_rt.block_on(async {
        let (dispatcher, sim) = ionos_mcp::cli::dispatcher(true)
            .await
            .expect("dispatcher on the simulator");
        let store = SqliteStore::open(&dir.0.join("keys.db")).expect("key store");
        let mut new = NewKey::named("bench");
        new.rate_per_min = Some(10_000_000);
        let issued = store.create(new).await.expect("key");
        let guard = Arc::new(Guard::new(
            Arc::new(store),
            GuardOptions {
                trust_proxy: Vec::new(),
                default_rate: None,
                max_body_bytes: 1024 * 1024,
                session_idle: Duration::from_secs(30 * 60),
                usage_retention: None,
            },
        ));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut servers = Vec::new();
        let mut urls = Vec::new();
        for guard in [Some(guard), None] {
            let options = HttpOptions::new("127.0.0.1:0".parse().expect("address"));
            let server = http::bind(dispatcher.clone(), options, guard)
                .await
                .expect("server");
            urls.push(format!(
                "http://{}{}",
                server.local_addr().expect("address"),
                http::MCP_PATH
            ));
            let mut stopped = stopped.clone();
            servers.push(tokio::spawn(server.run(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })));
        }
        let auth = Target {
            url: urls[0].clone(),
            bearer: Some(format!("Bearer {}", issued.key.expose())),
        };
        let no_auth = Target {
            url: urls[1].clone(),
            bearer: None,
        };
        (auth, no_auth, stop, servers, sim)
    });

    // Connections, caches and the tool's validator, once per setup.
    for target in [&auth, &no_auth] {
        client_rt.block_on(cell(target, 10, length / 3, warm_up));
    }

    // `-- --only auth|no-auth --clients N --seconds S`: one setup alone, for a profiler.
    if let Some(only) = flag(&args, "--only") {
        let target = match only.as_str() {
            "auth" => &auth,
            "no-auth" => &no_auth,
            other => panic!("--only takes auth or no-auth, not {other:?}"),
        };
        let clients = flag(&args, "--clients").map_or(100, |n| {
            n.parse().expect("--clients takes a number of clients")
        });
        let seconds = flag(&args, "--seconds").map_or(10, |n| {
            n.parse().expect("--seconds takes a number of seconds")
        });
        let (calls, elapsed, cpu, _) =
            client_rt.block_on(cell(target, clients, Duration::from_secs(seconds), warm_up));
        println!(
            "{only}, {clients} clients: {:.0} calls/s, {:.0} µs of process CPU per call",
            calls as f64 / elapsed.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / calls.max(1) as f64
        );
        return;
    }

    let total = Instant::now();
    let mut results = Vec::new();
    for &clients in &CONCURRENCY {
        let mut with = Samples::default();
        let mut without = Samples::default();
        for round in 0..rounds {
            let order = if round % 2 == 0 {
                [Setup::Auth, Setup::NoAuth]
            } else {
                [Setup::NoAuth, Setup::Auth]
            };
            for setup in order {
                let (target, into) = match setup {
                    Setup::Auth => (&auth, &mut with),
                    Setup::NoAuth => (&no_auth, &mut without),
                };
                let (calls, elapsed, cpu, latencies) =
                    client_rt.block_on(cell(target, clients, length, warm_up));
                into.add(calls, elapsed, cpu, latencies);
            }
        }
        results.push((clients, with, without));
    }
    let took = total.elapsed();

    server_rt.block_on(async {
        let _ = stop.send(true);
        for s in servers {
            s.await.expect("server task").expect("server ran");
        }
        drop(sim);
    });

    println!(
        "{TOOL} over HTTP, stateless {PROTOCOL}; {rounds} rounds of {:.1} s per setup and concurrency, {:.0} s in all",
        length.as_secs_f64(),
        took.as_secs_f64()
    );
    println!();
    println!(
        "| clients | setup | calls/s (each round) | p50 | p99 | calls over 30 ms | CPU per call |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut overhead = Vec::new();
    for (clients, mut with, mut without) in results {
        for (name, s) in [("auth", &mut with), ("no auth", &mut without)] {
            let rounds: Vec<String> = s.rounds.iter().map(|r| format!("{r:.0}")).collect();
            println!(
                "| {clients} | {name} | {:.0} ({}) | {:.0} µs | {:.0} µs | {:.1} % | {:.0} µs |",
                s.per_sec(),
                rounds.join(", "),
                s.percentile(0.5),
                s.percentile(0.99),
                s.share_over(30_000),
                s.cpu_per_call()
            );
        }
        let (cost, cpu) = paired(&with, &without);
        overhead.push((
            clients,
            (without.per_sec() - with.per_sec()) / without.per_sec() * 100.0,
            with.percentile(0.5) - without.percentile(0.5),
            with.cpu_per_call() - without.cpu_per_call(),
            (with.cpu_per_call() - without.cpu_per_call()) / without.cpu_per_call() * 100.0,
            spread(cost),
            spread(cpu),
        ));
    }
    println!();
    println!(
        "| clients | throughput cost of auth (pooled) | per round pair: median (range) | added p50 latency | added CPU per call (pooled) | per round pair: median (range) | (pooled, of the no-auth CPU) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (clients, cost, p50, cpu, cpu_share, pair_cost, pair_cpu) in overhead {
        println!(
            "| {clients} | {cost:.1} % | {:.1} % ({:.1} to {:.1}) | {p50:.0} µs | {cpu:.0} µs | {:.0} µs ({:.0} to {:.0}) | {cpu_share:.1} % |",
            pair_cost.0, pair_cost.1, pair_cost.2, pair_cpu.0, pair_cpu.1, pair_cpu.2
        );
    }
}
