//! XML answers (the S3 API) as JSON, guided by the response schema of the spec.
//!
//! The schema decides the shape: a property declared as an array is always a JSON array, even
//! with one element or none in the XML; `xml.name` gives the element name of a property (S3's
//! `<CORSRule>` elements fill `CORSRules`), `xml.wrapped` says the elements sit inside a wrapper
//! (`<Buckets><Bucket/>…</Buckets>`). Scalars get the declared type where the text parses as it.
//! Elements the schema does not know are kept, as text or nested objects (repeated ones as
//! arrays), so nothing IONOS sends is lost.

use serde_json::{Map, Value};

/// Converts an XML document to JSON along `schema` (the tool's `xml_schema`).
pub fn to_json(text: &str, schema: &Value) -> Result<Value, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    let name = root.tag_name().name();
    // Some answers are one bare element (`<LocationConstraint>de</LocationConstraint>`) or
    // are declared one level up (`{ReplicationConfiguration: {...}}`): the root element is
    // then a property of the declared object.
    if let Some(prop) = property_named(schema, name)
        && element_name(schema) != Some(name)
    {
        let mut out = Map::new();
        out.insert(prop.0.to_string(), convert(root, prop.1));
        return Ok(Value::Object(out));
    }
    Ok(convert(root, schema))
}

/// The property whose element name is `element`: its key and schema.
fn property_named<'a>(schema: &'a Value, element: &str) -> Option<(&'a str, &'a Value)> {
    schema
        .get("properties")?
        .as_object()?
        .iter()
        .find(|(key, sub)| element_name(sub).unwrap_or(key) == element)
        .map(|(k, v)| (k.as_str(), v))
}

fn element_name(schema: &Value) -> Option<&str> {
    schema.get("xml")?.get("name")?.as_str()
}

fn schema_type(schema: &Value) -> &str {
    schema.get("type").and_then(Value::as_str).unwrap_or("")
}

