//! The S3 data plane of Object Storage: requests signed with AWS Signature Version 4
//! ([`sigv4`]) for the region of each bucket's endpoint ([`locate`]), XML answers converted
//! along the spec's schema ([`xml`]), HEAD answers from their headers, and the meaning of S3's
//! error codes ([`refusal`]).

mod locate;
mod refusal;
mod sigv4;
pub mod xml;

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Map, Value};

pub use locate::{
    Endpoint, EndpointCache, endpoint_url, known_endpoint, location_region, region_of_endpoint,
};
pub use refusal::{NOT_CONFIGURED, not_configured, refusal};
pub use sigv4::sign;

use super::bearer::Bearer;
use super::{BoxFuture, Http, Reply, Upstream};
use crate::config::{S3Settings, Secret};
use crate::errors::ToolError;
use crate::tools::request::RequestParts;
use crate::tools::table::ToolSpec;

/// The S3 upstream. The Object Storage management API (bearer) tells the regions' endpoints.
pub struct S3 {
    management: Arc<Bearer>,
    /// The endpoint each bucket was found at.
    endpoints: EndpointCache,
}

impl S3 {
    pub fn new(management: Arc<Bearer>) -> S3 {
        S3 {
            management,
            endpoints: EndpointCache::default(),
        }
    }

    /// One signed request at the bucket's endpoint, with S3's refusals mapped.
    async fn send_at_endpoint(
        &self,
        http: &Http,
        tool: &'static ToolSpec,
        req: &RequestParts,
        keys: &Keys,
    ) -> Result<Reply, ToolError> {
        let bucket = bucket_of(&req.path);
        let endpoint = self.endpoint(http, tool, bucket.as_deref(), keys).await?;
        let answer = http
            .exchange(tool, &endpoint.url, req, &|r| {
                sign(r, keys, &endpoint.region, SystemTime::now())
            })
            .await?;
        if answer.is_success() {
            return Ok(if req.method == "HEAD" {
                Reply::Value(head_result(tool, &answer.headers))
            } else {
                Reply::Body {
                    media: answer.media(),
                    body: answer.body,
                }
            });
        }
        let error = xml::s3_error(&answer.body);
        if answer.status == 404
            && let Some(v) = error.as_ref().and_then(not_configured)
        {
            return Ok(Reply::Value(v));
        }
        if let Some(b) = &bucket
            && matches!(answer.status, 301 | 400)
        {
            self.endpoints.forget(b);
        }
        Err(refusal(
            tool,
            answer.status,
            error.as_ref(),
            bucket.as_deref(),
            &endpoint,
            http.config().s3.single_endpoint,
        ))
    }
}

impl Upstream for S3 {
    fn send<'a>(
        &'a self,
        http: &'a Http,
        tool: &'static ToolSpec,
        req: &'a RequestParts,
    ) -> BoxFuture<'a, Result<Reply, ToolError>> {
        Box::pin(async move {
            let keys = keys(&http.config().s3, tool.name)?;
            let first = self.send_at_endpoint(http, tool, req, &keys).await;
            match &first {
                // A bucket found at another endpoint than cached (it was dropped from the
                // cache with the error): located anew, the request is sent once more.
                Err(ToolError::S3Refused { code, .. })
                    if !http.config().s3.single_endpoint
                        && (code == "PermanentRedirect"
                            || code == "AuthorizationHeaderMalformed") =>
                {
                    self.send_at_endpoint(http, tool, req, &keys).await
                }
                _ => first,
            }
        })
    }
}

/// The manifest product whose API lists the regions and their endpoints.
pub const MANAGEMENT_PRODUCT: &str = "objectstorage";

/// Signing region when neither `IONOS_S3_REGION` nor the endpoint's host name tells.
pub const DEFAULT_REGION: &str = "eu-central-3";

/// An Object Storage access key pair.
#[derive(Debug, Clone)]
pub struct Keys {
    pub access_key: String,
    pub secret_key: Secret,
}

/// The access key pair, or the error that names what is missing.
pub fn keys(settings: &S3Settings, tool: &str) -> Result<Keys, ToolError> {
    match (&settings.access_key, &settings.secret_key) {
        (Some(a), Some(s)) => Ok(Keys {
            access_key: a.clone(),
            secret_key: s.clone(),
        }),
        (a, s) => {
            let missing = match (a.is_none(), s.is_none()) {
                (true, true) => "IONOS_S3_ACCESS_KEY and IONOS_S3_SECRET_KEY are",
                (true, false) => "IONOS_S3_ACCESS_KEY is",
                _ => "IONOS_S3_SECRET_KEY is",
            };
            Err(ToolError::S3KeysMissing {
                tool: tool.to_string(),
                missing: missing.to_string(),
            })
        }
    }
}

