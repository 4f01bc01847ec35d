//! The S3 data plane of Object Storage: request signing (AWS Signature Version 4, by the
//! `aws-sigv4` crate), the endpoint and signing region of each bucket, HEAD answers, and the
//! meaning of S3's error codes.
//!
//! Each IONOS region has its own S3 endpoint, and a request must be signed for the region of
//! the endpoint it goes to. Unless `IONOS_S3_ENDPOINT` pins one endpoint, the dispatcher asks
//! the base endpoint for a bucket's location (GetBucketLocation), looks the region's endpoint
//! up in the Object Storage management API (`GET /regions/{region}`) and caches the answer per
//! bucket.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign as sigv4_sign,
};
use serde_json::{Map, Value};

use crate::config::{S3Settings, Secret};
use crate::errors::ToolError;
use crate::tool_table::ToolSpec;
use crate::xml::S3Error;

/// The manifest product whose API lists the regions and their endpoints.
pub const MANAGEMENT_PRODUCT: &str = "objectstorage";

/// Signing region when neither `IONOS_S3_REGION` nor the endpoint's host name tells.
pub const DEFAULT_REGION: &str = "eu-central-3";

/// Where a bucket is addressed and the region its requests are signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Base URL without trailing slash; the request path (`/{bucket}/...`) follows it.
    pub url: String,
    pub region: String,
}

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

/// Signs `request` in place: adds `x-amz-date`, `x-amz-content-sha256` and `Authorization`.
/// The URL must already be in its final, encoded form; S3 signs the path as sent.
pub fn sign(
    request: &mut reqwest::Request,
    keys: &Keys,
    region: &str,
    time: SystemTime,
) -> Result<(), ToolError> {
    signed(request, keys, region, time).map_err(|e| ToolError::BadResponse {
        detail: format!("the request could not be signed: {e}"),
    })
}

