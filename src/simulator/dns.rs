//! Cloud DNS at `/dns`: zones with records and DNSSEC keys, a secondary zone with its transfer
//! status, reverse records and the quota, from `dns.json`. Zone files are generated in BIND
//! format from the zone's records.

use std::fmt::Write as _;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::paas::{self, ListRequest};
use super::{Incoming, Product, reply};

/// The list parameters, or the 400 answer for bad ones (returned from the handler).
macro_rules! list_request {
    ($query:expr, $filters:expr) => {
        match ListRequest::parse($query, $filters) {
            Ok(r) => r,
            Err(m) => return paas::bad_request(&m),
        }
    };
}

#[derive(Deserialize)]
struct Data {
    zones: Vec<Zone>,
    #[serde(rename = "secondaryZones")]
    secondary_zones: Vec<Zone>,
    #[serde(rename = "reverseRecords")]
    reverse_records: Vec<Item>,
    quota: Quota,
}

/// The quota's limits; its usage is counted from the data.
#[derive(Deserialize)]
struct Quota {
    #[serde(rename = "quotaLimits")]
    limits: Value,
}

#[derive(Deserialize, Clone)]
struct Item {
    id: String,
    properties: Map<String, Value>,
    metadata: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct Zone {
    id: String,
    properties: Map<String, Value>,
    metadata: Map<String, Value>,
    #[serde(default)]
    records: Vec<Item>,
    #[serde(default)]
    keys: Option<Map<String, Value>>,
    #[serde(default)]
    axfr: Vec<Value>,
}

impl Zone {
    fn name(&self) -> &str {
        self.properties
            .get("zoneName")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

pub struct Dns {
    base: String,
    data: Data,
}

impl Dns {
    pub fn new(origin: &str) -> Result<Dns, String> {
        let data: Data =
            serde_json::from_str(include_str!("dns.json")).map_err(|e| format!("dns.json: {e}"))?;
        Ok(Dns {
            base: format!("{}/dns", origin.trim_end_matches('/')),
            data,
        })
    }

    fn zone(&self, z: &Zone, kind: &str, path: &str) -> Value {
        paas::resource(
            &z.id,
            kind,
            &format!("{}/{path}/{}", self.base, z.id),
            z.metadata.clone(),
            z.properties.clone(),
        )
    }

    fn record(&self, zone: &Zone, r: &Item) -> Value {
        let name = r
            .properties
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let fqdn = if name.is_empty() {
            zone.name().to_string()
        } else {
            format!("{name}.{}", zone.name())
        };
        let mut meta = zone.metadata.clone();
        meta.remove("nameservers");
        meta.insert("fqdn".into(), json!(fqdn));
        meta.insert("zoneId".into(), json!(zone.id));
        paas::resource(
            &r.id,
            "record",
            &format!("{}/zones/{}/records/{}", self.base, zone.id, r.id),
            meta,
            r.properties.clone(),
        )
    }

    fn find<'a>(zones: &'a [Zone], id: &str) -> Option<&'a Zone> {
        zones.iter().find(|z| z.id == id)
    }

