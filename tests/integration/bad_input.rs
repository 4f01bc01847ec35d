//! Bad input gets a clear error, never a panic, never a request to another path.

use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use crate::support::{Harness, is_error, text};

const DC: &str = "dc-does-not-matter";

/// {arguments, what the error must mention, whether a request may be sent}
fn cases() -> Vec<(Value, &'static str, bool)> {
    let long = "x".repeat(10 * 1024);
    vec![
        (
            json!({"datacenter_id": 42, "server_id": "s"}),
            "datacenter_id",
            false,
        ),
        (
            json!({"datacenter_id": ["a"], "server_id": "s"}),
            "datacenter_id",
            false,
        ),
        (json!({"server_id": "s"}), "datacenter_id", false),
        (
            json!({"datacenter_id": null, "server_id": "s"}),
            "datacenter_id",
            false,
        ),
        (
            json!({"datacenter_id": DC, "server_id": "s", "bogus": 1}),
            "bogus",
            false,
        ),
        (
            json!({"datacenter_id": DC, "server_id": "s", "depth": "deep"}),
            "depth",
            false,
        ),
        (
            json!({"datacenter_id": DC, "server_id": "s", "depth": 11}),
            "depth",
            false,
        ),
        (
            json!({"datacenter_id": DC, "server_id": "s", "depth": -1}),
            "depth",
            false,
        ),
        (
            json!({"datacenter_id": DC, "server_id": long}),
            "server_id",
            false,
        ),
        // The reason survives a long value: the limit, not the value, is in the message.
        (
            json!({"datacenter_id": DC, "server_id": long}),
            "a string of 10240 characters is longer than 1024 characters",
            false,
        ),
        (
            json!({"datacenter_id": DC, "server_id": "../../ipblocks"}),
            "Not found",
            true,
        ),
        (
            json!({"datacenter_id": DC, "server_id": "a?depth=5"}),
            "Not found",
            true,
        ),
        (
            json!({"datacenter_id": DC, "server_id": "a#frag"}),
            "Not found",
            true,
        ),
        (
            json!({"datacenter_id": DC, "server_id": "a%2F..%2Fb"}),
            "Not found",
            true,
        ),
        (
            json!({"datacenter_id": DC, "server_id": ".."}),
            "`server_id`: \"..\" is not an id",
            false,
        ),
        (
            json!({"datacenter_id": DC, "server_id": "."}),
            "`server_id`: \".\" is not an id",
            false,
        ),
        (
            json!({"datacenter_id": "..", "server_id": "x"}),
            "`datacenter_id`",
            false,
        ),
        (
            json!({"datacenter_id": DC, "server_id": "サーバー🚀"}),
            "Not found",
            true,
        ),
        (
            json!({"datacenter_id": DC, "server_id": "  "}),
            "Not found",
            true,
        ),
    ]
}

#[tokio::test]
async fn bad_arguments_get_clear_errors_and_never_reach_another_path() {
    let h = Harness::start().await;
    for (args, mention, may_send) in cases() {
        h.sim.clear_requests();
        let r = h.call("get_server", args.clone()).await;
        assert!(
            is_error(&r),
            "{args}: expected an error, got {:?}",
            r.content
        );
        let msg = text(&r);
        assert!(
            msg.contains(mention),
            "{args}: error does not mention `{mention}`: {msg}"
        );
        let sent = h.sim.requests();
        if !may_send {
            assert!(
                sent.is_empty(),
                "{args}: a request was sent despite invalid arguments: {sent:?}"
            );
            assert!(
                msg.contains("Expected:"),
                "{args}: no statement of what is expected: {msg}"
            );
        }
        for req in &sent {
            let rest = req
                .path
                .strip_prefix(&format!("/cloudapi/v6/datacenters/{DC}/servers/"))
                .unwrap_or_else(|| panic!("{args}: request to another path: {}", req.path));
            assert!(
                !rest.contains('/'),
                "{args}: id escaped its segment: {}",
                req.path
            );
            assert!(
                req.query.iter().all(|(k, _)| k == "depth" || k == "pretty"),
                "{args}: unexpected query {:?}",
                req.query
            );
        }
    }
}

#[tokio::test]
async fn unknown_tool_is_a_protocol_error_and_the_server_keeps_serving() {
    let h = Harness::start().await;
    let err = h
        .client
        .call_tool(CallToolRequestParams::new("drop_datacenters"))
        .await;
    let msg = format!("{:?}", err.expect_err("unknown tool is an error"));
    assert!(msg.contains("drop_datacenters"), "{msg}");
    let err = h
        .client
        .call_tool(CallToolRequestParams::new("list_datacenter"))
        .await
        .expect_err("unknown tool is an error");
    let msg = format!("{err:?}");
    assert!(msg.contains("did you mean `list_datacenters`"), "{msg}");
    let ok = h.call("list_datacenters", json!({})).await;
    assert!(!is_error(&ok), "{:?}", ok.content);
}

#[tokio::test]
async fn arguments_that_are_not_an_object_or_absent() {
    let h = Harness::start().await;
    // No arguments at all for a tool that needs some.
    let r = h.call("get_datacenter", Value::Null).await;
    assert!(is_error(&r));
    assert!(text(&r).contains("datacenter_id"));
    // A list tool without arguments works.
    let r = h.call("list_ip_blocks", Value::Null).await;
    assert!(!is_error(&r), "{:?}", r.content);
}

/// Dates and periods are checked before any request: shape by pattern, then the calendar
/// (a pattern alone admits 2026-02-31); S3 page sizes stay within 1..=1000.
#[tokio::test]
async fn impossible_days_and_out_of_range_page_sizes_are_refused_before_sending() {
    let h = Harness::start().await;
    for (tool, args, mention) in [
        (
            "get_billing_utilization_daily",
            json!({"contract": 31000000, "date": "2026-02-31"}),
            "not a day of the calendar",
        ),
        (
            "list_billing_products",
            json!({"contract": 31000000, "date": "2025-04-31"}),
            "not a day of the calendar",
        ),
        (
            "list_billing_utilization_by_period",
            json!({"contract": 31000000, "period": "2026-13"}),
            "YYYY-MM",
        ),
        (
            "list_object_storage_objects",
            json!({"bucket": "shop-assets", "max_keys": 5000}),
            "max_keys",
        ),
        (
            "list_billing_utilization",
            json!({"contract": 31000000, "group_by": "region"}),
            "group_by",
        ),
    ] {
        h.sim.clear_requests();
        let r = h.call(tool, args.clone()).await;
        assert!(is_error(&r), "{tool} {args}: accepted");
        assert!(text(&r).contains(mention), "{tool}: {}", text(&r));
        assert!(
            h.sim.requests().is_empty(),
            "{tool} {args}: a request went out"
        );
    }
    let r = h
        .call(
            "get_billing_utilization_daily",
            json!({"contract": 31000000, "date": "2024-02-29"}),
        )
        .await;
    assert!(!is_error(&r), "a leap day is a day: {}", text(&r));
}
