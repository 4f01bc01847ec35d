//! The embedded simulated IONOS account: a loopback HTTP server that answers like the IONOS
//! APIs, behind `ionos-mcp --demo` and the tests.
//!
//! - `mod.rs` (here): the server, the request log, authentication, and the table of products,
//!   each mounted under its own path prefix ([`products`])
//! - `cloudapi`: the Cloud API v6 (Compute Engine, Managed Kubernetes) at `/cloudapi/v6`, with
//!   its data in `cloudapi.json`
//! - `tree`: the generic resource tree that serves most endpoints (paths, depth, paging, filters)
//! - `query`, `reply`: query parameters and answers in the Cloud API's conventions
//! - `s3`: the Object Storage S3 data plane at `/s3/{region}`, with its data in `s3.json`
//!
//! Every request is recorded before it is answered. Requests need `Authorization: Bearer <any
//! non-empty token>` or `Basic ...`; the bearer token `expired` is refused like an expired one.
//! S3 requests (`/s3/...`) are signed instead (AWS Signature Version 4 with
//! [`DEMO_S3_ACCESS_KEY`] and [`DEMO_S3_SECRET_KEY`]) and checked by `s3`.

mod activitylog;
mod auth;
mod billing;
mod catalog;
mod cloudapi;
mod dns;
mod paas;
mod query;
mod reply;
mod s3;
mod tree;

#[cfg(test)]
mod s3_tests;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::Response;
use percent_encoding::percent_decode_str;
use tokio::sync::oneshot;

pub use cloudapi::DEFAULT_REQUEST_DURATION;

/// The bearer token the demo mode uses.
pub const DEMO_TOKEN: &str = "demo-token";

/// The bearer token the simulator refuses as expired.
pub const EXPIRED_TOKEN: &str = "expired";

/// The Object Storage access key the S3 endpoints accept (one of the management API's access
/// keys in `objectstorage.json`).
pub const DEMO_S3_ACCESS_KEY: &str = "EXAMPLEACCESSKEY0001";

/// The secret key of [`DEMO_S3_ACCESS_KEY`], for signing S3 requests.
pub const DEMO_S3_SECRET_KEY: &str = "SIMULATED-SECRET-1/wJalrXUtnFEMIK7MDENG+";

/// One request as the simulator received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// The raw path, still percent-encoded as sent.
    pub path: String,
    /// Query pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    pub authorization: Option<String>,
    /// `X-Contract-Number`, when sent.
    pub contract: Option<String>,
}

