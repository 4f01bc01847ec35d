//! Renders the tool table into Rust source through the minijinja templates in `templates/`.

use minijinja::{Environment, UndefinedBehavior, context};
use serde::Serialize;
use serde_json::Value;

use crate::table::{ArgDef, Paging, ToolDef, ToolTable};

/// Rust keywords that need a raw identifier as a field name.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "box", "break", "const", "continue", "crate", "dyn", "else", "enum",
    "extern", "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod",
    "move", "mut", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
    "try", "type", "unsafe", "use", "where", "while", "yield", "abstract", "become", "do", "final",
    "macro", "override", "priv", "typeof", "unsized", "virtual",
];

#[derive(Serialize)]
struct FieldCtx {
    ident: String,
    name: String,
    /// Set when the field's identifier differs from the argument name.
    rename: Option<String>,
    rust_type: String,
    optional: bool,
    doc: String,
}

#[derive(Serialize)]
struct StepCtx {
    /// `literal`, `segment`, `query`, `header`, `query_each`, `filters`, `client_page`
    kind: String,
    wire: String,
    ident: String,
    optional: bool,
    /// Rust expression for a default or fixed value.
    value: String,
}

#[derive(Serialize)]
struct ToolCtx {
    name: String,
    title: String,
    description: String,
    product: String,
    toolset: String,
    access: String,
    idempotent: bool,
    method: String,
    path: String,
    operation_id: String,
    spec: String,
    struct_name: String,
    fn_name: String,
    fields: Vec<FieldCtx>,
    steps: Vec<StepCtx>,
    input_schema: String,
    validation_schema: String,
    output_schema: Option<String>,
    response_media: String,
    wrap: Option<String>,
    xml_schema: Option<String>,
    response_headers: Vec<(String, String)>,
    paging: String,
    redact: Vec<String>,
    tokens: usize,
    behaviour: String,
    shape: String,
}

fn ident(name: &str) -> String {
    if ["self", "super", "crate", "Self"].contains(&name) {
        // These cannot be raw identifiers; the field is renamed back by serde.
        format!("{name}_")
    } else if KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_string()
    }
}

