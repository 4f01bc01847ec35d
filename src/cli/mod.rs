//! The command-line subcommands. Only these write to stdout, and only when not serving MCP.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use serde_json::{Map, Value, json};

pub mod audit;
pub mod check;
pub mod columns;
pub mod keys;
pub mod serve;

use crate::config::{Config, Credentials, ProcessEnv, Secret};
use crate::simulator::{DEMO_S3_ACCESS_KEY, DEMO_S3_SECRET_KEY, DEMO_TOKEN, Simulator};
use crate::tools::dispatch::{Answer, Dispatcher};
use crate::tools::table::TOOLS;

/// Logs go to stderr: on stdio, stdout carries only the protocol. `IONOS_MCP_LOG` is a full
/// filter; without it, `IONOS_LOG_LEVEL` (the IONOS SDKs' variable) sets the level.
pub fn init_logging() {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::FilterExt as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let (filter, level_problem) = match tracing_subscriber::EnvFilter::try_from_env("IONOS_MCP_LOG")
    {
        Ok(f) => (f, None),
        Err(_) => {
            let (directives, problem) = log_level(std::env::var("IONOS_LOG_LEVEL").ok().as_deref());
            (tracing_subscriber::EnvFilter::new(directives), problem)
        }
    };
    // Both filters belong to the one layer: a filter of its own beside it would enable every
    // span and event of every library for the registry, which then records each span that
    // the layer's level filter drops anyway.
    let not_an_echo = tracing_subscriber::filter::filter_fn(|meta| !is_protocol_error_echo(meta));
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .with_filter(filter.and(not_an_echo)),
        )
        .try_init();
    if let Some(problem) = level_problem {
        tracing::warn!("{problem}");
    }
}

/// The filter for an `IONOS_LOG_LEVEL` value, and what is wrong with the value if anything.
/// The SDKs know `off`, `debug` and `trace`; the usual `error`, `warn` and `info` work too.
/// Only ionos-mcp's own messages get more detailed; its libraries stay at `warn`.
pub fn log_level(value: Option<&str>) -> (String, Option<String>) {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return ("warn".into(), None);
    };
    match v.to_ascii_lowercase().as_str() {
        // The SDKs' default: no detail, warnings still shown.
        "off" | "warn" | "warning" => ("warn".into(), None),
        "error" => ("error".into(), None),
        level @ ("info" | "debug" | "trace") => (format!("warn,ionos_mcp={level}"), None),
        _ => (
            "warn".into(),
            Some(format!(
                "IONOS_LOG_LEVEL=`{v}` is not a level; use off, error, warn, info, debug or trace (or IONOS_MCP_LOG for a full filter). Logging at warn."
            )),
        ),
    }
}

/// rmcp logs every JSON-RPC error it answers as a Rust debug struct (`ErrorData { code: … }`);
/// the client gets that error anyway, and ionos-mcp logs its own in words.
fn is_protocol_error_echo(meta: &tracing::Metadata<'_>) -> bool {
    meta.target() == "rmcp::service"
        && *meta.level() == tracing::Level::WARN
        && meta.fields().field("error").is_some()
        && meta.fields().field("id").is_some()
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
        let d = Dispatcher::new(config);
        return Ok((Arc::new(d), Some(sim)));
    }
    let d = Dispatcher::new(config);
    Ok((Arc::new(d), None))
}

/// The configuration the server would run with (what it serves).
fn config() -> anyhow::Result<Config> {
    Config::from_env(&ProcessEnv).context("invalid configuration")
}

