//! The Cloud API v6 (Compute Engine and Managed Kubernetes) of the simulated account.
//!
//! The resources live in `cloudapi.json` and are served by the generic walker in `tree.rs`;
//! this file holds which collections exist ([`RULES`]) and the endpoints that are not plain
//! resources: `/`, `/contracts`, `/locations/{region}[/{location}]`, `/k8s/versions[/default]`,
//! `/k8s/{id}/kubeconfig`, a server's `remoteconsole` and `token`, `/requests/{id}/status`, and
//! the power actions `POST .../servers/{id}/start|stop|reboot|suspend|resume`.
//!
//! Power actions behave as IONOS documents them: an action the server's type or state does not
//! allow is refused at once (422); an accepted one is answered 202 with a `Location` naming its
//! request status, which moves from QUEUED to RUNNING to DONE (or FAILED, when starting would
//! exceed the contract's cores or RAM) over [`CloudApi::set_request_duration`]; the server's
//! `vmState` changes shortly after the request is done.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::query::ListQuery;
use super::reply;
use super::tree::{CollectionRule, ListHeader, ROOT, Target, Tree};
use super::{Incoming, Product};

/// Where the Cloud API is mounted on the simulator.
pub const PREFIX: &str = "/cloudapi/v6";

const DATA: &str = include_str!("cloudapi.json");

const fn rule(
    parent: &'static str,
    name: &'static str,
    item: &'static str,
    paged: bool,
) -> CollectionRule {
    CollectionRule {
        parent,
        name,
        item,
        paged,
        hidden: false,
    }
}

const fn hidden(
    parent: &'static str,
    name: &'static str,
    item: &'static str,
    paged: bool,
) -> CollectionRule {
    CollectionRule {
        parent,
        name,
        item,
        paged,
        hidden: true,
    }
}

/// Which kind has which collections. `paged` follows the Cloud API: only those lists carry
/// `offset`, `limit` and `_links` (every list accepts `offset` and `limit`). Hidden collections
/// exist as paths but are not in the parent's `entities`, as in the Cloud API.
pub const RULES: &[CollectionRule] = &[
    rule(ROOT, "datacenters", "datacenter", true),
    rule(ROOT, "images", "image", false),
    rule(ROOT, "snapshots", "snapshot", false),
    rule(ROOT, "templates", "template", false),
    rule(ROOT, "ipblocks", "ipblock", true),
    rule(ROOT, "targetgroups", "target-group", true),
    rule(ROOT, "pccs", "pcc", false),
    rule(ROOT, "requests", "request", true),
    rule(ROOT, "k8s", "k8s", false),
    rule(ROOT, "locations", "location", false),
    rule(ROOT, "labels", "label", false),
    rule(ROOT, "backupunits", "backupunit", false),
    rule(ROOT, "um/users", "user", true),
    rule(ROOT, "um/groups", "group", false),
    rule("datacenter", "servers", "server", true),
    rule("datacenter", "volumes", "volume", true),
    rule("datacenter", "loadbalancers", "loadbalancer", true),
    rule("datacenter", "lans", "lan", true),
    rule(
        "datacenter",
        "networkloadbalancers",
        "networkloadbalancer",
        true,
    ),
    rule("datacenter", "natgateways", "natgateway", false),
    rule("datacenter", "securitygroups", "security-group", true),
    hidden(
        "datacenter",
        "applicationloadbalancers",
        "applicationloadbalancer",
        true,
    ),
    hidden("datacenter", "labels", "label", false),
    rule("server", "cdroms", "image", true),
    rule("server", "volumes", "volume", true),
    rule("server", "nics", "nic", true),
    rule("server", "securitygroups", "security-group", false),
    rule("server", "gpus", "gpu", false),
    hidden("server", "labels", "label", false),
    rule("nic", "firewallrules", "firewall-rule", true),
    rule("nic", "flowlogs", "flow-log", true),
    rule("nic", "securitygroups", "security-group", false),
    hidden("volume", "labels", "label", false),
    rule("lan", "nics", "nic", true),
    rule("loadbalancer", "balancednics", "nic", false),
    rule("networkloadbalancer", "flowlogs", "flow-log", false),
    rule(
        "networkloadbalancer",
        "forwardingrules",
        "forwarding-rule",
        false,
    ),
    rule(
        "applicationloadbalancer",
        "forwardingrules",
        "forwarding-rule",
        false,
    ),
    hidden("applicationloadbalancer", "flowlogs", "flow-log", false),
    rule("natgateway", "rules", "natgateway-rule", false),
    rule("natgateway", "flowlogs", "flow-log", true),
    rule("security-group", "rules", "firewall-rule", true),
    rule("security-group", "nics", "nic", false),
    rule("security-group", "servers", "server", false),
    hidden("image", "labels", "label", false),
    hidden("snapshot", "labels", "label", false),
    hidden("ipblock", "labels", "label", false),
    rule("k8s", "nodepools", "nodepool", false),
    hidden("nodepool", "nodes", "node", false),
    rule("user", "groups", "group", false),
    rule("group", "users", "user", false),
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DataFile {
    #[serde(rename = "_comment")]
    _comment: Option<String>,
    metadata_defaults: Map<String, Value>,
    contract: Map<String, Value>,
    kubernetes_versions: KubernetesVersions,
    resources: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KubernetesVersions {
    available: Vec<String>,
    default: String,
}

/// The Cloud API product: its resources (changed only by the power actions) and fixed data.
pub struct CloudApi {
    tree: RwLock<Tree>,
    contract: RwLock<Map<String, Value>>,
    versions: KubernetesVersions,
    next_request: AtomicU64,
    /// Power actions whose request or state change is not finished yet.
    pending: Mutex<Vec<Pending>>,
    /// How long a power action's request takes from QUEUED to DONE.
    duration: Mutex<Duration>,
}

/// How long a power action takes unless a test says otherwise.
pub const DEFAULT_REQUEST_DURATION: Duration = Duration::from_millis(1500);

/// A power action IONOS accepted and is still working on.
struct Pending {
    request: super::tree::NodeId,
    server: super::tree::NodeId,
    accepted: Instant,
    duration: Duration,
    /// The `vmState` once done, or why the request fails.
    outcome: Result<&'static str, String>,
    /// The last status written to the request.
    written: &'static str,
}

impl Pending {
    /// QUEUED for the first third, RUNNING until the end, then DONE or FAILED.
    fn status(&self, now: Instant) -> &'static str {
        let elapsed = now.saturating_duration_since(self.accepted);
        if elapsed < self.duration / 3 {
            "QUEUED"
        } else if elapsed < self.duration {
            "RUNNING"
        } else if self.outcome.is_ok() {
            "DONE"
        } else {
            "FAILED"
        }
    }

    /// The server's state changes a little after the request is done, as with IONOS.
    fn settled(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.accepted) >= self.duration + self.duration / 5
    }
}

