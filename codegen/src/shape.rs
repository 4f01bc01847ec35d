//! The manifest's `shape` section: which of a product's compaction rules apply to a tool (those
//! naming what its response schema has), the checks that make a wrong rule fail the build, and
//! the response schema the rules leave, from which the output schema is made.
//!
//! The runtime that applies the rules to answers is `src/tools/compact.rs`; both sides read the
//! same rules, so an answer and its declared schema agree.

use std::collections::BTreeSet;

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use crate::diagnostics::{Diagnostics, closest};
use crate::manifest::{Common, Shape, Unwrap};

/// The top-level member of a compact answer that holds the values its lists' items share
/// (`src/tools/compact.rs` writes it).
pub const COMMON: &str = "common";

/// A response schema of one tool of the product, for checking the product's rules.
pub struct Response<'a> {
    /// Manifest key of the tool, for messages.
    pub key: String,
    /// The tool's operation, for messages.
    pub operation: String,
    /// The answer's schema as the dispatcher sees it (non-objects wrapped).
    pub schema: &'a Value,
}

/// The rules of `shape` that apply to an answer of this schema; `None` when none does.
pub fn effective(shape: &Shape, schema: &Value) -> Option<Shape> {
    let unwrap = shape
        .unwrap
        .as_ref()
        .filter(|u| list_items(schema, &u.list).is_some())
        .cloned();
    // The drop rules are matched against the schema as unwrapping leaves it.
    let unwrapped = match &unwrap {
        Some(u) => unwrap_schema(u, schema),
        None => schema.clone(),
    };
    let names = property_names(&unwrapped);
    let drop: Vec<String> = shape
        .drop
        .iter()
        .filter(|d| drop_applies(d, &names))
        .cloned()
        .collect();
    let collections = shape.collections && has_collections(&unwrapped);
    // The shared values are taken from the fields the schema's list items declare.
    let common: Vec<Common> = shape
        .common
        .iter()
        .filter_map(|c| {
            let items = list_items(&unwrapped, &c.list)?;
            let fields: Vec<String> = c
                .fields
                .iter()
                .filter(|f| item_field(items, f).is_some())
                .cloned()
                .collect();
            (!fields.is_empty()).then(|| Common {
                list: c.list.clone(),
                fields,
            })
        })
        .collect();
    let rows: Vec<String> = shape
        .rows
        .iter()
        .filter(|list| list_items(&unwrapped, list).is_some())
        .cloned()
        .collect();
    if drop.is_empty() && !collections && unwrap.is_none() && common.is_empty() && rows.is_empty() {
        return None;
    }
    Some(Shape {
        drop,
        collections,
        unwrap,
        common,
        rows,
    })
}

/// The response schema as the rules leave the answer: unwrapped, dropped properties gone,
/// list wrappers without their own `id` and `type`, `common` holding, per list, the fields its
/// items may share (they stay declared in the items, which keep other values), and lists
/// written as tables.
pub fn schema(shape: &Shape, schema: &Value) -> Value {
    let mut out = match &shape.unwrap {
        Some(u) => unwrap_schema(u, schema),
        None => schema.clone(),
    };
    let rules = DropRules::new(&shape.drop);
    strip_schema(&mut out, None, &rules, shape.collections);
    let mut shared = Map::new();
    for c in &shape.common {
        let Some(items) = list_items(&out, &c.list) else {
            continue;
        };
        let fields: Map<String, Value> = c
            .fields
            .iter()
            .filter_map(|f| Some((f.clone(), item_field(items, f)?.clone())))
            .collect();
        if !fields.is_empty() {
            shared.insert(
                list_name(&c.list),
                json!({"type": "object", "properties": fields}),
            );
        }
    }
    if !shared.is_empty()
        && let Some(Value::Object(props)) = out.get_mut("properties")
    {
        props.insert(
            COMMON.into(),
            json!({"type": "object", "properties": shared}),
        );
    }
    for list in &shape.rows {
        if let Some(slot) = resolve_mut(&mut out, list).filter(|s| is_array(s)) {
            *slot = table_schema();
        }
    }
    out
}

/// The schema of a list written as a table (`src/tools/compact.rs` writes it): the names of
/// the fields its items have, and one row of values per item in that order.
fn table_schema() -> Value {
    json!({"type": "object", "properties": {
        "columns": {"type": "array", "items": {"type": "string"}},
        "rows": {"type": "array", "items": {"type": "array"}}
    }})
}

