//! Secrets never leave: with known secret values configured, no result, error or log line
//! (at the most verbose log level) of the binary contains them.

use ionos_mcp::simulator::Simulator;

const TOKEN: &str = "tok-SECRET-7f3a9c1e";
const PASSWORD: &str = "pw-SECRET-41b7";

#[tokio::test]
async fn no_secret_in_any_output_or_log() {
    let sim = Simulator::start().await.expect("simulator");
    let dc = "b5634021-a867-4b94-a0ff-eafb37fd3e19";
    let calls: Vec<(&str, String)> = vec![
        ("list_datacenters", "{}".into()),
        (
            "get_server",
            format!("{{\"datacenter_id\":\"{dc}\",\"server_id\":\"missing\"}}"),
        ),
        ("get_server", "{\"datacenter_id\": 5}".into()),
        ("no_such_tool", "{}".into()),
        (
            "list_servers",
            format!("{{\"datacenter_id\":\"{dc}\",\"depth\":3}}"),
        ),
    ];
    let mut seen = 0;
    for (tool, args) in calls {
        for creds in [
            vec![("IONOS_TOKEN", TOKEN)],
            vec![
                ("IONOS_USERNAME", "ops@example.com"),
                ("IONOS_PASSWORD", PASSWORD),
            ],
        ] {
            let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ionos-mcp"));
            cmd.args(["call", tool, &args])
                .env("IONOS_API_URL", sim.cloudapi_url())
                .env("IONOS_MCP_LOG", "trace")
                .env_remove("IONOS_TOKEN")
                .env_remove("IONOS_TOKEN_FILE")
                .env_remove("IONOS_USERNAME")
                .env_remove("IONOS_PASSWORD");
            for (k, v) in &creds {
                cmd.env(k, v);
            }
            let out = cmd.output().await.expect("runs");
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            seen += all.len();
            for secret in [TOKEN, PASSWORD] {
                assert!(
                    !all.contains(secret),
                    "{tool} {args}: a secret leaked:\n{all}"
                );
            }
        }
    }
    // The simulator did receive the credentials: the check above was not vacuous.
    let auth: Vec<String> = sim
        .requests()
        .into_iter()
        .filter_map(|r| r.authorization)
        .collect();
    assert!(auth.iter().any(|a| a.contains(TOKEN)), "{auth:?}");
    assert!(seen > 0);
}

/// The S3 secret key signs requests but never travels or shows: not in any request the
/// simulator received, nor in results, errors or trace logs, whether the signature is
/// accepted (the right secret) or refused (a wrong one).
#[tokio::test]
async fn no_s3_secret_in_any_request_output_or_log() {
    use ionos_mcp::simulator::{DEMO_S3_ACCESS_KEY, DEMO_S3_SECRET_KEY};
    const WRONG: &str = "s3-WRONG-SECRET-0000000000000000000000000";
    let sim = Simulator::start().await.expect("simulator");
    let endpoint = sim.base_url("objectstorage_s3").expect("simulated");
    let mut outputs = 0;
    for secret in [DEMO_S3_SECRET_KEY, WRONG] {
        for (tool, args) in [
            ("list_object_storage_buckets", "{}"),
            (
                "head_object_storage_object",
                "{\"bucket\":\"shop-assets\",\"key\":\"index.html\"}",
            ),
            ("get_object_storage_bucket_cors", "{\"bucket\":\"nope\"}"),
        ] {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ionos-mcp"))
                .args(["call", tool, args])
                .env("IONOS_S3_ENDPOINT", &endpoint)
                .env("IONOS_S3_ACCESS_KEY", DEMO_S3_ACCESS_KEY)
                .env("IONOS_S3_SECRET_KEY", secret)
                .env("IONOS_MCP_LOG", "trace")
                .env("IONOS_TOKEN", TOKEN)
                .output()
                .await
                .expect("runs");
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            outputs += 1;
            assert!(!all.contains(secret), "{tool}: the secret leaked:\n{all}");
            // HEAD answers have no body, so only the GETs can name the cause.
            if secret == WRONG && !tool.starts_with("head_") {
                assert!(all.contains("SignatureDoesNotMatch"), "{tool}: {all}");
            }
        }
    }
    let sent = sim.requests();
    assert_eq!(sent.len(), outputs, "one request per call");
    for r in &sent {
        let line = format!("{r:?}");
        assert!(
            !line.contains(DEMO_S3_SECRET_KEY) && !line.contains(WRONG),
            "{line}"
        );
        assert!(
            r.authorization
                .as_deref()
                .is_some_and(|a| a.contains(DEMO_S3_ACCESS_KEY)),
            "signed with the access key: {line}"
        );
    }
}
