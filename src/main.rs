//! `ionos-mcp`: serve MCP (stdio, or Streamable HTTP for a team), manage the HTTP server's API
//! keys, or list, audit and call the tools from a shell.

use std::process::ExitCode;

use clap::builder::TypedValueParser as _;
use clap::{Parser, Subcommand};
use ionos_mcp::cli;

#[derive(Parser)]
#[command(
    name = "ionos-mcp",
    version,
    about = "MCP server for IONOS Cloud: read-only unless IONOS_ENABLE_WRITES is set"
)]
struct Cli {
    /// Use the built-in simulated IONOS account instead of the real API (no credentials needed).
    #[arg(long, global = true)]
    demo: bool,

    /// The API key database of the HTTP server: a SQLite file, or a PostgreSQL URL
    /// (`postgres://user:password@host/db`) that several replicas share. Default: a SQLite
    /// file in the user's data directory.
    #[arg(
        long,
        global = true,
        env = "IONOS_MCP_DB",
        value_parser = clap::builder::OsStringValueParser::new()
            .map(ionos_mcp::access::backend::Location::from)
    )]
    db: Option<ionos_mcp::access::backend::Location>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MCP: over stdio (the default), or Streamable HTTP with `--transport http`.
    Serve(cli::serve::ServeArgs),
    /// Manage the HTTP server's API keys: create, list, revoke, rotate, usage.
    Keys {
        #[command(subcommand)]
        command: cli::keys::KeysCommand,
    },
    /// List the tools served: name, toolset, access, method, title and path.
    Tools {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Print docs/TOOLS.md (every tool, by product, with its arguments).
        #[arg(long, conflicts_with = "json")]
        markdown: bool,
    },
    /// Test the configuration: credentials and token expiry, one cheap read per product.
    /// Exit status 1 when a product cannot be read.
    Check,
    /// Every tool the binary can expose, for a security review: access, endpoint, operation,
    /// spec file and hash, required privilege, redactions.
    Audit {
        #[arg(long, value_enum, default_value = "table")]
        format: ionos_mcp::cli::audit::Format,
        /// Exit with status 3 when any enabled tool can change the account.
        #[arg(long)]
        deny_writes: bool,
    },
    /// Call one tool and print its result.
    Call {
        /// Tool name, e.g. list_datacenters.
        tool: String,
        /// Arguments as a JSON object, e.g. '{"datacenter_id": "..."}'.
        #[arg(default_value = "{}")]
        arguments: String,
    },
}

/// mimalloc serves a call's many small, short-lived allocations (parsing and shaping an
/// answer) with less CPU than glibc's allocator, at about the same peak memory
/// (`cargo bench --bench perf`, docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    cli::init_logging();
    let args = Cli::parse();
    let command = match args.command {
        Some(c) => c,
        None => match cli::serve::ServeArgs::from_env() {
            Ok(serve) => Command::Serve(serve),
            Err(e) => {
                eprintln!("ionos-mcp: {e:#}");
                return ExitCode::FAILURE;
            }
        },
    };
    // One client over stdio gets one thread: nothing there runs in parallel, and a
    // current-thread runtime starts sooner and costs less per call. The HTTP server keeps a
    // worker per core.
    let single = !matches!(
        &command,
        Command::Serve(s) if s.transport == cli::serve::Transport::Http
    );
    let mut builder = if single {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ionos-mcp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Serve(serve) => cli::serve::run(args.demo, args.db, serve).await,
            Command::Keys { command } => cli::keys::run(args.db, command).await,
            Command::Tools { json, markdown } => cli::print_tools(json, markdown),
            Command::Check => cli::check(args.demo).await,
            Command::Audit {
                format,
                deny_writes,
            } => cli::audit(format, deny_writes),
            Command::Call { tool, arguments } => cli::call(args.demo, &tool, &arguments).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ionos-mcp: {e:#}");
            ExitCode::FAILURE
        }
    }
}
