//! The request a generated builder produces: method, encoded path, query and headers.
//!
//! Path segments are percent-encoded here, once, so no argument value can change the path's
//! shape: `../`, `?`, `#` and `/` inside an id stay inside that one segment.

use std::collections::BTreeMap;
use std::fmt::Display;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters left as they are in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// An HTTP request relative to a product's base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestParts {
    pub method: &'static str,
    /// Path below the base URL, already encoded, starting with `/`.
    pub path: String,
    /// Query pairs, not yet encoded.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(&'static str, String)>,
    /// `offset`/`limit` applied to the answer when the API itself does not page.
    pub client_page: Option<ClientPage>,
    /// Arguments that cannot be sent as a path segment; the request must not go out.
    pub problems: Vec<String>,
}

/// A slice of a list answer, taken by the dispatcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientPage {
    pub offset: usize,
    pub limit: Option<usize>,
}

impl RequestParts {
    pub fn new(method: &'static str) -> Self {
        RequestParts {
            method,
            path: String::new(),
            query: Vec::new(),
            headers: Vec::new(),
            client_page: None,
            problems: Vec::new(),
        }
    }

    /// Appends literal path text from the spec's template.
    pub fn literal(&mut self, text: &str) {
        self.path.push_str(text);
    }

    /// Appends one path segment taken from argument `arg`, percent-encoded. An empty value,
    /// `.` or `..` is refused (recorded in `problems`): URL parsers read `%2E%2E` as `..`, so
    /// encoding alone would not keep such a value from moving the request to another path.
    pub fn segment_arg(&mut self, arg: &str, value: &dyn Display) {
        let v = value.to_string();
        if v.is_empty() || v.chars().all(|c| c == '.') {
            self.problems.push(format!(
                "argument `{arg}`: {v:?} is not an id; expected the resource's id as returned by the list tool"
            ));
            self.path.push('_');
            return;
        }
        self.segment(v);
    }

    /// Appends one fixed path segment, percent-encoded.
    pub fn segment(&mut self, value: impl Display) {
        self.path
            .extend(utf8_percent_encode(&value.to_string(), SEGMENT));
    }

    pub fn query(&mut self, name: &str, value: impl Display) {
        self.query.push((name.to_string(), value.to_string()));
    }

    pub fn header(&mut self, name: &'static str, value: impl Display) {
        self.headers.push((name, value.to_string()));
    }

    /// `{"name": "web"}` becomes `filter.name=web`.
    pub fn filters(&mut self, filters: &BTreeMap<String, String>) {
        for (k, v) in filters {
            self.query.push((format!("filter.{k}"), v.clone()));
        }
    }

    pub fn client_page(&mut self, offset: Option<i64>, limit: Option<i64>) {
        if offset.is_none() && limit.is_none() {
            return;
        }
        self.client_page = Some(ClientPage {
            offset: offset.and_then(|o| usize::try_from(o).ok()).unwrap_or(0),
            limit: limit.and_then(|l| usize::try_from(l).ok()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cannot_escape_their_place() {
        let mut r = RequestParts::new("GET");
        r.literal("/datacenters/");
        r.segment_arg("datacenter_id", &"../x?y#z%2F/ä");
        assert_eq!(r.path, "/datacenters/..%2Fx%3Fy%23z%252F%2F%C3%A4");
        for bad in ["..", ".", ""] {
            let mut r = RequestParts::new("GET");
            r.literal("/a/");
            r.segment_arg("server_id", &bad);
            assert_eq!(r.problems.len(), 1, "{bad:?} accepted");
            assert!(r.problems[0].contains("`server_id`"), "{}", r.problems[0]);
        }
        let mut r = RequestParts::new("GET");
        r.segment_arg("server_id", &"a..b");
        assert!(r.problems.is_empty());
        assert_eq!(r.path, "a..b");
    }

    #[test]
    fn filters_and_client_page() {
        let mut r = RequestParts::new("GET");
        r.filters(&BTreeMap::from([("name".to_string(), "web".to_string())]));
        r.client_page(Some(2), None);
        assert_eq!(
            r.query,
            vec![("filter.name".to_string(), "web".to_string())]
        );
        assert_eq!(
            r.client_page,
            Some(ClientPage {
                offset: 2,
                limit: None
            })
        );
    }
}