    fn list(&self, path: &str, items: Vec<Value>, q: &ListRequest) -> Response {
        let href = format!("{}/{path}", self.base);
        paas::ok(&paas::list(&paas::uuid_from(&href), &href, items, q))
    }
}

/// The zone as a BIND zone file.
fn zone_file(zone: &Zone) -> String {
    let origin = format!("{}.", zone.name());
    let ns: Vec<&str> = zone
        .metadata
        .get("nameservers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // The SOA serial is the day of the last change, as YYYYMMDDnn.
    let serial: String = zone
        .metadata
        .get("lastModifiedDate")
        .and_then(Value::as_str)
        .unwrap_or("2025-01-01")
        .chars()
        .take(10)
        .filter(char::is_ascii_digit)
        .collect();
    let mut out = String::new();
    let _ = writeln!(out, "$ORIGIN {origin}");
    let _ = writeln!(out, "$TTL 3600");
    let _ = writeln!(
        out,
        "@\tIN\tSOA\t{}. hostmaster.{origin} ({serial}01 86400 7200 3600000 3600)",
        ns.first().copied().unwrap_or("ns-ic.ui-dns.com")
    );
    for n in &ns {
        let _ = writeln!(out, "@\t86400\tIN\tNS\t{n}.");
    }
    for r in zone.records.iter() {
        let p = &r.properties;
        if p.get("enabled").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
        let name = if name.is_empty() { "@" } else { name };
        let ttl = p.get("ttl").and_then(Value::as_i64).unwrap_or(3600);
        let kind = p.get("type").and_then(Value::as_str).unwrap_or("A");
        let content = p.get("content").and_then(Value::as_str).unwrap_or("");
        let content = match kind {
            "CNAME" | "MX" | "NS" if !content.ends_with('.') => format!("{content}."),
            _ => content.to_string(),
        };
        match p.get("priority").and_then(Value::as_i64) {
            Some(prio) => {
                let _ = writeln!(out, "{name}\t{ttl}\tIN\t{kind}\t{prio} {content}");
            }
            None => {
                let _ = writeln!(out, "{name}\t{ttl}\tIN\t{kind}\t{content}");
            }
        }
    }
    out
}

impl Product for Dns {
    fn prefix(&self) -> &'static str {
        "/dns"
    }

    fn handle(&self, req: &Incoming<'_>) -> Response {
        if req.method != Method::GET {
            return reply::method_not_allowed();
        }
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let q = req.query;
        let zones = &self.data.zones;
        let secondary = &self.data.secondary_zones;
        let zone_missing = |id: &str| paas::not_found(&format!("Zone {id} not found"));
        match segs.as_slice() {
            ["zones"] => {
                let r = list_request!(q, &["state", "zoneName"]);
                let items = zones
                    .iter()
                    .filter(|z| {
                        r.filter("zoneName")
                            .is_none_or(|n| paas::contains(z.properties.get("zoneName"), n))
                            && r.filter("state")
                                .is_none_or(|s| paas::equals(z.metadata.get("state"), s))
                    })
                    .map(|z| self.zone(z, "zone", "zones"))
                    .collect();
                self.list("zones", items, &r)
            }
            ["zones", id] => match Self::find(zones, id) {
                Some(z) => paas::ok(&self.zone(z, "zone", "zones")),
                None => zone_missing(id),
            },
            ["zones", id, "records"] => match Self::find(zones, id) {
                Some(z) => {
                    let r = list_request!(q, &[]);
                    let items = z.records.iter().map(|rec| self.record(z, rec)).collect();
                    self.list(&format!("zones/{id}/records"), items, &r)
                }
                None => zone_missing(id),
            },
            ["zones", id, "records", rid] => match Self::find(zones, id) {
                Some(z) => match z.records.iter().find(|r| r.id == *rid) {
                    Some(rec) => paas::ok(&self.record(z, rec)),
                    None => paas::not_found(&format!("Record {rid} not found in zone {id}")),
                },
                None => zone_missing(id),
            },
            ["zones", id, "zonefile"] => match Self::find(zones, id) {
                Some(z) => reply::with_type(StatusCode::OK, "text/plain", zone_file(z)),
                None => zone_missing(id),
            },
            ["zones", id, "keys"] => match Self::find(zones, id) {
                Some(Zone { keys: Some(k), .. }) => {
                    let mut props = k.clone();
                    let items = props.remove("items").unwrap_or(json!([]));
                    paas::ok(&json!({
                        "id": id,
                        "type": "dnssec-key",
                        "href": format!("{}/zones/{id}/keys", self.base),
                        "metadata": {"zoneId": id, "items": items},
                        "properties": props,
                    }))
                }
                Some(_) => paas::not_found(&format!("Zone {id} is not signed with DNSSEC")),
                None => zone_missing(id),
            },
            ["records"] => {
                let r = list_request!(q, &["zoneId", "name", "state", "type"]);
                let items = zones
                    .iter()
                    .filter(|z| r.filter("zoneId").is_none_or(|f| z.id == f))
                    .flat_map(|z| z.records.iter().map(move |rec| (z, rec)))
                    .filter(|(z, rec)| {
                        r.filter("name")
                            .is_none_or(|n| paas::contains(rec.properties.get("name"), n))
                            && r.filter("type")
                                .is_none_or(|t| paas::equals(rec.properties.get("type"), t))
                            && r.filter("state")
                                .is_none_or(|s| paas::equals(z.metadata.get("state"), s))
                    })
                    .map(|(z, rec)| self.record(z, rec))
                    .collect();
                self.list("records", items, &r)
            }
            ["secondaryzones"] => {
                let r = list_request!(q, &["state", "zoneName"]);
                let items = secondary
                    .iter()
                    .filter(|z| {
                        r.filter("zoneName")
                            .is_none_or(|n| paas::contains(z.properties.get("zoneName"), n))
                            && r.filter("state")
                                .is_none_or(|s| paas::equals(z.metadata.get("state"), s))
                    })
                    .map(|z| self.zone(z, "secondaryzone", "secondaryzones"))
                    .collect();
                self.list("secondaryzones", items, &r)
            }
            ["secondaryzones", id] => match Self::find(secondary, id) {
                Some(z) => paas::ok(&self.zone(z, "secondaryzone", "secondaryzones")),
                None => paas::not_found(&format!("Secondary zone {id} not found")),
            },
            ["secondaryzones", id, "records"] => match Self::find(secondary, id) {
                Some(z) => {
                    let r = list_request!(q, &[]);
                    let items = z
                        .records
                        .iter()
                        .map(|rec| {
                            let name = rec.properties.get("name").and_then(Value::as_str).unwrap_or("");
                            json!({
                                "type": "record",
                                "metadata": {
                                    "fqdn": if name.is_empty() { z.name().to_string() } else { format!("{name}.{}", z.name()) },
                                    "zoneId": z.id,
                                    "rootName": z.name(),
                                },
                                "properties": rec.properties,
                            })
                        })
                        .collect();
                    let href = format!("{}/secondaryzones/{id}/records", self.base);
                    let mut body = paas::list(&paas::uuid_from(&href), &href, items, &r);
                    body["metadata"] =
                        json!({"primaryIps": z.properties.get("primaryIps").unwrap_or(&json!([]))});
                    paas::ok(&body)
                }
                None => paas::not_found(&format!("Secondary zone {id} not found")),
            },
            ["secondaryzones", id, "axfr"] => match Self::find(secondary, id) {
                Some(z) => paas::ok(&json!({"type": "collection", "items": z.axfr})),
                None => paas::not_found(&format!("Secondary zone {id} not found")),
            },
            ["reverserecords"] => {
                let r = list_request!(q, &[]);
                let items = self
                    .data
                    .reverse_records
                    .iter()
                    .map(|rr| self.reverse(rr))
                    .collect();
                self.list("reverserecords", items, &r)
            }
            ["reverserecords", id] => {
                match self.data.reverse_records.iter().find(|r| r.id == *id) {
                    Some(rr) => paas::ok(&self.reverse(rr)),
                    None => paas::not_found(&format!("Reverse record {id} not found")),
                }
            }
            ["quota"] => paas::ok(&self.quota()),
            _ => reply::not_found(),
        }
    }
}

impl Dns {
    /// `{quotaUsage, quotaLimits}`, the usage counted from the data.
    fn quota(&self) -> Value {
        let d = &self.data;
        let records: usize = d.zones.iter().map(|z| z.records.len()).sum();
        json!({
            "quotaUsage": {
                "zones": d.zones.len(),
                "secondaryZones": d.secondary_zones.len(),
                "records": records,
                "reverseRecords": d.reverse_records.len(),
            },
            "quotaLimits": d.quota.limits,
        })
    }

