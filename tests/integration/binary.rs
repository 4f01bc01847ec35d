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
    let (transport, _stderr) = TokioChildProcess::builder(command(&[]))
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
    assert!(text.contains("IONOS_TOKEN is not set"), "{text}");
    assert!(text.contains("Token Manager"), "{text}");
    client.cancel().await.expect("clean shutdown");
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
