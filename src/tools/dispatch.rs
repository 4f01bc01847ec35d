//! The one generic dispatcher: validate the arguments, build the request through the generated
//! builder, hand it to the product's upstream, and shape the answer into the tool result.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use crate::config::Config;
use crate::errors::ToolError;
use crate::tools::power::{NoProgress, Progress, Verb};
use crate::tools::request::RequestParts;
use crate::tools::schema::{Rule, Schema, shown};
use crate::tools::table::{self, Access, TOOLS, ToolSpec};
use crate::upstream::credentials::CredentialSource;
use crate::upstream::{Reply, Upstreams};

/// A successful call's result.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A JSON object (also sent as `structuredContent`).
    Json(Value),
    /// Text passed through as it came (kubeconfig, zone files).
    Text(String),
}

/// A finished call, as the client receives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A JSON answer (sent as `structuredContent`) and the same as compact JSON text, made once
    /// when the answer was fitted to the budget.
    Json { value: Value, text: String },
    /// Text passed through as it came (kubeconfig, zone files).
    Text(String),
}

impl Answer {
    /// A JSON answer whose text is made here (answers outside the budget's path).
    pub fn json(value: Value) -> Answer {
        let text = super::fit::compact_text(&value);
        Answer::Json { value, text }
    }
}

/// Runs tool calls against IONOS.
pub struct Dispatcher {
    config: Arc<Config>,
    upstreams: Upstreams,
    /// Per tool: its arguments' schema, compiled at first use.
    validators: HashMap<&'static str, OnceLock<Result<Schema, String>>>,
    /// Per tool with an output schema: its validator, compiled at first use, and whether an
    /// answer outside it was logged already.
    output_validators: HashMap<&'static str, (OnceLock<Option<Schema>>, AtomicBool)>,
}

impl Dispatcher {
    pub fn new(config: Config) -> Dispatcher {
        let config = Arc::new(config);
        let validators = TOOLS.iter().map(|t| (t.name, OnceLock::new())).collect();
        let output_validators = TOOLS
            .iter()
            .filter(|t| t.output_schema.is_some())
            .map(|t| (t.name, (OnceLock::new(), AtomicBool::new(false))))
            .collect();
        Dispatcher {
            upstreams: Upstreams::new(config.clone()),
            config,
            validators,
            output_validators,
        }
    }

