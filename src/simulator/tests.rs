//! The simulator over HTTP, as a client sees it.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{DEMO_TOKEN, RecordedRequest, Simulator};

const DC_FRA: &str = "b5634021-a867-4b94-a0ff-eafb37fd3e19";
const DC_TXL: &str = "a4a88589-68a0-440e-bdfb-1d539ea57e95";
const WEB_01: &str = "f08daf45-aff9-46b7-8327-9da5be749620";
const DB_01: &str = "f7adc815-1cfa-43ce-9e94-d4b4d8f2b935";
const GPU_SERVER: &str = "b81d0459-2475-4693-993b-809b01671c5b";
const LEGACY: &str = "e77d8d89-4119-4c22-91e9-72ebdea412fd";
const K8S: &str = "fedb619e-a826-41f4-8cc7-3c658b1ec890";
const POOL: &str = "73ea32d4-5d30-4175-a475-9b6371a43f10";
const NODE: &str = "c595ec71-c40f-459b-8a2e-09a4475e6133";
const FAILED_REQUEST: &str = "90b64fa0-51ab-48e8-bb7f-77ca84bcb9b5";

struct Client {
    sim: Simulator,
    http: reqwest::Client,
}

struct Answer {
    status: StatusCode,
    content_type: String,
    location: Option<String>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

impl Client {
    async fn start() -> Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim = Simulator::start().await.expect("simulator starts");
        let http = reqwest::Client::builder().build().expect("http client");
        Client { sim, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.cloudapi_url())
    }

    async fn send(&self, method: reqwest::Method, path: &str, auth: Option<&str>) -> Answer {
        self.fetch(method, self.url(path), auth).await
    }

