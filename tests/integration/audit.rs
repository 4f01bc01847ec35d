//! The audit report and docs/TOOLS.md come from the served tool table.

use std::process::Command;

use ionos_mcp::cli::audit::{TOOLS_MD_COMMAND, tools_markdown};
use ionos_mcp::tools::table::TOOLS;
use serde_json::Value;

fn audit(args: &[&str], writes: bool) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ionos-mcp"));
    cmd.arg("audit")
        .args(args)
        .env_remove("IONOS_ENABLE_WRITES")
        .env_remove("IONOS_MCP_TOOL_SCOPE");
    if writes {
        cmd.env("IONOS_ENABLE_WRITES", "true");
    }
    cmd.output().expect("runs")
}

#[test]
fn audit_json_lists_every_tool_with_its_endpoint() {
    let out = audit(&["--format", "json"], false);
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let tools = doc["tools"].as_array().expect("tools");
    assert_eq!(
        tools.len(),
        TOOLS.len() + ionos_mcp::tools::table::DOCUMENTS.len()
    );
    for (row, spec) in tools.iter().zip(TOOLS) {
        assert_eq!(row["name"], spec.name);
        assert_eq!(row["method"], spec.method);
        assert_eq!(row["path"], spec.path);
        assert_eq!(row["operation_id"], spec.operation_id);
        assert_eq!(row["enabled"], Value::Bool(spec.is_read_only()));
        assert_eq!(row["spec_sha256"].as_str().map(str::len), Some(64), "{row}");
    }
    // What a client is served is exactly the enabled rows.
    let served = Command::new(env!("CARGO_BIN_EXE_ionos-mcp"))
        .args(["tools", "--json"])
        .env_remove("IONOS_ENABLE_WRITES")
        .env_remove("IONOS_MCP_TOOL_SCOPE")
        .output()
        .expect("runs");
    let served: Value = serde_json::from_slice(&served.stdout).expect("JSON");
    let enabled = tools
        .iter()
        .filter(|t| t["enabled"] == Value::Bool(true))
        .count();
    assert_eq!(served.as_array().map(Vec::len), Some(enabled));
}

#[test]
fn deny_writes_gates_on_enabled_write_tools() {
    let read_only = audit(&["--deny-writes"], false);
    assert_eq!(read_only.status.code(), Some(0));
    assert!(
        TOOLS.iter().any(|t| !t.is_read_only()),
        "no write tool to test with"
    );
    let with_writes = audit(&["--deny-writes"], true);
    assert_eq!(with_writes.status.code(), Some(3));
    let err = String::from_utf8_lossy(&with_writes.stderr);
    assert!(err.contains("can change the account"), "{err}");
    for format in ["table", "markdown", "json"] {
        assert!(audit(&["--format", format], true).status.success());
    }
}

/// Each tool's scope class and key scope; `--deny-writes` exits 3 whenever a write or
/// destructive tool is enabled, and the classes follow IONOS_MCP_TOOL_SCOPE.
#[test]
fn audit_shows_scope_classes() {
    let run = |scope: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ionos-mcp"))
            .arg("audit")
            .args(args)
            .env_remove("IONOS_ENABLE_WRITES")
            .env("IONOS_MCP_TOOL_SCOPE", scope)
            .output()
            .expect("runs")
    };
    let doc: Value =
        serde_json::from_slice(&run("write", &["--format", "json"]).stdout).expect("JSON");
    let row = |name: &str| {
        doc["tools"]
            .as_array()
            .and_then(|t| t.iter().find(|r| r["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} in the audit"))
    };
    for (name, class, enabled) in [
        ("list_servers", "read", true),
        ("start_server", "write", true),
        ("resume_server", "write", true),
        ("stop_server", "destructive", false),
        ("reboot_server", "destructive", false),
        ("suspend_server", "destructive", false),
    ] {
        let r = row(name);
        assert_eq!(r["access"], class, "{r}");
        assert_eq!(r["enabled"], enabled, "{r}");
        let key = if class == "read" {
            "compute:read"
        } else {
            "compute:write"
        };
        assert_eq!(r["key_scope"], key, "{r}");
    }
    assert_eq!(run("read", &["--deny-writes"]).status.code(), Some(0));
    for scope in ["write", "destructive", "read,destructive"] {
        let out = run(scope, &["--deny-writes"]);
        assert_eq!(out.status.code(), Some(3), "{scope}");
    }
    let table = String::from_utf8_lossy(&run("destructive", &[]).stdout).into_owned();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("stop_server ") && l.contains("destructive")),
        "{table}"
    );
    let bad = run("everything", &[]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("IONOS_MCP_TOOL_SCOPE"), "{err}");
}

#[test]
fn docs_tools_md_matches_the_binary() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/TOOLS.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == tools_markdown(),
        "docs/TOOLS.md is stale; regenerate it with:\n    {TOOLS_MD_COMMAND}"
    );
}

/// Documents are served as argument-free read-only tools and as MCP resources.
#[tokio::test]
async fn documents_are_tools_and_resources() {
    let h = crate::support::Harness::start().await;
    let tools = h.client.list_all_tools().await.expect("tools/list");
    let focus = tools
        .iter()
        .find(|t| t.name == "get_billing_focus_spec")
        .expect("the FOCUS document is a tool");
    assert_eq!(
        focus.annotations.as_ref().and_then(|a| a.read_only_hint),
        Some(true)
    );
    h.sim.clear_requests();
    let r = h
        .call("get_billing_focus_spec", serde_json::json!({}))
        .await;
    let text = crate::support::text(&r);
    assert!(
        text.contains("FOCUS v1.3") && text.contains("BilledCost"),
        "{text}"
    );
    assert!(
        h.sim.requests().is_empty(),
        "a document call reached the API"
    );

    let resources = h.client.list_all_resources().await.expect("resources/list");
    let focus = resources
        .iter()
        .find(|r| r.uri == "ionos://billing/focus-v1.3")
        .expect("the FOCUS resource");
    // Named as a resource, not like the tool, and served as what it is: Markdown.
    assert_eq!(focus.name, "billing-focus-v1.3");
    assert_eq!(focus.mime_type.as_deref(), Some("text/markdown"));
    let read = h
        .client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "ionos://billing/focus-v1.3",
        ))
        .await
        .expect("resources/read");
    let body = format!("{:?}", read);
    assert!(body.contains("BillingAccountId"), "{body}");
    assert!(body.contains("text/markdown"), "{body}");
    assert!(
        h.client
            .read_resource(rmcp::model::ReadResourceRequestParams::new("ionos://nope"))
            .await
            .is_err()
    );
}

/// Every column of the audit table starts where its header does, on the longest product
/// name too; counts are in the singular where there is one.
#[test]
fn the_audit_table_keeps_its_columns() {
    let out = audit(&[], false);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    let at = |name: &str| header.find(name).expect(name);
    let row = lines
        .find(|l| l.contains(" objectstorage_s3 "))
        .expect("an S3 row");
    for name in ["PRODUCT", "ACCESS", "ENABLED", "METHOD", "PATH"] {
        let i = at(name);
        assert!(
            row[..i].ends_with("  ") && !row[i..].starts_with(' '),
            "{name} misaligned:\n{header}\n{row}"
        );
    }
    let docs = ionos_mcp::cli::audit::tools_markdown();
    assert!(
        !docs.contains("1 documents") && !docs.contains("(1 tools)"),
        "{docs}"
    );
}