    /// Where the credentials come from, and when the token expires.
    pub fn credentials(&self) -> &CredentialSource {
        self.upstreams.bearer().credentials()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Calls a tool. `None` means the tool does not exist (a protocol error, not a tool result).
    pub async fn call(
        &self,
        name: &str,
        arguments: Option<Map<String, Value>>,
    ) -> Option<Result<Answer, ToolError>> {
        self.call_with(name, arguments, &NoProgress).await
    }

    /// Calls a tool, reporting the progress of long ones (power actions wait for IONOS).
    pub async fn call_with(
        &self,
        name: &str,
        arguments: Option<Map<String, Value>>,
        progress: &dyn Progress,
    ) -> Option<Result<Answer, ToolError>> {
        let tool = table::tool(name)?;
        Some(self.call_tool(tool, arguments, progress).await)
    }

    /// A read tool's JSON answer, for the server's own look-ups (the target of a power action,
    /// a request's status, completions): no toolset or scope gate, since it only reads what
    /// the caller's tool is about, and no answer budget.
    pub async fn read(&self, name: &str, arguments: Value) -> Result<Value, ToolError> {
        let Some(tool) = table::tool(name).filter(|t| t.is_read_only()) else {
            return Err(ToolError::NotSelected {
                tool: name.to_string(),
                toolset: "(not a read tool of this build)".into(),
            });
        };
        let arguments = match arguments {
            Value::Object(map) => Some(map),
            _ => None,
        };
        let (req, args) = self.prepare(tool, arguments)?;
        match self.answer(tool, &req, &args).await? {
            Output::Json(v) => Ok(v),
            Output::Text(t) => Ok(Value::String(t)),
        }
    }

    async fn call_tool(
        &self,
        tool: &'static ToolSpec,
        arguments: Option<Map<String, Value>>,
        progress: &dyn Progress,
    ) -> Result<Answer, ToolError> {
        if !self.config.selects(tool.product, tool.toolset) {
            return Err(ToolError::NotSelected {
                tool: tool.name.to_string(),
                toolset: format!("{}/{}", tool.product, tool.toolset),
            });
        }
        if tool.access > self.config.tool_scope {
            return Err(writes_disabled(tool, self.config.tool_scope));
        }
        let (req, args) = self.prepare(tool, arguments)?;
        let mut out = self.answer(tool, &req, &args).await?;
        if let (Some(verb), Output::Json(accepted)) = (Verb::of(tool), &out) {
            return Ok(
                match super::power::follow(self, verb, &args, accepted, progress).await? {
                    Output::Json(value) => Answer::json(value),
                    Output::Text(text) => Answer::Text(text),
                },
            );
        }
        if let (Some(b), Output::Json(v)) = (crate::tools::behaviour::of(tool), &mut out) {
            let omitted = self.finish_pages(tool, b, &req, &args, v).await?;
            if omitted > 0
                && let (Some(x), Some(obj)) = (&b.exclude_items, v.as_object_mut())
            {
                obj.insert(
                    "omitted".into(),
                    serde_json::json!({
                        "count": omitted,
                        "why": format!("left out as requested by default; set `{}` to true to include them", x.unless),
                    }),
                );
            }
        }
        super::shape::compact(tool, &args, &mut out);
        let budget = self.config.max_answer_tokens;
        Ok(match out {
            Output::Json(mut value) => {
                let takes = |name: &str| {
                    tool.input_schema_object()
                        .get("properties")
                        .is_some_and(|p| p.get(name).is_some())
                };
                let next = super::fit::Continuation {
                    offset: takes("offset")
                        .then(|| args.get("offset").and_then(Value::as_u64).unwrap_or(0)),
                    start_after: takes("start_after"),
                };
                let text = super::fit::fit(&mut value, budget, next).text;
                Answer::Json { value, text }
            }
            Output::Text(mut text) => {
                super::fit::fit_text(&mut text, budget);
                Answer::Text(text)
            }
        })
    }

    /// One request's answer as a result.
    async fn answer(
        &self,
        tool: &'static ToolSpec,
        req: &RequestParts,
        args: &Value,
    ) -> Result<Output, ToolError> {
        let mut out = match self.upstreams.send(tool, req).await? {
            Reply::Value(v) => Output::Json(v),
            Reply::Accepted { location } => Output::Json(serde_json::json!({
                "status": "ACCEPTED",
                "request_id": location.as_deref().and_then(super::power::request_id),
                "location": location,
            })),
            Reply::Body { media, body } => super::shape::shape(tool, req, &media, &body)?,
        };
        // A HEAD answer says which resource it is about: the arguments that named it.
        if tool.method == "HEAD"
            && let (Output::Json(Value::Object(obj)), Value::Object(given)) = (&mut out, args)
        {
            for (k, v) in given {
                obj.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        Ok(out)
    }

    /// Applies the declared item filters and exclusions to an answer. When the API pages and
    /// items were left out, further pages are asked until `limit` items are kept (or the list
    /// ends), so `limit` counts the items returned; `next_offset` then says where to go on.
    /// Returns how many excluded items were dropped.
    async fn finish_pages(
        &self,
        tool: &'static ToolSpec,
        b: &crate::tools::behaviour::Behaviour,
        req: &RequestParts,
        args: &Value,
        first: &mut Value,
    ) -> Result<usize, ToolError> {
        use crate::tools::behaviour::{finish, list_len};
        let pointer = b.items_pointer().filter(|_| b.summarize.is_none());
        let query = |r: &RequestParts, name: &str| {
            r.query
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<usize>().ok())
        };
        let (Some(pointer), Some(want), table::Paging::Server) =
            (pointer, query(req, "limit"), tool.paging)
        else {
            return Ok(finish(b, args, first));
        };
        let start = query(req, "offset").unwrap_or(0);
        let mut consumed = list_len(first, pointer);
        let mut more = consumed >= want;
        let mut omitted = finish(b, args, first);
        let mut kept = list_len(first, pointer);
        let mut requests = 1;
        while kept < want && more && requests < MAX_FILTERED_PAGES {
            let asked = want - kept;
            let mut next = req.clone();
            for (k, v) in next.query.iter_mut() {
                match k.as_str() {
                    "offset" => *v = (start + consumed).to_string(),
                    "limit" => *v = asked.to_string(),
                    _ => {}
                }
            }
            if query(&next, "offset").is_none() {
                next.query
                    .push(("offset".into(), (start + consumed).to_string()));
            }
            let Output::Json(mut page) = self.answer(tool, &next, args).await? else {
                break;
            };
            requests += 1;
            let fetched = list_len(&page, pointer);
            consumed += fetched;
            more = fetched >= asked;
            omitted += finish(b, args, &mut page);
            if let (Some(Value::Array(found)), Some(Value::Array(items))) = (
                page.pointer_mut(pointer).map(Value::take),
                first.pointer_mut(pointer),
            ) {
                items.extend(found);
            }
            kept = list_len(first, pointer);
        }
        if more && let Some(obj) = first.as_object_mut() {
            obj.insert("next_offset".into(), Value::from(start + consumed));
        }
        Ok(omitted)
    }

    /// How an answer disagrees with the tool's own output schema, or `None` when it fits (or
    /// the tool declares none). IONOS sometimes answers outside its spec (a field of another
    /// type, a string where a list is declared); the first such answer of each tool is logged.
    pub fn off_spec(&self, tool: &'static ToolSpec, value: &Value) -> Option<String> {
        let (cell, logged) = self.output_validators.get(tool.name)?;
        let schema = cell
            .get_or_init(|| Schema::compile(&*tool.output_schema_object()?).ok())
            .as_ref()?;
        let problems: Vec<String> = schema
            .problems(value, 3)
            .into_iter()
            .map(|p| {
                if p.at.is_empty() {
                    p.message
                } else {
                    format!("at {}: {}", p.at, p.message)
                }
            })
            .collect();
        if problems.is_empty() {
            return None;
        }
        let problem = problems.join("; ");
        if !logged.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                tool = tool.name,
                "IONOS answered outside the spec ({problem}); the answer is delivered as text without structuredContent. Later such answers of this tool are not logged."
            );
        }
        Some(problem)
    }

