//! The JSON APIs of IONOS (Cloud API, Kubernetes, DNS, Billing, Certificate Manager, Activity
//! Log, the Object Storage management API, Auth): authenticated with the IONOS token, or HTTP
//! Basic as the IONOS SDKs do, and refusing with IONOS error documents.

use base64::Engine;
use hyper::Method;
use hyper::header::{AUTHORIZATION, HeaderValue};

use super::client::Outgoing;
use super::credentials::{Auth, CredentialSource};
use super::{BoxFuture, Exchange, Http, Reply, Upstream};
use crate::config::Config;
use crate::errors::{ToolError, ionos_detail, truncate};
use crate::tools::request::RequestParts;
use crate::tools::table::{self, ToolSpec};

/// The bearer-token upstream.
pub struct Bearer {
    credentials: CredentialSource,
    /// `X-Contract-Number`, from `IONOS_CONTRACT_NUMBER`.
    contract: Option<HeaderValue>,
}

/// The header that names the contract a reseller or multi-contract user acts on.
pub const CONTRACT_HEADER: &str = "x-contract-number";

impl Bearer {
    pub fn new(config: &Config) -> Bearer {
        Bearer {
            credentials: CredentialSource::new(config.credentials.clone()),
            contract: config
                .contract_number
                .and_then(|n| HeaderValue::from_str(&n.to_string()).ok()),
        }
    }

    /// Where the credentials come from, and when the token expires.
    pub fn credentials(&self) -> &CredentialSource {
        &self.credentials
    }

    /// Adds the IONOS credentials to a request, marked sensitive so they never print.
    pub fn authenticate(&self, request: &mut Outgoing) -> Result<(), ToolError> {
        let value = match self.credentials.current()? {
            Auth::Bearer(t) => format!("Bearer {}", t.expose()),
            Auth::Basic { username, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{}", password.expose()))
            ),
        };
        let mut value =
            HeaderValue::from_str(&value).map_err(|_| ToolError::CredentialsUnusable {
                origin: self.credentials.origin(),
                problem: "it contains characters an HTTP header cannot carry".into(),
            })?;
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
        if let Some(contract) = &self.contract {
            request
                .headers_mut()
                .insert(CONTRACT_HEADER, contract.clone());
        }
        Ok(())
    }

    /// A GET of `path` on another bearer product's API (once, no retries), if it answers JSON.
    pub async fn get_json(
        &self,
        http: &Http,
        tool: &'static ToolSpec,
        product: &str,
        path: &str,
    ) -> Option<serde_json::Value> {
        let product = table::product(product)?;
        let base = http
            .config()
            .base_url(product.key)
            .unwrap_or(product.base_url)
            .trim_end_matches('/')
            .to_string();
        let mut request = Outgoing::new(Method::GET, &format!("{base}{path}"));
        self.authenticate(&mut request).ok()?;
        let answer = http.send_once(tool, request).await.ok()?;
        if !answer.is_success() {
            tracing::debug!(path, status = answer.status, "lookup refused");
            return None;
        }
        serde_json::from_slice(&answer.body).ok()
    }

    /// The tool error for a refused request, with what to do about it.
    fn refusal(&self, tool: &ToolSpec, req: &RequestParts, answer: &Exchange) -> ToolError {
        let detail = ionos_detail(&answer.body);
        match answer.status {
            401 if self.credentials.is_basic() => ToolError::BasicRejected {
                origin: self.credentials.origin(),
                detail,
            },
            401 => match self.credentials.expiry() {
                Some(exp) if exp <= super::credentials::now() => ToolError::TokenExpired {
                    variable: self.credentials.origin(),
                    at: super::credentials::format_utc(exp),
                    renewal: self.credentials.renewal(),
                },
                _ => ToolError::Unauthorized {
                    origin: self.credentials.origin(),
                    detail,
                    renewal: self.credentials.renewal(),
                },
            },
            403 => ToolError::Forbidden {
                product: tool.product().title.to_string(),
                privilege: tool.product().privilege.to_string(),
                detail,
            },
            404 => ToolError::NotFound {
                what: not_found_subject(tool, req),
                detail,
                list_hint: list_hint(tool),
            },
            429 => ToolError::RateLimited {
                retry: super::rate_limit_note(answer),
            },
            status @ 500..=599 => ToolError::ServerError { status, detail },
            status => ToolError::Rejected { status, detail },
        }
    }
}

impl Upstream for Bearer {
    fn send<'a>(
        &'a self,
        http: &'a Http,
        tool: &'static ToolSpec,
        req: &'a RequestParts,
    ) -> BoxFuture<'a, Result<Reply, ToolError>> {
        Box::pin(async move {
            let base = http.base_url(tool);
            let answer = http
                .exchange(tool, &base, req, &|r| self.authenticate(r))
                .await?;
            if answer.status == 202 {
                Ok(Reply::Accepted {
                    location: answer
                        .headers
                        .get(hyper::header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string),
                })
            } else if answer.is_success() {
                Ok(Reply::Body {
                    media: answer.media(),
                    body: answer.body,
                })
            } else {
                Err(self.refusal(tool, req, &answer))
            }
        })
    }
}

/// "server `abc` (datacenter_id=x)" from the tool's path arguments.
fn not_found_subject(tool: &ToolSpec, req: &RequestParts) -> String {
    let placeholders: Vec<&str> = tool
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect();
    let values: Vec<String> = req
        .path
        .split('/')
        .zip(tool.path.split('/'))
        .filter(|(_, t)| t.starts_with('{'))
        .map(|(v, _)| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    match (placeholders.last(), values.last()) {
        (Some(last), Some(id)) => {
            let kind = last.trim_end_matches("Id").trim_end_matches("_id");
            let mut s = format!("{kind} `{}`", truncate(id, 80));
            if placeholders.len() > 1 {
                let parents: Vec<String> = placeholders[..placeholders.len() - 1]
                    .iter()
                    .zip(values.iter())
                    .map(|(p, v)| format!("{p} {}", truncate(v, 80)))
                    .collect();
                s.push_str(&format!(" (in {})", parents.join(", ")));
            }
            s
        }
        _ => format!("{} {}", tool.method, tool.path),
    }
}

fn list_hint(tool: &ToolSpec) -> String {
    let stem = tool.name.strip_prefix("get_").unwrap_or(tool.name);
    let candidates = [
        format!("list_{stem}s"),
        format!("list_{stem}"),
        format!("list_{}", stem.trim_end_matches('y')) + "ies",
    ];
    candidates
        .iter()
        .find(|c| table::tool(c).is_some())
        .map(|c| format!(" ({c})"))
        .unwrap_or_default()
}