/// The sub-schema a JSON pointer of properties names, to change it.
fn resolve_mut<'a>(schema: &'a mut Value, pointer: &str) -> Option<&'a mut Value> {
    let mut cur = schema;
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        cur = cur.get_mut("properties")?.get_mut(&seg)?;
    }
    Some(cur)
}

/// The schema of the member `field` of a list's items.
fn item_field<'a>(items: &'a Value, field: &str) -> Option<&'a Value> {
    items.get("properties")?.get(field)
}

/// The member name a list pointer ends in (`/hits/hits` -> `hits`).
fn list_name(pointer: &str) -> String {
    let last = pointer.rsplit('/').next().unwrap_or_default();
    last.replace("~1", "/").replace("~0", "~")
}

/// Checks a product's `shape` against the response schemas of its tools: every rule must apply
/// to at least one tool, and every pointer must name a field of the answers it applies to.
pub fn validate(pkey: &str, shape: &Shape, responses: &[Response], diags: &mut Diagnostics) {
    let key = format!("products.{pkey}.shape");
    let mut all_names = BTreeSet::new();
    let mut any_collections = false;
    for r in responses {
        let unwrapped = unwrapped(shape, r.schema);
        all_names.extend(property_names(&unwrapped));
        any_collections |= has_collections(&unwrapped);
    }
    for d in &shape.drop {
        if d.is_empty() || d.split('.').count() > 2 || d.split('.').any(str::is_empty) {
            diags.push(
                format!("{key}.drop"),
                None,
                format!("`{d}` is not a property name"),
                Some("write a name (`href`) or `parent.name` (`metadata.etag`)".into()),
            );
            continue;
        }
        if !drop_applies(d, &all_names) {
            let spelled: BTreeSet<String> = all_names
                .iter()
                .map(|(parent, name)| match (d.contains('.'), parent) {
                    (true, Some(p)) => format!("{p}.{name}"),
                    _ => name.clone(),
                })
                .collect();
            let near = closest(d, spelled.iter().map(String::as_str));
            diags.push(
                format!("{key}.drop"),
                None,
                format!("no answer of the product's tools has a property `{d}`"),
                Some(if near.is_empty() {
                    "names are case-sensitive and must appear in a response schema of the spec"
                        .into()
                } else {
                    format!("did you mean `{}`?", near[0])
                }),
            );
        }
    }
    if shape.collections && !any_collections {
        diags.push(
            format!("{key}.collections"),
            None,
            "no answer of the product's tools holds a list wrapper (an object with `type` and `items`)",
            Some("remove `collections: true` from this product".into()),
        );
    }
    if let Some(u) = &shape.unwrap {
        validate_unwrap(&key, u, responses, diags);
    }
    if !shape.common.is_empty() {
        validate_common(&key, shape, responses, diags);
    }
    if !shape.rows.is_empty() {
        validate_rows(&key, shape, responses, diags);
    }
}

/// Every `rows` list must be a list of objects in some answer as unwrapping leaves it.
fn validate_rows(key: &str, shape: &Shape, responses: &[Response], diags: &mut Diagnostics) {
    let answers: Vec<Value> = responses
        .iter()
        .map(|r| unwrapped(shape, r.schema))
        .collect();
    for (i, list) in shape.rows.iter().enumerate() {
        let key = format!("{key}.rows[{i}]");
        if !list.starts_with('/') {
            diags.push(
                key,
                None,
                format!("`{list}` is not a JSON pointer"),
                Some("pointers start with `/`, e.g. /Contents".into()),
            );
            continue;
        }
        let items: Vec<&Value> = answers.iter().filter_map(|a| list_items(a, list)).collect();
        if items.is_empty() {
            let hint = no_list_hint(answers.iter(), list);
            diags.push(
                key,
                None,
                format!("no answer of the product's tools has a list at `{list}`"),
                Some(hint),
            );
        } else if items.iter().any(|i| i.get("properties").is_none()) {
            diags.push(
                key,
                None,
                format!("the items of `{list}` are not objects with properties"),
                Some("only lists of objects can be written as rows".into()),
            );
        }
    }
}

