//! The HTTP client every upstream sends through: hyper's pooled HTTP/1.1 client, TLS by rustls
//! verified against the system's roots (the platform verifier, which honours `SSL_CERT_FILE` and
//! `SSL_CERT_DIR`), through the proxy the environment names (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY` and `NO_PROXY`, in either case), with a time limit for connecting and one for a
//! whole exchange, the answer's body included.
//!
//! An HTTPS destination behind a proxy is reached through a `CONNECT` tunnel, with TLS to the
//! destination inside it; plain HTTP goes to the proxy itself, which takes the request in
//! absolute form.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt as _, Empty};
use hyper::body::{Body as _, Bytes};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, PROXY_AUTHORIZATION, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// How the client introduces itself.
const USER_AGENT_VALUE: &str = concat!("ionos-mcp/", env!("CARGO_PKG_VERSION"));

/// How long an unused connection is kept for the next request.
const IDLE_CONNECTIONS_KEPT: Duration = Duration::from_secs(90);

/// One request to an upstream, as authentication sees it before it goes out: nothing the
/// server sends has a body.
#[derive(Debug)]
pub struct Outgoing {
    method: Method,
    url: String,
    headers: HeaderMap,
}

impl Outgoing {
    /// A request to `url`: absolute, its path already encoded.
    pub fn new(method: Method, url: &str) -> Self {
        Outgoing {
            method,
            url: url.to_string(),
            headers: HeaderMap::new(),
        }
    }

    /// Appends `pairs` to the query, form-encoded, after any query the URL has.
    pub fn query<I, K, V>(mut self, pairs: I) -> Self
    where
        I: IntoIterator,
        I::Item: std::borrow::Borrow<(K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut encoded = url::form_urlencoded::Serializer::new(String::new());
        encoded.extend_pairs(pairs);
        let encoded = encoded.finish();
        if !encoded.is_empty() {
            self.url
                .push(if self.url.contains('?') { '&' } else { '?' });
            self.url.push_str(&encoded);
        }
        self
    }

    /// Adds a header; a value no header can carry (line breaks, control characters) is
    /// refused with the header's name.
    pub fn header(&mut self, name: &str, value: &str) -> Result<(), String> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not an HTTP header name"))?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            format!("the value for header `{name}` holds characters an HTTP header cannot carry")
        })?;
        self.headers.append(name, value);
        Ok(())
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL with its query, as it is sent.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }
}

/// A complete answer.
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Why an exchange got no complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The URL is not one an HTTP request can go to.
    InvalidUrl(String),
    /// No complete answer within the time limit.
    Timeout,
    /// The answer's body is larger than the limit.
    TooLarge,
    /// Connecting failed, or the connection broke before the answer was complete.
    Transport(String),
}

/// The pooled client (see the module's documentation).
pub struct Client {
    hyper: hyper_util::client::legacy::Client<Connector, Empty<Bytes>>,
    proxies: Arc<Matcher>,
    timeout: Duration,
}

impl Client {
    /// Loads the system's root certificates and reads the proxy settings.
    pub fn new(connect_timeout: Duration, timeout: Duration) -> Result<Client, rustls::Error> {
        let tls = tls_config()?;
        let proxies = Arc::new(Matcher::from_env());
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(connect_timeout));
        tcp.set_nodelay(true);
        let connector = Connector {
            direct: HttpsConnectorBuilder::new()
                .with_tls_config(tls.clone())
                .https_or_http()
                .enable_http1()
                .wrap_connector(tcp),
            tls,
            proxies: proxies.clone(),
        };
        let hyper = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(IDLE_CONNECTIONS_KEPT)
            .build(connector);
        Ok(Client {
            hyper,
            proxies,
            timeout,
        })
    }

    /// Sends `request` and reads its answer, a body of at most `limit` bytes, within the time
    /// limit. Dropping the future abandons the request and its connection.
    pub async fn fetch(&self, request: Outgoing, limit: usize) -> Result<Fetched, SendError> {
        tokio::time::timeout(self.timeout, self.exchange(request, limit))
            .await
            .unwrap_or(Err(SendError::Timeout))
    }

    async fn exchange(&self, outgoing: Outgoing, limit: usize) -> Result<Fetched, SendError> {
        let uri: Uri = outgoing
            .url
            .parse()
            .map_err(|e| SendError::InvalidUrl(format!("{e}")))?;
        let plain = match uri.scheme_str() {
            Some("https") => false,
            Some("http") => true,
            _ => {
                return Err(SendError::InvalidUrl(
                    "the URL must start with https:// or http://".into(),
                ));
            }
        };
        let mut request = Request::new(Empty::new());
        *request.method_mut() = outgoing.method;
        *request.headers_mut() = outgoing.headers;
        request
            .headers_mut()
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(USER_AGENT_VALUE));
        if plain {
            // The proxy sees this request itself (a tunnel carries its own credentials).
            if let Some(auth) = self
                .proxies
                .intercept(&uri)
                .and_then(|p| p.basic_auth().cloned())
            {
                let mut auth = auth;
                auth.set_sensitive(true);
                request.headers_mut().insert(PROXY_AUTHORIZATION, auth);
            }
        }
        *request.uri_mut() = uri;
        let response = self
            .hyper
            .request(request)
            .await
            .map_err(|e| SendError::Transport(super::with_causes(&e)))?;
        let status = response.status().as_u16();
        let (parts, mut body) = response.into_parts();
        // The body's own size: a HEAD answer announces a length it does not send.
        let announced = body.size_hint().exact().map(|n| n as usize);
        if announced.is_some_and(|n| n > limit) {
            return Err(SendError::TooLarge);
        }
        let mut bytes = Vec::with_capacity(announced.unwrap_or(0));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| SendError::Transport(super::with_causes(&e)))?;
            if let Ok(data) = frame.into_data() {
                if bytes.len() + data.len() > limit {
                    return Err(SendError::TooLarge);
                }
                bytes.extend_from_slice(&data);
            }
        }
        Ok(Fetched {
            status,
            headers: parts.headers,
            body: bytes,
        })
    }
}

