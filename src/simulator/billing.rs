//! Billing at `/billing`: profile, invoices, EVN, traffic, usage, utilization and products of
//! the simulated contract. Everything is computed from one table of the account's billable
//! resources (the servers, volumes and IP blocks of `cloudapi.json`, each with its hourly meter
//! quantities) and the price list, so invoices, usage, utilization and traffic agree with each
//! other: a past month counts all its hours, the current one up to today, a future one none.
//! Invoices exist for the last three full months. Periods must be `YYYY-MM` and dates
//! `YYYY-MM-DD` (400 otherwise); another contract number is a 404.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::{Incoming, Product, reply};
use crate::tools::behaviour::Day;

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

/// One line of the price list.
struct Meter {
    id: &'static str,
    desc: &'static str,
    unit: &'static str,
    /// EUR per unit.
    price: f64,
    group: &'static str,
}

const fn meter(
    id: &'static str,
    desc: &'static str,
    unit: &'static str,
    price: f64,
    group: &'static str,
) -> Meter {
    Meter {
        id,
        desc,
        unit,
        price,
        group,
    }
}

/// The price list, in the order answers list meters.
const METERS: [Meter; 11] = [
    meter("C01000", "CORE AMD usage", "h", 0.0395, "Compute"),
    meter("C02000", "CORE Intel usage", "h", 0.0462, "Compute"),
    meter("R01000", "RAM usage", "GB h", 0.0075, "Compute"),
    meter("CB1000", "Cube XS usage", "h", 0.0104, "Compute"),
    meter("G01000", "GPU NVIDIA L40S usage", "h", 1.1, "GPU"),
    meter("G02000", "GPU NVIDIA H100 NVL usage", "h", 2.4, "GPU"),
    meter("S01000", "SSD Premium storage", "GB h", 0.000104, "Storage"),
    meter(
        "S02000",
        "SSD Standard storage",
        "GB h",
        0.000056,
        "Storage",
    ),
    meter("H01000", "HDD storage", "GB h", 0.0000548, "Storage"),
    meter("IP1000", "Reserved IPv4 address", "h", 0.0069, "Network"),
    meter("TO1000", "Traffic outbound", "GB", 0.04, "Network"),
];

/// A billable resource: its data center (index), id, name, type, the server it belongs to, and
/// its meters with their quantity per hour.
struct Resource {
    dc: usize,
    id: &'static str,
    name: &'static str,
    kind: &'static str,
    server: Option<&'static str>,
    hourly: &'static [(&'static str, f64)],
}

const fn res(
    dc: usize,
    id: &'static str,
    name: &'static str,
    kind: &'static str,
    server: Option<&'static str>,
    hourly: &'static [(&'static str, f64)],
) -> Resource {
    Resource {
        dc,
        id,
        name,
        kind,
        server,
        hourly,
    }
}

const WEB_01: &str = "f08daf45-aff9-46b7-8327-9da5be749620";
const WEB_02: &str = "12162318-0bc5-411c-b04a-496db641b374";
const DB_01: &str = "f7adc815-1cfa-43ce-9e94-d4b4d8f2b935";
const GPU_01: &str = "b81d0459-2475-4693-993b-809b01671c5b";
const CUBE_01: &str = "8aa25130-32ec-495b-821c-90387a15b5d0";
const LEGACY_01: &str = "e77d8d89-4119-4c22-91e9-72ebdea412fd";
const REPLICA_01: &str = "c0fdcc38-7a0d-41d2-b617-cf5e2ada3c23";

