//! `ionos-mcp audit` and `docs/TOOLS.md`: what the binary exposes, read from the same generated
//! table the server serves (there is no second list).

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::tools::table::{PRODUCTS, SPECS, TOOLS, ToolSpec};

/// One tool as a security review sees it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub name: &'static str,
    pub product: &'static str,
    pub toolset: &'static str,
    /// The tool's scope class: `read`, `write` or `destructive` (`IONOS_MCP_TOOL_SCOPE`).
    pub access: &'static str,
    /// The API key scope it needs over HTTP (`compute:write`).
    pub key_scope: String,
    /// Served to clients with the current configuration (write tools need
    /// IONOS_MCP_TOOL_SCOPE=write, destructive ones =destructive).
    pub enabled: bool,
    pub method: &'static str,
    pub path: &'static str,
    pub operation_id: &'static str,
    pub spec: &'static str,
    pub spec_version: &'static str,
    pub spec_sha256: &'static str,
    pub privilege: &'static str,
    /// Result properties removed before anything reaches the client.
    pub redacted: Vec<&'static str>,
    /// o200k tokens of the tool's `tools/list` entry.
    pub tokens: usize,
}

/// o200k tokens of `tools/list` per `product/toolset`, for the tools enabled.
pub fn tokens_per_toolset(config: &Config) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for t in TOOLS.iter().filter(|t| config.serves(t)) {
        *out.entry(format!("{}/{}", t.product, t.toolset))
            .or_insert(0) += t.tokens;
    }
    out
}

/// The audit table, `enabled` as the server configured by `config` would serve it.
pub fn rows(config: &Config) -> Vec<AuditRow> {
    TOOLS
        .iter()
        .map(|t| {
            let spec = SPECS.iter().find(|s| s.file == t.spec);
            AuditRow {
                name: t.name,
                product: t.product,
                toolset: t.toolset,
                access: t.access.as_str(),
                key_scope: crate::access::scopes::Scopes::required(
                    t.product().family,
                    crate::access::scopes::Level::from(t.access),
                ),
                enabled: config.serves(t),
                method: t.method,
                path: t.path,
                operation_id: t.operation_id,
                spec: t.spec,
                spec_version: spec.map_or("", |s| s.version),
                spec_sha256: spec.map_or("", |s| s.sha256),
                privilege: t.product().privilege,
                redacted: t.redact.to_vec(),
                tokens: t.tokens,
            }
        })
        .chain(crate::tools::table::DOCUMENTS.iter().map(|d| AuditRow {
            name: d.name,
            product: d.product,
            toolset: d.toolset,
            access: "read",
            key_scope: crate::access::scopes::Scopes::required(
                crate::tools::table::product(d.product).map_or(d.product, |p| p.family),
                crate::access::scopes::Level::Read,
            ),
            enabled: config.selects(d.product, d.toolset),
            method: "-",
            path: d.uri,
            operation_id: "-",
            spec: "-",
            spec_version: "",
            spec_sha256: "",
            privilege: "none (a document shipped with the server; no API call)",
            redacted: Vec::new(),
            tokens: 0,
        }))
        .collect()
}

/// Output formats of `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Markdown,
    Json,
}

/// Renders the audit; the second value is the number of enabled tools that can write.
pub fn render(format: Format, config: &Config) -> (String, usize) {
    let rows = rows(config);
    let enabled_writes = rows
        .iter()
        .filter(|r| r.enabled && r.access != "read")
        .count();
    let out = match format {
        Format::Json => {
            let specs: Vec<Value> = SPECS
                .iter()
                .map(|s| {
                    serde_json::json!({"file": s.file, "title": s.title, "version": s.version, "sha256": s.sha256})
                })
                .collect();
            let doc = serde_json::json!({
                "tools": rows,
                "specs": specs,
                "tokens_per_toolset": tokens_per_toolset(config),
                "summary": {
                    "tokens": rows.iter().filter(|r| r.enabled).map(|r| r.tokens).sum::<usize>(),
                    "tools": rows.len(),
                    "enabled": rows.iter().filter(|r| r.enabled).count(),
                    "read": rows.iter().filter(|r| r.access == "read").count(),
                    "write": rows.iter().filter(|r| r.access != "read").count(),
                    "destructive": rows.iter().filter(|r| r.access == "destructive").count(),
                    "enabled_writes": enabled_writes,
                },
            });
            serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
        }
        Format::Markdown => {
            let mut s = String::new();
            let _ = writeln!(
                s,
                "| tool | product | toolset | access | key scope | enabled | method | path | operationId | redacted |"
            );
            let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
            for r in &rows {
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {} | {} | `{}` | {} | {} | `{}` | `{}` | {} |",
                    r.name,
                    r.product,
                    r.toolset,
                    r.access,
                    r.key_scope,
                    if r.enabled { "yes" } else { "no" },
                    r.method,
                    r.path,
                    r.operation_id,
                    r.redacted.join(", ")
                );
            }
            let _ = writeln!(s);
            for p in PRODUCTS {
                let _ = writeln!(s, "- **{}** ({}): needs {}", p.title, p.key, p.privilege);
            }
            for sp in SPECS {
                let _ = writeln!(
                    s,
                    "- `{}` version {} sha256 `{}`",
                    sp.file, sp.version, sp.sha256
                );
            }
            s
        }
        Format::Table => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.name.to_string(),
                        r.product.to_string(),
                        r.access.to_string(),
                        if r.enabled { "yes" } else { "no" }.to_string(),
                        r.method.to_string(),
                        if r.redacted.is_empty() {
                            r.path.to_string()
                        } else {
                            format!("{}  (redacts {})", r.path, r.redacted.join(", "))
                        },
                    ]
                })
                .collect();
            let mut s = crate::cli::columns::render(
                &["TOOL", "PRODUCT", "ACCESS", "ENABLED", "METHOD", "PATH"],
                &cells,
            );
            let _ = writeln!(s);
            for p in PRODUCTS {
                let _ = writeln!(s, "{}: needs {}", p.title, p.privilege);
            }
            for sp in SPECS {
                let _ = writeln!(s, "{} v{} sha256:{}", sp.file, sp.version, sp.sha256);
            }
            let per_set = tokens_per_toolset(config);
            let _ = writeln!(
                s,
                "tools/list o200k tokens: {} ({})",
                per_set.values().sum::<usize>(),
                per_set
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let _ = writeln!(
                s,
                "{} tools, {} enabled, {} enabled tools can write",
                rows.len(),
                rows.iter().filter(|r| r.enabled).count(),
                enabled_writes
            );
            s
        }
    };
    (out, enabled_writes)
}

