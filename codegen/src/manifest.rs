//! The tool manifest (`tool-manifest.yaml`): which operations become tools, under which names.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

/// The whole manifest file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: u32,
    #[serde(default)]
    pub limits: Limits,
    pub products: IndexMap<String, Product>,
    /// Documents served as read-only tools and MCP resources (no API call).
    #[serde(default)]
    pub documents: Vec<DocumentEntry>,
    /// Shared wording: argument name -> the description every tool with that argument serves
    /// (over the spec's); an empty text serves the argument without one.
    #[serde(default)]
    pub arguments: IndexMap<String, String>,
}

/// A document shipped with the server.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentEntry {
    pub name: String,
    pub product: String,
    pub toolset: String,
    pub title: String,
    pub description: String,
    /// Path from the project root.
    pub file: String,
    /// The MCP resource URI it is also served under.
    pub uri: String,
}

/// Budgets the tool surface must stay within.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default = "default_max_name_length")]
    pub max_name_length: usize,
    /// o200k tokens the whole `tools/list` may cost.
    #[serde(default)]
    pub max_tokens_total: Option<usize>,
    /// o200k tokens one toolset (`product/toolset`) may cost.
    #[serde(default)]
    pub max_tokens_per_toolset: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_name_length: default_max_name_length(),
            max_tokens_total: None,
            max_tokens_per_toolset: None,
        }
    }
}

fn default_max_name_length() -> usize {
    48
}

/// One IONOS product: an API with its own endpoint, credentials and tools.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    pub title: String,
    /// The IONOS product this API belongs to, when several APIs make one product (the
    /// Object Storage management API and its S3 data plane); the product key otherwise.
    #[serde(default)]
    pub family: Option<String>,
    pub spec: String,
    pub base_url: String,
    pub base_url_env: String,
    pub auth: AuthScheme,
    pub privilege: String,
    #[serde(default)]
    pub filters: bool,
    #[serde(default)]
    pub parameters: ParameterRules,
    /// How the product's answers are compacted before the model sees them.
    #[serde(default)]
    pub shape: Option<Shape>,
    #[serde(default)]
    pub tools: Vec<ToolEntry>,
}

/// The compaction of a product's answers: what is left out and how lists are re-made. Each rule
/// applies to the tools whose response schema has what it names; `raw: true` skips them all.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Shape {
    /// Property names removed at any depth; `parent.name` removes `name` only from objects held
    /// by a member `parent` (directly or as elements of its array), e.g. `metadata.etag`.
    #[serde(default)]
    pub drop: Vec<String>,
    /// List wrappers (objects whose `type` is `collection`) lose their own `id` and `type`, and
    /// those without `items` (links to lists that were not expanded) are left out.
    #[serde(default)]
    pub collections: bool,
    /// A list re-made as plain items, picked from each element by JSON pointers.
    #[serde(default)]
    pub unwrap: Option<Unwrap>,
    /// Values most items of a list share, stated once under the answer's `common` instead of in
    /// each item (applied after `unwrap` and `drop`, so its pointers name the answer they leave).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub common: Vec<Common>,
    /// Lists written as a table, `{columns: [field names], rows: [[values]]}`, so that field
    /// names are not repeated in every item (applied last: its JSON pointers name the answer
    /// `unwrap`, `drop` and `common` leave).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<String>,
}

/// The fields of the items of `list` whose most frequent value, when more than half of the
/// items have it, moves to `common.<list's member name>.<field>`; items with another value keep
/// theirs, and a field that some item lacks stays where it is.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Common {
    /// JSON pointer of the list in the answer.
    pub list: String,
    /// Member names of the items.
    pub fields: Vec<String>,
}

/// Replaces the list at `list` by the top-level member `to`, whose items hold `fields`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Unwrap {
    /// JSON pointer of the list in the answer; its top-level member is replaced.
    pub list: String,
    /// Name of the top-level member that holds the plain items.
    pub to: String,
    /// Field of a plain item -> JSON pointer inside an element of the list (absent stays absent).
    pub fields: IndexMap<String, String>,
    /// Top-level member -> JSON pointer in the answer, kept beside the items (e.g. a total).
    #[serde(default)]
    pub keep: IndexMap<String, String>,
}

/// How a product's requests are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthScheme {
    /// `Authorization: Bearer $IONOS_TOKEN` (or HTTP Basic with username and password).
    Bearer,
    /// AWS Signature Version 4 with an Object Storage access key pair
    /// (`IONOS_S3_ACCESS_KEY`, `IONOS_S3_SECRET_KEY`).
    Sigv4,
    /// No credentials.
    None,
}

impl AuthScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthScheme::Bearer => "bearer",
            AuthScheme::Sigv4 => "sigv4",
            AuthScheme::None => "none",
        }
    }
}

