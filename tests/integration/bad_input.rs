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
