//! Billing at `/billing`: profile, invoices, EVN, traffic, usage, utilization and products of
//! the simulated contract, computed from a small meter table for the last three months.
//! Periods must be `YYYY-MM` and dates `YYYY-MM-DD`, as the API checks.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::{Incoming, Product, reply};
use crate::behaviour::Day;

/// (id, name, location) of the account's data centers.
const DATACENTERS: [(&str, &str, &str); 3] = [
    (
        "b5634021-a867-4b94-a0ff-eafb37fd3e19",
        "production",
        "de/fra",
    ),
    ("a4a88589-68a0-440e-bdfb-1d539ea57e95", "staging", "de/txl"),
    ("0535f2e7-5d7d-45bc-86c3-df9ee1cff25f", "us-west", "us/las"),
];

/// (meter id, description, unit, EUR per unit, monthly quantity per data center).
const METERS: [(&str, &str, &str, f64, [f64; 3]); 6] = [
    (
        "C01000",
        "CORE AMD usage",
        "h",
        0.0395,
        [8760.0, 1460.0, 1460.0],
    ),
    (
        "R01000",
        "RAM usage",
        "GB h",
        0.0075,
        [23360.0, 2920.0, 2920.0],
    ),
    (
        "S01000",
        "SSD Premium storage",
        "GB h",
        0.000104,
        [438000.0, 73000.0, 146000.0],
    ),
    (
        "TO1000",
        "Traffic outbound",
        "GB",
        0.04,
        [1200.0, 35.0, 410.0],
    ),
    (
        "IP1000",
        "Reserved IPv4 address",
        "h",
        0.0069,
        [2920.0, 730.0, 1460.0],
    ),
    ("G01000", "GPU H100 usage", "h", 2.4, [0.0, 0.0, 0.0]),
];

const CUSTOMER: &str = "70413325";

pub struct Billing {
    contract: String,
}

/// `YYYY-MM` of a day.
fn month_of(day: Day) -> String {
    day.to_string()[..7].to_string()
}

fn valid_period(p: &str) -> bool {
    Day::parse(&format!("{p}-01")).is_some() && p.len() == 7
}

impl Billing {
    pub fn new(contract: i64) -> Billing {
        Billing {
            contract: contract.to_string(),
        }
    }

    fn metadata(&self) -> Value {
        json!({"contractId": self.contract, "customerId": CUSTOMER, "reference": "shop-platform"})
    }

    /// The last three full months, newest first.
    fn periods() -> Vec<String> {
        let mut day = Day::today();
        let mut out = Vec::new();
        for _ in 0..3 {
            let first = Day::parse(&format!("{}-01", month_of(day))).unwrap_or(day);
            day = Day(first.0 - 1);
            out.push(month_of(day));
        }
        out
    }

    fn invoice_id(period: &str) -> String {
        format!("{}{}", period.replace('-', ""), "0042")
    }

    fn invoice(&self, period: &str) -> Value {
        let mut total = 0.0;
        let dcs: Vec<Value> = DATACENTERS
            .iter()
            .enumerate()
            .map(|(i, (id, name, loc))| {
                let meters: Vec<Value> = METERS
                    .iter()
                    .map(|(mid, desc, unit, price, qty)| {
                        let amount = (qty[i] * price * 100.0).round() / 100.0;
                        total += amount;
                        json!({
                            "meterId": mid, "meterDesc": desc, "productGroup": "Compute",
                            "quantity": {"quantity": qty[i], "unit": unit},
                            "rate": {"quantity": price, "unit": "EUR"},
                            "amount": {"quantity": amount, "unit": "EUR"},
                        })
                    })
                    .collect();
                json!({"id": id, "name": name, "location": loc, "meters": meters,
                       "rebate": {"amount": {"quantity": 0.0, "unit": "EUR"}}})
            })
            .collect();
        json!({
            "metadata": {
                "invoiceId": Self::invoice_id(period), "contractId": self.contract,
                "customerId": CUSTOMER, "createdDate": format!("{period}-28"),
                "startDate": format!("{period}-01"), "endDate": format!("{period}-28"),
                "postingPeriod": period, "finallyPosted": true, "reference": "shop-platform",
            },
            "datacenters": dcs,
            "total": {"quantity": (total * 100.0_f64).round() / 100.0, "unit": "EUR"},
        })
    }

