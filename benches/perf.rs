//! Performance numbers recorded in docs/benchmarks.md: `cargo bench --bench perf`.
//!
//! 1. process start to the first `tools/list` answer over stdio (the built binary), without a
//!    token, and with a token, `IONOS_API_URL` on the simulator and `SSL_CERT_DIR` on the
//!    system's certificates (what a configured server does before it answers);
//! 2. over stdio against the simulator: server CPU per sequential `list_datacenters` call
//!    (`/proc/<pid>/stat` utime + stime) and the server's peak RSS after 500 calls (`VmHWM`);
//! 3. `tools/list` size in bytes;
//! 4. dispatcher overhead per call: a tool call through the dispatcher minus a plain HTTP GET of
//!    the same URL, both against the simulator;
//! 5. S3: a signed listing through the dispatcher, SigV4 signing alone, and XML-to-JSON of a
//!    1000-object listing.
//!
//! 1 and 2 measure the binary `cargo build --release` makes (the bench builds it first), or
//! `IONOS_MCP_BENCH_BIN` (another build, side by side).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ionos_mcp::config::{Config, Credentials, Secret};
use ionos_mcp::simulator::{DEMO_TOKEN, Simulator};
use ionos_mcp::tools::dispatch::Dispatcher;
use serde_json::json;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The binary measured in 1 and 2, chosen once by `main`.
static BINARY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn binary() -> &'static str {
    BINARY.get().expect("main chooses the binary first")
}

