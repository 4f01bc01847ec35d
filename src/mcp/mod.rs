//! The MCP side: the rmcp handler that lists the tool table (every tool, or three meta-tools
//! in the dynamic load mode) and hands calls to the dispatcher; destructive calls are
//! confirmed by a person first (`confirm`).

mod catalog;
pub mod confirm;
mod meta;
mod prompts;
mod search;
mod server;

pub use server::{IonosServer, SERVER_NAME, to_result};
