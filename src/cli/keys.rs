//! `ionos-mcp keys`: API keys for the HTTP server, in the SQLite file or PostgreSQL database
//! that `--db` names. They work while servers run: every replica sees each change within a
//! second.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::anyhow;
use serde_json::{Value, json};

use crate::access::backend::{self, Location};
use crate::access::duration::{format_utc, parse_duration, parse_expiry};
use crate::access::scopes::Scopes;
use crate::access::store::{IssuedKey, KeyRecord, NewKey, UsageReport};

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key; it is printed once and never again.
    Create {
        /// Who or what the key is for.
        #[arg(long)]
        name: String,
        /// Comma-separated: `read`, `write`, `<product>:read`, `<product>:write` (products:
        /// compute, kubernetes, dns, billing, certmanager, activitylog, objectstorage, auth),
        /// `admin` (may read /metrics). Without it the key has every scope.
        #[arg(long)]
        scopes: Option<String>,
        /// When the key stops working: a duration (`30d`, `12h`) or a date (`2027-01-31`).
        #[arg(long)]
        expires: Option<String>,
        /// Client addresses allowed (CIDRs, comma-separated); any address without it.
        #[arg(long = "allow-ip", value_delimiter = ',')]
        allow_ip: Vec<ipnet::IpNet>,
        /// Tool calls per minute (`60/min`); the server's --default-rate without it.
        #[arg(long)]
        rate: Option<String>,
        /// Every request must carry X-MCP-Timestamp and X-MCP-Signature.
        #[arg(long)]
        require_signature: bool,
        /// Free-form labels, `key=value`, repeatable.
        #[arg(long = "meta", value_parser = parse_meta)]
        meta: Vec<(String, String)>,
        #[arg(long)]
        json: bool,
    },
    /// Every key: id, name, prefix, scopes, expiry, state, last use, metadata (never the key).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key at once.
    Revoke {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Issue a replacement; the old key keeps working for the grace period, then is revoked.
    Rotate {
        id: String,
        /// How long the old key keeps working (`1h`, `0s` for none).
        #[arg(long, default_value = "0s")]
        grace: String,
        #[arg(long)]
        json: bool,
    },
    /// Requests per hour and per day, error rate, calls per tool, rate-limit refusals, last use.
    Usage {
        /// One key; all keys without it.
        id: Option<String>,
        /// How far back (`24h`, `7d`).
        #[arg(long, default_value = "24h")]
        since: String,
        #[arg(long)]
        json: bool,
    },
}

fn parse_meta(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("`{text}` is not key=value")),
    }
}

/// Runs a `keys` subcommand on the database at `db` (or the default location).
pub async fn run(db: Option<Location>, command: KeysCommand) -> anyhow::Result<ExitCode> {
    let location = db.unwrap_or_else(Location::default_sqlite);
    let store = backend::open(&location)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .store;
    let now = crate::access::now();
    let mut out = std::io::stdout().lock();
    match command {
        KeysCommand::Create {
            name,
            scopes,
            expires,
            allow_ip,
            rate,
            require_signature,
            meta,
            json,
        } => {
            if name.trim().is_empty() {
                return Err(anyhow!("--name must not be empty"));
            }
            let scopes = match scopes {
                Some(s) => Scopes::parse(&s).map_err(|e| anyhow!("--scopes: {e}"))?,
                None => Scopes::all(),
            };
            let expires_at = expires
                .map(|e| parse_expiry(&e, now).map_err(|e| anyhow!("--expires: {e}")))
                .transpose()?;
            let rate_per_min = match rate {
                Some(r) => super::serve::parse_rate(&r).map_err(|e| anyhow!("--rate: {e}"))?,
                None => None,
            };
            let issued = store
                .create(NewKey {
                    name: name.trim().to_string(),
                    scopes,
                    expires_at,
                    allow_ips: allow_ip,
                    rate_per_min,
                    require_signature,
                    meta: meta.into_iter().collect::<BTreeMap<_, _>>(),
                })
                .await?;
            print_issued(&mut out, &issued, json, &location)?;
        }
        KeysCommand::List { json } => {
            let keys = store.list().await?;
            if json {
                let list: Vec<Value> = keys.iter().map(|k| record_json(k, now)).collect();
                serde_json::to_writer_pretty(&mut out, &list)?;
                writeln!(out)?;
            } else {
                print_table(&mut out, &keys, now)?;
            }
        }
        KeysCommand::Revoke { id, json } => {
            let record = store.revoke(id, now).await?;
            if json {
                serde_json::to_writer_pretty(&mut out, &record_json(&record, now))?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "Revoked {} ({}); a running server refuses it within a second.",
                    record.id, record.name
                )?;
            }
        }
        KeysCommand::Rotate { id, grace, json } => {
            let grace = parse_duration(&grace).map_err(|e| anyhow!("--grace: {e}"))?;
            let (old, issued) = store.rotate(id, grace).await?;
            if json {
                let mut v = issued_json(&issued, now);
                v["replaces"] = record_json(&old, now);
                serde_json::to_writer_pretty(&mut out, &v)?;
                writeln!(out)?;
            } else {
                print_issued(&mut out, &issued, false, &location)?;
                writeln!(
                    out,
                    "It replaces {}, which works until {}.",
                    old.id,
                    old.revoked_at.map(format_utc).unwrap_or_default()
                )?;
            }
        }
        KeysCommand::Usage { id, since, json } => {
            let since = now - parse_duration(&since).map_err(|e| anyhow!("--since: {e}"))?;
            let report = store.usage(id, since).await?;
            if json {
                serde_json::to_writer_pretty(&mut out, &report)?;
                writeln!(out)?;
            } else {
                print_usage(&mut out, &report)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn record_json(k: &KeyRecord, now: i64) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "prefix": k.prefix,
        "scopes": k.scopes.to_text(),
        "created_at": format_utc(k.created_at),
        "expires_at": k.expires_at.map(format_utc),
        "revoked_at": k.revoked_at.map(format_utc),
        "state": k.state(now).as_str(),
        "allow_ips": k.allow_ips.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        "rate_per_min": k.rate_per_min,
        "require_signature": k.require_signature,
        "meta": k.meta,
        "last_used_at": k.last_used_at.map(format_utc),
        "last_used_ip": k.last_used_ip,
        "rotated_to": k.rotated_to,
    })
}