    fn usage(&self, dc: Option<&str>) -> Value {
        let dcs: Vec<Value> = DATACENTERS
            .iter()
            .enumerate()
            .filter(|(_, (id, _, _))| dc.is_none_or(|d| d == *id))
            .map(|(i, (id, name, loc))| {
                let meters: Vec<Value> = METERS
                    .iter()
                    .map(|(mid, desc, unit, _, qty)| {
                        json!({"meterId": mid, "meterDesc": desc,
                               "quantity": {"quantity": format!("{:.2}", qty[i] / 3.0), "unit": unit}})
                    })
                    .collect();
                json!({"id": id, "name": name, "location": loc, "meters": meters})
            })
            .collect();
        json!({"startDate": format!("{}-01", month_of(Day::today())), "endDate": Day::today().to_string(),
               "datacenters": dcs, "metadata": self.metadata()})
    }

    fn utilization(&self, from: &str, to: &str, dc: Option<&str>) -> Value {
        let dcs: Vec<Value> = DATACENTERS
            .iter()
            .enumerate()
            .filter(|(_, (id, _, _))| dc.is_none_or(|d| d == *id))
            .map(|(i, (id, name, loc))| {
                let meters: Vec<Value> = METERS
                    .iter()
                    .map(|(mid, desc, unit, _, qty)| {
                        json!({"id": format!("{id}-{mid}"), "name": desc, "type": "SERVER",
                               "from": from, "to": to, "meterId": mid, "meterDesc": desc,
                               "region": loc, "quantity": {"quantity": qty[i] / 30.0, "unit": unit}})
                    })
                    .collect();
                json!({"id": id, "name": name, "meters": meters})
            })
            .collect();
        json!({"startDate": from, "endDate": to, "datacenters": dcs, "metadata": self.metadata()})
    }

    fn traffic(&self, period: &str) -> Value {
        let vdc: Vec<Value> = DATACENTERS
            .iter()
            .map(|(id, name, _)| {
                json!({"vdcUUID": id, "vdcName": name, "dates": [
                    {"Date": format!("{period}-01"), "In": 12.5, "Out": 40.25},
                    {"Date": format!("{period}-02"), "In": 11.0, "Out": 38.75}]})
            })
            .collect();
        json!({
            "metadata": {"contractId": self.contract, "customerId": CUSTOMER, "reference": "shop-platform", "period": period, "unit": "GB"},
            "trafficObj": {"vdc": vdc, "nic": [{"vdcUUID": DATACENTERS[0].0, "vdcName": "production", "ip": "203.0.113.21",
                "dates": [{"Date": format!("{period}-01"), "In": 10.0, "Out": 35.5}]}]},
            "trafficArr": [],
            "traffic": [],
        })
    }

    fn evn(&self, period: &str) -> Value {
        let dcs: Vec<Value> = DATACENTERS
            .iter()
            .map(|(id, name, _)| {
                json!({"vdcUUID": id, "name": name, "data": [
                    {"resourceType": "SERVER", "resourceUUID": "f08daf45-aff9-46b7-8327-9da5be749620",
                     "intervalMin": 60, "intervalDivisor": 1, "from": format!("{period}-01T00:00:00Z"),
                     "to": format!("{period}-01T01:00:00Z"), "itemStub": "C01000", "value": 4, "valueDivisor": 1,
                     "additionalParameters": ""}]})
            })
            .collect();
        json!({"metadata": {"contractId": self.contract, "customerId": CUSTOMER, "reference": "shop-platform", "period": period},
               "datacenters": dcs, "evnCSV": []})
    }
}

fn bad_period(p: &str) -> Response {
    reply::bad_request(&format!("period must be a month as YYYY-MM, got '{p}'"))
}

