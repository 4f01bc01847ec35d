//! The MCP server: serves the generated tool table and hands calls to the dispatcher.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    ContentBlock, CustomRequest, CustomResult, GetPromptRequestParams, GetPromptResponse,
    Implementation, ListPromptsResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Reference, Resource, ResourceContents, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};

use super::catalog::{self, Catalog};
use super::confirm::{Confirmer, Decision};
use super::meta;
use super::prompts;
use crate::access::confirmations::{Confirmations, MemoryConfirmations};
use crate::access::guard::Principal;
use crate::access::scopes::Level;
use crate::config::LoadMode;
use crate::metrics::{METRICS, ToolOutcome};
use crate::tools::dispatch::{Answer, Dispatcher};
use crate::tools::power::{Progress, Verb};
use crate::tools::table::{Access, DOCUMENTS};
use crate::upstream::BoxFuture;

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
    /// Confirmations of destructive calls.
    confirmer: Arc<Confirmer>,
}

impl IonosServer {
    /// A server in the configuration's load mode.
    pub fn new(dispatcher: Arc<Dispatcher>) -> Self {
        let mode = dispatcher.config().load_mode;
        IonosServer::with_mode(dispatcher, mode)
    }

    pub fn with_mode(dispatcher: Arc<Dispatcher>, mode: LoadMode) -> Self {
        let catalog = Catalog::new(dispatcher.config());
        let meta_tools = meta::definitions(dispatcher.config().tool_scope);
        IonosServer {
            dispatcher,
            catalog: Arc::new(catalog),
            mode,
            meta_tools: Arc::new(meta_tools),
            confirmer: Arc::new(Confirmer::new(Arc::new(MemoryConfirmations::new()))),
        }
    }

    /// Keeps confirmations in `store` (the key store, shared by every server on it) instead
    /// of this process's memory.
    pub fn with_confirmations(mut self, store: Arc<dyn Confirmations>) -> Self {
        self.confirmer = Arc::new(Confirmer::new(store));
        self
    }

    /// Keeps confirmations in `store`, good for `ttl` (at most 5 minutes), and gives a
    /// session client's user `ask_timeout` to answer.
    pub fn with_confirmation_times(
        mut self,
        store: Arc<dyn Confirmations>,
        ttl: std::time::Duration,
        ask_timeout: std::time::Duration,
    ) -> Self {
        self.confirmer = Arc::new(Confirmer::new(store).with_times(ttl, ask_timeout));
        self
    }

    /// The tools served (behind the meta-tools in the dynamic mode).
    pub fn tools(&self) -> Vec<Tool> {
        self.catalog
            .entries
            .iter()
            .map(|e| e.tool.clone())
            .collect()
    }

    /// Where the model finds the tools, for "unknown tool" answers.
    fn look(&self) -> &'static str {
        match self.mode {
            LoadMode::Dynamic => meta::LOOK_DYNAMIC,
            LoadMode::Eager => meta::LOOK_EAGER,
        }
    }

    /// Calls a served tool by name, with the same checks however it was asked for; a
    /// destructive tool is confirmed by a person first. `Err` is a protocol error (no such
    /// tool).
    async fn call_named(
        &self,
        name: &str,
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, String> {
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
                p.key_id(),
                crate::access::scopes::Scopes::required(e.family(), Level::from(e.access))
            ))])
            .into());
        }
        if let Some(doc) = crate::tools::table::document(name).filter(|_| entry.is_some()) {
            return Ok(CallToolResult::success(vec![ContentBlock::text(doc.text)]).into());
        }
        // A tool that is not served (another toolset, writes off) still gets a result
        // saying how to enable it; a name that is no tool at all is a protocol error.
        let Some(tool) = crate::tools::table::tool(name) else {
            return Err(meta::unknown(&self.catalog, caller, name, self.look()));
        };
        let work = async {
            if let (Some(verb), Some(_), Access::Destructive) = (Verb::of(tool), entry, tool.access)
            {
                let args = match self.dispatcher.validate(tool, arguments.clone()) {
                    Ok(a) => a,
                    Err(e) => return Some(Err(e)),
                };
                match self
                    .confirmer
                    .confirm(&self.dispatcher, tool, verb, &args, request, context)
                    .await
                {
                    Ok(Decision::Proceed) => {}
                    Ok(Decision::Answer(answer)) => return Some(Ok(Confirmed::Answer(*answer))),
                    Err(e) => return Some(Err(e)),
                }
            }
            let progress = McpProgress::of(context);
            self.dispatcher
                .call_with(name, arguments, &progress)
                .await
                .map(|o| o.map(Confirmed::Done))
        };
        let outcome = tokio::select! {
            r = work => r,
            _ = context.ct.cancelled() => {
                return Ok(CallToolResult::error(vec![ContentBlock::text("the call was cancelled")]).into());
            }
        };
        match outcome {
            None => Err(meta::unknown(&self.catalog, caller, name, self.look())),
            Some(Ok(Confirmed::Answer(answer))) => {
                if let (CallToolResponse::Complete(r), Some(p)) = (&answer, caller)
                    && r.is_error == Some(true)
                {
                    p.note_tool_error();
                }
                Ok(answer)
            }
            Some(Ok(Confirmed::Done(out))) => {
                if let Answer::Json { value, text } = &out
                    && let Some(problem) = self.dispatcher.off_spec(tool, value)
                {
                    return Ok(off_spec_result(tool.name, text, &problem).into());
                }
                Ok(to_result(Ok(out)).into())
            }
            Some(Err(e)) => {
                if let Some(p) = caller {
                    p.note_tool_error();
                }
                Ok(to_result(Err(e)).into())
            }
        }
    }
}

