//! Invariants over the whole tool table: what every client and model provider accepts.

use std::collections::BTreeSet;

use ionos_mcp::tools::table::{Access, PRODUCTS, TOOLS};
use serde_json::Value;

/// Walks a schema and reports keywords or shapes that some clients or providers reject.
fn portability_problems(path: &str, schema: &Value, problems: &mut Vec<String>) {
    let Some(obj) = schema.as_object() else {
        problems.push(format!("{path}: schema is not an object"));
        return;
    };
    for key in obj.keys() {
        if key == "$ref"
            || key == "$defs"
            || key == "definitions"
            || key == "nullable"
            || key == "example"
            || key.starts_with("x-")
        {
            problems.push(format!("{path}: has `{key}`"));
        }
        if key == "anyOf" || key == "oneOf" || key == "allOf" {
            problems.push(format!("{path}: has combinator `{key}`"));
        }
    }
    if obj.get("type").is_none() && !path.ends_with("/items") {
        problems.push(format!("{path}: property without `type`"));
    }
    let is_array = match obj.get("type") {
        Some(Value::String(t)) => t == "array",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "array"),
        _ => false,
    };
    if is_array && obj.get("items").is_none() {
        problems.push(format!("{path}: array without `items`"));
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            portability_problems(&format!("{path}/{name}"), sub, problems);
        }
    }
    if let Some(items) = obj.get("items")
        && items.as_object().is_some_and(|o| !o.is_empty())
    {
        portability_problems(&format!("{path}/items"), items, problems);
    }
    if let Some(Value::Object(_)) = obj.get("additionalProperties") {
        portability_problems(
            &format!("{path}/additionalProperties"),
            &obj["additionalProperties"],
            problems,
        );
    }
}

#[test]
fn the_tool_table_holds_its_invariants() {
    let mut names = BTreeSet::new();
    let mut problems = Vec::new();
    for t in TOOLS {
        let def = t.to_mcp();
        if !names.insert(t.name.to_lowercase()) {
            problems.push(format!("{}: duplicate name", t.name));
        }
        if t.name.len() > 48
            || !t
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            problems.push(format!(
                "{}: name not snake_case within 48 characters",
                t.name
            ));
        }
        if t.description.trim().len() < 20 {
            problems.push(format!("{}: description too short", t.name));
        }
        if t.description.len() > 400 {
            problems.push(format!("{}: description over 400 characters", t.name));
        }
        let ann = def.annotations.as_ref().expect("annotations");
        if def.title.is_none() || ann.read_only_hint.is_none() || ann.open_world_hint != Some(true)
        {
            problems.push(format!("{}: annotations not set explicitly", t.name));
        }
        if ann.read_only_hint != Some(t.access == Access::Read) {
            problems.push(format!("{}: readOnlyHint disagrees with access", t.name));
        }
        if t.access == Access::Read && !(t.method == "GET" || t.method == "HEAD") {
            problems.push(format!("{}: read tool with method {}", t.name, t.method));
        }
        let input = Value::Object((*def.input_schema).clone());
        if input.get("type") != Some(&Value::String("object".into())) {
            problems.push(format!("{}: input schema root is not type object", t.name));
        }
        portability_problems(&format!("{}:input", t.name), &input, &mut problems);
        if let Some(out) = &def.output_schema {
            let out = Value::Object((**out).clone());
            if out.get("type") != Some(&Value::String("object".into())) {
                problems.push(format!("{}: output schema root is not type object", t.name));
            }
            if out.get("required").is_some() {
                problems.push(format!("{}: output schema requires properties", t.name));
            }
            portability_problems(&format!("{}:output", t.name), &out, &mut problems);
        }
        // List tools page and expand.
        // Not collections: `list_dns_zone_dnssec_keys` answers one key-set object, and the
        // billing tools answer reports (an invoice list, usage per data center) whole.
        let collection = t.name != "list_dns_zone_dnssec_keys" && t.product != "billing";
        // S3 lists page the S3 way: a page size and a token or markers from the last page.
        let s3_paged = t.product == "objectstorage_s3"
            && t.name.starts_with("list_")
            && t.name != "list_object_storage_buckets";
        if s3_paged {
            let props = input["properties"].as_object().expect("properties");
            for arg in ["max_keys", "prefix"] {
                if !props.contains_key(arg) {
                    problems.push(format!("{}: S3 list tool without `{arg}`", t.name));
                }
            }
            if !props.contains_key("continuation_token") && !props.contains_key("key_marker") {
                problems.push(format!("{}: S3 list tool without a page token", t.name));
            }
        } else if t.name.starts_with("list_") && collection {
            let props = input["properties"].as_object().expect("properties");
            for arg in ["depth", "offset", "limit"] {
                // `depth` is the Cloud API's (GET /k8s/versions answers plain strings and
                // takes none); the other products' lists do not expand.
                let cloud_api = t.spec == "specs/cloudapi-v6.yaml";
                if arg == "depth" && (!cloud_api || t.name == "list_k8s_versions") {
                    continue;
                }
                if !props.contains_key(arg) {
                    problems.push(format!("{}: list tool without `{arg}`", t.name));
                }
            }
            if t.product == "compute" && !props.contains_key("filters") {
                problems.push(format!("{}: Compute list tool without `filters`", t.name));
            }
        }
        if !PRODUCTS.iter().any(|p| p.key == t.product) {
            problems.push(format!("{}: unknown product {}", t.name, t.product));
        }
        // The schemars schema of the generated arguments struct agrees with the served one.
        let derived = serde_json::to_value((t.args_schema)()).expect("schema");
        let derived_props: BTreeSet<String> = derived
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        let served_props: BTreeSet<String> = input["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        if derived_props != served_props {
            problems.push(format!(
                "{}: args struct fields {derived_props:?} differ from schema {served_props:?}",
                t.name
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
