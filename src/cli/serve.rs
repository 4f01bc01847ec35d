//! `ionos-mcp serve`: MCP on stdio (the default), or Streamable HTTP for a team, guarded by
//! API keys.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;

use crate::access::backend::{self, Location};
use crate::access::guard::{Guard, GuardOptions};
use crate::config::{Credentials, LoadMode};
use crate::transport::http::{self, HttpOptions};

/// The transport a client connects with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// One client, started by the MCP client itself.
    Stdio,
    /// Streamable HTTP on `--http-addr`, for a team; needs API keys (`ionos-mcp keys`).
    Http,
}

/// Options of `serve`; each can also come from the environment.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[arg(long, value_enum, env = "IONOS_MCP_TRANSPORT", default_value = "stdio")]
    pub transport: Transport,
    /// Address to listen on with `--transport http`.
    #[arg(long, env = "IONOS_MCP_HTTP_ADDR", default_value = http::DEFAULT_ADDR)]
    pub http_addr: SocketAddr,
    /// `Host` header values accepted (name or name:port), comma-separated. Default: loopback
    /// names only; a server reached by another name must list it.
    #[arg(
        long = "allowed-host",
        env = "IONOS_MCP_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// Browser `Origin`s accepted (`https://app.example.com`, `http://localhost:*`),
    /// comma-separated. Default: loopback pages. Requests without an Origin always pass.
    #[arg(
        long = "allowed-origin",
        env = "IONOS_MCP_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Serve HTTP without API keys: accepted only on a loopback address.
    #[arg(long)]
    pub no_auth: bool,
    /// Proxies (CIDRs, comma-separated) whose `X-Forwarded-For` names the client.
    #[arg(long, env = "IONOS_MCP_TRUST_PROXY", value_delimiter = ',')]
    pub trust_proxy: Vec<ipnet::IpNet>,
    /// Tool calls per minute for keys created without `--rate` (`N/min`, or `none`).
    #[arg(long, env = "IONOS_MCP_DEFAULT_RATE", default_value = "120/min")]
    pub default_rate: String,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "IONOS_MCP_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// A 2025-11-25 session ends after this long without a request (`30m`, `2h`).
    #[arg(long, env = "IONOS_MCP_SESSION_IDLE", default_value = "30m")]
    pub session_idle: String,
    /// How long API keys' usage events are kept (`90d`, `2w`), or `forever`. Older ones are
    /// deleted at start and hourly; `keys usage` reports on what is kept.
    #[arg(long, env = "IONOS_MCP_USAGE_RETENTION", default_value = "90d")]
    pub usage_retention: String,
    /// Also serve `GET /metrics` (Prometheus text) on this address, without a key: keep it
    /// on loopback or a private network. Without it, `/metrics` on the main address needs a
    /// key with the `admin` scope.
    #[arg(long, env = "IONOS_MCP_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// How tools are offered: `eager` (every tool) or `dynamic` (alias `search`: three
    /// meta-tools that search, describe and call them, for clients with tool caps).
    /// Overrides IONOS_MCP_LOAD_MODE.
    #[arg(long, value_enum)]
    pub load_mode: Option<LoadMode>,
}

impl ServeArgs {
    /// The options as the environment sets them, for `ionos-mcp` without a subcommand.
    pub fn from_env() -> anyhow::Result<ServeArgs> {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let only: Only = clap::Parser::try_parse_from(["ionos-mcp"])?;
        Ok(only.serve)
    }
}

