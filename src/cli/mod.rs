//! The command-line subcommands. Only these write to stdout, and only when not serving MCP.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use serde_json::{Map, Value, json};

pub mod audit;
pub mod check;
pub mod keys;
pub mod serve;

use crate::config::{Config, Credentials, ProcessEnv, Secret};
use crate::simulator::{DEMO_S3_ACCESS_KEY, DEMO_S3_SECRET_KEY, DEMO_TOKEN, Simulator};
use crate::tools::dispatch::{Dispatcher, Output};
use crate::tools::table::TOOLS;

/// Logs go to stderr: on stdio, stdout carries only the protocol.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("IONOS_MCP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// A dispatcher on the real API, or on a freshly started simulator (`--demo`).
/// The simulator lives as long as the returned guard.
pub async fn dispatcher(demo: bool) -> anyhow::Result<(Arc<Dispatcher>, Option<Simulator>)> {
    let config = Config::from_env(&ProcessEnv).context("invalid configuration")?;
    if demo {
        let sim = Simulator::start()
            .await
            .context("cannot start the simulated IONOS account")?;
        let mut config = config
            .with_origin(&format!("http://{}", sim.addr()))
            .with_base_urls(|product| sim.base_url(product));
        config.credentials = Credentials::Token(Secret::new(DEMO_TOKEN));
        // The demo's S3 buckets sit in two regions, found as with a real account.
        config.s3 = crate::config::S3Settings {
            access_key: Some(DEMO_S3_ACCESS_KEY.to_string()),
            secret_key: Some(Secret::new(DEMO_S3_SECRET_KEY)),
            region: Some("eu-central-3".to_string()),
            single_endpoint: false,
        };
        let d = Dispatcher::new(config).context("cannot build the HTTP client")?;
        return Ok((Arc::new(d), Some(sim)));
    }
    let d = Dispatcher::new(config).context("cannot build the HTTP client")?;
    Ok((Arc::new(d), None))
}

/// The configuration the server would run with (what it serves).
fn config() -> anyhow::Result<Config> {
    Config::from_env(&ProcessEnv).context("invalid configuration")
}