impl Product for Billing {
    fn prefix(&self) -> &'static str {
        "/billing"
    }

    fn handle(&self, req: &Incoming<'_>) -> Response {
        if req.method != Method::GET {
            return reply::method_not_allowed();
        }
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let q = |k: &str| {
            req.query
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        let ok = |v: Value| reply::json(StatusCode::OK, &v, false);
        let periods = Self::periods();
        match segs.as_slice() {
            ["intern", "ping"] => reply::with_type(StatusCode::OK, "text/plain", "pong".into()),
            ["profile"] => ok(json!({"companies": [self.metadata()]})),
            ["invoices", period] => {
                if !valid_period(period) {
                    return bad_period(period);
                }
                if !periods.iter().any(|p| p == period) {
                    return ok(json!([]));
                }
                ok(json!([self.invoice(period)]))
            }
            [contract, ..] if *contract != self.contract => reply::error(
                StatusCode::NOT_FOUND,
                "404",
                &format!("Contract {contract} not found or not accessible with these credentials"),
            ),
            [_, "invoices"] => ok(json!({
                "metadata": self.metadata(),
                "invoices": periods.iter().map(|p| {
                    let inv = self.invoice(p);
                    json!({"id": Self::invoice_id(p), "date": format!("{p}-28"), "amount": inv["total"]["quantity"], "unit": "EUR"})
                }).collect::<Vec<_>>(),
            })),
            [_, "invoices", id] => match periods.iter().find(|p| Self::invoice_id(p) == *id) {
                Some(p) => ok(self.invoice(p)),
                None => reply::error(
                    StatusCode::NOT_FOUND,
                    "404",
                    &format!("Invoice {id} not found"),
                ),
            },
            [_, "evn"] => ok(self.evn(&month_of(Day::today()))),
            [_, "evn", period] | [_, "traffic", period] if !valid_period(period) => {
                bad_period(period)
            }
            [_, "evn", period] => ok(self.evn(period)),
            [_, "traffic"] => ok(self.traffic(&month_of(Day::today()))),
            [_, "traffic", period] => ok(self.traffic(period)),
            [_, "usage"] | [_, "usage", _] if q("period").is_some_and(|p| !valid_period(p)) => {
                bad_period(q("period").unwrap_or_default())
            }
            [_, "usage"] => ok(self.usage(None)),
            [_, "usage", dc] => {
                if !DATACENTERS.iter().any(|(id, _, _)| id == dc) {
                    return reply::error(
                        StatusCode::NOT_FOUND,
                        "404",
                        &format!("Data center {dc} has no usage in this contract"),
                    );
                }
                ok(self.usage(Some(dc)))
            }
            [_, "utilization"] => {
                let today = Day::today();
                ok(self.utilization(
                    &format!("{}-01", month_of(today)),
                    &today.to_string(),
                    q("dc"),
                ))
            }
            [_, "utilization", "daily", date] => match Day::parse(date) {
                Some(d) => ok(self.utilization(&d.to_string(), &d.to_string(), q("dc"))),
                None => reply::bad_request(&format!("date must be YYYY-MM-DD, got '{date}'")),
            },
            [_, "utilization", period] => {
                if !valid_period(period) {
                    return bad_period(period);
                }
                ok(self.utilization(&format!("{period}-01"), &format!("{period}-28"), q("dc")))
            }
            [_, "products"] => ok(json!({
                "metadata": self.metadata(),
                "liability": "IONOS SE",
                "products": METERS.iter().map(|(mid, desc, unit, price, _)| json!({
                    "meterId": mid, "meterDesc": desc, "deprecated": false, "unit": unit,
                    "type": "usage", "unitCost": {"quantity": price, "unit": "EUR"},
                })).collect::<Vec<_>>(),
            })),
            _ => reply::not_found(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_three_distinct_past_months() {
        let p = Billing::periods();
        assert_eq!(p.len(), 3);
        assert!(p[0] > p[1] && p[1] > p[2], "{p:?}");
        assert!(p.iter().all(|m| valid_period(m)), "{p:?}");
        assert!(p[0] < month_of(Day::today()), "{p:?}");
        assert!(!valid_period("2026-13") && !valid_period("2026-1") && !valid_period("26-01"));
    }
}