    fn reverse(&self, rr: &Item) -> Value {
        paas::resource(
            &rr.id,
            "reverserecord",
            &format!("{}/reverserecords/{}", self.base, rr.id),
            rr.metadata.clone().unwrap_or_default(),
            rr.properties.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zone_file_is_bind_text() {
        let dns = Dns::new("http://h").expect("data");
        let text = zone_file(&dns.data.zones[0]);
        assert!(
            text.starts_with("$ORIGIN example-shop.de.\n$TTL 3600\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "@\tIN\tSOA\tns-ic.ui-dns.com. hostmaster.example-shop.de. (2025100101 86400 7200 3600000 3600)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("staging\t300\tIN\tA\t198.51.100.21"),
            "{text}"
        );
        // Disabled records are not served.
        let old = zone_file(&dns.data.zones[2]);
        assert!(!old.contains("\tIN\tA\t"), "{old}");
        assert!(
            text.contains("@\t86400\tIN\tNS\tns-ic.ui-dns.com."),
            "{text}"
        );
        assert!(text.contains("www\t3600\tIN\tA\t203.0.113.21"), "{text}");
        assert!(
            text.contains("api\t3600\tIN\tCNAME\twww.example-shop.de."),
            "{text}"
        );
        assert!(
            text.contains("@\t3600\tIN\tMX\t10 mx00.ionos.de."),
            "{text}"
        );
    }
}
