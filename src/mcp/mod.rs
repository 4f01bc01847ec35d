//! The MCP side: the rmcp handler that lists the tool table and hands calls to the dispatcher.

mod server;

pub use server::{IonosServer, SERVER_NAME, to_result};
