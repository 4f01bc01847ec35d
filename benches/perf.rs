//! Performance numbers recorded in docs/benchmarks.md: `cargo bench --bench perf`.
//!
//! 1. process start to the first `tools/list` answer over stdio (the built binary);
//! 2. `tools/list` size in bytes;
//! 3. dispatcher overhead per call: a tool call through the dispatcher minus a plain HTTP GET of
//!    the same URL, both against the simulator;
//! 4. S3: a signed listing through the dispatcher, SigV4 signing alone, and XML-to-JSON of a
//!    1000-object listing.

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

fn start_to_tools_list(runs: usize) -> (Duration, Duration, usize) {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ionos-mcp"))
            .env_remove("IONOS_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("binary starts");
        let mut stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}});
        writeln!(stdin, "{init}").expect("write");
        let mut line = String::new();
        stdout.read_line(&mut line).expect("initialize answer");
        writeln!(
            stdin,
            "{}",
            json!({"jsonrpc":"2.0","method":"notifications/initialized"})
        )
        .expect("write");
        writeln!(
            stdin,
            "{}",
            json!({"jsonrpc":"2.0","id":2,"method":"tools/list"})
        )
        .expect("write");
        line.clear();
        stdout.read_line(&mut line).expect("tools/list answer");
        times.push(started.elapsed());
        bytes = line.trim_end().len();
        drop(stdin);
        let _ = child.wait();
    }
    let mut sorted = times.clone();
    sorted.sort();
    (median(times), sorted[sorted.len() * 9 / 10], bytes)
}

async fn dispatcher_overhead(calls: usize) -> (Duration, Duration, Duration) {
    let sim = Simulator::start().await.expect("simulator");
    let origin = format!("http://{}", sim.addr());
    let mut config = Config::from_env(&std::collections::BTreeMap::<String, String>::new())
        .expect("config")
        .with_origin(&origin);
    config.credentials = Credentials::Token(Secret::new(DEMO_TOKEN));
    let dispatcher = Dispatcher::new(config).expect("dispatcher");
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
    let dispatcher = Dispatcher::new(config).expect("dispatcher");
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
        let mut req = reqwest::Request::new(
            reqwest::Method::GET,
            "https://s3.eu-central-3.ionoscloud.com/logs-archive?list-type=2&prefix=2026%2F11%2F"
                .parse()
                .expect("url"),
        );
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
    let (start_median, start_p90, bytes) = start_to_tools_list(runs);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (through, raw, overhead) = rt.block_on(dispatcher_overhead(calls));
    let (s3_call, s3_sign, s3_xml, xml_bytes, json_bytes) = rt.block_on(s3_costs(calls));
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| start to first tools/list answer, median of {runs} | {:.1} ms (p90 {:.1} ms) |",
        start_median.as_secs_f64() * 1e3,
        start_p90.as_secs_f64() * 1e3
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