/// The account's billable resources, as `cloudapi.json` has them (legacy-app-01 is shut off:
/// only its volume is billed).
const RESOURCES: [Resource; 20] = [
    res(
        0,
        WEB_01,
        "web-01",
        "SERVER",
        Some(WEB_01),
        &[("C02000", 4.0), ("R01000", 8.0)],
    ),
    res(
        0,
        WEB_02,
        "web-02",
        "SERVER",
        Some(WEB_02),
        &[("C02000", 4.0), ("R01000", 8.0)],
    ),
    res(
        0,
        DB_01,
        "db-01",
        "SERVER",
        Some(DB_01),
        &[("C02000", 8.0), ("R01000", 32.0)],
    ),
    res(
        0,
        GPU_01,
        "ml-gpu-01",
        "SERVER",
        Some(GPU_01),
        &[("C01000", 24.0), ("R01000", 240.0), ("G02000", 1.0)],
    ),
    res(
        0,
        "4a2a3640-81c6-4098-b166-b23601580214",
        "web-01-boot",
        "STORAGE",
        Some(WEB_01),
        &[("S01000", 50.0)],
    ),
    res(
        0,
        "54de3acf-88fa-4762-bece-9ccb514e1db8",
        "web-02-boot",
        "STORAGE",
        Some(WEB_02),
        &[("S01000", 50.0)],
    ),
    res(
        0,
        "189a0b63-fc8b-40dd-b90d-ef7a4eaa4ecc",
        "db-01-boot",
        "STORAGE",
        Some(DB_01),
        &[("S01000", 50.0)],
    ),
    res(
        0,
        "5a0ee614-eacc-4602-a4fb-878188e952fb",
        "db-01-data",
        "STORAGE",
        Some(DB_01),
        &[("S01000", 500.0)],
    ),
    res(
        0,
        "9d1cc1fb-ad1c-4e46-958f-2cf4a83621f9",
        "ml-gpu-01-boot",
        "STORAGE",
        Some(GPU_01),
        &[("S01000", 1000.0)],
    ),
    res(
        0,
        "8863710a-c892-4cad-b3c5-77736edb7e39",
        "archive-01",
        "STORAGE",
        None,
        &[("H01000", 2000.0)],
    ),
    res(
        0,
        "900e6247-c821-4d03-a5a8-7feac00ecfbf",
        "production-web",
        "IP",
        None,
        &[("IP1000", 2.0)],
    ),
    res(
        0,
        "ec3e6002-dc67-4424-b372-7a09d6110659",
        "production-loadbalancers",
        "IP",
        None,
        &[("IP1000", 4.0)],
    ),
    res(
        0,
        "7d0b33fa-961d-4bc0-878f-65528ecb4b20",
        "k8s-node-ips",
        "IP",
        None,
        &[("IP1000", 4.0)],
    ),
    res(
        1,
        CUBE_01,
        "app-cube-01",
        "CUBETEMPLATE",
        Some(CUBE_01),
        &[("CB1000", 1.0)],
    ),
    res(
        1,
        "e45d000e-3d07-4389-ab2d-ea8713c8d497",
        "legacy-app-01-boot",
        "STORAGE",
        Some(LEGACY_01),
        &[("H01000", 100.0)],
    ),
    res(
        1,
        "0ea82b4d-8ece-4399-ab6e-ccd90d38f29b",
        "staging",
        "IP",
        None,
        &[("IP1000", 2.0)],
    ),
    res(
        2,
        REPLICA_01,
        "replica-01",
        "SERVER",
        Some(REPLICA_01),
        &[("C01000", 4.0), ("R01000", 16.0)],
    ),
    res(
        2,
        "17bab717-76e6-4cdc-aa5b-ad9944997b68",
        "replica-01-boot",
        "STORAGE",
        Some(REPLICA_01),
        &[("S02000", 50.0)],
    ),
    res(
        2,
        "891a2c52-c454-4101-bfac-6da279a378e3",
        "replica-01-data",
        "STORAGE",
        Some(REPLICA_01),
        &[("S02000", 500.0)],
    ),
    res(
        2,
        "9ad171ee-8ace-4b37-a66d-c5f9c085174d",
        "us-west",
        "IP",
        None,
        &[("IP1000", 1.0)],
    ),
];

/// (inbound, outbound) GB per day and data center; outbound is billed (`TO1000`).
const TRAFFIC_PER_DAY: [(f64, f64); 3] = [(12.0, 40.0), (0.4, 1.2), (3.5, 13.5)];