impl CloudApi {
    /// Loads the account with every `href` under `origin` + [`PREFIX`].
    pub fn new(origin: &str) -> Result<CloudApi, String> {
        let data: DataFile =
            serde_json::from_str(DATA).map_err(|e| format!("cloudapi.json: {e}"))?;
        let base = format!("{}{PREFIX}", origin.trim_end_matches('/'));
        let mut tree = Tree::load(&base, RULES, data.metadata_defaults, data.resources)
            .map_err(|e| format!("cloudapi.json: {e}"))?;
        complete_request_statuses(&mut tree);
        Ok(CloudApi {
            tree: RwLock::new(tree),
            contract: RwLock::new(data.contract),
            versions: data.kubernetes_versions,
            next_request: AtomicU64::new(1),
            pending: Mutex::new(Vec::new()),
            duration: Mutex::new(DEFAULT_REQUEST_DURATION),
        })
    }

    /// How long power actions take from now on (QUEUED for a third, then RUNNING).
    pub fn set_request_duration(&self, duration: Duration) {
        *self.duration.lock().unwrap_or_else(PoisonError::into_inner) = duration;
    }

    /// Sets one of the contract's resource limits (`coresPerContract`, `ramPerContract`, …).
    pub fn set_contract_limit(&self, limit: &str, value: i64) {
        let mut contract = self
            .contract
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(Value::Object(limits)) = contract.get_mut("resourceLimits") {
            limits.insert(limit.to_string(), json!(value));
        }
    }