/// A call's end: the dispatcher's output, or the confirmation's own answer (a question, a
/// preview, a refusal) when nothing was sent.
enum Confirmed {
    Done(Answer),
    Answer(CallToolResponse),
}

/// `notifications/progress` for a request that asked for them (a progress token).
struct McpProgress {
    peer: rmcp::Peer<RoleServer>,
    token: Option<rmcp::model::ProgressToken>,
}

impl McpProgress {
    fn of(context: &RequestContext<RoleServer>) -> McpProgress {
        McpProgress {
            peer: context.peer.clone(),
            token: context.meta.get_progress_token(),
        }
    }
}

impl Progress for McpProgress {
    fn report(&self, done: u32, total: u32, message: String) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(token) = &self.token {
                let note = rmcp::model::ProgressNotificationParam::new(token.clone(), done.into())
                    .with_total(total.into())
                    .with_message(message);
                if let Err(e) = self.peer.notify_progress(note).await {
                    tracing::debug!(error = %e, "progress notification not sent");
                }
            }
        })
    }
}

impl IonosServer {
    /// What the model is told about the server: read-only, or with the power actions and how
    /// their confirmation works.
    fn instructions(&self) -> String {
        let search = match self.mode {
            LoadMode::Dynamic => {
                "Find tools with ionos_search_tools and call them with ionos_call_tool. "
            }
            LoadMode::Eager => "",
        };
        let base = "Start with list_datacenters; most Compute tools need a datacenter_id from \
                    it. Lists accept depth (default 1), offset, limit and, for Compute, filters.";
        match self.dispatcher.config().tool_scope {
            Access::Read => format!("Read-only access to an IONOS Cloud account. {search}{base}"),
            _ => format!(
                "Access to an IONOS Cloud account, with server power actions. {search}{base} \
                 Power actions wait for IONOS and answer the request's status and the server's \
                 new vmState. Stop, reboot and suspend are confirmed by the user first: when \
                 such a tool answers with a preview and a confirmation_token instead, show the \
                 preview to the user and call the tool again with the token only once they agree."
            ),
        }
    }