    async fn fetch(&self, method: reqwest::Method, url: String, auth: Option<&str>) -> Answer {
        let mut req = self.http.request(method, url);
        if let Some(auth) = auth {
            req = req.header("Authorization", auth);
        }
        let resp = req.send().await.expect("simulator answers");
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        let location = header(reqwest::header::LOCATION);
        Answer {
            status: resp.status(),
            content_type,
            location,
            text: resp.text().await.expect("body"),
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(
            reqwest::Method::GET,
            path,
            Some(&format!("Bearer {DEMO_TOKEN}")),
        )
        .await
    }

    /// A GET of `path` below the base URL of another product (`dns`, `billing`, ...).
    async fn get_at(&self, product: &str, path: &str) -> Answer {
        let base = self.sim.base_url(product).expect("a simulated product");
        self.fetch(
            reqwest::Method::GET,
            format!("{base}{path}"),
            Some(&format!("Bearer {DEMO_TOKEN}")),
        )
        .await
    }

    /// A GET below another product's base URL that must succeed with JSON.
    async fn ok_at(&self, product: &str, path: &str) -> Value {
        let a = self.get_at(product, path).await;
        assert_eq!(a.status, StatusCode::OK, "{product} {path}: {}", a.text);
        assert_eq!(a.content_type, "application/json", "{product} {path}");
        a.json()
    }

    /// A GET that must succeed with JSON.
    async fn ok(&self, path: &str) -> Value {
        let a = self.get(path).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text);
        assert_eq!(a.content_type, "application/json", "{path}");
        a.json()
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["id"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn assert_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status.as_u16(), status, "{}", a.text);
    assert_eq!(a.content_type, "application/json");
    let body = a.json();
    assert_eq!(keys(&body), set(&["httpStatus", "messages"]), "{body}");
    assert_eq!(body["httpStatus"], status);
    assert_eq!(body["messages"][0]["errorCode"], code, "{body}");
    assert!(
        body["messages"][0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn collection_depths() {
    let c = Client::start().await;
    let base = c.sim.cloudapi_url();
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with("/cloudapi/v6"),
        "{base}"
    );

    let d0 = c.ok("/datacenters").await;
    assert_eq!(
        keys(&d0),
        set(&["id", "type", "href", "items", "offset", "limit", "_links"])
    );
    assert_eq!(d0["type"], "collection");
    assert_eq!(d0["href"], format!("{base}/datacenters"));
    assert_eq!(ids(&d0).len(), 3);
    assert_eq!(
        d0["items"][0],
        json!({"id": DC_FRA, "type": "datacenter", "href": format!("{base}/datacenters/{DC_FRA}")})
    );

    let d1 = c.ok("/datacenters?depth=1").await;
    let fra = &d1["items"][0];
    assert_eq!(
        keys(fra),
        set(&["id", "type", "href", "metadata", "properties", "entities"])
    );
    assert_eq!(fra["properties"]["location"], "de/fra");
    assert_eq!(fra["metadata"]["state"], "AVAILABLE");
    for key in [
        "etag",
        "createdDate",
        "createdBy",
        "createdByUserId",
        "lastModifiedDate",
        "lastModifiedBy",
        "lastModifiedByUserId",
    ] {
        assert!(
            fra["metadata"][key].is_string(),
            "metadata.{key}: {}",
            fra["metadata"]
        );
    }
    let servers = &fra["entities"]["servers"];
    assert_eq!(keys(servers), set(&["id", "type", "href"]));
    assert_eq!(
        servers["href"],
        format!("{base}/datacenters/{DC_FRA}/servers")
    );
    // Hidden collections are paths, not entities.
    assert!(fra["entities"].get("labels").is_none());

    let d2 = c.ok("/datacenters?depth=2").await;
    let first_server = &d2["items"][0]["entities"]["servers"]["items"][0];
    assert_eq!(keys(first_server), set(&["id", "type", "href"]));
    assert_eq!(first_server["type"], "server");
    assert!(
        d2["items"][0]["entities"]["servers"]
            .get("_links")
            .is_none()
    );

    let d3 = c.ok("/datacenters?depth=3").await;
    let server = &d3["items"][0]["entities"]["servers"]["items"][0];
    assert!(server["properties"]["vmState"].is_string());
    assert_eq!(
        keys(&server["entities"]["nics"]),
        set(&["id", "type", "href"])
    );
}

#[tokio::test]
async fn single_resource_depths_and_shared_resources() {
    let c = Client::start().await;
    let path = format!("/datacenters/{DC_FRA}/servers/{DB_01}");
    let s0 = c.ok(&path).await;
    assert_eq!(s0["properties"]["type"], "ENTERPRISE");
    assert_eq!(s0["properties"]["vmState"], "RUNNING");
    assert_eq!(s0["properties"]["bootVolume"]["type"], "volume");
    assert_eq!(
        keys(&s0["entities"]),
        set(&["cdroms", "volumes", "nics", "securitygroups", "gpus"])
    );
    assert_eq!(
        keys(&s0["entities"]["volumes"]),
        set(&["id", "type", "href"])
    );
    assert_eq!(s0["entities"]["volumes"]["id"], format!("{DB_01}/volumes"));

    let s1 = c.ok(&format!("{path}?depth=1")).await;
    let attached = ids(&s1["entities"]["volumes"]);
    assert_eq!(attached.len(), 2);
    assert_eq!(
        keys(&s1["entities"]["volumes"]["items"][0]),
        set(&["id", "type", "href"])
    );
    // Attached volumes are the data center's volumes, with their canonical href.
    let dc_volumes = ids(&c.ok(&format!("/datacenters/{DC_FRA}/volumes")).await);
    assert!(
        attached.iter().all(|v| dc_volumes.contains(v)),
        "{attached:?} not in {dc_volumes:?}"
    );
    let v = c.ok(&format!("{path}/volumes/{}", attached[1])).await;
    assert_eq!(
        v["href"],
        format!(
            "{}/datacenters/{DC_FRA}/volumes/{}",
            c.sim.cloudapi_url(),
            attached[1]
        )
    );
    assert_eq!(v["properties"]["name"], "db-01-data");

    let s2 = c.ok(&format!("{path}?depth=2")).await;
    let nic = &s2["entities"]["nics"]["items"][0];
    assert_eq!(nic["properties"]["lan"], 2);
    assert_eq!(
        keys(&nic["entities"]["firewallrules"]),
        set(&["id", "type", "href"])
    );

    // LAN 2 lists the server's NIC.
    let lan_nics = ids(&c.ok(&format!("/datacenters/{DC_FRA}/lans/2/nics")).await);
    assert!(
        lan_nics.contains(&nic["id"].as_str().unwrap_or_default().to_string()),
        "{lan_nics:?}"
    );

    // The GPU server has its GPU; the others have an empty collection.
    let gpus = c
        .ok(&format!(
            "/datacenters/{DC_FRA}/servers/{GPU_SERVER}/gpus?depth=1"
        ))
        .await;
    assert_eq!(gpus["items"][0]["properties"]["vendor"], "NVIDIA");
    assert_eq!(ids(&c.ok(&format!("{path}/gpus")).await).len(), 0);
}

#[tokio::test]
async fn paging_and_links() {
    let c = Client::start().await;
    let base = c.sim.cloudapi_url();
    let all = ids(&c.ok("/datacenters").await);
    let page = c.ok("/datacenters?offset=1&limit=1").await;
    assert_eq!(ids(&page), vec![all[1].clone()]);
    assert_eq!(page["offset"], 1);
    assert_eq!(page["limit"], 1);
    assert_eq!(
        page["_links"],
        json!({
            "prev": format!("{base}/datacenters?offset=0&limit=1"),
            "self": format!("{base}/datacenters?offset=1&limit=1"),
            "next": format!("{base}/datacenters?offset=2&limit=1"),
        })
    );
    let last = c.ok("/datacenters?offset=2&limit=1&depth=1").await;
    assert_eq!(keys(&last["_links"]), set(&["prev", "self"]));
    assert_eq!(
        last["_links"]["self"],
        format!("{base}/datacenters?offset=2&limit=1&depth=1")
    );
    let beyond = c.ok("/datacenters?offset=50").await;
    assert_eq!(ids(&beyond).len(), 0);
    assert_eq!(beyond["limit"], 1000);
    // Lists the Cloud API does not page still honour offset and limit, without paging fields.
    let k8s = c.ok("/k8s").await;
    assert!(k8s.get("_links").is_none() && k8s.get("offset").is_none());
    assert_eq!(ids(&c.ok("/images?limit=2").await).len(), 2);
}

#[tokio::test]
async fn filters() {
    let c = Client::start().await;
    let german = c.ok("/datacenters?filter.location=DE/&depth=1").await;
    assert_eq!(ids(&german), vec![DC_FRA.to_string(), DC_TXL.to_string()]);
    assert_eq!(
        ids(&c.ok("/datacenters?filter.name=no-such-name").await).len(),
        0
    );
    // Metadata too, and numbers and booleans as text.
    assert_eq!(
        ids(&c.ok("/datacenters?filter.state=available").await).len(),
        3
    );
    assert_eq!(
        ids(&c.ok("/datacenters?filter.secAuthProtection=true").await).len(),
        1
    );
    let stopped = c
        .ok(&format!(
            "/datacenters/{DC_TXL}/servers?filter.vmState=shutoff"
        ))
        .await;
    assert_eq!(ids(&stopped), vec![LEGACY.to_string()]);
    let cdroms = c
        .ok("/images?filter.imageType=CDROM&filter.location=de/txl")
        .await;
    assert_eq!(ids(&cdroms).len(), 2);
    // Filtering happens before paging.
    assert_eq!(
        ids(&c.ok("/datacenters?filter.location=de&offset=1").await),
        vec![DC_TXL.to_string()]
    );

    let unknown = c.get("/datacenters?filter.bogus=1").await;
    assert_error(&unknown, 400, "100");
    assert!(unknown.text.contains("bogus"), "{}", unknown.text);
}

#[tokio::test]
async fn query_parameters_are_validated() {
    let c = Client::start().await;
    for bad in [
        "depth=11",
        "depth=-1",
        "depth=deep",
        "offset=-1",
        "offset=x",
        "limit=0",
        "limit=10001",
        "limit=1.5",
    ] {
        let a = c.get(&format!("/datacenters?{bad}")).await;
        assert_error(&a, 400, "100");
        let name = bad.split('=').next().unwrap_or_default();
        assert!(a.text.contains(name), "{bad}: {}", a.text);
    }
    let a = c.get(&format!("/datacenters/{DC_FRA}?depth=x")).await;
    assert_error(&a, 400, "100");
    // Compact when asked, pretty by default.
    assert!(!c.get("/datacenters?pretty=false").await.text.contains('\n'));
    assert!(c.get("/datacenters").await.text.contains('\n'));
    // Parameters the simulator does not use are accepted.
    c.ok("/datacenters?orderBy=name&maxResults=5").await;
}

#[tokio::test]
async fn not_found_and_methods() {
    let c = Client::start().await;
    for path in [
        "/datacenters/00000000-0000-4000-8000-000000000000",
        "/nothing-here",
        &format!("/datacenters/{DC_FRA}/servers/{WEB_01}/disks"),
        &format!("/datacenters/{DC_FRA}/servers/{DC_FRA}"),
        "/datacenters/",
        "/k8s/versions/default/x",
        "/locations/xx",
        "/locations/de/nowhere",
        "/um",
    ] {
        assert_error(&c.get(path).await, 404, "309");
    }
    // Outside any product.
    let a = c
        .send(
            reqwest::Method::GET,
            "/../../nosuchproduct/things",
            Some("Bearer x"),
        )
        .await;
    assert_error(&a, 404, "309");
    for method in [
        reqwest::Method::DELETE,
        reqwest::Method::PUT,
        reqwest::Method::PATCH,
        reqwest::Method::POST,
    ] {
        let a = c
            .send(
                method.clone(),
                &format!("/datacenters/{DC_FRA}"),
                Some("Bearer x"),
            )
            .await;
        assert_error(&a, 405, "105");
    }
}

#[tokio::test]
async fn authentication() {
    let c = Client::start().await;
    assert_error(
        &c.send(reqwest::Method::GET, "/datacenters", None).await,
        401,
        "315",
    );
    assert_error(
        &c.send(reqwest::Method::GET, "/datacenters", Some("Bearer expired"))
            .await,
        401,
        "315",
    );
    assert_error(
        &c.send(reqwest::Method::GET, "/datacenters", Some("Bearer "))
            .await,
        401,
        "315",
    );
    assert_error(
        &c.send(reqwest::Method::GET, "/datacenters", Some("Token abc"))
            .await,
        401,
        "315",
    );
    // Unknown paths need credentials too.
    assert_error(
        &c.send(reqwest::Method::GET, "/nothing", None).await,
        401,
        "315",
    );
    assert_eq!(
        c.send(
            reqwest::Method::GET,
            "/datacenters",
            Some("Basic dXNlcjpwYXNz")
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        c.send(
            reqwest::Method::GET,
            "/datacenters",
            Some("bearer anything")
        )
        .await
        .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn kubernetes() {
    let c = Client::start().await;
    let versions = c.ok("/k8s/versions").await;
    assert!(
        versions
            .as_array()
            .is_some_and(|v| v.len() >= 2 && v.iter().all(Value::is_string)),
        "{versions}"
    );
    let default = c.ok("/k8s/versions/default").await;
    assert!(
        default.is_string() && versions.as_array().is_some_and(|v| v.contains(&default)),
        "{default}"
    );

    let kc = c.get(&format!("/k8s/{K8S}/kubeconfig")).await;
    assert_eq!(kc.status, StatusCode::OK);
    assert_eq!(kc.content_type, "application/yaml");
    assert!(
        kc.text.starts_with("apiVersion: v1\nkind: Config\n"),
        "{}",
        kc.text
    );
    assert!(
        kc.text.contains("certificate-authority-data: ") && kc.text.contains(K8S),
        "{}",
        kc.text
    );
    assert_error(
        &c.get("/k8s/00000000-0000-4000-8000-000000000000/kubeconfig")
            .await,
        404,
        "309",
    );

    let cluster = c.ok(&format!("/k8s/{K8S}")).await;
    assert_eq!(cluster["type"], "k8s");
    assert_eq!(cluster["metadata"]["state"], "ACTIVE");
    assert!(cluster["properties"]["apiSubnetAllowList"].is_array());
    let pools = c.ok(&format!("/k8s/{K8S}/nodepools?depth=1")).await;
    assert_eq!(pools["items"][0]["id"], POOL);
    let dc = pools["items"][0]["properties"]["datacenterId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    c.ok(&format!("/datacenters/{dc}")).await;
    // Node pools have no entities; their nodes are a path.
    assert!(pools["items"][0].get("entities").is_none());
    let nodes = c.ok(&format!("/k8s/{K8S}/nodepools/{POOL}/nodes")).await;
    assert_eq!(ids(&nodes).len(), 3);
    let node = c
        .ok(&format!("/k8s/{K8S}/nodepools/{POOL}/nodes/{NODE}"))
        .await;
    assert_eq!(node["type"], "node");
    assert_eq!(node["metadata"]["state"], "READY");
    assert!(
        node["properties"]["publicIP"].is_string() && node["properties"]["privateIP"].is_string()
    );
}

#[tokio::test]
async fn special_endpoints() {
    let c = Client::start().await;
    let base = c.sim.cloudapi_url();
    assert_eq!(
        c.ok("/").await,
        json!({"name": "CLOUD API", "href": format!("{base}/"), "version": "6.0"})
    );
    assert_eq!(c.ok("").await["version"], "6.0");

    let contracts = c.ok("/contracts").await;
    assert_eq!(contracts["type"], "contract");
    let p = &contracts["items"][0]["properties"];
    assert_eq!(p["contractNumber"], 31000000);
    assert_eq!(p["status"], "BILLABLE");
    assert!(
        p["resourceLimits"]["coresProvisioned"]
            .as_i64()
            .is_some_and(|n| n > 0),
        "{p}"
    );

    let console = c
        .ok(&format!(
            "/datacenters/{DC_FRA}/servers/{WEB_01}/remoteconsole"
        ))
        .await;
    assert!(
        console["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://dcd.ionos.com/console?token="))
    );
    assert!(
        c.ok(&format!("/datacenters/{DC_FRA}/servers/{WEB_01}/token"))
            .await["token"]
            .is_string()
    );
    assert_error(
        &c.get(&format!(
            "/datacenters/{DC_TXL}/servers/{WEB_01}/remoteconsole"
        ))
        .await,
        404,
        "309",
    );

    let status = c.ok(&format!("/requests/{FAILED_REQUEST}/status")).await;
    assert_eq!(status["type"], "request-status");
    assert_eq!(
        status["href"],
        format!("{base}/requests/{FAILED_REQUEST}/status")
    );
    assert_eq!(status["metadata"]["status"], "FAILED");
    assert_eq!(status["metadata"]["targets"][0]["target"]["type"], "volume");
    let requests = c.ok("/requests?depth=1").await;
    let states: BTreeSet<&str> = requests["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["metadata"]["requestStatus"]["metadata"]["status"].as_str())
        .collect();
    assert_eq!(states, BTreeSet::from(["DONE", "FAILED", "RUNNING"]));

    let locations = c.ok("/locations").await;
    assert!(ids(&locations).contains(&"us/las".to_string()));
    let de = c.ok("/locations/de?depth=1").await;
    assert_eq!(de["id"], "de");
    assert!(ids(&de).iter().all(|id| id.starts_with("de/")) && ids(&de).len() >= 3);
    let fra = c.ok("/locations/de/fra").await;
    assert_eq!(fra["id"], "de/fra");
    assert_eq!(fra["href"], format!("{base}/locations/de/fra"));
    assert!(
        fra["properties"]["cpuArchitecture"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    assert_eq!(c.ok("/locations/de/fra/2").await["id"], "de/fra/2");

    let labels = c.ok("/labels?depth=1").await;
    let urn = format!("urn:label:server:{WEB_01}:env");
    assert!(ids(&labels).contains(&urn), "{labels}");
    let label = c.ok(&format!("/labels/{urn}")).await;
    assert_eq!(label["properties"]["resourceType"], "server");
    let server_labels = c
        .ok(&format!(
            "/datacenters/{DC_FRA}/servers/{WEB_01}/labels/env"
        ))
        .await;
    assert_eq!(
        server_labels["properties"],
        json!({"key": "env", "value": "production"})
    );

    c.ok("/um/users").await;
    c.ok("/backupunits").await;
    c.ok("/targetgroups?depth=1").await;
    c.ok("/pccs?depth=1").await;
    c.ok("/templates?depth=1").await;
    c.ok("/snapshots?depth=1").await;
    c.ok("/ipblocks?depth=1").await;
}

const CUBE: &str = "8aa25130-32ec-495b-821c-90387a15b5d0";

/// Polls a request status until it is `want` (or a few seconds pass); the statuses seen.
async fn statuses_until(c: &Client, path: &str, want: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for _ in 0..250 {
        let status = c.ok(path).await["metadata"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    seen
}

/// Sends a power action; the answer and, for a 202, the status path from `Location`.
async fn power(c: &Client, dc: &str, server: &str, action: &str) -> (Answer, Option<String>) {
    let a = c
        .send(
            reqwest::Method::POST,
            &format!("/datacenters/{dc}/servers/{server}/{action}"),
            Some("Bearer x"),
        )
        .await;
    let path = a.location.as_ref().map(|l| {
        l.strip_prefix(&c.sim.cloudapi_url())
            .expect("Location on the simulator")
            .to_string()
    });
    (a, path)
}

async fn vm_state(c: &Client, dc: &str, server: &str) -> String {
    c.ok(&format!("/datacenters/{dc}/servers/{server}")).await["properties"]["vmState"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn server_actions_answer_202_and_finish_later() {
    let c = Client::start().await;
    // Long enough that a loaded machine still sees each status.
    c.sim
        .set_request_duration(std::time::Duration::from_millis(900));
    let (a, status_path) = power(&c, DC_FRA, WEB_01, "stop").await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(a.text, "");
    let status_path = status_path.expect("Location header");
    assert!(
        status_path.starts_with("/requests/") && status_path.ends_with("/status"),
        "{status_path}"
    );
    let first = c.ok(&status_path).await;
    assert_eq!(first["metadata"]["status"], "QUEUED");
    assert_eq!(first["metadata"]["targets"][0]["target"]["id"], WEB_01);
    // Not yet off while IONOS works on it.
    assert_eq!(vm_state(&c, DC_FRA, WEB_01).await, "RUNNING");
    let seen = statuses_until(&c, &status_path, "DONE").await;
    assert_eq!(seen, ["QUEUED", "RUNNING", "DONE"]);
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    assert_eq!(vm_state(&c, DC_FRA, WEB_01).await, "SHUTOFF");
    let newest = c.ok("/requests?limit=1&depth=1").await;
    assert_eq!(newest["items"][0]["properties"]["method"], "POST");

    // Invalid states and types are refused at once, and change nothing.
    for (dc, server, action) in [
        (DC_FRA, WEB_01, "stop"),
        (DC_FRA, WEB_01, "reboot"),
        (DC_FRA, DB_01, "start"),
        (DC_FRA, DB_01, "suspend"),
        (DC_TXL, CUBE, "stop"),
        (DC_TXL, CUBE, "start"),
        (DC_TXL, CUBE, "resume"),
    ] {
        let (a, location) = power(&c, dc, server, action).await;
        assert_eq!(a.status.as_u16(), 422, "{action} {server}: {}", a.text);
        assert!(location.is_none());
    }
    // A second action while the first is in progress waits its turn.
    let (a, _) = power(&c, DC_FRA, WEB_01, "start").await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let (busy, _) = power(&c, DC_FRA, WEB_01, "reboot").await;
    assert_eq!(busy.status.as_u16(), 422, "{}", busy.text);

    // CUBE servers are suspended and resumed.
    let (a, path) = power(&c, DC_TXL, CUBE, "suspend").await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    statuses_until(&c, &path.expect("Location"), "DONE").await;
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    assert_eq!(vm_state(&c, DC_TXL, CUBE).await, "SUSPENDED");
    let (a, path) = power(&c, DC_TXL, CUBE, "resume").await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    statuses_until(&c, &path.expect("Location"), "DONE").await;
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    assert_eq!(vm_state(&c, DC_TXL, CUBE).await, "RUNNING");

    let (a, _) = power(&c, DC_FRA, "nope", "start").await;
    assert_error(&a, 404, "309");
    let a = c
        .send(
            reqwest::Method::POST,
            &format!("/datacenters/{DC_FRA}/servers/{WEB_01}/stop"),
            None,
        )
        .await;
    assert_error(&a, 401, "315");
    let a = c
        .send(
            reqwest::Method::POST,
            &format!("/datacenters/{DC_FRA}/servers/{WEB_01}/delete"),
            Some("Bearer x"),
        )
        .await;
    assert_error(&a, 405, "105");
}

/// Starting a server the contract has no room for is accepted, then FAILED with IONOS's
/// reason; the server stays off.
#[tokio::test]
async fn a_start_beyond_the_contract_fails() {
    let c = Client::start().await;
    c.sim
        .set_request_duration(std::time::Duration::from_millis(900));
    c.sim.set_contract_limit("coresPerContract", 46);
    let (a, path) = power(&c, DC_TXL, LEGACY, "start").await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let path = path.expect("Location");
    let seen = statuses_until(&c, &path, "FAILED").await;
    assert_eq!(seen, ["QUEUED", "RUNNING", "FAILED"]);
    let status = c.ok(&path).await;
    let message = status["metadata"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("46 cores"), "{message}");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(vm_state(&c, DC_TXL, LEGACY).await, "SHUTOFF");
}

#[tokio::test]
async fn the_request_log() {
    let c = Client::start().await;
    c.get(&format!(
        "/datacenters/{DC_FRA}/servers?depth=1&filter.name=web%2001&pretty=false"
    ))
    .await;
    c.send(reqwest::Method::GET, "/datacenters/a%2Fb", None)
        .await;
    c.send(
        reqwest::Method::POST,
        &format!("/datacenters/{DC_FRA}/servers/{WEB_01}/reboot"),
        Some("Basic dTpw"),
    )
    .await;
    let log = c.sim.requests();
    assert_eq!(
        log,
        vec![
            RecordedRequest {
                method: "GET".into(),
                path: format!("/cloudapi/v6/datacenters/{DC_FRA}/servers"),
                query: vec![
                    ("depth".into(), "1".into()),
                    ("filter.name".into(), "web 01".into()),
                    ("pretty".into(), "false".into())
                ],
                authorization: Some(format!("Bearer {DEMO_TOKEN}")),
                contract: None,
            },
            RecordedRequest {
                method: "GET".into(),
                path: "/cloudapi/v6/datacenters/a%2Fb".into(),
                query: vec![],
                authorization: None,
                contract: None,
            },
            RecordedRequest {
                method: "POST".into(),
                path: format!("/cloudapi/v6/datacenters/{DC_FRA}/servers/{WEB_01}/reboot"),
                query: vec![],
                authorization: Some("Basic dTpw".into()),
                contract: None,
            },
        ]
    );
    c.sim.clear_requests();
    assert!(c.sim.requests().is_empty());
    c.get("/").await;
    assert_eq!(c.sim.requests().len(), 1);
}

#[tokio::test]
async fn encoded_slashes_stay_in_their_segment() {
    let c = Client::start().await;
    for path in [
        format!("/datacenters/{DC_FRA}%2Fservers"),
        format!("/datacenters/{DC_FRA}/servers/a%2F..%2F..%2F{DC_FRA}"),
        format!("/datacenters/{DC_FRA}/servers/%2E%2E"),
        format!("/datacenters/{DC_FRA}/servers/{WEB_01}%3Fdepth%3D5"),
        "/datacenters/%FF".to_string(),
        "/locations/de%2Ffra".to_string(),
        "/datacenters//servers".to_string(),
    ] {
        assert_error(&c.get(&path).await, 404, "309");
    }
}

/// `..` segments sent as-is (HTTP clients normalise them away, so this writes the request).
#[tokio::test]
async fn dot_segments_reach_nothing() {
    let c = Client::start().await;
    for path in [
        format!("/cloudapi/v6/datacenters/{DC_FRA}/servers/.."),
        format!("/cloudapi/v6/datacenters/{DC_FRA}/servers/../../../ipblocks"),
        "/cloudapi/v6/../v6/datacenters".to_string(),
        format!("/cloudapi/v6/datacenters/{DC_FRA}/./servers"),
    ] {
        let mut stream = tokio::net::TcpStream::connect(c.sim.addr())
            .await
            .expect("connects");
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer x\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.expect("sends");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("reads");
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
        assert!(answer.contains(r#""errorCode":"309""#), "{path}: {answer}");
    }
    assert!(
        c.sim
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/servers/.."))
    );
}

/// Every `href` the account shows can be fetched.
#[tokio::test]
async fn every_href_resolves() {
    let c = Client::start().await;
    let base = c.sim.cloudapi_url();
    let mut hrefs = BTreeSet::new();
    for root in [
        "/datacenters?depth=6",
        "/k8s?depth=3",
        "/images?depth=1",
        "/snapshots?depth=1",
        "/ipblocks?depth=1",
        "/targetgroups?depth=1",
        "/pccs?depth=1",
        "/requests?depth=1",
        "/templates?depth=1",
        "/locations?depth=1",
        "/labels?depth=1",
        "/um/users?depth=2",
        "/um/groups?depth=2",
        "/backupunits?depth=1",
    ] {
        collect_hrefs(&c.ok(root).await, &mut hrefs);
    }
    assert!(hrefs.len() > 150, "only {} hrefs", hrefs.len());
    for href in &hrefs {
        let path = href
            .strip_prefix(&base)
            .unwrap_or_else(|| panic!("href outside the simulator: {href}"));
        let a = c.get(path).await;
        assert_eq!(a.status, StatusCode::OK, "{href}: {}", a.text);
    }
}

fn collect_hrefs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("href" | "resourceHref", Value::String(s)) => {
                        out.insert(s.clone());
                    }
                    ("_links", _) => {}
                    _ => collect_hrefs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_hrefs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn dropping_the_simulator_stops_it() {
    let sim = Simulator::start().await.expect("starts");
    let addr = sim.addr();
    drop(sim);
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(refused, "still accepting connections on {addr}");
}

const ZONE_SHOP: &str = "e74d0d15-f567-4b7d-9d3a-26b3a0e1f7a2";
const ZONE_INTERNAL: &str = "3b8e6f21-90c4-4a7d-b2e5-7f1c9d0a4b36";
const ZONE_OLD: &str = "9c2a4e6b-13d5-4f8a-a7c9-5e0b2d4f6a81";
const RECORD_WWW: &str = "a1f3c2d4-1b2e-4c5d-8e9f-0a1b2c3d4e02";
const SECONDARY: &str = "5d7f9b1c-2e4a-4c6e-8a0c-2e4a6c8e0a13";
const REVERSE_WEB_01: &str = "7e9a1c3e-5f7b-4d9f-b1d3-5f7b9d1f3b57";

#[tokio::test]
async fn dns_zones_records_and_errors() {
    let c = Client::start().await;
    let base = c.sim.base_url("dns").expect("dns");

    let zones = c.ok_at("dns", "/zones").await;
    assert_eq!(ids(&zones), [ZONE_SHOP, ZONE_INTERNAL, ZONE_OLD]);
    assert_eq!(zones["type"], "collection");
    assert_eq!(zones["href"], format!("{base}/zones"));
    assert_eq!(
        (zones["offset"].clone(), zones["limit"].clone()),
        (json!(0), json!(100))
    );
    assert_eq!(zones["items"][0]["type"], "zone");
    assert_eq!(
        zones["items"][0]["href"],
        format!("{base}/zones/{ZONE_SHOP}")
    );
    assert_eq!(zones["items"][0]["metadata"]["state"], "AVAILABLE");
    assert_eq!(
        zones["items"][0]["metadata"]["nameservers"][0],
        "ns-ic.ui-dns.com"
    );

    let page = c
        .ok_at(
            "dns",
            "/zones?filter.zoneName=EXAMPLE-shop&limit=1&offset=1",
        )
        .await;
    assert_eq!(ids(&page), [ZONE_INTERNAL]);
    assert_eq!(
        page["_links"],
        json!({
            "prev": format!("{base}/zones?offset=0&limit=1&filter.zoneName=EXAMPLE%2Dshop"),
            "self": format!("{base}/zones?offset=1&limit=1&filter.zoneName=EXAMPLE%2Dshop"),
        })
    );
    let failed = c.ok_at("dns", "/zones?filter.state=failed").await;
    assert_eq!(ids(&failed), [ZONE_OLD]);
    assert_error(
        &c.get_at("dns", "/zones?filter.name=x").await,
        400,
        "paas-validation-1",
    );
    assert_error(
        &c.get_at("dns", "/zones?limit=0").await,
        400,
        "paas-validation-1",
    );

    let zone = c.ok_at("dns", &format!("/zones/{ZONE_SHOP}")).await;
    assert_eq!(
        keys(&zone),
        set(&["id", "type", "href", "metadata", "properties"])
    );
    assert_eq!(zone["properties"]["zoneName"], "example-shop.de");
    assert_eq!(zone["properties"]["enabled"], true);

    let record = c
        .ok_at("dns", &format!("/zones/{ZONE_SHOP}/records/{RECORD_WWW}"))
        .await;
    assert_eq!(record["type"], "record");
    assert_eq!(record["metadata"]["fqdn"], "www.example-shop.de");
    assert_eq!(record["metadata"]["zoneId"], ZONE_SHOP);
    assert_eq!(record["metadata"]["state"], "AVAILABLE");
    assert_eq!(
        record["properties"],
        json!({"name": "www", "type": "A", "content": "203.0.113.21", "ttl": 3600, "enabled": true})
    );
    let records = c.ok_at("dns", &format!("/zones/{ZONE_SHOP}/records")).await;
    assert_eq!(records["items"].as_array().map(Vec::len), Some(7));

    // All zones' records, filtered.
    let a = c.ok_at("dns", "/records?filter.type=a").await;
    let contents: Vec<&str> = a["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["properties"]["content"].as_str())
        .collect();
    assert_eq!(
        contents,
        [
            "203.0.113.21",
            "203.0.113.21",
            "203.0.113.22",
            "198.51.100.21",
            "10.7.222.11",
            "10.7.222.12",
            "10.7.222.21",
            "203.0.113.21"
        ]
    );
    let db = c
        .ok_at(
            "dns",
            &format!("/records?filter.zoneId={ZONE_INTERNAL}&filter.name=db"),
        )
        .await;
    assert_eq!(db["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        db["items"][0]["metadata"]["fqdn"],
        "db-01.internal.example-shop.de"
    );
    let failed = c.ok_at("dns", "/records?filter.state=FAILED").await;
    assert_eq!(failed["items"][0]["metadata"]["zoneId"], ZONE_OLD);

    // DNSSEC keys on the shop zone only.
    let keys_ = c.ok_at("dns", &format!("/zones/{ZONE_SHOP}/keys")).await;
    assert_eq!(keys_["metadata"]["zoneId"], ZONE_SHOP);
    assert_eq!(keys_["metadata"]["items"][0]["keyTag"], 30417);
    assert_eq!(keys_["metadata"]["items"][0]["keyData"]["flags"], 257);
    assert_eq!(
        keys_["properties"]["keyParameters"]["algorithm"],
        "RSASHA256"
    );
    assert_error(
        &c.get_at("dns", &format!("/zones/{ZONE_INTERNAL}/keys"))
            .await,
        404,
        "paas-resource-1",
    );

    // 404s carry the error document.
    let missing = "00000000-0000-4000-8000-000000000000";
    for path in [
        format!("/zones/{missing}"),
        format!("/zones/{missing}/records"),
        format!("/zones/{ZONE_SHOP}/records/{missing}"),
        format!("/zones/{missing}/zonefile"),
        format!("/secondaryzones/{missing}"),
        format!("/secondaryzones/{missing}/axfr"),
        format!("/reverserecords/{missing}"),
    ] {
        let a = c.get_at("dns", &path).await;
        assert_error(&a, 404, "paas-resource-1");
        assert!(a.text.contains(missing), "{path}: {}", a.text);
    }
}

#[tokio::test]
async fn dns_zone_file_secondary_zones_reverse_records_and_quota() {
    let c = Client::start().await;
    let a = c
        .get_at("dns", &format!("/zones/{ZONE_SHOP}/zonefile"))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.content_type, "text/plain");
    let lines: Vec<&str> = a.text.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "$ORIGIN example-shop.de.",
            "$TTL 3600",
            "@\tIN\tSOA\tns-ic.ui-dns.com. hostmaster.example-shop.de. (2025100101 86400 7200 3600000 3600)",
            "@\t86400\tIN\tNS\tns-ic.ui-dns.com.",
        ]
    );
    for line in [
        "@\t86400\tIN\tNS\tns-ic.ui-dns.biz.",
        "@\t3600\tIN\tA\t203.0.113.21",
        "www\t3600\tIN\tA\t203.0.113.22",
        "api\t3600\tIN\tCNAME\twww.example-shop.de.",
        "@\t3600\tIN\tMX\t10 mx00.ionos.de.",
        "@\t3600\tIN\tTXT\t\"v=spf1 include:_spf-eu.ionos.com ~all\"",
    ] {
        assert!(lines.contains(&line), "{line:?} missing: {}", a.text);
    }
    assert_eq!(lines.len(), 4 + 3 + 7);

    let secondary = c.ok_at("dns", "/secondaryzones").await;
    assert_eq!(ids(&secondary), [SECONDARY]);
    assert_eq!(secondary["items"][0]["type"], "secondaryzone");
    assert_eq!(
        secondary["items"][0]["metadata"]["nameservers"][0],
        "nscs.ui-dns.com"
    );
    let none = c.ok_at("dns", "/secondaryzones?filter.state=FAILED").await;
    assert_eq!(ids(&none), Vec::<String>::new());
    let zone = c
        .ok_at("dns", &format!("/secondaryzones/{SECONDARY}"))
        .await;
    assert_eq!(zone["properties"]["zoneName"], "partner-mirror.eu");
    assert_eq!(
        zone["properties"]["primaryIps"],
        json!(["203.0.113.10", "2001:db8::10"])
    );
    let records = c
        .ok_at(
            "dns",
            &format!("/secondaryzones/{SECONDARY}/records?limit=1"),
        )
        .await;
    assert_eq!(
        records["metadata"]["primaryIps"],
        zone["properties"]["primaryIps"]
    );
    assert_eq!(records["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        records["items"][0]["metadata"]["rootName"],
        "partner-mirror.eu"
    );
    assert_eq!(records["items"][0]["metadata"]["fqdn"], "partner-mirror.eu");
    assert!(records["_links"]["next"].is_string(), "{records}");
    let axfr = c
        .ok_at("dns", &format!("/secondaryzones/{SECONDARY}/axfr"))
        .await;
    assert_eq!(axfr["items"][0]["primaryIp"], "203.0.113.10");
    assert_eq!(axfr["items"][0]["status"], "SUCCESS");
    assert_eq!(axfr["items"][1]["status"], "FAILED");

    let reverse = c.ok_at("dns", "/reverserecords?offset=1").await;
    assert_eq!(reverse["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(reverse["items"][0]["properties"]["ip"], "203.0.113.22");
    let one = c
        .ok_at("dns", &format!("/reverserecords/{REVERSE_WEB_01}"))
        .await;
    assert_eq!(one["type"], "reverserecord");
    assert_eq!(
        one["properties"],
        json!({"name": "www.example-shop.de", "description": "web-01", "ip": "203.0.113.21"})
    );

    let quota = c.ok_at("dns", "/quota").await;
    assert_eq!(
        quota["quotaUsage"],
        json!({"zones": 3, "secondaryZones": 1, "records": 12, "reverseRecords": 3})
    );
    assert_eq!(quota["quotaLimits"]["zones"], 100);
}

const CERT_WWW: &str = "b8c1f0d2-4e6a-4c8e-9f1b-3d5f7a9c1e20";
const CERT_ALB: &str = "9946151d-f5b2-4ea5-ac46-38abd167bcd2";
const CERT_LEGACY: &str = "c9d2a1e3-5f7b-4d9f-a02c-4e6a8b0d2f31";
const AUTO_CERT: &str = "2d4f6a8c-0e2b-4d6f-8a0c-2e4b6d8f0a21";
const PROVIDER_LE: &str = "6e8a0c2e-4b6d-4f8a-a2c4-6e8a0c2e4b61";
const PROVIDER_EAB: &str = "7f9b1d3f-5c7e-4a9b-b3d5-7f9b1d3f5c72";

#[tokio::test]
async fn certificate_manager() {
    let c = Client::start().await;
    let base = c.sim.base_url("certmanager").expect("certmanager");

    let all = c.ok_at("certmanager", "/certificates").await;
    assert_eq!(ids(&all), [CERT_WWW, CERT_ALB, CERT_LEGACY]);
    assert_eq!(all["href"], format!("{base}/certificates"));
    let page = c
        .ok_at("certmanager", "/certificates?offset=1&limit=1")
        .await;
    assert_eq!(ids(&page), [CERT_ALB]);
    assert_eq!(page["offset"], 1);
    assert_eq!(
        page["_links"]["next"],
        format!("{base}/certificates?offset=2&limit=1")
    );
    let www = c
        .ok_at("certmanager", "/certificates?filter.commonName=www.EXAMPLE")
        .await;
    assert_eq!(ids(&www), [CERT_WWW]);
    let auto = c
        .ok_at(
            "certmanager",
            &format!("/certificates?filter.autoCertificate={AUTO_CERT}"),
        )
        .await;
    assert_eq!(ids(&auto), [CERT_WWW]);

    let cert = c
        .ok_at("certmanager", &format!("/certificates/{CERT_WWW}"))
        .await;
    assert_eq!(cert["type"], "certificate");
    assert_eq!(cert["href"], format!("{base}/certificates/{CERT_WWW}"));
    assert_eq!(cert["metadata"]["commonName"], "www.example-shop.de");
    assert_eq!(cert["metadata"]["expired"], false);
    assert_eq!(cert["metadata"]["autoCertificate"], AUTO_CERT);
    // The simulator sends the private key; the MCP server must redact it.
    assert_eq!(
        cert["properties"]["privateKey"],
        "-----BEGIN PRIVATE KEY-----\nSIMULATED\n-----END PRIVATE KEY-----"
    );
    let legacy = c
        .ok_at("certmanager", &format!("/certificates/{CERT_LEGACY}"))
        .await;
    assert_eq!(legacy["metadata"]["expired"], true);

    // The application load balancer's HTTPS rule serves a certificate of this account.
    let rule = c
        .ok(&format!(
            "/datacenters/{DC_FRA}/applicationloadbalancers/8e670b17-999c-40d3-a496-1a266bf0c533/forwardingrules/0ed14c73-968e-4844-9d2e-49b1537ffbfa"
        ))
        .await;
    assert_eq!(rule["properties"]["serverCertificates"], json!([CERT_ALB]));

    let autos = c
        .ok_at("certmanager", "/auto-certificates?filter.commonName=shop")
        .await;
    assert_eq!(ids(&autos), [AUTO_CERT]);
    let auto = c
        .ok_at("certmanager", &format!("/auto-certificates/{AUTO_CERT}"))
        .await;
    assert_eq!(auto["type"], "auto-certificate");
    assert_eq!(auto["properties"]["provider"], PROVIDER_LE);
    assert_eq!(auto["metadata"]["lastIssuedCertificate"], CERT_WWW);

    let providers = c.ok_at("certmanager", "/providers?limit=1").await;
    assert_eq!(ids(&providers), [PROVIDER_LE]);
    let eab = c
        .ok_at("certmanager", &format!("/providers/{PROVIDER_EAB}"))
        .await;
    assert_eq!(eab["type"], "provider");
    assert_eq!(
        eab["properties"]["externalAccountBinding"],
        json!({"keyId": "kid-SIMULATED-1", "keySecret": "SIMULATED-EAB-SECRET"})
    );

    assert_error(
        &c.get_at("certmanager", "/providers?filter.name=x").await,
        400,
        "paas-validation-1",
    );
    for path in [
        "/certificates/00000000-0000-4000-8000-000000000000",
        "/auto-certificates/00000000-0000-4000-8000-000000000000",
        "/providers/00000000-0000-4000-8000-000000000000",
    ] {
        let a = c.get_at("certmanager", path).await;
        assert_error(&a, 404, "paas-resource-1");
        assert!(
            a.text.contains("00000000-0000-4000-8000-000000000000"),
            "{}",
            a.text
        );
    }
    assert_error(&c.get_at("certmanager", "/nothing").await, 404, "309");
}

const ACCESS_KEY_BACKUP: &str = "3c5e7a9c-1e3b-4d5f-a7c9-1e3b5d7f9a33";
const ACCESS_KEY_LEGACY: &str = "4d6f8b0d-2f4c-4e6a-b8d0-2f4c6e8a0b44";

#[tokio::test]
async fn object_storage_management() {
    let c = Client::start().await;
    let base = c.sim.base_url("objectstorage").expect("objectstorage");

    let keys_ = c.ok_at("objectstorage", "/accesskeys").await;
    assert_eq!(ids(&keys_), [ACCESS_KEY_BACKUP, ACCESS_KEY_LEGACY]);
    assert_eq!(keys_["href"], format!("{base}/accesskeys"));
    let second = c
        .ok_at("objectstorage", "/accesskeys?offset=1&limit=5")
        .await;
    assert_eq!(ids(&second), [ACCESS_KEY_LEGACY]);
    assert_eq!(second["limit"], 5);
    let found = c
        .ok_at(
            "objectstorage",
            "/accesskeys?filter.accesskeyId=EXAMPLEACCESSKEY0002",
        )
        .await;
    assert_eq!(ids(&found), [ACCESS_KEY_LEGACY]);

    let key = c
        .ok_at("objectstorage", &format!("/accesskeys/{ACCESS_KEY_BACKUP}"))
        .await;
    assert_eq!(key["type"], "accesskey");
    assert_eq!(key["properties"]["accessKey"], "EXAMPLEACCESSKEY0001");
    // The simulator sends the secret; the MCP server must redact it.
    assert_eq!(key["properties"]["secretKey"], super::DEMO_S3_SECRET_KEY);
    assert_eq!(key["metadata"]["status"], "AVAILABLE");
    assert_eq!(key["metadata"]["supportedRegions"][0], "eu-central-3");

    let regions = c.ok_at("objectstorage", "/regions").await;
    assert_eq!(
        ids(&regions),
        [
            "eu-central-3",
            "eu-central-4",
            "de",
            "eu-south-2",
            "us-central-1"
        ]
    );
    let endpoints: Vec<(&str, &str)> = regions["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["properties"]["endpoint"].as_str().unwrap_or_default(),
                r["properties"]["location"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let origin = format!("http://{}", c.sim.addr());
    assert_eq!(
        endpoints,
        [
            (format!("{origin}/s3/eu-central-3").as_str(), "de/txl"),
            (format!("{origin}/s3/eu-central-4").as_str(), "de/fra"),
            (format!("{origin}/s3/de").as_str(), "de/fra"),
            (format!("{origin}/s3/eu-south-2").as_str(), "es/vit"),
            (format!("{origin}/s3/us-central-1").as_str(), "us/mci"),
        ]
    );
    let page = c.ok_at("objectstorage", "/regions?offset=3&limit=1").await;
    assert_eq!(ids(&page), ["eu-south-2"]);
    let de = c.ok_at("objectstorage", "/regions/de").await;
    assert_eq!(de["type"], "region");
    assert_eq!(
        de["properties"]["capability"],
        json!({"iam": false, "s3select": false})
    );

    for path in [
        "/accesskeys/00000000-0000-4000-8000-000000000000",
        "/regions/mars-1",
    ] {
        assert_error(
            &c.get_at("objectstorage", path).await,
            404,
            "paas-resource-1",
        );
    }
    assert_error(
        &c.get_at("objectstorage", "/regions?filter.location=x")
            .await,
        400,
        "paas-validation-1",
    );
}

const CONTRACT: i64 = 31_000_000;

#[tokio::test]
async fn activity_log() {
    use crate::tools::behaviour::Day;
    let c = Client::start().await;
    let base = c.sim.base_url("activitylog").expect("activitylog");

    let info = c.ok_at("activitylog", "/activitylog/v1").await;
    assert_eq!(info["href"], format!("{base}/activitylog/v1"));
    let contracts = c.ok_at("activitylog", "/activitylog/v1/contracts").await;
    assert_eq!(
        contracts,
        json!([{"id": CONTRACT, "type": "contract", "href": format!("{base}/activitylog/v1/contracts/{CONTRACT}")}])
    );

    let path = format!("/activitylog/v1/contracts/{CONTRACT}");
    let all = c.ok_at("activitylog", &format!("{path}?limit=1000")).await;
    assert_eq!(all["hits"]["total"], 40);
    let hits = all["hits"]["hits"].as_array().cloned().unwrap_or_default();
    assert_eq!(hits.len(), 40);
    let time = |h: &Value| {
        h["_source"]["meta"]["time"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        hits.windows(2).all(|w| time(&w[0]) >= time(&w[1])),
        "not newest first"
    );
    let is_poll = |h: &Value| {
        let e = &h["_source"]["event"];
        e["param"]["action"] == "GET"
            && e["param"]["uri"]
                .as_str()
                .is_some_and(|u| u.contains("/requests/") && u.contains("/status"))
            && e["resources"][0]["action"] == json!(["request.status.get"])
    };
    assert_eq!(hits.iter().filter(|h| is_poll(h)).count(), 12);
    let first = &hits[0]["_source"];
    assert_eq!(first["principal"]["identity"]["contractNumber"], CONTRACT);
    assert!(first["meta"]["requestId"].is_string());

    // The last seven days, inclusive: changes and status polls.
    let today = Day::today();
    let week_ago = Day(today.0 - 7);
    let week = c
        .ok_at(
            "activitylog",
            &format!("{path}?dateStart={week_ago}&dateEnd={today}"),
        )
        .await;
    let in_week = week["hits"]["hits"].as_array().cloned().unwrap_or_default();
    assert_eq!(week["hits"]["total"], 12);
    assert_eq!(in_week.len(), 12);
    assert_eq!(in_week.iter().filter(|h| is_poll(h)).count(), 4);
    assert!(in_week.iter().all(|h| time(h) >= week_ago.to_string()));
    let expected: Vec<Value> = hits
        .iter()
        .filter(|h| time(h) >= week_ago.to_string())
        .cloned()
        .collect();
    assert_eq!(in_week, expected);

    // Paging keeps the total of the range.
    let page = c
        .ok_at(
            "activitylog",
            &format!("{path}?dateStart={week_ago}&dateEnd={today}&offset=10&limit=5"),
        )
        .await;
    assert_eq!(page["hits"]["total"], 12);
    assert_eq!(page["hits"]["hits"], json!(in_week[10..]));

    // One day, both ends inclusive.
    let yesterday = Day(today.0 - 1);
    let day = c
        .ok_at(
            "activitylog",
            &format!("{path}?dateStart={yesterday}&dateEnd={yesterday}"),
        )
        .await;
    assert_eq!(day["hits"]["total"], 1);
    assert!(time(&day["hits"]["hits"][0]).starts_with(&yesterday.to_string()));
    let future = c
        .ok_at("activitylog", &format!("{path}?dateStart=2999-01-01"))
        .await;
    assert_eq!(future["hits"], json!({"total": 0, "hits": []}));

    for bad in [
        "dateStart=2026-02-30",
        "dateEnd=26-01-01",
        "dateStart=2026-03-10&dateEnd=2026-03-01",
        "limit=0",
        "offset=x",
    ] {
        assert_error(
            &c.get_at("activitylog", &format!("{path}?{bad}")).await,
            400,
            "100",
        );
    }
    let a = c
        .get_at("activitylog", "/activitylog/v1/contracts/12345")
        .await;
    assert_error(&a, 404, "404");
    assert!(a.text.contains("12345"), "{}", a.text);
}

#[tokio::test]
async fn billing() {
    use crate::tools::behaviour::Day;
    let c = Client::start().await;
    let today = Day::today();
    let first = Day::parse(&format!("{}-01", &today.to_string()[..7])).expect("date");
    let last_month = Day(first.0 - 1).to_string()[..7].to_string();
    let invoice = format!("{}0042", last_month.replace('-', ""));

    let ping = c.get_at("billing", "/intern/ping").await;
    assert_eq!(
        (ping.status, ping.content_type.as_str()),
        (StatusCode::OK, "text/plain")
    );
    let profile = c.ok_at("billing", "/profile").await;
    assert_eq!(profile["companies"][0]["contractId"], "31000000");

    let invoices = c.ok_at("billing", &format!("/{CONTRACT}/invoices")).await;
    assert_eq!(invoices["metadata"]["contractId"], "31000000");
    let list = invoices["invoices"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["id"], invoice);
    let one = c
        .ok_at("billing", &format!("/{CONTRACT}/invoices/{invoice}"))
        .await;
    assert_eq!(one["metadata"]["postingPeriod"], last_month);
    assert_eq!(one["metadata"]["startDate"], format!("{last_month}-01"));
    assert_eq!(one["metadata"]["endDate"], Day(first.0 - 1).to_string());
    assert_eq!(one["total"]["quantity"], list[0]["amount"]);
    assert_eq!(one["datacenters"][1]["name"], "staging");
    let by_period = c.ok_at("billing", &format!("/invoices/{last_month}")).await;
    assert_eq!(by_period, json!([one]));
    let other = c
        .ok_at("billing", &format!("/invoices/{last_month}?contractid=999"))
        .await;
    assert_eq!(other, json!([]));
    assert_eq!(c.ok_at("billing", "/invoices/2001-01").await, json!([]));

    // Usage of last month agrees with its invoice.
    let usage = c
        .ok_at("billing", &format!("/{CONTRACT}/usage?period={last_month}"))
        .await;
    assert_eq!(usage["startDate"], format!("{last_month}-01"));
    let cores = &usage["datacenters"][0]["meters"][1];
    assert_eq!(cores["meterId"], "C02000");
    let invoiced = one["datacenters"][0]["meters"][1]["quantity"]["quantity"]
        .as_f64()
        .unwrap_or_default();
    assert_eq!(cores["quantity"]["quantity"], format!("{invoiced:.2}"));
    let gpu = usage["datacenters"][0]["meters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["meterId"] == "G01000")
        .cloned();
    assert_eq!(
        gpu.map(|m| m["quantity"]["quantity"].clone()),
        Some(json!("0.00"))
    );
    let staging = c
        .ok_at("billing", &format!("/{CONTRACT}/usage/{DC_TXL}"))
        .await;
    assert_eq!(staging["datacenters"].as_array().map(Vec::len), Some(1));
    assert_eq!(staging["datacenters"][0]["name"], "staging");

    // Utilization per resource, filtered.
    let util = c
        .ok_at(
            "billing",
            &format!("/{CONTRACT}/utilization/{last_month}?dc={DC_FRA}&type=server"),
        )
        .await;
    assert_eq!(util["datacenters"].as_array().map(Vec::len), Some(1));
    let meters = util["datacenters"][0]["meters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(meters.len(), 9);
    assert!(
        meters
            .iter()
            .all(|m| m["type"] == "SERVER" && m["region"] == "de/fra")
    );
    let web = c
        .ok_at(
            "billing",
            &format!(
                "/{CONTRACT}/utilization/daily/{}?resource={WEB_01}",
                Day(today.0 - 1)
            ),
        )
        .await;
    assert_eq!(web["startDate"], Day(today.0 - 1).to_string());
    let web_meters = web["datacenters"][0]["meters"].clone();
    assert_eq!(web_meters[0]["name"], "web-01");
    assert_eq!(
        web_meters[0]["quantity"],
        json!({"quantity": 96.0, "unit": "h"})
    );
    assert_eq!(
        web_meters[1]["quantity"],
        json!({"quantity": 192.0, "unit": "GB h"})
    );
    assert_eq!(web["datacenters"][1]["meters"], json!([]));
    let future = c
        .ok_at(
            "billing",
            &format!("/{CONTRACT}/utilization/daily/2999-01-01"),
        )
        .await;
    assert_eq!(future["datacenters"][0]["meters"], json!([]));

    let traffic = c
        .ok_at(
            "billing",
            &format!("/{CONTRACT}/traffic/{last_month}?ip=true"),
        )
        .await;
    assert_eq!(traffic["metadata"]["period"], last_month);
    assert_eq!(traffic["trafficObj"]["vdc"][0]["vdcName"], "production");
    assert_eq!(
        traffic["trafficObj"]["vdc"][0]["dates"][0]["Date"],
        format!("{last_month}-01")
    );
    assert_eq!(traffic["trafficObj"]["nic"][0]["ip"], "203.0.113.21");
    let no_ip = c.ok_at("billing", &format!("/{CONTRACT}/traffic")).await;
    assert_eq!(no_ip["trafficObj"]["nic"], json!([]));
    let evn = c
        .ok_at("billing", &format!("/{CONTRACT}/evn/{last_month}"))
        .await;
    assert_eq!(evn["datacenters"][0]["vdcUUID"], DC_FRA);
    assert_eq!(evn["datacenters"][0]["data"][0]["resourceUUID"], WEB_01);
    let products = c
        .ok_at("billing", &format!("/{CONTRACT}/products?date=2026-01-15"))
        .await;
    assert_eq!(
        products["products"][0],
        json!({"meterId": "C01000", "meterDesc": "CORE AMD usage", "deprecated": false, "unit": "h",
               "type": "consumption", "term": null, "unitCost": {"quantity": "0.0395", "unit": "EUR"}})
    );

    // Periods are YYYY-MM, dates YYYY-MM-DD.
    for path in [
        "/invoices/2026-13".to_string(),
        "/invoices/26-01".to_string(),
        format!("/{CONTRACT}/evn/2026-1"),
        format!("/{CONTRACT}/traffic/2026-00"),
        format!("/{CONTRACT}/usage?period=2026"),
        format!("/{CONTRACT}/usage/{DC_FRA}?period=x"),
        format!("/{CONTRACT}/utilization/2026-01-01"),
        format!("/{CONTRACT}/utilization/daily/2026-02-30"),
        format!("/{CONTRACT}/utilization/daily/2026-02"),
        format!("/{CONTRACT}/utilization?type=TOASTER"),
        format!("/{CONTRACT}/products?date=2026-1-1"),
    ] {
        let a = c.get_at("billing", &path).await;
        assert_error(&a, 400, "100");
        assert!(
            a.text.contains("YYYY") || a.text.contains("type"),
            "{path}: {}",
            a.text
        );
    }
    for path in [
        "/12345/invoices".to_string(),
        "/12345/usage".to_string(),
        format!("/{CONTRACT}/invoices/2001010042"),
        format!("/{CONTRACT}/usage/00000000-0000-4000-8000-000000000000"),
    ] {
        assert_error(&c.get_at("billing", &path).await, 404, "404");
    }
    assert_error(
        &c.get_at("billing", &format!("/{CONTRACT}/nothing")).await,
        404,
        "309",
    );
}

#[test]
fn the_request_log_keeps_the_latest_requests_only() {
    let mut log = std::collections::VecDeque::new();
    for i in 0..5 {
        super::keep_recent(&mut log, i, 3);
    }
    assert_eq!(log, [2, 3, 4]);
}