    /// Brings the requests of pending power actions, and their servers, up to date.
    fn settle(&self) {
        let now = Instant::now();
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.is_empty() {
            return;
        }
        let mut tree = self.tree.write().unwrap_or_else(PoisonError::into_inner);
        pending.retain_mut(|p| {
            let status = p.status(now);
            if status != p.written {
                p.written = status;
                let message = match (&p.outcome, status) {
                    (Err(why), "FAILED") => why.clone(),
                    (_, "DONE") => "Request has been successfully executed".to_string(),
                    (_, "RUNNING") => "Request is being processed".to_string(),
                    _ => "Request has been queued".to_string(),
                };
                if let Some(Value::Object(rs)) =
                    tree.node_mut(p.request).metadata.get_mut("requestStatus")
                    && let Some(Value::Object(meta)) = rs.get_mut("metadata")
                {
                    meta.insert("status".into(), json!(status));
                    meta.insert("message".into(), json!(message));
                    if let Some(Value::Array(targets)) = meta.get_mut("targets") {
                        for t in targets {
                            t["status"] = json!(status);
                        }
                    }
                }
            }
            match &p.outcome {
                Ok(state) if p.settled(now) => {
                    tree.node_mut(p.server)
                        .properties
                        .insert("vmState".into(), json!(state));
                    false
                }
                Err(_) => status != "FAILED",
                Ok(_) => true,
            }
        });
    }

    fn get(&self, req: &Incoming<'_>) -> Response {
        let query = match ListQuery::parse(req.query) {
            Ok(q) => q,
            Err(message) => return reply::bad_request(&message),
        };
        let tree = self.tree.read().unwrap_or_else(PoisonError::into_inner);
        let segments: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let ok = |body: Value| reply::json(StatusCode::OK, &body, query.pretty);
        match segments.as_slice() {
            [] => ok(
                json!({"name": "CLOUD API", "href": format!("{}/", tree.base()), "version": "6.0"}),
            ),
            ["contracts"] => ok(self.contracts(&tree)),
            ["k8s", "versions"] => ok(json!(self.versions.available)),
            ["k8s", "versions", "default"] => ok(json!(self.versions.default)),
            ["k8s", cluster, "kubeconfig"] => match tree.resolve(&["k8s", cluster]) {
                Some(Target::Node(id)) => reply::with_type(
                    StatusCode::OK,
                    "application/yaml",
                    kubeconfig(&tree.node(id).id, &tree.node(id).properties),
                ),
                _ => reply::not_found(),
            },
            [
                "datacenters",
                dc,
                "servers",
                server,
                what @ ("remoteconsole" | "token"),
            ] => {
                let Some(Target::Node(id)) = tree.resolve(&["datacenters", dc, "servers", server])
                else {
                    return reply::not_found();
                };
                let server_id = &tree.node(id).id;
                if *what == "remoteconsole" {
                    ok(
                        json!({"url": format!("https://dcd.ionos.com/console?token=demo-console-{server_id}")}),
                    )
                } else {
                    ok(json!({"token": format!("demo.{server_id}.not-a-real-token")}))
                }
            }
            ["requests", request, "status"] => match tree.resolve(&["requests", request]) {
                Some(Target::Node(id)) => match tree.node(id).metadata.get("requestStatus") {
                    Some(status) => ok(status.clone()),
                    None => reply::not_found(),
                },
                _ => reply::not_found(),
            },
            ["locations", region] => {
                let Some(all) = tree.top("locations") else {
                    return reply::not_found();
                };
                let prefix = format!("{region}/");
                let items: Vec<_> = tree
                    .items(all)
                    .iter()
                    .copied()
                    .filter(|n| tree.node(*n).id.starts_with(&prefix))
                    .collect();
                if items.is_empty() {
                    return reply::not_found();
                }
                let header = ListHeader {
                    id: (*region).to_string(),
                    href: format!("{}/locations/{region}", tree.base()),
                    item_kind: "location",
                    paged: false,
                };
                match tree.list_items(&header, &items, &query) {
                    Ok(body) => ok(body),
                    Err(message) => reply::bad_request(&message),
                }
            }
            ["locations", region, location @ ..] => {
                let wanted = format!("{region}/{}", location.join("/"));
                let found = tree.top("locations").and_then(|all| {
                    tree.items(all)
                        .iter()
                        .copied()
                        .find(|n| tree.node(*n).id == wanted)
                });
                match found {
                    Some(id) => ok(tree.render_node(id, query.depth)),
                    None => reply::not_found(),
                }
            }
            _ => self.generic(&tree, &segments, &query),
        }
    }

