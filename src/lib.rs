//! ionos-mcp: a read-only MCP server for IONOS Cloud whose tools are generated at build time
//! from the OpenAPI documents in `specs/` and the selection in `tool-manifest.yaml`.
//!
//! - `tool_table`: the generated tools (schemas, request builders) — from `codegen/` via `build.rs`
//! - `request`: the request a builder produces (where path segments are encoded)
//! - `dispatch`: validation, authentication, sending, result shaping, error mapping
//! - `behaviour`: what the manifest declares beyond the API (date windows, item filters,
//!   exclusions, `group_by`/`top_n` totals)
//! - `s3`: the S3 data plane (SigV4 signing, bucket regions, S3 errors); `xml`: XML answers
//!   as JSON
//! - `errors`: the failure messages users see
//! - `server`: the MCP protocol side (rmcp)
//! - `config`: environment variables
//! - `simulator`: the embedded simulated IONOS account behind `--demo` and the tests
//! - `cli`: the subcommands; `audit`: the audit report and docs/TOOLS.md
//! - `access`: who may call the team HTTP server (API keys, scopes, limits, signatures, usage)

pub mod access;
pub mod audit;
pub mod behaviour;
pub mod check;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod dispatch;
pub mod errors;
pub mod request;
pub mod s3;
pub mod server;
pub mod simulator;
pub mod tool_table;
pub mod xml;
