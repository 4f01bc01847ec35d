//! The `dynamic` load mode's three meta-tools, with the official server's names and
//! arguments: `ionos_search_tools` (ranked search, the best hits with their input schema),
//! `ionos_describe_tools` (full definitions by name) and `ionos_call_tool` (calls a served
//! tool, checked exactly like a direct call).

use std::sync::Arc;

use rmcp::model::{Tool, ToolAnnotations};
use serde_json::{Map, Value, json};

use super::catalog::{Catalog, Entry};
use crate::access::guard::Principal;

pub const SEARCH: &str = "ionos_search_tools";
pub const DESCRIBE: &str = "ionos_describe_tools";
pub const CALL: &str = "ionos_call_tool";

/// Results when `limit` is not given.
const DEFAULT_LIMIT: usize = 10;
/// How many of the best hits come with their input schema, ready to call.
const WITH_SCHEMA: usize = 3;

fn schema(value: Value) -> Arc<Map<String, Value>> {
    match value {
        Value::Object(m) => Arc::new(m),
        _ => Arc::new(Map::new()),
    }
}

/// The three definitions. `scope` says what the calls may do to the account.
pub fn definitions(scope: crate::tools::table::Access) -> Vec<Tool> {
    use crate::tools::table::Access;
    let writes = scope >= Access::Write;
    let read = |title: &'static str| {
        ToolAnnotations::with_title(title)
            .read_only(true)
            .open_world(false)
    };
    let mut call_hints = ToolAnnotations::with_title("Call an IONOS tool")
        .read_only(!writes)
        .open_world(true);
    if writes {
        call_hints = call_hints
            .destructive(scope == Access::Destructive)
            .idempotent(false);
    }
    vec![
        Tool::new(
            SEARCH,
            "Find IONOS Cloud tools (servers, networks, Kubernetes, DNS, Object Storage, billing, certificates, activity log) by keywords. The best hits include their input schema; call them with ionos_call_tool.",
            schema(json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "Keywords, e.g. \"list servers\" or \"dns records\"; empty to browse a group."},
                    "group": {"type": "string", "description": "Only this product: compute, kubernetes (k8s), dns, billing, certmanager (cert), activitylog, objectstorage, auth."},
                    "limit": {"type": "integer", "minimum": 0, "description": "Most results (default 10; 0 for all)."}
                }
            })),
        )
        .with_title("Search IONOS tools")
        .with_annotations(read("Search IONOS tools")),
        Tool::new(
            DESCRIBE,
            "Full definitions (description, input and output schema) of IONOS tools by exact name.",
            schema(json!({
                "type": "object",
                "properties": {
                    "names": {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": "Exact tool names from ionos_search_tools."}
                },
                "required": ["names"]
            })),
        )
        .with_title("Describe IONOS tools")
        .with_annotations(read("Describe IONOS tools")),
        Tool::new(
            CALL,
            "Call an IONOS tool by name with its arguments (see ionos_search_tools / ionos_describe_tools for them).",
            schema(json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "Exact tool name."},
                    "arguments": {"type": "object", "description": "The tool's arguments."}
                },
                "required": ["name"]
            })),
        )
        .with_title("Call an IONOS tool")
        .with_annotations(call_hints),
    ]
}

/// A meta-tool's failure: bad arguments, or a name that does not exist.
pub type MetaError = String;

/// "unknown tool `x` (did you mean `a`?); `look`", over the tools the caller may use.
pub fn unknown(catalog: &Catalog, caller: Option<&Principal>, name: &str, look: &str) -> String {
    let names: Vec<&str> = catalog
        .visible(caller)
        .map(|e| e.tool.name.as_ref())
        .collect();
    let near: Vec<String> = crate::tools::table::suggestions(name, names.iter().copied())
        .iter()
        .map(|n| format!("`{n}`"))
        .collect();
    if near.is_empty() {
        format!("unknown tool `{name}`; {look}")
    } else {
        format!(
            "unknown tool `{name}` (did you mean {}?); {look}",
            near.join(" or ")
        )
    }
}