fn is_wrapped(schema: &Value) -> bool {
    schema
        .get("xml")
        .and_then(|x| x.get("wrapped"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn convert(node: roxmltree::Node<'_, '_>, schema: &Value) -> Value {
    let children: Vec<roxmltree::Node<'_, '_>> =
        node.children().filter(|c| c.is_element()).collect();
    match schema_type(schema) {
        "array" => {
            // An array met as one element: its children are the items.
            let items = schema.get("items").unwrap_or(&Value::Null);
            Value::Array(children.into_iter().map(|c| convert(c, items)).collect())
        }
        "object" | "" if !children.is_empty() || schema.get("properties").is_some() => {
            convert_object(node, &children, schema)
        }
        "object" | "" => untyped(node),
        ty => scalar(&text_of(node), ty),
    }
}

fn convert_object(
    node: roxmltree::Node<'_, '_>,
    children: &[roxmltree::Node<'_, '_>],
    schema: &Value,
) -> Value {
    let props = schema.get("properties").and_then(Value::as_object);
    let extra = schema.get("additionalProperties").filter(|a| a.is_object());
    let mut out = Map::new();
    // Declared arrays are present (possibly empty) when their wrapper is.
    for child in children {
        let name = child.tag_name().name();
        let declared = props.and_then(|p| {
            p.iter().find(|(key, sub)| {
                let el = element_name(sub).unwrap_or(key);
                el == name || (schema_type(sub) == "array" && key.as_str() == name)
            })
        });
        match declared {
            Some((key, sub)) if schema_type(sub) == "array" => {
                let items = sub.get("items").unwrap_or(&Value::Null);
                let slot = out
                    .entry(key.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(list) = slot else { continue };
                if is_wrapped(sub) {
                    list.extend(
                        child
                            .children()
                            .filter(|c| c.is_element())
                            .map(|c| convert(c, items)),
                    );
                } else {
                    list.push(convert(*child, items));
                }
            }
            Some((key, sub)) => {
                out.insert(key.clone(), convert(*child, sub));
            }
            None => {
                let value = match extra {
                    Some(e) => convert(*child, e),
                    None => untyped(*child),
                };
                match out.get_mut(name) {
                    Some(Value::Array(list)) => list.push(value),
                    Some(existing) => {
                        let first = existing.take();
                        *existing = Value::Array(vec![first, value]);
                    }
                    None => {
                        out.insert(name.to_string(), value);
                    }
                }
            }
        }
    }
    if children.is_empty() {
        let text = text_of(node);
        if !text.is_empty() {
            out.insert("value".into(), Value::String(text));
        }
    }
    Value::Object(out)
}

/// An element the schema says nothing about: text, or an object of its children.
fn untyped(node: roxmltree::Node<'_, '_>) -> Value {
    let children: Vec<roxmltree::Node<'_, '_>> =
        node.children().filter(|c| c.is_element()).collect();
    if children.is_empty() {
        return Value::String(text_of(node));
    }
    convert_object(node, &children, &Value::Null)
}

fn text_of(node: roxmltree::Node<'_, '_>) -> String {
    node.children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect::<String>()
        .trim()
        .to_string()
}

/// Text as the declared scalar type; left a string when it does not parse as one.
pub fn scalar(text: &str, ty: &str) -> Value {
    match ty {
        "integer" => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.into())),
        "number" => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(text.into())),
        "boolean" => match text {
            "true" | "True" | "TRUE" => Value::Bool(true),
            "false" | "False" | "FALSE" => Value::Bool(false),
            _ => Value::String(text.into()),
        },
        _ => Value::String(text.into()),
    }
}

/// An S3 error answer: `<Error><Code>NoSuchBucket</Code><Message>…</Message>…</Error>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    pub code: String,
    pub message: String,
    /// Other elements (`Endpoint`, `Bucket`, `Region`, …) by name, without the signing
    /// diagnostics (`StringToSign`, `CanonicalRequest`, …).
    pub extra: Vec<(String, String)>,
}

