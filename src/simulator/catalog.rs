//! Products that are flat collections of resources (Certificate Manager, Object Storage
//! management): `GET /<collection>` pages and filters, `GET /<collection>/<id>` answers one.
//! Each product is a JSON file: its prefix and, per collection, the resource type, the
//! `filter.<name>` parameters with the property each compares, and the items.
//!
//! Dates may be relative to the day the simulator starts: `${today-40}` in any string becomes
//! that day as `YYYY-MM-DD`. `${origin}` becomes the simulator's origin (`http://127.0.0.1:PORT`),
//! for properties that point at another simulated API. A resource whose metadata has
//! `notAfter` (a certificate) gets `expired` from it.

use std::collections::BTreeMap;

use axum::http::Method;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::paas::{self, ListRequest};
use super::{Incoming, Product, reply};
use crate::tools::behaviour::Day;

#[derive(Deserialize)]
struct Data {
    collections: BTreeMap<String, Collection>,
}

#[derive(Deserialize)]
struct Collection {
    /// `type` of each resource.
    kind: String,
    /// What `{id}` names in a 404 message.
    noun: String,
    /// `filter.<name>` -> JSON pointer into the resource (matched case-insensitively:
    /// `contains` for text, equality for booleans).
    #[serde(default)]
    filters: BTreeMap<String, String>,
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    id: String,
    metadata: Map<String, Value>,
    properties: Map<String, Value>,
}

pub struct Catalog {
    prefix: &'static str,
    base: String,
    data: Data,
    /// `YYYY-MM-DDT00:00:00Z` of the start day, for `expired`.
    today: String,
}

impl Catalog {
    pub fn new(origin: &str, prefix: &'static str, json: &str) -> Result<Catalog, String> {
        let today = Day::today();
        let origin = origin.trim_end_matches('/');
        let json = relative_dates(&json.replace("${origin}", origin), today)
            .map_err(|e| format!("simulated {prefix}: {e}"))?;
        let data: Data =
            serde_json::from_str(&json).map_err(|e| format!("simulated {prefix}: {e}"))?;
        Ok(Catalog {
            prefix,
            base: format!("{origin}{prefix}"),
            data,
            today: format!("{today}T00:00:00Z"),
        })
    }

    fn resource(&self, name: &str, c: &Collection, item: &Item) -> Value {
        let mut metadata = item.metadata.clone();
        if let Some(not_after) = metadata.get("notAfter").and_then(Value::as_str) {
            let expired = not_after < self.today.as_str();
            metadata.insert("expired".into(), Value::Bool(expired));
        }
        paas::resource(
            &item.id,
            &c.kind,
            &format!("{}/{name}/{}", self.base, item.id),
            metadata,
            item.properties.clone(),
        )
    }
}

/// `${today}`, `${today-40}`, `${today+50}` -> that day as `YYYY-MM-DD`.
pub(super) fn relative_dates(text: &str, today: Day) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${today") {
        out.push_str(&rest[..start]);
        let after = &rest[start + "${today".len()..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated date near {}", &rest[start..]))?;
        let offset = match &after[..end] {
            "" => 0,
            days => days
                .strip_prefix('+')
                .unwrap_or(days)
                .parse::<i64>()
                .map_err(|_| format!("bad relative date ${{today{days}}}"))?,
        };
        out.push_str(&Day(today.0 + offset).to_string());
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn matches(value: Option<&Value>, wanted: &str) -> bool {
    match value {
        Some(Value::Bool(b)) => wanted.eq_ignore_ascii_case(&b.to_string()),
        other => paas::contains(other, wanted),
    }
}

impl Product for Catalog {
    fn prefix(&self) -> &'static str {
        self.prefix
    }

    fn handle(&self, req: &Incoming<'_>) -> Response {
        if req.method != Method::GET {
            return reply::method_not_allowed();
        }
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let (name, id) = match segs.as_slice() {
            [name] => (*name, None),
            [name, id] => (*name, Some(*id)),
            _ => return reply::not_found(),
        };
        let Some(c) = self.data.collections.get(name) else {
            return reply::not_found();
        };
        match id {
            Some(id) => match c.items.iter().find(|i| i.id == id) {
                Some(item) => paas::ok(&self.resource(name, c, item)),
                None => paas::not_found(&format!("{} {id} not found", c.noun)),
            },
            None => {
                let names: Vec<&str> = c.filters.keys().map(String::as_str).collect();
                let r = match ListRequest::parse(req.query, &names) {
                    Ok(r) => r,
                    Err(m) => return paas::bad_request(&m),
                };
                let items: Vec<Value> = c
                    .items
                    .iter()
                    .map(|i| self.resource(name, c, i))
                    .filter(|v| {
                        r.filters.iter().all(|(f, wanted)| {
                            c.filters
                                .get(f)
                                .is_some_and(|ptr| matches(v.pointer(ptr), wanted))
                        })
                    })
                    .collect();
                let href = format!("{}/{name}", self.base);
                paas::ok(&paas::list(&paas::uuid_from(&href), &href, items, &r))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_dates_are_days_from_today() {
        let today = Day::parse("2026-03-01").expect("date");
        assert_eq!(
            relative_dates(
                r#"{"a": "${today-1}T05:00:00Z", "b": "${today+31}", "c": "${today}"}"#,
                today
            ),
            Ok(
                r#"{"a": "2026-02-28T05:00:00Z", "b": "2026-04-01", "c": "2026-03-01"}"#
                    .to_string()
            )
        );
        assert!(relative_dates("${today-x}", today).is_err());
        assert!(relative_dates("${today-1", today).is_err());
    }

    #[test]
    fn certificates_expire_by_their_end_date() {
        let c = Catalog::new("http://h", "/certmanager", include_str!("certmanager.json"))
            .expect("data");
        let certs = &c.data.collections["certificates"];
        let expired: Vec<(&str, bool)> = certs
            .items
            .iter()
            .map(|i| {
                let r = c.resource("certificates", certs, i);
                (i.id.as_str(), r["metadata"]["expired"] == true)
            })
            .collect();
        assert_eq!(
            expired,
            [
                ("b8c1f0d2-4e6a-4c8e-9f1b-3d5f7a9c1e20", false),
                ("9946151d-f5b2-4ea5-ac46-38abd167bcd2", false),
                ("c9d2a1e3-5f7b-4d9f-a02c-4e6a8b0d2f31", true),
            ]
        );
    }
}