fn issued_json(issued: &IssuedKey, now: i64) -> Value {
    let mut v = record_json(&issued.record, now);
    v["key"] = Value::String(issued.key.expose().to_string());
    v
}

fn print_issued(
    out: &mut impl Write,
    issued: &IssuedKey,
    json: bool,
    location: &Location,
) -> anyhow::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, &issued_json(issued, crate::access::now()))?;
        writeln!(out)?;
        return Ok(());
    }
    let r = &issued.record;
    writeln!(
        out,
        "Created API key {} ({}) in {}:",
        r.id,
        r.name,
        location.shown()
    )?;
    writeln!(out)?;
    writeln!(out, "    {}", issued.key.expose())?;
    writeln!(out)?;
    writeln!(
        out,
        "This is the only time it is shown: store it now. Clients send it as\n`Authorization: Bearer <key>`. Scopes: {}{}.",
        r.scopes.to_text(),
        r.expires_at
            .map(|e| format!("; expires {}", format_utc(e)))
            .unwrap_or_default()
    )?;
    Ok(())
}

fn print_table(out: &mut impl Write, keys: &[KeyRecord], now: i64) -> anyhow::Result<()> {
    if keys.is_empty() {
        writeln!(
            out,
            "No API keys yet; create one with `ionos-mcp keys create --name NAME`."
        )?;
        return Ok(());
    }
    let rows: Vec<[String; 8]> = keys
        .iter()
        .map(|k| {
            [
                k.id.clone(),
                k.name.clone(),
                format!("{}…", k.prefix),
                k.scopes.to_text(),
                k.expires_at
                    .map(format_utc)
                    .unwrap_or_else(|| "never".into()),
                k.state(now).as_str().to_string(),
                match (&k.last_used_at, &k.last_used_ip) {
                    (Some(t), Some(ip)) => format!("{} from {ip}", format_utc(*t)),
                    (Some(t), None) => format_utc(*t),
                    _ => "never".into(),
                },
                k.meta
                    .iter()
                    .map(|(a, b)| format!("{a}={b}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        })
        .collect();
    let header = [
        "ID", "NAME", "PREFIX", "SCOPES", "EXPIRES", "STATE", "LAST USE", "META",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(widths.iter())
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in &rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

fn print_usage(out: &mut impl Write, r: &UsageReport) -> anyhow::Result<()> {
    writeln!(
        out,
        "Usage {} since {}:",
        r.key_id
            .as_deref()
            .map(|k| format!("of {k}"))
            .unwrap_or_else(|| "of all keys".into()),
        format_utc(r.since)
    )?;
    writeln!(
        out,
        "  {} requests, {} errors ({:.1} %), {} refused by the rate limit",
        r.requests,
        r.errors,
        r.error_rate * 100.0,
        r.rate_limited
    )?;
    match (&r.last_used_at, &r.last_used_ip) {
        (Some(t), ip) => writeln!(
            out,
            "  last use {}{}",
            format_utc(*t),
            ip.as_deref()
                .map(|i| format!(" from {i}"))
                .unwrap_or_default()
        )?,
        _ => writeln!(out, "  never used")?,
    }
    if !r.per_day.is_empty() {
        writeln!(out, "\n  per day:")?;
        for b in &r.per_day {
            writeln!(
                out,
                "    {}  {:>6} requests  {:>4} errors",
                &format_utc(b.start)[..10],
                b.requests,
                b.errors
            )?;
        }
    }
    if !r.per_hour.is_empty() {
        writeln!(out, "\n  per hour:")?;
        for b in &r.per_hour {
            writeln!(
                out,
                "    {}  {:>6} requests  {:>4} errors",
                &format_utc(b.start)[..16],
                b.requests,
                b.errors
            )?;
        }
    }
    if !r.per_tool.is_empty() {
        writeln!(out, "\n  per tool:")?;
        let w = r.per_tool.iter().map(|t| t.tool.len()).max().unwrap_or(4);
        for t in &r.per_tool {
            writeln!(
                out,
                "    {:w$}  {:>6} calls  {:>4} errors  {:>8.1} ms average",
                t.tool, t.calls, t.errors, t.avg_latency_ms
            )?;
        }
    }
    Ok(())
}