/// The public IPs of each data center's servers and their share of its traffic.
const NIC_IPS: [(usize, &str, f64); 4] = [
    (0, "203.0.113.21", 0.45),
    (0, "203.0.113.22", 0.45),
    (1, "198.51.100.21", 1.0),
    (2, "192.0.2.21", 1.0),
];

/// The resource types the API knows (its `ResourceType`).
const RESOURCE_TYPES: [&str; 31] = [
    "SERVER",
    "STORAGE",
    "SNAPSHOT",
    "NATGATEWAY",
    "NIC",
    "IP",
    "IP_ADDRESS",
    "CUBETEMPLATE",
    "LOADBALANCER",
    "BACKUP",
    "S3",
    "TRAFFIC",
    "DB",
    "BMC",
    "DBAAS",
    "CRAAS",
    "LAAS",
    "DSAAS",
    "DNS",
    "MONITORING",
    "KAFKA",
    "VPN",
    "VPNGATEWAY",
    "CONTAINERREGISTRY",
    "NETWORKFILESTORAGE",
    "MARIADB",
    "INMEMORYDB",
    "CDN",
    "OBJECTSTORAGE",
    "APIGATEWAY",
    "NATLB",
];

const CUSTOMER: &str = "70413325";
const REFERENCE: &str = "shop-platform";

/// A run of whole days, `from` to `to` inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    from: Day,
    to: Day,
}

impl Span {
    /// `YYYY-MM` as its days.
    fn month(period: &str) -> Option<Span> {
        if period.len() != 7 {
            return None;
        }
        let from = Day::parse(&format!("{period}-01"))?;
        let next = Day::parse(&next_month(period)?)?;
        Some(Span {
            from,
            to: Day(next.0 - 1),
        })
    }

    fn day(day: Day) -> Span {
        Span { from: day, to: day }
    }

    /// The days of the span up to `today`, counted as billed (none for a future span).
    fn billed(self, today: Day) -> Option<Span> {
        let to = Day(self.to.0.min(today.0));
        (to >= self.from).then_some(Span {
            from: self.from,
            to,
        })
    }

    fn days(self) -> i64 {
        self.to.0 - self.from.0 + 1
    }
}

/// `YYYY-MM` -> the first day of the next month, `YYYY-MM-DD`.
fn next_month(period: &str) -> Option<String> {
    let y: i64 = period.get(..4)?.parse().ok()?;
    let m: i64 = period.get(5..7)?.parse().ok()?;
    Some(if m == 12 {
        format!("{:04}-01-01", y + 1)
    } else {
        format!("{y:04}-{:02}-01", m + 1)
    })
}

/// `YYYY-MM` of a day.
fn month_of(day: Day) -> String {
    day.to_string()[..7].to_string()
}

fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// What a data center used of a meter in `days` whole days.
fn quantity(dc: usize, meter: &str, days: i64) -> f64 {
    if meter == "TO1000" {
        return TRAFFIC_PER_DAY[dc].1 * days as f64;
    }
    let per_hour: f64 = RESOURCES
        .iter()
        .filter(|r| r.dc == dc)
        .flat_map(|r| r.hourly.iter())
        .filter(|(m, _)| *m == meter)
        // Not `sum()`: the sum of no floats is -0.0, which would print as "-0.00".
        .fold(0.0, |total, (_, q)| total + q);
    per_hour * 24.0 * days as f64
}

pub struct Billing {
    contract: String,
}

impl Billing {
    pub fn new(contract: i64) -> Billing {
        Billing {
            contract: contract.to_string(),
        }
    }

    fn metadata(&self) -> Value {
        json!({"contractId": self.contract, "customerId": CUSTOMER, "reference": REFERENCE})
    }

    /// The last three full months before `today`, newest first.
    fn periods(today: Day) -> Vec<String> {
        let mut day = today;
        let mut out = Vec::new();
        for _ in 0..3 {
            let first = Day::parse(&format!("{}-01", month_of(day))).unwrap_or(day);
            day = Day(first.0 - 1);
            out.push(month_of(day));
        }
        out
    }

    fn invoice_id(period: &str) -> String {
        format!("{}0042", period.replace('-', ""))
    }