/// TLS 1.2 and 1.3 by ring, verified by the platform verifier.
fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    use rustls_platform_verifier::BuilderVerifierExt as _;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // ALPN (`http/1.1`) is the connector's to set.
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_platform_verifier()?
        .with_no_client_auth())
}

/// Opens connections: straight to the destination, or through the proxy that covers it.
#[derive(Clone)]
struct Connector {
    direct: HttpsConnector<HttpConnector>,
    tls: rustls::ClientConfig,
    proxies: Arc<Matcher>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for Connector {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.direct.poll_ready(cx)
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let Some(proxy) = self.proxies.intercept(&destination) else {
            let connecting = self.direct.call(destination);
            return Box::pin(async move { Ok(Stream::new(connecting.await?, false)) });
        };
        if destination.scheme_str() == Some("https") {
            let mut tunnel = Tunnel::new(proxy.uri().clone(), self.direct.clone());
            if let Some(auth) = proxy.basic_auth() {
                tunnel = tunnel.with_auth(auth.clone());
            }
            let mut inside = HttpsConnectorBuilder::new()
                .with_tls_config(self.tls.clone())
                .https_only()
                .enable_http1()
                .wrap_connector(tunnel);
            let connecting = inside.call(destination);
            Box::pin(async move { Ok(Stream::new(connecting.await?, false)) })
        } else {
            let connecting = self.direct.call(proxy.uri().clone());
            Box::pin(async move { Ok(Stream::new(connecting.await?, true)) })
        }
    }
}

/// What a connection needs to be: hyper's I/O traits, and what the pool asks of it.
trait Io: hyper::rt::Read + hyper::rt::Write + Connection + Unpin + Send {}

impl<T: hyper::rt::Read + hyper::rt::Write + Connection + Unpin + Send> Io for T {}

/// One connection, however it was made.
struct Stream {
    io: Box<dyn Io>,
    /// A plain HTTP connection to a proxy: requests on it go in absolute form.
    to_proxy: bool,
}

impl Stream {
    fn new(io: impl Io + 'static, to_proxy: bool) -> Stream {
        Stream {
            io: Box::new(io),
            to_proxy,
        }
    }
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.to_proxy)
    }
}

impl hyper::rt::Read for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_form_encoded_after_any_the_url_has() {
        let url = |base: &str, pairs: &[(&str, &str)]| {
            Outgoing::new(Method::GET, base)
                .query(pairs)
                .url()
                .to_string()
        };
        assert_eq!(url("https://h/p", &[]), "https://h/p");
        assert_eq!(
            url("https://h/p", &[("depth", "1"), ("filter.name", "a b&c")]),
            "https://h/p?depth=1&filter.name=a+b%26c"
        );
        assert_eq!(
            url("https://h/b?list-type=2", &[("prefix", "x/")]),
            "https://h/b?list-type=2&prefix=x%2F"
        );
        assert_eq!(
            url("https://h/b", &[("location", "")]),
            "https://h/b?location="
        );
    }

    #[test]
    fn a_header_value_with_a_line_break_is_refused_by_name() {
        let mut req = Outgoing::new(Method::GET, "https://h/");
        let e = req
            .header("x-contract-number", "1\r\nX-Evil: 1")
            .unwrap_err();
        assert!(e.contains("`x-contract-number`"), "{e}");
        assert!(req.headers().is_empty());
        req.header("x-contract-number", "31415").unwrap();
        assert_eq!(req.headers()["x-contract-number"], "31415");
    }
}
