//! ionos-mcp's integration tests, in one binary: the tool table, the MCP protocol against the
//! simulated account, bad input, and the built binary over stdio.

mod support;

mod answer_budget;
mod audit;
mod bad_input;
mod binary;
mod budget;
mod calls;
mod check;
mod compact;
mod credentials;
mod faults;
mod http;
mod invariants;
mod load_modes;
mod official;
mod power;
mod properties;
mod proxy;
mod replicas;
mod s3;
mod secrets;
mod snapshots;