/// Where a model finds the tools in the dynamic mode.
pub const LOOK_DYNAMIC: &str = "find tools with ionos_search_tools";
/// Where a client finds the tools in the eager mode.
pub const LOOK_EAGER: &str = "call tools/list for the available tools";

fn summary(e: &Entry, with_schema: bool) -> Value {
    let mut v = json!({
        "name": e.tool.name,
        "group": e.family(),
        "title": e.tool.title,
        "description": e.tool.description,
    });
    if with_schema {
        v["input_schema"] = Value::Object((*e.tool.input_schema).clone());
    }
    v
}

/// `ionos_search_tools`.
pub fn search(
    catalog: &Catalog,
    caller: Option<&Principal>,
    args: &Map<String, Value>,
) -> Result<Value, MetaError> {
    let query = match args.get("query") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err("`query` must be a string of keywords".into()),
    };
    let group = match args.get("group") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.as_str()),
        Some(_) => return Err("`group` must be a product name such as compute or dns".into()),
    };
    let limit = match args.get("limit") {
        None | Some(Value::Null) => DEFAULT_LIMIT,
        Some(v) => match v.as_i64() {
            Some(0) => usize::MAX,
            Some(n) if n > 0 => n as usize,
            _ => return Err("`limit` must be a whole number, 0 or more (0: all)".into()),
        },
    };
    let keep = |i: usize| {
        let e = &catalog.entries[i];
        e.allows(caller) && group.is_none_or(|g| e.in_group(g))
    };
    let hits: Vec<usize> = if query.trim().is_empty() {
        (0..catalog.entries.len()).filter(|&i| keep(i)).collect()
    } else {
        catalog
            .index()
            .search(query, keep)
            .into_iter()
            .map(|(i, _)| i)
            .collect()
    };
    if let Some(g) = group
        && !catalog.entries.iter().any(|e| e.in_group(g))
    {
        return Err(format!(
            "no group `{g}`; groups are compute, kubernetes (k8s), dns, billing, certmanager (cert), activitylog, objectstorage, auth"
        ));
    }
    let tools: Vec<Value> = hits
        .iter()
        .take(limit)
        .enumerate()
        .map(|(rank, &i)| summary(&catalog.entries[i], rank < WITH_SCHEMA))
        .collect();
    Ok(json!({
        "count": hits.len(),
        "tools": tools,
        "next": format!("call a tool with {CALL} (name, arguments); {DESCRIBE} gives the schemas of the others"),
    }))
}

/// `ionos_describe_tools`.
pub fn describe(
    catalog: &Catalog,
    caller: Option<&Principal>,
    args: &Map<String, Value>,
) -> Result<Value, MetaError> {
    let Some(names) = args.get("names").and_then(Value::as_array) else {
        return Err("`names` must be a list of exact tool names, e.g. [\"list_servers\"]".into());
    };
    let mut tools = Vec::new();
    let mut unknown_names = Vec::new();
    for n in names {
        let Some(name) = n.as_str() else {
            return Err("`names` must hold strings".into());
        };
        match catalog.get(name).filter(|e| e.allows(caller)) {
            Some(e) => tools.push(serde_json::to_value(&e.tool).unwrap_or(Value::Null)),
            None => unknown_names.push(unknown(catalog, caller, name, LOOK_DYNAMIC)),
        }
    }
    if tools.is_empty() {
        return Err(unknown_names.join("; "));
    }
    let mut out = json!({ "tools": tools });
    if !unknown_names.is_empty() {
        out["unknown"] = json!(unknown_names);
    }
    Ok(out)
}

/// The tool name and arguments of an `ionos_call_tool` call.
pub fn call_target(
    args: &Map<String, Value>,
) -> Result<(String, Option<Map<String, Value>>), MetaError> {
    let Some(name) = args.get("name").and_then(Value::as_str) else {
        return Err(format!(
            "`name` must be the exact name of a tool (find it with {SEARCH})"
        ));
    };
    let arguments = match args.get("arguments") {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => Some(o.clone()),
        Some(_) => return Err("`arguments` must be a JSON object of the tool's arguments".into()),
    };
    Ok((name.to_string(), arguments))
}