/// The binary to measure: `IONOS_MCP_BENCH_BIN`, or the one `cargo build --release` makes and
/// `cargo install` installs. That is not the binary this bench was built beside: a bench build
/// adds the dev-dependencies' features (the tests' MCP client, the tokenizer) to the crates
/// both share, which changes the code and how much of it a process pages in. A quick run
/// (`cargo test --benches`) takes the one at hand.
fn choose_binary(quick: bool) -> String {
    if let Ok(bin) = std::env::var("IONOS_MCP_BENCH_BIN") {
        return bin;
    }
    if quick {
        return env!("CARGO_BIN_EXE_ionos-mcp").into();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--release", "--bin", "ionos-mcp"])
        .args([
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(built.status.success(), "cargo build --release failed");
    String::from_utf8_lossy(&built.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "ionos-mcp")
        .find_map(|m| m["executable"].as_str().map(String::from))
        .expect("cargo names the binary it built")
}

/// A server over stdio: spawned with `env`, initialized, its first `tools/list` read.
struct Child {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    next_id: u64,
    /// Bytes of the `tools/list` answer.
    listed: usize,
}

impl Child {
    fn start(env: &[(&str, String)]) -> Child {
        let mut command = Command::new(binary());
        for var in [
            "IONOS_TOKEN",
            "IONOS_TOKEN_FILE",
            "IONOS_API_URL",
            "IONOS_USERNAME",
            "IONOS_PASSWORD",
            "IONOS_CONFIG_FILE",
            "IONOS_TOOLSETS",
            "IONOS_MCP_LOG",
            "IONOS_LOG_LEVEL",
        ] {
            command.env_remove(var);
        }
        let mut child = command
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("binary starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut c = Child {
            child,
            stdin,
            stdout,
            next_id: 1,
            listed: 0,
        };
        c.request("initialize", json!({"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}));
        c.send(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
        c.listed = c.request("tools/list", json!({})).len();
        c
    }

    /// Writes one message as its line, in one write, as MCP clients do. (`writeln!` on the
    /// unbuffered pipe would write it in dozens of pieces, and the server would wake up for
    /// each.)
    fn send(&mut self, message: &serde_json::Value) {
        let line = format!("{message}\n");
        self.stdin.write_all(line.as_bytes()).expect("write");
    }

    /// Sends one request and returns its answer line (notifications in between are skipped).
    fn request(&mut self, method: &str, params: serde_json::Value) -> String {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}));
        let wanted = format!("\"id\":{id}");
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).expect("answer");
            assert!(n > 0, "the server closed stdout before answering {method}");
            if line.contains(&wanted) {
                return line.trim_end().to_string();
            }
        }
    }

    fn call(&mut self, tool: &str) {
        let line = self.request("tools/call", json!({"name": tool, "arguments": {}}));
        assert!(
            line.contains("\"result\"") && !line.contains("\"isError\":true"),
            "{tool}: {}",
            &line[..line.len().min(300)]
        );
    }

    /// utime + stime of the server process so far.
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("/proc/<pid>/stat");
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64)
    }

    /// A field of `/proc/<pid>/status` or `smaps_rollup`, in KiB.
    fn kib(&self, file: &str, field: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/{file}", self.child.id()))
            .unwrap_or_default();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(field)?
                    .trim_start_matches(':')
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    }

    fn stop(mut self) {
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

/// Clock ticks per second of `/proc/<pid>/stat`.
fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

fn start_to_tools_list(runs: usize, env: &[(&str, String)]) -> (Duration, Duration, usize) {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let child = Child::start(env);
        times.push(started.elapsed());
        bytes = child.listed;
        child.stop();
    }
    let mut sorted = times.clone();
    sorted.sort();
    (median(times), sorted[sorted.len() * 9 / 10], bytes)
}

/// What one server process costs over stdio against the simulator.
struct Footprint {
    cpu_per_call: Duration,
    /// VmHWM after 500 calls, KiB.
    peak_rss: u64,
    /// After 500 calls: RSS, its anonymous and file-backed parts (smaps_rollup), KiB.
    rss: u64,
    anon: u64,
    file: u64,
}

/// CPU per `list_datacenters` call over calls 21..`calls` of one process, and its memory
/// after 500 calls.
fn stdio_footprint(env: &[(&str, String)], calls: usize) -> Footprint {
    let mut child = Child::start(env);
    for _ in 0..20 {
        child.call("list_datacenters");
    }
    let before = child.cpu();
    for _ in 20..500 {
        child.call("list_datacenters");
    }
    let peak_rss = child.kib("status", "VmHWM");
    let rss = child.kib("smaps_rollup", "Rss");
    let anon = child.kib("smaps_rollup", "Anonymous");
    let file = rss.saturating_sub(anon);
    for _ in 500..calls.max(500) {
        child.call("list_datacenters");
    }
    let cpu = child.cpu().saturating_sub(before);
    child.stop();
    Footprint {
        cpu_per_call: cpu / (calls.max(500) - 20) as u32,
        peak_rss,
        rss,
        anon,
        file,
    }
}

fn median_u64(mut v: Vec<u64>) -> u64 {
    v.sort();
    v[v.len() / 2]
}

async fn dispatcher_overhead(calls: usize) -> (Duration, Duration, Duration) {
    let sim = Simulator::start().await.expect("simulator");
    let origin = format!("http://{}", sim.addr());
    let mut config = Config::from_env(&std::collections::BTreeMap::<String, String>::new())
        .expect("config")
        .with_origin(&origin);
    config.credentials = Credentials::Token(Secret::new(DEMO_TOKEN));
    let dispatcher = Dispatcher::new(config);
    let http = reqwest::Client::new();
    let url = format!("{}/datacenters?pretty=false&depth=1", sim.cloudapi_url());
    let args = json!({"depth": 1}).as_object().cloned();
    // Warm up both paths (connection pool, validator compilation).
    for _ in 0..20 {
        dispatcher
            .call("list_datacenters", args.clone())
            .await
            .expect("tool")
            .expect("ok");
        http.get(&url)
            .bearer_auth(DEMO_TOKEN)
            .send()
            .await
            .expect("get")
            .bytes()
            .await
            .expect("body");
    }
    let mut through = Vec::new();
    let mut raw = Vec::new();
    for _ in 0..calls {
        let t = Instant::now();
        dispatcher
            .call("list_datacenters", args.clone())
            .await
            .expect("tool")
            .expect("ok");
        through.push(t.elapsed());
        let t = Instant::now();
        let body = http
            .get(&url)
            .bearer_auth(DEMO_TOKEN)
            .send()
            .await
            .expect("get")
            .bytes()
            .await
            .expect("body");
        let _: serde_json::Value = serde_json::from_slice(&body).expect("json");
        raw.push(t.elapsed());
    }
    let (d, r) = (median(through), median(raw));
    (d, r, d.saturating_sub(r))
}

/// A signed S3 call (list 57 objects) through the dispatcher after its bucket was located, and
/// the signing and XML-to-JSON work of a 1000-object listing on their own.
async fn s3_costs(calls: usize) -> (Duration, Duration, Duration, usize, usize) {
    let sim = Simulator::start().await.expect("simulator");
    let origin = format!("http://{}", sim.addr());
    let mut config = Config::from_env(&std::collections::BTreeMap::<String, String>::new())
        .expect("config")
        .with_origin(&origin)
        .with_base_urls(|p| sim.base_url(p));
    config.credentials = Credentials::Token(Secret::new(DEMO_TOKEN));
    config.s3.access_key = Some(ionos_mcp::simulator::DEMO_S3_ACCESS_KEY.into());
    config.s3.secret_key = Some(Secret::new(ionos_mcp::simulator::DEMO_S3_SECRET_KEY));
    let dispatcher = Dispatcher::new(config);
    let args = json!({"bucket": "logs-archive"}).as_object().cloned();
    for _ in 0..20 {
        dispatcher
            .call("list_object_storage_objects", args.clone())
            .await
            .expect("tool")
            .expect("ok");
    }
    let mut through = Vec::new();
    for _ in 0..calls {
        let t = Instant::now();
        dispatcher
            .call("list_object_storage_objects", args.clone())
            .await
            .expect("tool")
            .expect("ok");
        through.push(t.elapsed());
    }

    let keys = ionos_mcp::upstream::s3::Keys {
        access_key: "AKIDEXAMPLE".into(),
        secret_key: Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    };
    let mut signing = Vec::new();
    for _ in 0..calls {
        let mut req = ionos_mcp::upstream::client::Outgoing::new(
            hyper::Method::GET,
            "https://s3.eu-central-3.ionoscloud.com/logs-archive",
        )
        .query([("list-type", "2"), ("prefix", "2026/11/")]);
        let t = Instant::now();
        ionos_mcp::upstream::s3::sign(
            &mut req,
            &keys,
            "eu-central-3",
            std::time::SystemTime::now(),
        )
        .expect("signed");
        signing.push(t.elapsed());
    }

    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>logs-archive</Name><Prefix></Prefix><MaxKeys>1000</MaxKeys><KeyCount>1000</KeyCount><IsTruncated>true</IsTruncated>",
    );
    for i in 0..1000 {
        xml.push_str(&format!(
            "<Contents><Key>2026/11/{:02}/access-{i:04}.log.gz</Key><LastModified>2026-11-02T00:05:12.000Z</LastModified><ETag>&quot;7a615ac6db082b642939c6c0c2c8d6ab&quot;</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
            i % 28 + 1,
            40_000 + i
        ));
    }
    xml.push_str("</ListBucketResult>");
    let tool = ionos_mcp::tools::table::tool("list_object_storage_objects").expect("tool");
    let schema: serde_json::Value =
        serde_json::from_str(tool.xml_schema.expect("xml schema")).expect("schema");
    let mut converting = Vec::new();
    let mut json_bytes = 0;
    for _ in 0..calls.min(500) {
        let t = Instant::now();
        let v = ionos_mcp::upstream::s3::xml::to_json(&xml, &schema).expect("converts");
        converting.push(t.elapsed());
        json_bytes = v.to_string().len();
    }
    (
        median(through),
        median(signing),
        median(converting),
        xml.len(),
        json_bytes,
    )
}