    fn invoice(&self, period: &str) -> Value {
        let span = Span::month(period).unwrap_or(Span::day(Day(0)));
        let mut total = 0.0;
        let dcs: Vec<Value> = DATACENTERS
            .iter()
            .enumerate()
            .map(|(i, (id, name, loc))| {
                let meters: Vec<Value> = METERS
                    .iter()
                    .filter_map(|m| {
                        let q = round(quantity(i, m.id, span.days()), 2);
                        if q == 0.0 {
                            return None;
                        }
                        let amount = round(q * m.price, 2);
                        total += amount;
                        Some(json!({
                            "meterId": m.id, "meterDesc": m.desc, "productGroup": m.group,
                            "quantity": {"quantity": q, "unit": m.unit},
                            "rate": {"quantity": m.price, "unit": "EUR"},
                            "amount": {"quantity": amount, "unit": "EUR"},
                        }))
                    })
                    .collect();
                json!({"id": id, "name": name, "location": loc, "productGroup": null, "meters": meters,
                       "rebate": {"amount": {"quantity": 0.0, "unit": "EUR"}}})
            })
            .collect();
        json!({
            "metadata": {
                "invoiceId": Self::invoice_id(period), "contractId": self.contract,
                "customerId": CUSTOMER, "createdDate": next_month(period),
                "startDate": span.from.to_string(), "endDate": span.to.to_string(),
                "postingPeriod": period, "finallyPosted": true, "reference": REFERENCE,
                "resellerRef": null,
            },
            "datacenters": dcs,
            "total": {"quantity": round(total, 2), "unit": "EUR"},
        })
    }

    /// Usage per data center and meter (quantities as text, as the API sends them).
    fn usage(&self, span: Span, today: Day, dc: Option<&str>) -> Value {
        let days = span.billed(today).map_or(0, Span::days);
        let dcs: Vec<Value> = DATACENTERS
            .iter()
            .enumerate()
            .filter(|(_, (id, _, _))| dc.is_none_or(|d| d == *id))
            .map(|(i, (id, name, loc))| {
                let meters: Vec<Value> = METERS
                    .iter()
                    .map(|m| {
                        json!({"meterId": m.id, "meterDesc": m.desc,
                               "quantity": {"quantity": format!("{:.2}", quantity(i, m.id, days)), "unit": m.unit}})
                    })
                    .collect();
                json!({"id": id, "name": name, "location": loc, "meters": meters})
            })
            .collect();
        json!({"startDate": span.from.to_string(), "endDate": span.to.to_string(),
               "datacenters": dcs, "metadata": self.metadata()})
    }

    /// Per-resource utilization during `span` (up to today), narrowed by `dc`, `resource` and
    /// `type`.
    fn utilization(&self, span: Span, today: Day, filter: &Filter<'_>) -> Value {
        let billed = span.billed(today);
        let dcs: Vec<Value> = DATACENTERS
            .iter()
            .enumerate()
            .filter(|(_, (id, _, _))| filter.dc.is_none_or(|d| d == *id))
            .map(|(i, (id, name, loc))| {
                let mut meters = Vec::new();
                if let Some(b) = billed {
                    let from = format!("{}T00:00:00Z", b.from);
                    let to = format!("{}T00:00:00Z", Day(b.to.0 + 1));
                    let hours = 24.0 * b.days() as f64;
                    let mut entry = |rid: &str,
                                     rname: &str,
                                     kind: &str,
                                     server: Option<&str>,
                                     m: &Meter,
                                     q: f64| {
                        if filter.resource.is_some_and(|r| r != rid)
                            || filter.kind.is_some_and(|t| !t.eq_ignore_ascii_case(kind))
                        {
                            return;
                        }
                        meters.push(json!({
                            "id": rid, "resourceId": rid, "serverId": server, "name": rname,
                            "type": kind, "from": from, "to": to, "exists": true,
                            "meterId": m.id, "meterDesc": m.desc, "region": loc,
                            "quantity": {"quantity": round(q, 2), "unit": m.unit},
                        }));
                    };
                    for r in RESOURCES.iter().filter(|r| r.dc == i) {
                        for (mid, per_hour) in r.hourly {
                            if let Some(m) = METERS.iter().find(|m| m.id == *mid) {
                                entry(r.id, r.name, r.kind, r.server, m, per_hour * hours);
                            }
                        }
                    }
                    if let Some(m) = METERS.iter().find(|m| m.id == "TO1000") {
                        let q = quantity(i, "TO1000", b.days());
                        entry(
                            id,
                            &format!("{name} outbound traffic"),
                            "TRAFFIC",
                            None,
                            m,
                            q,
                        );
                    }
                }
                json!({"id": id, "name": name, "meters": meters})
            })
            .collect();
        json!({"startDate": span.from.to_string(), "endDate": span.to.to_string(),
               "datacenters": dcs, "metadata": self.metadata()})
    }

