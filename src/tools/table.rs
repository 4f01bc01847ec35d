//! The generated tool table (from `tool-manifest.yaml` and `specs/`, see `codegen/`), and the
//! types its entries are made of.

use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use crate::tools::request::RequestParts;

/// What a tool may do to the account (the manifest's `access`): read it, change it, or
/// change it in a way that interrupts what runs there (hard power-off, reset), which a person
/// confirms before it is sent. Ordered: each class includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    Read,
    Write,
    Destructive,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Destructive => "destructive",
        }
    }
}

/// How a list tool pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    None,
    Server,
    Client,
}

/// One tool, as generated.
pub struct ToolSpec {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub product: &'static str,
    pub toolset: &'static str,
    pub access: Access,
    /// A write tool whose repetition with the same arguments changes nothing more.
    pub idempotent: bool,
    pub method: &'static str,
    pub path: &'static str,
    pub operation_id: &'static str,
    pub spec: &'static str,
    /// JSON Schema of the arguments as served in `tools/list` (compact JSON text).
    pub input_schema: &'static str,
    /// The same with every constraint (patterns, bounds, length caps): what calls are checked
    /// against before anything is sent.
    pub validation_schema: &'static str,
    pub output_schema: Option<&'static str>,
    pub response_media: &'static str,
    pub wrap: Option<&'static str>,
    /// For XML answers: the response schema's shape (JSON text) that guides the conversion.
    pub xml_schema: Option<&'static str>,
    /// Declared headers of the success answer and their JSON types (HEAD tools).
    pub response_headers: &'static [(&'static str, &'static str)],
    pub paging: Paging,
    /// Property names removed from results.
    pub redact: &'static [&'static str],
    /// o200k tokens of this tool's `tools/list` entry, counted at build time.
    pub tokens: usize,
    /// Server-side behaviour from the manifest (`date_window`, `exclude_items`), as JSON.
    pub behaviour: Option<&'static str>,
    /// How answers are compacted (the manifest's `shape` rules that apply), as JSON.
    pub shape: Option<&'static str>,
    /// Deserialises the arguments and builds the request.
    pub build: fn(Value) -> Result<RequestParts, serde_json::Error>,
    /// The arguments struct's schema as derived by schemars (used to check the generator).
    pub args_schema: fn() -> schemars::Schema,
}

impl std::fmt::Debug for ToolSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolSpec")
            .field("name", &self.name)
            .finish()
    }
}

/// One product: endpoint and credentials.
#[derive(Debug)]
pub struct ProductSpec {
    pub key: &'static str,
    /// The IONOS product (several APIs may make one: Object Storage).
    pub family: &'static str,
    pub title: &'static str,
    pub spec: &'static str,
    pub base_url: &'static str,
    pub base_url_env: &'static str,
    pub auth: &'static str,
    pub privilege: &'static str,
}

/// A spec file the build used.
#[derive(Debug)]
pub struct SpecInfo {
    pub file: &'static str,
    pub title: &'static str,
    pub version: &'static str,
    pub sha256: &'static str,
}

mod generated {
    include!(concat!(env!("OUT_DIR"), "/tools.rs"));
}

pub use generated::{DOCUMENTS, PRODUCTS, SPECS, TOOLS};

/// A document served as a read-only tool (no API call) and as an MCP resource.
#[derive(Debug)]
pub struct DocumentSpec {
    pub name: &'static str,
    pub product: &'static str,
    pub toolset: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub uri: &'static str,
    pub text: &'static str,
}

impl DocumentSpec {
    /// The resource's programmatic name, from its URI (`ionos://billing/focus-v1.3` is
    /// `billing-focus-v1.3`), so it is not mistaken for the tool of the same document.
    pub fn resource_name(&self) -> String {
        let path = self.uri.split_once("://").map_or(self.uri, |(_, p)| p);
        path.trim_matches('/').replace('/', "-")
    }

    /// Documents are Markdown.
    pub fn mime_type(&self) -> &'static str {
        "text/markdown"
    }

    /// The tool definition: no arguments, read-only, closed world.
    pub fn to_mcp(&self) -> rmcp::model::Tool {
        let schema: Map<String, Value> = serde_json::from_value(
            serde_json::json!({"type": "object", "properties": {}, "additionalProperties": false}),
        )
        .unwrap_or_default();
        rmcp::model::Tool::new(self.name, self.description, Arc::new(schema))
            .with_title(self.title)
            .with_annotations(
                rmcp::model::ToolAnnotations::new()
                    .read_only(true)
                    .open_world(false),
            )
    }
}

/// Looks a document up by tool name.
pub fn document(name: &str) -> Option<&'static DocumentSpec> {
    DOCUMENTS.iter().find(|d| d.name == name)
}

/// Typed request builders, one per tool (`list_servers_request`, ...).
pub mod builders {
    pub use super::generated::*;
}

