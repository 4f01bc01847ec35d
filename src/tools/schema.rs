//! Checks values against the tools' JSON Schemas: arguments before anything is sent, answers
//! against the tool's output schema. The generator writes a small subset of JSON Schema
//! 2020-12, and exactly that subset is understood here: `type`, `properties`, `required`,
//! `additionalProperties`, `items`, `enum`, `minimum`, `maximum`, `maxLength` and `pattern`,
//! besides annotations (`description`, `default`, `title`, `examples`), which check nothing. A
//! schema with any other keyword does not compile, so no constraint is ever skipped unseen
//! (the `every_generated_schema_compiles` test holds the generator to the subset).

use serde_json::{Map, Value};

use crate::errors::truncate;

/// A compiled schema.
#[derive(Debug)]
pub struct Schema {
    kind: Option<Kind>,
    properties: Vec<(String, Schema)>,
    required: Vec<String>,
    additional: Additional,
    items: Option<Box<Schema>>,
    one_of_values: Option<Vec<Value>>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    max_length: Option<u64>,
    pattern: Option<(String, regex_lite::Regex)>,
}

/// The JSON types a schema's `type` names.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
    Null,
}

/// What an object may hold besides its `properties`.
#[derive(Debug)]
enum Additional {
    Anything,
    Nothing,
    Matching(Box<Schema>),
}

/// Which rule a value broke.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    Type,
    Required,
    Additional,
    Enum,
    Minimum,
    Maximum,
    MaxLength,
    Pattern,
}

/// One way a value does not fit its schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// JSON pointer to the value (`""` for the whole, `/depth`, `/filters/name`).
    pub at: String,
    pub rule: Rule,
    /// The reason in words, naming the value (a long one by its length) and the limit.
    pub message: String,
}

/// Keywords that describe and check nothing.
const ANNOTATIONS: [&str; 5] = ["description", "default", "title", "examples", "$schema"];

impl Schema {
    /// Compiles a schema, or says which keyword or value is not understood.
    pub fn compile(schema: &Map<String, Value>) -> Result<Schema, String> {
        compile_at(schema, "")
    }

    /// Up to `limit` problems of `value`, in document order; none when it fits.
    pub fn problems(&self, value: &Value, limit: usize) -> Vec<Problem> {
        let mut found = Vec::new();
        self.check(value, &mut String::new(), &mut found, limit);
        found
    }

    fn check(&self, value: &Value, at: &mut String, found: &mut Vec<Problem>, limit: usize) {
        if found.len() >= limit {
            return;
        }
        let report = |rule: Rule, message: String, found: &mut Vec<Problem>| {
            if found.len() < limit {
                found.push(Problem {
                    at: at.clone(),
                    rule,
                    message,
                });
            }
        };
        if let Some(kind) = self.kind
            && !kind.admits(value)
        {
            report(
                Rule::Type,
                format!("{} is not of type \"{}\"", shown(value), kind.name()),
                found,
            );
            return;
        }
        if let Some(allowed) = &self.one_of_values
            && !allowed.iter().any(|a| same_json(a, value))
        {
            let listed: Vec<String> = allowed.iter().map(Value::to_string).collect();
            report(
                Rule::Enum,
                format!(
                    "{} is not one of {}",
                    shown(value),
                    truncate(&listed.join(", "), 400)
                ),
                found,
            );
        }
        if let Some(n) = value.as_f64() {
            if let Some(min) = self.minimum.filter(|min| n < *min) {
                report(
                    Rule::Minimum,
                    format!(
                        "{} is less than the minimum of {}",
                        shown(value),
                        number(min)
                    ),
                    found,
                );
            }
            if let Some(max) = self.maximum.filter(|max| n > *max) {
                report(
                    Rule::Maximum,
                    format!(
                        "{} is greater than the maximum of {}",
                        shown(value),
                        number(max)
                    ),
                    found,
                );
            }
        }
        if let Some(text) = value.as_str() {
            if let Some(max) = self.max_length
                && text.chars().count() as u64 > max
            {
                report(
                    Rule::MaxLength,
                    format!("{} is longer than {max} characters", shown(value)),
                    found,
                );
            }
            if let Some((source, regex)) = &self.pattern
                && !regex.is_match(text)
            {
                report(
                    Rule::Pattern,
                    format!("{} does not match \"{source}\"", shown(value)),
                    found,
                );
            }
        }
        match value {
            Value::Object(members) => self.check_members(members, at, found, limit),
            Value::Array(elements) => {
                if let Some(items) = &self.items {
                    for (i, element) in elements.iter().enumerate() {
                        let len = at.len();
                        at.push('/');
                        at.push_str(&i.to_string());
                        items.check(element, at, found, limit);
                        at.truncate(len);
                    }
                }
            }
            _ => {}
        }
    }

