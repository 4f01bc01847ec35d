//! Compact answers: what the manifest's `shape` rules of a product leave of an answer. Links
//! (`href`, `_links`), etags, bookkeeping metadata and unexpanded list stubs are left out, an
//! answer nested in a search engine's envelope (the activity log) becomes a plain list, a
//! value most items of a list share is stated once under `common`, and a long list of like
//! items is written as a table (field names once, then a row of values per item). The rules
//! are checked against the specs at build time (`codegen/src/shape.rs`), which also declares the
//! output schema they leave.
//!
//! The dispatcher compacts after the declared behaviour ran (whose pointers name the API's own
//! fields); a call with `raw: true` gets the answer as the API gave it, redacted all the same.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::tools::table::{TOOLS, ToolSpec};

/// The compaction rules of one tool (see the manifest's `shape`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Shape {
    /// Property names left out at any depth, or `parent.name` for those inside `parent`.
    #[serde(default)]
    pub drop: Vec<String>,
    /// List wrappers lose their own `id` and `type`; those without `items` are left out.
    #[serde(default)]
    pub collections: bool,
    pub unwrap: Option<Unwrap>,
    /// Lists whose shared values are stated once.
    #[serde(default)]
    pub common: Vec<Common>,
    /// JSON pointers of lists written as a table (see `tabulate`).
    #[serde(default)]
    pub rows: Vec<String>,
}

/// The fields of a list's items whose most frequent value, held by more than half of the items,
/// moves to `common.<list's member name>.<field>`. Items with another value keep theirs; a field
/// that some item lacks stays in every item (its absence would read as the common value).
#[derive(Debug, Clone, Deserialize)]
pub struct Common {
    /// JSON pointer of the list, in the answer as unwrapping and dropping leave it.
    pub list: String,
    pub fields: Vec<String>,
}

/// The top-level member of a compact answer that holds the values its lists' items share.
pub const COMMON: &str = "common";

/// A list re-made as plain items.
#[derive(Debug, Clone, Deserialize)]
pub struct Unwrap {
    /// JSON pointer of the list.
    pub list: String,
    /// Top-level member of the plain items.
    pub to: String,
    /// Field -> JSON pointer inside an element of the list.
    pub fields: BTreeMap<String, String>,
    /// Top-level member -> JSON pointer in the answer.
    #[serde(default)]
    pub keep: BTreeMap<String, String>,
}

/// The tool's compaction rules, parsed once; `None` for tools whose answers are kept whole.
pub fn of(tool: &ToolSpec) -> Option<&'static Shape> {
    static ALL: OnceLock<HashMap<&'static str, Shape>> = OnceLock::new();
    ALL.get_or_init(|| {
        TOOLS
            .iter()
            .filter_map(|t| Some((t.name, serde_json::from_str(t.shape?).ok()?)))
            .collect()
    })
    .get(tool.name)
}

/// Compacts an answer in place.
pub fn apply(shape: &Shape, answer: &mut Value) {
    if let Some(u) = &shape.unwrap {
        unwrap(u, answer);
    }
    let rules = DropRules::new(&shape.drop);
    strip(answer, None, &rules, shape.collections);
    for c in &shape.common {
        hoist(c, answer);
    }
    for list in &shape.rows {
        tabulate(list, answer);
    }
}

/// The members of a list written as a table: `{"columns": [...], "rows": [[...], ...]}`.
pub const COLUMNS: &str = "columns";
pub const ROWS: &str = "rows";

