//! The Activity Log at `/activitylog/v1`: the contract's events, generated at start relative to
//! now over the last 30 days — changes to servers, volumes, firewall rules and node pools and
//! logins, on the resources of `cloudapi.json` — and the request-status polls IONOS records as
//! events too.
//!
//! A status poll is an event of its own: `event.param` is `GET .../requests/{id}/status` and its
//! resource's action is `request.status.get`, so a client can tell polls from changes.
//!
//! `GET /activitylog/v1/contracts/{contract}?dateStart&dateEnd&offset&limit` answers the events
//! of those days (inclusive, UTC), newest first, with `hits.total` counting all of them before
//! paging.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::paas;
use super::{Incoming, Product, reply};
use crate::tools::behaviour::Day;

/// Who acts, with the address they act from: automation, the operator, a developer.
const CI: (&str, &str) = ("ci@example-shop.de", "198.51.100.10");
const OPS: (&str, &str) = ("ops@example-shop.de", "203.0.113.200");
const DEV: (&str, &str) = ("dev@example-shop.de", "203.0.113.201");

/// One kind of change, done in turn on each of its targets.
struct Change {
    method: &'static str,
    /// The resource action, e.g. `vm.server.update`.
    action: &'static str,
    kind: &'static str,
    who: (&'static str, &'static str),
    /// (URI, resource id, message) per target.
    targets: &'static [(&'static str, &'static str, &'static str)],
}