/// `ionos-mcp check`: the report on stdout as the probes answer, exit 1 when a product fails.
pub async fn check(demo: bool) -> anyhow::Result<ExitCode> {
    let (dispatcher, _sim) = dispatcher(demo).await?;
    let ok = crate::cli::check::run(dispatcher, demo, &mut std::io::stdout()).await?;
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
        let rows: Vec<Vec<String>> = served
            .iter()
            .map(|t| {
                vec![
                    t.name.to_string(),
                    t.toolset.to_string(),
                    t.access.as_str().to_string(),
                    t.method.to_string(),
                    t.title.to_string(),
                    t.path.to_string(),
                ]
            })
            .chain(documents.iter().map(|d| {
                vec![
                    d.name.to_string(),
                    d.toolset.to_string(),
                    "read".into(),
                    "-".into(),
                    d.title.to_string(),
                    d.uri.to_string(),
                ]
            }))
            .collect();
        out.write_all(
            crate::cli::columns::render(
                &["TOOL", "TOOLSET", "ACCESS", "METHOD", "TITLE", "PATH"],
                &rows,
            )
            .as_bytes(),
        )?;
        writeln!(out, "\n{} tools", served.len() + documents.len())?;
        // Only the write tools of the selected toolsets are worth a mention.
        let writes_off = TOOLS
            .iter()
            .filter(|t| t.access > config.tool_scope)
            .filter(|t| config.selects(t.product, t.toolset))
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
            .filter(|t| t.is_read_only() || config.writes_enabled())
            .count()
            + crate::tools::table::DOCUMENTS
                .iter()
                .filter(|d| !config.selects(d.product, d.toolset))
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
/// Documents (`get_billing_focus_spec`) are printed as the server serves them.
pub async fn call(demo: bool, tool: &str, arguments: &str) -> anyhow::Result<ExitCode> {
    let spec = crate::tools::table::tool(tool);
    let document = crate::tools::table::document(tool);
    if spec.is_none() && document.is_none() {
        anyhow::bail!("{}", unknown_tool(tool, &config()?));
    }
    let example = spec.map_or_else(|| "{}".to_string(), example_arguments);
    let args: Value = serde_json::from_str(arguments).map_err(|e| {
        anyhow::anyhow!(
            "the arguments must be a JSON object, e.g. '{example}' for {tool}; `{}` is not JSON ({e})",
            crate::errors::truncate(arguments, 80)
        )
    })?;
    let Value::Object(args) = args else {
        anyhow::bail!("the arguments must be a JSON object, e.g. '{example}' for {tool}");
    };
    let mut out = std::io::stdout().lock();
    if let Some(d) = document {
        writeln!(out, "{}", d.text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (dispatcher, _sim) = dispatcher(demo).await?;
    match dispatcher.call(tool, Some(args)).await {
        None => anyhow::bail!("{}", unknown_tool(tool, dispatcher.config())),
        Some(Ok(Answer::Json { value, .. })) => {
            serde_json::to_writer_pretty(&mut out, &value)?;
            writeln!(out)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Ok(Answer::Text(t))) => {
            writeln!(out, "{t}")?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Err(e)) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// "unknown tool `x`; did you mean `y`?", with how many tools there are.
pub fn unknown_tool(name: &str, config: &Config) -> String {
    let documents = crate::tools::table::DOCUMENTS;
    let served = TOOLS.iter().filter(|t| config.serves(t)).count()
        + documents
            .iter()
            .filter(|d| config.selects(d.product, d.toolset))
            .count();
    let all = TOOLS.len() + documents.len();
    let guess = crate::tools::table::closest(name)
        .map(|n| format!(" Did you mean `{n}`?"))
        .unwrap_or_default();
    format!(
        "unknown tool `{name}`.{guess} `ionos-mcp tools` lists the {served} tools served ({all} in all, counting those IONOS_TOOLSETS or IONOS_ENABLE_WRITES leave out)"
    )
}

/// A JSON object with the tool's required arguments, for examples in messages.
fn example_arguments(tool: &crate::tools::table::ToolSpec) -> String {
    let schema = tool.input_schema_object();
    let props = schema.get("properties").and_then(Value::as_object);
    let fields: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|name| {
            let ty = props
                .and_then(|p| p.get(name))
                .and_then(|s| s.get("type"))
                .and_then(Value::as_str);
            let value = match ty {
                Some("integer" | "number") => "1",
                Some("boolean") => "true",
                _ => "\"...\"",
            };
            format!("\"{name}\": {value}")
        })
        .collect();
    if fields.is_empty() {
        "{}".into()
    } else {
        format!("{{{}}}", fields.join(", "))
    }
}

/// Arguments as a JSON object map, for callers holding a `Value`.
pub fn object(v: Value) -> Option<Map<String, Value>> {
    match v {
        Value::Object(o) => Some(o),
        _ => None,
    }
}