/// A running simulated account. Dropping it shuts the server down.
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Simulator {
    /// Binds 127.0.0.1:0 and serves in a background tokio task until dropped.
    pub async fn start() -> std::io::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let origin = format!("http://{addr}");
        let invalid = |e: String| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("simulated account: {e}"),
            )
        };
        let cloudapi = Arc::new(cloudapi::CloudApi::new(&origin).map_err(invalid)?);
        let products = products(&origin, cloudapi.clone()).map_err(invalid)?;
        let s3 = s3::S3::new(&origin, OBJECT_STORAGE).map_err(invalid)?;
        let shared = Arc::new(Shared {
            products,
            cloudapi,
            s3,
            log: Mutex::new(VecDeque::new()),
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                // A dropped sender ends the server too.
                let _ = stopped.await;
            });
            if let Err(e) = server.await {
                tracing::warn!("simulator stopped: {e}");
            }
        });
        tracing::debug!("simulator listening on http://{addr}");
        Ok(Simulator {
            addr,
            shared,
            shutdown: Some(shutdown),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// e.g. "http://127.0.0.1:PORT/cloudapi/v6"
    /// The base URL a client uses for a manifest product on this simulator, or `None` for a
    /// product it does not simulate. Products whose real base URL has no path (DNS at
    /// `https://dns.de-fra.ionos.com`, ...) get their own prefix here.
    pub fn base_url(&self, product: &str) -> Option<String> {
        let origin = format!("http://{}", self.addr);
        Some(match product {
            "compute" | "kubernetes" => self.cloudapi_url(),
            "auth" => format!("{origin}/auth/v1"),
            "dns" => format!("{origin}/dns"),
            "certmanager" => format!("{origin}/certmanager"),
            "objectstorage" => format!("{origin}/s3-management"),
            "objectstorage_s3" => format!("{origin}{}/eu-central-3", s3::PREFIX),
            "billing" => format!("{origin}/billing"),
            "activitylog" => origin,
            _ => return None,
        })
    }

    pub fn cloudapi_url(&self) -> String {
        format!("http://{}{}", self.addr, cloudapi::PREFIX)
    }

    /// The requests received so far, in order, the latest [`REQUESTS_KEPT`] of them (path is
    /// the raw, still percent-encoded path; query pairs decoded).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Makes the S3 endpoints answer requests for a bucket of another region, `?location`
    /// included, with `404 NoSuchBucket` (as IONOS documents them) instead of S3's redirect.
    pub fn set_s3_strict_regions(&self, on: bool) {
        self.shared.s3.set_strict_regions(on);
    }

    /// Moves an S3 bucket to another region, as if it had been recreated there.
    pub fn move_s3_bucket(&self, bucket: &str, region: &str) {
        self.shared.s3.move_bucket(bucket, region);
    }

    /// How long a power action's request takes from now on, from QUEUED through RUNNING to
    /// DONE (default [`DEFAULT_REQUEST_DURATION`]); the server's `vmState` changes a fifth of
    /// that later.
    pub fn set_request_duration(&self, duration: std::time::Duration) {
        self.shared.cloudapi.set_request_duration(duration);
    }

    /// Sets one of the contract's resource limits (`coresPerContract`, `ramPerContract`):
    /// starting a server beyond them is accepted and then FAILED, as IONOS does.
    pub fn set_contract_limit(&self, limit: &str, value: i64) {
        self.shared.cloudapi.set_contract_limit(limit, value);
    }

    pub fn clear_requests(&self) {
        self.shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// The simulated account's contract number (as `cloudapi.json` has it).
const CONTRACT: i64 = 31_000_000;

/// The Object Storage management API's data: access keys, and the regions whose endpoints
/// `s3` serves.
const OBJECT_STORAGE: &str = include_str!("objectstorage.json");

/// The simulated products, each under its own prefix of `origin`. A new product (DNS at
/// `/dns`, billing at `/billing`, ...) is one more entry here.
fn products(
    origin: &str,
    cloudapi: Arc<cloudapi::CloudApi>,
) -> Result<Vec<Arc<dyn Product>>, String> {
    Ok(vec![
        cloudapi,
        Arc::new(auth::AuthApi::new(origin)),
        Arc::new(dns::Dns::new(origin)?),
        Arc::new(catalog::Catalog::new(
            origin,
            "/certmanager",
            include_str!("certmanager.json"),
        )?),
        Arc::new(catalog::Catalog::new(
            origin,
            "/s3-management",
            OBJECT_STORAGE,
        )?),
        Arc::new(activitylog::ActivityLog::new(origin, CONTRACT)),
        Arc::new(billing::Billing::new(CONTRACT)),
    ])
}

/// How many of the latest requests the simulator keeps for [`Simulator::requests`]: enough
/// for any test, and a bound for a demo server that runs for weeks.
pub const REQUESTS_KEPT: usize = 10_000;

/// Appends `item`, dropping the oldest items beyond `limit`.
fn keep_recent<T>(log: &mut VecDeque<T>, item: T, limit: usize) {
    while log.len() >= limit.max(1) {
        log.pop_front();
    }
    log.push_back(item);
}

/// One simulated IONOS API, answering the requests below its prefix.
trait Product: Send + Sync {
    /// e.g. `/cloudapi/v6`; requests to it or below it are this product's.
    fn prefix(&self) -> &'static str;
    fn handle(&self, req: &Incoming<'_>) -> Response;
}

/// A request as a product sees it: path below the prefix, already split and decoded.
struct Incoming<'a> {
    method: &'a Method,
    /// Percent-decoded path segments after the prefix; none for the prefix itself.
    segments: Vec<String>,
    query: &'a [(String, String)],
}

struct Shared {
    products: Vec<Arc<dyn Product>>,
    cloudapi: Arc<cloudapi::CloudApi>,
    s3: s3::S3,
    /// The latest [`REQUESTS_KEPT`] requests.
    log: Mutex<VecDeque<RecordedRequest>>,
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = query::decode_pairs(uri.query().unwrap_or(""));
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    tracing::debug!(%method, %path, "simulator request");
    keep_recent(
        &mut shared.log.lock().unwrap_or_else(PoisonError::into_inner),
        RecordedRequest {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            authorization: authorization.clone(),
            contract: headers
                .get("x-contract-number")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        },
        REQUESTS_KEPT,
    );
    if s3::is_s3(&path) {
        // Signed with AWS Signature Version 4, checked by the S3 endpoint itself.
        return shared.s3.handle(&s3::Request {
            method: &method,
            path: &path,
            query: uri.query().unwrap_or(""),
            headers: &headers,
            body: &body,
        });
    }
    let mut response = match authenticate(authorization.as_deref()) {
        Err(refused) => reply::unauthorized(refused),
        Ok(()) => route(&shared, &method, &path, &query),
    };
    // The Cloud API's rate-limit headers; the simulator never limits.
    let h = response.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from_static("600"));
    h.insert("x-ratelimit-remaining", HeaderValue::from_static("599"));
    h.insert("x-ratelimit-burst", HeaderValue::from_static("100"));
    response
}

/// Any non-empty bearer token but [`EXPIRED_TOKEN`], or any Basic credentials; otherwise the
/// message of the 401 answer.
fn authenticate(authorization: Option<&str>) -> Result<(), &'static str> {
    let Some(value) = authorization else {
        return Err("Unauthorized: no credentials (Authorization header) were sent");
    };
    let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let credentials = credentials.trim();
    if credentials.is_empty() {
        return Err("Unauthorized: empty credentials");
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        if credentials == EXPIRED_TOKEN {
            return Err("Unauthorized: the token has expired");
        }
        Ok(())
    } else if scheme.eq_ignore_ascii_case("basic") {
        Ok(())
    } else {
        Err("Unauthorized: use Bearer token or Basic authentication")
    }
}

fn route(shared: &Shared, method: &Method, path: &str, query: &[(String, String)]) -> Response {
    for product in &shared.products {
        let Some(rest) = path.strip_prefix(product.prefix()) else {
            continue;
        };
        if !(rest.is_empty() || rest.starts_with('/')) {
            continue;
        }
        return match split_segments(rest) {
            Some(segments) => product.handle(&Incoming {
                method,
                segments,
                query,
            }),
            None => reply::not_found(),
        };
    }
    reply::not_found()
}

/// `/a/b%3Ac` -> `["a", "b:c"]`; `""` and `"/"` -> `[]`. Empty, undecodable and encoded-slash
/// segments reach nothing (`None`); decoded segments are only ever compared with names and
/// ids, so `..` cannot step outside the resource it is in.
fn split_segments(rest: &str) -> Option<Vec<String>> {
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Some(Vec::new());
    }
    rest.split('/')
        .map(|s| {
            if s.is_empty() {
                return None;
            }
            let decoded = percent_decode_str(s).decode_utf8().ok()?;
            // No name or id holds a slash (multi-part ids like `de/fra` are spelled as segments).
            (!decoded.contains('/')).then(|| decoded.into_owned())
        })
        .collect()
}
