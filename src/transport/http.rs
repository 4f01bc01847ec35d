//! MCP over Streamable HTTP, for a team: rmcp's `StreamableHttpService` under `/mcp`, behind
//! the access guard (`crate::access::guard`), with `GET /healthz` for liveness and
//! `GET /metrics` (Prometheus text) for keys with the `admin` scope, or without a key on a
//! separate `--metrics-addr`.
//!
//! Both generations of clients are served: 2026-07-28 requests statelessly, and 2025-11-25
//! clients with sessions (`Mcp-Session-Id`), which expire when idle. Host and Origin are
//! checked against allow-lists (DNS rebinding), request bodies are bounded, a client has a
//! bounded time to send its request headers, and on shutdown the calls in flight finish
//! before the server stops.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::access::confirmations::Confirmations;
use crate::access::guard::{Guard, keep_until_sent};
use crate::config::LoadMode;
use crate::mcp::IonosServer;
use crate::metrics::METRICS;
use crate::tools::dispatch::Dispatcher;

/// The MCP endpoint's path.
pub const MCP_PATH: &str = "/mcp";

/// How the HTTP server listens and what it accepts.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub addr: SocketAddr,
    /// `Host` values accepted (host, or host:port); loopback names by default.
    pub allowed_hosts: Vec<String>,
    /// `Origin` values accepted from browsers (`scheme://host[:port|:*]`); loopback by default.
    /// Requests without an `Origin` (every non-browser client) pass.
    pub allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
    /// Time a client has to send its request headers.
    pub header_read_timeout: Duration,
    /// A 2025-11-25 session ends after this long without a request.
    pub session_idle: Duration,
    /// On shutdown, how long calls in flight may take to finish.
    pub shutdown_grace: Duration,
    /// How the tools are offered.
    pub load_mode: LoadMode,
    /// Where confirmations of destructive calls are kept: the key store, so every server on
    /// it honours them; this process's memory when `None`.
    pub confirmations: Option<Arc<dyn Confirmations>>,
    /// A second address serving only `GET /metrics`, without a key.
    pub metrics_addr: Option<SocketAddr>,
}

impl HttpOptions {
    /// Loopback defaults on `addr`.
    pub fn new(addr: SocketAddr) -> HttpOptions {
        HttpOptions {
            addr,
            allowed_hosts: DEFAULT_ALLOWED_HOSTS
                .iter()
                .map(|h| h.to_string())
                .collect(),
            allowed_origins: DEFAULT_ALLOWED_ORIGINS
                .iter()
                .map(|o| o.to_string())
                .collect(),
            max_body_bytes: 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            session_idle: Duration::from_secs(30 * 60),
            shutdown_grace: Duration::from_secs(30),
            load_mode: LoadMode::Eager,
            confirmations: None,
            metrics_addr: None,
        }
    }
}

/// The default listening address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// Hosts accepted when none are configured: loopback only.
pub const DEFAULT_ALLOWED_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// Origins accepted when none are configured: loopback pages on any port.
pub const DEFAULT_ALLOWED_ORIGINS: [&str; 3] =
    ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

/// A bound server, ready to run.
pub struct HttpServer {
    listener: TcpListener,
    app: Router,
    options: HttpOptions,
    in_flight: Arc<InFlight>,
    sessions_end: CancellationToken,
    guard: Option<Arc<Guard>>,
    metrics: Option<TcpListener>,
}

/// Binds the listening socket and builds the routes. `guard` is `None` only with `--no-auth`.
pub async fn bind(
    dispatcher: Arc<Dispatcher>,
    options: HttpOptions,
    guard: Option<Arc<Guard>>,
) -> anyhow::Result<HttpServer> {
    let listener = TcpListener::bind(options.addr)
        .await
        .with_context(|| format!("cannot listen on {}", options.addr))?;
    let sessions_end = CancellationToken::new();
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(options.allowed_hosts.clone())
        .with_allowed_origins(options.allowed_origins.clone())
        .with_max_request_body_bytes(options.max_body_bytes)
        .with_cancellation_token(sessions_end.child_token());
    if options.allowed_hosts.is_empty() {
        config = config.disable_allowed_hosts();
    }
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(options.session_idle);
    let mut server = IonosServer::with_mode(dispatcher, options.load_mode);
    if let Some(store) = &options.confirmations {
        server = server.with_confirmations(store.clone());
    }
    let mcp = StreamableHttpService::new(move || Ok(server.clone()), Arc::new(sessions), config);
    let in_flight = Arc::new(InFlight::default());
    let mut mcp_routes = Router::new().nest_service(MCP_PATH, mcp);
    if let Some(guard) = &guard {
        mcp_routes = mcp_routes.layer(axum::middleware::from_fn_with_state(
            guard.clone(),
            crate::access::guard::check,
        ));
    }
    let mcp_routes = mcp_routes.layer(axum::middleware::from_fn_with_state(
        in_flight.clone(),
        track_in_flight,
    ));
    let mut metrics_route = Router::new().route("/metrics", get(metrics));
    if let Some(guard) = &guard {
        metrics_route = metrics_route.layer(axum::middleware::from_fn_with_state(
            guard.clone(),
            crate::access::guard::admin_only,
        ));
    }
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(metrics_route)
        .merge(mcp_routes)
        .layer(axum::middleware::from_fn(count_request));
    let metrics = match options.metrics_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} for the metrics"))?,
        ),
        None => None,
    };
    Ok(HttpServer {
        listener,
        app,
        options,
        in_flight,
        sessions_end,
        guard,
        metrics,
    })
}

