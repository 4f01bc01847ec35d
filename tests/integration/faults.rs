//! Faults between the server and IONOS, scripted per call by a small HTTP server: what is
//! retried (GET on 429/502/503/504 and connection failures), what is not (anything that
//! writes), and what the caller is told.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ionos_mcp::simulator::Simulator;
use serde_json::json;

use crate::support::{Harness, config_for, is_error, text};

/// One scripted answer.
#[derive(Clone)]
struct Scripted {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

fn answer(status: u16) -> Scripted {
    let body = if status == 200 {
        json!({"id": "datacenters", "items": []}).to_string()
    } else {
        json!({"httpStatus": status, "messages": [{"errorCode": "0", "message": "scripted"}]})
            .to_string()
    };
    Scripted {
        status,
        headers: vec![("content-type", "application/json".into())],
        body,
        delay: Duration::ZERO,
    }
}

#[derive(Clone, Default)]
struct Script {
    queue: Arc<Mutex<VecDeque<Scripted>>>,
    seen: Arc<Mutex<Vec<(String, Instant)>>>,
    /// Answers whose handler was dropped before it finished (the caller went away).
    abandoned: Arc<Mutex<usize>>,
}

/// Counts a handler dropped before `done`.
struct Abandon(Arc<Mutex<usize>>, bool);

impl Drop for Abandon {
    fn drop(&mut self) {
        if !self.1 {
            *self.0.lock().unwrap() += 1;
        }
    }
}

async fn serve(script: Script) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(move |method: Method, _h: HeaderMap| {
        let script = script.clone();
        async move {
            script
                .seen
                .lock()
                .unwrap()
                .push((method.to_string(), Instant::now()));
            let next = script
                .queue
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(answer(200));
            let mut guard = Abandon(script.abandoned.clone(), false);
            tokio::time::sleep(next.delay).await;
            guard.1 = true;
            let mut r: Response =
                (StatusCode::from_u16(next.status).unwrap(), next.body).into_response();
            for (k, v) in next.headers {
                r.headers_mut().insert(k, v.parse().unwrap());
            }
            r
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

async fn harness(script: &Script, writes: bool) -> Harness {
    let origin = serve(script.clone()).await;
    harness_at(&origin, writes).await
}

/// A token value that must never appear in any result.
const SECRET_TOKEN: &str = "tok-SECRET-faults-5e1d";

/// A call whose result is checked for the secret token, whatever the fault.
async fn call(h: &Harness, tool: &str, args: serde_json::Value) -> rmcp::model::CallToolResult {
    let r = h.call(tool, args).await;
    let all = format!("{}{:?}", text(&r), r.structured_content);
    assert!(
        !all.contains(SECRET_TOKEN),
        "{tool}: the token leaked: {all}"
    );
    r
}

async fn harness_at(origin: &str, writes: bool) -> Harness {
    let mut config = config_for(origin);
    config.credentials =
        ionos_mcp::config::Credentials::Token(ionos_mcp::config::Secret::new(SECRET_TOKEN));
    if writes {
        config.tool_scope = ionos_mcp::tools::table::Access::Destructive;
    }
    config.retry_budget = Duration::from_secs(10);
    config.request_timeout = Duration::from_secs(2);
    config.max_body_bytes = 64 * 1024;
    let unused = Simulator::start().await.expect("simulator");
    Harness::with_config(unused, config).await
}

fn push(script: &Script, answers: impl IntoIterator<Item = Scripted>) {
    script.queue.lock().unwrap().extend(answers);
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_and_the_200_returned() {
    let script = Script::default();
    let mut limited = answer(429);
    limited.headers.push(("retry-after", "1".into()));
    push(&script, [limited, answer(200)]);
    let h = harness(&script, false).await;
    let r = call(&h, "list_datacenters", json!({})).await;
    assert!(!is_error(&r), "{}", text(&r));
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].1 - seen[0].1;
    assert!(
        gap >= Duration::from_millis(950),
        "retried after {gap:?}, before Retry-After"
    );
}

#[tokio::test]
async fn server_errors_on_get_are_retried_then_reported() {
    let script = Script::default();
    push(
        &script,
        [
            answer(503),
            answer(502),
            answer(504),
            answer(503),
            answer(200),
        ],
    );
    let h = harness(&script, false).await;
    let r = call(&h, "list_datacenters", json!({})).await;
    assert!(is_error(&r));
    let msg = text(&r);
    assert!(msg.contains("503") && msg.contains("IONOS side"), "{msg}");
    assert_eq!(
        script.seen.lock().unwrap().len(),
        4,
        "four attempts, then give up"
    );
}

#[tokio::test]
async fn a_post_is_never_retried() {
    let script = Script::default();
    push(&script, [answer(503), answer(200)]);
    let h = harness(&script, true).await;
    let r = call(
        &h,
        "start_server",
        json!({"datacenter_id": "dc", "server_id": "srv"}),
    )
    .await;
    assert!(is_error(&r), "{}", text(&r));
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "a write was sent more than once");
    assert_eq!(seen[0].0, "POST");
}

#[tokio::test]
async fn rate_limited_beyond_the_budget_says_so_and_when() {
    let script = Script::default();
    let mut limited = answer(429);
    limited.headers.push(("retry-after", "30".into()));
    push(&script, [limited]);
    let h = harness(&script, false).await;
    let started = Instant::now();
    let r = call(&h, "list_datacenters", json!({})).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited past its budget"
    );
    assert!(is_error(&r));
    let msg = text(&r);
    assert!(
        msg.contains("rate-limiting") && msg.contains("wait 30 s"),
        "{msg}"
    );
    assert_eq!(script.seen.lock().unwrap().len(), 1);
}

/// After every fault the server still answers the next call.
async fn still_alive(h: &Harness) {
    let tools = h.client.list_all_tools().await.expect("server alive");
    assert!(!tools.is_empty());
}

#[tokio::test]
async fn bodies_that_cannot_be_used_are_explained() {
    let script = Script::default();
    let mut html = answer(502);
    html.headers = vec![("content-type", "text/html".into())];
    html.body = "<html><body><h1>502 Bad Gateway</h1></body></html>".into();
    let mut malformed = answer(200);
    malformed.body = "{\"items\": [".into();
    let mut oversized = answer(200);
    oversized.body = format!("{{\"items\": \"{}\"}}", "x".repeat(200 * 1024));
    let mut not_found = answer(404);
    not_found.body = json!({"httpStatus": 404, "messages": [{"errorCode": "309", "message": "Resource does not exist"}]}).to_string();
    let mut forbidden = answer(403);
    forbidden.body =
        json!({"httpStatus": 403, "messages": [{"errorCode": "0", "message": "Access denied"}]})
            .to_string();
    push(
        &script,
        [
            html.clone(),
            html.clone(),
            html.clone(),
            html,
            malformed,
            oversized,
            not_found,
            forbidden,
        ],
    );
    let h = harness(&script, false).await;

    let r = call(&h, "list_datacenters", json!({})).await;
    let msg = text(&r);
    assert!(is_error(&r) && msg.contains("502"), "{msg}");
    assert!(!msg.contains("<html>"), "markup passed through: {msg}");

    let r = call(&h, "list_datacenters", json!({})).await;
    assert!(
        is_error(&r) && text(&r).contains("could not be read"),
        "{}",
        text(&r)
    );

    let r = call(&h, "list_datacenters", json!({})).await;
    assert!(
        is_error(&r) && text(&r).contains("larger than"),
        "{}",
        text(&r)
    );

    let r = call(&h, "get_datacenter", json!({"datacenter_id": "gone"})).await;
    let msg = text(&r);
    assert!(
        is_error(&r) && msg.contains("Not found") && msg.contains("gone"),
        "{msg}"
    );
    assert!(!msg.contains(".."), "{msg}");

    let r = call(&h, "list_datacenters", json!({})).await;
    let msg = text(&r);
    assert!(
        is_error(&r) && msg.contains("403") && msg.contains("read access"),
        "{msg}"
    );
    still_alive(&h).await;
}

#[tokio::test]
async fn a_stalled_answer_times_out_and_is_retried_within_the_budget() {
    let script = Script::default();
    let mut slow = answer(200);
    slow.delay = Duration::from_secs(5);
    push(&script, [slow]);
    let h = harness(&script, false).await;
    let started = Instant::now();
    let r = call(&h, "list_datacenters", json!({})).await;
    // The first attempt times out after 2 s; the retry gets the (fast) default answer.
    assert!(!is_error(&r), "{}", text(&r));
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(script.seen.lock().unwrap().len(), 2);
    still_alive(&h).await;
}

#[tokio::test]
async fn connection_refused_and_reset_are_reported_with_the_variable_to_check() {
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let h = harness_at(&format!("http://{closed}"), false).await;
    let r = call(&h, "list_datacenters", json!({})).await;
    let msg = text(&r);
    assert!(
        is_error(&r) && msg.contains("Could not reach IONOS") && msg.contains("IONOS_API_URL"),
        "{msg}"
    );
    still_alive(&h).await;

    // A server that accepts and drops every connection.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(Mutex::new(0usize));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            *count.lock().unwrap() += 1;
            drop(sock);
        }
    });
    let h = harness_at(&format!("http://{addr}"), false).await;
    let r = call(&h, "list_datacenters", json!({})).await;
    assert!(is_error(&r), "{}", text(&r));
    assert!(
        *accepted.lock().unwrap() >= 2,
        "a reset GET was not retried"
    );
    still_alive(&h).await;
}

