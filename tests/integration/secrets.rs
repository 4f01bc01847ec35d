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
