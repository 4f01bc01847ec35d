//! Products that are flat collections of resources (Certificate Manager, Object Storage
//! management): `GET /<collection>` pages and filters, `GET /<collection>/<id>` answers one.
//! Each product is a JSON file: its prefix and, per collection, the resource type, the
//! `filter.<name>` parameters with the property each compares, and the items.

use std::collections::BTreeMap;

use axum::http::Method;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::paas::{self, ListRequest};
use super::{Incoming, Product, reply};

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
}

impl Catalog {
    pub fn new(origin: &str, prefix: &'static str, json: &str) -> Result<Catalog, String> {
        let data: Data =
            serde_json::from_str(json).map_err(|e| format!("simulated {prefix}: {e}"))?;
        Ok(Catalog {
            prefix,
            base: format!("{}{prefix}", origin.trim_end_matches('/')),
            data,
        })
    }

    fn resource(&self, name: &str, c: &Collection, item: &Item) -> Value {
        paas::resource(
            &item.id,
            &c.kind,
            &format!("{}/{name}/{}", self.base, item.id),
            item.metadata.clone(),
            item.properties.clone(),
        )
    }
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
