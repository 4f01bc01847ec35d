//! A read-only resource tree shaped like the IONOS Cloud API, and the generic walker over it.
//!
//! Every resource is a node `{id, type, href, metadata, properties, entities}`; `entities` holds
//! named child collections. A request path `/a/{id}/b/{id}/...` is resolved by alternating
//! "collection name" and "item id" steps from the root, so ordinary endpoints need no code of
//! their own. What a product contributes is a [`CollectionRule`] table (which kinds have which
//! child collections) and a data file in this format:
//!
//! ```json
//! {"resources": {"datacenters": [
//!   {"id": "…", "properties": {…}, "metadata": {…}, "labels": {"env": "prod"},
//!    "entities": {"servers": [{…}], "lans": [{…}]}},
//!   {"$ref": "/datacenters/…/volumes/…"}
//! ]}}
//! ```
//!
//! - `type` comes from the rule of the collection an item sits in; `href` from its path.
//! - An item `{"$ref": "/path"}` is the node at that path, shared rather than copied (a server's
//!   attached volumes are the data center's volumes). Inside `properties` or `metadata`,
//!   `{"$ref": "/path"}` becomes the stub `{id, type, href}` of that node.
//! - Strings starting with `$base` get the API's base URL in its place.
//! - `metadata` is merged over the account-wide defaults; `null` removes a default. An `etag`
//!   is derived from the path, and dates not given are inherited from the parent.
//! - `labels` creates the hidden `labels` collection of a resource and its entries in the
//!   top-level `labels` collection, as the Cloud API shows them.
//! - Every collection a kind has per the rules exists on every node of that kind, empty when the
//!   data names none.

use std::collections::{BTreeSet, HashMap};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::query::ListQuery;

/// The parent kind of top-level collections.
pub const ROOT: &str = "";

/// One kind of child collection: `parent` kinds have a collection `name` holding `item` kinds.
#[derive(Debug, Clone, Copy)]
pub struct CollectionRule {
    pub parent: &'static str,
    /// Path segment(s) of the collection; top-level names may span segments (`um/users`).
    pub name: &'static str,
    pub item: &'static str,
    /// Whether its list answers carry `offset`, `limit` and `_links` (paging applies to all).
    pub paged: bool,
    /// Reachable by path, but not listed in the parent's `entities` (e.g. `labels`).
    pub hidden: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId(usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CollId(usize);

/// What a path resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Node(NodeId),
    Collection(CollId),
}

#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub kind: &'static str,
    pub href: String,
    pub metadata: Map<String, Value>,
    pub properties: Map<String, Value>,
    entities: Vec<CollId>,
}

#[derive(Debug, Clone)]
struct Coll {
    id: String,
    href: String,
    rule: CollectionRule,
    items: Vec<NodeId>,
}

/// How a list answer is labelled: the collection's own, or a synthetic one (a subset).
#[derive(Debug, Clone)]
pub struct ListHeader {
    pub id: String,
    pub href: String,
    pub item_kind: &'static str,
    pub paged: bool,
}