/// Every `common` list must be a list of some answer as unwrapping leaves it, every field a
/// member of its items there, and no such answer may have a `common` of its own.
fn validate_common(key: &str, shape: &Shape, responses: &[Response], diags: &mut Diagnostics) {
    let key = format!("{key}.common");
    let answers: Vec<(&Response, Value)> = responses
        .iter()
        .map(|r| (r, unwrapped(shape, r.schema)))
        .collect();
    for (i, c) in shape.common.iter().enumerate() {
        let key = format!("{key}[{i}]");
        if !c.list.starts_with('/') {
            diags.push(
                format!("{key}.list"),
                None,
                format!("`{}` is not a JSON pointer", c.list),
                Some("pointers start with `/`, e.g. /Contents".into()),
            );
            continue;
        }
        if c.fields.is_empty() {
            diags.push(
                format!("{key}.fields"),
                None,
                "no fields are named",
                Some("e.g. {list: /Contents, fields: [StorageClass]}".into()),
            );
            continue;
        }
        let lists: Vec<(&Response, &Value, &Value)> = answers
            .iter()
            .filter_map(|(r, a)| Some((*r, a, list_items(a, &c.list)?)))
            .collect();
        if lists.is_empty() {
            let hint = no_list_hint(answers.iter().map(|(_, a)| a), &c.list);
            diags.push(
                format!("{key}.list"),
                None,
                format!(
                    "no answer of the product's tools has a list at `{}`",
                    c.list
                ),
                Some(hint),
            );
            continue;
        }
        for (r, answer, _) in &lists {
            if answer.pointer(&format!("/properties/{COMMON}")).is_some() {
                diags.push(
                    format!("{key}.list"),
                    None,
                    format!(
                        "the answer of `{}` ({}) has a member `{COMMON}` already",
                        r.operation, r.key
                    ),
                    Some("shared values could not be told from the API's own member".into()),
                );
            }
        }
        for f in &c.fields {
            if !lists
                .iter()
                .any(|(_, _, items)| item_field(items, f).is_some())
            {
                let offered: BTreeSet<&str> = lists
                    .iter()
                    .filter_map(|(_, _, items)| items.get("properties")?.as_object())
                    .flat_map(|p| p.keys().map(String::as_str))
                    .collect();
                let near = closest(f, offered.iter().copied());
                diags.push(
                    format!("{key}.fields"),
                    None,
                    format!("the items of `{}` have no member `{f}`", c.list),
                    Some(match near.first() {
                        Some(n) => format!("did you mean `{n}`?"),
                        None => format!(
                            "they have: {}",
                            offered.into_iter().collect::<Vec<_>>().join(", ")
                        ),
                    }),
                );
            }
        }
    }
}

fn validate_unwrap(key: &str, u: &Unwrap, responses: &[Response], diags: &mut Diagnostics) {
    let key = format!("{key}.unwrap");
    for (what, pointer) in std::iter::once(("list", &u.list))
        .chain(u.fields.values().map(|p| ("fields", p)))
        .chain(u.keep.values().map(|p| ("keep", p)))
    {
        if !pointer.starts_with('/') {
            diags.push(
                format!("{key}.{what}"),
                None,
                format!("`{pointer}` is not a JSON pointer"),
                Some("pointers start with `/`, e.g. /hits/hits".into()),
            );
            return;
        }
    }
    if u.to.is_empty() || u.fields.is_empty() {
        diags.push(
            key.clone(),
            None,
            "unwrap needs `to` (a member name) and at least one of `fields`",
            Some("e.g. {list: /hits/hits, to: events, fields: {time: /_source/meta/time}}".into()),
        );
        return;
    }
    let applies: Vec<&Response> = responses
        .iter()
        .filter(|r| list_items(r.schema, &u.list).is_some())
        .collect();
    if applies.is_empty() {
        let hint = no_list_hint(responses.iter().map(|r| r.schema), &u.list);
        diags.push(
            format!("{key}.list"),
            None,
            format!(
                "no answer of the product's tools has a list at `{}`",
                u.list
            ),
            Some(hint),
        );
        return;
    }
    for r in applies {
        let Some(items) = list_items(r.schema, &u.list) else {
            continue;
        };
        for (name, pointer) in &u.fields {
            if let Err(miss) = resolve(items, pointer) {
                diags.push(
                    format!("{key}.fields.{name}"),
                    None,
                    format!(
                        "`{pointer}` names nothing in an element of `{}` answered by `{}` ({})",
                        u.list, r.operation, r.key
                    ),
                    Some(miss.hint()),
                );
            }
        }
        for (name, pointer) in &u.keep {
            if let Err(miss) = resolve(r.schema, pointer) {
                diags.push(
                    format!("{key}.keep.{name}"),
                    None,
                    format!(
                        "`{pointer}` names nothing in the answer of `{}` ({})",
                        r.operation, r.key
                    ),
                    Some(miss.hint()),
                );
            }
        }
    }
}

