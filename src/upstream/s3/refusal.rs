//! What S3's refusals mean, and which of them are findings rather than failures.

use serde_json::{Map, Value};

use super::Endpoint;
use super::xml::S3Error;
use crate::errors::ToolError;
use crate::tools::table::ToolSpec;

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
        // The sentence goes on after the message, so its own full stop would double.
        .map(|e| {
            let text: String = e.message.chars().take(300).collect();
            format!(": {}", text.trim().trim_end_matches('.'))
        })
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