    /// Everything before sending: schema validation, declared behaviour (date windows), the
    /// generated request builder, and the path-segment checks. Returns the request and the
    /// arguments as completed.
    pub fn prepare(
        &self,
        tool: &'static ToolSpec,
        arguments: Option<Map<String, Value>>,
    ) -> Result<(RequestParts, Value), ToolError> {
        let invalid = |problems: String| ToolError::InvalidArguments {
            tool: tool.name.to_string(),
            problems,
            expected: expected_args(tool),
        };
        let mut args = self.validate(tool, arguments)?;
        if let Some(b) = crate::tools::behaviour::of(tool) {
            crate::tools::behaviour::prepare(b, &mut args, crate::tools::behaviour::Day::today())
                .map_err(invalid)?;
        }
        let req = (tool.build)(args.clone()).map_err(|e| invalid(e.to_string()))?;
        if !req.problems.is_empty() {
            return Err(invalid(req.problems.join("; ")));
        }
        Ok((req, args))
    }

    /// Checks arguments against the tool's input schema before anything is sent. Top-level
    /// `null` values count as "not given", as models often send them for optional arguments.
    pub fn validate(
        &self,
        tool: &'static ToolSpec,
        arguments: Option<Map<String, Value>>,
    ) -> Result<Value, ToolError> {
        let mut args = arguments.unwrap_or_default();
        args.retain(|_, v| !v.is_null());
        let args = Value::Object(args);
        let schema = self
            .validators
            .get(tool.name)
            .map(|cell| cell.get_or_init(|| Schema::compile(&tool.validation_schema_object())))
            .ok_or_else(|| ToolError::NotSelected {
                tool: tool.name.to_string(),
                toolset: "(not a tool of this build)".into(),
            })?
            .as_ref()
            // Fail closed: arguments that cannot be checked are not sent.
            .map_err(|e| ToolError::InvalidArguments {
                tool: tool.name.to_string(),
                problems: format!("this build cannot check the tool's arguments ({e})"),
                expected: expected_args(tool),
            })?;
        let problems: Vec<String> = schema
            .problems(&args, 5)
            .into_iter()
            .map(|p| {
                let name = p.at.trim_start_matches('/');
                // A failed pattern reads better as the argument's own description
                // ("Billing period as YYYY-MM.") than as a regular expression.
                let described = (p.rule == Rule::Pattern)
                    .then(|| {
                        tool.validation_schema_object()
                            .get("properties")
                            .and_then(|props| props.get(name))
                            .and_then(|prop| prop.get("description"))
                            .and_then(Value::as_str)
                            .map(|d| {
                                format!(
                                    "{} does not fit: {}",
                                    args.pointer(&p.at).map(shown).unwrap_or_default(),
                                    d.trim_end_matches('.')
                                )
                            })
                    })
                    .flatten();
                let msg = described.unwrap_or(p.message);
                if name.is_empty() {
                    msg
                } else {
                    format!("argument `{name}`: {msg}")
                }
            })
            .collect();
        if !problems.is_empty() {
            return Err(ToolError::InvalidArguments {
                tool: tool.name.to_string(),
                problems: problems.join("; "),
                expected: expected_args(tool),
            });
        }
        // A day pattern admits 2026-02-31; the calendar does not.
        let schema = tool.validation_schema_object();
        let props = schema.get("properties");
        for (name, value) in args.as_object().into_iter().flatten() {
            let is_day = props
                .and_then(|p| p.get(name))
                .and_then(|s| s.get("pattern"))
                .and_then(Value::as_str)
                .is_some_and(|p| p.ends_with(DAY_PATTERN_END));
            if let (true, Some(text)) = (is_day, value.as_str())
                && crate::tools::behaviour::Day::parse(text).is_none()
            {
                return Err(ToolError::InvalidArguments {
                    tool: tool.name.to_string(),
                    problems: format!(
                        "argument `{name}`: {text:?} is not a day of the calendar; expected YYYY-MM-DD"
                    ),
                    expected: expected_args(tool),
                });
            }
        }
        Ok(args)
    }
}