/// "1 document", "2 documents".
pub fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The command that regenerates `docs/TOOLS.md`.
pub const TOOLS_MD_COMMAND: &str = "cargo run -q -- tools --markdown > docs/TOOLS.md";

/// `docs/TOOLS.md`: a section per product with each tool, what it answers and its arguments.
pub fn tools_markdown() -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Tools\n");
    let _ = writeln!(
        s,
        "Generated from the tool table (`{TOOLS_MD_COMMAND}`); a test fails when this file is stale.\n"
    );
    let _ = writeln!(
        s,
        "{} tools: {} read-only (including {} served without an API call), {} that change the account (served only with `IONOS_MCP_TOOL_SCOPE=write`, or `IONOS_ENABLE_WRITES=true`; the {} marked destructive only with `IONOS_MCP_TOOL_SCOPE=destructive`, and each call is confirmed by a person first).\n",
        TOOLS.len() + crate::tools::table::DOCUMENTS.len(),
        TOOLS.iter().filter(|t| t.is_read_only()).count() + crate::tools::table::DOCUMENTS.len(),
        counted(
            crate::tools::table::DOCUMENTS.len(),
            "document",
            "documents"
        ),
        TOOLS.iter().filter(|t| !t.is_read_only()).count(),
        TOOLS
            .iter()
            .filter(|t| t.access == crate::tools::table::Access::Destructive)
            .count()
    );
    for p in PRODUCTS {
        let tools: Vec<&ToolSpec> = TOOLS.iter().filter(|t| t.product == p.key).collect();
        let docs = crate::tools::table::DOCUMENTS
            .iter()
            .filter(|d| d.product == p.key)
            .count();
        if tools.is_empty() && docs == 0 {
            continue;
        }
        let _ = writeln!(
            s,
            "## {} ({})\n",
            p.title,
            counted(tools.len() + docs, "tool", "tools")
        );
        let _ = writeln!(
            s,
            "Endpoint `{}` (override: `{}`). Needs {}.\n",
            p.base_url, p.base_url_env, p.privilege
        );
        let _ = writeln!(s, "| tool | answers | arguments |");
        let _ = writeln!(s, "|---|---|---|");
        for t in tools {
            let schema = t.input_schema_object();
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            // Required arguments first (in path order), then the optional ones by name; key
            // order of the parsed schema is not relied on.
            let mut optional: Vec<&str> = schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|props| {
                    props
                        .keys()
                        .map(String::as_str)
                        .filter(|k| !required.contains(k))
                        .collect()
                })
                .unwrap_or_default();
            optional.sort_unstable();
            let args: Vec<String> = required
                .iter()
                .map(|k| format!("`{k}`*"))
                .chain(optional.iter().map(|k| format!("`{k}`")))
                .collect();
            let access = match t.access {
                crate::tools::table::Access::Read => "",
                crate::tools::table::Access::Write => " **(write)**",
                crate::tools::table::Access::Destructive => " **(destructive)**",
            };
            let _ = writeln!(
                s,
                "| `{}`{access} | {} | {} |",
                t.name,
                t.description.replace('|', "\\|"),
                if args.is_empty() {
                    "—".to_string()
                } else {
                    args.join(", ")
                }
            );
        }
        for d in crate::tools::table::DOCUMENTS
            .iter()
            .filter(|d| d.product == p.key)
        {
            let _ = writeln!(
                s,
                "| `{}` (document, also resource `{}`) | {} | — |",
                d.name,
                d.uri,
                d.description.replace('|', "\\|")
            );
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "`*` = required.");
    s
}