#[tokio::test]
async fn a_429_without_retry_after_backs_off_and_succeeds() {
    let script = Script::default();
    push(&script, [answer(429), answer(200)]);
    let h = harness(&script, false).await;
    let r = call(&h, "list_datacenters", json!({})).await;
    assert!(!is_error(&r), "{}", text(&r));
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[1].1 - seen[0].1 >= Duration::from_millis(300),
        "no back-off"
    );
    still_alive(&h).await;
}

/// A call the client cancels (rmcp sends `notifications/cancelled` when the call is dropped)
/// drops the HTTP request to IONOS instead of letting it run on.
#[tokio::test]
async fn a_cancelled_call_aborts_its_request() {
    let script = Script::default();
    let mut slow = answer(200);
    slow.delay = Duration::from_secs(5);
    push(&script, [slow]);
    let h = harness(&script, false).await;
    let call = h.call("list_datacenters", json!({}));
    assert!(
        tokio::time::timeout(Duration::from_millis(500), call)
            .await
            .is_err(),
        "the slow call finished"
    );
    // Well before the 2 s request timeout could end it.
    let deadline = Instant::now() + Duration::from_millis(800);
    while *script.abandoned.lock().unwrap() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        *script.abandoned.lock().unwrap(),
        1,
        "the request to IONOS was not aborted"
    );
    assert_eq!(script.seen.lock().unwrap().len(), 1);
    still_alive(&h).await;
}

