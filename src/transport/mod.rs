//! How clients reach the server: stdio for one person's MCP client.

pub mod stdio;
