//! The binary behind a forward proxy named by the environment: plain HTTP goes to the proxy in
//! absolute form with the proxy's credentials, HTTPS through a `CONNECT` tunnel, and
//! `NO_PROXY` hosts straight to their destination.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use ionos_mcp::simulator::{DEMO_TOKEN, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PROXY_VARIABLES: [&str; 8] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
];

/// What one connection to the proxy asked first: its request line and `Proxy-Authorization`.
#[derive(Debug, Clone)]
struct Asked {
    line: String,
    authorization: Option<String>,
}

/// A forward proxy that passes a plain request on to the host its absolute URL names (the
/// simulator's server takes the absolute form) and refuses every `CONNECT` with 403.
struct Proxy {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<Asked>>>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let asked = Arc::new(Mutex::new(Vec::new()));
        let record = asked.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(pass_on(client, record.clone()));
            }
        });
        Proxy { addr, asked }
    }

    fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }
}

async fn pass_on(mut client: TcpStream, record: Arc<Mutex<Vec<Asked>>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let line = text.lines().next().unwrap_or_default().to_string();
    let authorization = text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_string())
    });
    record.lock().unwrap().push(Asked {
        line: line.clone(),
        authorization,
    });
    if line.starts_with("CONNECT ") {
        let _ = client
            .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    }
    let Some(host) = line
        .split(' ')
        .nth(1)
        .and_then(|url| url.strip_prefix("http://"))
        .and_then(|rest| rest.split('/').next())
    else {
        return;
    };
    let Ok(mut upstream) = TcpStream::connect(host).await else {
        return;
    };
    if upstream.write_all(&head).await.is_ok() {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}

/// `ionos-mcp call list_datacenters` with `env`, and no proxy setting but those in `env`.
async fn list_datacenters(env: &[(&str, String)]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ionos-mcp"));
    cmd.args(["call", "list_datacenters"])
        .envs(crate::support::empty_home());
    for var in PROXY_VARIABLES {
        cmd.env_remove(var);
    }
    cmd.env("IONOS_TOKEN", DEMO_TOKEN)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .await
        .expect("runs")
}

#[tokio::test]
async fn plain_http_goes_to_the_proxy_in_absolute_form_with_its_credentials() {
    let sim = Simulator::start().await.expect("simulator");
    let proxy = Proxy::start().await;
    let out = list_datacenters(&[
        ("IONOS_API_URL", sim.cloudapi_url()),
        (
            "HTTP_PROXY",
            format!("http://proxyuser:proxy-secret@{}", proxy.addr),
        ),
    ])
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let asked = proxy.asked();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(
        asked[0].line.starts_with(&format!(
            "GET http://{}/cloudapi/v6/datacenters",
            sim.addr()
        )),
        "{asked:?}"
    );
    // base64("proxyuser:proxy-secret")
    assert_eq!(
        asked[0].authorization.as_deref(),
        Some("Basic cHJveHl1c2VyOnByb3h5LXNlY3JldA==")
    );
    assert_eq!(sim.requests().len(), 1, "the call reached the simulator");
    let all = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).to_string();
    assert!(!all.contains("proxy-secret"), "{all}");
}

#[tokio::test]
async fn no_proxy_hosts_are_reached_directly() {
    let sim = Simulator::start().await.expect("simulator");
    let proxy = Proxy::start().await;
    let out = list_datacenters(&[
        ("IONOS_API_URL", sim.cloudapi_url()),
        ("ALL_PROXY", format!("http://{}", proxy.addr)),
        ("NO_PROXY", "localhost,127.0.0.1".into()),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(proxy.asked().is_empty(), "{:?}", proxy.asked());
    assert_eq!(sim.requests().len(), 1);
}

#[tokio::test]
async fn https_goes_through_a_connect_tunnel() {
    let proxy = Proxy::start().await;
    // The destination's name resolves nowhere: only the proxy could reach it.
    let out = list_datacenters(&[
        (
            "IONOS_API_URL",
            "https://api.example.invalid/cloudapi/v6".into(),
        ),
        ("HTTPS_PROXY", format!("http://{}", proxy.addr)),
    ])
    .await;
    assert!(!out.status.success());
    let asked = proxy.asked();
    assert!(!asked.is_empty());
    assert!(
        asked
            .iter()
            .all(|a| a.line == "CONNECT api.example.invalid:443 HTTP/1.1"),
        "{asked:?}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "Could not reach IONOS at https://api.example.invalid/cloudapi/v6/datacenters"
        ),
        "{err}"
    );
}