/// S3 answers go through the same retry path: a 503 is retried (signed anew) and the XML
/// answer that follows becomes JSON.
#[tokio::test]
async fn s3_server_errors_are_retried_like_any_get() {
    let script = Script::default();
    let xml = Scripted {
        status: 200,
        headers: vec![("content-type", "application/xml".into())],
        body: "<ListAllMyBucketsResult><Buckets><Bucket><Name>only</Name></Bucket></Buckets></ListAllMyBucketsResult>".into(),
        delay: Duration::ZERO,
    };
    let unavailable = Scripted {
        status: 503,
        headers: vec![("content-type", "application/xml".into())],
        body: "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".into(),
        delay: Duration::ZERO,
    };
    push(&script, [unavailable.clone(), xml]);
    let origin = serve(script.clone()).await;
    let mut config = config_for(&origin);
    config.s3.single_endpoint = true;
    config.s3.region = Some("de".into());
    config.retry_budget = Duration::from_secs(10);
    let unused = Simulator::start().await.expect("simulator");
    let h = Harness::with_config(unused, config).await;
    let r = call(&h, "list_object_storage_buckets", json!({})).await;
    assert!(!is_error(&r), "{}", text(&r));
    assert_eq!(
        r.structured_content.expect("structured")["Buckets"],
        json!([{"Name": "only"}])
    );
    assert_eq!(script.seen.lock().unwrap().len(), 2);

    // Still unavailable after the attempts: S3's own code and message, and what to do.
    push(&script, std::iter::repeat_n(unavailable, 8));
    let r = call(&h, "list_object_storage_buckets", json!({})).await;
    assert!(is_error(&r));
    let msg = text(&r);
    assert!(msg.contains("503 SlowDown"), "{msg}");
    assert!(msg.contains("try again in a minute"), "{msg}");
    // S3's message ends with its own full stop; the sentence goes on without a second one.
    assert!(
        msg.contains("Please reduce your request rate. This"),
        "{msg}"
    );
    assert!(!msg.contains(".."), "{msg}");
}

