//! The dynamic load mode: three meta-tools in `tools/list`, a ranked search whose best hits
//! carry their input schema, full definitions by name, and calls checked exactly like direct
//! ones; the same gates (toolsets, writes, a key's scopes) as the eager list.

use std::sync::Arc;

use ionos_mcp::access::scopes::Scopes;
use ionos_mcp::access::store::NewKey;
use ionos_mcp::config::LoadMode;
use ionos_mcp::mcp::IonosServer;
use ionos_mcp::simulator::Simulator;
use ionos_mcp::tools::dispatch::Dispatcher;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use serde_json::{Value, json};

use crate::http::{TeamServer, modern_body};
use crate::support::{Client, config_for, is_error, text};

async fn dynamic_client(tune: impl FnOnce(&mut ionos_mcp::config::Config)) -> (Client, Simulator) {
    let sim = Simulator::start().await.expect("simulator");
    let mut config = config_for(&format!("http://{}", sim.addr()))
        .with_base_urls(|product| sim.base_url(product));
    tune(&mut config);
    let dispatcher = Arc::new(Dispatcher::new(config));
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let server = IonosServer::with_mode(dispatcher, LoadMode::Dynamic);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    (().serve(client_io).await.expect("client connects"), sim)
}

async fn call(c: &Client, tool: &str, args: Value) -> CallToolResult {
    let mut params = CallToolRequestParams::new(tool.to_string());
    params.arguments = args.as_object().cloned();
    c.call_tool(params).await.expect("tools/call answers")
}

fn structured(r: &CallToolResult) -> Value {
    assert!(!is_error(r), "{}", text(r));
    r.structured_content.clone().expect("structured content")
}

fn names(v: &Value) -> Vec<String> {
    v["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_string())
        .collect()
}

#[tokio::test]
async fn tools_list_is_three_meta_tools_within_1500_tokens() {
    let (c, _sim) = dynamic_client(|_| {}).await;
    let tools = c.list_all_tools().await.expect("tools/list");
    let listed: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        listed,
        [
            "ionos_search_tools",
            "ionos_describe_tools",
            "ionos_call_tool"
        ]
    );
    let json = serde_json::to_string(&json!({ "tools": tools })).expect("json");
    let bpe = tiktoken_rs::o200k_base().expect("o200k vocabulary");
    let tokens = bpe.encode_with_special_tokens(&json).len();
    eprintln!(
        "dynamic tools/list: {} bytes, {tokens} o200k tokens",
        json.len()
    );
    assert!(tokens <= 1500, "{tokens} tokens");
    assert!(
        tools
            .iter()
            .all(|t| t.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true))
    );
}

#[tokio::test]
async fn search_ranks_and_its_best_hits_carry_their_schema() {
    let (c, _sim) = dynamic_client(|_| {}).await;
    for (query, first) in [
        ("list servers", "list_servers"),
        ("dns records of a zone", "list_dns_zone_records"),
        ("kubernetes clusters", "list_k8s_clusters"),
        ("zone file", "get_dns_zone_file"),
        ("certificates", "list_cert_certificates"),
        ("certificate", "get_cert_certificate"),
        ("invoices", "list_billing_invoices"),
        ("who changed what", "list_activitylog_events"),
    ] {
        let v = structured(&call(&c, "ionos_search_tools", json!({"query": query})).await);
        let found = names(&v);
        assert_eq!(
            found.first().map(String::as_str),
            Some(first),
            "{query}: {found:?}"
        );
        let top = &v["tools"][0];
        assert_eq!(top["input_schema"]["type"], "object", "{query}");
        assert!(found.len() <= 10);
    }
    let v = structured(
        &call(
            &c,
            "ionos_search_tools",
            json!({"query": "list", "group": "k8s", "limit": 0}),
        )
        .await,
    );
    let found = names(&v);
    assert!(found.len() >= 3, "{found:?}");
    assert!(found.iter().all(|n| n.contains("k8s")), "{found:?}");
    assert!(
        v["tools"][5].get("input_schema").is_none(),
        "only the best hits carry schemas"
    );

    let v = structured(
        &call(
            &c,
            "ionos_search_tools",
            json!({"group": "dns", "limit": 3}),
        )
        .await,
    );
    assert_eq!(names(&v).len(), 3);
    assert!(v["count"].as_u64().unwrap() > 3);

    for bad in [
        json!({"limit": -1}),
        json!({"group": "nope"}),
        json!({"query": 5}),
    ] {
        let r = call(&c, "ionos_search_tools", bad.clone()).await;
        assert!(is_error(&r), "{bad}");
    }
}

