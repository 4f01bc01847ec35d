//! The tool table: the manifest's tools resolved against their specs and validated.
//!
//! This is the single source for the generated code, `ionos-mcp tools` and `ionos-mcp audit`.

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::diagnostics::{Diagnostics, closest};
use crate::manifest::{Access, Manifest, ParameterRules, ToolEntry};
use crate::spec::{Location, Spec, SpecOperation, SpecParam, escape_pointer};

/// Arguments the generator adds to list tools, with fixed meanings.
pub const PAGING_ARGS: [&str; 3] = ["offset", "limit", "filters"];

/// Everything the build generates from.
#[derive(Debug, Clone, Serialize)]
pub struct ToolTable {
    pub products: Vec<ProductDef>,
    pub specs: Vec<SpecDef>,
    pub tools: Vec<ToolDef>,
    pub documents: Vec<crate::manifest::DocumentEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProductDef {
    pub key: String,
    pub family: String,
    pub title: String,
    pub spec: String,
    pub base_url: String,
    pub base_url_env: String,
    pub auth: String,
    pub privilege: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SpecDef {
    pub file: String,
    pub title: String,
    pub version: String,
    pub sha256: String,
}

/// How a list is paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Paging {
    /// Not a list.
    None,
    /// `offset`/`limit` are sent to the API.
    Server,
    /// The API has no paging parameters: `offset`/`limit` slice the answer.
    Client,
}

/// One generated tool.
#[derive(Debug, Clone, Serialize)]
pub struct ToolDef {
    pub name: String,
    pub title: String,
    pub description: String,
    pub product: String,
    pub toolset: String,
    pub access: String,
    /// Repeating the call with the same arguments changes nothing more (write tools).
    pub idempotent: bool,
    pub method: String,
    pub path: String,
    pub operation_id: String,
    pub spec: String,
    pub args: Vec<ArgDef>,
    pub wire: Vec<WireParam>,
    pub paging: Paging,
    pub filters: bool,
    /// The arguments' schema as served in `tools/list`: types, descriptions, enums, defaults.
    pub input_schema: Value,
    /// The same with every constraint (patterns, bounds, length caps), checked before sending;
    /// a model does not need to read them, since the descriptions say the formats and a
    /// refusal names the bound.
    pub validation_schema: Value,
    pub output_schema: Option<Value>,
    /// Media type of the success response (`application/json`, `text/plain`, ...).
    pub response_media: String,
    /// Non-object JSON answers are wrapped in an object under this key.
    pub wrap: Option<String>,
    /// For XML answers: the response schema reduced to what the XML-to-JSON conversion
    /// needs (`type`, `properties`, `items`, `additionalProperties`, `xml`).
    pub xml_schema: Option<Value>,
    /// Headers the success response declares, with their JSON types (HEAD answers).
    pub response_headers: Vec<(String, String)>,
    pub redact: Vec<String>,
    /// o200k tokens of the tool's `tools/list` entry.
    pub tokens: usize,
    /// Server-side behaviour (`date_window`, `exclude_items`) as JSON; `null` when none.
    pub behaviour: Value,
    /// The product's compaction rules that apply to this tool's answers; `null` when none.
    pub shape: Value,
}

/// An argument the model fills in.
#[derive(Debug, Clone, Serialize)]
pub struct ArgDef {
    pub name: String,
    pub required: bool,
    pub schema: Value,
    pub default: Option<Value>,
}

/// A parameter sent on the wire and where its value comes from.
#[derive(Debug, Clone, Serialize)]
pub struct WireParam {
    pub name: String,
    pub location: String,
    /// The argument that supplies the value, if any.
    pub arg: Option<String>,
    /// A value always sent (manifest `fixed`).
    pub fixed: Option<Value>,
}

/// Converts `datacenterId` / `X-Contract-Number` / `filter.status` to snake_case.
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = if i > 0 { Some(chars[i - 1]) } else { None };
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if let Some(p) = prev
                && (p.is_ascii_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_ascii_uppercase() && next_lower))
            {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(*c);
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

fn is_snake_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn matches_pattern(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Builds and validates the tool table. Every problem is reported, not only the first.
pub fn build(
    manifest: &Manifest,
    specs: &BTreeMap<String, Spec>,
) -> Result<ToolTable, Diagnostics> {
    let mut diags = Diagnostics::default();
    let mut tools = Vec::new();
    let mut seen_names: BTreeMap<String, String> = BTreeMap::new();
    let mut products = Vec::new();

    if manifest.version != 1 {
        diags.push(
            "version",
            None,
            format!("manifest version {} is not supported", manifest.version),
            Some("this build understands `version: 1`".into()),
        );
    }

    for (pkey, product) in &manifest.products {
        products.push(ProductDef {
            key: pkey.clone(),
            family: product.family.clone().unwrap_or_else(|| pkey.clone()),
            title: product.title.clone(),
            spec: product.spec.clone(),
            base_url: product.base_url.clone(),
            base_url_env: product.base_url_env.clone(),
            auth: product.auth.as_str().to_string(),
            privilege: product.privilege.clone(),
        });
        let Some(spec) = specs.get(&product.spec) else {
            diags.push(
                format!("products.{pkey}.spec"),
                None,
                format!("spec file `{}` was not loaded", product.spec),
                Some(
                    "the path is relative to the project root, e.g. specs/cloudapi-v6.yaml".into(),
                ),
            );
            continue;
        };
        let ops = spec.operations();
        let mut answers: Vec<(String, String, Value)> = Vec::new();
        for (i, entry) in product.tools.iter().enumerate() {
            let key = format!("products.{pkey}.tools[{i}] ({})", entry.name);
            check_name(manifest, entry, &key, &mut seen_names, &mut diags);
            let Some(op) = ops.iter().find(|o| o.operation_id == entry.operation) else {
                let candidates = closest(
                    &entry.operation,
                    ops.iter().map(|o| o.operation_id.as_str()),
                );
                diags.push(
                    key,
                    Some(spec.file.clone()),
                    format!("unknown operationId `{}`", entry.operation),
                    Some(if candidates.is_empty() {
                        format!(
                            "no operation of {} has this id; operationIds are case-sensitive",
                            spec.file
                        )
                    } else {
                        format!(
                            "did you mean {}?",
                            candidates
                                .iter()
                                .map(|c| format!("`{c}`"))
                                .collect::<Vec<_>>()
                                .join(" or ")
                        )
                    }),
                );
                continue;
            };
            if let Some(answer) = answer_schema(op) {
                answers.push((key.clone(), op.operation_id.clone(), answer));
            }
            if let Some(tool) = build_tool(manifest, pkey, spec, op, entry, &key, &mut diags) {
                tools.push(tool);
            }
        }
        if let Some(shape) = &product.shape {
            let responses: Vec<crate::shape::Response> = answers
                .iter()
                .map(|(key, operation, schema)| crate::shape::Response {
                    key: key.clone(),
                    operation: operation.clone(),
                    schema,
                })
                .collect();
            crate::shape::validate(pkey, shape, &responses, &mut diags);
        }
    }

    for (i, d) in manifest.documents.iter().enumerate() {
        let key = format!("documents[{i}] ({})", d.name);
        if !manifest.products.contains_key(&d.product) {
            diags.push(
                key.clone(),
                None,
                format!("unknown product `{}`", d.product),
                Some("use a key of `products`".into()),
            );
        }
        if tools.iter().any(|t| t.name == d.name)
            || manifest.documents[..i].iter().any(|o| o.name == d.name)
        {
            diags.push(
                key.clone(),
                None,
                format!("duplicate name `{}`", d.name),
                None,
            );
        }
        if d.name.len() > manifest.limits.max_name_length
            || !d
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            diags.push(
                key.clone(),
                None,
                format!(
                    "`{}` is not a snake_case name of at most {} characters",
                    d.name, manifest.limits.max_name_length
                ),
                None,
            );
        }
        if !d.uri.contains("://") {
            diags.push(
                key,
                None,
                format!("`{}` is not a URI", d.uri),
                Some("e.g. ionos://billing/focus-v1.3".into()),
            );
        }
    }
    let arg_names: BTreeSet<&str> = tools
        .iter()
        .flat_map(|t| t.args.iter().map(|a| a.name.as_str()))
        .collect();
    for name in manifest.arguments.keys() {
        if !arg_names.contains(name.as_str()) && !tools.is_empty() {
            let near = closest(name, arg_names.iter().copied());
            diags.push(
                format!("arguments.{name}"),
                None,
                format!("no tool has an argument `{name}`"),
                Some(match near.first() {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => "the keys are argument names as served (snake_case)".into(),
                }),
            );
        }
    }
    if diags.is_empty() {
        let report = crate::budget::check(manifest, &tools, &mut diags);
        for (t, n) in tools.iter_mut().zip(report.per_tool) {
            t.tokens = n;
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let mut spec_defs: Vec<SpecDef> = specs
        .values()
        .filter(|s| manifest.products.values().any(|p| p.spec == s.file))
        .map(|s| SpecDef {
            file: s.file.clone(),
            title: s.title.clone(),
            version: s.version.clone(),
            sha256: s.sha256.clone(),
        })
        .collect();
    spec_defs.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(ToolTable {
        products,
        specs: spec_defs,
        tools,
        documents: manifest.documents.clone(),
    })
}

fn check_name(
    manifest: &Manifest,
    entry: &ToolEntry,
    key: &str,
    seen: &mut BTreeMap<String, String>,
    diags: &mut Diagnostics,
) {
    let max = manifest.limits.max_name_length;
    if entry.name.len() > max {
        diags.push(
            key,
            None,
            format!("tool name `{}` is {} characters long; the limit is {max}", entry.name, entry.name.len()),
            Some("clients prefix tool names with the server name and cap the total at 64 characters; choose a shorter name".into()),
        );
    }
    if !is_snake_ident(&entry.name) {
        diags.push(
            key,
            None,
            format!("tool name `{}` is not snake_case", entry.name),
            Some("use lower-case letters, digits and underscores, starting with a letter".into()),
        );
    }
    let folded = entry.name.to_lowercase();
    if let Some(first) = seen.get(&folded) {
        diags.push(
            key,
            None,
            format!("duplicate tool name `{}`", entry.name),
            Some(format!(
                "already used by {first}; every tool needs its own name"
            )),
        );
    } else {
        seen.insert(folded, key.to_string());
    }
    if entry.title.trim().is_empty() {
        diags.push(
            key,
            None,
            "the tool has an empty title",
            Some("give it a short human-readable title".into()),
        );
    }
    if entry.toolset.trim().is_empty() || !is_snake_ident(&entry.toolset) {
        diags.push(
            key,
            None,
            format!("toolset `{}` is not a snake_case name", entry.toolset),
            Some("toolsets group tools, e.g. `servers` or `network`".into()),
        );
    }
}

struct ParamPlan<'a> {
    param: &'a SpecParam,
    arg: Option<String>,
    fixed: Option<Value>,
}

fn build_tool(
    manifest: &Manifest,
    pkey: &str,
    spec: &Spec,
    op: &SpecOperation,
    entry: &ToolEntry,
    key: &str,
    diags: &mut Diagnostics,
) -> Option<ToolDef> {
    let product = &manifest.products[pkey];
    let shared = &manifest.arguments;
    let loc = format!("{}{}", spec.file, op.pointer);
    let before = diags.len();
    let is_read_method = op.method == "GET" || op.method == "HEAD";
    if !is_read_method && entry.access == Access::Read {
        diags.push(
            key,
            Some(loc.clone()),
            format!(
                "tool `{}` selects {} {} (`{}`), which changes the account, but is not declared `access: write` (or `destructive`)",
                entry.name, op.method, op.path, op.operation_id
            ),
            Some("rule: read tools may only select GET or HEAD operations; write `access: write` (or `access: destructive` for actions that interrupt what runs, such as a power-off) to expose it deliberately (it stays disabled unless IONOS_MCP_TOOL_SCOPE allows its class)".into()),
        );
    }
    if entry.idempotent && entry.access == Access::Read {
        diags.push(
            key,
            None,
            format!("tool `{}` is a read tool and declares `idempotent`", entry.name),
            Some("`idempotent` describes write tools (repeating the call changes nothing more); leave it out of read tools".into()),
        );
    }

    // Names the manifest mentions must exist in the operation.
    let wire_names: BTreeSet<&str> = op.params.iter().map(|p| p.name.as_str()).collect();
    for (what, names) in [
        ("rename", entry.rename.keys().cloned().collect::<Vec<_>>()),
        ("fixed", entry.fixed.keys().cloned().collect::<Vec<_>>()),
        ("hide", entry.hide.clone()),
        (
            "patterns",
            entry.patterns.keys().cloned().collect::<Vec<_>>(),
        ),
    ] {
        for n in names {
            let found = wire_names.iter().any(|w| matches_pattern(&n, w));
            if !found {
                let c = closest(&n, wire_names.iter().copied());
                diags.push(
                    format!("{key}.{what}"),
                    Some(loc.clone()),
                    format!(
                        "unknown parameter `{n}` in `{what}`: `{}` has no such parameter",
                        op.operation_id
                    ),
                    Some(if c.is_empty() {
                        format!(
                            "its parameters are: {}",
                            wire_names.iter().copied().collect::<Vec<_>>().join(", ")
                        )
                    } else {
                        format!("did you mean `{}`?", c[0])
                    }),
                );
            }
        }
    }

    // Every `{placeholder}` in the path must be a declared path parameter.
    let placeholders = path_placeholders(&op.path);
    for ph in &placeholders {
        if !op
            .params
            .iter()
            .any(|p| p.location == Location::Path && &p.name == ph)
        {
            diags.push(
                key,
                Some(loc.clone()),
                format!(
                    "path `{}` has `{{{ph}}}` but the operation declares no path parameter `{ph}`",
                    op.path
                ),
                Some(
                    "fix the spec: every path placeholder needs a parameter with `in: path`".into(),
                ),
            );
        }
    }

    let rules = merged_rules(&product.parameters, entry);
    let mut plans: Vec<ParamPlan> = Vec::new();
    let has = |n: &str| {
        op.params
            .iter()
            .any(|p| p.name == n && p.location == Location::Query)
    };
    let paging = if !entry.list {
        Paging::None
    } else if has("offset") && has("limit") {
        Paging::Server
    } else {
        Paging::Client
    };
    let filters = entry.list && product.filters;

    for p in &op.params {
        if p.location == Location::Path && !placeholders.contains(&p.name) {
            diags.push(
                key,
                Some(loc.clone()),
                format!(
                    "path parameter `{}` does not appear in path `{}`",
                    p.name, op.path
                ),
                Some("fix the spec: a path parameter must match a `{placeholder}`".into()),
            );
        }
        if let Some(v) = rules.fixed.get(&p.name) {
            plans.push(ParamPlan {
                param: p,
                arg: None,
                fixed: Some(v.clone()),
            });
            continue;
        }
        let hidden = rules.hide.iter().any(|h| matches_pattern(h, &p.name));
        if hidden {
            if p.required {
                diags.push(
                    key,
                    Some(loc.clone()),
                    format!(
                        "required {} parameter `{}` is hidden, so no request could be built",
                        p.location.as_str(),
                        p.name
                    ),
                    Some("remove it from `hide`, or give it a value under `fixed`".into()),
                );
            }
            continue;
        }
        let arg = rules
            .rename
            .get(&p.name)
            .cloned()
            .unwrap_or_else(|| snake_case(&p.name));
        if !is_snake_ident(&arg) {
            diags.push(
                format!("{key}.rename"),
                Some(loc.clone()),
                format!(
                    "argument name `{arg}` for parameter `{}` is not snake_case",
                    p.name
                ),
                Some("argument names are lower-case letters, digits and underscores".into()),
            );
        }
        plans.push(ParamPlan {
            param: p,
            arg: Some(arg),
            fixed: None,
        });
    }

    // Two parameters may not end up as one argument, nor shadow a generated one.
    let mut arg_names: BTreeMap<String, String> = BTreeMap::new();
    for plan in &plans {
        if let Some(a) = &plan.arg {
            if let Some(other) = arg_names.insert(a.clone(), plan.param.name.clone()) {
                diags.push(
                    key,
                    Some(loc.clone()),
                    format!(
                        "parameters `{other}` and `{}` both become argument `{a}`",
                        plan.param.name
                    ),
                    Some("rename one of them under `rename`".into()),
                );
            }
            let generated = (paging == Paging::Client && (a == "offset" || a == "limit"))
                || (filters && a == "filters");
            if generated {
                diags.push(
                    key,
                    Some(loc.clone()),
                    format!(
                        "parameter `{}` shadows the generated list argument `{a}`",
                        plan.param.name
                    ),
                    Some("rename the parameter, or hide it".into()),
                );
            }
        }
    }
    for d in entry.defaults.keys() {
        let known = arg_names.contains_key(d)
            || (paging == Paging::Client && (d == "offset" || d == "limit"));
        if !known {
            diags.push(
                format!("{key}.defaults"),
                Some(loc.clone()),
                format!("default for unknown argument `{d}`"),
                Some(format!(
                    "the tool's arguments are: {}",
                    arg_names.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            );
        }
    }

    let description = entry
        .description
        .clone()
        .or_else(|| op.description.clone())
        .or_else(|| op.summary.clone())
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    if description.is_empty() {
        diags.push(
            key,
            Some(loc.clone()),
            "the tool has no description",
            Some("give the operation a description in the spec, or set `description` in the manifest".into()),
        );
    }

    if diags.len() > before {
        return None;
    }

    // Arguments, in a stable order: path parameters first (in path order), then the rest.
    let mut args: Vec<ArgDef> = Vec::new();
    let mut wire: Vec<WireParam> = Vec::new();
    let mut ordered: Vec<&ParamPlan> = plans
        .iter()
        .filter(|p| p.param.location == Location::Path)
        .collect();
    ordered.sort_by_key(|p| placeholders.iter().position(|ph| ph == &p.param.name));
    ordered.extend(plans.iter().filter(|p| p.param.location != Location::Path));
    for plan in ordered {
        wire.push(WireParam {
            name: plan.param.name.clone(),
            location: plan.param.location.as_str().to_string(),
            arg: plan.arg.clone(),
            fixed: plan.fixed.clone(),
        });
        let Some(arg) = &plan.arg else { continue };
        let mut schema =
            input_property_schema(&plan.param.schema, plan.param.description.as_deref());
        let mut default = entry.defaults.get(arg).cloned();
        if entry.list && plan.param.name == "depth" && default.is_none() {
            default = Some(json!(1));
        }
        tune_list_arg(&plan.param.name, &mut schema);
        if let Some(p) = rules.patterns.get(&plan.param.name) {
            schema.insert("pattern".into(), json!(p));
        }
        if let Some(d) = &default {
            schema.insert("default".into(), d.clone());
        } else {
            schema.remove("default");
        }
        args.push(ArgDef {
            name: arg.clone(),
            required: plan.param.required,
            schema: Value::Object(schema),
            default,
        });
    }
    if paging == Paging::Client {
        for name in ["offset", "limit"] {
            let mut schema = Map::new();
            tune_list_arg(name, &mut schema);
            let default = entry.defaults.get(name).cloned();
            if let Some(d) = &default {
                schema.insert("default".into(), d.clone());
            }
            args.push(ArgDef {
                name: name.into(),
                required: false,
                schema: Value::Object(schema),
                default,
            });
        }
    }
    if filters {
        args.push(ArgDef {
            name: "filters".into(),
            required: false,
            schema: json!({
                "type": "object",
                "description": "Only items whose properties match, e.g. {\"name\": \"web\"}.",
                "additionalProperties": {"type": "string"}
            }),
            default: None,
        });
    }

    for (name, schema) in &entry.client_args {
        if args.iter().any(|a| &a.name == name) {
            diags.push(
                format!("{key}.client_args"),
                Some(loc.clone()),
                format!("client argument `{name}` clashes with an argument of the operation"),
                Some("give it another name".into()),
            );
            continue;
        }
        let typed = schema.get("type").and_then(Value::as_str).is_some();
        let described = schema.get("description").and_then(Value::as_str).is_some();
        if !typed || !described {
            diags.push(
                format!("{key}.client_args.{name}"),
                None,
                "a client argument needs a `type` and a `description`",
                Some("e.g. {type: boolean, description: Include status polls.}".into()),
            );
            continue;
        }
        args.push(ArgDef {
            name: name.clone(),
            required: false,
            schema: schema.clone(),
            default: None,
        });
    }
    let shape = product
        .shape
        .as_ref()
        .zip(answer_schema(op))
        .and_then(|(s, answer)| crate::shape::effective(s, &answer));
    if shape.is_some() {
        if args.iter().any(|a| a.name == RAW_ARG) {
            diags.push(
                key,
                Some(loc.clone()),
                format!(
                    "an argument of the operation is named `{RAW_ARG}`, which compacted tools add"
                ),
                Some("rename the parameter under `rename`".into()),
            );
        } else {
            args.push(ArgDef {
                name: RAW_ARG.into(),
                required: false,
                schema: json!({"type": "boolean", "description": RAW_DESCRIPTION}),
                default: None,
            });
        }
    }
    let arg_names: BTreeSet<&str> = args.iter().map(|a| a.name.as_str()).collect();
    if let Some(w) = &entry.date_window {
        for a in [&w.start, &w.end] {
            if !arg_names.contains(a.as_str()) {
                diags.push(
                    format!("{key}.date_window"),
                    Some(loc.clone()),
                    format!("`{a}` is not an argument of the tool"),
                    Some(format!(
                        "its arguments are: {}",
                        arg_names.iter().copied().collect::<Vec<_>>().join(", ")
                    )),
                );
            }
        }
    }
    if let Some(x) = &entry.exclude_items
        && !entry.client_args.contains_key(&x.unless)
    {
        diags.push(
            format!("{key}.exclude_items.unless"),
            None,
            format!(
                "`{}` must be a boolean client argument of the tool",
                x.unless
            ),
            Some("declare it under `client_args`".into()),
        );
    }
    for f in &entry.item_filters {
        let kinds = ["equals", "contains", "one_of", "prefix"];
        if !entry.client_args.contains_key(&f.arg) {
            diags.push(
                format!("{key}.item_filters"),
                None,
                format!("`{}` must be a client argument of the tool", f.arg),
                Some("declare it under `client_args`".into()),
            );
        }
        if !kinds.contains(&f.kind.as_str()) {
            diags.push(
                format!("{key}.item_filters"),
                None,
                format!("unknown match `{}`", f.kind),
                Some(format!("use one of: {}", kinds.join(", "))),
            );
        }
    }
    if let Some(x) = &entry.exclude_items
        && x.contains.is_none() != x.zero
    {
        diags.push(
            format!("{key}.exclude_items"),
            None,
            "exclude_items needs exactly one of `contains` and `zero: true`",
            None,
        );
    }
    if let Some(sm) = &entry.summarize {
        for a in [&sm.group_arg, &sm.top_arg] {
            if !entry.client_args.contains_key(a) {
                diags.push(
                    format!("{key}.summarize"),
                    None,
                    format!("`{a}` must be a client argument of the tool"),
                    Some("declare it under `client_args`".into()),
                );
            }
        }
        if sm.groups.is_empty() {
            diags.push(
                format!("{key}.summarize.groups"),
                None,
                "summarize needs at least one group",
                Some("e.g. {meter: /meterId}".into()),
            );
        }
        for g in sm.labels.keys() {
            if !sm.groups.contains_key(g) {
                diags.push(
                    format!("{key}.summarize.labels"),
                    None,
                    format!("label for unknown group `{g}`"),
                    Some("labels are keyed by the names under `groups`".into()),
                );
            }
        }
    }
    let behaviour = if entry.date_window.is_none()
        && entry.exclude_items.is_none()
        && entry.item_filters.is_empty()
        && entry.summarize.is_none()
    {
        Value::Null
    } else {
        json!({
            "date_window": entry.date_window,
            "exclude_items": entry.exclude_items,
            "item_filters": entry.item_filters,
            "summarize": entry.summarize,
        })
    };

    for a in &mut args {
        describe(a, shared);
    }
    let mut props = Map::new();
    let mut strict = Map::new();
    let mut required = Vec::new();
    for a in &args {
        props.insert(a.name.clone(), served_property(&a.schema));
        strict.insert(a.name.clone(), a.schema.clone());
        if a.required {
            required.push(json!(a.name));
        }
    }
    let object = |props: Map<String, Value>| {
        let mut o = Map::new();
        o.insert("type".into(), json!("object"));
        o.insert("properties".into(), Value::Object(props));
        if !required.is_empty() {
            o.insert("required".into(), Value::Array(required.clone()));
        }
        o.insert("additionalProperties".into(), json!(false));
        Value::Object(o)
    };
    let mut input = object(props);
    let validation = object(strict);
    // Unknown arguments are refused by validation; the model need not read that.
    if let Some(o) = input.as_object_mut() {
        o.remove("additionalProperties");
    }

    let (response_media, output_schema, wrap) = match &op.response {
        Some((media, schema)) if media.contains("json") => {
            let (answer, wrap) = wrap_answer(schema);
            // The answer as compaction leaves it is what the schema declares.
            let shaped = match &shape {
                Some(s) => crate::shape::schema(s, &answer),
                None => answer,
            };
            (media.clone(), Some(output_schema(&shaped).0), wrap)
        }
        Some((media, _)) => (media.clone(), None, None),
        None => ("application/json".to_string(), None, None),
    };
    let xml_schema = match &op.response {
        Some((media, schema)) if media.contains("xml") => Some(xml_shape(schema)),
        _ => None,
    };

    Some(ToolDef {
        name: entry.name.clone(),
        title: entry.title.clone(),
        description,
        product: pkey.to_string(),
        toolset: entry.toolset.clone(),
        access: entry.access.as_str().to_string(),
        idempotent: entry.idempotent,
        method: op.method.clone(),
        path: op.path.clone(),
        operation_id: op.operation_id.clone(),
        spec: spec.file.clone(),
        args,
        wire,
        paging,
        filters,
        input_schema: input,
        validation_schema: validation,
        output_schema,
        response_media,
        wrap,
        xml_schema,
        response_headers: op.response_headers.clone(),
        redact: entry.redact.clone(),
        tokens: 0,
        behaviour,
        shape: shape
            .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
            .unwrap_or(Value::Null),
    })
}

/// The argument compacted tools take to answer the API's document untouched.
pub const RAW_ARG: &str = "raw";

/// Its description, the same on every tool.
pub const RAW_DESCRIPTION: &str = "Uncompacted API answer.";

/// The answer's schema as the dispatcher holds it: JSON non-objects wrapped in an object, XML
/// converted to JSON along its schema; `None` for text.
fn answer_schema(op: &SpecOperation) -> Option<Value> {
    match &op.response {
        Some((media, schema)) if media.contains("json") => Some(wrap_answer(schema).0),
        Some((media, schema)) if media.contains("xml") => Some(schema.clone()),
        _ => None,
    }
}

/// Non-object answers are wrapped: arrays under `items`, scalars under `value`.
fn wrap_answer(schema: &Value) -> (Value, Option<String>) {
    match schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("object")
    {
        "object" => (schema.clone(), None),
        "array" => (
            json!({"type": "object", "properties": {"items": schema}}),
            Some("items".into()),
        ),
        _ => (
            json!({"type": "object", "properties": {"value": schema}}),
            Some("value".into()),
        ),
    }
}

fn merged_rules(product: &ParameterRules, entry: &ToolEntry) -> ParameterRules {
    let mut rules = product.clone();
    for (k, v) in &entry.rename {
        rules.rename.insert(k.clone(), v.clone());
    }
    rules.hide.extend(entry.hide.iter().cloned());
    for (k, v) in &entry.fixed {
        rules.fixed.insert(k.clone(), v.clone());
    }
    for (k, v) in &entry.patterns {
        rules.patterns.insert(k.clone(), v.clone());
    }
    rules
}

/// `{name}` placeholders of a path template, in order.
pub fn path_placeholders(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        out.push(rest[start + 1..start + end].to_string());
        rest = &rest[start + end + 1..];
    }
    out
}

/// Constraints left out of served input schemas (the validation schema keeps them).
const VALIDATION_ONLY: [&str; 6] = [
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "additionalProperties",
];

/// An argument's schema as served: without the constraints only validation needs.
fn served_property(schema: &Value) -> Value {
    let mut s = schema.clone();
    if let Some(o) = s.as_object_mut() {
        o.retain(|k, _| !VALIDATION_ONLY.contains(&k.as_str()));
    }
    s
}

/// Applies the manifest's shared wording (`arguments`) to an argument, and leaves out a
/// description that only spells out the name (`Server ID.` for `server_id`).
fn describe(arg: &mut ArgDef, shared: &IndexMap<String, String>) {
    let Some(schema) = arg.schema.as_object_mut() else {
        return;
    };
    if let Some(text) = shared.get(&arg.name) {
        schema.insert("description".into(), json!(text));
    }
    let letters = |s: &str| -> String {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let says_nothing = schema
        .get("description")
        .and_then(Value::as_str)
        .is_some_and(|d| d.trim().is_empty() || letters(d) == letters(&arg.name));
    if says_nothing {
        schema.remove("description");
    }
}

/// A portable input property: typed, no OpenAPI-only keywords, no formats clients reject.
fn input_property_schema(schema: &Value, description: Option<&str>) -> Map<String, Value> {
    let mut out = Map::new();
    let obj = schema.as_object().cloned().unwrap_or_default();
    let ty = obj
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("string")
        .to_string();
    out.insert("type".into(), json!(ty));
    if let Some(d) = description.or_else(|| obj.get("description").and_then(Value::as_str)) {
        let d = d.split_whitespace().collect::<Vec<_>>().join(" ");
        if !d.is_empty() {
            out.insert("description".into(), json!(d));
        }
    }
    for k in [
        "enum",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "default",
    ] {
        if let Some(v) = obj.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    if ty == "array" {
        let items = obj.get("items").cloned().unwrap_or(json!({}));
        let item_ty = items
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("string");
        out.insert("items".into(), json!({"type": item_ty}));
    }
    if ty == "string" && !out.contains_key("maxLength") {
        // Identifiers and values are short; a cap keeps absurd input away from the API.
        out.insert("maxLength".into(), json!(1024));
    }
    out
}

/// Bounds the meaning of the list arguments, whatever the spec says about them.
fn tune_list_arg(name: &str, schema: &mut Map<String, Value>) {
    match name {
        "depth" => {
            schema.insert("type".into(), json!("integer"));
            schema.insert("minimum".into(), json!(0));
            schema.insert("maximum".into(), json!(10));
            schema
                .entry("description")
                .or_insert(json!("Levels of nested objects to include (0: ids only)."));
        }
        "offset" => {
            schema.insert("type".into(), json!("integer"));
            schema.insert("minimum".into(), json!(0));
            schema
                .entry("description")
                .or_insert(json!("Items to skip."));
        }
        "limit" => {
            schema.insert("type".into(), json!("integer"));
            schema.insert("minimum".into(), json!(1));
            schema.insert("maximum".into(), json!(10000));
            schema
                .entry("description")
                .or_insert(json!("Most items to return."));
        }
        _ => {}
    }
}

/// Properties whose contents are summarised as "an object" in output schemas.
const OPAQUE_PROPERTIES: [&str; 1] = ["metadata"];

/// Fields listed per object at each level of an output schema below the top: what identifies
/// an item (`id`, `name`, its state) first, then the first others in the spec's order (which
/// puts the main ones first). The deepest level lists scalars only.
const MAX_FIELDS: [usize; 3] = [usize::MAX, 3, 2];

/// Whether a field identifies an item or says its state; such fields are listed first.
fn identifying(name: &str) -> bool {
    matches!(name, "id" | "name" | "state" | "status") || name.ends_with("State")
}

/// Members of a list answer that echo the paging arguments.
const PAGING_ECHO: [&str; 2] = ["offset", "limit"];

/// Properties never listed in output schemas (they are still in the answer): links, and the
/// nested lists a `depth` above the default expands.
const OMITTED_PROPERTIES: [&str; 3] = ["href", "_links", "entities"];

/// The lenient, compact output schema: what a model needs to read an answer, i.e. the top
/// level of its shape and the main fields below it (see `MAX_FIELDS`), nothing required,
/// extra properties allowed. Non-object answers are wrapped (`items` for arrays, `value` for
/// scalars).
pub fn output_schema(schema: &Value) -> (Value, Option<String>) {
    let ty = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("object");
    match ty {
        "object" => {
            let mut root = compact(schema, 0, false);
            if let Some(o) = root.as_object_mut() {
                o.insert("type".into(), json!("object"));
            }
            (root, None)
        }
        "array" => (
            json!({"type": "object", "properties": {"items": compact(schema, 1, false)}}),
            Some("items".into()),
        ),
        _ => (
            json!({"type": "object", "properties": {"value": compact(schema, 1, false)}}),
            Some("value".into()),
        ),
    }
}

/// `item`: the object is an element of a list.
fn compact(schema: &Value, level: usize, item: bool) -> Value {
    let ty = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("object");
    match ty {
        "object" => {
            let mut out = Map::new();
            out.insert("type".into(), json!("object"));
            if level < 3
                && let Some(props) = schema.get("properties").and_then(Value::as_object)
            {
                {
                    let mut p = Map::new();
                    let ordered = props
                        .iter()
                        .filter(|(n, _)| identifying(n))
                        .chain(props.iter().filter(|(n, _)| !identifying(n)));
                    // A list's paging echoes the arguments, and a typed item's `type` repeats
                    // what the tool lists: the answer has them, the schema need not.
                    let echo = |name: &str| {
                        (level == 0 && props.contains_key("items") && PAGING_ECHO.contains(&name))
                            || (level <= 1 && name == "type" && props.contains_key("id"))
                    };
                    for (name, sub) in ordered.filter(|(n, _)| !echo(n)) {
                        let sub_ty = sub.get("type").and_then(Value::as_str).unwrap_or("object");
                        // Only the main fields: the first ones, and at the deepest level
                        // shown only scalars. A list in the items of a list (meters per data
                        // center) is the answer's structure, so it is listed all the same.
                        let nested_list = level == 1
                            && item
                            && sub_ty == "array"
                            && sub.pointer("/items/type").and_then(Value::as_str) == Some("object");
                        if (p.len() >= MAX_FIELDS[level] && !nested_list)
                            || (level == 2 && (sub_ty == "object" || sub_ty == "array"))
                        {
                            continue;
                        }
                        // Links to the object itself tell a model nothing new.
                        if OMITTED_PROPERTIES.contains(&name.as_str()) {
                            continue;
                        }
                        // Bookkeeping objects: named at the top of an answer, left out deeper.
                        let opaque = OPAQUE_PROPERTIES.contains(&name.as_str());
                        if opaque && level > 0 {
                            continue;
                        }
                        let v = if opaque {
                            json!({"type": "object"})
                        } else {
                            compact(sub, level + 1, false)
                        };
                        p.insert(name.clone(), v);
                    }
                    if !p.is_empty() {
                        out.insert("properties".into(), Value::Object(p));
                    }
                }
            }
            Value::Object(out)
        }
        "array" => {
            let items = schema.get("items").cloned().unwrap_or(json!({}));
            let items = if items.get("type").is_none() && items.get("properties").is_none() {
                json!({})
            } else {
                compact(&items, level, true)
            };
            json!({"type": "array", "items": items})
        }
        other => json!({"type": other}),
    }
}

/// The parts of a flattened schema that XML-to-JSON conversion reads.
fn xml_shape(schema: &Value) -> Value {
    let Some(obj) = schema.as_object() else {
        return json!({});
    };
    let mut out = Map::new();
    for (k, v) in obj {
        match k.as_str() {
            "type" | "xml" => {
                out.insert(k.clone(), v.clone());
            }
            "items" => {
                out.insert(k.clone(), xml_shape(v));
            }
            "additionalProperties" if v.is_object() => {
                out.insert(k.clone(), xml_shape(v));
            }
            "properties" => {
                let props = v
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, sub)| (name.clone(), xml_shape(sub)))
                    .collect();
                out.insert(k.clone(), Value::Object(props));
            }
            _ => {}
        }
    }
    Value::Object(out)
}

/// JSON pointer of an operation, for messages.
pub fn operation_pointer(path: &str, method: &str) -> String {
    format!(
        "#/paths/{}/{}",
        escape_pointer(path),
        method.to_ascii_lowercase()
    )
}
