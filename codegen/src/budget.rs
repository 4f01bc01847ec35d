//! Budgets the tool surface must stay within, checked before anything is generated: the
//! `tools/list` token cost per toolset and in all (o200k, the tokenizer of current OpenAI
//! models; Claude's counts are of the same order), and schema shapes that model providers reject.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::diagnostics::Diagnostics;
use crate::manifest::Manifest;
use crate::table::ToolDef;

fn tokenizer() -> Option<&'static tiktoken_rs::CoreBPE> {
    static BPE: OnceLock<Option<tiktoken_rs::CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().ok()).as_ref()
}

/// o200k tokens of a text.
pub fn count_tokens(text: &str) -> usize {
    tokenizer().map_or(text.len() / 4, |b| b.encode_with_special_tokens(text).len())
}

/// The tool as `tools/list` serves it (the same fields the server sends).
pub fn served_definition(t: &ToolDef) -> Value {
    let read = t.access == "read";
    let mut annotations = json!({"readOnlyHint": read, "openWorldHint": true});
    if !read {
        annotations["destructiveHint"] = json!(t.access == "destructive");
        annotations["idempotentHint"] = json!(t.idempotent);
    }
    let mut def = json!({
        "name": t.name,
        "title": t.title,
        "description": t.description,
        "inputSchema": t.input_schema,
        "annotations": annotations,
    });
    if let Some(out) = &t.output_schema {
        def["outputSchema"] = out.clone();
    }
    def
}

/// Token counts: per tool (in table order), per toolset, and in all.
pub struct TokenReport {
    pub per_tool: Vec<usize>,
    pub per_toolset: BTreeMap<String, usize>,
    pub total: usize,
}

pub fn tokens(tools: &[ToolDef]) -> TokenReport {
    let per_tool: Vec<usize> = tools
        .iter()
        .map(|t| count_tokens(&served_definition(t).to_string()))
        .collect();
    let mut per_toolset = BTreeMap::new();
    for (t, n) in tools.iter().zip(&per_tool) {
        *per_toolset
            .entry(format!("{}/{}", t.product, t.toolset))
            .or_insert(0) += n;
    }
    TokenReport {
        total: per_tool.iter().sum(),
        per_tool,
        per_toolset,
    }
}

/// Checks the token budgets and schema portability; problems go to `diags`.
pub fn check(manifest: &Manifest, tools: &[ToolDef], diags: &mut Diagnostics) -> TokenReport {
    let report = tokens(tools);
    let limits = &manifest.limits;
    if let Some(max) = limits.max_tokens_total
        && report.total > max
    {
        diags.push(
            "limits.max_tokens_total",
            None,
            format!(
                "tools/list would cost {} o200k tokens, over the budget of {max}",
                report.total
            ),
            Some(format!(
                "largest toolsets: {}; shorten descriptions or drop tools, or raise the budget deliberately",
                largest(&report.per_toolset)
            )),
        );
    }
    if let Some(max) = limits.max_tokens_per_toolset {
        for (set, n) in &report.per_toolset {
            if *n > max {
                diags.push(
                    "limits.max_tokens_per_toolset",
                    None,
                    format!("toolset `{set}` costs {n} o200k tokens, over the budget of {max}"),
                    Some("split the toolset or shorten its tool descriptions".into()),
                );
            }
        }
    }
    for t in tools {
        let key = format!("tool `{}`", t.name);
        let mut problems = Vec::new();
        portability("inputSchema", &t.input_schema, true, &mut problems);
        if let Some(out) = &t.output_schema {
            portability("outputSchema", out, true, &mut problems);
        }
        for p in problems {
            diags.push(
                key.clone(),
                None,
                format!("schema shape that model providers reject: {p}"),
                Some("OpenAI, Anthropic and Gemini accept plain typed objects without references or combinators at the top".into()),
            );
        }
    }
    report
}

fn largest(per_toolset: &BTreeMap<String, usize>) -> String {
    let mut v: Vec<(&String, &usize)> = per_toolset.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1));
    v.iter()
        .take(3)
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Shapes rejected by at least one major provider: top-level combinators, `$ref`/`$defs`,
/// arrays without `items`, properties without `type`, `nullable`.
pub fn portability(at: &str, schema: &Value, top: bool, problems: &mut Vec<String>) {
    let Some(obj) = schema.as_object() else {
        return;
    };
    if top {
        for k in ["anyOf", "oneOf", "allOf", "not"] {
            if obj.contains_key(k) {
                problems.push(format!("{at}: `{k}` at the top level"));
            }
        }
        if obj.get("type") != Some(&json!("object")) {
            problems.push(format!("{at}: the top level is not `type: object`"));
        }
    }
    for k in ["$ref", "$defs", "definitions", "nullable"] {
        if obj.contains_key(k) {
            problems.push(format!("{at}: `{k}`"));
        }
    }
    if obj.get("type") == Some(&json!("array")) && !obj.contains_key("items") {
        problems.push(format!("{at}: an array without `items`"));
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            if sub.get("type").is_none() {
                problems.push(format!("{at}/{name}: a property without `type`"));
            }
            portability(&format!("{at}/{name}"), sub, false, problems);
        }
    }
    if let Some(items) = obj.get("items") {
        portability(&format!("{at}/items"), items, false, problems);
    }
    if let Some(ap @ Value::Object(_)) = obj.get("additionalProperties") {
        portability(&format!("{at}/additionalProperties"), ap, false, problems);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_shapes_are_named() {
        let bad = json!({
            "anyOf": [{}],
            "type": "object",
            "properties": {
                "a": {"type": "array"},
                "b": {"description": "untyped"},
                "c": {"type": "string", "nullable": true},
                "d": {"$ref": "#/$defs/x", "type": "object"}
            },
            "$defs": {}
        });
        let mut problems = Vec::new();
        portability("inputSchema", &bad, true, &mut problems);
        let all = problems.join("\n");
        for needle in [
            "`anyOf` at the top level",
            "inputSchema/a: an array without `items`",
            "inputSchema/b: a property without `type`",
            "inputSchema/c: `nullable`",
            "inputSchema/d: `$ref`",
            "inputSchema: `$defs`",
        ] {
            assert!(all.contains(needle), "{needle} missing from:\n{all}");
        }
        let mut none = Vec::new();
        portability(
            "inputSchema",
            &json!({"type": "object", "properties": {"x": {"type": "array", "items": {"type": "string"}}}}),
            true,
            &mut none,
        );
        assert!(none.is_empty(), "{none:?}");
    }

    #[test]
    fn tokens_are_counted_with_o200k() {
        assert!(tokenizer().is_some(), "the vocabulary is bundled");
        assert_eq!(count_tokens("hello world"), 2);
    }
}