    /// Whether a prompt is offered to the caller: the tool it leads to is served and allowed.
    fn prompt_allowed(&self, prompt: &str, caller: Option<&Principal>) -> bool {
        prompts::needs(prompt)
            .and_then(|tool| self.catalog.get(tool))
            .is_some_and(|e| e.allows(caller))
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
pub fn to_result(outcome: Result<Answer, crate::errors::ToolError>) -> CallToolResult {
    match outcome {
        Ok(Answer::Json { value, text }) => {
            // As `CallToolResult::structured`, with the text made once, when the answer was fitted.
            let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
            result.structured_content = Some(value);
            result
        }
        Ok(Answer::Text(t)) => CallToolResult::success(vec![ContentBlock::text(t)]),
        Err(e) => CallToolResult::error(vec![ContentBlock::text(e.to_string())]),
    }
}

/// The result for an answer outside the tool's output schema: never as `structuredContent`
/// (clients that validate it would raise and show nothing), but whole, as text, with a note.
/// It is marked `isError` because the MCP SDKs reject a successful result of a tool with an
/// output schema that carries no `structuredContent`; the note says the answer is complete.
pub fn off_spec_result(tool: &str, answer: &str, problem: &str) -> CallToolResult {
    CallToolResult::error(vec![
        ContentBlock::text(format!(
            "IONOS answered {tool} outside its published API spec ({problem}), so the answer comes as text below instead of structured content. It is the complete answer, not a failure: use it as usual."
        )),
        ContentBlock::text(answer),
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
                .enable_completions()
                .enable_prompts()
                .enable_resources()
                .enable_tools()
                .build(),
        )
        .with_server_info(Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION")))
        .with_instructions(self.instructions())
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
            .find(|d| d.uri == request.uri && catalog::allowed(caller, d.product, Access::Read))
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

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let caller = principal(&context);
        let prompts = prompts::definitions()
            .into_iter()
            .filter(|p| self.prompt_allowed(&p.name, caller))
            .collect();
        Ok(ListPromptsResult::with_all_items(prompts))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        if !self.prompt_allowed(&request.name, principal(&context)) {
            return Err(McpError::invalid_params(
                format!(
                    "no prompt `{}` is served here; prompts/list names those that are",
                    request.name
                ),
                None,
            ));
        }
        let arguments = request.arguments.unwrap_or_default();
        prompts::get(&self.dispatcher, &request.name, &arguments)
            .await
            .map(Into::into)
            .map_err(|e| McpError::invalid_params(e, None))
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let Reference::Prompt(prompt) = &request.r#ref else {
            return Ok(CompleteResult::default());
        };
        if !self.prompt_allowed(&prompt.name, principal(&context)) {
            return Ok(CompleteResult::default());
        }
        let datacenter = request
            .context
            .as_ref()
            .and_then(|c| c.arguments.as_ref())
            .and_then(|a| a.get("datacenter"))
            .map(String::as_str);
        Ok(prompts::complete(
            &self.dispatcher,
            &request.argument.name,
            &request.argument.value,
            datacenter,
        )
        .await)
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
        let answer = unless_it_panics(&name, self.answer_call(request, context)).await;
        let outcome = match &answer {
            Ok(CallToolResponse::Complete(result)) if result.is_error == Some(true) => {
                ToolOutcome::ToolError
            }
            Ok(_) => ToolOutcome::Ok,
            Err(_) => ToolOutcome::Error,
        };
        METRICS.tool_call(&name, outcome, started.elapsed());
        answer
    }
}

/// Runs a call, turning a panic inside it into an internal error for the caller: rmcp would
/// drop the request without an answer, and the client would wait for ever.
async fn unless_it_panics<T>(
    tool: &str,
    call: impl std::future::Future<Output = Result<T, McpError>>,
) -> Result<T, McpError> {
    let mut call = std::pin::pin!(call);
    std::future::poll_fn(|cx| {
        // After a panic the call is not polled again: its answer is the error.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call.as_mut().poll(cx)))
            .unwrap_or_else(|_| {
                std::task::Poll::Ready(Err(McpError::internal_error(
                    format!(
                        "{tool} failed inside ionos-mcp (a bug; the details are on the server's stderr). The server goes on serving."
                    ),
                    None,
                )))
            })
    })
    .await
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
    ) -> Result<CallToolResponse, McpError> {
        let caller = principal(&context);
        let args = request.arguments.clone().unwrap_or_default();
        let result: CallToolResponse = match (self.mode, request.name.as_ref()) {
            (LoadMode::Dynamic, meta::SEARCH) => {
                meta_result(meta::search(&self.catalog, caller, &args)).into()
            }
            (LoadMode::Dynamic, meta::DESCRIBE) => {
                meta_result(meta::describe(&self.catalog, caller, &args)).into()
            }
            (LoadMode::Dynamic, meta::CALL) => match meta::call_target(&args) {
                // Through the meta-tool an unknown name is the model's mistake: a result.
                Ok((name, arguments)) => self
                    .call_named(&name, arguments, &request, &context)
                    .await
                    .unwrap_or_else(|e| CallToolResult::error(vec![ContentBlock::text(e)]).into()),
                Err(e) => CallToolResult::error(vec![ContentBlock::text(e)]).into(),
            },
            (_, name) => self
                .call_named(name, request.arguments.clone(), &request, &context)
                .await
                .map_err(|e| refused("tools/call", McpError::invalid_params(e, None)))?,
        };
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::ErrorCode;

    use super::*;

    #[tokio::test]
    async fn a_panic_inside_a_call_is_answered_with_an_internal_error() {
        let answer: Result<(), McpError> =
            unless_it_panics("list_datacenters", async { panic!("a bug") }).await;
        let e = answer.unwrap_err();
        assert_eq!(e.code, ErrorCode::INTERNAL_ERROR);
        assert!(e.message.contains("list_datacenters failed"), "{e:?}");
        let fine = unless_it_panics("list_datacenters", async { Ok::<_, McpError>(7) }).await;
        assert_eq!(fine.unwrap(), 7);
    }
}
