//! How clients reach the server: stdio for one person's MCP client, Streamable HTTP for a team.

pub mod http;
pub mod stdio;