/// An answer outside the tool's own output schema (a string where the spec declares a list, a
/// field of another type) never goes out as `structuredContent`, which a validating client
/// would reject: it comes whole, as text, with a note; the server keeps serving.
#[tokio::test]
async fn an_answer_outside_the_spec_is_delivered_as_text_with_a_note() {
    let script = Script::default();
    let mut list_as_string = answer(200);
    list_as_string.body = json!({"id": "datacenters", "items": "dc-1,dc-2"}).to_string();
    let mut wrong_type = answer(200);
    wrong_type.body = json!({
        "id": "datacenters",
        "items": [{"id": "dc-1", "properties": {"name": 7}}]
    })
    .to_string();
    push(&script, [list_as_string, wrong_type]);
    let h = harness(&script, false).await;

    let r = call(&h, "list_datacenters", json!({})).await;
    assert!(r.structured_content.is_none(), "{:?}", r.structured_content);
    let note = text(&r);
    assert!(note.contains("outside its published API spec"), "{note}");
    assert!(note.contains("/items"), "{note}");
    let answer = r.content[1]
        .as_text()
        .expect("the answer as text")
        .text
        .clone();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&answer).expect("JSON text")["items"],
        json!("dc-1,dc-2")
    );

    let r = call(&h, "list_datacenters", json!({})).await;
    assert!(r.structured_content.is_none());
    assert!(
        text(&r).contains("/items/0/properties/name"),
        "{}",
        text(&r)
    );
    assert!(
        r.content[1]
            .as_text()
            .expect("text")
            .text
            .contains("\"name\":7")
    );

    // An answer that fits is structured as always.
    let r = call(&h, "list_datacenters", json!({})).await;
    assert!(!is_error(&r), "{}", text(&r));
    assert!(r.structured_content.is_some());
    still_alive(&h).await;
}

/// The mismatch is logged once per tool, on stderr, in words.
#[tokio::test]
async fn an_answer_outside_the_spec_is_logged_once() {
    use rmcp::ServiceExt;
    let script = Script::default();
    let mut off = answer(200);
    off.body = json!({"items": "not-a-list"}).to_string();
    push(&script, [off.clone(), off]);
    let origin = serve(script.clone()).await;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ionos-mcp"));
    cmd.env("IONOS_API_URL", format!("{origin}/cloudapi/v6"))
        .env("IONOS_TOKEN", SECRET_TOKEN)
        .envs(crate::support::empty_home())
        .env_remove("IONOS_CONFIG_FILE")
        .env_remove("IONOS_MCP_LOG")
        .env_remove("IONOS_LOG_LEVEL");
    let (transport, stderr) = rmcp::transport::TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("binary starts");
    let client = ().serve(transport).await.expect("handshake");
    for _ in 0..2 {
        let r = client
            .call_tool(rmcp::model::CallToolRequestParams::new("list_datacenters"))
            .await
            .expect("tools/call");
        assert!(r.structured_content.is_none());
    }
    client.cancel().await.expect("shutdown");
    let mut log = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stderr.expect("stderr"), &mut log)
        .await
        .expect("stderr read");
    assert_eq!(
        log.matches("IONOS answered outside the spec").count(),
        1,
        "{log}"
    );
    assert!(log.contains("list_datacenters"), "{log}");
}