/// The changes, repeated in this order from now backwards.
const CHANGES: [Change; 7] = [
    Change {
        method: "PATCH",
        action: "vm.volume.resize",
        kind: "volume",
        who: OPS,
        targets: &[
            (
                "/cloudapi/v6/datacenters/b5634021-a867-4b94-a0ff-eafb37fd3e19/volumes/5a0ee614-eacc-4602-a4fb-878188e952fb",
                "5a0ee614-eacc-4602-a4fb-878188e952fb",
                "Volume db-01-data resized from 400 GB to 500 GB",
            ),
            (
                "/cloudapi/v6/datacenters/b5634021-a867-4b94-a0ff-eafb37fd3e19/volumes/8863710a-c892-4cad-b3c5-77736edb7e39",
                "8863710a-c892-4cad-b3c5-77736edb7e39",
                FAILED_RESIZE,
            ),
            (
                "/cloudapi/v6/datacenters/0535f2e7-5d7d-45bc-86c3-df9ee1cff25f/volumes/891a2c52-c454-4101-bfac-6da279a378e3",
                "891a2c52-c454-4101-bfac-6da279a378e3",
                "Volume replica-01-data resized from 250 GB to 500 GB",
            ),
        ],
    },
    Change {
        method: "PATCH",
        action: "vm.server.update",
        kind: "server",
        who: OPS,
        targets: &[
            (
                "/cloudapi/v6/datacenters/b5634021-a867-4b94-a0ff-eafb37fd3e19/servers/f7adc815-1cfa-43ce-9e94-d4b4d8f2b935",
                "f7adc815-1cfa-43ce-9e94-d4b4d8f2b935",
                "Server db-01 updated: cores 4 -> 8",
            ),
            (
                "/cloudapi/v6/datacenters/b5634021-a867-4b94-a0ff-eafb37fd3e19/servers/f08daf45-aff9-46b7-8327-9da5be749620",
                "f08daf45-aff9-46b7-8327-9da5be749620",
                "Server web-01 updated: ram 8192 MB -> 16384 MB",
            ),
            (
                "/cloudapi/v6/datacenters/b5634021-a867-4b94-a0ff-eafb37fd3e19/servers/12162318-0bc5-411c-b04a-496db641b374",
                "12162318-0bc5-411c-b04a-496db641b374",
                "Server web-02 updated: ram 8192 MB -> 16384 MB",
            ),
        ],
    },
    Change {
        method: "POST",
        action: "vr.firewallrule.create",
        kind: "firewallrule",
        who: DEV,
        targets: &[
            (
                "/cloudapi/v6/datacenters/b5634021-a867-4b94-a0ff-eafb37fd3e19/servers/f08daf45-aff9-46b7-8327-9da5be749620/nics/60ed6e63-53ec-4817-8ec0-f65b8b19653a/firewallrules",
                "d6aa2b80-1a26-49f9-b35e-da2a24c9231d",
                "Firewall rule allow-ssh-office created on web-01",
            ),
            (
                "/cloudapi/v6/datacenters/b5634021-a867-4b94-a0ff-eafb37fd3e19/servers/12162318-0bc5-411c-b04a-496db641b374/nics/efeca3fb-42e0-42ba-8596-23baa1f9521c/firewallrules",
                "aebcf57b-0350-4e9f-9c41-244fa3dd36d7",
                "Firewall rule allow-ssh-office created on web-02",
            ),
        ],
    },
    Change {
        method: "PUT",
        action: "k8s.nodepool.update",
        kind: "nodepool",
        who: CI,
        targets: &[
            (
                "/cloudapi/v6/k8s/fedb619e-a826-41f4-8cc7-3c658b1ec890/nodepools/c4062242-21a4-4edc-aee6-ee1955423b70",
                "c4062242-21a4-4edc-aee6-ee1955423b70",
                "Node pool batch scaled from 3 to 1 nodes",
            ),
            (
                "/cloudapi/v6/k8s/fedb619e-a826-41f4-8cc7-3c658b1ec890/nodepools/73ea32d4-5d30-4175-a475-9b6371a43f10",
                "73ea32d4-5d30-4175-a475-9b6371a43f10",
                "Node pool general scaled from 4 to 3 nodes",
            ),
        ],
    },
    Change {
        method: "POST",
        action: "vm.server.stop",
        kind: "server",
        who: DEV,
        targets: &[
            (
                "/cloudapi/v6/datacenters/a4a88589-68a0-440e-bdfb-1d539ea57e95/servers/e77d8d89-4119-4c22-91e9-72ebdea412fd/stop",
                "e77d8d89-4119-4c22-91e9-72ebdea412fd",
                "Server legacy-app-01 stopped",
            ),
            (
                "/cloudapi/v6/datacenters/b5634021-a867-4b94-a0ff-eafb37fd3e19/servers/b81d0459-2475-4693-993b-809b01671c5b/stop",
                "b81d0459-2475-4693-993b-809b01671c5b",
                "Server ml-gpu-01 stopped",
            ),
        ],
    },
    Change {
        method: "POST",
        action: "sec.user.login",
        kind: "user",
        who: OPS,
        targets: &[(
            "/dcd/login",
            "988d7afa-1145-48ee-953d-79f2278286b1",
            "User logged in to the Data Center Designer",
        )],
    },
    Change {
        method: "POST",
        action: "vm.server.create",
        kind: "server",
        who: CI,
        targets: &[
            (
                "/cloudapi/v6/datacenters/a4a88589-68a0-440e-bdfb-1d539ea57e95/servers",
                "8aa25130-32ec-495b-821c-90387a15b5d0",
                "Server app-cube-01 created",
            ),
            (
                "/cloudapi/v6/datacenters/0535f2e7-5d7d-45bc-86c3-df9ee1cff25f/servers",
                "c0fdcc38-7a0d-41d2-b617-cf5e2ada3c23",
                "Server replica-01 created",
            ),
        ],
    },
];

/// The resize the Cloud API's request 90b64fa0-… refused (see `cloudapi.json`).
const FAILED_RESIZE: &str =
    "[VDC-5-1816] The requested size exceeds the resource limit for HDD volumes on this contract.";
const FAILED_REQUEST: &str = "90b64fa0-51ab-48e8-bb7f-77ca84bcb9b5";

/// How many changes the log holds; every other one of the Cloud API's is followed by polls of
/// its request's status (logins are not requests).
const CHANGE_COUNT: i64 = 28;

