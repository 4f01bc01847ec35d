//! ionos-mcp: an MCP server for IONOS Cloud whose tools are generated at build time from the
//! OpenAPI documents in `specs/` and the selection in `tool-manifest.yaml`.
//!
//! Each layer uses only the ones below it; a tool call passes through them in this order:
//!
//! - `transport`: how clients reach the server (stdio; Streamable HTTP for a team)
//! - `access`: who may call over HTTP: API keys and their store, scopes, rate limits, request
//!   signatures, usage, and the middleware that checks every request
//! - `mcp`: the MCP handler (tools/list, tools/call, resources), built on rmcp
//! - `tools`: the generic runtime: the generated tool table, argument validation, request
//!   building, declared behaviour and the one dispatcher that executes every tool
//! - `upstream`: how a request reaches IONOS: bearer-token and SigV4 (S3) APIs behind one
//!   interface, retries, cooldowns, body limits and IONOS error decoding
//! - `errors`: the failure messages users see; `config`: the environment, read once
//! - `metrics`: the counters behind `/metrics` (requests, tool calls, IONOS, rate limits)
//! - `cli`: the subcommands (`serve`, `keys`, `tools`, `call`, `check`, `audit`)
//! - `simulator`: the embedded simulated IONOS account behind `--demo` and the tests

pub mod access;
pub mod cli;
pub mod config;
pub mod errors;
pub mod mcp;
pub mod metrics;
pub mod simulator;
pub mod tools;
pub mod transport;
pub mod upstream;
