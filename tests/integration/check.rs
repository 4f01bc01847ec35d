//! `ionos-mcp check` in process: what counts as reachable, what a refusal says, and where the
//! credentials come from.

use std::sync::Arc;

use ionos_mcp::config::{Credentials, Secret};
use ionos_mcp::simulator::Simulator;
use ionos_mcp::tools::dispatch::Dispatcher;

use crate::support::config_for;

async fn report(config: ionos_mcp::config::Config) -> (String, bool) {
    let dispatcher = Arc::new(Dispatcher::new(config));
    let mut out = Vec::new();
    let ok = ionos_mcp::cli::check::run(dispatcher, false, &mut out)
        .await
        .expect("written");
    (String::from_utf8(out).expect("UTF-8"), ok)
}

fn on(sim: &Simulator) -> ionos_mcp::config::Config {
    config_for(&format!("http://{}", sim.addr())).with_base_urls(|p| sim.base_url(p))
}

/// A probe that was not run is not a reachable product: without a token nothing is.
#[tokio::test]
async fn a_skipped_probe_is_not_counted_as_reachable() {
    let sim = Simulator::start().await.expect("simulator");
    let mut config = on(&sim);
    config.credentials = Credentials::None;
    config.s3.access_key = None;
    config.s3.secret_key = None;
    let (text, ok) = report(config).await;
    assert!(!ok);
    let probed = ionos_mcp::tools::table::PRODUCTS.len() - 1;
    assert!(
        text.contains(&format!(
            "0 of {probed} products reachable with these credentials (1 skipped: objectstorage_s3)"
        )),
        "{text}"
    );
    let s3: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("objectstorage_s3 "))
        .expect("the S3 line")
        .split_whitespace()
        .collect();
    assert_eq!(
        s3[..3],
        ["objectstorage_s3", "list_object_storage_buckets", "skip"]
    );
    assert!(text.contains("Object Storage key pair: not set"), "{text}");

    let mut config = on(&sim);
    config.s3.access_key = None;
    config.s3.secret_key = None;
    let (text, ok) = report(config).await;
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("{probed} of {probed} products reachable")),
        "{text}"
    );
}

/// A 403 names the privilege that is missing, as calls do.
#[tokio::test]
async fn a_refused_probe_names_the_missing_privilege() {
    use axum::http::StatusCode;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(|| async {
        (
            StatusCode::FORBIDDEN,
            [("content-type", "application/json")],
            r#"{"httpStatus": 403, "messages": [{"errorCode": "0", "message": "Access denied."}]}"#,
        )
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut config = config_for(&format!("http://{addr}"));
    config.s3.access_key = None;
    config.s3.secret_key = None;
    let (text, ok) = report(config).await;
    assert!(!ok);
    let compute = text
        .lines()
        .find(|l| l.starts_with("compute "))
        .expect("compute line");
    let privilege = ionos_mcp::tools::table::product("compute")
        .expect("compute")
        .privilege;
    assert!(compute.contains("403 Forbidden"), "{compute}");
    assert!(compute.contains(privilege), "{compute}");
    assert!(!compute.contains(".."), "{compute}");
}

/// A token file that is not there is said so before any probe, in words; no guess that the
/// token is "not a JWT".
#[tokio::test]
async fn a_missing_token_file_is_named_as_missing() {
    let sim = Simulator::start().await.expect("simulator");
    let mut config = on(&sim);
    let path = std::env::temp_dir().join("ionos-mcp-check-no-such-token");
    config.credentials = Credentials::TokenFile(path.clone());
    let (text, _) = report(config).await;
    assert!(
        text.contains(&format!(
            "credentials: IONOS_TOKEN_FILE ({})",
            path.display()
        )),
        "{text}"
    );
    assert!(text.contains("the file does not exist"), "{text}");
    assert!(!text.contains("not a JWT"), "{text}");
    assert!(!text.contains("entity not found"), "{text}");

    let mut config = on(&sim);
    config.credentials = Credentials::Token(Secret::new("plain-token"));
    config.contract_number = Some(31_000_000);
    let (text, _) = report(config).await;
    assert!(text.contains("not a JWT"), "{text}");
    assert!(text.contains("contract: 31000000"), "{text}");
}