/// The bucket a request path addresses (its first segment, decoded); `None` for `/`.
pub fn bucket_of(path: &str) -> Option<String> {
    let first = path.trim_start_matches('/').split('/').next()?;
    if first.is_empty() {
        return None;
    }
    Some(
        percent_encoding::percent_decode_str(first)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// A HEAD answer as a result: `accessible: true` and the declared headers that came, named as
/// the S3 SDKs name them (`Content-Length` -> `ContentLength`, `x-amz-version-id` ->
/// `VersionId`), with user metadata (`x-amz-meta-*`) gathered under `Metadata`.
pub fn head_result(tool: &ToolSpec, headers: &hyper::header::HeaderMap) -> Value {
    let mut out = Map::new();
    out.insert("accessible".into(), Value::Bool(true));
    for (declared, ty) in tool.response_headers {
        if let Some(prefix) = declared.strip_suffix('*') {
            let mut meta = Map::new();
            for (name, value) in headers {
                if let Some(rest) = name.as_str().strip_prefix(prefix)
                    && let Ok(v) = value.to_str()
                {
                    meta.insert(rest.to_string(), Value::String(v.to_string()));
                }
            }
            if !meta.is_empty() {
                out.insert(
                    field_name(prefix.trim_end_matches('-')),
                    Value::Object(meta),
                );
            }
            continue;
        }
        if let Some(v) = headers.get(*declared).and_then(|v| v.to_str().ok()) {
            let v = v.trim();
            out.insert(
                field_name(declared),
                crate::upstream::s3::xml::scalar(v, ty),
            );
        }
    }
    Value::Object(out)
}

/// `Content-Length` -> `ContentLength`, `x-amz-object-lock-mode` -> `ObjectLockMode`,
/// `x-amz-meta` -> `Metadata`, `ETag` stays.
fn field_name(header: &str) -> String {
    let bare = header.strip_prefix("x-amz-").unwrap_or(header);
    if bare == "meta" {
        return "Metadata".into();
    }
    bare.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::client::Outgoing;

    #[test]
    fn regions_from_ionos_host_names() {
        for (url, region) in [
            (
                "https://s3.eu-central-3.ionoscloud.com",
                Some("eu-central-3"),
            ),
            ("https://s3-eu-central-1.ionoscloud.com", Some("de")),
            ("https://s3.eu-central-1.ionoscloud.com/", Some("de")),
            ("https://s3-eu-south-2.ionoscloud.com", Some("eu-south-2")),
            ("http://127.0.0.1:9000/s3", None),
            ("https://example.com", None),
            ("not a url", None),
        ] {
            assert_eq!(region_of_endpoint(url).as_deref(), region, "{url}");
        }
    }

    #[test]
    fn endpoints_and_buckets() {
        assert_eq!(
            endpoint_url("s3.eu-central-1.ionoscloud.com"),
            "https://s3.eu-central-1.ionoscloud.com"
        );
        assert_eq!(
            endpoint_url("http://127.0.0.1:1/s3/de/"),
            "http://127.0.0.1:1/s3/de"
        );
        assert_eq!(
            known_endpoint("de"),
            "https://s3.eu-central-1.ionoscloud.com"
        );
        assert_eq!(
            known_endpoint("eu-south-2"),
            "https://s3.eu-south-2.ionoscloud.com"
        );
        assert_eq!(bucket_of("/"), None);
        assert_eq!(
            bucket_of("/my%20bucket/a%2Fb").as_deref(),
            Some("my bucket")
        );
        assert_eq!(field_name("Content-Length"), "ContentLength");
        assert_eq!(
            field_name("x-amz-object-lock-retain-until-date"),
            "ObjectLockRetainUntilDate"
        );
        assert_eq!(field_name("x-amz-meta"), "Metadata");
        assert_eq!(field_name("ETag"), "ETag");
    }

    #[test]
    fn missing_keys_are_named() {
        let mut s = S3Settings::default();
        let e = keys(&s, "list_object_storage_buckets")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("IONOS_S3_ACCESS_KEY and IONOS_S3_SECRET_KEY are not set"),
            "{e}"
        );
        assert!(e.contains("Object Storage > Access Keys"), "{e}");
        s.access_key = Some("AK".into());
        let e = keys(&s, "t").unwrap_err().to_string();
        assert!(e.contains("IONOS_S3_SECRET_KEY is not set"), "{e}");
        s.secret_key = Some(Secret::new("sk"));
        assert!(keys(&s, "t").is_ok());
    }

    #[test]
    fn signing_adds_the_sigv4_headers_and_no_secret() {
        let mut req = Outgoing::new(
            hyper::Method::GET,
            "https://s3.eu-central-3.ionoscloud.com/bucket",
        )
        .query([("versioning", "")]);
        let secret = Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        let keys = Keys {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: secret.clone(),
        };
        sign(&mut req, &keys, "eu-central-3", SystemTime::UNIX_EPOCH).unwrap();
        let auth = req.headers()["authorization"].to_str().unwrap().to_string();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/19700101/eu-central-3/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="),
            "{auth}"
        );
        assert!(!auth.contains(secret.expose()));
        assert!(req.headers()["authorization"].is_sensitive());
        assert_eq!(req.headers()["x-amz-date"], "19700101T000000Z");
        assert_eq!(
            req.headers()["x-amz-content-sha256"],
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