/// The answer's schema as the product's `unwrap` leaves it (unchanged where it does not apply).
fn unwrapped(shape: &Shape, schema: &Value) -> Value {
    match &shape.unwrap {
        Some(u) if list_items(schema, &u.list).is_some() => unwrap_schema(u, schema),
        _ => schema.clone(),
    }
}

/// Why no answer has a list at `pointer`: the hint of the answer the pointer got furthest into.
fn no_list_hint<'a>(answers: impl Iterator<Item = &'a Value>, pointer: &str) -> String {
    answers
        .filter_map(|a| resolve(a, pointer).err())
        .max_by_key(|miss| miss.matched)
        .map(|miss| miss.hint())
        .unwrap_or_else(|| "no tool of the product answers a list there".into())
}

/// A pointer segment the schema does not have, with the names it offers there.
struct Miss {
    segment: String,
    available: Vec<String>,
    /// Segments of the pointer that were found.
    matched: usize,
}

impl Miss {
    fn hint(&self) -> String {
        let near = closest(&self.segment, self.available.iter().map(String::as_str));
        match near.first() {
            Some(n) => format!("did you mean `{n}` instead of `{}`?", self.segment),
            None if self.available.is_empty() => {
                format!("nothing is declared below `{}`", self.segment)
            }
            None => format!(
                "`{}` is not one of: {}",
                self.segment,
                self.available.join(", ")
            ),
        }
    }
}

/// The sub-schema a JSON pointer into an answer names; array indices and `*` step into items.
fn resolve<'a>(schema: &'a Value, pointer: &str) -> Result<&'a Value, Miss> {
    let mut cur = schema;
    for (matched, seg) in pointer.split('/').skip(1).enumerate() {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if let Some(items) = cur.get("items").filter(|_| is_array(cur)) {
            if seg == "*" || seg.parse::<usize>().is_ok() {
                cur = items;
                continue;
            }
            return Err(Miss {
                segment: seg,
                available: vec!["an index or *".into()],
                matched,
            });
        }
        let props = cur.get("properties").and_then(Value::as_object);
        match props.and_then(|p| p.get(&seg)) {
            Some(next) => cur = next,
            None => {
                return Err(Miss {
                    segment: seg,
                    available: props
                        .map(|p| p.keys().cloned().collect())
                        .unwrap_or_default(),
                    matched,
                });
            }
        }
    }
    Ok(cur)
}

/// The item schema of the list at `pointer`, when the schema has a list there.
fn list_items<'a>(schema: &'a Value, pointer: &str) -> Option<&'a Value> {
    let list = resolve(schema, pointer).ok()?;
    is_array(list).then(|| list.get("items")).flatten()
}

fn is_array(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("array")
}

/// The schema of the answer once the list at `u.list` is re-made as `u.to`.
fn unwrap_schema(u: &Unwrap, schema: &Value) -> Value {
    let Some(items) = list_items(schema, &u.list) else {
        return schema.clone();
    };
    let mut fields = Map::new();
    for (name, pointer) in &u.fields {
        if let Ok(s) = resolve(items, pointer) {
            fields.insert(name.clone(), s.clone());
        }
    }
    let root = u.list.split('/').nth(1).unwrap_or_default();
    let mut props: Map<String, Value> = schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let kept: IndexMap<&String, Value> = u
        .keep
        .iter()
        .filter_map(|(name, p)| Some((name, resolve(schema, p).ok()?.clone())))
        .collect();
    props.remove(root);
    props.insert(
        u.to.clone(),
        json!({"type": "array", "items": {"type": "object", "properties": fields}}),
    );
    for (name, s) in kept {
        props.insert(name.clone(), s);
    }
    json!({"type": "object", "properties": props})
}

/// Every (holder, property) pair of a schema: the member name that holds the object (directly
/// or through an array), `None` at the top.
fn property_names(schema: &Value) -> BTreeSet<(Option<String>, String)> {
    let mut out = BTreeSet::new();
    collect_names(schema, None, &mut out, 0);
    out
}

fn collect_names(
    schema: &Value,
    holder: Option<&str>,
    out: &mut BTreeSet<(Option<String>, String)>,
    depth: usize,
) {
    // Specs cut reference cycles, but deep trees (depth-expanded entities) are large.
    if depth > 24 {
        return;
    }
    if let Some(items) = schema.get("items") {
        collect_names(items, holder, out, depth + 1);
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            out.insert((holder.map(str::to_string), name.clone()));
            collect_names(sub, Some(name), out, depth + 1);
        }
    }
}

