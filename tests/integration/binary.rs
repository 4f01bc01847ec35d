//! The built binary, driven over stdio by a real MCP client (rmcp's child-process transport).

use std::process::Stdio;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::json;

fn command(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ionos-mcp"));
    cmd.args(args).envs(crate::support::empty_home());
    for var in [
        "IONOS_TOKEN",
        "IONOS_TOKEN_FILE",
        "IONOS_API_URL",
        "IONOS_USERNAME",
        "IONOS_PASSWORD",
        "IONOS_CONFIG_FILE",
        "IONOS_CURRENT_PROFILE",
        "IONOS_TOOLSETS",
        "IONOS_ENABLE_WRITES",
        "IONOS_MCP_LOG",
        "IONOS_LOG_LEVEL",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

#[tokio::test]
async fn demo_binary_serves_tools_and_calls_over_stdio() {
    let (transport, _stderr) = TokioChildProcess::builder(command(&["--demo"]))
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let client = ().serve(transport).await.expect("MCP handshake over stdio");
    let info = client.peer_info().expect("server info");
    let server = info
        .server_info
        .as_ref()
        .expect("server implementation info");
    assert_eq!(server.name, "ionos-mcp");
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(tools.len() >= 63, "only {} tools", tools.len());
    assert!(
        tools
            .iter()
            .all(|t| t.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true))
    );

    let mut params = CallToolRequestParams::new("list_datacenters");
    params.arguments = Some(json!({"depth": 1}).as_object().cloned().unwrap());
    let r = client.call_tool(params).await.expect("tools/call");
    assert_ne!(r.is_error, Some(true), "{:?}", r.content);
    let structured = r.structured_content.expect("structured result");
    let items = structured["items"].as_array().expect("items");
    assert!(!items.is_empty());
    assert!(items[0]["properties"]["name"].is_string());
    client.cancel().await.expect("clean shutdown");
}

#[tokio::test]
async fn without_a_token_tools_are_listed_and_calls_explain_what_to_do() {
    let text = listed_then_refused(command(&[])).await;
    assert!(text.contains("IONOS_TOKEN is not set"), "{text}");
    assert!(text.contains("Token Manager"), "{text}");
}

/// Starts the binary with `cmd`, checks that it lists its tools and that `list_datacenters`
/// answers with a tool error, and returns that error's text.
async fn listed_then_refused(cmd: tokio::process::Command) -> String {
    let (transport, _stderr) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let client = ().serve(transport).await.expect("MCP handshake over stdio");
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(tools.len() >= 63);
    let r = client
        .call_tool(CallToolRequestParams::new("list_datacenters"))
        .await
        .expect("tools/call");
    assert_eq!(r.is_error, Some(true));
    let text = r.content[0].as_text().expect("text").text.clone();
    client.cancel().await.expect("clean shutdown");
    text
}

/// The HTTP client and its root certificates are set up at the first call, not at start: with
/// no root certificate at all (`SSL_CERT_DIR` on an empty directory) the tools are listed, and a
/// call says that TLS could not be set up instead of sending anything.
#[tokio::test]
async fn tools_are_listed_without_loading_root_certificates() {
    let sim = ionos_mcp::simulator::Simulator::start()
        .await
        .expect("simulator");
    let empty = std::env::temp_dir().join(format!("ionos-mcp-no-certs-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("temp dir");
    let mut cmd = command(&[]);
    cmd.env("IONOS_TOKEN", ionos_mcp::simulator::DEMO_TOKEN)
        .env("IONOS_API_URL", sim.cloudapi_url())
        .env("SSL_CERT_DIR", &empty)
        .env_remove("SSL_CERT_FILE");
    let text = listed_then_refused(cmd).await;
    assert!(text.contains("cannot set up TLS"), "{text}");
    assert!(text.contains("SSL_CERT_DIR"), "{text}");
    assert!(sim.requests().is_empty(), "nothing is sent without TLS");
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn tools_subcommand_prints_json_with_every_tool() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ionos-mcp"))
        .args(["tools", "--json"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let list = list.as_array().expect("array");
    assert!(list.len() >= 63);
    assert!(list.iter().all(|t| t["read_only"] == json!(true)));
}

#[test]
fn call_subcommand_on_the_demo_account() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ionos-mcp"))
        .args(["--demo", "call", "list_k8s_clusters"])
        .env_remove("IONOS_TOKEN")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert!(!v["items"].as_array().expect("items").is_empty());

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_ionos-mcp"))
        .args(["--demo", "call", "get_server", "{\"datacenter_id\": 5}"])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("datacenter_id"), "{err}");
    assert!(bad.stdout.is_empty());
}

/// `IONOS_API_URL` sends every call to another server, as a full URL or a bare host, with the
/// token from `IONOS_TOKEN`.
#[tokio::test]
async fn ionos_api_url_points_the_binary_at_another_server() {
    let sim = ionos_mcp::simulator::Simulator::start()
        .await
        .expect("simulator");
    let dc = "b5634021-a867-4b94-a0ff-eafb37fd3e19";
    for base in [
        sim.cloudapi_url(),
        format!("http://{}", sim.addr()),
        format!("http://{}/", sim.addr()),
    ] {
        sim.clear_requests();
        let out = command(&[
            "call",
            "list_servers",
            &format!("{{\"datacenter_id\":\"{dc}\"}}"),
        ])
        .env("IONOS_API_URL", &base)
        .env("IONOS_TOKEN", "team-token-123")
        .output()
        .await
        .expect("runs");
        assert!(
            out.status.success(),
            "{base}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sent = sim.requests();
        assert_eq!(sent.len(), 1, "{base}: {sent:?}");
        assert_eq!(sent[0].method, "GET");
        assert_eq!(
            sent[0].path,
            format!("/cloudapi/v6/datacenters/{dc}/servers"),
            "{base}"
        );
        assert_eq!(
            sent[0].authorization.as_deref(),
            Some("Bearer team-token-123")
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        assert!(v["items"].as_array().is_some_and(|i| i.len() == 4), "{v}");
        // The token never shows up in what the binary prints.
        let all = [out.stdout, out.stderr].concat();
        assert!(!String::from_utf8_lossy(&all).contains("team-token-123"));
    }
}

#[tokio::test]
async fn check_reports_per_product_and_fails_on_a_refused_token() {
    let demo = command(&["--demo", "check"]).output().await.expect("runs");
    assert_eq!(
        demo.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let table = String::from_utf8_lossy(&demo.stdout);
    for product in ionos_mcp::tools::table::PRODUCTS {
        assert!(table.contains(product.key), "{product:?} missing:\n{table}");
    }
    assert!(table.contains("list_datacenters"), "{table}");

    let sim = ionos_mcp::simulator::Simulator::start()
        .await
        .expect("simulator");
    let mut cmd = command(&["check"]);
    // Every product on the simulator: no probe may reach the real IONOS.
    for p in ionos_mcp::tools::table::PRODUCTS {
        let url = sim
            .base_url(p.key)
            .unwrap_or_else(|| panic!("the simulator has no {}", p.key));
        cmd.env(p.base_url_env, url);
    }
    let bad = cmd
        .env("IONOS_TOKEN", ionos_mcp::simulator::EXPIRED_TOKEN)
        .env(
            "IONOS_S3_ACCESS_KEY",
            ionos_mcp::simulator::DEMO_S3_ACCESS_KEY,
        )
        .env(
            "IONOS_S3_SECRET_KEY",
            ionos_mcp::simulator::DEMO_S3_SECRET_KEY,
        )
        .output()
        .await
        .expect("runs");
    assert!(
        sim.requests().len() >= ionos_mcp::tools::table::PRODUCTS.len(),
        "not every probe reached the simulator"
    );
    assert_eq!(bad.status.code(), Some(1));
    let table = String::from_utf8_lossy(&bad.stdout);
    assert!(table.contains("401"), "{table}");
    assert!(table.contains("NO"), "{table}");
}

fn run(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ionos-mcp"));
    cmd.args(args).envs(crate::support::empty_home());
    for var in [
        "IONOS_TOKEN",
        "IONOS_TOKEN_FILE",
        "IONOS_CONFIG_FILE",
        "IONOS_TOOLSETS",
        "IONOS_ENABLE_WRITES",
        "IONOS_MCP_LOG",
        "IONOS_LOG_LEVEL",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).output().expect("runs")
}

/// `call` knows every tool `tools` lists, documents included; a mistyped name gets a
/// suggestion and the true counts.
#[test]
fn call_serves_documents_and_suggests_the_tool_meant() {
    let out = run(&["--demo", "call", "get_billing_focus_spec"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("FOCUS"));

    let out = run(&["--demo", "call", "list_datacenter"], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Did you mean `list_datacenters`?"), "{err}");
    let documents = ionos_mcp::tools::table::DOCUMENTS.len();
    let tools = ionos_mcp::tools::table::TOOLS;
    let served = tools.iter().filter(|t| t.is_read_only()).count() + documents;
    assert!(
        err.contains(&format!(
            "lists the {served} tools served ({} in all",
            tools.len() + documents
        )),
        "{err}"
    );
}

/// The example in the bad-JSON message fits the tool: none for a tool without required
/// arguments, its required ones otherwise.
#[test]
fn bad_json_arguments_get_an_example_for_that_tool() {
    let out = run(&["--demo", "call", "list_datacenters", "{depth: 1"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("e.g. '{}' for list_datacenters"), "{err}");
    assert!(!err.contains("datacenter_id"), "{err}");
    let out = run(&["--demo", "call", "get_server", "[1]"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"e.g. '{"datacenter_id": "...", "server_id": "..."}'"#),
        "{err}"
    );
}

/// Every header sits over its column, the last one (TITLE, PATH) included; the write-tools
/// footer appears only where the toolsets have write tools; `k8s` names Kubernetes.
#[test]
fn the_tools_table_is_aligned_and_its_footers_are_true() {
    let out = run(&["tools"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    let names: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        names,
        ["TOOL", "TOOLSET", "ACCESS", "METHOD", "TITLE", "PATH"]
    );
    let starts: Vec<usize> = names.iter().map(|n| header.find(n).unwrap()).collect();
    let row = lines.next().expect("a row");
    for (name, at) in names.iter().zip(&starts).skip(1) {
        assert!(
            row[..*at].ends_with("  ") && !row[*at..].starts_with(' '),
            "{name} misaligned:\n{header}\n{row}"
        );
    }
    assert!(text.contains("write tools not served"), "{text}");

    let out = run(&["tools"], &[("IONOS_TOOLSETS", "dns")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("write tools not served"), "{text}");

    let out = run(&["tools", "--json"], &[("IONOS_TOOLSETS", "K8s")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let list = list.as_array().expect("array");
    assert!(!list.is_empty());
    assert!(
        list.iter().all(|t| t["product"] == "kubernetes"),
        "{list:?}"
    );
}

/// `IONOS_ENABLE_WRITES` takes the usual spellings and refuses anything else by name.
#[test]
fn write_switch_spellings() {
    for yes in ["TRUE", "yes", "On", "1"] {
        let out = run(&["tools", "--json"], &[("IONOS_ENABLE_WRITES", yes)]);
        assert!(out.status.success(), "{yes}");
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert!(
            list.as_array()
                .expect("array")
                .iter()
                .any(|t| t["name"] == "start_server"),
            "{yes} did not enable writes"
        );
    }
    let out = run(&["tools"], &[("IONOS_ENABLE_WRITES", "enabled")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("IONOS_ENABLE_WRITES"), "{err}");
    assert!(err.contains("yes/no"), "{err}");
    let help = run(&["--help"], &[]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(!help.contains("Read-only MCP server"), "{help}");
    assert!(help.contains("IONOS_ENABLE_WRITES"), "{help}");
}

/// `IONOS_LOG_LEVEL` is honoured as the IONOS SDKs name levels; logs stay on stderr.
#[test]
fn ionos_log_level_sets_the_level() {
    let out = run(
        &["--demo", "call", "list_datacenters"],
        &[("IONOS_LOG_LEVEL", "DEBUG")],
    );
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DEBUG"), "no debug lines: {err}");
    serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("stdout is the JSON only");
    let quiet = run(&["--demo", "call", "list_datacenters"], &[]);
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("DEBUG"));
    let bad = run(
        &["--demo", "call", "list_datacenters"],
        &[("IONOS_LOG_LEVEL", "loud")],
    );
    assert!(bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("IONOS_LOG_LEVEL") && err.contains("debug"),
        "{err}"
    );
}

/// A `tools/call` whose params do not fit (arguments that are not an object) is invalid
/// params, -32602, not "method not found"; stderr says so in words, with no Rust structs.
#[tokio::test]
async fn malformed_tool_call_params_are_invalid_params() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let mut child = command(&["--demo"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let send = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "list_datacenters", "arguments": [1]}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "list_datacenter"}}),
    ];
    for m in send {
        stdin
            .write_all(format!("{m}\n").as_bytes())
            .await
            .expect("write");
    }
    let mut answers = std::collections::BTreeMap::new();
    while answers.len() < 3 {
        let line = tokio::time::timeout(std::time::Duration::from_secs(20), stdout.next_line())
            .await
            .expect("an answer in time")
            .expect("read")
            .expect("a line");
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON-RPC");
        if let Some(id) = v["id"].as_i64() {
            answers.insert(id, v);
        }
    }
    let bad = &answers[&2]["error"];
    assert_eq!(bad["code"], -32602, "{bad}");
    assert!(
        bad["message"].as_str().unwrap().contains("arguments"),
        "{bad}"
    );
    let unknown = &answers[&3]["error"];
    assert_eq!(unknown["code"], -32602, "{unknown}");
    assert!(
        unknown["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `list_datacenters`"),
        "{unknown}"
    );
    drop(stdin);
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .await
        .expect("stderr");
    let _ = child.wait().await;
    assert!(
        !err.contains("ErrorData") && !err.contains("ErrorCode("),
        "{err}"
    );
    assert!(
        err.contains("tools/call refused (-32602 invalid params)"),
        "{err}"
    );
}

/// `check` runs the probes at once and bounds each: an endpoint that never answers costs a
/// few seconds, not half a minute, and the others print before it.
#[tokio::test]
async fn check_prints_each_probe_as_it_answers_and_bounds_a_silent_endpoint() {
    use tokio::io::AsyncBufReadExt;
    let sim = ionos_mcp::simulator::Simulator::start()
        .await
        .expect("simulator");
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    let mut cmd = command(&["check"]);
    for p in ionos_mcp::tools::table::PRODUCTS {
        let url = if p.key == "dns" {
            format!("http://{silent_addr}")
        } else {
            sim.base_url(p.key).expect("simulated")
        };
        cmd.env(p.base_url_env, url);
    }
    let started = std::time::Instant::now();
    let mut child = cmd
        .env("IONOS_TOKEN", "a-token")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("runs");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    while let Some(line) = lines.next_line().await.expect("read") {
        seen.push((started.elapsed(), line));
    }
    let status = child.wait().await.expect("exits");
    let total = started.elapsed();
    let report: Vec<&str> = seen.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(status.code(), Some(1), "{report:#?}");
    let limit = ionos_mcp::cli::check::PROBE_LIMIT;
    assert!(
        total < limit + std::time::Duration::from_secs(4),
        "took {total:?}"
    );
    let (compute_at, _) = seen
        .iter()
        .find(|(_, l)| l.starts_with("compute "))
        .expect("a compute line");
    assert!(
        *compute_at < limit,
        "compute printed only at {compute_at:?}: {report:#?}"
    );
    let dns = report
        .iter()
        .find(|l| l.starts_with("dns "))
        .expect("a dns line");
    assert!(
        dns.contains("no answer within") && dns.contains("IONOS_DNS_URL"),
        "{dns}"
    );
    assert!(
        report
            .iter()
            .any(|l| l.contains("endpoint (dns):") && l.contains("IONOS_DNS_URL")),
        "{report:#?}"
    );
}

/// The current profile of `~/.ionos/config` (as `ionosctl config login` writes it) gives the
/// token and the Cloud API endpoint when no variable does, and `check` says so.
#[tokio::test]
async fn the_ionos_config_file_supplies_token_and_endpoint() {
    let sim = ionos_mcp::simulator::Simulator::start()
        .await
        .expect("simulator");
    let home = std::env::temp_dir().join(format!("ionos-mcp-home-{}", std::process::id()));
    std::fs::create_dir_all(home.join(".ionos")).expect("dir");
    std::fs::write(
        home.join(".ionos").join("config"),
        format!(
            "version: 1.0\ncurrentProfile: user\nprofiles:\n  - name: user\n    environment: prod\n    credentials:\n      token: profile-token\nenvironments:\n  - name: prod\n    products:\n      - name: cloud\n        endpoints:\n          - name: {}\n            skipTlsVerify: false\n",
            sim.cloudapi_url()
        ),
    )
    .expect("write");
    let out = command(&["call", "list_datacenters"])
        .env("HOME", &home)
        .output()
        .await
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent = sim.requests();
    assert_eq!(
        sent.last().and_then(|r| r.authorization.as_deref()),
        Some("Bearer profile-token")
    );
    let out = command(&["check"])
        .env("HOME", &home)
        .output()
        .await
        .expect("runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("credentials: the token of profile `user` in "),
        "{report}"
    );
    assert!(
        report.contains("(profile `user`): credentials, Cloud API endpoint"),
        "{report}"
    );
    assert!(
        report.contains(&format!("endpoint (compute): {}", sim.cloudapi_url())),
        "{report}"
    );
    std::fs::remove_dir_all(&home).ok();
}
