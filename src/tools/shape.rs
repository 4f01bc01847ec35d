//! A successful answer turned into the tool result: XML converted along the spec's schema,
//! redacted fields removed, nulls dropped, client-side pages cut, non-objects wrapped, and at
//! last compacted as the manifest's `shape` declares (`compact`).

use serde_json::{Map, Value};

use super::dispatch::Output;
use super::request::{ClientPage, RequestParts};
use super::table::ToolSpec;
use crate::errors::{ToolError, truncate};

/// Turns a successful answer into the tool result: redacted, paged, wrapped.
pub fn shape(
    tool: &ToolSpec,
    req: &RequestParts,
    media: &str,
    body: &[u8],
) -> Result<Output, ToolError> {
    let is_json =
        media.contains("json") || (media.is_empty() && tool.response_media.contains("json"));
    let xml_schema = tool
        .xml_schema_value()
        .filter(|_| !is_json && (media.contains("xml") || media.is_empty()));
    if let Some(schema) = xml_schema {
        if body.is_empty() {
            return Ok(Output::Json(Value::Object(Map::new())));
        }
        let text = std::str::from_utf8(body).map_err(|_| ToolError::BadResponse {
            detail: "the XML answer is not UTF-8".into(),
        })?;
        let value = crate::upstream::s3::xml::to_json(text, schema).map_err(|e| {
            ToolError::BadResponse {
                detail: truncate(&e, 160),
            }
        })?;
        return finish_json(tool, req, value);
    }
    if !is_json {
        let text = String::from_utf8_lossy(body).into_owned();
        return Ok(match tool.wrap {
            Some(key) => Output::Json(Value::Object(Map::from_iter([(
                key.to_string(),
                Value::String(text),
            )]))),
            None => Output::Text(text),
        });
    }
    if body.is_empty() {
        return Ok(Output::Json(Value::Object(Map::new())));
    }
    // Checked as UTF-8 once, in one pass, rather than string by string while parsing.
    let text = std::str::from_utf8(body).map_err(|e| ToolError::BadResponse {
        detail: format!("not JSON: the answer is not UTF-8 ({e})"),
    })?;
    let value: Value = serde_json::from_str(text).map_err(|e| ToolError::BadResponse {
        detail: format!("not JSON: {}", truncate(&e.to_string(), 120)),
    })?;
    finish_json(tool, req, value)
}

/// The last step of a JSON result: compaction as the tool's `shape` rules declare, unless the
/// call asked for `raw: true`. It runs after the declared behaviour, whose pointers name the
/// API's fields, so filters work the same on compact and raw answers.
pub fn compact(tool: &ToolSpec, args: &Value, out: &mut Output) {
    let Output::Json(value) = out else {
        return;
    };
    if args.get(RAW_ARG).and_then(Value::as_bool) == Some(true) {
        return;
    }
    if let Some(rules) = super::compact::of(tool) {
        super::compact::apply(rules, value);
    }
}

/// The argument that asks for the API's answer untouched by compaction.
pub const RAW_ARG: &str = "raw";

/// Redaction, null dropping, client-side paging and wrapping of a JSON answer.
fn finish_json(tool: &ToolSpec, req: &RequestParts, mut value: Value) -> Result<Output, ToolError> {
    for key in tool.redact {
        redact(&mut value, key);
    }
    drop_nulls(&mut value);
    if let Some(page) = req.client_page {
        apply_page(&mut value, page);
    }
    let value = match (value, tool.wrap) {
        (Value::Object(o), _) => Value::Object(o),
        (other, Some(key)) => Value::Object(Map::from_iter([(key.to_string(), other)])),
        (other, None) => Value::Object(Map::from_iter([("value".to_string(), other)])),
    };
    Ok(Output::Json(value))
}

/// Removes object members whose value is `null`: absent and null mean the same in IONOS
/// answers, and the answer gets shorter. Output schemas therefore never need `null`.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn apply_page(value: &mut Value, page: ClientPage) {
    let slice = |items: &mut Vec<Value>| {
        let total = items.len();
        let start = page.offset.min(total);
        let end = page
            .limit
            .map_or(total, |l| start.saturating_add(l).min(total));
        *items = items[start..end].to_vec();
        total
    };
    match value {
        Value::Array(items) => {
            slice(items);
        }
        Value::Object(obj) => {
            // The list is `items`, or else the answer's only array (`tokens`, ...).
            let key = if obj.get("items").is_some_and(Value::is_array) {
                Some("items".to_string())
            } else {
                let mut arrays = obj.iter().filter(|(_, v)| v.is_array()).map(|(k, _)| k);
                match (arrays.next(), arrays.next()) {
                    (Some(k), None) => Some(k.clone()),
                    _ => None,
                }
            };
            if let Some(key) = key
                && let Some(Value::Array(items)) = obj.get_mut(&key)
            {
                let total = slice(items);
                obj.insert("offset".into(), Value::from(page.offset));
                if let Some(l) = page.limit {
                    obj.insert("limit".into(), Value::from(l));
                }
                obj.insert("total".into(), Value::from(total));
            }
        }
        _ => {}
    }
}

/// Removes every property named `key`, at any depth.
pub fn redact(value: &mut Value, key: &str) {
    match value {
        Value::Object(obj) => {
            obj.shift_remove(key);
            for v in obj.values_mut() {
                redact(v, key);
            }
        }
        Value::Array(items) => {
            for v in items {
                redact(v, key);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn redaction_keeps_the_order_of_what_is_left() {
        let mut v = json!({"id": "c-1", "privateKey": "x", "name": "web", "items": [
            {"a": 1, "privateKey": "y", "b": 2, "c": 3}
        ]});
        redact(&mut v, "privateKey");
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["id", "name", "items"]);
        let inner: Vec<&str> = v["items"][0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(inner, ["a", "b", "c"]);
    }

    #[test]
    fn an_answer_that_is_not_utf8_or_not_json_is_a_bad_response() {
        let tool = crate::tools::table::tool("list_datacenters").unwrap();
        let req = RequestParts::new("GET");
        let bad = |body: &[u8]| match shape(tool, &req, "application/json", body) {
            Err(ToolError::BadResponse { detail }) => detail,
            other => panic!("{other:?}"),
        };
        assert!(bad(b"{\"items\": [\"\xff\"]}").contains("not UTF-8"));
        assert!(bad(b"{\"items\": [").contains("not JSON"));
        let Ok(Output::Json(v)) = shape(
            tool,
            &req,
            "application/json",
            "{\"items\": [\"é\"]}".as_bytes(),
        ) else {
            panic!("JSON expected");
        };
        assert_eq!(v["items"][0], "é");
    }
}
