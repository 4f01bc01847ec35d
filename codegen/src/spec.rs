//! OpenAPI documents: loading, operation lookup and `$ref`/`allOf` resolution into
//! self-contained JSON Schemas (draft 2020-12, no `$ref`, no `nullable`).

use openapiv3::{OpenAPI, Parameter, ReferenceOr};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// A parsed OpenAPI document with the raw JSON kept for schema resolution.
pub struct Spec {
    /// Path as written in the manifest (e.g. `specs/cloudapi-v6.yaml`).
    pub file: String,
    pub title: String,
    pub version: String,
    pub sha256: String,
    pub doc: OpenAPI,
    pub raw: Value,
}

/// Where a parameter goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    Header,
}

impl Location {
    pub fn as_str(self) -> &'static str {
        match self {
            Location::Path => "path",
            Location::Query => "query",
            Location::Header => "header",
        }
    }
}

/// A parameter of an operation, resolved.
#[derive(Debug, Clone)]
pub struct SpecParam {
    pub name: String,
    pub location: Location,
    pub required: bool,
    pub description: Option<String>,
    /// Self-contained JSON Schema of the value.
    pub schema: Value,
}

/// An operation found in a spec.
#[derive(Debug, Clone)]
pub struct SpecOperation {
    pub operation_id: String,
    pub method: String,
    pub path: String,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub params: Vec<SpecParam>,
    /// JSON pointer of the operation inside the spec, for diagnostics.
    pub pointer: String,
    /// Schema and media type of the success response.
    pub response: Option<(String, Value)>,
    /// Headers the success response declares, with their JSON type (`ETag`, `x-amz-meta-*`):
    /// what a HEAD operation answers with.
    pub response_headers: Vec<(String, String)>,
}

