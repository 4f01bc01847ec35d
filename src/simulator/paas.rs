//! The conventions of IONOS's newer product APIs (Cloud DNS, Certificate Manager, Object
//! Storage management), shared by their simulations:
//!
//! - a resource is `{id, type, href, metadata, properties}`, its metadata merged over the
//!   product's defaults ([`resource`]);
//! - a list is `{id, type: "collection", href, items, offset, limit, _links}` with full items,
//!   paged by `offset` and `limit` (default 100) and narrowed by the `filter.<name>` parameters
//!   each endpoint documents ([`ListRequest`], [`list`]); unknown filters are refused;
//! - errors are the Cloud API's document, with this family's codes ([`not_found`],
//!   [`bad_request`]).

use axum::http::StatusCode;
use axum::response::Response;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use super::reply;

/// The limit of a list request that names none.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest limit these APIs accept.
pub const MAX_LIMIT: usize = 1000;

/// `offset`, `limit` and the documented `filter.<name>` parameters of a list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    pub offset: usize,
    pub limit: usize,
    /// `(name, value)`, names without `filter.`, in request order.
    pub filters: Vec<(String, String)>,
}

impl ListRequest {
    /// The list parameters of `query`, or the message of a 400 answer. `filters` are the names
    /// this endpoint accepts after `filter.`; other parameters are ignored.
    pub fn parse(query: &[(String, String)], filters: &[&str]) -> Result<ListRequest, String> {
        let mut r = ListRequest {
            offset: 0,
            limit: DEFAULT_LIMIT,
            filters: Vec::new(),
        };
        for (key, value) in query {
            match key.as_str() {
                "offset" => r.offset = number(key, value, 0, i32::MAX as usize)?,
                "limit" => r.limit = number(key, value, 1, MAX_LIMIT)?,
                _ => {
                    if let Some(name) = key.strip_prefix("filter.") {
                        if !filters.contains(&name) {
                            return Err(format!(
                                "Unknown query parameter '{key}'; this list accepts {}",
                                if filters.is_empty() {
                                    "no filters".to_string()
                                } else {
                                    filters
                                        .iter()
                                        .map(|f| format!("filter.{f}"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                }
                            ));
                        }
                        r.filters.push((name.to_string(), value.clone()));
                    }
                }
            }
        }
        Ok(r)
    }

    /// The value of `filter.<name>`, if given.
    pub fn filter(&self, name: &str) -> Option<&str> {
        self.filters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A whole-number query parameter from `min` to `max`, or the message of a 400 answer.
pub fn number(key: &str, value: &str, min: usize, max: usize) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "Query parameter '{key}' must be an integer from {min} to {max}, got '{value}'"
        )),
    }
}

/// `items` (all that match) as the page `request` asks for, labelled `id` at `href`.
pub fn list(id: &str, href: &str, items: Vec<Value>, request: &ListRequest) -> Value {
    let total = items.len();
    let page: Vec<Value> = items
        .into_iter()
        .skip(request.offset)
        .take(request.limit)
        .collect();
    json!({
        "id": id,
        "type": "collection",
        "href": href,
        "items": page,
        "offset": request.offset,
        "limit": request.limit,
        "_links": links(href, request, total),
    })
}

/// `prev` (if not at the start), `self`, `next` (if more follow); filters are kept.
pub fn links(href: &str, request: &ListRequest, total: usize) -> Value {
    let filters: String = request
        .filters
        .iter()
        .map(|(k, v)| format!("&filter.{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
        .collect();
    let link = |offset: usize| format!("{href}?offset={offset}&limit={}{filters}", request.limit);
    let mut out = Map::new();
    if request.offset > 0 {
        out.insert(
            "prev".into(),
            json!(link(request.offset.saturating_sub(request.limit))),
        );
    }
    out.insert("self".into(), json!(link(request.offset)));
    if request.offset.saturating_add(request.limit) < total {
        out.insert("next".into(), json!(link(request.offset + request.limit)));
    }
    Value::Object(out)
}

/// `{id, type, href, metadata, properties}`, in that order.
pub fn resource(
    id: &str,
    kind: &str,
    href: &str,
    metadata: Map<String, Value>,
    properties: Map<String, Value>,
) -> Value {
    json!({
        "id": id,
        "type": kind,
        "href": href,
        "metadata": metadata,
        "properties": properties,
    })
}

/// Case-insensitive "contains", as these APIs filter names.
pub fn contains(haystack: Option<&Value>, needle: &str) -> bool {
    haystack
        .and_then(Value::as_str)
        .is_some_and(|h| h.to_lowercase().contains(&needle.to_lowercase()))
}

/// Case-insensitive equality, as these APIs filter states and types.
pub fn equals(value: Option<&Value>, wanted: &str) -> bool {
    value
        .and_then(Value::as_str)
        .is_some_and(|v| v.eq_ignore_ascii_case(wanted))
}

/// A stable UUID-shaped id from any text (for list ids these APIs mint per request).
pub fn uuid_from(text: &str) -> String {
    let hash = |seed: u64| {
        text.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let hex = format!(
        "{:016x}{:016x}",
        hash(0xcbf2_9ce4_8422_2325),
        hash(0x6c62_272e_07bb_0142)
    );
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

pub fn not_found(message: &str) -> Response {
    reply::error(StatusCode::NOT_FOUND, "paas-resource-1", message)
}

pub fn bad_request(message: &str) -> Response {
    reply::error(StatusCode::BAD_REQUEST, "paas-validation-1", message)
}

/// A JSON answer, compact as these APIs send it.
pub fn ok(body: &Value) -> Response {
    reply::json(StatusCode::OK, body, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_paging_and_known_filters() {
        let r = ListRequest::parse(
            &q(&[
                ("offset", "2"),
                ("limit", "1000"),
                ("filter.zoneName", "shop"),
                ("depth", "3"),
            ]),
            &["zoneName", "state"],
        )
        .expect("valid");
        assert_eq!((r.offset, r.limit), (2, 1000));
        assert_eq!(r.filter("zoneName"), Some("shop"));
        assert_eq!(r.filter("state"), None);
        let d = ListRequest::parse(&[], &[]).expect("valid");
        assert_eq!((d.offset, d.limit), (0, DEFAULT_LIMIT));
        for bad in [
            ("limit", "0"),
            ("limit", "1001"),
            ("offset", "-1"),
            ("offset", "x"),
            ("filter.nope", "1"),
        ] {
            let err = ListRequest::parse(&q(&[bad]), &["state"]).expect_err(bad.0);
            assert!(err.contains(bad.0), "{err}");
        }
    }

    #[test]
    fn lists_page_and_link_with_filters() {
        let items: Vec<Value> = (0..5).map(|i| json!({"id": i.to_string()})).collect();
        let r = ListRequest::parse(
            &q(&[("offset", "2"), ("limit", "2"), ("filter.name", "a b")]),
            &["name"],
        )
        .expect("valid");
        let body = list("x", "http://h/things", items, &r);
        assert_eq!(body["items"], json!([{"id": "2"}, {"id": "3"}]));
        assert_eq!(
            body["_links"],
            json!({
                "prev": "http://h/things?offset=0&limit=2&filter.name=a%20b",
                "self": "http://h/things?offset=2&limit=2&filter.name=a%20b",
                "next": "http://h/things?offset=4&limit=2&filter.name=a%20b",
            })
        );
    }

    #[test]
    fn mints_stable_uuids() {
        let a = uuid_from("http://h/zones");
        assert_eq!(a, uuid_from("http://h/zones"));
        assert_ne!(a, uuid_from("http://h/records"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}