    fn check_members(
        &self,
        members: &Map<String, Value>,
        at: &mut String,
        found: &mut Vec<Problem>,
        limit: usize,
    ) {
        for name in &self.required {
            if !members.contains_key(name) && found.len() < limit {
                found.push(Problem {
                    at: at.clone(),
                    rule: Rule::Required,
                    message: format!("\"{name}\" is a required property"),
                });
            }
        }
        let mut unexpected = Vec::new();
        for (name, member) in members {
            let declared = self.properties.iter().find(|(n, _)| n == name);
            let schema = match (declared, &self.additional) {
                (Some((_, schema)), _) => schema,
                (None, Additional::Matching(schema)) => schema,
                (None, Additional::Anything) => continue,
                (None, Additional::Nothing) => {
                    unexpected.push(format!("'{name}'"));
                    continue;
                }
            };
            let len = at.len();
            at.push('/');
            at.push_str(&escape_pointer(name));
            schema.check(member, at, found, limit);
            at.truncate(len);
        }
        if !unexpected.is_empty() && found.len() < limit {
            let verb = if unexpected.len() == 1 { "was" } else { "were" };
            found.push(Problem {
                at: at.clone(),
                rule: Rule::Additional,
                message: format!(
                    "Additional properties are not allowed ({} {verb} unexpected)",
                    truncate(&unexpected.join(", "), 200)
                ),
            });
        }
    }
}