    /// Any resource or collection of the tree.
    fn generic(&self, tree: &Tree, segments: &[&str], query: &ListQuery) -> Response {
        match tree.resolve(segments) {
            Some(Target::Node(id)) => reply::json(
                StatusCode::OK,
                &tree.render_node(id, query.depth),
                query.pretty,
            ),
            Some(Target::Collection(c)) => match tree.list(c, query) {
                Ok(body) => reply::json(StatusCode::OK, &body, query.pretty),
                Err(message) => reply::bad_request(&message),
            },
            None => reply::not_found(),
        }
    }

    /// The contract with its limits, and what is provisioned counted from the resources.
    fn contracts(&self, tree: &Tree) -> Value {
        let contract = self
            .contract
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let sum = |kind: &str, keep: &dyn Fn(&Map<String, Value>) -> bool, field: &str| -> i64 {
            tree.nodes_of_kind(kind)
                .into_iter()
                .map(|n| &tree.node(n).properties)
                .filter(|p| keep(p))
                .map(|p| p.get(field).and_then(Value::as_f64).unwrap_or(0.0).round() as i64)
                .sum()
        };
        let count = |kind: &str| tree.nodes_of_kind(kind).len();
        let running = |p: &Map<String, Value>| is_provisioned(p);
        let volume_type = |t: &'static str| {
            move |p: &Map<String, Value>| p.get("type").and_then(Value::as_str) == Some(t)
        };
        let ssd = |p: &Map<String, Value>| {
            p.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with("SSD"))
        };
        let ips_in_use: usize = tree
            .nodes_of_kind("ipblock")
            .into_iter()
            .filter_map(|n| {
                tree.node(n)
                    .properties
                    .get("ipConsumers")
                    .and_then(Value::as_array)
                    .map(Vec::len)
            })
            .sum();
        let mut properties = contract;
        let mut limits = match properties.remove("resourceLimits") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        for (key, value) in [
            ("coresProvisioned", json!(sum("server", &running, "cores"))),
            ("ramProvisioned", json!(sum("server", &running, "ram"))),
            (
                "hddVolumeProvisioned",
                json!(sum("volume", &volume_type("HDD"), "size")),
            ),
            ("ssdVolumeProvisioned", json!(sum("volume", &ssd, "size"))),
            (
                "dasVolumeProvisioned",
                json!(sum("volume", &volume_type("DAS"), "size")),
            ),
            (
                "reservedIpsOnContract",
                json!(sum("ipblock", &|_| true, "size")),
            ),
            ("reservedIpsInUse", json!(ips_in_use)),
            ("k8sClustersProvisioned", json!(count("k8s"))),
            ("nlbProvisioned", json!(count("networkloadbalancer"))),
            ("natGatewayProvisioned", json!(count("natgateway"))),
        ] {
            limits.insert(key.to_string(), value);
        }
        properties.insert("resourceLimits".into(), Value::Object(limits));
        json!({"type": "contract", "items": [{"type": "contract", "properties": properties}]})
    }

    /// `POST .../servers/{id}/{action}`: refused (422) when the server's type or state does
    /// not allow it; otherwise 202 with a `Location`, and a request that finishes later.
    fn server_action(&self, dc: &str, server: &str, action: &str) -> Response {
        self.settle();
        // The same order as `settle`: pending actions, then the tree.
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let mut tree = self.tree.write().unwrap_or_else(PoisonError::into_inner);
        let Some(Target::Node(id)) = tree.resolve(&["datacenters", dc, "servers", server]) else {
            return reply::not_found();
        };
        let Some(requests) = tree.top("requests") else {
            return reply::not_found();
        };
        if pending.iter().any(|p| p.server == id) {
            return reply::error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "200",
                "[VDC-5-1] The server is busy with a previous request; wait until it is done",
            );
        }
        let properties = &tree.node(id).properties;
        let state = match power_check(properties, action) {
            Ok(state) => state,
            Err(message) => {
                return reply::error(StatusCode::UNPROCESSABLE_ENTITY, "200", message);
            }
        };
        // Accepted, but IONOS finds out later that the contract has no room for it.
        let outcome = if matches!(action, "start" | "resume") {
            self.within_limits(&tree, properties).map(|()| state)
        } else {
            Ok(state)
        };
        let n = self.next_request.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("5e1f7a3c-0000-4000-8000-{n:012x}");
        let base = tree.base().to_string();
        let server_stub = tree.stub(id);
        let server_href = tree.node(id).href.clone();
        let now = now_utc();
        let status_href = format!("{base}/requests/{request_id}/status");
        let metadata = Map::from_iter([
            ("createdDate".to_string(), json!(now)),
            ("lastModifiedDate".to_string(), Value::Null),
            ("lastModifiedBy".to_string(), Value::Null),
            ("lastModifiedByUserId".to_string(), Value::Null),
            ("createdByUserId".to_string(), Value::Null),
            ("state".to_string(), Value::Null),
            (
                "requestStatus".to_string(),
                json!({"id": request_id, "type": "request-status", "href": status_href, "metadata": {
                    "status": "QUEUED", "message": "Request has been queued",
                    "etag": format!("{n:032x}"), "targets": [{"target": server_stub, "status": "QUEUED"}]}}),
            ),
        ]);
        let request_properties = Map::from_iter([
            ("method".to_string(), json!("POST")),
            ("headers".to_string(), json!({})),
            ("body".to_string(), json!("")),
            ("url".to_string(), json!(format!("{server_href}/{action}"))),
        ]);
        let request = match tree.add(requests, request_id, request_properties, metadata) {
            Ok(node) => node,
            Err(e) => {
                tracing::warn!("simulator: cannot record the {action} request: {e}");
                return reply::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "500",
                    "Cannot record the request",
                );
            }
        };
        pending.push(Pending {
            request,
            server: id,
            accepted: Instant::now(),
            duration: *self.duration.lock().unwrap_or_else(PoisonError::into_inner),
            outcome,
            written: "QUEUED",
        });
        let mut response =
            reply::with_type(StatusCode::ACCEPTED, "application/json", String::new());
        match HeaderValue::from_str(&status_href) {
            Ok(v) => {
                response.headers_mut().insert(header::LOCATION, v);
                response
            }
            Err(_) => reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500",
                "Cannot build the Location header",
            ),
        }
    }

    /// Whether powering on a server with these properties stays within the contract's cores
    /// and RAM; the reason the request fails otherwise.
    fn within_limits(&self, tree: &Tree, server: &Map<String, Value>) -> Result<(), String> {
        let contract = self.contract.read().unwrap_or_else(PoisonError::into_inner);
        let limit = |name: &str| {
            contract
                .get("resourceLimits")
                .and_then(|l| l.get(name))
                .and_then(Value::as_i64)
        };
        let used = |field: &str| -> i64 {
            tree.nodes_of_kind("server")
                .into_iter()
                .map(|n| &tree.node(n).properties)
                .filter(|p| is_provisioned(p))
                .map(|p| p.get(field).and_then(Value::as_i64).unwrap_or(0))
                .sum()
        };
        let wants = |field: &str| server.get(field).and_then(Value::as_i64).unwrap_or(0);
        for (field, name, what) in [
            ("cores", "coresPerContract", "cores"),
            ("ram", "ramPerContract", "MB of RAM"),
        ] {
            if let Some(max) = limit(name)
                && used(field) + wants(field) > max
            {
                return Err(format!(
                    "[VDC-14-1] Failed to provision the server: the contract allows {max} {what} and {} are in use, {} more are needed",
                    used(field),
                    wants(field)
                ));
            }
        }
        Ok(())
    }
}