#[tokio::test]
async fn describe_gives_full_definitions_and_suggests_near_names() {
    let (c, _sim) = dynamic_client(|_| {}).await;
    let v = structured(
        &call(
            &c,
            "ionos_describe_tools",
            json!({"names": ["get_server", "list_servrs"]}),
        )
        .await,
    );
    assert_eq!(names(&v), ["get_server"]);
    let def = &v["tools"][0];
    let required = def["inputSchema"]["required"].as_array().expect("required");
    assert!(required.contains(&json!("server_id")));
    assert!(def["annotations"]["readOnlyHint"].as_bool().unwrap());
    let unknown = v["unknown"][0].as_str().expect("unknown note");
    assert!(unknown.contains("did you mean `list_servers`"), "{unknown}");

    let r = call(
        &c,
        "ionos_describe_tools",
        json!({"names": ["nothing_like_it"]}),
    )
    .await;
    assert!(is_error(&r));
}

#[tokio::test]
async fn calls_through_the_meta_tool_equal_direct_calls() {
    let (c, _sim) = dynamic_client(|_| {}).await;
    let direct = call(&c, "list_datacenters", json!({})).await;
    let through = call(
        &c,
        "ionos_call_tool",
        json!({"name": "list_datacenters", "arguments": {}}),
    )
    .await;
    assert_eq!(structured(&direct), structured(&through));

    // Validated exactly like a direct call.
    let bad = json!({"depth": "deep"});
    let direct = call(&c, "list_datacenters", bad.clone()).await;
    let through = call(
        &c,
        "ionos_call_tool",
        json!({"name": "list_datacenters", "arguments": bad}),
    )
    .await;
    assert!(is_error(&direct) && is_error(&through));
    assert_eq!(text(&direct), text(&through));

    let r = call(&c, "ionos_call_tool", json!({"name": "list_datacenter"})).await;
    assert!(is_error(&r));
    assert!(
        text(&r).contains("did you mean `list_datacenters`"),
        "{}",
        text(&r)
    );
    let r = call(&c, "ionos_call_tool", json!({"arguments": {}})).await;
    assert!(is_error(&r) && text(&r).contains("`name`"));
}

#[tokio::test]
async fn toolset_and_write_gates_apply_to_search_and_calls() {
    let (c, _sim) = dynamic_client(|config| {
        config.toolsets = Some(vec!["dns".to_string()]);
    })
    .await;
    let v = structured(
        &call(
            &c,
            "ionos_search_tools",
            json!({"query": "server", "limit": 0}),
        )
        .await,
    );
    assert!(
        names(&v).iter().all(|n| n.contains("dns")),
        "{:?}",
        names(&v)
    );
    let v = structured(&call(&c, "ionos_search_tools", json!({"query": "stop server"})).await);
    assert!(!names(&v).iter().any(|n| n == "stop_server"));
    let r = call(&c, "ionos_call_tool", json!({"name": "list_datacenters"})).await;
    assert!(is_error(&r));
    assert!(text(&r).contains("IONOS_TOOLSETS"), "{}", text(&r));
    let r = call(
        &c,
        "ionos_call_tool",
        json!({"name": "stop_server", "arguments": {}}),
    )
    .await;
    assert!(is_error(&r));
}

#[tokio::test]
async fn over_http_a_key_searches_and_calls_only_within_its_scopes() {
    let s = TeamServer::start_with(|s| {
        s.http.load_mode = LoadMode::Dynamic;
    })
    .await;
    let mut dns = NewKey::named("dns");
    dns.scopes = Scopes::parse("dns:read").unwrap();
    let key = s.issue(dns).await.key.expose().to_string();
    let mut search = modern_body("tools/call", Some("ionos_search_tools"));
    search["params"]["arguments"] = json!({"query": "list", "limit": 0});
    let a = s.post(Some(&key), &search).await;
    let found: Vec<String> =
        serde_json::from_value::<Value>(a.body["result"]["structuredContent"]["tools"].clone())
            .ok()
            .and_then(|v| v.as_array().cloned())
            .expect("search results")
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_string))
            .collect();
    assert!(!found.is_empty());
    assert!(found.iter().all(|n| n.contains("dns")), "{found:?}");

    let mut through = modern_body("tools/call", Some("ionos_call_tool"));
    through["params"]["arguments"] = json!({"name": "list_datacenters"});
    let a = s.post(Some(&key), &through).await;
    assert_eq!(
        a.body.pointer("/result/isError"),
        Some(&Value::Bool(true)),
        "{:?}",
        a.body
    );
    let said = a
        .body
        .pointer("/result/content/0/text")
        .and_then(Value::as_str)
        .unwrap_or("");
    assert!(said.contains("compute:read"), "{said}");

    let mut allowed = modern_body("tools/call", Some("ionos_call_tool"));
    allowed["params"]["arguments"] = json!({"name": "list_dns_zones"});
    let a = s.post(Some(&key), &allowed).await;
    assert_ne!(
        a.body.pointer("/result/isError"),
        Some(&Value::Bool(true)),
        "{:?}",
        a.body
    );
    s.stop().await;
}