fn drop_applies(rule: &str, names: &BTreeSet<(Option<String>, String)>) -> bool {
    match rule.split_once('.') {
        Some((parent, name)) => names
            .iter()
            .any(|(p, n)| n == name && p.as_deref() == Some(parent)),
        None => names.iter().any(|(_, n)| n == rule),
    }
}

/// Whether the schema has a list wrapper somewhere: an object with `type` and `items`.
fn has_collections(schema: &Value) -> bool {
    fn walk(s: &Value, depth: usize) -> bool {
        if depth > 24 {
            return false;
        }
        if is_collection_schema(s) {
            return true;
        }
        s.get("items").is_some_and(|i| walk(i, depth + 1))
            || s.get("properties")
                .and_then(Value::as_object)
                .is_some_and(|p| p.values().any(|v| walk(v, depth + 1)))
    }
    walk(schema, 0)
}

fn is_collection_schema(s: &Value) -> bool {
    s.get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| p.contains_key("type") && p.contains_key("items"))
}

/// The drop rules, split into plain names and `parent.name` pairs.
struct DropRules<'a> {
    anywhere: Vec<&'a str>,
    within: Vec<(&'a str, &'a str)>,
}

impl<'a> DropRules<'a> {
    fn new(rules: &'a [String]) -> Self {
        let mut anywhere = Vec::new();
        let mut within = Vec::new();
        for r in rules {
            match r.split_once('.') {
                Some(pair) => within.push(pair),
                None => anywhere.push(r.as_str()),
            }
        }
        DropRules { anywhere, within }
    }

    fn drops(&self, holder: Option<&str>, name: &str) -> bool {
        self.anywhere.contains(&name) || holder.is_some_and(|h| self.within.contains(&(h, name)))
    }
}