/// Whether a server counts against the contract's cores and RAM (not when it is off).
fn is_provisioned(p: &Map<String, Value>) -> bool {
    !matches!(
        p.get("vmState").and_then(Value::as_str),
        Some("SHUTOFF") | Some("SHUTDOWN")
    )
}

/// The `vmState` an action leads to, if the server's type and state allow it; otherwise
/// IONOS's refusal.
fn power_check(server: &Map<String, Value>, action: &str) -> Result<&'static str, &'static str> {
    let state = server.get("vmState").and_then(Value::as_str).unwrap_or("");
    let cube = server.get("type").and_then(Value::as_str) == Some("CUBE");
    let refuse = Err;
    match action {
        "start" | "stop" if cube => refuse(
            "[VDC-5-6] This operation is not supported for CUBE servers; suspend or resume them instead",
        ),
        "suspend" | "resume" if !cube => {
            refuse("[VDC-5-7] Suspend and resume are only supported for CUBE servers")
        }
        "start" if state != "SHUTOFF" => refuse("[VDC-5-2] The server is not stopped"),
        "stop" if state == "SHUTOFF" => refuse("[VDC-5-3] The server is already stopped"),
        "reboot" if state != "RUNNING" => refuse("[VDC-5-4] Only a running server can be rebooted"),
        "suspend" if state != "RUNNING" => {
            refuse("[VDC-5-4] Only a running server can be suspended")
        }
        "resume" if state != "SUSPENDED" => refuse("[VDC-5-5] The server is not suspended"),
        "stop" => Ok("SHUTOFF"),
        "suspend" => Ok("SUSPENDED"),
        _ => Ok("RUNNING"),
    }
}