/// Reads an S3 error body; `None` when the body is not one.
pub fn s3_error(body: &[u8]) -> Option<S3Error> {
    let text = std::str::from_utf8(body).ok()?;
    let doc = roxmltree::Document::parse(text).ok()?;
    let root = doc.root_element();
    if root.tag_name().name() != "Error" {
        return None;
    }
    let mut code = String::new();
    let mut message = String::new();
    let mut extra = Vec::new();
    for c in root.children().filter(|c| c.is_element()) {
        let value = text_of(c);
        match c.tag_name().name() {
            "Code" => code = value,
            "Message" => message = value,
            "RequestId"
            | "HostId"
            | "StringToSign"
            | "StringToSignBytes"
            | "CanonicalRequest"
            | "CanonicalRequestBytes"
            | "SignatureProvided"
            | "AWSAccessKeyId" => {}
            other => extra.push((other.to_string(), value)),
        }
    }
    (!code.is_empty()).then_some(S3Error {
        code,
        message,
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn buckets_schema() -> Value {
        json!({"type": "object", "xml": {"name": "ListAllMyBucketsResult"}, "properties": {
            "Owner": {"type": "object", "properties": {"ID": {"type": "integer"}, "DisplayName": {"type": "string"}}},
            "Buckets": {"type": "array", "xml": {"name": "Buckets", "wrapped": true},
                "items": {"type": "object", "xml": {"name": "Bucket"}, "properties": {
                    "Name": {"type": "string"}, "CreationDate": {"type": "string"}}}}}})
    }

    #[test]
    fn wrapped_lists_stay_lists_with_one_element() {
        let xml = r#"<?xml version="1.0"?><ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>123</ID><DisplayName>me</DisplayName></Owner><Buckets><Bucket><Name>a</Name><CreationDate>2026-01-01T00:00:00Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>"#;
        let v = to_json(xml, &buckets_schema()).unwrap();
        assert_eq!(
            v,
            json!({"Owner": {"ID": 123, "DisplayName": "me"},
                   "Buckets": [{"Name": "a", "CreationDate": "2026-01-01T00:00:00Z"}]})
        );
        let empty = to_json(
            "<ListAllMyBucketsResult><Buckets/></ListAllMyBucketsResult>",
            &buckets_schema(),
        )
        .unwrap();
        assert_eq!(empty, json!({"Buckets": []}));
    }

    #[test]
    fn unwrapped_lists_collect_repeated_elements_by_their_xml_name() {
        let schema = json!({"type": "object", "properties": {
            "CORSRules": {"type": "array", "xml": {"name": "CORSRule"}, "items": {"type": "object", "properties": {
                "AllowedMethods": {"type": "array", "xml": {"name": "AllowedMethod"}, "items": {"type": "string"}},
                "MaxAgeSeconds": {"type": "integer"}}}}}});
        let xml = "<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>300</MaxAgeSeconds></CORSRule><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod></CORSRule></CORSConfiguration>";
        let v = to_json(xml, &schema).unwrap();
        assert_eq!(
            v,
            json!({"CORSRules": [
                {"AllowedMethods": ["GET"], "MaxAgeSeconds": 300},
                {"AllowedMethods": ["GET", "PUT"]}]})
        );
    }

    #[test]
    fn a_bare_root_element_becomes_its_property() {
        let schema =
            json!({"type": "object", "properties": {"LocationConstraint": {"type": "string"}}});
        let v = to_json("<LocationConstraint>de</LocationConstraint>", &schema).unwrap();
        assert_eq!(v, json!({"LocationConstraint": "de"}));
        let nested = json!({"type": "object", "properties": {"ReplicationConfiguration": {
            "type": "object", "xml": {"name": "ReplicationConfiguration"}, "properties": {"Role": {"type": "string"}}}}});
        let v = to_json(
            "<ReplicationConfiguration><Role>r</Role></ReplicationConfiguration>",
            &nested,
        )
        .unwrap();
        assert_eq!(v, json!({"ReplicationConfiguration": {"Role": "r"}}));
    }

    #[test]
    fn unknown_elements_are_kept_and_bad_scalars_stay_text() {
        let schema = json!({"type": "object", "properties": {"Size": {"type": "integer"}, "IsLatest": {"type": "boolean"}}});
        let xml = "<R><Size>12x</Size><IsLatest>true</IsLatest><Extra>e</Extra><Rep>1</Rep><Rep>2</Rep><Deep><A>1</A></Deep></R>";
        let v = to_json(xml, &schema).unwrap();
        assert_eq!(
            v,
            json!({"Size": "12x", "IsLatest": true, "Extra": "e", "Rep": ["1", "2"], "Deep": {"A": "1"}})
        );
    }

    #[test]
    fn bad_xml_is_an_error_not_a_panic() {
        assert!(to_json("<a><b></a>", &json!({})).is_err());
        assert!(to_json("", &json!({})).is_err());
    }

    #[test]
    fn s3_errors_are_read_without_signing_diagnostics() {
        let body = b"<Error><Code>PermanentRedirect</Code><Message>Use the endpoint.</Message><Endpoint>s3.eu-central-1.ionoscloud.com</Endpoint><StringToSign>AWS4...</StringToSign><RequestId>1</RequestId></Error>";
        let e = s3_error(body).unwrap();
        assert_eq!(e.code, "PermanentRedirect");
        assert_eq!(e.message, "Use the endpoint.");
        assert_eq!(
            e.extra,
            vec![(
                "Endpoint".to_string(),
                "s3.eu-central-1.ionoscloud.com".to_string()
            )]
        );
        assert!(s3_error(b"{\"messages\": []}").is_none());
        assert!(s3_error(b"<Other/>").is_none());
    }
}
