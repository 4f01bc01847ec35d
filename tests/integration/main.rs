//! ionos-mcp's integration tests, in one binary: the tool table, the MCP protocol against the
//! simulated account, bad input, and the built binary over stdio.

mod support;

mod audit;
mod bad_input;
mod binary;
mod budget;
mod calls;
mod compact;
mod credentials;
mod faults;
mod http;
mod invariants;
mod official;
mod properties;
mod s3;
mod secrets;
mod snapshots;
