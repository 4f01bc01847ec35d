//! `ionos-mcp check`: the configuration tested the way a person would before adding the server
//! to a client — credentials and their expiry, then one cheap read per product.

use std::fmt::Write as _;
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::config::Credentials;
use crate::errors::ToolError;
use crate::tools::dispatch::Dispatcher;
use crate::tools::table::{PRODUCTS, TOOLS, ToolSpec};

/// One line of the report.
pub struct Probe {
    pub product: &'static str,
    pub tool: Option<&'static str>,
    pub ok: bool,
    pub detail: String,
    pub millis: u128,
}

/// The product's probe: its first read tool that needs no argument, asked for one item.
pub fn probe_tool(product: &str) -> Option<&'static ToolSpec> {
    TOOLS.iter().find(|t| {
        t.product == product
            && t.is_read_only()
            && t.input_schema_object()
                .get("required")
                .and_then(Value::as_array)
                .is_none_or(|r| r.is_empty())
    })
}

/// Runs every probe; `ok` is false when any failed.
pub async fn run(dispatcher: &Dispatcher, demo: bool) -> (String, bool) {
    let mut out = String::new();
    let creds = &dispatcher.config().credentials;
    let source = match creds {
        _ if demo => "the simulated demo account (--demo)".to_string(),
        Credentials::None => "none (set IONOS_TOKEN)".to_string(),
        Credentials::Token(_) => "IONOS_TOKEN".to_string(),
        Credentials::TokenFile(p) => format!("IONOS_TOKEN_FILE ({})", p.display()),
        Credentials::Basic { username, .. } => {
            format!("IONOS_USERNAME/IONOS_PASSWORD ({username}, HTTP Basic)")
        }
    };
    let _ = writeln!(out, "credentials: {source}");
    match dispatcher.credentials().expiry() {
        Some(exp) => {
            let now = crate::upstream::credentials::now();
            let when = crate::upstream::credentials::format_utc(exp);
            if exp <= now {
                let _ = writeln!(out, "token: EXPIRED at {when}");
            } else {
                let _ = writeln!(
                    out,
                    "token: valid until {when} ({} days left)",
                    (exp - now) / 86_400
                );
            }
        }
        None if !demo && matches!(creds, Credentials::Token(_) | Credentials::TokenFile(_)) => {
            let _ = writeln!(out, "token: no expiry found in it (not a JWT?)");
        }
        None => {}
    }
    let mut probes = Vec::new();
    for p in PRODUCTS {
        let Some(tool) = probe_tool(p.key) else {
            probes.push(Probe {
                product: p.key,
                tool: None,
                ok: true,
                detail: "no argument-free read tool to probe with; skipped".into(),
                millis: 0,
            });
            continue;
        };
        let mut args = Map::new();
        if tool.paging != crate::tools::table::Paging::None {
            args.insert("limit".into(), json!(1));
        }
        let started = Instant::now();
        let outcome = dispatcher.call(tool.name, Some(args)).await;
        let millis = started.elapsed().as_millis();
        let (ok, detail) = match outcome {
            Some(Ok(_)) => (true, "ok".to_string()),
            // Without an access key pair the S3 tools are simply not in use.
            Some(Err(ToolError::S3KeysMissing { .. })) => (
                true,
                "skipped: IONOS_S3_ACCESS_KEY/IONOS_S3_SECRET_KEY not set".to_string(),
            ),
            Some(Err(e)) => (false, short(&e)),
            None => (false, "tool missing".to_string()),
        };
        probes.push(Probe {
            product: p.key,
            tool: Some(tool.name),
            ok,
            detail,
            millis,
        });
    }
    let w = probes
        .iter()
        .map(|p| p.product.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let tw = probes
        .iter()
        .map(|p| p.tool.map_or(1, str::len))
        .max()
        .unwrap_or(4);
    let _ = writeln!(
        out,
        "\n{:w$}  {:tw$}  {:4}  {:>6}  DETAIL",
        "PRODUCT", "PROBE", "OK", "MS"
    );
    for p in &probes {
        let _ = writeln!(
            out,
            "{:w$}  {:tw$}  {:4}  {:>6}  {}",
            p.product,
            p.tool.unwrap_or("-"),
            if p.ok { "yes" } else { "NO" },
            p.millis,
            p.detail
        );
    }
    let failed = probes.iter().filter(|p| !p.ok).count();
    let _ = writeln!(
        out,
        "\n{} of {} products reachable with these credentials",
        probes.len() - failed,
        probes.len()
    );
    (out, failed == 0)
}

/// The first sentence of an error: enough for a table cell.
fn short(e: &ToolError) -> String {
    let text = e.to_string();
    let cut = text.find(". ").map_or(text.len(), |i| i + 1);
    text[..cut].to_string()
}