/// `GET /metrics`: the counters in the Prometheus text format.
async fn metrics() -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        METRICS.render(),
    )
        .into_response()
}

/// Counts a request by path and status, and times it to the end of its answer.
async fn count_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = match req.uri().path() {
        p if p == MCP_PATH || p.starts_with("/mcp/") => MCP_PATH,
        "/healthz" => "/healthz",
        "/metrics" => "/metrics",
        _ => "other",
    };
    let response = next.run(req).await;
    let timer = RequestTimer {
        path,
        status: response.status().as_u16(),
        started,
    };
    keep_until_sent(response, timer)
}

/// Records a request's metrics when its answer has been sent (or the client left).
struct RequestTimer {
    path: &'static str,
    status: u16,
    started: Instant,
}

impl Drop for RequestTimer {
    fn drop(&mut self) {
        METRICS.request(self.path, self.status, self.started.elapsed());
    }
}

impl HttpServer {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where `--metrics-addr` listens, when set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then lets the calls in flight finish (within the
    /// grace period), ends the sessions and writes the pending usage records.
    pub async fn run(
        mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let metrics_end = CancellationToken::new();
        if let Some(listener) = self.metrics.take() {
            let app = Router::new()
                .route("/metrics", get(metrics))
                .layer(axum::middleware::from_fn(count_request));
            let end = metrics_end.clone();
            tokio::spawn(async move {
                let serve = axum::serve(listener, app)
                    .with_graceful_shutdown(async move { end.cancelled().await });
                if let Err(e) = serve.await {
                    tracing::warn!(error = %e, "the metrics listener stopped");
                }
            });
        }
        let _metrics_end = metrics_end.drop_guard();
        let graceful = GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.options.header_read_timeout);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, then keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            // Answers end with a small last write (the end of a chunked or event stream); without
            // this it waits for the client's delayed ACK, some 40 ms a call.
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
            }
            let app = self.app.clone();
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    let app = app.clone();
                    async move {
                        Ok::<_, Infallible>(
                            app.oneshot(req.map(Body::new))
                                .await
                                .unwrap_or_else(|e| match e {}),
                        )
                    }
                },
            );
            let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
        let pending = self.in_flight.count();
        if pending > 0 {
            eprintln!("ionos-mcp: shutting down; waiting for {pending} call(s) in flight");
        }
        if tokio::time::timeout(self.options.shutdown_grace, self.in_flight.idle())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.in_flight.count(),
                "calls still running after the shutdown grace period"
            );
        }
        self.sessions_end.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
        if let Some(guard) = &self.guard {
            guard.shutdown().await;
        }
        Ok(())
    }
}

/// POST requests whose answers are not yet fully sent.
#[derive(Default)]
struct InFlight {
    count: AtomicUsize,
    changed: Notify,
}

impl InFlight {
    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    async fn idle(&self) {
        loop {
            let notified = self.changed.notified();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Ends an in-flight request when the answer's body is dropped (sent, or the client left).
struct InFlightTicket(Arc<InFlight>);

impl Drop for InFlightTicket {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

async fn track_in_flight(
    State(in_flight): State<Arc<InFlight>>,
    req: Request,
    next: Next,
) -> Response {
    if req.method() != axum::http::Method::POST {
        return next.run(req).await;
    }
    in_flight.count.fetch_add(1, Ordering::SeqCst);
    let ticket = InFlightTicket(in_flight);
    let response = next.run(req).await;
    keep_until_sent(response, ticket)
}