/// The refusal of a tool beyond `IONOS_MCP_TOOL_SCOPE`.
pub fn writes_disabled(tool: &ToolSpec, scope: Access) -> ToolError {
    ToolError::WritesDisabled {
        tool: tool.name.to_string(),
        served: match scope {
            Access::Read => "read-only",
            Access::Write => "read and write (not destructive)",
            Access::Destructive => "all",
        },
        needs: tool.access.as_str(),
        also: if tool.access == Access::Write {
            " (or IONOS_ENABLE_WRITES=true)"
        } else {
            ""
        },
    }
}

/// The most requests one call makes to fill a filtered page.
const MAX_FILTERED_PAGES: usize = 10;

/// How the patterns of day arguments (`YYYY-MM-DD`) end; such values are also checked against
/// the calendar.
const DAY_PATTERN_END: &str = "-(0[1-9]|[12][0-9]|3[01])$";

fn expected_args(tool: &ToolSpec) -> String {
    let schema = tool.input_schema_object();
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let props = schema.get("properties").and_then(Value::as_object);
    let describe = |name: &str| {
        let ty = props
            .and_then(|p| p.get(name))
            .and_then(|s| s.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("value");
        format!("{name} ({ty})")
    };
    let req: Vec<String> = required.iter().map(|n| describe(n)).collect();
    let opt: Vec<String> = props
        .into_iter()
        .flat_map(|p| p.keys())
        .filter(|k| !required.contains(&k.as_str()))
        .map(|k| describe(k))
        .collect();
    let mut parts = Vec::new();
    if !req.is_empty() {
        parts.push(format!("required {}", req.join(", ")));
    }
    if !opt.is_empty() {
        parts.push(format!("optional {}", opt.join(", ")));
    }
    if parts.is_empty() {
        "no arguments".into()
    } else {
        parts.join("; ")
    }
}