/// `ionos-mcp check`: the table on stdout, exit 1 when any product fails.
pub async fn check(demo: bool) -> anyhow::Result<ExitCode> {
    let (dispatcher, _sim) = dispatcher(demo).await?;
    let (report, ok) = crate::cli::check::run(&dispatcher, demo).await;
    std::io::stdout().lock().write_all(report.as_bytes())?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `ionos-mcp audit [--format ...] [--deny-writes]`.
pub fn audit(format: crate::cli::audit::Format, deny_writes: bool) -> anyhow::Result<ExitCode> {
    let (text, enabled_writes) = crate::cli::audit::render(format, &config()?);
    std::io::stdout().lock().write_all(text.as_bytes())?;
    if deny_writes && enabled_writes > 0 {
        eprintln!(
            "ionos-mcp audit: {enabled_writes} enabled tool(s) can change the account (unset IONOS_MCP_TOOL_SCOPE and IONOS_ENABLE_WRITES, or set IONOS_MCP_TOOL_SCOPE=read, to serve read-only tools only)"
        );
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

/// `ionos-mcp tools [--json | --markdown]`: the tools a client is served.
pub fn print_tools(as_json: bool, markdown: bool) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if markdown {
        out.write_all(crate::cli::audit::tools_markdown().as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let config = config()?;
    let served: Vec<&crate::tools::table::ToolSpec> =
        TOOLS.iter().filter(|t| config.serves(t)).collect();
    let documents: Vec<&crate::tools::table::DocumentSpec> = crate::tools::table::DOCUMENTS
        .iter()
        .filter(|d| config.selects(d.product, d.toolset))
        .collect();
    if as_json {
        let list: Vec<Value> = served
            .iter()
            .map(|t| {
                let schema = t.input_schema_object();
                let args: Vec<&String> = schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|p| p.keys().collect())
                    .unwrap_or_default();
                json!({
                    "name": t.name,
                    "product": t.product,
                    "family": t.product().family,
                    "toolset": t.toolset,
                    "title": t.title,
                    "access": t.access.as_str(),
                    "read_only": t.is_read_only(),
                    "method": t.method,
                    "path": t.path,
                    "operation_id": t.operation_id,
                    "privilege": t.product().privilege,
                    "arguments": args,
                    "required": schema.get("required").cloned().unwrap_or(json!([])),
                })
            })
            .collect();
        let documents = documents.iter().map(|d| {
            json!({
                "name": d.name,
                "product": d.product,
                "family": crate::tools::table::product(d.product).map_or(d.product, |p| p.family),
                "toolset": d.toolset,
                "title": d.title,
                "access": "read",
                "read_only": true,
                "method": null,
                "path": null,
                "resource": d.uri,
                "arguments": [],
                "required": [],
            })
        });
        let list: Vec<Value> = list.into_iter().chain(documents).collect();
        serde_json::to_writer_pretty(&mut out, &list)?;
        writeln!(out)?;
    } else {
        let w = served.iter().map(|t| t.name.len()).max().unwrap_or(10);
        let ws = served.iter().map(|t| t.toolset.len()).max().unwrap_or(8);
        writeln!(
            out,
            "{:w$}  {:ws$}  {:5}  {:6} PATH",
            "TOOL", "TOOLSET", "ACCESS", "METHOD"
        )?;
        for t in &served {
            writeln!(
                out,
                "{:w$}  {:ws$}  {:5}  {:6} {}   {}",
                t.name,
                t.toolset,
                t.access.as_str(),
                t.method,
                t.path,
                t.title
            )?;
        }
        for d in &documents {
            writeln!(
                out,
                "{:w$}  {:ws$}  {:5}  {:6} {}   {}",
                d.name, d.toolset, "read", "-", d.uri, d.title
            )?;
        }
        writeln!(out, "\n{} tools", served.len() + documents.len())?;
        let writes_off = TOOLS
            .iter()
            .filter(|t| t.access > config.tool_scope)
            .count();
        if writes_off > 0 {
            writeln!(
                out,
                "({writes_off} write tools not served; IONOS_MCP_TOOL_SCOPE=write serves those that change the account, =destructive also stop, reboot and suspend)"
            )?;
        }
        let unselected = TOOLS
            .iter()
            .filter(|t| !config.selects(t.product, t.toolset))
            .count();
        if unselected > 0 {
            writeln!(
                out,
                "({unselected} tools outside IONOS_TOOLSETS not served)"
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `ionos-mcp call <tool> '<json>'`: one call, the result on stdout, exit 1 on a tool error.
pub async fn call(demo: bool, tool: &str, arguments: &str) -> anyhow::Result<ExitCode> {
    let args: Value = serde_json::from_str(arguments)
        .with_context(|| format!("arguments must be a JSON object, e.g. '{{\"datacenter_id\": \"...\"}}'; got `{arguments}`"))?;
    let Value::Object(args) = args else {
        anyhow::bail!("arguments must be a JSON object, e.g. '{{}}'");
    };
    let (dispatcher, _sim) = dispatcher(demo).await?;
    let outcome = dispatcher.call(tool, Some(args)).await;
    let mut out = std::io::stdout().lock();
    match outcome {
        None => {
            let names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
            anyhow::bail!(
                "unknown tool `{tool}`; `ionos-mcp tools` lists them ({} in all, e.g. {})",
                names.len(),
                names[..3.min(names.len())].join(", ")
            )
        }
        Some(Ok(Output::Json(v))) => {
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Ok(Output::Text(t))) => {
            writeln!(out, "{t}")?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Err(e)) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// Arguments as a JSON object map, for callers holding a `Value`.
pub fn object(v: Value) -> Option<Map<String, Value>> {
    match v {
        Value::Object(o) => Some(o),
        _ => None,
    }
}
