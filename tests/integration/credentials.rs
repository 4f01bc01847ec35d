//! Token lifecycle end to end: expiry read from the JWT, a token file rotated without a
//! restart, HTTP Basic with username and password.

use std::time::{Duration, SystemTime};

use base64::Engine;
use ionos_mcp::config::{Credentials, Secret};
use ionos_mcp::simulator::Simulator;
use serde_json::json;

use crate::support::{Harness, config_for, is_error, text};

fn jwt(exp: u64) -> String {
    let enc = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.sig",
        enc(json!({"alg": "RS256", "typ": "JWT"})),
        enc(json!({"exp": exp}))
    )
}

fn now() -> u64 {
    ionos_mcp::upstream::credentials::now()
}

#[tokio::test]
async fn an_expired_token_is_named_with_its_time_and_nothing_is_sent() {
    let sim = Simulator::start().await.expect("simulator");
    let mut config = config_for(&format!("http://{}", sim.addr()));
    config.credentials = Credentials::Token(Secret::new(jwt(now() - 3600)));
    let h = Harness::with_config(sim, config).await;
    let r = h.call("list_datacenters", json!({})).await;
    assert!(is_error(&r));
    let msg = text(&r);
    assert!(msg.contains("IONOS_TOKEN expired at "), "{msg}");
    assert!(msg.contains("Token Manager"), "{msg}");
    assert!(
        h.sim.requests().is_empty(),
        "a request went out with an expired token"
    );
}

#[tokio::test]
async fn a_rotated_token_file_is_used_by_the_next_call() {
    let dir = std::env::temp_dir().join(format!("ionos-mcp-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("token");
    std::fs::write(&path, "token-one").expect("write");
    let sim = Simulator::start().await.expect("simulator");
    let mut config = config_for(&format!("http://{}", sim.addr()));
    config.credentials = Credentials::TokenFile(path.clone());
    let h = Harness::with_config(sim, config).await;

    let r = h.call("list_datacenters", json!({})).await;
    assert!(!is_error(&r), "{}", text(&r));
    std::fs::write(&path, "token-two\n").expect("rotate");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(SystemTime::now() + Duration::from_secs(5)))
        .expect("touch");
    let r = h.call("list_datacenters", json!({})).await;
    assert!(!is_error(&r), "{}", text(&r));
    let auth: Vec<Option<String>> = h
        .sim
        .requests()
        .into_iter()
        .map(|r| r.authorization)
        .collect();
    assert_eq!(
        auth,
        vec![
            Some("Bearer token-one".to_string()),
            Some("Bearer token-two".to_string())
        ]
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn username_and_password_are_sent_as_basic() {
    let sim = Simulator::start().await.expect("simulator");
    let mut config = config_for(&format!("http://{}", sim.addr()));
    config.credentials = Credentials::Basic {
        username: "ops@example.com".into(),
        password: Secret::new("pa55word"),
    };
    let h = Harness::with_config(sim, config).await;
    let r = h.call("list_datacenters", json!({})).await;
    assert!(!is_error(&r), "{}", text(&r));
    let sent = h.sim.requests();
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ops@example.com:pa55word")
    );
    assert_eq!(sent[0].authorization.as_deref(), Some(want.as_str()));
    assert!(!text(&r).contains("pa55word"));
}

#[test]
fn the_binary_warns_at_start_about_an_expired_token() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ionos-mcp"))
        .env("IONOS_TOKEN", jwt(now() - 86_400))
        .envs(crate::support::empty_home())
        .env_remove("IONOS_TOKEN_FILE")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("IONOS_TOKEN expired at"), "{err}");
    assert!(out.stdout.is_empty(), "stdout must carry only the protocol");
}

/// `IONOS_TOKEN="Bearer …"` (the whole header value pasted) is sent once as `Bearer …`.
#[tokio::test]
async fn a_pasted_bearer_prefix_is_sent_once() {
    let sim = Simulator::start().await.expect("simulator");
    let mut config = config_for(&format!("http://{}", sim.addr()));
    config.credentials = Credentials::Token(Secret::new("Bearer pasted-token"));
    let h = Harness::with_config(sim, config).await;
    let r = h.call("list_datacenters", json!({})).await;
    assert!(!is_error(&r), "{}", text(&r));
    assert_eq!(
        h.sim.requests()[0].authorization.as_deref(),
        Some("Bearer pasted-token")
    );
}

/// A refused token is named by where it came from, not always as IONOS_TOKEN.
#[tokio::test]
async fn a_refused_token_from_a_file_names_the_file() {
    let dir = std::env::temp_dir().join(format!("ionos-mcp-it-refused-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("token");
    std::fs::write(&path, ionos_mcp::simulator::EXPIRED_TOKEN).expect("write");
    let sim = Simulator::start().await.expect("simulator");
    let mut config = config_for(&format!("http://{}", sim.addr()));
    config.credentials = Credentials::TokenFile(path.clone());
    let h = Harness::with_config(sim, config).await;
    let r = h.call("list_datacenters", json!({})).await;
    assert!(is_error(&r));
    let msg = text(&r);
    assert!(
        msg.contains(&format!("IONOS_TOKEN_FILE ({})", path.display())),
        "{msg}"
    );
    assert!(msg.contains("401"), "{msg}");
    assert!(!msg.contains("IONOS_TOKEN is"), "{msg}");
    std::fs::remove_dir_all(&dir).ok();
}

/// With a username and password refused, the advice for 2-factor accounts does not send
/// them back to the password.
#[test]
fn the_two_factor_hint_does_not_suggest_the_password() {
    let msg = ionos_mcp::errors::ToolError::BasicRejected {
        origin: "IONOS_USERNAME/IONOS_PASSWORD".into(),
        detail: String::new(),
    }
    .to_string();
    assert!(msg.contains("2-factor"), "{msg}");
    assert!(msg.contains("Token Manager"), "{msg}");
    assert!(!msg.contains("username and password"), "{msg}");
}

/// `IONOS_CONTRACT_NUMBER` goes out as `X-Contract-Number` with every JSON API request.
#[tokio::test]
async fn the_contract_number_is_sent() {
    let sim = Simulator::start().await.expect("simulator");
    let env: std::collections::BTreeMap<String, String> =
        [("IONOS_CONTRACT_NUMBER".to_string(), "31000042".to_string())].into();
    let parsed = ionos_mcp::config::Config::from_env(&env).expect("valid");
    assert_eq!(parsed.contract_number, Some(31_000_042));
    let mut config =
        config_for(&format!("http://{}", sim.addr())).with_base_urls(|p| sim.base_url(p));
    config.contract_number = parsed.contract_number;
    let h = Harness::with_config(sim, config).await;
    for tool in ["list_datacenters", "list_dns_zones"] {
        let r = h.call(tool, json!({})).await;
        assert!(!is_error(&r), "{tool}: {}", text(&r));
    }
    let sent = h.sim.requests();
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter()
            .all(|r| r.contract.as_deref() == Some("31000042")),
        "{sent:?}"
    );
    for bad in ["0", "abc", "-5", "99999999999"] {
        let env: std::collections::BTreeMap<String, String> =
            [("IONOS_CONTRACT_NUMBER".to_string(), bad.to_string())].into();
        let e = ionos_mcp::config::Config::from_env(&env).expect_err(bad);
        assert_eq!(e.variable, "IONOS_CONTRACT_NUMBER");
    }
}