/// `ionos-mcp serve`.
pub async fn run(demo: bool, db: Option<Location>, args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Refused before anything starts: an HTTP server never runs open by accident.
    if args.transport == Transport::Http && args.no_auth && !args.http_addr.ip().is_loopback() {
        bail!(
            "--no-auth is accepted only on a loopback address ({} is not); create API keys with `ionos-mcp keys create` instead",
            args.http_addr
        );
    }
    let (dispatcher, _sim) = super::dispatcher(demo).await?;
    if matches!(dispatcher.config().credentials, Credentials::None) {
        tracing::warn!(
            "IONOS_TOKEN is not set: tools are listed, calls will explain how to set it"
        );
    }
    if let Some(warning) = crate::upstream::credentials::expiry_warning(dispatcher.credentials()) {
        // Plain stderr: a person starting the server should see it whatever the log filter.
        eprintln!("ionos-mcp: {warning}");
    }
    let mode = args.load_mode.unwrap_or(dispatcher.config().load_mode);
    match args.transport {
        Transport::Stdio => crate::transport::stdio::serve(dispatcher, mode).await?,
        Transport::Http => serve_http(dispatcher, db, args).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve_http(
    dispatcher: Arc<crate::tools::dispatch::Dispatcher>,
    db: Option<Location>,
    args: ServeArgs,
) -> anyhow::Result<()> {
    let mut options = HttpOptions::new(args.http_addr);
    options.load_mode = args.load_mode.unwrap_or(dispatcher.config().load_mode);
    if !args.allowed_hosts.is_empty() {
        options.allowed_hosts = args.allowed_hosts.clone();
    }
    if !args.allowed_origins.is_empty() {
        options.allowed_origins = args.allowed_origins.clone();
    }
    options.max_body_bytes = args.max_body_bytes;
    options.metrics_addr = args.metrics_addr;
    if let Some(addr) = args.metrics_addr.filter(|a| !a.ip().is_loopback()) {
        eprintln!(
            "ionos-mcp: WARNING: /metrics on {addr} is served without a key: anyone who can reach it sees request counts and tool names; prefer a loopback or private address"
        );
    }
    let usage_retention = parse_retention(&args.usage_retention)
        .map_err(|e| anyhow::anyhow!("--usage-retention: {e}"))?;
    options.session_idle = Duration::from_secs(
        crate::access::duration::parse_duration(&args.session_idle)
            .map_err(|e| anyhow::anyhow!("--session-idle: {e}"))?
            .max(1) as u64,
    );
    let guard = if args.no_auth {
        None
    } else {
        let location = db.unwrap_or_else(Location::default_sqlite);
        let backend = backend::open(&location)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let usable = backend.store.count_usable(crate::access::now()).await?;
        if usable == 0 {
            bail!(
                "no usable API key in {}: the HTTP server does not run open. Create the first key with\n  ionos-mcp keys create --name admin --db {}\nand give it to your MCP client as `Authorization: Bearer <key>` (or use --no-auth on a loopback address for local tests)",
                location.shown(),
                location.for_command()
            );
        }
        options.confirmations = backend.confirmations.clone();
        Some(Arc::new(Guard::with_limits(
            backend.store,
            backend.limits,
            GuardOptions {
                trust_proxy: args.trust_proxy.clone(),
                default_rate: parse_rate(&args.default_rate)
                    .map_err(|e| anyhow::anyhow!("--default-rate: {e}"))?,
                max_body_bytes: args.max_body_bytes,
                session_idle: options.session_idle,
                usage_retention,
            },
        )))
    };
    if !args.http_addr.ip().is_loopback() && args.allowed_hosts.is_empty() {
        eprintln!(
            "ionos-mcp: listening on {} but accepting only the Host names {}: add the name clients use with --allowed-host (IONOS_MCP_ALLOWED_HOSTS)",
            args.http_addr,
            options.allowed_hosts.join(", ")
        );
    }
    let open = guard.is_none();
    let server = http::bind(dispatcher, options, guard).await?;
    if open {
        eprintln!(
            "ionos-mcp: WARNING: serving HTTP on {} WITHOUT AUTHENTICATION (--no-auth): anyone who can reach this address can call every tool",
            server.local_addr()?
        );
    }
    eprintln!(
        "ionos-mcp: serving MCP on http://{}{}",
        server.local_addr()?,
        http::MCP_PATH
    );
    if let Some(addr) = server.metrics_addr() {
        eprintln!("ionos-mcp: serving metrics on http://{addr}/metrics");
    }
    server.run(shutdown_signal()).await
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `120/min`, `120` or `none`.
/// `forever`, or a duration of at least a day (`90d`, `2w`).
fn parse_retention(text: &str) -> Result<Option<Duration>, String> {
    if text.trim().eq_ignore_ascii_case("forever") {
        return Ok(None);
    }
    let secs =
        crate::access::duration::parse_duration(text).map_err(|e| format!("{e}, or `forever`"))?;
    if secs < 86_400 {
        return Err(format!(
            "\"{text}\" keeps less than a day, and `keys usage` reports by day; use 1d or more, or `forever`"
        ));
    }
    Ok(Some(Duration::from_secs(secs as u64)))
}

pub fn parse_rate(text: &str) -> Result<Option<u32>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    let number = t
        .strip_suffix("/min")
        .or_else(|| t.strip_suffix("/m"))
        .unwrap_or(t)
        .trim();
    match number.parse::<u32>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(format!(
            "`{text}` is not a rate; expected calls per minute such as 60/min"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_retention_is_a_day_or_more_or_forever() {
        assert_eq!(
            parse_retention("90d"),
            Ok(Some(Duration::from_secs(90 * 86_400)))
        );
        assert_eq!(
            parse_retention("2w"),
            Ok(Some(Duration::from_secs(14 * 86_400)))
        );
        assert_eq!(parse_retention("Forever"), Ok(None));
        let short = parse_retention("12h").unwrap_err();
        assert!(short.contains("less than a day"), "{short}");
        let bad = parse_retention("ninety days").unwrap_err();
        assert!(bad.contains("forever") && bad.contains("30d"), "{bad}");
    }
}