    /// Daily traffic per data center, and per public IP when `ip` is asked for.
    fn traffic(&self, period: &str, span: Span, today: Day, per_ip: bool) -> Value {
        let days: Vec<Day> = span
            .billed(today)
            .map(|b| (b.from.0..=b.to.0).map(Day).collect())
            .unwrap_or_default();
        let dates = |dc: usize, share: f64| -> Vec<Value> {
            days.iter()
                .map(|d| {
                    // A little variation from day to day, the same for every answer.
                    let f = share * (0.9 + (d.0 * 7).rem_euclid(5) as f64 * 0.05);
                    let (i, o) = TRAFFIC_PER_DAY[dc];
                    json!({"Date": d.to_string(), "In": round(i * f, 2), "Out": round(o * f, 2)})
                })
                .collect()
        };
        let vdc: Vec<Value> = DATACENTERS
            .iter()
            .enumerate()
            .map(|(i, (id, name, _))| json!({"vdcUUID": id, "vdcName": name, "dates": dates(i, 1.0)}))
            .collect();
        let nic: Vec<Value> = if per_ip {
            NIC_IPS
                .iter()
                .map(|(dc, ip, share)| {
                    let (id, name, _) = DATACENTERS[*dc];
                    json!({"vdcUUID": id, "vdcName": name, "ip": ip, "dates": dates(*dc, *share)})
                })
                .collect()
        } else {
            Vec::new()
        };
        json!({
            "metadata": {"contractId": self.contract, "customerId": CUSTOMER, "reference": REFERENCE, "period": period, "unit": "GB"},
            "trafficObj": {"vdc": vdc, "nic": nic},
            "trafficArr": [],
            "traffic": [],
        })
    }

