//! `ionos-mcp check`: the configuration tested the way a person would before adding the server
//! to a client — where the credentials and endpoints come from, the token's expiry, then one
//! cheap read per product, all at once, each line printed as its answer arrives.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::config::Credentials;
use crate::errors::ToolError;
use crate::tools::dispatch::Dispatcher;
use crate::tools::table::{PRODUCTS, TOOLS, ToolSpec};

/// How long one product's probe may take, retries included: an endpoint that does not answer
/// by then is reported as such instead of holding the whole report up.
pub const PROBE_LIMIT: Duration = Duration::from_secs(5);

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Reachable,
    Failed,
    /// Not tried: nothing to probe with, or (S3) no access key pair configured.
    Skipped,
}

/// One line of the report.
pub struct Probe {
    pub product: &'static str,
    pub tool: Option<&'static str>,
    pub status: Status,
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

/// Runs every probe, writing the report to `out` as it goes; `Ok(false)` when a product failed.
pub async fn run(
    dispatcher: Arc<Dispatcher>,
    demo: bool,
    out: &mut dyn Write,
) -> std::io::Result<bool> {
    for line in preamble(&dispatcher, demo) {
        writeln!(out, "{line}")?;
    }
    let w = PRODUCTS
        .iter()
        .map(|p| p.key.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let tw = PRODUCTS
        .iter()
        .filter_map(|p| probe_tool(p.key))
        .map(|t| t.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    writeln!(
        out,
        "\n{:w$}  {:tw$}  {:4}  {:>6}  DETAIL",
        "PRODUCT", "PROBE", "OK", "MS"
    )?;
    out.flush()?;

    let mut running = tokio::task::JoinSet::new();
    for p in PRODUCTS {
        let d = dispatcher.clone();
        running.spawn(probe(d, p.key));
    }
    let mut probes = Vec::new();
    while let Some(done) = running.join_next().await {
        let p = done.unwrap_or_else(|e| Probe {
            product: "?",
            tool: None,
            status: Status::Failed,
            detail: format!("the probe stopped: {e}"),
            millis: 0,
        });
        writeln!(
            out,
            "{:w$}  {:tw$}  {:4}  {:>6}  {}",
            p.product,
            p.tool.unwrap_or("-"),
            match p.status {
                Status::Reachable => "yes",
                Status::Failed => "NO",
                Status::Skipped => "skip",
            },
            p.millis,
            p.detail
        )?;
        out.flush()?;
        probes.push(p);
    }

    let count = |s: Status| probes.iter().filter(|p| p.status == s).count();
    let skipped: Vec<&str> = probes
        .iter()
        .filter(|p| p.status == Status::Skipped)
        .map(|p| p.product)
        .collect();
    write!(
        out,
        "\n{} of {} products reachable with these credentials",
        count(Status::Reachable),
        probes.len() - skipped.len(),
    )?;
    if !skipped.is_empty() {
        write!(out, " ({} skipped: {})", skipped.len(), skipped.join(", "))?;
    }
    writeln!(out)?;
    out.flush()?;
    Ok(count(Status::Failed) == 0)
}

/// Where everything comes from, before any request is sent.
fn preamble(dispatcher: &Dispatcher, demo: bool) -> Vec<String> {
    let config = dispatcher.config();
    let creds = &config.credentials;
    let mut lines = Vec::new();
    lines.push(format!(
        "credentials: {}",
        match creds {
            _ if demo => "the simulated demo account (--demo)".to_string(),
            Credentials::None => {
                "none (set IONOS_TOKEN, or sign in with `ionosctl config login`)".to_string()
            }
            Credentials::Basic { username, .. } => {
                format!("IONOS_USERNAME/IONOS_PASSWORD ({username}, HTTP Basic)")
            }
            c => c.origin(),
        }
    ));
    let source = dispatcher.credentials();
    // A token that cannot even be read says why here, not in every probe.
    let unusable = match source.current() {
        Err(e @ (ToolError::TokenFile { .. } | ToolError::CredentialsUnusable { .. })) => {
            lines.push(format!("  cannot be used: {e}"));
            true
        }
        _ => false,
    };
    match source.expiry() {
        Some(exp) => {
            let now = crate::upstream::credentials::now();
            let when = crate::upstream::credentials::format_utc(exp);
            if exp <= now {
                lines.push(format!("token: EXPIRED at {when}"));
            } else {
                lines.push(format!(
                    "token: valid until {when} ({} days left)",
                    (exp - now) / 86_400
                ));
            }
        }
        None if !demo && !unusable && source.is_token() => {
            lines.push("token: no expiry found in it (not a JWT?)".into());
        }
        None => {}
    }
    if let Some(used) = &config.config_file {
        lines.push(format!(
            "config file: {} (profile `{}`): {}",
            used.path.display(),
            used.profile,
            used.took.join(", ")
        ));
    }
    if let Some(n) = config.contract_number {
        lines.push(format!(
            "contract: {n} (IONOS_CONTRACT_NUMBER, sent as X-Contract-Number)"
        ));
    }
    for p in PRODUCTS {
        let origin = config
            .endpoint_origins
            .get(p.key)
            .map_or("default", String::as_str);
        // The Cloud API always; the others when something moved them.
        if p.key == "compute" || (origin != "default" && !demo) {
            lines.push(format!(
                "endpoint ({}): {} ({origin})",
                p.key,
                config.base_url(p.key).unwrap_or(p.base_url)
            ));
        }
    }
    let s3 = &config.s3;
    if !demo {
        lines.push(format!(
            "Object Storage key pair: {}",
            match (&s3.access_key, &s3.secret_key) {
                (Some(_), Some(_)) => match &config.config_file {
                    Some(u) if u.took.contains(&"Object Storage key pair") => u.describe(),
                    _ => "IONOS_S3_ACCESS_KEY/IONOS_S3_SECRET_KEY".to_string(),
                },
                (Some(_), None) => "IONOS_S3_SECRET_KEY is missing".to_string(),
                (None, Some(_)) => "IONOS_S3_ACCESS_KEY is missing".to_string(),
                (None, None) => "not set (the S3 bucket and object tools are skipped)".to_string(),
            }
        ));
    }
    lines
}

/// One product's probe, bounded by [`PROBE_LIMIT`].
async fn probe(dispatcher: Arc<Dispatcher>, product: &'static str) -> Probe {
    let Some(tool) = probe_tool(product) else {
        return Probe {
            product,
            tool: None,
            status: Status::Skipped,
            detail: "no argument-free read tool to probe with".into(),
            millis: 0,
        };
    };
    let mut args = Map::new();
    if tool.paging != crate::tools::table::Paging::None {
        args.insert("limit".into(), json!(1));
    }
    let started = Instant::now();
    let outcome = tokio::time::timeout(PROBE_LIMIT, dispatcher.call(tool.name, Some(args))).await;
    let millis = started.elapsed().as_millis();
    let (status, detail) = match outcome {
        Ok(Some(Ok(_))) => (Status::Reachable, "ok".to_string()),
        // Without an access key pair the S3 tools are simply not in use.
        Ok(Some(Err(ToolError::S3KeysMissing { .. }))) => (
            Status::Skipped,
            "IONOS_S3_ACCESS_KEY/IONOS_S3_SECRET_KEY not set".to_string(),
        ),
        Ok(Some(Err(e))) => (Status::Failed, short(&e)),
        Ok(None) => (Status::Failed, "tool missing".to_string()),
        Err(_) => {
            let p = tool.product();
            (
                Status::Failed,
                format!(
                    "no answer within {} s from {}: check the network and {}",
                    PROBE_LIMIT.as_secs(),
                    dispatcher.config().base_url(p.key).unwrap_or(p.base_url),
                    p.base_url_env
                ),
            )
        }
    };
    Probe {
        product,
        tool: Some(tool.name),
        status,
        detail,
        millis,
    }
}

/// Enough of an error for a table cell: its first sentence, and for a 403 the privilege that
/// is missing.
fn short(e: &ToolError) -> String {
    if let ToolError::Forbidden {
        privilege, detail, ..
    } = e
    {
        return format!("403 Forbidden{detail}; needs {privilege}");
    }
    let text = e.to_string();
    let cut = text.find(". ").map_or(text.len(), |i| i + 1);
    text[..cut].to_string()
}
