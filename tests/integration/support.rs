//! Shared test plumbing: an MCP client connected in process to a server whose dispatcher
//! talks to a fresh simulator.

use std::sync::Arc;

use ionos_mcp::config::{Config, Credentials, Secret};
use ionos_mcp::mcp::IonosServer;
use ionos_mcp::simulator::{DEMO_S3_ACCESS_KEY, DEMO_S3_SECRET_KEY, DEMO_TOKEN, Simulator};
use ionos_mcp::tools::dispatch::Dispatcher;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use serde_json::{Map, Value};

pub type Client = RunningService<rmcp::RoleClient, ()>;

/// A configuration with no environment: every product on `origin`, the demo token.
pub fn config_for(origin: &str) -> Config {
    let mut c = Config::from_env(&std::collections::BTreeMap::<String, String>::new())
        .expect("empty environment is valid")
        .with_origin(origin);
    c.credentials = Credentials::Token(Secret::new(DEMO_TOKEN));
    c.s3.access_key = Some(DEMO_S3_ACCESS_KEY.to_string());
    c.s3.secret_key = Some(Secret::new(DEMO_S3_SECRET_KEY));
    c
}

/// A connected client, the simulator behind the server, and the server's handle.
pub struct Harness {
    pub client: Client,
    pub sim: Simulator,
}

impl Harness {
    pub async fn start() -> Harness {
        let sim = Simulator::start().await.expect("simulator starts");
        let config = config_for(&format!("http://{}", sim.addr()))
            .with_base_urls(|product| sim.base_url(product));
        Harness::with_config(sim, config).await
    }

    pub async fn with_config(sim: Simulator, config: Config) -> Harness {
        let dispatcher = Arc::new(Dispatcher::new(config));
        let (server_io, client_io) = tokio::io::duplex(1 << 20);
        let server = IonosServer::new(dispatcher);
        tokio::spawn(async move {
            if let Ok(running) = server.serve(server_io).await {
                let _ = running.waiting().await;
            }
        });
        let client = ().serve(client_io).await.expect("client connects");
        Harness { client, sim }
    }

    pub async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        let mut params = CallToolRequestParams::new(tool.to_string());
        params.arguments = match args {
            Value::Object(o) => Some(o),
            Value::Null => None,
            other => Some(Map::from_iter([("value".to_string(), other)])),
        };
        self.client
            .call_tool(params)
            .await
            .expect("tools/call answers")
    }
}

/// The text of a result's first content block.
pub fn text(r: &CallToolResult) -> String {
    r.content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

pub fn is_error(r: &CallToolResult) -> bool {
    r.is_error == Some(true)
}

/// The secrets of the simulated account a result might carry: certificate private keys,
/// access-key secret keys, ACME key secrets and the demo S3 secret key.
pub const SECRETS: [&str; 4] = [
    "PRIVATE KEY",
    "SIMULATED-SECRET",
    "SIMULATED-EAB-SECRET",
    ionos_mcp::simulator::DEMO_S3_SECRET_KEY,
];

/// The secrets in `result`, if any.
pub fn secrets_in(result: &Value) -> Vec<&'static str> {
    let text = result.to_string();
    SECRETS.into_iter().filter(|s| text.contains(s)).collect()
}

/// `HOME` and `XDG_CONFIG_HOME` for a child process, pointing at an empty folder: no IONOS
/// config file of the machine running the tests (`~/.ionos/config`) is picked up.
pub fn empty_home() -> [(&'static str, std::path::PathBuf); 2] {
    let dir = std::env::temp_dir().join(format!("ionos-mcp-empty-home-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    [("HOME", dir.clone()), ("XDG_CONFIG_HOME", dir)]
}

/// The items of the compact list `list` as objects again: a table's rows zipped with its
/// columns (`null` meaning absent), and the values stated once under `common.<list>` put back.
pub fn items_of(answer: &Value, list: &str) -> Vec<Value> {
    let shared = answer
        .pointer(&format!("/common/{list}"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let items: Vec<Value> = match &answer[list] {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        table => {
            let columns = table["columns"].as_array().expect("a table's columns");
            let rows = table["rows"].as_array().expect("a table's rows");
            rows.iter()
                .map(|row| {
                    let values = row.as_array().expect("a row is a list of values");
                    assert_eq!(values.len(), columns.len(), "a value per column: {row}");
                    let item: serde_json::Map<String, Value> = columns
                        .iter()
                        .zip(values)
                        .filter(|(_, v)| !v.is_null())
                        .map(|(c, v)| (c.as_str().expect("a column name").to_string(), v.clone()))
                        .collect();
                    Value::Object(item)
                })
                .collect()
        }
    };
    items
        .into_iter()
        .map(|mut item| {
            for (k, v) in &shared {
                if item.get(k).is_none() {
                    item[k] = v.clone();
                }
            }
            item
        })
        .collect()
}
