//! MCP over stdio: stdout carries only the protocol; logs go to stderr.

use std::sync::Arc;

use anyhow::Context;
use rmcp::ServiceExt;

use crate::config::LoadMode;
use crate::mcp::IonosServer;
use crate::tools::dispatch::Dispatcher;

/// Serves MCP on stdin/stdout until the client closes it.
pub async fn serve(dispatcher: Arc<Dispatcher>, mode: LoadMode) -> anyhow::Result<()> {
    let server = IonosServer::with_mode(dispatcher, mode);
    tracing::info!(tools = server.tools().len(), ?mode, "serving MCP on stdio");
    // Pipes (how MCP clients start a server) are read and written on the runtime's own
    // reactor, without a hand-off to a blocking thread per message; a terminal or a file
    // falls back to tokio's blocking standard streams.
    let service = server
        .serve(rmcp::transport::stdio_pipes())
        .await
        .context("MCP initialization failed")?;
    service
        .waiting()
        .await
        .context("MCP session ended with an error")?;
    Ok(())
}