impl Product for CloudApi {
    fn prefix(&self) -> &'static str {
        PREFIX
    }

    fn handle(&self, req: &Incoming<'_>) -> Response {
        let segments: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        match (req.method, segments.as_slice()) {
            (&Method::GET | &Method::HEAD, _) => {
                self.settle();
                self.get(req)
            }
            (
                &Method::POST,
                [
                    "datacenters",
                    dc,
                    "servers",
                    server,
                    action @ ("start" | "stop" | "reboot" | "suspend" | "resume"),
                ],
            ) => self.server_action(dc, server, action),
            _ => reply::method_not_allowed(),
        }
    }
}

/// Gives each request's `metadata.requestStatus` (written in the data as `{"metadata": {status,
/// message, targets}}`) its id, type, href and etag, as `/requests/{id}/status` shows it.
fn complete_request_statuses(tree: &mut Tree) {
    for id in tree.nodes_of_kind("request") {
        let node = tree.node(id);
        let (request_id, href) = (node.id.clone(), format!("{}/status", node.href));
        let etag = node.metadata.get("etag").cloned().unwrap_or(Value::Null);
        let Some(Value::Object(status)) = tree.node_mut(id).metadata.get_mut("requestStatus")
        else {
            continue;
        };
        let mut inner = match status.remove("metadata") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        inner.insert("etag".into(), etag);
        *status = Map::from_iter([
            ("id".to_string(), json!(request_id)),
            ("type".to_string(), json!("request-status")),
            ("href".to_string(), json!(href)),
            ("metadata".to_string(), Value::Object(inner)),
        ]);
    }
}

/// A kubeconfig for the cluster; the certificate and token are placeholders.
fn kubeconfig(cluster_id: &str, properties: &Map<String, Value>) -> String {
    let name = properties
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("cluster");
    // base64 of "-----BEGIN CERTIFICATE-----\nDEMO ONLY, NOT A CERTIFICATE\n-----END CERTIFICATE-----\n"
    let ca = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkRFTU8gT05MWSwgTk9UIEEgQ0VSVElGSUNBVEUKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=";
    format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - cluster:\n    certificate-authority-data: {ca}\n    server: https://{cluster_id}.k8s.demo.invalid:443\n  name: {name}\n\
         contexts:\n\
         - context:\n    cluster: {name}\n    user: cluster-admin\n  name: cluster-admin@{name}\n\
         current-context: cluster-admin@{name}\n\
         preferences: {{}}\n\
         users:\n\
         - name: cluster-admin\n  user:\n    token: demo-kubeconfig-token-not-a-secret\n"
    )
}

/// The current time as the Cloud API writes dates (`2025-02-16T07:58:12Z`).
fn now_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_utc(secs)
}

fn format_utc(secs: u64) -> String {
    crate::access::duration::format_utc(i64::try_from(secs).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_loads() {
        let api = CloudApi::new("http://127.0.0.1:9").expect("cloudapi.json is valid");
        let tree = api.tree.read().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(tree.nodes_of_kind("datacenter").len(), 3);
        assert!(tree.nodes_of_kind("server").len() >= 4);
        for id in tree.nodes_of_kind("request") {
            let status = &tree.node(id).metadata["requestStatus"];
            assert_eq!(status["type"], "request-status");
            assert!(
                status["href"]
                    .as_str()
                    .is_some_and(|h| h.starts_with("http://127.0.0.1:9/cloudapi/v6/requests/"))
            );
        }
        // Node pools point at a real data center.
        for id in tree.nodes_of_kind("nodepool") {
            let dc = tree.node(id).properties["datacenterId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(
                matches!(tree.resolve(&["datacenters", &dc]), Some(Target::Node(_))),
                "{dc}"
            );
        }
    }

    #[test]
    fn formats_dates() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_739_692_692), "2025-02-16T07:58:12Z");
    }
}