/// Parameter handling shared by a product's tools or set on one tool.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterRules {
    /// Wire name -> argument name.
    #[serde(default)]
    pub rename: IndexMap<String, String>,
    /// Wire names (a trailing `*` matches a prefix) never shown to the model.
    #[serde(default)]
    pub hide: Vec<String>,
    /// Wire name -> value always sent (implies hidden).
    #[serde(default)]
    pub fixed: IndexMap<String, Value>,
    /// Wire name -> regular expression the argument must match (checked before sending).
    #[serde(default)]
    pub patterns: IndexMap<String, String>,
}

/// What a tool may do to the account: read it, change it, or change it in a way that
/// interrupts what runs there (a hard power-off or reset), which a person confirms first.
/// Ordered: each class includes the ones before it (`IONOS_MCP_TOOL_SCOPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// One tool of the manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolEntry {
    pub name: String,
    pub operation: String,
    pub access: Access,
    pub toolset: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    /// A write tool whose repetition with the same arguments changes nothing more
    /// (`idempotentHint`); read tools never change anything.
    #[serde(default)]
    pub idempotent: bool,
    #[serde(default)]
    pub list: bool,
    #[serde(default)]
    pub rename: IndexMap<String, String>,
    #[serde(default)]
    pub hide: Vec<String>,
    #[serde(default)]
    pub fixed: IndexMap<String, Value>,
    #[serde(default)]
    pub patterns: IndexMap<String, String>,
    /// Argument name -> default value (sent when the caller leaves the argument out).
    #[serde(default)]
    pub defaults: IndexMap<String, Value>,
    /// JSON property names removed from every result.
    #[serde(default)]
    pub redact: Vec<String>,
    /// Arguments handled by the server, never sent: name -> JSON Schema (typed, described).
    #[serde(default)]
    pub client_args: IndexMap<String, Value>,
    /// A date range the API answers in: defaults and limits checked before sending.
    #[serde(default)]
    pub date_window: Option<DateWindow>,
    /// List items left out of the answer unless an argument asks for them.
    #[serde(default)]
    pub exclude_items: Option<ExcludeItems>,
    /// List items kept only when they match a client argument.
    #[serde(default)]
    pub item_filters: Vec<ItemFilter>,
    /// Totals per group and the largest entries, on request (`group_by`, `top_n`).
    #[serde(default)]
    pub summarize: Option<Summarize>,
}

/// Sums the numbers at `value` of the items of the list at `items`, per group chosen by the
/// client argument `group_arg` (a key of `groups`), and keeps the `top_arg` largest: a report
/// the size of its groups instead of every line.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Summarize {
    /// JSON pointer of the list; a `*` segment stands for every element of an array.
    pub items: String,
    /// JSON pointer (in each item) of the number to sum.
    pub value: String,
    /// JSON pointer (in each item) of the number's unit; totals are per group and unit.
    #[serde(default)]
    pub unit: Option<String>,
    pub group_arg: String,
    /// Group name -> JSON pointer of the group key in each item; `^/id` reads the element
    /// that holds the list (the data center around its meters).
    pub groups: IndexMap<String, String>,
    /// Group name -> JSON pointer of a readable label for the key.
    #[serde(default)]
    pub labels: IndexMap<String, String>,
    pub top_arg: String,
}

/// Keeps the items of the list at `items` whose value at `pointer` matches argument `arg`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ItemFilter {
    pub arg: String,
    /// JSON pointer of the list; a `*` segment stands for every element of an array.
    pub items: String,
    /// JSON pointer inside each item.
    pub pointer: String,
    /// `equals` and `contains` (case-insensitive, string argument), `one_of` (array argument:
    /// equal to any), `prefix` (array argument: starts with any).
    #[serde(rename = "match")]
    pub kind: String,
}

/// Two `YYYY-MM-DD` arguments forming a range.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DateWindow {
    /// Argument names.
    pub start: String,
    pub end: String,
    /// Without arguments: the last `default_days` days up to today (UTC).
    pub default_days: u32,
    /// Longer ranges are refused.
    pub max_days: u32,
}

/// Items of the list at `items` (a JSON pointer) whose value at `pointer` contains `contains`
/// are dropped unless the boolean argument `unless` is true.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExcludeItems {
    pub items: String,
    pub pointer: String,
    /// Drop items whose value contains this text...
    #[serde(default)]
    pub contains: Option<String>,
    /// ...or whose value is the number zero.
    #[serde(default)]
    pub zero: bool,
    pub unless: String,
    /// Also rewrite this count (a JSON pointer) to the number of items kept.
    #[serde(default)]
    pub count: Option<String>,
}

/// Parses the manifest text, naming the line and column of a syntax error.
pub fn parse(text: &str) -> Result<Manifest, String> {
    serde_yaml::from_str(text).map_err(|e| e.to_string())
}