    /// Itemised records: one per resource and meter for the billed days of the month.
    fn evn(&self, period: &str, span: Span, today: Day) -> Value {
        let billed = span.billed(today);
        let dcs: Vec<Value> = DATACENTERS
            .iter()
            .enumerate()
            .map(|(i, (id, name, _))| {
                let data: Vec<Value> = billed
                    .map(|b| {
                        RESOURCES
                            .iter()
                            .filter(|r| r.dc == i)
                            .flat_map(|r| r.hourly.iter().map(move |m| (r, m)))
                            .map(|(r, (mid, per_hour))| {
                                json!({
                                    "resourceType": r.kind, "resourceUUID": r.id,
                                    "intervalMin": b.days() * 24 * 60, "intervalDivisor": 1,
                                    "from": format!("{}T00:00:00Z", b.from),
                                    "to": format!("{}T00:00:00Z", Day(b.to.0 + 1)),
                                    "itemStub": mid,
                                    "value": round(per_hour * 24.0 * b.days() as f64, 2),
                                    "valueDivisor": 1,
                                    "additionalParameters": format!("name={}", r.name),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                json!({"vdcUUID": id, "name": name, "data": data})
            })
            .collect();
        json!({"metadata": {"contractId": self.contract, "customerId": CUSTOMER, "reference": REFERENCE, "period": period},
               "datacenters": dcs, "evnCSV": []})
    }

    fn products(&self) -> Value {
        json!({
            "metadata": self.metadata(),
            "liability": "IONOS SE",
            "products": METERS.iter().map(|m| json!({
                "meterId": m.id, "meterDesc": m.desc, "deprecated": false, "unit": m.unit,
                "type": "consumption", "term": null,
                "unitCost": {"quantity": format!("{}", m.price), "unit": "EUR"},
            })).collect::<Vec<_>>(),
        })
    }
}

/// The `dc`, `resource` and `type` parameters of the utilization endpoints.
struct Filter<'a> {
    dc: Option<&'a str>,
    resource: Option<&'a str>,
    kind: Option<&'a str>,
}

/// The month `YYYY-MM`, or the message of a 400 answer.
fn month(period: &str) -> Result<Span, String> {
    Span::month(period).ok_or_else(|| format!("period must be a month as YYYY-MM, got '{period}'"))
}

/// The day `YYYY-MM-DD`, or the message of a 400 answer.
fn parse_day(name: &str, text: &str) -> Result<Day, String> {
    Day::parse(text).ok_or_else(|| format!("{name} must be a day as YYYY-MM-DD, got '{text}'"))
}

fn not_found(what: &str) -> Response {
    reply::error(StatusCode::NOT_FOUND, "404", what)
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
        let today = Day::today();
        let this_month = month_of(today);
        let periods = Self::periods(today);
        let bad = |m: String| reply::bad_request(&m);
        match segs.as_slice() {
            ["intern", "ping"] => reply::with_type(StatusCode::OK, "text/plain", "pong".into()),
            ["profile"] => ok(json!({"companies": [self.metadata()]})),
            ["invoices", period] => {
                if let Err(m) = month(period) {
                    return bad(m);
                }
                let mine = q("contractid").is_none_or(|c| c == self.contract);
                if !mine || !periods.iter().any(|p| p == period) {
                    return ok(json!([]));
                }
                ok(json!([self.invoice(period)]))
            }
            [contract, ..] if *contract != self.contract => not_found(&format!(
                "Contract {contract} not found or not accessible with these credentials"
            )),
            [_, "invoices"] => ok(json!({
                "metadata": self.metadata(),
                "invoices": periods.iter().map(|p| {
                    let inv = self.invoice(p);
                    json!({"id": Self::invoice_id(p), "date": inv["metadata"]["createdDate"],
                           "amount": inv["total"]["quantity"], "unit": "EUR"})
                }).collect::<Vec<_>>(),
            })),
            [_, "invoices", id] => match periods.iter().find(|p| Self::invoice_id(p) == *id) {
                Some(p) => ok(self.invoice(p)),
                None => not_found(&format!("Invoice {id} not found")),
            },
            [_, "evn"] => match month(&this_month) {
                Ok(span) => ok(self.evn(&this_month, span, today)),
                Err(m) => bad(m),
            },
            [_, "evn", period] => match month(period) {
                Ok(span) => ok(self.evn(period, span, today)),
                Err(m) => bad(m),
            },
            [_, "traffic", rest @ ..] if rest.len() <= 1 => {
                let period = rest.first().copied().unwrap_or(&this_month);
                let per_ip = q("ip").is_some_and(|v| v.eq_ignore_ascii_case("true"));
                match month(period) {
                    Ok(span) => ok(self.traffic(period, span, today, per_ip)),
                    Err(m) => bad(m),
                }
            }
            [_, "usage", rest @ ..] if rest.len() <= 1 => {
                let period = q("period").unwrap_or(&this_month);
                let span = match month(period) {
                    Ok(span) => span,
                    Err(m) => return bad(m),
                };
                let dc = rest.first().copied();
                if let Some(dc) = dc
                    && !DATACENTERS.iter().any(|(id, _, _)| *id == dc)
                {
                    return not_found(&format!("Data center {dc} has no usage in this contract"));
                }
                ok(self.usage(span, today, dc))
            }
            [_, "utilization", rest @ ..] if rest.len() <= 2 => {
                let span = match rest {
                    [] => month(&this_month),
                    ["daily", date] => parse_day("date", date).map(Span::day),
                    [period] => month(period),
                    _ => return reply::not_found(),
                };
                let span = match span {
                    Ok(s) => s,
                    Err(m) => return bad(m),
                };
                let kind = q("type");
                if let Some(t) = kind
                    && !RESOURCE_TYPES.iter().any(|k| k.eq_ignore_ascii_case(t))
                {
                    return reply::bad_request(&format!(
                        "type must be a resource type ({}), got '{t}'",
                        RESOURCE_TYPES.join(", ")
                    ));
                }
                let filter = Filter {
                    dc: q("dc"),
                    resource: q("resource"),
                    kind,
                };
                ok(self.utilization(span, today, &filter))
            }
            [_, "products"] => match q("date").map(|d| parse_day("date", d)) {
                Some(Err(m)) => bad(m),
                _ => ok(self.products()),
            },
            _ => reply::not_found(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        Day::parse(s).expect("date")
    }

    #[test]
    fn periods_are_three_distinct_past_months() {
        assert_eq!(
            Billing::periods(day("2026-01-05")),
            ["2025-12", "2025-11", "2025-10"]
        );
        let p = Billing::periods(Day::today());
        assert!(p[0] < month_of(Day::today()), "{p:?}");
    }

    #[test]
    fn months_are_validated_and_spanned() {
        assert_eq!(
            Span::month("2024-02"),
            Some(Span {
                from: day("2024-02-01"),
                to: day("2024-02-29")
            })
        );
        assert_eq!(
            Span::month("2025-12").map(|s| s.to),
            Some(day("2025-12-31"))
        );
        for bad in [
            "2026-13",
            "2026-1",
            "26-01",
            "2026-00",
            "2026-01-01",
            "abcd-ef",
            "",
        ] {
            assert_eq!(Span::month(bad), None, "{bad}");
        }
        let march = Span::month("2026-03").expect("month");
        assert_eq!(march.billed(day("2026-03-10")).map(Span::days), Some(10));
        assert_eq!(march.billed(day("2026-02-28")), None);
        assert_eq!(march.billed(day("2026-05-01")).map(Span::days), Some(31));
    }

    #[test]
    fn every_resource_meter_is_priced_and_zero_meters_exist() {
        for r in &RESOURCES {
            assert!(RESOURCE_TYPES.contains(&r.kind), "{}", r.name);
            for (m, _) in r.hourly {
                assert!(METERS.iter().any(|x| x.id == *m), "{m}");
            }
        }
        // One H100 runs; no L40S does.
        assert_eq!(quantity(0, "G02000", 30), 720.0);
        assert_eq!(
            (0..3).map(|dc| quantity(dc, "G01000", 30)).sum::<f64>(),
            0.0
        );
        assert_eq!(quantity(0, "C02000", 1), 16.0 * 24.0);
    }

    #[test]
    fn an_invoice_adds_up() {
        let b = Billing::new(31_000_000);
        let inv = b.invoice("2026-01");
        assert_eq!(inv["metadata"]["invoiceId"], "2026010042");
        assert_eq!(inv["metadata"]["endDate"], "2026-01-31");
        assert_eq!(inv["metadata"]["createdDate"], "2026-02-01");
        let mut sum = 0.0;
        for dc in inv["datacenters"].as_array().into_iter().flatten() {
            for m in dc["meters"].as_array().into_iter().flatten() {
                let q = m["quantity"]["quantity"].as_f64().unwrap_or_default();
                let rate = m["rate"]["quantity"].as_f64().unwrap_or_default();
                let amount = m["amount"]["quantity"].as_f64().unwrap_or_default();
                assert!((q * rate - amount).abs() < 0.006, "{m}");
                sum += amount;
            }
        }
        let total = inv["total"]["quantity"].as_f64().unwrap_or_default();
        assert!(
            (sum - total).abs() < 0.001 && total > 1000.0,
            "{sum} {total}"
        );
        // 31 days of web-01's, web-02's and db-01's 16 Intel cores.
        assert_eq!(
            inv["datacenters"][0]["meters"][1]["quantity"],
            json!({"quantity": 16.0 * 24.0 * 31.0, "unit": "h"})
        );
    }
}
