//! Fidelity of a spec to the published API facts (`facts/<product>.json`: operations with
//! method, path and parameters as read from IONOS's public SDKs).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::spec::Spec;

/// `ZonesGet` -> `zonesGet`, the operationId convention of our specs.
pub fn operation_id(facts_name: &str) -> String {
    let mut c = facts_name.chars();
    c.next()
        .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// Every mismatch between `spec` and `facts` for the given operationIds: method, path,
/// parameter names, locations, required flags, types and formats. Empty means faithful.
pub fn compare(spec: &Spec, facts: &Value, operation_ids: &[&str]) -> Vec<String> {
    let by_id: BTreeMap<String, &Value> = facts["operations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| (operation_id(o["operation"].as_str().unwrap_or_default()), o))
        .collect();
    let ops = spec.operations();
    let mut problems = Vec::new();
    for id in operation_ids {
        let Some(fact) = by_id.get(*id) else {
            problems.push(format!("{id}: not an operation of the facts"));
            continue;
        };
        let Some(op) = ops.iter().find(|o| o.operation_id == *id) else {
            problems.push(format!("{id}: missing from {}", spec.file));
            continue;
        };
        let method = fact["method"].as_str().unwrap_or_default();
        let path = fact["path"].as_str().unwrap_or_default();
        if op.method != method {
            problems.push(format!(
                "{id}: method {} but the API uses {method}",
                op.method
            ));
        }
        // S3-style facts carry sub-resource flags in the path (`/{Bucket}?versioning`).
        let fact_path = path.split('?').next().unwrap_or(path);
        if op.path != fact_path && op.path != path {
            problems.push(format!("{id}: path {} but the API uses {path}", op.path));
        }
        let fact_params: BTreeMap<(&str, &str), &Value> = fact["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    (
                        p["in"].as_str().unwrap_or_default(),
                        p["name"].as_str().unwrap_or_default(),
                    ),
                    p,
                )
            })
            .collect();
        for p in &op.params {
            let key = (p.location.as_str(), p.name.as_str());
            let Some(fp) = fact_params.get(&key) else {
                problems.push(format!(
                    "{id}: {} parameter `{}` is not in the API",
                    key.0, key.1
                ));
                continue;
            };
            let f_required = fp["required"].as_bool().unwrap_or(false) || key.0 == "path";
            if p.required != f_required {
                problems.push(format!(
                    "{id}: `{}` required={} but the API says {f_required}",
                    p.name, p.required
                ));
            }
            // A parameter typed by a model: enums are strings, anything else an object.
            let theirs_schema = match fp["schema"]["model"].as_str() {
                Some(model) => {
                    let m = &facts["models"][model];
                    if m.get("enum").is_some() {
                        serde_json::json!({"type": "string"})
                    } else {
                        serde_json::json!({"type": "object"})
                    }
                }
                None => fp["schema"].clone(),
            };
            for k in ["type", "format"] {
                let ours = p.schema.get(k);
                let theirs = theirs_schema.get(k);
                if ours != theirs {
                    problems.push(format!(
                        "{id}: `{}` {k} {} but the API says {}",
                        p.name,
                        ours.map_or("none".into(), Value::to_string),
                        theirs.map_or("none".into(), Value::to_string)
                    ));
                }
            }
        }
        for (loc, name) in fact_params.keys() {
            if !op
                .params
                .iter()
                .any(|p| p.location.as_str() == *loc && p.name == *name)
            {
                problems.push(format!(
                    "{id}: {loc} parameter `{name}` of the API is missing"
                ));
            }
        }
    }
    problems
}
