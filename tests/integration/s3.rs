//! The Object Storage S3 tools against the simulator's S3 data plane, which checks the
//! AWS Signature Version 4 of every request: each tool sends its signed request to the
//! bucket's regional endpoint and answers JSON shaped by the spec; bucket regions are looked
//! up once; a wrong secret, missing keys and a pinned endpoint give errors that say what to do.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use ionos_mcp::config::Secret;
use ionos_mcp::simulator::{DEMO_S3_ACCESS_KEY, RecordedRequest, Simulator};
use ionos_mcp::tools::table::TOOLS;
use serde_json::{Value, json};

use crate::support::{Harness, config_for, is_error, items_of, text};

/// What a result must hold.
enum Check {
    Eq(&'static str, Value),
    /// An array of at least this many elements at the pointer.
    Len(&'static str, usize),
}
use Check::{Eq, Len};

struct Case {
    tool: &'static str,
    args: Value,
    /// The region whose endpoint must receive the request.
    region: &'static str,
    method: &'static str,
    /// Path after the endpoint's base path.
    path: &'static str,
    query: &'static [(&'static str, &'static str)],
    checks: Vec<Check>,
}

#[allow(clippy::too_many_arguments)]
fn case(
    tool: &'static str,
    args: Value,
    region: &'static str,
    method: &'static str,
    path: &'static str,
    query: &'static [(&'static str, &'static str)],
    checks: Vec<Check>,
) -> Case {
    Case {
        tool,
        args,
        region,
        method,
        path,
        query,
        checks,
    }
}

const EU3: &str = "eu-central-3";
const DE: &str = "de";

fn cases() -> Vec<Case> {
    vec![
        case(
            "list_object_storage_buckets",
            json!({}),
            EU3,
            "GET",
            "/",
            &[],
            vec![
                Len("/Buckets", 4),
                Eq("/Buckets/0/Name", json!("logs-archive")),
            ],
        ),
        case(
            "get_object_storage_bucket_location",
            json!({"bucket": "shop-backups"}),
            DE,
            "GET",
            "/shop-backups",
            &[("location", "")],
            vec![Eq("/LocationConstraint", json!("de"))],
        ),
        case(
            "head_object_storage_bucket",
            json!({"bucket": "shop-assets"}),
            EU3,
            "HEAD",
            "/shop-assets",
            &[],
            vec![
                Eq("/accessible", json!(true)),
                Eq("/bucket", json!("shop-assets")),
            ],
        ),
        case(
            "get_object_storage_bucket_cors",
            json!({"bucket": "shop-assets"}),
            EU3,
            "GET",
            "/shop-assets",
            &[("cors", "")],
            vec![
                Len("/CORSRules", 2),
                Len("/CORSRules/0/AllowedMethods", 1),
                Eq("/CORSRules/0/AllowedMethods/0", json!("GET")),
            ],
        ),
        case(
            "get_object_storage_bucket_encryption",
            json!({"bucket": "shop-backups"}),
            DE,
            "GET",
            "/shop-backups",
            &[("encryption", "")],
            vec![Eq(
                "/Rules/0/ApplyServerSideEncryptionByDefault/SSEAlgorithm",
                json!("AES256"),
            )],
        ),
        case(
            "get_object_storage_bucket_lifecycle",
            json!({"bucket": "logs-archive"}),
            EU3,
            "GET",
            "/logs-archive",
            &[("lifecycle", "")],
            vec![Len("/Rules", 1), Eq("/Rules/0/Expiration/Days", json!(90))],
        ),
        case(
            "get_object_storage_bucket_policy",
            json!({"bucket": "shop-assets"}),
            EU3,
            "GET",
            "/shop-assets",
            &[("policy", "")],
            vec![
                Eq("/Statement/0/Effect", json!("Allow")),
                Eq("/Statement/0/Action/0", json!("s3:GetObject")),
            ],
        ),
        case(
            "get_object_storage_bucket_policy_status",
            json!({"bucket": "shop-assets"}),
            EU3,
            "GET",
            "/shop-assets",
            &[("policyStatus", "")],
            vec![Eq("/IsPublic", json!(true))],
        ),
        case(
            "get_object_storage_bucket_replication",
            json!({"bucket": "shop-backups"}),
            DE,
            "GET",
            "/shop-backups",
            &[("replication", "")],
            vec![
                Len("/ReplicationConfiguration/Rules", 1),
                Eq(
                    "/ReplicationConfiguration/Rules/0/Destination/Bucket",
                    json!("arn:aws:s3:::shop-backups-replica"),
                ),
            ],
        ),
        case(
            "get_object_storage_bucket_tagging",
            json!({"bucket": "shop-assets"}),
            EU3,
            "GET",
            "/shop-assets",
            &[("tagging", "")],
            vec![Len("/TagSet", 3)],
        ),
        case(
            "get_object_storage_bucket_versioning",
            json!({"bucket": "shop-backups"}),
            DE,
            "GET",
            "/shop-backups",
            &[("versioning", "")],
            vec![Eq("/Status", json!("Enabled"))],
        ),
        case(
            "get_object_storage_bucket_public_access_block",
            json!({"bucket": "shop-backups"}),
            DE,
            "GET",
            "/shop-backups",
            &[("publicAccessBlock", "")],
            vec![
                Eq("/BlockPublicAcls", json!(true)),
                Eq("/RestrictPublicBuckets", json!(true)),
            ],
        ),
        case(
            "get_object_storage_bucket_lock_configuration",
            json!({"bucket": "shop-backups"}),
            DE,
            "GET",
            "/shop-backups",
            &[("object-lock", "")],
            vec![
                Eq("/ObjectLockEnabled", json!("Enabled")),
                Eq("/Rule/DefaultRetention/Mode", json!("COMPLIANCE")),
                Eq("/Rule/DefaultRetention/Days", json!(30)),
            ],
        ),
        case(
            "list_object_storage_objects",
            json!({"bucket": "logs-archive", "prefix": "2026/11/", "max_keys": 5}),
            EU3,
            "GET",
            "/logs-archive",
            &[
                ("list-type", "2"),
                ("prefix", "2026/11/"),
                ("max-keys", "5"),
            ],
            vec![
                Len("/Contents/rows", 5),
                Eq("/KeyCount", json!(5)),
                Eq("/IsTruncated", json!(true)),
                Eq("/Contents/columns/0", json!("Key")),
                Eq("/Contents/rows/0/0", json!("2026/11/01/access.log.gz")),
            ],
        ),
        case(
            "head_object_storage_object",
            json!({"bucket": "shop-backups", "key": "db/latest.sql.gz"}),
            DE,
            "HEAD",
            "/shop-backups/db%2Flatest.sql.gz",
            &[],
            vec![
                Eq("/key", json!("db/latest.sql.gz")),
                Eq("/Metadata/source-host", json!("db-01")),
                Eq("/ObjectLockMode", json!("COMPLIANCE")),
                Eq("/ObjectLockLegalHold", json!("OFF")),
                Eq("/ContentType", json!("application/gzip")),
            ],
        ),
        case(
            "list_object_storage_object_versions",
            json!({"bucket": "shop-backups", "prefix": "config/", "max_keys": 50}),
            DE,
            "GET",
            "/shop-backups",
            &[("versions", ""), ("prefix", "config/"), ("max-keys", "50")],
            vec![
                Len("/Versions/rows", 4),
                Len("/DeleteMarkers/rows", 1),
                Eq("/IsTruncated", json!(false)),
            ],
        ),
        case(
            "get_object_storage_object_tagging",
            json!({"bucket": "shop-assets", "key": "images/hero-winter.jpg"}),
            EU3,
            "GET",
            "/shop-assets/images%2Fhero-winter.jpg",
            &[("tagging", "")],
            vec![Len("/TagSet", 1)],
        ),
        case(
            "get_object_storage_object_retention",
            json!({"bucket": "shop-backups", "key": "db/latest.sql.gz"}),
            DE,
            "GET",
            "/shop-backups/db%2Flatest.sql.gz",
            &[("retention", "")],
            vec![Eq("/Mode", json!("COMPLIANCE"))],
        ),
        case(
            "get_object_storage_object_legal_hold",
            json!({"bucket": "shop-backups", "key": "db/latest.sql.gz"}),
            DE,
            "GET",
            "/shop-backups/db%2Flatest.sql.gz",
            &[("legal-hold", "")],
            vec![Eq("/Status", json!("OFF"))],
        ),
    ]
}

fn query_set(pairs: &[(String, String)]) -> BTreeSet<(String, String)> {
    pairs.iter().cloned().collect()
}

/// `Credential=<access key>/<date>/<region>/s3/aws4_request` names this region.
fn signed_for(req: &RecordedRequest, region: &str) -> bool {
    req.authorization.as_deref().is_some_and(|a| {
        a.starts_with(&format!(
            "AWS4-HMAC-SHA256 Credential={DEMO_S3_ACCESS_KEY}/"
        )) && a.contains(&format!("/{region}/s3/aws4_request, "))
    })
}

#[tokio::test]
async fn every_s3_tool_sends_a_signed_request_to_its_buckets_region() {
    let h = Harness::start().await;
    let mut failures = Vec::new();
    let mut seen: BTreeMap<&str, RecordedRequest> = BTreeMap::new();
    for c in cases() {
        h.sim.clear_requests();
        let r = h.call(c.tool, c.args.clone()).await;
        if is_error(&r) {
            failures.push(format!("{}: error result: {}", c.tool, text(&r)));
            continue;
        }
        let sent = h.sim.requests();
        let Some(req) = sent.last() else {
            failures.push(format!("{}: nothing sent", c.tool));
            continue;
        };
        // Anything before the tool's own request is a location lookup.
        for earlier in &sent[..sent.len() - 1] {
            let lookup = earlier.query.iter().any(|(k, _)| k == "location")
                || earlier.path.starts_with("/s3-management/regions/");
            if !lookup {
                failures.push(format!("{}: unexpected request {earlier:?}", c.tool));
            }
        }
        let want_path = format!("/s3/{}{}", c.region, c.path);
        if req.method != c.method || req.path != want_path {
            failures.push(format!(
                "{}: sent {} {}, expected {} {want_path}",
                c.tool, req.method, req.path, c.method
            ));
        }
        let want: BTreeSet<(String, String)> = c
            .query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if query_set(&req.query) != want {
            failures.push(format!(
                "{}: query {:?}, expected {want:?}",
                c.tool, req.query
            ));
        }
        if !signed_for(req, c.region) {
            failures.push(format!(
                "{}: not signed for {}: {:?}",
                c.tool, c.region, req.authorization
            ));
        }
        let Some(result) = r.structured_content.clone() else {
            failures.push(format!("{}: no structured result", c.tool));
            continue;
        };
        for secret in crate::support::secrets_in(&result) {
            failures.push(format!("{}: the result contains {secret}", c.tool));
        }
        for check in &c.checks {
            match check {
                Eq(pointer, want) => {
                    if result.pointer(pointer) != Some(want) {
                        failures.push(format!(
                            "{}: {pointer} is {:?}, expected {want}",
                            c.tool,
                            result.pointer(pointer)
                        ));
                    }
                }
                Len(pointer, n) => {
                    let len = result
                        .pointer(pointer)
                        .and_then(Value::as_array)
                        .map(Vec::len);
                    if len.is_none_or(|l| l < *n) {
                        failures.push(format!(
                            "{}: {pointer} has {len:?} elements, expected at least {n}",
                            c.tool
                        ));
                    }
                }
            }
        }
        seen.insert(c.tool, req.clone());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let untested: Vec<&str> = TOOLS
        .iter()
        .filter(|t| t.product == "objectstorage_s3" && !seen.contains_key(t.name))
        .map(|t| t.name)
        .collect();
    assert!(untested.is_empty(), "S3 tools without a case: {untested:?}");
    assert_eq!(seen.len(), 19, "the 19 S3 tools of the official server");
    facts_agree(&seen);
}

/// Method, path and query of every S3 request as `facts/objectstorage-s3.json` describes the
/// operation (sub-resource flags such as `?cors` included); skipped where the facts are absent.
fn facts_agree(seen: &BTreeMap<&str, RecordedRequest>) {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/ionos-api/facts/objectstorage-s3.json");
    let Ok(bytes) = std::fs::read(&file) else {
        eprintln!(
            "SKIPPED: {} is absent; the S3 facts check needs the shared reference material",
            file.display()
        );
        return;
    };
    let facts: Value = serde_json::from_slice(&bytes).expect("facts are JSON");
    let ops = facts["operations"].as_array().expect("operations");
    let mut problems = Vec::new();
    for (name, req) in seen {
        let tool = ionos_mcp::tools::table::tool(name).expect("tool");
        let Some(op) = ops.iter().find(|o| {
            o["operation"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(tool.operation_id))
        }) else {
            problems.push(format!("{name}: {} not in the facts", tool.operation_id));
            continue;
        };
        let (template, flags) = op["path"]
            .as_str()
            .unwrap_or_default()
            .split_once('?')
            .map(|(p, f)| (p.to_string(), f.to_string()))
            .unwrap_or_else(|| {
                (
                    op["path"].as_str().unwrap_or_default().to_string(),
                    String::new(),
                )
            });
        // Below `/s3/<region>`: the same number of segments, literal ones equal.
        let path: Vec<&str> = req.path.split('/').skip(3).collect();
        let tpl: Vec<&str> = template.trim_start_matches('/').split('/').collect();
        let path_ok = path.len() == tpl.len()
            && path.iter().zip(&tpl).all(|(p, t)| {
                (t.starts_with('{') && !p.is_empty()) || p == t || (t.is_empty() && p.is_empty())
            });
        if req.method != op["method"].as_str().unwrap_or_default() || !path_ok {
            problems.push(format!(
                "{name}: sent {} {}, facts say {} {}",
                req.method, req.path, op["method"], op["path"]
            ));
        }
        let flag_names: Vec<&str> = flags
            .split('&')
            .filter(|f| !f.is_empty())
            .map(|f| f.split('=').next().unwrap_or(f))
            .collect();
        let sent: BTreeSet<&str> = req.query.iter().map(|(k, _)| k.as_str()).collect();
        for f in &flag_names {
            if !sent.contains(f) {
                problems.push(format!("{name}: flag `{f}` of {} not sent", op["path"]));
            }
        }
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str())
            .collect();
        for q in &sent {
            if !declared.contains(q) && !flag_names.contains(q) {
                problems.push(format!(
                    "{name}: sends `{q}`, which the facts do not declare"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A bucket's region is looked up once: GetBucketLocation at the base endpoint, the region's
/// endpoint from the management API; later calls go straight to the regional endpoint.
#[tokio::test]
async fn a_buckets_region_is_looked_up_once() {
    let h = Harness::start().await;
    h.sim.clear_requests();
    let r = h
        .call(
            "get_object_storage_bucket_versioning",
            json!({"bucket": "shop-backups"}),
        )
        .await;
    assert!(!is_error(&r), "{}", text(&r));
    let sent = h.sim.requests();
    let summary: Vec<String> = sent
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        summary,
        [
            "GET /s3/eu-central-3/shop-backups",
            "GET /s3-management/regions/de",
            "GET /s3/de/shop-backups",
        ],
        "{sent:?}"
    );
    assert_eq!(sent[0].query, [("location".to_string(), String::new())]);
    assert!(signed_for(&sent[0], "eu-central-3"));
    assert!(
        sent[1]
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer ")),
        "the management API takes the IONOS token"
    );
    assert!(signed_for(&sent[2], "de"));

    h.sim.clear_requests();
    let r = h
        .call(
            "get_object_storage_bucket_tagging",
            json!({"bucket": "shop-backups"}),
        )
        .await;
    assert!(!is_error(&r), "{}", text(&r));
    let sent = h.sim.requests();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].path, "/s3/de/shop-backups");
}

/// The simulator checks every signature: signed with a wrong secret, the request is refused
/// with S3's SignatureDoesNotMatch and the error names the variables to check; signed with
/// the right one, the same call succeeds.
#[tokio::test]
async fn a_wrong_secret_is_refused_and_the_right_one_accepted() {
    const WRONG: &str = "wrong-secret-0000000000000000000000000000";
    let sim = Simulator::start().await.expect("simulator");
    let mut config =
        config_for(&format!("http://{}", sim.addr())).with_base_urls(|p| sim.base_url(p));
    config.s3.secret_key = Some(Secret::new(WRONG));
    let h = Harness::with_config(sim, config).await;
    let r = h.call("list_object_storage_buckets", json!({})).await;
    assert!(is_error(&r));
    let msg = text(&r);
    assert!(msg.contains("403 SignatureDoesNotMatch"), "{msg}");
    assert!(
        msg.contains("IONOS_S3_SECRET_KEY does not belong to IONOS_S3_ACCESS_KEY"),
        "{msg}"
    );
    assert!(!msg.contains(WRONG), "{msg}");
    assert!(
        h.sim.requests().iter().all(|r| r.path.starts_with("/s3/")),
        "only S3 was asked"
    );

    let right = Harness::start().await;
    let r = right.call("list_object_storage_buckets", json!({})).await;
    assert!(!is_error(&r), "{}", text(&r));
}

/// Without the key pair, S3 tools say which variables to set and where keys are made, send
/// nothing, and every other tool keeps working.
#[tokio::test]
async fn without_keys_s3_tools_explain_and_others_work() {
    let sim = Simulator::start().await.expect("simulator");
    let mut config =
        config_for(&format!("http://{}", sim.addr())).with_base_urls(|p| sim.base_url(p));
    config.s3.access_key = None;
    config.s3.secret_key = None;
    let h = Harness::with_config(sim, config).await;
    h.sim.clear_requests();
    let r = h
        .call(
            "list_object_storage_objects",
            json!({"bucket": "shop-assets"}),
        )
        .await;
    assert!(is_error(&r));
    let msg = text(&r);
    for part in [
        "IONOS_S3_ACCESS_KEY and IONOS_S3_SECRET_KEY are not set",
        "Object Storage > Access Keys",
        "All other tools work without them",
    ] {
        assert!(msg.contains(part), "{part:?} missing: {msg}");
    }
    assert!(
        h.sim.requests().is_empty(),
        "a request went out without keys"
    );
    for (tool, args) in [
        ("list_object_storage_access_keys", json!({})),
        ("list_datacenters", json!({})),
        ("list_dns_zones", json!({})),
    ] {
        let r = h.call(tool, args).await;
        assert!(!is_error(&r), "{tool}: {}", text(&r));
    }
}

/// `IONOS_S3_ENDPOINT` pins one endpoint: its buckets take one request each; a bucket of
/// another region gets S3's redirect, explained.
#[tokio::test]
async fn a_pinned_endpoint_serves_its_region_and_explains_others() {
    let sim = Simulator::start().await.expect("simulator");
    let mut config =
        config_for(&format!("http://{}", sim.addr())).with_base_urls(|p| sim.base_url(p));
    config.s3.single_endpoint = true;
    config.s3.region = Some("eu-central-3".into());
    let h = Harness::with_config(sim, config).await;
    h.sim.clear_requests();
    let r = h
        .call(
            "get_object_storage_bucket_cors",
            json!({"bucket": "shop-assets"}),
        )
        .await;
    assert!(!is_error(&r), "{}", text(&r));
    assert_eq!(h.sim.requests().len(), 1);

    let r = h
        .call(
            "get_object_storage_bucket_versioning",
            json!({"bucket": "shop-backups"}),
        )
        .await;
    assert!(is_error(&r));
    let msg = text(&r);
    assert!(msg.contains("301 PermanentRedirect"), "{msg}");
    assert!(msg.contains("Unset IONOS_S3_ENDPOINT"), "{msg}");
}

/// A configuration a bucket does not have is a finding (`configured: false`), not a failure;
/// a bucket or key that does not exist is an error pointing at the list tools.
#[tokio::test]
async fn absent_configurations_and_missing_things() {
    let h = Harness::start().await;
    for (tool, args, code) in [
        (
            "get_object_storage_bucket_cors",
            json!({"bucket": "logs-archive"}),
            "NoSuchCORSConfiguration",
        ),
        (
            "get_object_storage_bucket_policy",
            json!({"bucket": "shop-backups"}),
            "NoSuchBucketPolicy",
        ),
        (
            "get_object_storage_bucket_lock_configuration",
            json!({"bucket": "logs-archive"}),
            "ObjectLockConfigurationNotFoundError",
        ),
        (
            "get_object_storage_object_tagging",
            json!({"bucket": "shop-assets", "key": "index.html"}),
            "NoSuchTagSet",
        ),
    ] {
        let r = h.call(tool, args).await;
        assert!(!is_error(&r), "{tool}: {}", text(&r));
        let v = r.structured_content.expect("structured");
        assert_eq!(v["configured"], json!(false), "{tool}: {v}");
        assert_eq!(v["code"], json!(code), "{tool}: {v}");
    }
    let r = h
        .call(
            "get_object_storage_bucket_cors",
            json!({"bucket": "no-such-bucket"}),
        )
        .await;
    assert!(is_error(&r));
    assert!(text(&r).contains("NoSuchBucket"), "{}", text(&r));
    assert!(
        text(&r).contains("list_object_storage_buckets"),
        "{}",
        text(&r)
    );

    let r = h
        .call(
            "head_object_storage_object",
            json!({"bucket": "shop-assets", "key": "no/such/key.txt"}),
        )
        .await;
    assert!(is_error(&r));
    assert!(text(&r).contains("404"), "{}", text(&r));
    assert!(
        text(&r).contains("list_object_storage_objects"),
        "{}",
        text(&r)
    );
}

/// Paging through a bucket with the continuation token visits every key once.
#[tokio::test]
async fn objects_page_with_the_continuation_token() {
    let h = Harness::start().await;
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..50 {
        let mut args = json!({"bucket": "logs-archive", "prefix": "2026/11/", "max_keys": 20});
        if let Some(t) = &token {
            args["continuation_token"] = json!(t);
        }
        let r = h.call("list_object_storage_objects", args).await;
        assert!(!is_error(&r), "{}", text(&r));
        let v = r.structured_content.expect("structured");
        for o in items_of(&v, "Contents") {
            keys.push(o["Key"].as_str().expect("Key").to_string());
        }
        match v["NextContinuationToken"].as_str() {
            Some(t) if v["IsTruncated"] == json!(true) => token = Some(t.to_string()),
            _ => break,
        }
    }
    let unique: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "a key came twice");
    assert_eq!(keys.len(), 56, "every key under 2026/11/");
}

/// Endpoints that answer only for their own region's buckets (`404` elsewhere, even for
/// `?location`, as IONOS documents them): the bucket is found by asking each region of the
/// management API's list, once.
#[tokio::test]
async fn buckets_are_found_when_endpoints_know_only_their_region() {
    let h = Harness::start().await;
    h.sim.set_s3_strict_regions(true);
    h.sim.clear_requests();
    let r = h
        .call(
            "get_object_storage_bucket_versioning",
            json!({"bucket": "shop-backups"}),
        )
        .await;
    assert!(!is_error(&r), "{}", text(&r));
    assert_eq!(
        r.structured_content.expect("structured")["Status"],
        "Enabled"
    );
    let sent = h.sim.requests();
    let paths: Vec<&str> = sent.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths.first(),
        Some(&"/s3/eu-central-3/shop-backups"),
        "{paths:?}"
    );
    assert!(paths.contains(&"/s3-management/regions"), "{paths:?}");
    assert_eq!(paths.last(), Some(&"/s3/de/shop-backups"), "{paths:?}");
    // Every location request was signed for the region of the endpoint it went to.
    for r in &sent {
        if let Some(region) = r
            .path
            .strip_prefix("/s3/")
            .and_then(|p| p.split('/').next())
        {
            assert!(signed_for(r, region), "{r:?}");
        }
    }
    h.sim.clear_requests();
    let r = h
        .call(
            "get_object_storage_bucket_tagging",
            json!({"bucket": "shop-backups"}),
        )
        .await;
    assert!(!is_error(&r), "{}", text(&r));
    assert_eq!(h.sim.requests().len(), 1, "the region was cached");

    // A bucket no region knows is still a clear NoSuchBucket.
    let r = h
        .call(
            "get_object_storage_bucket_cors",
            json!({"bucket": "nowhere"}),
        )
        .await;
    assert!(is_error(&r));
    assert!(text(&r).contains("NoSuchBucket"), "{}", text(&r));
}

/// Listings default to 100 keys a page (S3's own default is 1000, too much for a model's
/// context); a caller may ask for up to 1000.
#[tokio::test]
async fn listings_default_to_a_page_that_fits_a_context() {
    let h = Harness::start().await;
    for tool in [
        "list_object_storage_objects",
        "list_object_storage_object_versions",
    ] {
        h.sim.clear_requests();
        let r = h.call(tool, json!({"bucket": "logs-archive"})).await;
        assert!(!is_error(&r), "{tool}: {}", text(&r));
        let sent = h.sim.requests();
        let last = sent.last().expect("a request");
        assert!(
            last.query
                .contains(&("max-keys".to_string(), "100".to_string())),
            "{tool}: {:?}",
            last.query
        );
        assert_eq!(r.structured_content.expect("structured")["MaxKeys"], 100);
    }
}

/// A bucket that moved after its region was cached: S3 redirects, the cached location is
/// dropped, looked up again, and the call answered from the new region, in the same call.
#[tokio::test]
async fn a_stale_location_is_looked_up_again_within_the_call() {
    let h = Harness::start().await;
    let r = h
        .call(
            "get_object_storage_bucket_versioning",
            json!({"bucket": "shop-backups"}),
        )
        .await;
    assert!(!is_error(&r), "{}", text(&r));
    h.sim.move_s3_bucket("shop-backups", "eu-central-3");
    h.sim.clear_requests();
    let r = h
        .call(
            "get_object_storage_bucket_versioning",
            json!({"bucket": "shop-backups"}),
        )
        .await;
    assert!(!is_error(&r), "{}", text(&r));
    let paths: Vec<String> = h
        .sim
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.path,
                if r.query.iter().any(|(k, _)| k == "location") {
                    "location"
                } else {
                    ""
                }
            )
        })
        .collect();
    assert_eq!(
        paths,
        [
            "/s3/de/shop-backups ",
            "/s3/eu-central-3/shop-backups location",
            "/s3/eu-central-3/shop-backups ",
        ],
        "redirected, located anew, answered"
    );
}

/// A signing region the endpoint does not accept (a wrong `IONOS_S3_REGION`) is named, with
/// the variable to fix.
#[tokio::test]
async fn a_wrong_signing_region_names_the_variable() {
    let sim = Simulator::start().await.expect("simulator");
    let mut config =
        config_for(&format!("http://{}", sim.addr())).with_base_urls(|p| sim.base_url(p));
    config.s3.region = Some("de".into());
    let h = Harness::with_config(sim, config).await;
    let r = h.call("list_object_storage_buckets", json!({})).await;
    assert!(is_error(&r));
    let msg = text(&r);
    assert!(msg.contains("AuthorizationHeaderMalformed"), "{msg}");
    assert!(msg.contains("Set IONOS_S3_REGION"), "{msg}");
    assert!(
        msg.contains("eu-central-3"),
        "S3 names the expected region: {msg}"
    );
}
