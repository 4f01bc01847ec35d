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

use super::catalog::{self, Catalog};
use super::meta;
use crate::access::guard::Principal;
use crate::access::scopes::Level;
use crate::config::LoadMode;
use crate::metrics::{METRICS, ToolOutcome};
use crate::tools::dispatch::{Dispatcher, Output};
use crate::tools::table::{Access, DOCUMENTS};

/// The server's name as announced to clients.
pub const SERVER_NAME: &str = "ionos-mcp";

/// One MCP session's handler. Cheap to clone; the dispatcher and catalog are shared.
#[derive(Clone)]
pub struct IonosServer {
    dispatcher: Arc<Dispatcher>,
    catalog: Arc<Catalog>,
    mode: LoadMode,
    /// What `tools/list` offers in the dynamic mode: the three meta-tools.
    meta_tools: Arc<Vec<Tool>>,
}

impl IonosServer {
    /// A server in the configuration's load mode.
    pub fn new(dispatcher: Arc<Dispatcher>) -> Self {
        let mode = dispatcher.config().load_mode;
        IonosServer::with_mode(dispatcher, mode)
    }

    pub fn with_mode(dispatcher: Arc<Dispatcher>, mode: LoadMode) -> Self {
        let catalog = Catalog::new(dispatcher.config());
        let meta_tools = meta::definitions(dispatcher.config().writes_enabled);
        IonosServer {
            dispatcher,
            catalog: Arc::new(catalog),
            mode,
            meta_tools: Arc::new(meta_tools),
        }
    }

    /// The tools served (behind the meta-tools in the dynamic mode).
    pub fn tools(&self) -> Vec<Tool> {
        self.catalog
            .entries
            .iter()
            .map(|e| e.tool.clone())
            .collect()
    }

    /// Calls a served tool by name, with the same checks however it was asked for.
    /// `Err` is a protocol error (no such tool).
    async fn call_named(
        &self,
        name: &str,
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, String> {
        let caller = principal(context);
        let entry = self.catalog.get(name);
        // The access guard refused this already over HTTP; checked again here, and for
        // calls through ionos_call_tool, which the guard cannot see into.
        if let (Some(p), Some(e)) = (caller, entry)
            && !e.allows(caller)
        {
            p.note_tool_error();
            return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                "API key {} may not call {name}: it needs the scope {}",
                p.key_id,
                crate::access::scopes::Scopes::required(e.family(), Level::from(e.access))
            ))]));
        }
        if let Some(doc) = crate::tools::table::document(name).filter(|_| entry.is_some()) {
            return Ok(CallToolResult::success(vec![ContentBlock::text(doc.text)]));
        }
        // A tool that is not served (another toolset, writes off) still gets a result
        // saying how to enable it; a name that is no tool at all is a protocol error.
        if crate::tools::table::tool(name).is_none() {
            return Err(meta::unknown(&self.catalog, caller, name));
        }
        let call = self.dispatcher.call(name, arguments);
        let outcome = tokio::select! {
            r = call => r,
            _ = context.ct.cancelled() => {
                return Ok(CallToolResult::error(vec![ContentBlock::text("the call was cancelled")]));
            }
        };
        match outcome {
            Some(o) => {
                if let (Err(_), Some(p)) = (&o, caller) {
                    p.note_tool_error();
                }
                Ok(to_result(o))
            }
            None => Err(meta::unknown(&self.catalog, caller, name)),
        }
    }
}

/// The caller over HTTP, as the access guard identified it; `None` on stdio, where the one
/// local user may call everything the server serves.
fn principal(context: &RequestContext<RoleServer>) -> Option<&Principal> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|p| p.extensions.get::<Principal>())
}

/// A meta-tool's answer: structured, or an error result naming what to send instead.
fn meta_result(answer: Result<serde_json::Value, meta::MetaError>) -> CallToolResult {
    match answer {
        Ok(v) => CallToolResult::structured(v),
        Err(e) => CallToolResult::error(vec![ContentBlock::text(e)]),
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
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        // One page: many clients ignore nextCursor. Over HTTP, only what the key may call.
        let tools = match self.mode {
            LoadMode::Dynamic => self.meta_tools.as_ref().clone(),
            LoadMode::Eager => self
                .catalog
                .visible(principal(&context))
                .map(|e| e.tool.clone())
                .collect(),
        };
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let caller = principal(&context);
        let resources = DOCUMENTS
            .iter()
            .filter(|d| catalog::allowed(caller, d.product, Access::Read))
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
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let caller = principal(&context);
        match DOCUMENTS
            .iter()
            .find(|d| d.uri == request.uri && catalog::allowed(caller, d.product, Access::Read))
        {
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
        self.meta_tools
            .iter()
            .find(|t| t.name == name && self.mode == LoadMode::Dynamic)
            .or_else(|| self.catalog.get(name).map(|e| &e.tool))
            .cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let started = std::time::Instant::now();
        let name = request.name.to_string();
        let answer = self.answer_call(request, context).await;
        let outcome = match &answer {
            Ok(result) if result.is_error == Some(true) => ToolOutcome::ToolError,
            Ok(_) => ToolOutcome::Ok,
            Err(_) => ToolOutcome::Error,
        };
        METRICS.tool_call(&name, outcome, started.elapsed());
        answer.map(Into::into)
    }
}

// The metrics count the meta-tools under these names.
const _: () = assert!(
    same(crate::metrics::META_TOOLS[0], meta::SEARCH)
        && same(crate::metrics::META_TOOLS[1], meta::DESCRIBE)
        && same(crate::metrics::META_TOOLS[2], meta::CALL)
);

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

impl IonosServer {
    /// A `tools/call`'s result: the meta-tools, or a tool of the table.
    async fn answer_call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let caller = principal(&context);
        let args = request.arguments.clone().unwrap_or_default();
        let result = match (self.mode, request.name.as_ref()) {
            (LoadMode::Dynamic, meta::SEARCH) => {
                meta_result(meta::search(&self.catalog, caller, &args))
            }
            (LoadMode::Dynamic, meta::DESCRIBE) => {
                meta_result(meta::describe(&self.catalog, caller, &args))
            }
            (LoadMode::Dynamic, meta::CALL) => match meta::call_target(&args) {
                // Through the meta-tool an unknown name is the model's mistake: a result.
                Ok((name, arguments)) => self
                    .call_named(&name, arguments, &context)
                    .await
                    .unwrap_or_else(|e| CallToolResult::error(vec![ContentBlock::text(e)])),
                Err(e) => CallToolResult::error(vec![ContentBlock::text(e)]),
            },
            (_, name) => self
                .call_named(name, request.arguments, &context)
                .await
                .map_err(|e| McpError::invalid_params(e, None))?,
        };
        Ok(result)
    }
}