/// Writes the list at `list` as a table: `columns` are the member names its items have (in
/// name order), and each row holds one item's values in that order, `null` where the item has
/// no such member. Nothing is lost: the items are the rows zipped with the columns (the
/// integration tests' `items_of` does that). A list holding anything but objects is left as
/// it is.
fn tabulate(list: &str, answer: &mut Value) {
    let Some(slot) = answer.pointer_mut(list) else {
        return;
    };
    let Value::Array(items) = slot else {
        return;
    };
    if !items.iter().all(Value::is_object) {
        return;
    }
    let columns: std::collections::BTreeSet<String> = items
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|item| item.keys().cloned())
        .collect();
    let rows: Vec<Value> = items
        .iter_mut()
        .filter_map(Value::as_object_mut)
        .map(|item| {
            Value::Array(
                columns
                    .iter()
                    .map(|c| item.remove(c).unwrap_or(Value::Null))
                    .collect(),
            )
        })
        .collect();
    *slot = Value::Object(Map::from_iter([
        (
            COLUMNS.to_string(),
            Value::Array(columns.into_iter().map(Value::String).collect()),
        ),
        (ROWS.to_string(), Value::Array(rows)),
    ]));
}

/// Moves the values most items of the list share to `common.<list name>`.
fn hoist(c: &Common, answer: &mut Value) {
    let Some(Value::Array(items)) = answer.pointer(&c.list) else {
        return;
    };
    let shared: Map<String, Value> = c
        .fields
        .iter()
        .filter_map(|f| Some((f.clone(), most_shared(items, f)?)))
        .collect();
    let free = match answer.get(COMMON) {
        None => true,
        Some(Value::Object(held)) => !held.contains_key(list_name(&c.list).as_str()),
        Some(_) => false,
    };
    if shared.is_empty() || !free {
        return;
    }
    if let Some(Value::Array(items)) = answer.pointer_mut(&c.list) {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            item.retain(|name, v| shared.get(name) != Some(v));
        }
    }
    if let Value::Object(obj) = answer
        && let Value::Object(held) = obj
            .entry(COMMON)
            .or_insert_with(|| Value::Object(Map::new()))
    {
        held.insert(list_name(&c.list), Value::Object(shared));
    }
}

/// The value of `field` that more than half of the items (at least two) hold, when every item
/// has the field.
fn most_shared(items: &[Value], field: &str) -> Option<Value> {
    let mut counts: Vec<(&Value, usize)> = Vec::new();
    for item in items {
        let v = item.get(field)?;
        match counts.iter_mut().find(|(seen, _)| *seen == v) {
            Some((_, n)) => *n += 1,
            None => counts.push((v, 1)),
        }
    }
    let (v, n) = counts.into_iter().max_by_key(|&(_, n)| n)?;
    (n >= 2 && n * 2 > items.len()).then(|| v.clone())
}

/// The member name a list pointer ends in (`/hits/hits` -> `hits`).
fn list_name(pointer: &str) -> String {
    let last = pointer.rsplit('/').next().unwrap_or_default();
    last.replace("~1", "/").replace("~0", "~")
}

fn unwrap(u: &Unwrap, answer: &mut Value) {
    let Some(Value::Array(list)) = answer.pointer(&u.list) else {
        return;
    };
    let items: Vec<Value> = list
        .iter()
        .map(|element| {
            let picked: Map<String, Value> = u
                .fields
                .iter()
                .filter_map(|(name, p)| Some((name.clone(), element.pointer(p)?.clone())))
                .collect();
            Value::Object(picked)
        })
        .collect();
    let kept: Vec<(String, Value)> = u
        .keep
        .iter()
        .filter_map(|(name, p)| Some((name.clone(), answer.pointer(p)?.clone())))
        .collect();
    let root = u.list.split('/').nth(1).unwrap_or_default();
    if let Value::Object(obj) = answer {
        obj.shift_remove(root);
        obj.insert(u.to.clone(), Value::Array(items));
        obj.extend(kept);
    }
}

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

/// What becomes of a value: kept, or left out by its holder.
#[derive(PartialEq)]
enum Fate {
    Keep,
    Leave,
}

