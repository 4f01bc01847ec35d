//! The one generic dispatcher: validate the arguments, build the request through the generated
//! builder, hand it to the product's upstream, and shape the answer into the tool result.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use crate::config::Config;
use crate::errors::{ToolError, truncate};
use crate::tools::request::RequestParts;
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

/// Runs tool calls against IONOS.
pub struct Dispatcher {
    config: Arc<Config>,
    upstreams: Upstreams,
    validators: HashMap<&'static str, OnceLock<Option<jsonschema::Validator>>>,
}

impl Dispatcher {
    pub fn new(config: Config) -> Result<Dispatcher, reqwest::Error> {
        let config = Arc::new(config);
        let validators = TOOLS.iter().map(|t| (t.name, OnceLock::new())).collect();
        Ok(Dispatcher {
            upstreams: Upstreams::new(config.clone())?,
            config,
            validators,
        })
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
    ) -> Option<Result<Output, ToolError>> {
        let tool = table::tool(name)?;
        Some(self.call_tool(tool, arguments).await)
    }

    async fn call_tool(
        &self,
        tool: &'static ToolSpec,
        arguments: Option<Map<String, Value>>,
    ) -> Result<Output, ToolError> {
        if !self.config.selects(tool.product, tool.toolset) {
            return Err(ToolError::NotSelected {
                tool: tool.name.to_string(),
                toolset: format!("{}/{}", tool.product, tool.toolset),
            });
        }
        if tool.access == Access::Write && !self.config.writes_enabled {
            return Err(ToolError::WritesDisabled {
                tool: tool.name.to_string(),
            });
        }
        let (req, args) = self.prepare(tool, arguments)?;
        let behaviour = crate::tools::behaviour::of(tool);
        let mut out = match self.upstreams.send(tool, &req).await? {
            Reply::Value(v) => Output::Json(v),
            Reply::Body { media, body } => super::shape::shape(tool, &req, &media, &body)?,
        };
        // A HEAD answer says which resource it is about: the arguments that named it.
        if tool.method == "HEAD"
            && let (Output::Json(Value::Object(obj)), Value::Object(given)) = (&mut out, &args)
        {
            for (k, v) in given {
                obj.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        if let (Some(b), Output::Json(v)) = (behaviour, &mut out) {
            let omitted = crate::tools::behaviour::finish(b, &args, v);
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
        Ok(out)
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
        let validator = self.validators.get(tool.name).and_then(|cell| {
            cell.get_or_init(|| {
                jsonschema::validator_for(&Value::Object(
                    (*tool.validation_schema_object()).clone(),
                ))
                .ok()
            })
            .as_ref()
        });
        if let Some(v) = validator {
            let problems: Vec<String> = v
                .iter_errors(&args)
                .take(5)
                .map(|e| {
                    let at = e.instance_path().to_string();
                    let name = at.trim_start_matches('/');
                    // A failed pattern reads better as the argument's own description
                    // ("Billing period as YYYY-MM.") than as a regular expression.
                    let described = matches!(
                        e.kind(),
                        jsonschema::error::ValidationErrorKind::Pattern { .. }
                    )
                    .then(|| {
                        tool.validation_schema_object()
                            .get("properties")
                            .and_then(|p| p.get(name))
                            .and_then(|p| p.get("description"))
                            .and_then(Value::as_str)
                            .map(|d| {
                                format!(
                                    "{} does not fit: {}",
                                    e.instance(),
                                    d.trim_end_matches('.')
                                )
                            })
                    })
                    .flatten();
                    let msg = described.unwrap_or_else(|| truncate(&e.to_string(), 200));
                    if at.is_empty() {
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
