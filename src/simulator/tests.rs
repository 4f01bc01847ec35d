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
        let mut req = self.http.request(method, self.url(path));
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

#[tokio::test]
async fn server_actions_answer_202_with_a_request() {
    let c = Client::start().await;
    let server = format!("/datacenters/{DC_FRA}/servers/{WEB_01}");
    let a = c
        .send(
            reqwest::Method::POST,
            &format!("{server}/stop"),
            Some("Bearer x"),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(a.text, "");
    let location = a.location.expect("Location header");
    let status_path = location
        .strip_prefix(&c.sim.cloudapi_url())
        .expect("Location on the simulator")
        .to_string();
    assert!(
        status_path.starts_with("/requests/") && status_path.ends_with("/status"),
        "{location}"
    );
    let status = c.ok(&status_path).await;
    assert_eq!(status["metadata"]["status"], "DONE");
    assert_eq!(status["metadata"]["targets"][0]["target"]["id"], WEB_01);
    assert_eq!(c.ok(&server).await["properties"]["vmState"], "SHUTOFF");
    let newest = c.ok("/requests?limit=1&depth=1").await;
    assert_eq!(newest["items"][0]["properties"]["method"], "POST");

    for action in ["start", "reboot"] {
        let a = c
            .send(
                reqwest::Method::POST,
                &format!("{server}/{action}"),
                Some("Bearer x"),
            )
            .await;
        assert_eq!(a.status, StatusCode::ACCEPTED);
    }
    assert_eq!(c.ok(&server).await["properties"]["vmState"], "RUNNING");
    let a = c
        .send(
            reqwest::Method::POST,
            &format!("/datacenters/{DC_FRA}/servers/nope/start"),
            Some("Bearer x"),
        )
        .await;
    assert_error(&a, 404, "309");
    let a = c
        .send(reqwest::Method::POST, &format!("{server}/stop"), None)
        .await;
    assert_error(&a, 401, "315");
    let a = c
        .send(
            reqwest::Method::POST,
            &format!("{server}/suspend"),
            Some("Bearer x"),
        )
        .await;
    assert_error(&a, 405, "105");
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
            },
            RecordedRequest {
                method: "GET".into(),
                path: "/cloudapi/v6/datacenters/a%2Fb".into(),
                query: vec![],
                authorization: None,
            },
            RecordedRequest {
                method: "POST".into(),
                path: format!("/cloudapi/v6/datacenters/{DC_FRA}/servers/{WEB_01}/reboot"),
                query: vec![],
                authorization: Some("Basic dTpw".into()),
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