fn main() {
    // `cargo test --benches` runs this with --bench absent; keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (runs, calls) = if quick { (3, 50) } else { (30, 2000) };
    let measured = BINARY.get_or_init(|| choose_binary(quick));
    eprintln!("measuring {measured}");
    // The plain reqwest client below needs the TLS provider the server installs.
    ionos_mcp::upstream::init_tls();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The stand-in for IONOS the stdio servers call (it runs on `rt`'s workers).
    let sim = rt.block_on(Simulator::start()).expect("simulator");
    let home = std::env::temp_dir().join(format!("ionos-mcp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("empty HOME");
    let home = home.display().to_string();
    let no_token = [("HOME", home.clone())];
    let configured = [
        ("HOME", home.clone()),
        ("IONOS_TOKEN", DEMO_TOKEN.to_string()),
        ("IONOS_API_URL", sim.cloudapi_url()),
        ("SSL_CERT_DIR", "/etc/ssl/certs".to_string()),
    ];
    let (start_median, start_p90, bytes) = start_to_tools_list(runs, &no_token);
    let (conf_median, conf_p90, _) = start_to_tools_list(runs, &configured);
    let (processes, footprint_calls) = if quick { (1, 500) } else { (5, 5000) };
    let footprints: Vec<Footprint> = (0..processes)
        .map(|_| stdio_footprint(&configured, footprint_calls))
        .collect();
    let cpu_per_call = median(footprints.iter().map(|f| f.cpu_per_call).collect());
    let peak = median_u64(footprints.iter().map(|f| f.peak_rss).collect());
    let rss = median_u64(footprints.iter().map(|f| f.rss).collect());
    let anon = median_u64(footprints.iter().map(|f| f.anon).collect());
    let file = median_u64(footprints.iter().map(|f| f.file).collect());
    let _ = std::fs::remove_dir_all(&home);
    let (through, raw, overhead) = rt.block_on(dispatcher_overhead(calls));
    let (s3_call, s3_sign, s3_xml, xml_bytes, json_bytes) = rt.block_on(s3_costs(calls));
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| start to first tools/list answer, median of {runs} | {:.1} ms (p90 {:.1} ms) |",
        start_median.as_secs_f64() * 1e3,
        start_p90.as_secs_f64() * 1e3
    );
    println!(
        "| same with a token, IONOS_API_URL on the simulator, SSL_CERT_DIR=/etc/ssl/certs, median of {runs} | {:.1} ms (p90 {:.1} ms) |",
        conf_median.as_secs_f64() * 1e3,
        conf_p90.as_secs_f64() * 1e3
    );
    println!(
        "| server CPU per sequential stdio list_datacenters call, median of {processes} processes x {} calls | {:.3} ms |",
        footprint_calls - 20,
        cpu_per_call.as_secs_f64() * 1e3
    );
    println!(
        "| server peak RSS (VmHWM) after 500 calls, median of {processes} | {:.1} MiB (RSS {:.1} MiB: {:.1} anonymous, {:.1} file-backed) |",
        peak as f64 / 1024.0,
        rss as f64 / 1024.0,
        anon as f64 / 1024.0,
        file as f64 / 1024.0
    );
    println!("| tools/list answer size | {bytes} bytes |");
    println!(
        "| list_datacenters through the dispatcher, median of {calls} | {:.0} µs |",
        through.as_secs_f64() * 1e6
    );
    println!(
        "| same GET with plain reqwest + JSON parse, median | {:.0} µs |",
        raw.as_secs_f64() * 1e6
    );
    println!(
        "| dispatcher overhead per call (difference) | {:.0} µs |",
        overhead.as_secs_f64() * 1e6
    );
    println!(
        "| list_object_storage_objects (signed, 57 objects, bucket located) through the dispatcher, median | {:.0} µs |",
        s3_call.as_secs_f64() * 1e6
    );
    println!(
        "| SigV4 signing of one request, median | {:.1} µs |",
        s3_sign.as_secs_f64() * 1e6
    );
    println!(
        "| XML to JSON of a 1000-object listing ({xml_bytes} bytes of XML -> {json_bytes} bytes of JSON), median | {:.2} ms |",
        s3_xml.as_secs_f64() * 1e3
    );
}