fn compile_at(schema: &Map<String, Value>, at: &str) -> Result<Schema, String> {
    let wrong = |keyword: &str, expected: &str| format!("`{keyword}` at `{at}` must be {expected}");
    let mut compiled = Schema {
        kind: None,
        properties: Vec::new(),
        required: Vec::new(),
        additional: Additional::Anything,
        items: None,
        one_of_values: None,
        minimum: None,
        maximum: None,
        max_length: None,
        pattern: None,
    };
    for (keyword, value) in schema {
        match keyword.as_str() {
            "type" => {
                let name = value
                    .as_str()
                    .ok_or_else(|| wrong("type", "one type name"))?;
                compiled.kind =
                    Some(Kind::named(name).ok_or_else(|| {
                        format!("`type` at `{at}` names an unknown type `{name}`")
                    })?);
            }
            "properties" => {
                let props = value
                    .as_object()
                    .ok_or_else(|| wrong("properties", "an object"))?;
                for (name, sub) in props {
                    let sub = sub
                        .as_object()
                        .ok_or_else(|| wrong("properties", "an object of schemas"))?;
                    let path = format!("{at}/properties/{}", escape_pointer(name));
                    compiled
                        .properties
                        .push((name.clone(), compile_at(sub, &path)?));
                }
            }
            "required" => {
                compiled.required = value
                    .as_array()
                    .and_then(|names| {
                        names
                            .iter()
                            .map(|n| n.as_str().map(String::from))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| wrong("required", "a list of names"))?;
            }
            "additionalProperties" => {
                compiled.additional = match value {
                    Value::Bool(true) => Additional::Anything,
                    Value::Bool(false) => Additional::Nothing,
                    Value::Object(sub) => Additional::Matching(Box::new(compile_at(
                        sub,
                        &format!("{at}/additionalProperties"),
                    )?)),
                    _ => return Err(wrong("additionalProperties", "a boolean or a schema")),
                };
            }
            "items" => {
                let sub = value
                    .as_object()
                    .ok_or_else(|| wrong("items", "a schema"))?;
                compiled.items = Some(Box::new(compile_at(sub, &format!("{at}/items"))?));
            }
            "enum" => {
                compiled.one_of_values = Some(
                    value
                        .as_array()
                        .cloned()
                        .ok_or_else(|| wrong("enum", "a list"))?,
                );
            }
            "minimum" => {
                compiled.minimum =
                    Some(value.as_f64().ok_or_else(|| wrong("minimum", "a number"))?);
            }
            "maximum" => {
                compiled.maximum =
                    Some(value.as_f64().ok_or_else(|| wrong("maximum", "a number"))?);
            }
            "maxLength" => {
                compiled.max_length = Some(
                    value
                        .as_u64()
                        .ok_or_else(|| wrong("maxLength", "a whole number"))?,
                );
            }
            "pattern" => {
                let source = value.as_str().ok_or_else(|| wrong("pattern", "a string"))?;
                let regex = regex_lite::Regex::new(source)
                    .map_err(|e| format!("`pattern` at `{at}` is not a regular expression: {e}"))?;
                compiled.pattern = Some((source.to_string(), regex));
            }
            other if ANNOTATIONS.contains(&other) => {}
            other => {
                return Err(format!(
                    "the keyword `{other}` at `{at}` is not checked by this server (it checks {})",
                    CHECKED.join(", ")
                ));
            }
        }
    }
    Ok(compiled)
}

/// The keywords that constrain values.
const CHECKED: [&str; 10] = [
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "minimum",
    "maximum",
    "maxLength",
    "pattern",
];

impl Kind {
    fn named(name: &str) -> Option<Kind> {
        Some(match name {
            "object" => Kind::Object,
            "array" => Kind::Array,
            "string" => Kind::String,
            "integer" => Kind::Integer,
            "number" => Kind::Number,
            "boolean" => Kind::Boolean,
            "null" => Kind::Null,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Object => "object",
            Kind::Array => "array",
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Number => "number",
            Kind::Boolean => "boolean",
            Kind::Null => "null",
        }
    }

    /// JSON Schema's types: an integer is any number without a fractional part (`2.0` too).
    fn admits(self, value: &Value) -> bool {
        match (self, value) {
            (Kind::Object, Value::Object(_))
            | (Kind::Array, Value::Array(_))
            | (Kind::String, Value::String(_))
            | (Kind::Number, Value::Number(_))
            | (Kind::Boolean, Value::Bool(_))
            | (Kind::Null, Value::Null) => true,
            (Kind::Integer, Value::Number(n)) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        }
    }
}

/// JSON equality as JSON Schema means it: numbers by value (`1` equals `1.0`).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// A value as a message names it: as JSON when short, else by its length (a 10,000-character
/// string would push the reason out of any message).
pub fn shown(value: &Value) -> String {
    let text = value.to_string();
    let chars = text.chars().count();
    if chars <= 60 {
        return text;
    }
    match value.as_str() {
        Some(s) => format!("a string of {} characters", s.chars().count()),
        None => format!("{} (a value of {chars} characters)", truncate(&text, 40)),
    }
}

/// A limit as written in a schema: `10`, not `10.0`.
fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// A member name as a JSON pointer segment (RFC 6901).
fn escape_pointer(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::tools::table::TOOLS;

    fn schema(v: Value) -> Schema {
        Schema::compile(v.as_object().unwrap()).expect("compiles")
    }

    fn messages(s: &Schema, v: Value) -> Vec<String> {
        s.problems(&v, 10)
            .into_iter()
            .map(|p| format!("{}: {}", p.at, p.message))
            .collect()
    }

    #[test]
    fn every_generated_schema_compiles() {
        for tool in TOOLS {
            Schema::compile(&tool.validation_schema_object())
                .unwrap_or_else(|e| panic!("{}: validation schema: {e}", tool.name));
            if let Some(out) = tool.output_schema_object() {
                Schema::compile(&out)
                    .unwrap_or_else(|e| panic!("{}: output schema: {e}", tool.name));
            }
        }
    }

    #[test]
    fn unknown_keywords_and_bad_values_do_not_compile() {
        for bad in [
            json!({"type": "string", "minLength": 1}),
            json!({"properties": {"a": {"format": "uuid"}}}),
            json!({"type": ["string", "null"]}),
            json!({"type": "text"}),
            json!({"pattern": "("}),
            json!({"maxLength": -1}),
            json!({"required": "a"}),
            json!({"additionalProperties": 1}),
        ] {
            let e = Schema::compile(bad.as_object().unwrap()).expect_err(&bad.to_string());
            assert!(e.contains('`'), "{bad}: {e}");
        }
        let e = Schema::compile(
            json!({"properties": {"a": {"oneOf": []}}})
                .as_object()
                .unwrap(),
        )
        .unwrap_err();
        assert!(e.contains("oneOf") && e.contains("/properties/a"), "{e}");
    }

    #[test]
    fn arguments_are_checked_with_reasons() {
        let s = schema(json!({
            "type": "object",
            "properties": {
                "id": {"type": "string", "maxLength": 8, "description": "An id."},
                "depth": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                "kind": {"type": "string", "enum": ["A", "MX"]},
                "month": {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"},
                "filters": {"type": "object", "additionalProperties": {"type": "string"}},
                "tags": {"type": "array", "items": {"type": "string"}}
            },
            "required": ["id"],
            "additionalProperties": false
        }));
        assert!(s.problems(&json!({"id": "a", "depth": 2.0}), 5).is_empty());
        assert!(
            s.problems(
                &json!({"id": "a", "kind": "MX", "month": "2026-11", "filters": {"x": "y"}, "tags": []}),
                5
            )
            .is_empty()
        );
        assert_eq!(
            messages(&s, json!({"depth": 11})),
            [
                ": \"id\" is a required property",
                "/depth: 11 is greater than the maximum of 10"
            ]
        );
        assert_eq!(
            messages(&s, json!({"id": 42})),
            ["/id: 42 is not of type \"string\""]
        );
        assert_eq!(
            messages(&s, json!({"id": "a", "depth": -1, "bogus": 1, "other": 2})),
            [
                "/depth: -1 is less than the minimum of 0",
                ": Additional properties are not allowed ('bogus', 'other' were unexpected)"
            ]
        );
        assert_eq!(
            messages(&s, json!({"id": "a", "depth": 1.5})),
            ["/depth: 1.5 is not of type \"integer\""]
        );
        assert_eq!(
            messages(&s, json!({"id": "x".repeat(100)})),
            ["/id: a string of 100 characters is longer than 8 characters"]
        );
        assert_eq!(
            messages(&s, json!({"id": "ääää"})),
            Vec::<String>::new(),
            "maxLength counts characters, not bytes"
        );
        assert_eq!(
            messages(&s, json!({"id": "a", "kind": "TXT"})),
            ["/kind: \"TXT\" is not one of \"A\", \"MX\""]
        );
        let p = s.problems(&json!({"id": "a", "month": "2026-13"}), 5);
        assert_eq!(p[0].rule, Rule::Pattern);
        assert_eq!(p[0].at, "/month");
        assert_eq!(
            messages(
                &s,
                json!({"id": "a", "filters": {"a/b": 1}, "tags": ["x", 2]})
            ),
            [
                "/filters/a~1b: 1 is not of type \"string\"",
                "/tags/1: 2 is not of type \"string\""
            ]
        );
        assert_eq!(s.problems(&json!({"depth": "a", "bogus": 1}), 1).len(), 1);
    }

    #[test]
    fn answers_are_checked_in_depth() {
        let s = schema(json!({
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"type": "object", "properties": {
                    "id": {"type": "string"},
                    "properties": {"type": "object", "properties": {"cores": {"type": "integer"}}}
                }}}
            }
        }));
        assert!(
            s.problems(
                &json!({"items": [{"id": "a", "properties": {"cores": 4}, "extra": true}]}),
                3
            )
            .is_empty(),
            "members a schema does not name are welcome"
        );
        assert_eq!(
            messages(
                &s,
                json!({"items": [{"id": "a"}, {"id": "b", "properties": {"cores": "4"}}]})
            ),
            ["/items/1/properties/cores: \"4\" is not of type \"integer\""]
        );
        assert_eq!(
            messages(&s, json!({"items": "none"})),
            ["/items: \"none\" is not of type \"array\""]
        );
        assert_eq!(messages(&s, json!([])), [": [] is not of type \"object\""]);
    }
}