fn strip_schema(schema: &mut Value, holder: Option<&str>, rules: &DropRules, collections: bool) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if let Some(items) = obj.get_mut("items") {
        strip_schema(items, holder, rules, collections);
    }
    let collection = collections
        && obj
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| p.contains_key("type") && p.contains_key("items"));
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        props.retain(|name, _| {
            !rules.drops(holder, name) && !(collection && (name == "id" || name == "type"))
        });
        for (name, sub) in props.iter_mut() {
            strip_schema(sub, Some(name), rules, collections);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(drop: &[&str], collections: bool) -> Shape {
        Shape {
            drop: drop.iter().map(|s| s.to_string()).collect(),
            collections,
            ..Shape::default()
        }
    }

    #[test]
    fn rules_apply_where_the_schema_has_their_fields() {
        let s = json!({"type": "object", "properties": {
            "id": {"type": "string"}, "type": {"type": "string"}, "href": {"type": "string"},
            "items": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"},
                "metadata": {"type": "object", "properties": {"etag": {"type": "string"}, "state": {"type": "string"}}}
            }}}
        }});
        let e = effective(&shape(&["href", "metadata.etag", "_links"], true), &s).expect("applies");
        assert_eq!(e.drop, vec!["href", "metadata.etag"]);
        assert!(e.collections);
        let out = schema(&e, &s);
        assert_eq!(
            out,
            json!({"type": "object", "properties": {
                "items": {"type": "array", "items": {"type": "object", "properties": {
                    "id": {"type": "string"},
                    "metadata": {"type": "object", "properties": {"state": {"type": "string"}}}
                }}}
            }})
        );
        assert!(effective(&shape(&["_links"], false), &s).is_none());
    }

    #[test]
    fn an_unwrapped_list_has_the_schema_of_its_fields() {
        let s = json!({"type": "object", "properties": {"hits": {"type": "object", "properties": {
            "total": {"type": "integer"},
            "hits": {"type": "array", "items": {"type": "object", "properties": {"_source": {"type": "object", "properties": {
                "meta": {"type": "object", "properties": {"time": {"type": "string"}}}
            }}}}}
        }}}});
        let u = Unwrap {
            list: "/hits/hits".into(),
            to: "events".into(),
            fields: IndexMap::from([("time".to_string(), "/_source/meta/time".to_string())]),
            keep: IndexMap::from([("total".to_string(), "/hits/total".to_string())]),
        };
        let sh = Shape {
            unwrap: Some(u),
            ..Shape::default()
        };
        let e = effective(&sh, &s).expect("applies");
        assert_eq!(
            schema(&e, &s),
            json!({"type": "object", "properties": {
                "events": {"type": "array", "items": {"type": "object", "properties": {"time": {"type": "string"}}}},
                "total": {"type": "integer"}
            }})
        );
    }

    #[test]
    fn shared_values_are_declared_under_common_and_stay_declared_in_the_items() {
        let s = json!({"type": "object", "properties": {
            "Name": {"type": "string"},
            "Contents": {"type": "array", "items": {"type": "object", "properties": {
                "Key": {"type": "string"},
                "ETag": {"type": "string"},
                "StorageClass": {"type": "string"}
            }}}
        }});
        let sh = Shape {
            drop: vec!["Contents.ETag".into()],
            common: vec![Common {
                list: "/Contents".into(),
                fields: vec!["StorageClass".into(), "ETag".into(), "Owner".into()],
            }],
            ..Shape::default()
        };
        let e = effective(&sh, &s).expect("applies");
        // Only the fields the items declare; a dropped one is not shared either.
        assert_eq!(e.common[0].fields, vec!["StorageClass", "ETag"]);
        assert_eq!(
            schema(&e, &s),
            json!({"type": "object", "properties": {
                "Name": {"type": "string"},
                "Contents": {"type": "array", "items": {"type": "object", "properties": {
                    "Key": {"type": "string"},
                    "StorageClass": {"type": "string"}
                }}},
                "common": {"type": "object", "properties": {
                    "Contents": {"type": "object", "properties": {"StorageClass": {"type": "string"}}}
                }}
            }})
        );
        let other = Shape {
            common: vec![Common {
                list: "/Versions".into(),
                fields: vec!["StorageClass".into()],
            }],
            ..Shape::default()
        };
        assert!(effective(&other, &s).is_none());
    }

    #[test]
    fn common_rules_that_name_nothing_fail() {
        let s = json!({"type": "object", "properties": {
            "Contents": {"type": "array", "items": {"type": "object", "properties": {
                "StorageClass": {"type": "string"}
            }}}
        }});
        let responses = [Response {
            key: "products.s3.tools[0]".into(),
            operation: "listObjectsV2".into(),
            schema: &s,
        }];
        let sh = Shape {
            common: vec![
                Common {
                    list: "/Content".into(),
                    fields: vec!["StorageClass".into()],
                },
                Common {
                    list: "/Contents".into(),
                    fields: vec!["StorageClas".into()],
                },
            ],
            ..Shape::default()
        };
        let mut diags = Diagnostics::default();
        validate("s3", &sh, &responses, &mut diags);
        let text = diags.to_string();
        assert!(
            text.contains("no answer of the product's tools has a list at `/Content`"),
            "{text}"
        );
        assert!(text.contains("did you mean `Contents`"), "{text}");
        assert!(text.contains("no member `StorageClas`"), "{text}");
        assert!(text.contains("did you mean `StorageClass`"), "{text}");
    }

    #[test]
    fn lists_written_as_rows_are_declared_as_tables_and_must_exist() {
        let s = json!({"type": "object", "properties": {
            "Name": {"type": "string"},
            "Contents": {"type": "array", "items": {"type": "object", "properties": {
                "Key": {"type": "string"}
            }}},
            "Prefixes": {"type": "array", "items": {"type": "string"}}
        }});
        let sh = Shape {
            rows: vec!["/Contents".into(), "/Versions".into()],
            ..Shape::default()
        };
        let e = effective(&sh, &s).expect("applies");
        assert_eq!(e.rows, vec!["/Contents"]);
        assert_eq!(
            schema(&e, &s)["properties"]["Contents"],
            json!({"type": "object", "properties": {
                "columns": {"type": "array", "items": {"type": "string"}},
                "rows": {"type": "array", "items": {"type": "array"}}
            }})
        );
        let responses = [Response {
            key: "products.s3.tools[0]".into(),
            operation: "listObjectsV2".into(),
            schema: &s,
        }];
        let wrong = Shape {
            rows: vec!["/Content".into(), "Contents".into(), "/Prefixes".into()],
            ..Shape::default()
        };
        let mut diags = Diagnostics::default();
        validate("s3", &wrong, &responses, &mut diags);
        let text = diags.to_string();
        assert!(text.contains("did you mean `Contents`"), "{text}");
        assert!(text.contains("`Contents` is not a JSON pointer"), "{text}");
        assert!(
            text.contains("the items of `/Prefixes` are not objects"),
            "{text}"
        );
    }
}