/// Drops the named members below `value`; `holder` is the member name that holds it (for an
/// array element, the array's).
fn strip(value: &mut Value, holder: Option<&str>, rules: &DropRules, collections: bool) -> Fate {
    match value {
        Value::Object(obj) => {
            // An unexpanded list link says only that a sub-list exists; an expanded list loses
            // its own `id` and `type`.
            let list = collections
                && !rules.drops(holder, "type")
                && obj.get("type").and_then(Value::as_str) == Some("collection");
            if list && (rules.drops(holder, "items") || !obj.contains_key("items")) {
                return Fate::Leave;
            }
            // One pass: members the rules drop, the list's own id and type, and members left
            // out by their own rules go; so does an object that only held what was left out
            // (`entities` of list stubs).
            obj.retain(|name, v| {
                if rules.drops(holder, name) || (list && (name == "id" || name == "type")) {
                    return false;
                }
                let had_members = v.as_object().is_some_and(|o| !o.is_empty());
                let fate = strip(v, Some(name), rules, collections);
                let emptied = had_members && v.as_object().is_some_and(Map::is_empty);
                fate == Fate::Keep && !emptied
            });
            Fate::Keep
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                strip(item, holder, rules, collections);
            }
            Fate::Keep
        }
        _ => Fate::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cloud_shape() -> Shape {
        Shape {
            drop: vec![
                "href".into(),
                "_links".into(),
                "metadata.etag".into(),
                "metadata.createdByUserId".into(),
            ],
            collections: true,
            ..Shape::default()
        }
    }

    #[test]
    fn links_etags_and_list_stubs_are_left_out() {
        let mut v = json!({
            "id": "servers", "type": "collection", "href": "https://x/servers",
            "items": [{
                "id": "s1", "type": "server", "href": "https://x/servers/s1",
                "metadata": {"etag": "e", "createdByUserId": "u", "createdBy": "ops@x", "state": "AVAILABLE"},
                "properties": {"name": "web", "bootVolume": {"id": "v1", "type": "volume", "href": "https://x/v1"}},
                "entities": {"nics": {"id": "s1/nics", "type": "collection", "href": "https://x/nics"}},
            }],
            "offset": 0,
            "_links": {"next": "https://x?offset=1"}
        });
        apply(&cloud_shape(), &mut v);
        assert_eq!(
            v,
            json!({
                "items": [{
                    "id": "s1", "type": "server",
                    "metadata": {"createdBy": "ops@x", "state": "AVAILABLE"},
                    "properties": {"name": "web", "bootVolume": {"id": "v1", "type": "volume"}},
                }],
                "offset": 0
            })
        );
    }

    #[test]
    fn expanded_lists_keep_their_items_and_empty_answers_stay() {
        let mut v = json!({
            "entities": {"volumes": {"id": "s1/volumes", "type": "collection", "items": []}},
            "metadata": {}
        });
        apply(&cloud_shape(), &mut v);
        assert_eq!(
            v,
            json!({"entities": {"volumes": {"items": []}}, "metadata": {}})
        );
    }

    #[test]
    fn a_nested_list_becomes_plain_items() {
        let shape = Shape {
            unwrap: Some(Unwrap {
                list: "/hits/hits".into(),
                to: "events".into(),
                fields: BTreeMap::from([
                    ("time".to_string(), "/_source/meta/time".to_string()),
                    (
                        "user".to_string(),
                        "/_source/principal/username".to_string(),
                    ),
                ]),
                keep: BTreeMap::from([("total".to_string(), "/hits/total".to_string())]),
            }),
            ..Shape::default()
        };
        let mut v = json!({
            "hits": {"total": 2, "hits": [
                {"_source": {"meta": {"time": "t1", "auditVersion": 1}, "principal": {"username": "a"}}},
                {"_source": {"meta": {"time": "t2"}}}
            ]},
            "omitted": {"count": 1}
        });
        apply(&shape, &mut v);
        assert_eq!(
            v,
            json!({
                "events": [{"time": "t1", "user": "a"}, {"time": "t2"}],
                "total": 2,
                "omitted": {"count": 1}
            })
        );
    }

    #[test]
    fn values_most_items_share_are_stated_once() {
        let shape = Shape {
            drop: vec!["ETag".into()],
            common: vec![Common {
                list: "/Contents".into(),
                fields: vec![
                    "StorageClass".into(),
                    "Owner".into(),
                    "Size".into(),
                    "Tier".into(),
                ],
            }],
            ..Shape::default()
        };
        let owner = json!({"ID": "o1", "DisplayName": "31000000"});
        let mut v = json!({
            "Name": "logs",
            "Contents": [
                {"Key": "a", "Size": 1, "ETag": "e1", "StorageClass": "STANDARD", "Owner": owner, "Tier": "hot"},
                {"Key": "b", "Size": 2, "ETag": "e2", "StorageClass": "GLACIER", "Owner": owner, "Tier": "hot"},
                {"Key": "c", "Size": 3, "ETag": "e3", "StorageClass": "STANDARD", "Owner": owner}
            ]
        });
        apply(&shape, &mut v);
        // Sizes differ everywhere, and one item has no tier: both stay in the items.
        assert_eq!(
            v,
            json!({
                "Name": "logs",
                "Contents": [
                    {"Key": "a", "Size": 1, "Tier": "hot"},
                    {"Key": "b", "Size": 2, "StorageClass": "GLACIER", "Tier": "hot"},
                    {"Key": "c", "Size": 3}
                ],
                "common": {"Contents": {"StorageClass": "STANDARD", "Owner": owner}}
            })
        );
    }

    #[test]
    fn a_value_of_half_the_items_or_of_one_item_stays_in_them() {
        let shape = Shape {
            common: vec![Common {
                list: "/events".into(),
                fields: vec!["status".into()],
            }],
            ..Shape::default()
        };
        for events in [
            json!([{"status": "DONE"}, {"status": "FAILED"}]),
            json!([{"status": "DONE"}]),
            json!([]),
        ] {
            let mut v = json!({ "events": events.clone() });
            apply(&shape, &mut v);
            assert_eq!(v, json!({ "events": events }));
        }
        // An answer that already has a `common` of that list keeps its items whole.
        let mut v =
            json!({"events": [{"status": "DONE"}, {"status": "DONE"}], "common": {"events": 1}});
        let before = v.clone();
        apply(&shape, &mut v);
        assert_eq!(v, before);
    }

    #[test]
    fn a_list_written_as_rows_loses_nothing() {
        let shape = Shape {
            common: vec![Common {
                list: "/Contents".into(),
                fields: vec!["StorageClass".into()],
            }],
            rows: vec!["/Contents".into(), "/Missing".into()],
            ..Shape::default()
        };
        let items = json!([
            {"Key": "a", "Size": 1, "StorageClass": "STANDARD"},
            {"Key": "b", "Size": 2, "StorageClass": "GLACIER", "Tags": ["x"]},
            {"Key": "c", "Size": 3, "StorageClass": "STANDARD"}
        ]);
        let mut v = json!({"Name": "logs", "Contents": items});
        apply(&shape, &mut v);
        assert_eq!(
            v,
            json!({
                "Name": "logs",
                "Contents": {
                    "columns": ["Key", "Size", "StorageClass", "Tags"],
                    "rows": [
                        ["a", 1, null, null],
                        ["b", 2, "GLACIER", ["x"]],
                        ["c", 3, null, null]
                    ]
                },
                "common": {"Contents": {"StorageClass": "STANDARD"}}
            })
        );
        // An empty list is an empty table; a list of other values stays a list.
        for (list, table) in [
            (json!([]), json!({"columns": [], "rows": []})),
            (json!(["a", "b"]), json!(["a", "b"])),
        ] {
            let mut v = json!({ "Contents": list });
            apply(&shape, &mut v);
            assert_eq!(v["Contents"], table);
        }
    }
}
