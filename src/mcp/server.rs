//! The MCP server: serves the generated tool table and hands calls to the dispatcher.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, CustomRequest,
    CustomResult, Implementation, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};

use crate::access::guard::Principal;
use crate::access::scopes::Level;
use crate::tools::dispatch::{Dispatcher, Output};
use crate::tools::table::{Access, DOCUMENTS, TOOLS};

/// The server's name as announced to clients.
pub const SERVER_NAME: &str = "ionos-mcp";

/// One MCP session's handler. Cheap to clone; the dispatcher is shared.
#[derive(Clone)]
pub struct IonosServer {
    dispatcher: Arc<Dispatcher>,
    tools: Arc<Vec<Tool>>,
    /// Per served tool, in the same order: its product and access, for the caller's scopes.
    gates: Arc<Vec<(&'static str, Access)>>,
}

impl IonosServer {
    pub fn new(dispatcher: Arc<Dispatcher>) -> Self {
        let specs = TOOLS.iter().filter(|t| dispatcher.config().serves(t));
        let documents = DOCUMENTS
            .iter()
            .filter(|d| dispatcher.config().selects(d.product, d.toolset));
        let tools = specs
            .clone()
            .map(|t| t.to_mcp())
            .chain(documents.clone().map(|d| d.to_mcp()))
            .collect();
        let gates = specs
            .map(|t| (t.product, t.access))
            .chain(documents.map(|d| (d.product, Access::Read)))
            .collect();
        IonosServer {
            dispatcher,
            tools: Arc::new(tools),
            gates: Arc::new(gates),
        }
    }