impl ToolSpec {
    pub fn product(&self) -> &'static ProductSpec {
        product(self.product).unwrap_or(&PRODUCTS[0])
    }

    pub fn is_read_only(&self) -> bool {
        self.access == Access::Read
    }

    /// Parsed input schema (parsed once per tool at first need, shared).
    pub fn input_schema_object(&self) -> Arc<Map<String, Value>> {
        parsed(self, self.input_schema, &INPUT_SCHEMAS)
    }

    /// Parsed validation schema (parsed once per tool at first need, shared).
    pub fn validation_schema_object(&self) -> Arc<Map<String, Value>> {
        parsed(self, self.validation_schema, &VALIDATION_SCHEMAS)
    }

    /// Parsed shape of an XML answer (parsed once per tool at first need, shared).
    pub fn xml_schema_value(&self) -> Option<&'static Value> {
        static CACHE: SchemaCells<Option<Value>> = OnceLock::new();
        let text = self.xml_schema?;
        cell(self, &CACHE)?
            .get_or_init(|| serde_json::from_str(text).ok())
            .as_ref()
    }

    pub fn output_schema_object(&self) -> Option<Arc<Map<String, Value>>> {
        self.output_schema.map(|s| parsed(self, s, &OUTPUT_SCHEMAS))
    }

    /// The MCP tool definition served in `tools/list`. The title is the tool's own (`title`),
    /// not repeated in the annotations: clients show `title` first, and a second copy would
    /// cost every turn.
    pub fn to_mcp(&self) -> rmcp::model::Tool {
        let mut annotations = rmcp::model::ToolAnnotations::new()
            .read_only(self.is_read_only())
            .open_world(true);
        // The destructive and idempotent hints only mean something for tools that write.
        if !self.is_read_only() {
            annotations = annotations
                .destructive(self.access == Access::Destructive)
                .idempotent(self.idempotent);
        }
        let mut tool =
            rmcp::model::Tool::new(self.name, self.description, self.input_schema_object())
                .with_title(self.title)
                .with_annotations(annotations);
        if let Some(out) = self.output_schema_object() {
            tool = tool.with_raw_output_schema(out);
        }
        tool
    }
}

/// One cell per entry of [`TOOLS`], in table order, each filled at its first use.
type SchemaCells<T> = OnceLock<Box<[OnceLock<T>]>>;
type SchemaCache = SchemaCells<Arc<Map<String, Value>>>;
static INPUT_SCHEMAS: SchemaCache = OnceLock::new();
static VALIDATION_SCHEMAS: SchemaCache = OnceLock::new();
static OUTPUT_SCHEMAS: SchemaCache = OnceLock::new();

/// The cell of `tool` (an entry of [`TOOLS`], else the entry of its name) in `cells`.
fn cell<'a, T>(tool: &ToolSpec, cells: &'a SchemaCells<T>) -> Option<&'a OnceLock<T>> {
    let index = TOOLS
        .iter()
        .position(|t| std::ptr::eq(t, tool))
        .or_else(|| TOOLS.iter().position(|t| t.name == tool.name))?;
    cells
        .get_or_init(|| TOOLS.iter().map(|_| OnceLock::new()).collect())
        .get(index)
}

fn parsed(
    tool: &ToolSpec,
    text: &'static str,
    cache: &'static SchemaCache,
) -> Arc<Map<String, Value>> {
    let parse = || Arc::new(serde_json::from_str(text).unwrap_or_default());
    match cell(tool, cache) {
        Some(cell) => cell.get_or_init(parse).clone(),
        None => parse(),
    }
}

/// Looks a tool up by name.
pub fn tool(name: &str) -> Option<&'static ToolSpec> {
    TOOLS.iter().find(|t| t.name == name)
}

pub fn product(key: &str) -> Option<&'static ProductSpec> {
    PRODUCTS.iter().find(|p| p.key == key)
}

/// The tool or document name nearest to `name` (a typo, or a part of a name), if any is
/// near: for "did you mean".
pub fn closest(name: &str) -> Option<&'static str> {
    let names = TOOLS
        .iter()
        .map(|t| t.name)
        .chain(DOCUMENTS.iter().map(|d| d.name));
    suggestions(name, names).into_iter().next()
}

/// Up to three of `known` near `name`, nearest first.
pub fn suggestions<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let wanted = name.trim().to_ascii_lowercase();
    if wanted.is_empty() {
        return Vec::new();
    }
    let mut near: Vec<(usize, usize, &str)> = known
        .map(|n| {
            let d = edit_distance(&wanted, n);
            // A name that contains what was typed (`datacenters` in `list_datacenters`) is
            // as good as one a typo away.
            let d = if wanted.len() >= 5 && n.contains(wanted.as_str()) {
                d.min(2)
            } else {
                d
            };
            (d, n.len(), n)
        })
        .filter(|(d, _, _)| *d <= 3.max(wanted.len() / 5))
        .collect();
    near.sort();
    near.into_iter().take(3).map(|(_, _, n)| n).collect()
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn near_misses_find_the_tool() {
        assert_eq!(super::closest("list_datacenter"), Some("list_datacenters"));
        assert_eq!(super::closest("LIST_DATACENTERS"), Some("list_datacenters"));
        assert_eq!(super::closest("datacenters"), Some("list_datacenters"));
        assert_eq!(
            super::closest("get_billing_focus"),
            Some("get_billing_focus_spec")
        );
        assert_eq!(super::closest("drop_everything_now"), None);
        assert_eq!(super::edit_distance("kitten", "sitting"), 3);
    }
}
