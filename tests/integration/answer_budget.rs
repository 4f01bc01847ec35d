//! No answer is larger than the budget (`IONOS_MCP_MAX_ANSWER_TOKENS`): a longer list is cut
//! at an item boundary, says so, and continues where it stopped.

use std::collections::BTreeSet;

use ionos_mcp::simulator::Simulator;
use serde_json::{Value, json};

use crate::support::{Harness, config_for, is_error, items_of, text};

async fn with_budget(tokens: usize) -> Harness {
    let sim = Simulator::start().await.expect("simulator");
    let mut config = config_for(&format!("http://{}", sim.addr()))
        .with_base_urls(|product| sim.base_url(product));
    config.max_answer_tokens = tokens;
    Harness::with_config(sim, config).await
}

fn tokens(v: &Value) -> usize {
    let bpe = tiktoken_rs::o200k_base().expect("o200k vocabulary");
    bpe.encode_with_special_tokens(&v.to_string()).len()
}

#[tokio::test]
async fn a_long_list_is_cut_at_an_item_and_continues_by_offset() {
    let full = with_budget(1_000_000).await;
    let whole = full
        .call("list_datacenters", json!({"depth": 3}))
        .await
        .structured_content
        .expect("structured");
    let all: Vec<Value> = whole["items"].as_array().expect("items").clone();
    assert!(whole.get("truncated").is_none());
    assert!(
        tokens(&whole) > 2500,
        "the full answer is larger than the budget"
    );

    let h = with_budget(2500).await;
    let mut seen = Vec::new();
    let mut offset = 0u64;
    for _ in 0..10 {
        let r = h
            .call("list_datacenters", json!({"depth": 3, "offset": offset}))
            .await;
        assert!(!is_error(&r), "{}", text(&r));
        let v = r.structured_content.expect("structured");
        assert!(tokens(&v) <= 2500, "{} tokens", tokens(&v));
        for dc in v["items"].as_array().expect("items") {
            seen.push(dc["id"].clone());
        }
        let Some(note) = v.get("truncated") else {
            break;
        };
        assert!(
            note["why"]
                .as_str()
                .unwrap()
                .contains("IONOS_MCP_MAX_ANSWER_TOKENS")
        );
        assert!(note["lists"].as_array().is_some_and(|l| !l.is_empty()));
        match note.get("next_offset").and_then(Value::as_u64) {
            Some(next) if next as usize <= all.len() && next > offset => offset = next,
            _ => break,
        }
        if offset as usize >= all.len() {
            break;
        }
    }
    let ids: Vec<Value> = all.iter().map(|d| d["id"].clone()).collect();
    assert_eq!(seen, ids, "every data center once, in order");
}

#[tokio::test]
async fn a_cut_s3_listing_continues_after_its_last_key() {
    let h = with_budget(1000).await;
    let mut keys: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    let mut cut_once = false;
    for _ in 0..100 {
        let mut args = json!({"bucket": "logs-archive", "prefix": "2026/11/", "max_keys": 1000});
        if let Some(a) = &after {
            args["start_after"] = json!(a);
        }
        let r = h.call("list_object_storage_objects", args).await;
        assert!(!is_error(&r), "{}", text(&r));
        let v = r.structured_content.expect("structured");
        assert!(tokens(&v) <= 1000, "{} tokens", tokens(&v));
        for o in items_of(&v, "Contents") {
            keys.push(o["Key"].as_str().expect("Key").to_string());
        }
        match v
            .pointer("/truncated/next_start_after")
            .and_then(Value::as_str)
        {
            Some(next) => {
                cut_once = true;
                assert!(
                    v.get("NextContinuationToken").is_none(),
                    "S3's token would skip the cut keys"
                );
                after = Some(next.to_string());
            }
            None => break,
        }
    }
    assert!(cut_once, "the budget cut the listing");
    let unique: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "a key came twice");
    assert_eq!(keys.len(), 56, "every key under 2026/11/");
}