    pub fn tools(&self) -> &[Tool] {
        &self.tools
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

/// Whether the caller's scopes allow a tool of this product and access.
fn allowed(caller: Option<&Principal>, product: &str, access: Access) -> bool {
    caller.is_none_or(|p| p.scopes.allows(family(product), Level::from(access)))
}

fn family(product: &str) -> &str {
    crate::tools::table::product(product).map_or(product, |p| p.family)
}

/// Converts a dispatcher outcome into the MCP result.
pub fn to_result(outcome: Result<Output, crate::errors::ToolError>) -> CallToolResult {
    match outcome {
        Ok(Output::Json(v)) => CallToolResult::structured(v),
        Ok(Output::Text(t)) => CallToolResult::success(vec![ContentBlock::text(t)]),
        Err(e) => CallToolResult::error(vec![ContentBlock::text(e.to_string())]),
    }
}

/// The result for an answer outside the tool's output schema: never as `structuredContent`
/// (clients that validate it would raise and show nothing), but whole, as text, with a note.
/// It is marked `isError` because the MCP SDKs reject a successful result of a tool with an
/// output schema that carries no `structuredContent`; the note says the answer is complete.
pub fn off_spec_result(tool: &str, answer: &serde_json::Value, problem: &str) -> CallToolResult {
    CallToolResult::error(vec![
        ContentBlock::text(format!(
            "IONOS answered {tool} outside its published API spec ({problem}), so the answer comes as text below instead of structured content. It is the complete answer, not a failure: use it as usual."
        )),
        ContentBlock::text(answer.to_string()),
    ])
}

/// A protocol error, logged in words (rmcp's own log line of it is filtered out).
fn refused(method: &str, error: McpError) -> McpError {
    tracing::warn!(
        "{method} refused ({} {}): {}",
        error.code.0,
        match error.code {
            rmcp::model::ErrorCode::INVALID_PARAMS => "invalid params",
            rmcp::model::ErrorCode::METHOD_NOT_FOUND => "method not found",
            rmcp::model::ErrorCode::RESOURCE_NOT_FOUND => "resource not found",
            _ => "error",
        },
        error.message
    );
    error
}

/// The standard requests whose params rmcp could not read: they reach `on_custom_request`.
const STANDARD_METHODS: [&str; 8] = [
    "tools/call",
    "tools/list",
    "resources/read",
    "resources/list",
    "resources/templates/list",
    "prompts/list",
    "ping",
    "initialize",
];

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
        let caller = principal(&context);
        let tools = match caller {
            None => self.tools.as_ref().clone(),
            Some(_) => self
                .tools
                .iter()
                .zip(self.gates.iter())
                .filter(|(_, (product, access))| allowed(caller, product, *access))
                .map(|(t, _)| t.clone())
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
            .filter(|d| allowed(caller, d.product, Access::Read))
            .map(|d| {
                Resource::new(d.uri, d.resource_name())
                    .with_title(d.title)
                    .with_description(d.description)
                    .with_mime_type(d.mime_type())
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
            .find(|d| d.uri == request.uri && allowed(caller, d.product, Access::Read))
        {
            Some(d) => Ok(ReadResourceResult::new(vec![
                ResourceContents::text(d.text, d.uri).with_mime_type(d.mime_type()),
            ])
            .into()),
            None => Err(refused(
                "resources/read",
                McpError::resource_not_found(
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
                ),
            )),
        }
    }

    /// rmcp hands a standard request whose params it could not read (`arguments: [1]`) here,
    /// where the default would answer "method not found"; it is invalid params.
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, McpError> {
        let method = request.method.as_str();
        if !STANDARD_METHODS.contains(&method) {
            return Err(refused(
                method,
                McpError::new(
                    rmcp::model::ErrorCode::METHOD_NOT_FOUND,
                    method.to_string(),
                    None,
                ),
            ));
        }
        let reason = match method {
            "tools/call" => request
                .params_as::<CallToolRequestParams>()
                .err()
                .map(|e| format!(": {e}; `name` is a string and `arguments` an object")),
            "resources/read" => request
                .params_as::<ReadResourceRequestParams>()
                .err()
                .map(|e| format!(": {e}; `uri` is a string")),
            _ => None,
        }
        .unwrap_or_default();
        Err(refused(
            method,
            McpError::invalid_params(format!("the params of {method} do not fit{reason}"), None),
        ))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let caller = principal(&context);
        // The access guard refused this already over HTTP; checked again here.
        let gate = match crate::tools::table::tool(&request.name) {
            Some(t) => Some((t.product, t.access)),
            None => crate::tools::table::document(&request.name).map(|d| (d.product, Access::Read)),
        };
        if let (Some(p), Some((product, access))) = (caller, gate)
            && !allowed(caller, product, access)
        {
            p.note_tool_error();
            return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                "API key {} may not call {}: it needs the scope {}",
                p.key_id,
                request.name,
                crate::access::scopes::Scopes::required(family(product), Level::from(access))
            ))])
            .into());
        }
        if let Some(doc) = crate::tools::table::document(&request.name) {
            return Ok(CallToolResult::success(vec![ContentBlock::text(doc.text)]).into());
        }
        // A write tool that is not served still gets a result saying how to enable it.
        if crate::tools::table::tool(&request.name).is_none() {
            let guess = crate::tools::table::closest(&request.name)
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            return Err(refused(
                "tools/call",
                McpError::invalid_params(
                    format!(
                        "unknown tool `{}`{guess}; call tools/list for the available tools",
                        request.name
                    ),
                    None,
                ),
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
            Some(o) => {
                if let (Err(_), Some(p)) = (&o, caller) {
                    p.note_tool_error();
                }
                if let (Ok(Output::Json(v)), Some(tool)) =
                    (&o, crate::tools::table::tool(&request.name))
                    && let Some(problem) = self.dispatcher.off_spec(tool, v)
                {
                    return Ok(off_spec_result(tool.name, v, &problem).into());
                }
                Ok(to_result(o).into())
            }
            None => Err(McpError::invalid_params(
                format!("unknown tool `{}`", request.name),
                None,
            )),
        }
    }
}