impl Spec {
    /// Parses a YAML or JSON OpenAPI 3.0 document.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Spec, String> {
        let sha256 = hex(&Sha256::digest(bytes));
        let yaml: serde_yaml::Value =
            serde_yaml::from_slice(bytes).map_err(|e| format!("{file}: not valid YAML: {e}"))?;
        let raw: Value = serde_json::to_value(&yaml)
            .map_err(|e| format!("{file}: cannot be read as JSON data: {e}"))?;
        let doc: OpenAPI = serde_json::from_value(raw.clone())
            .map_err(|e| format!("{file}: not an OpenAPI 3.0 document: {e}"))?;
        Ok(Spec {
            file: file.to_string(),
            title: doc.info.title.clone(),
            version: doc.info.version.clone(),
            sha256,
            doc,
            raw,
        })
    }

    /// Every `$ref` that points nowhere in this document, as (JSON pointer of the reference,
    /// target). Flattening turns such a reference into an untyped object, so the mistake would
    /// otherwise go unnoticed.
    pub fn dangling_refs(&self) -> Vec<(String, String)> {
        fn walk(spec: &Spec, v: &Value, at: &str, out: &mut Vec<(String, String)>) {
            match v {
                Value::Object(map) => {
                    for (k, sub) in map {
                        if k == "$ref"
                            && let Some(r) = sub.as_str()
                            && spec.lookup(r).is_none()
                        {
                            out.push((at.to_string(), r.to_string()));
                        }
                        walk(spec, sub, &format!("{at}/{}", escape_pointer(k)), out);
                    }
                }
                Value::Array(items) => {
                    for (i, sub) in items.iter().enumerate() {
                        walk(spec, sub, &format!("{at}/{i}"), out);
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(self, &self.raw, "#", &mut out);
        out
    }

    /// All operations with an operationId, in document order.
    pub fn operations(&self) -> Vec<SpecOperation> {
        let mut out = Vec::new();
        for (path, item) in self.doc.paths.paths.iter() {
            let Some(item) = item.as_item() else { continue };
            for (method, op) in item.iter() {
                let Some(id) = op.operation_id.clone() else {
                    continue;
                };
                let pointer = format!("#/paths/{}/{}", escape_pointer(path), method);
                let mut params: Vec<SpecParam> = Vec::new();
                // Path-item parameters apply unless the operation redefines them.
                for p in item.parameters.iter().chain(op.parameters.iter()) {
                    if let Some(sp) = self.resolve_parameter(p) {
                        params.retain(|q| !(q.name == sp.name && q.location == sp.location));
                        params.push(sp);
                    }
                }
                out.push(SpecOperation {
                    operation_id: id,
                    method: method.to_ascii_uppercase(),
                    path: path.clone(),
                    summary: op.summary.clone(),
                    description: op.description.clone(),
                    params,
                    response: self.success_response(&pointer),
                    response_headers: self.success_headers(&pointer),
                    pointer,
                });
            }
        }
        out
    }

    fn resolve_parameter(&self, p: &ReferenceOr<Parameter>) -> Option<SpecParam> {
        let param = match p {
            ReferenceOr::Item(p) => p.clone(),
            ReferenceOr::Reference { reference } => {
                let v = self.lookup(reference)?;
                serde_json::from_value::<Parameter>(v.clone()).ok()?
            }
        };
        let location = match &param {
            Parameter::Path { .. } => Location::Path,
            Parameter::Query { .. } => Location::Query,
            Parameter::Header { .. } => Location::Header,
            Parameter::Cookie { .. } => return None,
        };
        let data = param.parameter_data_ref();
        let schema = match &data.format {
            openapiv3::ParameterSchemaOrContent::Schema(s) => {
                let v = serde_json::to_value(s).unwrap_or(Value::Null);
                self.flatten(&v)
            }
            openapiv3::ParameterSchemaOrContent::Content(_) => json!({"type": "string"}),
        };
        Some(SpecParam {
            name: data.name.clone(),
            location,
            required: data.required || location == Location::Path,
            description: data.description.clone(),
            schema,
        })
    }

    /// The first 2xx response of an operation, its `$ref` followed.
    fn success(&self, op_pointer: &str) -> Option<&Value> {
        let responses = self.lookup(op_pointer)?.get("responses")?.as_object()?;
        let code = responses.keys().filter(|k| k.starts_with('2')).min()?;
        Some(self.deref(responses.get(code)?))
    }

    /// The schema of the first 2xx response, resolved.
    fn success_response(&self, op_pointer: &str) -> Option<(String, Value)> {
        let resp = self.success(op_pointer)?;
        let content = resp.get("content")?.as_object()?;
        let (media, mt) = content
            .iter()
            .find(|(k, _)| k.contains("json"))
            .or_else(|| content.iter().next())?;
        let schema = mt.get("schema")?;
        Some((media.clone(), self.flatten(schema)))
    }

    /// The headers of the first 2xx response, with their schema types.
    fn success_headers(&self, op_pointer: &str) -> Vec<(String, String)> {
        self.success(op_pointer)
            .and_then(|resp| resp.get("headers"))
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(name, h)| {
                let ty = self
                    .deref(h)
                    .get("schema")
                    .map(|s| self.deref(s))
                    .and_then(|s| s.get("type"))
                    .and_then(Value::as_str)
                    .unwrap_or("string");
                (name.clone(), ty.to_string())
            })
            .collect()
    }

    /// Follows a local `$ref` (`#/components/...`).
    pub fn lookup(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        self.raw.pointer(pointer)
    }

    fn deref<'a>(&'a self, v: &'a Value) -> &'a Value {
        let mut cur = v;
        for _ in 0..16 {
            match cur.get("$ref").and_then(Value::as_str) {
                Some(r) => match self.lookup(r) {
                    Some(next) => cur = next,
                    None => return cur,
                },
                None => return cur,
            }
        }
        cur
    }

    /// Resolves `$ref`, `allOf`, `nullable` and OpenAPI-only keywords into a self-contained
    /// JSON Schema. A reference cycle is cut with a plain `{"type": "object"}`.
    pub fn flatten(&self, schema: &Value) -> Value {
        self.flatten_to_depth(schema, 64)
    }

    /// Like [`Spec::flatten`], but objects nested deeper than `depth` keep only their type.
    pub fn flatten_to_depth(&self, schema: &Value, depth: usize) -> Value {
        let mut stack = Vec::new();
        self.flatten_inner(schema, &mut stack, depth)
    }

    fn flatten_inner(&self, schema: &Value, stack: &mut Vec<String>, depth: usize) -> Value {
        let Some(obj) = schema.as_object() else {
            return json!({});
        };
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            if stack.iter().any(|s| s == r) || stack.len() > 32 {
                return json!({"type": "object"});
            }
            let Some(target) = self.lookup(r) else {
                return json!({"type": "object"});
            };
            stack.push(r.to_string());
            let out = self.flatten_inner(target, stack, depth);
            stack.pop();
            return out;
        }
        if let Some(parts) = obj.get("allOf").and_then(Value::as_array) {
            let mut merged = Map::new();
            let mut props = Map::new();
            let mut required: Vec<Value> = Vec::new();
            for part in parts {
                let flat = self.flatten_inner(part, stack, depth);
                if let Some(p) = flat.get("properties").and_then(Value::as_object) {
                    for (k, v) in p {
                        props.insert(k.clone(), v.clone());
                    }
                }
                if let Some(r) = flat.get("required").and_then(Value::as_array) {
                    for x in r {
                        if !required.contains(x) {
                            required.push(x.clone());
                        }
                    }
                }
                for (k, v) in flat.as_object().into_iter().flatten() {
                    if k != "properties" && k != "required" {
                        merged.insert(k.clone(), v.clone());
                    }
                }
            }
            for (k, v) in obj {
                if k != "allOf"
                    && let Some(clean) = self.clean_keyword(k, v, stack, depth)
                {
                    merged.insert(k.clone(), clean);
                }
            }
            if !props.is_empty() {
                merged.insert("properties".into(), Value::Object(props));
            }
            if !required.is_empty() {
                merged.insert("required".into(), Value::Array(required));
            }
            merged.entry("type").or_insert(json!("object"));
            return Value::Object(merged);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(parts) = obj.get(key).and_then(Value::as_array) {
                // Variants are merged into one lenient object so that no combinator remains.
                let flats: Vec<Value> = parts
                    .iter()
                    .map(|p| self.flatten_inner(p, stack, depth))
                    .collect();
                let types: Vec<&str> = flats
                    .iter()
                    .filter_map(|f| f.get("type").and_then(Value::as_str))
                    .collect();
                let mut out = Map::new();
                if !types.is_empty() && types.iter().all(|t| *t == types[0]) {
                    out.insert("type".into(), json!(types[0]));
                } else {
                    out.insert("type".into(), json!("object"));
                }
                if out.get("type") == Some(&json!("object")) {
                    let mut props = Map::new();
                    for f in &flats {
                        if let Some(p) = f.get("properties").and_then(Value::as_object) {
                            for (k, v) in p {
                                props.entry(k.clone()).or_insert(v.clone());
                            }
                        }
                    }
                    if !props.is_empty() {
                        out.insert("properties".into(), Value::Object(props));
                    }
                }
                if let Some(d) = obj.get("description") {
                    out.insert("description".into(), d.clone());
                }
                return Value::Object(out);
            }
        }
        let mut out = Map::new();
        for (k, v) in obj {
            if let Some(clean) = self.clean_keyword(k, v, stack, depth) {
                out.insert(k.clone(), clean);
            }
        }
        if !out.contains_key("type") {
            let inferred =
                if out.contains_key("properties") || out.contains_key("additionalProperties") {
                    Some("object")
                } else if out.contains_key("items") {
                    Some("array")
                } else if out.contains_key("enum") {
                    Some("string")
                } else {
                    None
                };
            if let Some(t) = inferred {
                out.insert("type".into(), json!(t));
            }
        }
        if out.get("type") == Some(&json!("array")) && !out.contains_key("items") {
            out.insert("items".into(), json!({}));
        }
        Value::Object(out)
    }

    /// Keeps JSON Schema keywords, recursing into sub-schemas; drops OpenAPI-only ones but
    /// `xml` (element names of XML answers; JSON Schema ignores it).
    fn clean_keyword(
        &self,
        key: &str,
        value: &Value,
        stack: &mut Vec<String>,
        depth: usize,
    ) -> Option<Value> {
        match key {
            "nullable" | "example" | "examples" | "readOnly" | "writeOnly" | "externalDocs"
            | "discriminator" | "deprecated" | "$ref" | "allOf" => None,
            k if k.starts_with("x-") => None,
            "properties" => {
                let props = value.as_object()?;
                if depth == 0 {
                    return None;
                }
                let mut out = Map::new();
                for (name, sub) in props {
                    out.insert(name.clone(), self.flatten_inner(sub, stack, depth - 1));
                }
                Some(Value::Object(out))
            }
            "items" | "not" => Some(self.flatten_inner(value, stack, depth)),
            "additionalProperties" => match value {
                Value::Bool(_) => Some(value.clone()),
                _ if depth == 0 => None,
                other => Some(self.flatten_inner(other, stack, depth - 1)),
            },
            _ => Some(value.clone()),
        }
    }
}

/// Escapes a path for use in a JSON pointer (RFC 6901).
pub fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