pub struct ActivityLog {
    origin: String,
    contract: i64,
    /// (day, hit), newest first.
    events: Vec<(Day, Value)>,
}

impl ActivityLog {
    pub fn new(origin: &str, contract: i64) -> ActivityLog {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
            .unwrap_or(0);
        ActivityLog::at(origin, contract, now)
    }

    /// The log as it is at `now` (seconds since 1970).
    fn at(origin: &str, contract: i64, now: i64) -> ActivityLog {
        let today_start = now - now.rem_euclid(86_400);
        let mut events: Vec<(i64, Value)> = Vec::new();
        for k in 0..CHANGE_COUNT {
            let change = &CHANGES[(k % 7) as usize];
            let round = (k / 7) as usize;
            let (uri, id, message) = change.targets[round % change.targets.len()];
            // The newest change happened 20 minutes ago; the others on the days before, one
            // a day or so, during working hours.
            let time = if k == 0 {
                (now - 1200).max(today_start)
            } else {
                let days_back = k * 29 / 27;
                today_start - days_back * 86_400 + (8 + (k * 5) % 11) * 3600 + (k * 17 % 60) * 60
            };
            let failed = message == FAILED_RESIZE;
            let request_id = if failed {
                FAILED_REQUEST.to_string()
            } else {
                paas::uuid_from(&format!("activity-request-{k}"))
            };
            let login = change.action == "sec.user.login";
            let service = if login { "DCD" } else { "PUBLIC_REST_V6" };
            let (user, ip) = change.who;
            events.push((
                time,
                hit(
                    contract,
                    (user, ip, service),
                    &request_id,
                    k,
                    time,
                    json!({
                        "param": {"action": change.method, "uri": uri, "initiator": service, "sourceService": service},
                        "resources": [{"action": [change.action], "type": change.kind, "id": id}],
                        "message": message,
                        "status": if failed { "FAILED" } else { "DONE" },
                        "type": if login { "DCDUserEvent" } else { "RequestAccepted" },
                    }),
                ),
            ));
            if k % 2 == 0 && !login {
                // The client polls the request until it is done.
                let at = (time + 20 + (k % 3) * 5).min(now);
                let poll = paas::uuid_from(&format!("activity-poll-{k}"));
                events.push((
                    at,
                    hit(
                        contract,
                        (user, ip, service),
                        &poll,
                        k,
                        at,
                        json!({
                            "param": {
                                "action": "GET",
                                "uri": format!("/cloudapi/v6/requests/{request_id}/status"),
                                "initiator": service,
                                "sourceService": service,
                            },
                            "resources": [{"action": ["request.status.get"], "type": "request", "id": request_id}],
                            "message": "Request status retrieved",
                            "status": "DONE",
                            "type": "RequestAccepted",
                        }),
                    ),
                ));
            }
        }
        // Newest first.
        events.sort_by_key(|e| std::cmp::Reverse(e.0));
        ActivityLog {
            origin: origin.trim_end_matches('/').to_string(),
            contract,
            events: events
                .into_iter()
                .map(|(t, v)| (Day(t.div_euclid(86_400)), v))
                .collect(),
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
        let number = |k: &str, default: usize, min: usize, max: usize| match get(k) {
            None => Ok(default),
            Some(v) => paas::number(k, v, min, max),
        };
        let parsed = (|| {
            Ok::<_, String>((
                date("dateStart")?,
                date("dateEnd")?,
                number("offset", 0, 0, i32::MAX as usize)?,
                number("limit", 100, 1, 10_000)?,
            ))
        })();
        let (start, end, offset, limit) = match parsed {
            Ok(p) => p,
            Err(m) => return reply::bad_request(&m),
        };
        if let (Some(s), Some(e)) = (start, end)
            && s > e
        {
            return reply::bad_request(&format!("dateStart {s} is after dateEnd {e}"));
        }
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

/// One hit: who (user, address, service), the request, when, and what happened.
fn hit(
    contract: i64,
    (user, ip, service): (&str, &str, &str),
    request_id: &str,
    k: i64,
    time: i64,
    event: Value,
) -> Value {
    let day = Day(time.div_euclid(86_400));
    let secs = time.rem_euclid(86_400);
    json!({
        "_source": {
            "principal": {
                "sourceIP": ip,
                "identity": {"contractNumber": contract, "username": user},
                "sourceService": service,
                "serviceHost": if service == "DCD" { "dcd.ionos.com" } else { "api.ionos.com" },
            },
            "meta": {
                "auditVersion": 0.1,
                "requestId": request_id,
                "queueRefId": 4_200_000 + k,
                "time": format!("{day}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60),
                "transactionId": paas::uuid_from(&format!("activity-transaction-{request_id}")),
            },
            "event": event,
        }
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-03-10T10:00:00Z
    fn now() -> i64 {
        Day::parse("2026-03-10").expect("date").0 * 86_400 + 36_000
    }

    fn is_poll(hit: &Value) -> bool {
        let e = &hit["_source"]["event"];
        e["param"]["action"] == "GET"
            && e["param"]["uri"]
                .as_str()
                .is_some_and(|u| u.contains("/requests/") && u.ends_with("/status"))
            && e["resources"][0]["action"] == json!(["request.status.get"])
    }

    fn time(hit: &Value) -> &str {
        hit["_source"]["meta"]["time"].as_str().unwrap_or_default()
    }

    #[test]
    fn forty_events_over_thirty_days_newest_first() {
        let log = ActivityLog::at("http://h", 31_000_000, now());
        assert_eq!(log.events.len(), 40);
        let polls = log.events.iter().filter(|(_, v)| is_poll(v)).count();
        assert_eq!(polls, 12);
        let times: Vec<&str> = log.events.iter().map(|(_, v)| time(v)).collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
        assert_eq!(times[0], "2026-03-10T09:40:20Z");
        assert_eq!(times[1], "2026-03-10T09:40:00Z");
        assert!(times[39].starts_with("2026-02-09T"), "{}", times[39]);
        // Every poll names a request of a change before it.
        for (_, poll) in log.events.iter().filter(|(_, v)| is_poll(v)) {
            let id = poll["_source"]["event"]["resources"][0]["id"].as_str();
            assert!(
                log.events.iter().any(|(_, v)| !is_poll(v)
                    && v["_source"]["meta"]["requestId"].as_str() == id
                    && time(v) < time(poll)),
                "{poll}"
            );
        }
        // The refused resize is the Cloud API's failed request.
        let failed: Vec<&Value> = log
            .events
            .iter()
            .map(|(_, v)| v)
            .filter(|v| v["_source"]["event"]["status"] == "FAILED")
            .collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0]["_source"]["meta"]["requestId"], FAILED_REQUEST);
    }

    #[test]
    fn the_last_week_has_every_kind_of_event() {
        let log = ActivityLog::at("http://h", 31_000_000, now());
        let week: Vec<&Value> = log
            .events
            .iter()
            .filter(|(d, _)| d.0 >= Day::parse("2026-03-03").map_or(0, |d| d.0))
            .map(|(_, v)| v)
            .collect();
        assert_eq!(week.len(), 12);
        assert_eq!(week.iter().filter(|v| is_poll(v)).count(), 4);
        let actions: Vec<&str> = week
            .iter()
            .filter(|v| !is_poll(v))
            .filter_map(|v| v["_source"]["event"]["resources"][0]["action"][0].as_str())
            .collect();
        assert_eq!(
            actions,
            [
                "vm.volume.resize",
                "vm.server.update",
                "vr.firewallrule.create",
                "k8s.nodepool.update",
                "vm.server.stop",
                "sec.user.login",
                "vm.server.create",
                "vm.volume.resize",
            ]
        );
        let users: std::collections::BTreeSet<&str> = week
            .iter()
            .filter_map(|v| v["_source"]["principal"]["identity"]["username"].as_str())
            .collect();
        assert_eq!(users.len(), 3);
    }
}