fn pascal(name: &str) -> String {
    name.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn rust_type(arg: &ArgDef) -> String {
    let ty = arg
        .schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("string");
    match ty {
        "integer" => "i64".into(),
        "number" => "f64".into(),
        "boolean" => "bool".into(),
        "array" => {
            let item = arg
                .schema
                .pointer("/items/type")
                .and_then(Value::as_str)
                .unwrap_or("string");
            match item {
                "integer" => "::std::vec::Vec<i64>".into(),
                "number" => "::std::vec::Vec<f64>".into(),
                "boolean" => "::std::vec::Vec<bool>".into(),
                _ => "::std::vec::Vec<::std::string::String>".into(),
            }
        }
        "object" => {
            "::std::collections::BTreeMap<::std::string::String, ::std::string::String>".into()
        }
        _ => "::std::string::String".into(),
    }
}

/// A Rust expression of the argument's type for a JSON value.
fn value_expr(v: &Value, rust_type: &str) -> String {
    match v {
        Value::String(s) if rust_type.contains("String") => {
            format!("::std::string::String::from({s:?})")
        }
        Value::Number(n) if rust_type == "f64" && !n.to_string().contains('.') => format!("{n}.0"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => format!("{:?}", other.to_string()),
    }
}

/// The wire form of a fixed value.
fn wire_literal(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => format!("{:?}", other.to_string()),
    }
}

fn tool_ctx(tool: &ToolDef) -> ToolCtx {
    let mut fields = Vec::new();
    for a in &tool.args {
        let doc = a
            .schema
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let id = ident(&a.name);
        fields.push(FieldCtx {
            rename: (id.trim_start_matches("r#") != a.name).then(|| a.name.clone()),
            ident: id,
            name: a.name.clone(),
            rust_type: rust_type(a),
            optional: !a.required,
            doc,
        });
    }
    let arg_of = |name: &str| tool.args.iter().find(|a| a.name == name);

    let mut steps = Vec::new();
    // A query part in the path key (S3's sub-resource flags: `/{Bucket}?versioning`,
    // `/{Bucket}?list-type=2`) is sent as fixed query parameters, so the path stays a path.
    let (path, flags) = tool
        .path
        .split_once('?')
        .unwrap_or((tool.path.as_str(), ""));
    // The path, split into literal text and encoded segments.
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..]
            .find('}')
            .map(|e| start + e)
            .unwrap_or(rest.len() - 1);
        if start > 0 {
            steps.push(literal(&rest[..start]));
        }
        let wire = &rest[start + 1..end];
        let arg = tool
            .wire
            .iter()
            .find(|w| w.location == "path" && w.name == wire)
            .and_then(|w| {
                w.arg
                    .clone()
                    .map(|a| (a, None))
                    .or(w.fixed.clone().map(|f| (String::new(), Some(f))))
            });
        match arg {
            Some((a, None)) => steps.push(StepCtx {
                kind: "segment".into(),
                wire: wire.into(),
                ident: ident(&a),
                optional: false,
                value: a.clone(),
            }),
            Some((_, Some(f))) => steps.push(StepCtx {
                kind: "segment_fixed".into(),
                wire: wire.into(),
                ident: String::new(),
                optional: false,
                value: wire_literal(&f),
            }),
            None => steps.push(literal(&rest[start..=end])),
        }
        rest = &rest[end + 1..];
    }
    if !rest.is_empty() {
        steps.push(literal(rest));
    }
    for flag in flags.split('&').filter(|f| !f.is_empty()) {
        let (name, value) = flag.split_once('=').unwrap_or((flag, ""));
        // A flag the operation also declares as a query parameter is sent once, as that.
        if tool
            .wire
            .iter()
            .any(|w| w.location == "query" && w.name == name)
        {
            continue;
        }
        steps.push(StepCtx {
            kind: "query_fixed".into(),
            wire: name.into(),
            ident: String::new(),
            optional: false,
            value: format!("{value:?}"),
        });
    }
    for w in tool.wire.iter().filter(|w| w.location != "path") {
        if let Some(f) = &w.fixed {
            steps.push(StepCtx {
                kind: format!("{}_fixed", w.location),
                wire: w.name.clone(),
                ident: String::new(),
                optional: false,
                value: wire_literal(f),
            });
            continue;
        }
        let Some(a) = w.arg.as_deref().and_then(arg_of) else {
            continue;
        };
        let ty = rust_type(a);
        let is_vec = ty.contains("Vec<");
        steps.push(StepCtx {
            kind: if is_vec {
                format!("{}_each", w.location)
            } else {
                w.location.clone()
            },
            wire: w.name.clone(),
            ident: ident(&a.name),
            optional: !a.required && a.default.is_none(),
            value: a
                .default
                .as_ref()
                .map(|d| {
                    let field = format!("args.{}", ident(&a.name));
                    if ty.contains("String") {
                        format!("{field}.clone().unwrap_or({})", value_expr(d, &ty))
                    } else {
                        format!("{field}.unwrap_or({})", value_expr(d, &ty))
                    }
                })
                .unwrap_or_default(),
        });
    }
    if tool.filters {
        steps.push(StepCtx {
            kind: "filters".into(),
            wire: "filter.".into(),
            ident: "filters".into(),
            optional: true,
            value: String::new(),
        });
    }
    if tool.paging == Paging::Client {
        // Page bounds as Rust expressions, with the manifest's defaults applied.
        let bound = |n: &str| match arg_of(n).and_then(|a| a.default.as_ref()) {
            Some(d) => format!("args.{n}.or(::std::option::Option::Some({d}))"),
            None => format!("args.{n}"),
        };
        steps.push(StepCtx {
            kind: "client_page".into(),
            wire: String::new(),
            ident: bound("offset"),
            optional: true,
            value: bound("limit"),
        });
    }

    ToolCtx {
        name: tool.name.clone(),
        title: tool.title.clone(),
        description: tool.description.clone(),
        product: tool.product.clone(),
        toolset: tool.toolset.clone(),
        access: tool.access.clone(),
        idempotent: tool.idempotent,
        method: tool.method.clone(),
        path: tool.path.clone(),
        operation_id: tool.operation_id.clone(),
        spec: tool.spec.clone(),
        struct_name: format!("{}Args", pascal(&tool.name)),
        fn_name: format!("{}_request", tool.name),
        fields,
        steps,
        input_schema: serde_json::to_string(&tool.input_schema).unwrap_or_default(),
        validation_schema: serde_json::to_string(&tool.validation_schema).unwrap_or_default(),
        output_schema: tool
            .output_schema
            .as_ref()
            .map(|s| serde_json::to_string(s).unwrap_or_default()),
        response_media: tool.response_media.clone(),
        wrap: tool.wrap.clone(),
        xml_schema: tool
            .xml_schema
            .as_ref()
            .map(|s| serde_json::to_string(s).unwrap_or_default()),
        response_headers: tool.response_headers.clone(),
        paging: format!("{:?}", tool.paging),
        redact: tool.redact.clone(),
        tokens: tool.tokens,
        behaviour: if tool.behaviour.is_null() {
            String::new()
        } else {
            tool.behaviour.to_string()
        },
        shape: if tool.shape.is_null() {
            String::new()
        } else {
            tool.shape.to_string()
        },
    }
}

fn literal(text: &str) -> StepCtx {
    StepCtx {
        kind: "literal".into(),
        wire: text.into(),
        ident: String::new(),
        optional: false,
        value: String::new(),
    }
}

/// Renders `template` (the text of `templates/tools.rs.j2`) into formatted Rust source.
pub fn render(table: &ToolTable, template: &str, header: &str) -> Result<String, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("rust_str", |s: String| format!("{s:?}"));
    env.add_template("tools.rs", template)
        .map_err(|e| format!("templates/tools.rs.j2: {e:#}"))?;
    let tools: Vec<ToolCtx> = table.tools.iter().map(tool_ctx).collect();
    let tmpl = env.get_template("tools.rs").map_err(|e| e.to_string())?;
    let source = tmpl
        .render(context! {
            tools => minijinja::Value::from(minijinja::value::Serde(&tools)),
            products => minijinja::Value::from(minijinja::value::Serde(&table.products)),
            specs => minijinja::Value::from(minijinja::value::Serde(&table.specs)),
            documents => minijinja::Value::from(minijinja::value::Serde(&table.documents)),
        })
        .map_err(|e| format!("templates/tools.rs.j2: {e:#}"))?;
    let file = syn::parse_file(&source).map_err(|e| {
        let line = source[..source.len().min(source.find(&e.to_string()).unwrap_or(0))]
            .lines()
            .count();
        let context: String = source
            .lines()
            .enumerate()
            .skip(line.saturating_sub(3))
            .take(5)
            .map(|(i, l)| format!("{:5} | {l}\n", i + 1))
            .collect();
        format!("generated code does not parse: {e} at line {line}\n{context}")
    })?;
    Ok(format!("{header}\n{}", prettyplease::unparse(&file)))
}