fn signed(
    request: &mut reqwest::Request,
    keys: &Keys,
    region: &str,
    time: SystemTime,
) -> Result<(), String> {
    let identity = aws_credential_types::Credentials::new(
        &keys.access_key,
        keys.secret_key.expose(),
        None,
        None,
        "ionos-mcp",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let body: &[u8] = request
        .body()
        .and_then(reqwest::Body::as_bytes)
        .unwrap_or(&[]);
    let signable = SignableRequest::new(
        request.method().as_str(),
        request.url().as_str(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sigv4_sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    for (name, value) in instructions.headers() {
        let name =
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
        let mut value = reqwest::header::HeaderValue::from_str(value).map_err(|e| e.to_string())?;
        if name == reqwest::header::AUTHORIZATION {
            value.set_sensitive(true);
        }
        request.headers_mut().insert(name, value);
    }
    Ok(())
}

/// The signing region an endpoint's host name implies: `s3.<region>.ionoscloud.com` or the
/// older `s3-<region>.ionoscloud.com`, where `eu-central-1` is the region called `de`.
pub fn region_of_endpoint(url: &str) -> Option<String> {
    let host = reqwest::Url::parse(url).ok()?.host_str()?.to_string();
    let rest = host.strip_suffix(".ionoscloud.com")?;
    let region = rest
        .strip_prefix("s3.")
        .or_else(|| rest.strip_prefix("s3-"))?;
    if region.is_empty() || region.contains('.') {
        return None;
    }
    Some(if region == "eu-central-1" {
        "de".to_string()
    } else {
        region.to_string()
    })
}

/// A region's endpoint as the management API gives it (a host name, or a URL) as a base URL.
pub fn endpoint_url(endpoint: &str) -> String {
    let e = endpoint.trim().trim_end_matches('/');
    if e.contains("://") {
        e.to_string()
    } else {
        format!("https://{e}")
    }
}

/// The endpoint of a region by IONOS's naming, for when the management API cannot be asked.
pub fn known_endpoint(region: &str) -> String {
    let host = if region == "de" {
        "eu-central-1"
    } else {
        region
    };
    format!("https://s3.{host}.ionoscloud.com")
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

/// The region of a GetBucketLocation answer (`<LocationConstraint>de</LocationConstraint>`);
/// `asked` (the region of the endpoint asked) when the answer names none.
pub fn location_region(body: &[u8], asked: &str) -> String {
    let named = std::str::from_utf8(body)
        .ok()
        .and_then(|text| roxmltree::Document::parse(text).ok())
        .and_then(|doc| {
            let root = doc.root_element();
            (root.tag_name().name() == "LocationConstraint")
                .then(|| root.text().unwrap_or("").trim().to_string())
        })
        .filter(|r| !r.is_empty());
    named.unwrap_or_else(|| asked.to_string())
}

/// Resolved endpoints, per bucket.
#[derive(Debug, Default)]
pub struct EndpointCache(Mutex<HashMap<String, Endpoint>>);

impl EndpointCache {
    pub fn get(&self, bucket: &str) -> Option<Endpoint> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(bucket)
            .cloned()
    }

    pub fn put(&self, bucket: &str, endpoint: Endpoint) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(bucket.to_string(), endpoint);
    }

    pub fn forget(&self, bucket: &str) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(bucket);
    }
}

/// Error codes that mean "this bucket or object has no such configuration": answered as a
/// result (`configured: false`), since for a model that is a finding, not a failure.
pub const NOT_CONFIGURED: [&str; 10] = [
    "NoSuchCORSConfiguration",
    "NoSuchLifecycleConfiguration",
    "NoSuchBucketPolicy",
    "ServerSideEncryptionConfigurationNotFoundError",
    "ReplicationConfigurationNotFoundError",
    "NoSuchTagSet",
    "ObjectLockConfigurationNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
    "NoSuchWebsiteConfiguration",
    "NoSuchObjectLockConfiguration",
];

/// The result for an absent configuration, or `None` when the error is a real failure.
pub fn not_configured(error: &S3Error) -> Option<Value> {
    NOT_CONFIGURED.contains(&error.code.as_str()).then(|| {
        let mut out = Map::new();
        out.insert("configured".into(), Value::Bool(false));
        out.insert("code".into(), Value::String(error.code.clone()));
        if !error.message.is_empty() {
            out.insert("detail".into(), Value::String(error.message.clone()));
        }
        Value::Object(out)
    })
}

/// The tool error for a refused S3 request, with what to do about it.
pub fn refusal(
    tool: &ToolSpec,
    status: u16,
    error: Option<&S3Error>,
    bucket: Option<&str>,
    endpoint: &Endpoint,
    single_endpoint: bool,
) -> ToolError {
    let code = error.map(|e| e.code.clone()).unwrap_or_else(|| {
        match status {
            301 => "PermanentRedirect",
            403 => "AccessDenied",
            404 => "NotFound",
            _ => "",
        }
        .to_string()
    });
    let message = error
        .filter(|e| !e.message.is_empty())
        .map(|e| format!(": {}", e.message.chars().take(300).collect::<String>()))
        .unwrap_or_default();
    let bucket_name = bucket
        .map(|b| format!("`{b}`"))
        .unwrap_or_else(|| "the bucket".into());
    let extra = |name: &str| {
        error
            .and_then(|e| e.extra.iter().find(|(k, _)| k == name))
            .map(|(_, v)| v.clone())
    };
    let hint = match code.as_str() {
        // HEAD answers carry no body, so a refusal does not say why.
        "AccessDenied" if error.is_none() => format!(
            "S3 gives no reason for a refused HEAD request: either IONOS_S3_ACCESS_KEY/IONOS_S3_SECRET_KEY do not match (list_object_storage_buckets would say SignatureDoesNotMatch), or the key may not read {bucket_name}. The S3 tools need {}.",
            tool.product().privilege
        ),
        "SignatureDoesNotMatch" => "IONOS_S3_SECRET_KEY does not belong to IONOS_S3_ACCESS_KEY. Check both values (the DCD shows a secret key only once, when the key pair is created under Object Storage > Access Keys; create a new pair if it is lost).".to_string(),
        "InvalidAccessKeyId" => "IONOS_S3_ACCESS_KEY is not a known access key; it may have been deleted. See list_object_storage_access_keys, or the DCD under Object Storage > Access Keys.".to_string(),
        "AccessDenied" | "AllAccessDisabled" => format!(
            "The S3 tools need {}. The bucket's owner can grant access in its bucket policy.",
            tool.product().privilege
        ),
        "RequestTimeTooSkewed" => "This machine's clock is more than 15 minutes off; S3 signatures need the correct time. Fix the clock (NTP) and retry.".to_string(),
        "AuthorizationHeaderMalformed" if bucket.is_none() => format!(
            "Requests to {} were signed for region {}, which that endpoint does not accept (S3's message names the one it expects). Set IONOS_S3_REGION to the endpoint's region.",
            endpoint.url, endpoint.region
        ),
        "PermanentRedirect" | "AuthorizationHeaderMalformed" if single_endpoint => format!(
            "{bucket_name} is not in the region of IONOS_S3_ENDPOINT ({}, region {}){}. Unset IONOS_S3_ENDPOINT so ionos-mcp finds each bucket's regional endpoint, or set IONOS_S3_REGION to the endpoint's region.",
            endpoint.url,
            endpoint.region,
            extra("Endpoint").map(|e| format!("; S3 names {e}")).unwrap_or_default()
        ),
        "PermanentRedirect" | "AuthorizationHeaderMalformed" => format!(
            "{bucket_name} was looked for at {} (region {}), which is not its region, even after looking its location up again. Set IONOS_S3_ENDPOINT to the bucket's endpoint and IONOS_S3_REGION to its region.",
            endpoint.url, endpoint.region
        ),
        "NoSuchBucket" => format!("{bucket_name} does not exist (or not under this contract): see list_object_storage_buckets."),
        "NoSuchKey" | "NotFound" => "Check the bucket and key with list_object_storage_objects (keys are case-sensitive and include their full prefix).".to_string(),
        "NoSuchVersion" => "See list_object_storage_object_versions for the object's version ids.".to_string(),
        "InvalidArgument" => "One of the arguments was not accepted; check continuation tokens and markers are passed back unchanged.".to_string(),
        _ if status >= 500 => "This is a problem on the IONOS side; try again in a minute.".to_string(),
        _ => format!("The request was {} {}.", tool.method, tool.path),
    };
    ToolError::S3Refused {
        status,
        code: if code.is_empty() {
            "error".into()
        } else {
            code
        },
        message,
        hint,
    }
}

/// A HEAD answer as a result: `accessible: true` and the declared headers that came, named as
/// the S3 SDKs name them (`Content-Length` -> `ContentLength`, `x-amz-version-id` ->
/// `VersionId`), with user metadata (`x-amz-meta-*`) gathered under `Metadata`.
pub fn head_result(tool: &ToolSpec, headers: &reqwest::header::HeaderMap) -> Value {
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
            out.insert(field_name(declared), crate::xml::scalar(v, ty));
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
        let mut req = reqwest::Request::new(
            reqwest::Method::GET,
            "https://s3.eu-central-3.ionoscloud.com/bucket?versioning="
                .parse()
                .unwrap(),
        );
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
