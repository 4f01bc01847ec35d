//! The MCP server: serves the generated tool table and hands calls to the dispatcher.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};

use crate::tools::dispatch::{Dispatcher, Output};
use crate::tools::table::{DOCUMENTS, TOOLS};

/// The server's name as announced to clients.
pub const SERVER_NAME: &str = "ionos-mcp";

/// One MCP session's handler. Cheap to clone; the dispatcher is shared.
#[derive(Clone)]
pub struct IonosServer {
    dispatcher: Arc<Dispatcher>,
    tools: Arc<Vec<Tool>>,
}

impl IonosServer {
    pub fn new(dispatcher: Arc<Dispatcher>) -> Self {
        let tools = TOOLS
            .iter()
            .filter(|t| dispatcher.config().serves(t))
            .map(|t| t.to_mcp())
            .chain(
                DOCUMENTS
                    .iter()
                    .filter(|d| dispatcher.config().selects(d.product, d.toolset))
                    .map(|d| d.to_mcp()),
            )
            .collect();
        IonosServer {
            dispatcher,
            tools: Arc::new(tools),
        }
    }

    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }
}

/// Converts a dispatcher outcome into the MCP result.
pub fn to_result(outcome: Result<Output, crate::errors::ToolError>) -> CallToolResult {
    match outcome {
        Ok(Output::Json(v)) => CallToolResult::structured(v),
        Ok(Output::Text(t)) => CallToolResult::success(vec![ContentBlock::text(t)]),
        Err(e) => CallToolResult::error(vec![ContentBlock::text(e.to_string())]),
    }
}

impl ServerHandler for IonosServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Read-only access to an IONOS Cloud account. Start with list_datacenters; most \
                 Compute tools need a datacenter_id from it. Lists accept depth (default 1), \
                 offset, limit and, for Compute, filters.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        // One page: many clients ignore nextCursor.
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let resources = DOCUMENTS
            .iter()
            .map(|d| {
                Resource::new(d.uri, d.name)
                    .with_title(d.title)
                    .with_description(d.description)
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        match DOCUMENTS.iter().find(|d| d.uri == request.uri) {
            Some(d) => {
                Ok(ReadResourceResult::new(vec![ResourceContents::text(d.text, d.uri)]).into())
            }
            None => Err(McpError::resource_not_found(
                format!(
                    "no resource `{}`; resources/list names them ({})",
                    request.uri,
                    DOCUMENTS
                        .iter()
                        .map(|d| d.uri)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None,
            )),
        }
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if let Some(doc) = crate::tools::table::document(&request.name) {
            return Ok(CallToolResult::success(vec![ContentBlock::text(doc.text)]).into());
        }
        // A write tool that is not served still gets a result saying how to enable it.
        if crate::tools::table::tool(&request.name).is_none() {
            return Err(McpError::invalid_params(
                format!(
                    "unknown tool `{}`; call tools/list for the available tools",
                    request.name
                ),
                None,
            ));
        }
        let call = self.dispatcher.call(&request.name, request.arguments);
        let outcome = tokio::select! {
            r = call => r,
            _ = context.ct.cancelled() => {
                return Err(McpError::internal_error("the call was cancelled", None));
            }
        };
        match outcome {
            Some(o) => Ok(to_result(o).into()),
            None => Err(McpError::invalid_params(
                format!("unknown tool `{}`", request.name),
                None,
            )),
        }
    }
}
