//! AWS Signature Version 4 for S3 requests, by the `aws-sigv4` crate.

use std::time::SystemTime;

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign as sigv4_sign,
};

use super::Keys;
use crate::errors::ToolError;
use crate::upstream::client::Outgoing;

/// Signs `request` in place: adds `x-amz-date`, `x-amz-content-sha256` and `Authorization`.
/// The URL must already be in its final, encoded form; S3 signs the path as sent.
pub fn sign(
    request: &mut Outgoing,
    keys: &Keys,
    region: &str,
    time: SystemTime,
) -> Result<(), ToolError> {
    signed(request, keys, region, time).map_err(|e| ToolError::BadResponse {
        detail: format!("the request could not be signed: {e}"),
    })
}

fn signed(
    request: &mut Outgoing,
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
    // No request the server sends has a body.
    let signable = SignableRequest::new(
        request.method().as_str(),
        request.url(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sigv4_sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    for (name, value) in instructions.headers() {
        let name =
            hyper::header::HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
        let mut value = hyper::header::HeaderValue::from_str(value).map_err(|e| e.to_string())?;
        if name == hyper::header::AUTHORIZATION {
            value.set_sensitive(true);
        }
        request.headers_mut().insert(name, value);
    }
    Ok(())
}