/// Items of the data file: a resource, or a reference to one defined elsewhere.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SourceItem {
    Ref {
        #[serde(rename = "$ref")]
        target: String,
    },
    Node(Box<SourceNode>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceNode {
    id: String,
    #[serde(default)]
    properties: Map<String, Value>,
    #[serde(default)]
    metadata: Map<String, Value>,
    #[serde(default)]
    labels: Map<String, Value>,
    #[serde(default)]
    entities: Map<String, Value>,
}

#[derive(Debug, Clone)]
pub struct Tree {
    base: String,
    rules: &'static [CollectionRule],
    metadata_defaults: Map<String, Value>,
    nodes: Vec<Node>,
    colls: Vec<Coll>,
    by_path: HashMap<String, NodeId>,
    /// Per kind, the property and metadata names a `filter.<name>` may use.
    filterable: HashMap<&'static str, BTreeSet<String>>,
}

/// Dates assumed where neither a resource nor its parents give one.
const FALLBACK_DATE: &str = "2024-01-01T00:00:00Z";

impl Tree {
    /// Builds the tree from a data file's `resources` (top-level collection name -> items).
    /// `base` is the absolute URL every `href` starts with.
    pub fn load(
        base: &str,
        rules: &'static [CollectionRule],
        metadata_defaults: Map<String, Value>,
        resources: Map<String, Value>,
    ) -> Result<Tree, String> {
        let base = base.trim_end_matches('/').to_string();
        let mut tree = Tree {
            base: base.clone(),
            rules,
            metadata_defaults,
            nodes: Vec::new(),
            colls: Vec::new(),
            by_path: HashMap::new(),
            filterable: HashMap::new(),
        };
        tree.nodes.push(Node {
            id: String::new(),
            kind: ROOT,
            href: base,
            metadata: Map::new(),
            properties: Map::new(),
            entities: Vec::new(),
        });
        let root = NodeId(0);
        tree.add_collections(root);
        let mut refs = Vec::new();
        for (name, items) in resources {
            tree.load_items(root, &name, items, &mut refs)?;
        }
        for (coll, slot, target) in refs {
            let node = tree
                .by_path
                .get(&target)
                .copied()
                .ok_or_else(|| format!("reference to unknown resource {target}"))?;
            let c = &mut tree.colls[coll.0];
            if tree.nodes[node.0].kind != c.rule.item {
                return Err(format!(
                    "reference {target} is a {}, but {} holds {}",
                    tree.nodes[node.0].kind, c.href, c.rule.item
                ));
            }
            c.items[slot] = node;
        }
        for i in 1..tree.nodes.len() {
            let mut properties = std::mem::take(&mut tree.nodes[i].properties);
            let mut metadata = std::mem::take(&mut tree.nodes[i].metadata);
            tree.resolve_values(&mut properties)?;
            tree.resolve_values(&mut metadata)?;
            tree.nodes[i].properties = properties;
            tree.nodes[i].metadata = metadata;
            tree.note_filterable(NodeId(i));
        }
        Ok(tree)
    }

    /// Creates every collection `node`'s kind has, empty.
    fn add_collections(&mut self, node: NodeId) {
        let kind = self.nodes[node.0].kind;
        let rules = self.rules;
        for rule in rules.iter().filter(|r| r.parent == kind).copied() {
            let parent = &self.nodes[node.0];
            let id = if kind == ROOT {
                rule.name
                    .rsplit('/')
                    .next()
                    .unwrap_or(rule.name)
                    .to_string()
            } else {
                format!("{}/{}", parent.id, rule.name)
            };
            let href = format!("{}/{}", parent.href, rule.name);
            let coll = CollId(self.colls.len());
            self.colls.push(Coll {
                id,
                href,
                rule,
                items: Vec::new(),
            });
            self.nodes[node.0].entities.push(coll);
        }
    }

    fn collection_of(&self, node: NodeId, name: &str) -> Option<CollId> {
        self.nodes[node.0]
            .entities
            .iter()
            .copied()
            .find(|c| self.colls[c.0].rule.name == name)
    }

    fn load_items(
        &mut self,
        parent: NodeId,
        name: &str,
        items: Value,
        refs: &mut Vec<(CollId, usize, String)>,
    ) -> Result<(), String> {
        let parent_kind = self.nodes[parent.0].kind;
        let coll = self.collection_of(parent, name).ok_or_else(|| {
            format!(
                "{} has no collection `{name}` (kind `{parent_kind}`)",
                self.nodes[parent.0].href
            )
        })?;
        let items: Vec<SourceItem> = serde_json::from_value(items)
            .map_err(|e| format!("{}: {e}", self.colls[coll.0].href))?;
        for item in items {
            match item {
                SourceItem::Ref { target } => {
                    let slot = self.colls[coll.0].items.len();
                    // Patched once every resource exists.
                    self.colls[coll.0].items.push(NodeId(usize::MAX));
                    refs.push((coll, slot, target));
                }
                SourceItem::Node(source) => {
                    self.load_node(parent, coll, *source, refs)?;
                }
            }
        }
        Ok(())
    }

    fn load_node(
        &mut self,
        parent: NodeId,
        coll: CollId,
        source: SourceNode,
        refs: &mut Vec<(CollId, usize, String)>,
    ) -> Result<NodeId, String> {
        let SourceNode {
            id,
            properties,
            metadata,
            labels,
            entities,
        } = source;
        let inherited = self.nodes[parent.0].metadata.clone();
        let node = self.insert(coll, id, properties, &inherited, metadata, false)?;
        for (name, items) in entities {
            self.load_items(node, &name, items, refs)?;
        }
        for (key, value) in labels {
            self.add_label(node, &key, value)?;
        }
        Ok(node)
    }

    /// Adds a resource to a collection (at the front or the end) with its empty collections.
    fn insert(
        &mut self,
        coll: CollId,
        id: String,
        properties: Map<String, Value>,
        inherited: &Map<String, Value>,
        overrides: Map<String, Value>,
        front: bool,
    ) -> Result<NodeId, String> {
        let c = &self.colls[coll.0];
        if id.is_empty() || id.contains(['?', '#']) || id == "." || id == ".." {
            return Err(format!("{}: unusable id `{id}`", c.href));
        }
        let parent_path = c.href.strip_prefix(&self.base).unwrap_or(&c.href);
        let path = format!("{parent_path}/{id}");
        if self.by_path.contains_key(&path) {
            return Err(format!("duplicate resource {path}"));
        }
        let href = format!("{}{path}", self.base);
        let kind = c.rule.item;
        let metadata = self.metadata_for(&path, inherited, overrides);
        let node = NodeId(self.nodes.len());
        self.nodes.push(Node {
            id,
            kind,
            href,
            metadata,
            properties,
            entities: Vec::new(),
        });
        self.by_path.insert(path, node);
        let items = &mut self.colls[coll.0].items;
        if front {
            items.insert(0, node);
        } else {
            items.push(node);
        }
        self.add_collections(node);
        Ok(node)
    }

    fn metadata_for(
        &self,
        path: &str,
        inherited: &Map<String, Value>,
        overrides: Map<String, Value>,
    ) -> Map<String, Value> {
        let created = inherited
            .get("createdDate")
            .cloned()
            .unwrap_or_else(|| json!(FALLBACK_DATE));
        let modified = inherited
            .get("lastModifiedDate")
            .cloned()
            .unwrap_or_else(|| created.clone());
        let mut m = Map::new();
        m.insert("etag".into(), json!(etag(path)));
        m.insert("createdDate".into(), created);
        // The Cloud API's order: created*, then lastModified*, then the rest (state).
        let defaults = &self.metadata_defaults;
        for (k, v) in defaults.iter().filter(|(k, _)| k.starts_with("created")) {
            m.insert(k.clone(), v.clone());
        }
        m.insert("lastModifiedDate".into(), modified);
        for (k, v) in defaults.iter().filter(|(k, _)| !k.starts_with("created")) {
            m.insert(k.clone(), v.clone());
        }
        let created_given = overrides.contains_key("createdDate");
        let modified_given = overrides.contains_key("lastModifiedDate");
        let mut removed = Vec::new();
        for (k, v) in overrides {
            if v.is_null() {
                removed.push(k);
            } else {
                m.insert(k, v);
            }
        }
        // `retain` keeps the order (`remove` may not, with serde_json's `preserve_order`).
        m.retain(|k, _| !removed.contains(k));
        // Given its own creation date, a resource was not modified since (unless it says so):
        // the parent's modification date may predate it.
        if created_given
            && !modified_given
            && let Some(c) = m.get("createdDate").cloned()
        {
            m.insert("lastModifiedDate".into(), c);
        }
        m
    }

    fn add_label(&mut self, node: NodeId, key: &str, value: Value) -> Result<(), String> {
        let owner = &self.nodes[node.0];
        let (kind, owner_id, owner_href) = (owner.kind, owner.id.clone(), owner.href.clone());
        let mut inherited = owner.metadata.clone();
        inherited.remove("state");
        let no_state = Map::from_iter([("state".to_string(), Value::Null)]);
        let own = self
            .collection_of(node, "labels")
            .ok_or_else(|| format!("{owner_href}: a {kind} cannot have labels"))?;
        let props = Map::from_iter([
            ("key".to_string(), json!(key)),
            ("value".to_string(), value.clone()),
        ]);
        self.insert(
            own,
            key.to_string(),
            props,
            &inherited,
            no_state.clone(),
            false,
        )?;
        let global = self
            .collection_of(NodeId(0), "labels")
            .ok_or("no top-level `labels` collection")?;
        let urn = format!("urn:label:{kind}:{owner_id}:{key}");
        let props = Map::from_iter([
            ("key".to_string(), json!(key)),
            ("value".to_string(), value),
            ("resourceId".to_string(), json!(owner_id)),
            ("resourceType".to_string(), json!(kind)),
            ("resourceHref".to_string(), json!(owner_href)),
        ]);
        self.insert(global, urn, props, &inherited, no_state, false)?;
        Ok(())
    }

    /// Replaces `{"$ref": path}` by the stub of that node and `$base` by the base URL.
    fn resolve_values(&self, map: &mut Map<String, Value>) -> Result<(), String> {
        for value in map.values_mut() {
            self.resolve_value(value)?;
        }
        Ok(())
    }

    fn resolve_value(&self, value: &mut Value) -> Result<(), String> {
        match value {
            Value::String(s) => {
                if let Some(rest) = s.strip_prefix("$base") {
                    *s = format!("{}{rest}", self.base);
                }
            }
            Value::Array(items) => {
                for v in items {
                    self.resolve_value(v)?;
                }
            }
            Value::Object(map) => {
                if let (1, Some(Value::String(target))) = (map.len(), map.get("$ref")) {
                    let node = self
                        .by_path
                        .get(target)
                        .ok_or_else(|| format!("reference to unknown resource {target}"))?;
                    *value = self.stub(*node);
                } else {
                    self.resolve_values(map)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn note_filterable(&mut self, node: NodeId) {
        let n = &self.nodes[node.0];
        let names = self.filterable.entry(n.kind).or_default();
        names.extend(n.properties.keys().cloned());
        names.extend(n.metadata.keys().cloned());
    }

    /// Adds a resource created at run time (e.g. a provisioning request) at the front of `coll`.
    pub fn add(
        &mut self,
        coll: CollId,
        id: String,
        properties: Map<String, Value>,
        metadata: Map<String, Value>,
    ) -> Result<NodeId, String> {
        let node = self.insert(coll, id, properties, &Map::new(), metadata, true)?;
        let mut n = std::mem::take(&mut self.nodes[node.0].metadata);
        self.resolve_values(&mut n)?;
        self.nodes[node.0].metadata = n;
        self.note_filterable(node);
        Ok(node)
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0]
    }

    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id.0]
    }

    /// Every resource of a kind, each once (shared ones are not repeated).
    pub fn nodes_of_kind(&self, kind: &str) -> Vec<NodeId> {
        (1..self.nodes.len())
            .filter(|i| self.nodes[*i].kind == kind)
            .map(NodeId)
            .collect()
    }

    /// The items of a collection, in order.
    pub fn items(&self, coll: CollId) -> &[NodeId] {
        &self.colls[coll.0].items
    }

    /// The top-level collection `name`.
    pub fn top(&self, name: &str) -> Option<CollId> {
        self.collection_of(NodeId(0), name)
    }

    pub fn header(&self, coll: CollId) -> ListHeader {
        let c = &self.colls[coll.0];
        ListHeader {
            id: c.id.clone(),
            href: c.href.clone(),
            item_kind: c.rule.item,
            paged: c.rule.paged,
        }
    }

    /// Resolves already-decoded path segments below the base URL. Nothing outside the tree
    /// can be reached: each segment must name a collection or an item id exactly.
    pub fn resolve<S: AsRef<str>>(&self, segments: &[S]) -> Option<Target> {
        let mut at = Target::Node(NodeId(0));
        let mut i = 0;
        while i < segments.len() {
            match at {
                Target::Node(n) => {
                    let (coll, used) = self.nodes[n.0].entities.iter().find_map(|c| {
                        let parts = self.colls[c.0].rule.name.split('/');
                        let mut used = 0;
                        for part in parts {
                            if segments.get(i + used).map(AsRef::as_ref) != Some(part) {
                                return None;
                            }
                            used += 1;
                        }
                        Some((*c, used))
                    })?;
                    at = Target::Collection(coll);
                    i += used;
                }
                Target::Collection(c) => {
                    let want = segments[i].as_ref();
                    let node = self.colls[c.0]
                        .items
                        .iter()
                        .copied()
                        .find(|n| self.nodes[n.0].id == want)?;
                    at = Target::Node(node);
                    i += 1;
                }
            }
        }
        match at {
            Target::Node(NodeId(0)) => None,
            other => Some(other),
        }
    }

    /// `{id, type, href}` of a resource.
    pub fn stub(&self, id: NodeId) -> Value {
        let n = &self.nodes[id.0];
        json!({"id": n.id, "type": n.kind, "href": n.href})
    }

    fn collection_stub(&self, coll: CollId) -> Value {
        let c = &self.colls[coll.0];
        json!({"id": c.id, "type": "collection", "href": c.href})
    }

    /// A resource as a single GET shows it: properties and metadata, and its collections
    /// expanded `depth` levels (at 0 they are stubs).
    pub fn render_node(&self, id: NodeId, depth: u8) -> Value {
        let n = &self.nodes[id.0];
        let mut out = Map::new();
        out.insert("id".into(), json!(n.id));
        out.insert("type".into(), json!(n.kind));
        out.insert("href".into(), json!(n.href));
        out.insert("metadata".into(), Value::Object(n.metadata.clone()));
        out.insert("properties".into(), Value::Object(n.properties.clone()));
        let mut entities = Map::new();
        for c in &n.entities {
            let coll = &self.colls[c.0];
            if coll.rule.hidden {
                continue;
            }
            let v = match depth.checked_sub(1) {
                None => self.collection_stub(*c),
                Some(d) => self.render_embedded(*c, d),
            };
            entities.insert(coll.rule.name.to_string(), v);
        }
        if !entities.is_empty() {
            out.insert("entities".into(), Value::Object(entities));
        }
        Value::Object(out)
    }

    /// A collection inside an expanded resource: all items, no paging fields.
    fn render_embedded(&self, coll: CollId, depth: u8) -> Value {
        let c = &self.colls[coll.0];
        let items: Vec<Value> = c
            .items
            .iter()
            .map(|n| self.render_item(*n, depth))
            .collect();
        json!({"id": c.id, "type": "collection", "href": c.href, "items": items})
    }

    fn render_item(&self, id: NodeId, depth: u8) -> Value {
        match depth.checked_sub(1) {
            None => self.stub(id),
            Some(d) => self.render_node(id, d),
        }
    }

    /// A collection as a list GET shows it.
    pub fn list(&self, coll: CollId, query: &ListQuery) -> Result<Value, String> {
        self.list_items(&self.header(coll), &self.colls[coll.0].items, query)
    }

    /// `items` as a list answer labelled by `header`: filtered, paged, expanded `depth` levels.
    pub fn list_items(
        &self,
        header: &ListHeader,
        items: &[NodeId],
        query: &ListQuery,
    ) -> Result<Value, String> {
        let known = self.filterable.get(header.item_kind);
        for (name, _) in &query.filters {
            if !known.is_some_and(|k| k.contains(name)) {
                let names: Vec<&str> = known
                    .map(|k| k.iter().map(String::as_str).collect())
                    .unwrap_or_default();
                return Err(format!(
                    "Unknown filter property '{name}' for {} items; filterable: {}",
                    header.item_kind,
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ));
            }
        }
        let matching: Vec<NodeId> = items
            .iter()
            .copied()
            .filter(|n| query.filters.iter().all(|(k, v)| self.matches(*n, k, v)))
            .collect();
        let total = matching.len();
        let page: Vec<Value> = matching
            .iter()
            .skip(query.offset)
            .take(query.limit)
            .map(|n| self.render_item(*n, query.depth))
            .collect();
        let mut out = Map::new();
        out.insert("id".into(), json!(header.id));
        out.insert("type".into(), json!("collection"));
        out.insert("href".into(), json!(header.href));
        out.insert("items".into(), Value::Array(page));
        if header.paged {
            out.insert("offset".into(), json!(query.offset));
            out.insert("limit".into(), json!(query.limit));
            let link = |offset: usize| {
                let depth = if query.depth > 0 {
                    format!("&depth={}", query.depth)
                } else {
                    String::new()
                };
                format!(
                    "{}?offset={offset}&limit={}{depth}",
                    header.href, query.limit
                )
            };
            let mut links = Map::new();
            if query.offset > 0 {
                links.insert(
                    "prev".into(),
                    json!(link(query.offset.saturating_sub(query.limit))),
                );
            }
            links.insert("self".into(), json!(link(query.offset)));
            if query.offset.saturating_add(query.limit) < total {
                links.insert("next".into(), json!(link(query.offset + query.limit)));
            }
            out.insert("_links".into(), Value::Object(links));
        }
        Ok(Value::Object(out))
    }

    /// `filter.<name>=value`: case-insensitive substring of the property (or metadata) value.
    fn matches(&self, id: NodeId, name: &str, wanted: &str) -> bool {
        let n = &self.nodes[id.0];
        let Some(value) = n.properties.get(name).or_else(|| n.metadata.get(name)) else {
            return false;
        };
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => return false,
            other => other.to_string(),
        };
        text.to_lowercase().contains(&wanted.to_lowercase())
    }
}

/// A stable entity tag from a resource's path (32 hex digits, like the Cloud API's).
fn etag(path: &str) -> String {
    let hash = |seed: u64| {
        path.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    format!(
        "{:016x}{:016x}",
        hash(0xcbf2_9ce4_8422_2325),
        hash(0x6c62_272e_07bb_0142)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &[CollectionRule] = &[
        CollectionRule {
            parent: ROOT,
            name: "shelves",
            item: "shelf",
            paged: true,
            hidden: false,
        },
        CollectionRule {
            parent: ROOT,
            name: "labels",
            item: "label",
            paged: false,
            hidden: false,
        },
        CollectionRule {
            parent: ROOT,
            name: "um/readers",
            item: "reader",
            paged: false,
            hidden: false,
        },
        CollectionRule {
            parent: "shelf",
            name: "books",
            item: "book",
            paged: true,
            hidden: false,
        },
        CollectionRule {
            parent: "shelf",
            name: "labels",
            item: "label",
            paged: false,
            hidden: true,
        },
        CollectionRule {
            parent: "book",
            name: "pages",
            item: "page",
            paged: false,
            hidden: false,
        },
        CollectionRule {
            parent: "reader",
            name: "books",
            item: "book",
            paged: false,
            hidden: false,
        },
    ];

    fn tree() -> Tree {
        let resources = json!({
            "shelves": [
                {"id": "s1", "properties": {"name": "Fiction", "size": 3},
                 "metadata": {"createdDate": "2024-05-01T00:00:00Z"}, "labels": {"floor": "1"},
                 "entities": {"books": [
                    {"id": "b1", "properties": {"name": "Dune", "shelf": {"$ref": "/shelves/s1"}},
                     "entities": {"pages": [{"id": "p1", "properties": {"n": 1}}]}},
                    {"id": "b2", "properties": {"name": "Emma", "url": "$base/x"}}]}},
                {"id": "s2", "properties": {"name": "Poetry", "size": 0}}
            ],
            "um/readers": [{"id": "r1", "properties": {"name": "Ann"},
                            "entities": {"books": [{"$ref": "/shelves/s1/books/b2"}]}}]
        });
        let defaults = Map::from_iter([("state".to_string(), json!("AVAILABLE"))]);
        let Value::Object(resources) = resources else {
            unreachable!()
        };
        Tree::load("http://h/api", RULES, defaults, resources).expect("test tree loads")
    }

    fn at(t: &Tree, path: &str) -> Option<Target> {
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        t.resolve(&segs)
    }

    #[test]
    fn resolves_paths_and_nothing_else() {
        let t = tree();
        assert!(matches!(at(&t, "/shelves"), Some(Target::Collection(_))));
        assert!(matches!(
            at(&t, "/shelves/s1/books/b1/pages/p1"),
            Some(Target::Node(_))
        ));
        assert!(matches!(
            at(&t, "/um/readers/r1/books/b2"),
            Some(Target::Node(_))
        ));
        assert!(matches!(
            at(&t, "/shelves/s1/labels/floor"),
            Some(Target::Node(_))
        ));
        for bad in [
            "",
            "/um",
            "/shelves/s3",
            "/shelves/s1/..",
            "/shelves/s1/books/b1/..",
            "/books",
            "/shelves/s1/pages",
        ] {
            assert_eq!(at(&t, bad), None, "{bad}");
        }
    }

    #[test]
    fn references_share_the_node_and_become_stubs_in_properties() {
        let t = tree();
        let Some(Target::Node(n)) = at(&t, "/um/readers/r1/books/b2") else {
            panic!("resolves")
        };
        assert_eq!(t.node(n).href, "http://h/api/shelves/s1/books/b2");
        assert_eq!(t.node(n).properties["url"], "http://h/api/x");
        let Some(Target::Node(b1)) = at(&t, "/shelves/s1/books/b1") else {
            panic!("resolves")
        };
        assert_eq!(
            t.node(b1).properties["shelf"],
            json!({"id": "s1", "type": "shelf", "href": "http://h/api/shelves/s1"})
        );
    }

    #[test]
    fn metadata_defaults_inheritance_and_labels() {
        let t = tree();
        let Some(Target::Node(b1)) = at(&t, "/shelves/s1/books/b1") else {
            panic!("resolves")
        };
        let m = &t.node(b1).metadata;
        assert_eq!(m["createdDate"], "2024-05-01T00:00:00Z");
        assert_eq!(m["state"], "AVAILABLE");
        assert_eq!(m["etag"].as_str().map(str::len), Some(32));
        let Some(Target::Collection(labels)) = at(&t, "/labels") else {
            panic!("resolves")
        };
        let l = t.node(t.items(labels)[0]);
        assert_eq!(l.id, "urn:label:shelf:s1:floor");
        assert_eq!(l.properties["resourceHref"], "http://h/api/shelves/s1");
        assert!(!l.metadata.contains_key("state"));
        // Hidden collections stay out of `entities`.
        let Some(Target::Node(s1)) = at(&t, "/shelves/s1") else {
            panic!("resolves")
        };
        let shown = t.render_node(s1, 0);
        assert!(shown["entities"].get("labels").is_none());
        assert!(shown["entities"].get("books").is_some());
    }

    #[test]
    fn depth_expands_one_level_at_a_time() {
        let t = tree();
        let Some(Target::Collection(c)) = at(&t, "/shelves") else {
            panic!("resolves")
        };
        let q = |depth| ListQuery {
            depth,
            ..ListQuery::default()
        };
        let d0 = t.list(c, &q(0)).expect("lists");
        assert_eq!(
            d0["items"][0],
            json!({"id": "s1", "type": "shelf", "href": "http://h/api/shelves/s1"})
        );
        let d1 = t.list(c, &q(1)).expect("lists");
        assert_eq!(d1["items"][0]["properties"]["name"], "Fiction");
        assert_eq!(
            d1["items"][0]["entities"]["books"],
            json!({"id": "s1/books", "type": "collection", "href": "http://h/api/shelves/s1/books"})
        );
        let d2 = t.list(c, &q(2)).expect("lists");
        assert_eq!(
            d2["items"][0]["entities"]["books"]["items"][0],
            json!({"id": "b1", "type": "book", "href": "http://h/api/shelves/s1/books/b1"})
        );
        let d3 = t.list(c, &q(3)).expect("lists");
        assert_eq!(
            d3["items"][0]["entities"]["books"]["items"][0]["entities"]["pages"]["id"],
            "b1/pages"
        );
        // A resource without visible collections has no `entities`.
        let Some(Target::Node(p1)) = at(&t, "/shelves/s1/books/b1/pages/p1") else {
            panic!("resolves")
        };
        assert!(t.render_node(p1, 5).get("entities").is_none());
    }

    #[test]
    fn bad_data_is_reported_not_panicked() {
        let cases = [
            json!({"shelves": [{"id": "s1"}, {"id": "s1"}]}),
            json!({"shelves": [{"id": "s1", "entities": {"pages": []}}]}),
            json!({"nope": []}),
            json!({"shelves": [{"$ref": "/shelves/zz"}]}),
            json!({"shelves": [{"id": "s1", "entities": {"books": [{"id": "b", "properties": {"x": {"$ref": "/q"}}}]}}]}),
            json!({"shelves": [{"id": "..", "properties": {}}]}),
            json!({"shelves": [{"id": "s1", "bogus": 1}]}),
            json!({"shelves": [{"id": "s1", "entities": {"books": [{"id": "b", "labels": {"a": "b"}}]}}]}),
            json!({"um/readers": [{"id": "r", "entities": {"books": [{"$ref": "/um/readers/r"}]}}]}),
        ];
        for case in cases {
            let Value::Object(resources) = case.clone() else {
                unreachable!()
            };
            assert!(
                Tree::load("http://h", RULES, Map::new(), resources).is_err(),
                "{case}"
            );
        }
    }
}
