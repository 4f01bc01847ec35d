//! Compact answers against the simulator: every tool's answer fits its output schema, compact
//! and raw; compaction keeps every id, name and state and leaves out links and etags; `raw: true`
//! is the API's own answer (redacted all the same).

use std::collections::BTreeSet;

use ionos_mcp::simulator::DEMO_TOKEN;
use ionos_mcp::tools::table::{self, Paging, ToolSpec};
use serde_json::{Value, json};

use crate::support::{Harness, is_error, items_of, secrets_in, text};

/// Every read tool's call (calls.rs), and the S3 lists that are compacted.
fn calls() -> Vec<(&'static str, Value)> {
    let mut calls: Vec<(&'static str, Value)> = crate::calls::cases()
        .into_iter()
        .map(|c| (c.tool, c.args))
        .collect();
    calls.push(("list_datacenters", json!({"depth": 3})));
    calls.push((
        "list_object_storage_objects",
        json!({"bucket": "logs-archive"}),
    ));
    calls.push((
        "list_object_storage_object_versions",
        json!({"bucket": "shop-backups"}),
    ));
    calls
}

fn is_shaped(tool: &ToolSpec) -> bool {
    ionos_mcp::tools::compact::of(tool).is_some()
}

async fn result(h: &Harness, tool: &str, args: &Value) -> Result<Value, String> {
    let r = h.call(tool, args.clone()).await;
    if is_error(&r) {
        return Err(format!("{tool} {args}: error result: {}", text(&r)));
    }
    let text = text(&r);
    Ok(r.structured_content.unwrap_or(Value::String(text)))
}

fn with_raw(args: &Value) -> Value {
    let mut a = args.clone();
    a["raw"] = json!(true);
    a
}

/// Members whose values identify a resource or say its state; compaction keeps all of them.
/// Left out on purpose: who changed a resource as a user id (its e-mail stays), and the
/// activity log's internal transaction and queue numbers.
fn identifying(key: &str) -> bool {
    const BOOKKEEPING: [&str; 4] = [
        "createdByUserId",
        "lastModifiedByUserId",
        "transactionId",
        "queueRefId",
    ];
    !BOOKKEEPING.contains(&key)
        && (matches!(key, "id" | "name" | "state" | "status" | "Key" | "Name")
            || key.ends_with("Id")
            || key.ends_with("Name")
            || key.ends_with("State"))
}

/// The identifying values of an answer, as text. A list wrapper's own `id` names the list, not
/// a resource.
fn identifying_values(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(obj) => {
            let wrapper = obj.get("type") == Some(&json!("collection"));
            for (k, x) in obj {
                if identifying(k) && !(wrapper && k == "id") {
                    match x {
                        Value::String(s) => {
                            out.insert(s.clone());
                        }
                        Value::Number(n) => {
                            out.insert(n.to_string());
                        }
                        _ => {}
                    }
                }
                identifying_values(x, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|x| identifying_values(x, out)),
        _ => {}
    }
}

/// Every scalar of an answer, as text.
fn scalars(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(obj) => obj.values().for_each(|x| scalars(x, out)),
        Value::Array(items) => items.iter().for_each(|x| scalars(x, out)),
        Value::String(s) => {
            out.insert(s.clone());
        }
        other => {
            out.insert(other.to_string());
        }
    }
}

/// Property names left out of every compact answer, at any depth.
fn dropped_keys(v: &Value, path: &str, found: &mut Vec<String>) {
    match v {
        Value::Object(obj) => {
            for (k, x) in obj {
                if matches!(k.as_str(), "href" | "_links" | "etag" | "ETag" | "_source") {
                    found.push(format!("{path}/{k}"));
                }
                if x.get("type") == Some(&json!("collection")) && x.get("items").is_none() {
                    found.push(format!("{path}/{k} (a list stub)"));
                }
                dropped_keys(x, &format!("{path}/{k}"), found);
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                dropped_keys(x, &format!("{path}/{i}"), found);
            }
        }
        _ => {}
    }
}

fn schema_problems(tool: &ToolSpec, answer: &Value) -> Vec<String> {
    let Some(schema) = tool.output_schema_object() else {
        return Vec::new();
    };
    let validator = jsonschema::validator_for(&Value::Object((*schema).clone()))
        .expect("output schemas compile");
    validator
        .iter_errors(answer)
        .take(3)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[tokio::test]
async fn answers_fit_their_output_schemas_and_keep_what_identifies_resources() {
    let h = Harness::start().await;
    let mut failures = Vec::new();
    let mut shaped = 0;
    for (name, args) in calls() {
        let tool = table::tool(name).expect("known tool");
        let compact = match result(&h, name, &args).await {
            Ok(v) => v,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        for p in schema_problems(tool, &compact) {
            failures.push(format!(
                "{name} {args}: the answer breaks its output schema: {p}"
            ));
        }
        if !is_shaped(tool) {
            continue;
        }
        shaped += 1;
        let raw = match result(&h, name, &with_raw(&args)).await {
            Ok(v) => v,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        for p in schema_problems(tool, &raw) {
            failures.push(format!(
                "{name} raw: the answer breaks its output schema: {p}"
            ));
        }
        let (mut wanted, mut kept) = (BTreeSet::new(), BTreeSet::new());
        identifying_values(&raw, &mut wanted);
        scalars(&compact, &mut kept);
        let lost: Vec<&String> = wanted.difference(&kept).collect();
        if !lost.is_empty() {
            failures.push(format!("{name} {args}: compaction lost {lost:?}"));
        }
        let mut left = Vec::new();
        dropped_keys(&compact, "", &mut left);
        if !left.is_empty() {
            failures.push(format!("{name}: still in the compact answer: {left:?}"));
        }
        let (c, r) = (compact.to_string().len(), raw.to_string().len());
        if c >= r && raw != compact {
            failures.push(format!("{name}: compact {c} bytes, raw {r}"));
        }
        if !secrets_in(&raw).is_empty() {
            failures.push(format!("{name} raw: carries {:?}", secrets_in(&raw)));
        }
    }
    assert!(
        shaped >= 80,
        "only {shaped} compacted tools were called; calls.rs has a case per read tool"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Removes every member named `key`, at any depth (as the tool's `redact` does).
fn redact(v: &mut Value, key: &str) {
    match v {
        Value::Object(obj) => {
            obj.remove(key);
            obj.values_mut().for_each(|x| redact(x, key));
        }
        Value::Array(items) => items.iter_mut().for_each(|x| redact(x, key)),
        _ => {}
    }
}

fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(obj) => {
            obj.retain(|_, x| !x.is_null());
            obj.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

#[tokio::test]
async fn raw_answers_are_the_apis_own_redacted() {
    // Beyond the answer budget even a raw answer is cut (and says so): none is, here.
    let sim = ionos_mcp::simulator::Simulator::start()
        .await
        .expect("simulator");
    let mut config = crate::support::config_for(&format!("http://{}", sim.addr()))
        .with_base_urls(|product| sim.base_url(product));
    config.max_answer_tokens = 1_000_000;
    let h = Harness::with_config(sim, config).await;
    let http = reqwest::Client::new();
    let mut compared = 0;
    let mut failures = Vec::new();
    for (name, args) in calls() {
        let tool = table::tool(name).expect("known tool");
        // The API's own JSON document, fetched again as the dispatcher asked for it; answers
        // the server pages or filters itself, and signed S3 answers, are compared elsewhere.
        let plain_json = tool.response_media.contains("json")
            && tool.behaviour.is_none()
            && tool.paging != Paging::Client;
        if !is_shaped(tool) || !plain_json {
            continue;
        }
        h.sim.clear_requests();
        let raw = match result(&h, name, &with_raw(&args)).await {
            Ok(v) => v,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let sent = h.sim.requests();
        let [req] = sent.as_slice() else {
            failures.push(format!("{name}: {} requests", sent.len()));
            continue;
        };
        let url = format!("http://{}{}", h.sim.addr(), req.path);
        let mut api: Value = http
            .get(&url)
            .query(&req.query)
            .bearer_auth(DEMO_TOKEN)
            .send()
            .await
            .expect("simulator answers")
            .json()
            .await
            .expect("JSON");
        if let (Some(key), false) = (tool.wrap, api.is_object()) {
            api = json!({ key: api });
        }
        for key in tool.redact {
            redact(&mut api, key);
        }
        drop_nulls(&mut api);
        if raw != api {
            failures.push(format!("{name}: raw answer differs from the API's"));
        }
        compared += 1;
    }
    assert!(compared >= 60, "only {compared} answers compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Redaction applies to raw answers too.
    for name in ["list_cert_certificates", "list_object_storage_access_keys"] {
        let raw = result(&h, name, &json!({"raw": true}))
            .await
            .expect("answer");
        assert!(
            secrets_in(&raw).is_empty(),
            "{name}: {:?}",
            secrets_in(&raw)
        );
    }
}

#[tokio::test]
async fn activity_events_are_plain_and_filters_still_apply() {
    let h = Harness::start().await;
    let args = json!({"contract": 31_000_000, "limit": 100, "user": "dev@example-shop.de"});
    let v = result(&h, "list_activitylog_events", &args)
        .await
        .expect("answer");
    // Field names once, then a row per event; a value most events share is said once,
    // under `common.events`.
    assert!(v["events"]["columns"].is_array(), "{v}");
    let events = items_of(&v, "events");
    assert!(!events.is_empty());
    for e in &events {
        assert_eq!(e["user"], "dev@example-shop.de", "{e}");
        for field in ["time", "type", "method", "uri", "resources", "status"] {
            assert!(e.get(field).is_some(), "{field} missing: {e}");
        }
    }
    assert!(v["total"].is_number(), "{v}");
    assert!(v.get("hits").is_none());
    let raw = result(&h, "list_activitylog_events", &with_raw(&args))
        .await
        .expect("answer");
    let hits = raw["hits"]["hits"].as_array().expect("raw hits");
    assert_eq!(hits.len(), events.len(), "the same events, raw");
    assert_eq!(
        hits[0].pointer("/_source/principal/identity/username"),
        Some(&json!("dev@example-shop.de"))
    );
}

#[tokio::test]
async fn shared_values_are_said_once_and_nothing_is_lost() {
    let h = Harness::start().await;
    // Objects and versions: with the shared storage class and owner put back, the items are
    // the API's less their ETag.
    for (tool, bucket, lists) in [
        (
            "list_object_storage_objects",
            "logs-archive",
            &["Contents"][..],
        ),
        (
            "list_object_storage_object_versions",
            "shop-backups",
            &["Versions", "DeleteMarkers"][..],
        ),
    ] {
        let args = json!({ "bucket": bucket });
        let compact = result(&h, tool, &args).await.expect("answer");
        let raw = result(&h, tool, &with_raw(&args)).await.expect("answer");
        assert!(
            compact.pointer(&format!("/common/{}", lists[0])).is_some(),
            "{tool}: nothing shared: {compact}"
        );
        for list in lists {
            let mut expected = raw[*list].as_array().cloned().unwrap_or_default();
            expected.iter_mut().for_each(|item| redact(item, "ETag"));
            assert_eq!(items_of(&compact, list), expected, "{tool} {list}");
        }
        // Written as a table: each shared value is in no row.
        let table = &compact[lists[0]];
        let columns = table["columns"].as_array().expect("columns");
        let shared = &compact["common"][lists[0]];
        for (field, value) in shared.as_object().expect("shared values") {
            let Some(at) = columns.iter().position(|c| c == field) else {
                continue;
            };
            let holders = table["rows"]
                .as_array()
                .expect("rows")
                .iter()
                .filter(|row| row.get(at) == Some(value))
                .count();
            assert_eq!(holders, 0, "{tool}: {field} still in items that share it");
        }
    }

    // Events: channel, kind and outcome, shared or not, are the raw events' own.
    let args = json!({"contract": 31_000_000, "limit": 100});
    let compact = result(&h, "list_activitylog_events", &args)
        .await
        .expect("answer");
    let raw = result(&h, "list_activitylog_events", &with_raw(&args))
        .await
        .expect("answer");
    let events = items_of(&compact, "events");
    let hits = raw["hits"]["hits"].as_array().expect("raw hits");
    assert_eq!(events.len(), hits.len());
    let shared = compact["common"]["events"].as_object().expect("shared");
    assert!(shared.contains_key("status"), "{compact}");
    for (e, hit) in events.iter().zip(hits) {
        for (field, pointer) in [
            ("service", "/_source/principal/sourceService"),
            ("type", "/_source/event/type"),
            ("status", "/_source/event/status"),
        ] {
            assert_eq!(e.get(field), hit.pointer(pointer), "{field}: {e}");
        }
    }
}
