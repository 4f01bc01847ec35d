//! Differences between two versions of a spec, for the operations a manifest selects: what an
//! upgrade would change for the tools, each change marked breaking or not.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::spec::{Spec, SpecOperation};

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub operation_id: String,
    pub breaking: bool,
    pub what: String,
}

/// Compares `old` and `new` for `selected` operationIds. Operations in neither are ignored.
pub fn diff(old: &Spec, new: &Spec, selected: &[&str]) -> Vec<Change> {
    let old_ops: BTreeMap<String, SpecOperation> = old
        .operations()
        .into_iter()
        .map(|o| (o.operation_id.clone(), o))
        .collect();
    let new_ops: BTreeMap<String, SpecOperation> = new
        .operations()
        .into_iter()
        .map(|o| (o.operation_id.clone(), o))
        .collect();
    let mut out = Vec::new();
    let mut ids: Vec<&str> = selected.to_vec();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        let mut push = |breaking: bool, what: String| {
            out.push(Change {
                operation_id: id.to_string(),
                breaking,
                what,
            })
        };
        match (old_ops.get(id), new_ops.get(id)) {
            (None, None) => {}
            (None, Some(n)) => push(
                false,
                format!("added: {} {} (not in {})", n.method, n.path, old.file),
            ),
            (Some(o), None) => push(
                true,
                format!("removed: {} {} is not in {}", o.method, o.path, new.file),
            ),
            (Some(o), Some(n)) => {
                if o.method != n.method || o.path != n.path {
                    push(
                        true,
                        format!("moved: {} {} -> {} {}", o.method, o.path, n.method, n.path),
                    );
                }
                compare_params(o, n, &mut push);
                let before = response_fields(o);
                let after = response_fields(n);
                for gone in before.difference(&after) {
                    push(true, format!("response property removed: {gone}"));
                }
                for added in after.difference(&before) {
                    push(false, format!("response property added: {added}"));
                }
            }
        }
    }
    out
}

fn compare_params(o: &SpecOperation, n: &SpecOperation, push: &mut impl FnMut(bool, String)) {
    let key = |p: &crate::spec::SpecParam| (p.location.as_str(), p.name.clone());
    let old: BTreeMap<_, _> = o.params.iter().map(|p| (key(p), p)).collect();
    let new: BTreeMap<_, _> = n.params.iter().map(|p| (key(p), p)).collect();
    for ((loc, name), p) in &old {
        match new.get(&(*loc, name.clone())) {
            None => push(true, format!("{loc} parameter `{name}` removed or renamed")),
            Some(q) => {
                if !p.required && q.required {
                    push(true, format!("{loc} parameter `{name}` became required"));
                }
                for k in ["type", "format"] {
                    if p.schema.get(k) != q.schema.get(k) {
                        push(
                            true,
                            format!(
                                "{loc} parameter `{name}` {k}: {} -> {}",
                                show(p.schema.get(k)),
                                show(q.schema.get(k))
                            ),
                        );
                    }
                }
            }
        }
    }
    for ((loc, name), q) in &new {
        if !old.contains_key(&(*loc, name.clone())) {
            push(
                q.required,
                format!(
                    "new {} {loc} parameter `{name}`",
                    if q.required { "required" } else { "optional" }
                ),
            );
        }
    }
}

fn show(v: Option<&Value>) -> String {
    v.map_or("none".into(), Value::to_string)
}

/// Response property paths two levels deep: `items[].id`, `properties.name`, ...
fn response_fields(op: &SpecOperation) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some((_, schema)) = &op.response {
        collect(schema, "", 0, &mut out);
    }
    out
}

fn collect(schema: &Value, prefix: &str, depth: usize, out: &mut BTreeSet<String>) {
    if depth > 2 {
        return;
    }
    if let Some(items) = schema.get("items") {
        collect(items, &format!("{prefix}[]"), depth, out);
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            out.insert(path.clone());
            collect(sub, &path, depth + 1, out);
        }
    }
}
