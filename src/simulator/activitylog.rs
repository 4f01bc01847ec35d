//! The Activity Log at `/activitylog/v1`: the contract's events, generated at start relative to
//! today over the last 30 days — changes to servers, volumes, firewall rules and node pools,
//! logins, and the request-status polls IONOS records as events too.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::{Incoming, Product, reply};
use crate::behaviour::Day;

/// What happened, per event template: (action, URI, resource action, resource type, id).
const CHANGES: [(&str, &str, &str, &str, &str); 6] = [
    (
        "POST",
        "/cloudapi/v6/datacenters/b5634021-a867-4b94-a0ff-eafb37fd3e19/servers",
        "vm.server.create",
        "server",
        "12162318-0bc5-411c-b04a-496db641b374",
    ),
    (
        "PATCH",
        "/cloudapi/v6/datacenters/b5634021-a867-4b94-a0ff-eafb37fd3e19/volumes/5a0ee614-eacc-4602-a4fb-878188e952fb",
        "vm.volume.update",
        "volume",
        "5a0ee614-eacc-4602-a4fb-878188e952fb",
    ),
    (
        "POST",
        "/cloudapi/v6/datacenters/a4a88589-68a0-440e-bdfb-1d539ea57e95/servers/e77d8d89-4119-4c22-91e9-72ebdea412fd/stop",
        "vm.server.stop",
        "server",
        "e77d8d89-4119-4c22-91e9-72ebdea412fd",
    ),
    (
        "POST",
        "/cloudapi/v6/datacenters/b5634021-a867-4b94-a0ff-eafb37fd3e19/servers/f08daf45-aff9-46b7-8327-9da5be749620/nics/60ed6e63-53ec-4817-8ec0-f65b8b19653a/firewallrules",
        "net.firewallrule.create",
        "firewall-rule",
        "d6aa2b80-1a26-49f9-b35e-da2a24c9231d",
    ),
    (
        "PUT",
        "/cloudapi/v6/k8s/fedb619e-a826-41f4-8cc7-3c658b1ec890/nodepools/c4062242-21a4-4edc-aee6-ee1955423b70",
        "k8s.nodepool.update",
        "nodepool",
        "c4062242-21a4-4edc-aee6-ee1955423b70",
    ),
    (
        "POST",
        "/auth/v1/tokens/generate",
        "sec.token.generate",
        "token",
        "c3e8f1a7-5b2d-4c9e-8f60-1a7d3b5e9c24",
    ),
];

const USERS: [&str; 3] = [
    "ops@example-shop.de",
    "dev@example-shop.de",
    "ci@example-shop.de",
];

pub struct ActivityLog {
    origin: String,
    contract: i64,
    /// (day, event), newest first.
    events: Vec<(Day, Value)>,
}

impl ActivityLog {
    pub fn new(origin: &str, contract: i64) -> ActivityLog {
        let today = Day::today();
        let mut events = Vec::new();
        // 40 events over 30 days: every third one is a status poll of the request before.
        for i in 0..40i64 {
            let day = Day(today.0 - (i * 3) / 4);
            let hour = 20 - (i % 12);
            let user = USERS[(i % 3) as usize];
            let request_id = format!("7c1e{:04x}-0000-4000-8000-{:012x}", i, i * 7919);
            let event = if i % 3 == 2 {
                json!({
                    "param": {"action": "GET", "uri": format!("/cloudapi/v6/requests/{request_id}/status"), "initiator": "PUBLIC_REST_V6"},
                    "resources": [{"action": ["request.status.get"], "type": "request", "id": request_id}],
                    "message": "Request status polled",
                    "status": "DONE",
                    "type": "request-status",
                })
            } else {
                let (action, uri, res_action, res_type, id) = CHANGES[(i % 6) as usize];
                json!({
                    "param": {"action": action, "uri": uri, "initiator": "PUBLIC_REST_V6"},
                    "resources": [{"action": [res_action], "type": res_type, "id": id}],
                    "message": format!("{res_action} completed"),
                    "status": "DONE",
                    "type": "provisioning",
                })
            };
            let source = json!({
                "_source": {
                    "principal": {
                        "sourceIP": format!("198.51.100.{}", 10 + i % 5),
                        "identity": {"contractNumber": contract, "username": user},
                        "sourceService": "PUBLIC_REST_V6",
                    },
                    "meta": {
                        "auditVersion": 0.1,
                        "requestId": request_id,
                        "queueRefId": 900_000 + i,
                        "timestamp": format!("{day}T{hour:02}:{:02}:00Z", (i * 7) % 60),
                    },
                    "event": event,
                }
            });
            events.push((day, source));
        }
        ActivityLog {
            origin: origin.trim_end_matches('/').to_string(),
            contract,
            events,
        }
    }

    fn events(&self, query: &[(String, String)]) -> Response {
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let date = |k: &str| -> Result<Option<Day>, String> {
            match get(k) {
                None => Ok(None),
                Some(v) => Day::parse(v)
                    .map(Some)
                    .ok_or_else(|| format!("{k} must be a date as YYYY-MM-DD, got '{v}'")),
            }
        };
        let number = |k: &str, default: usize| -> Result<usize, String> {
            match get(k) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| format!("{k} must be a whole number, got '{v}'")),
            }
        };
        let parsed = (|| {
            Ok::<_, String>((
                date("dateStart")?,
                date("dateEnd")?,
                number("offset", 0)?,
                number("limit", 100)?,
            ))
        })();
        let (start, end, offset, limit) = match parsed {
            Ok(p) => p,
            Err(m) => return reply::bad_request(&m),
        };
        let hits: Vec<&Value> = self
            .events
            .iter()
            .filter(|(d, _)| start.is_none_or(|s| *d >= s) && end.is_none_or(|e| *d <= e))
            .map(|(_, v)| v)
            .collect();
        let total = hits.len();
        let page: Vec<&Value> = hits.into_iter().skip(offset).take(limit).collect();
        reply::json(
            StatusCode::OK,
            &json!({"hits": {"total": total, "hits": page}}),
            false,
        )
    }
}

impl Product for ActivityLog {
    fn prefix(&self) -> &'static str {
        "/activitylog/v1"
    }

    fn handle(&self, req: &Incoming<'_>) -> Response {
        if req.method != Method::GET {
            return reply::method_not_allowed();
        }
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        match segs.as_slice() {
            [] => reply::json(
                StatusCode::OK,
                &json!({"href": format!("{}/activitylog/v1", self.origin), "name": "Activity Log API", "version": "1.0.0"}),
                false,
            ),
            ["contracts"] => reply::json(
                StatusCode::OK,
                &json!([{"id": self.contract, "type": "contract", "href": format!("{}/activitylog/v1/contracts/{}", self.origin, self.contract)}]),
                false,
            ),
            ["contracts", n] if n.parse::<i64>().ok() == Some(self.contract) => {
                self.events(req.query)
            }
            ["contracts", n] => reply::error(
                StatusCode::NOT_FOUND,
                "404",
                &format!("Contract {n} not found or not accessible with these credentials"),
            ),
            _ => reply::not_found(),
        }
    }
}
