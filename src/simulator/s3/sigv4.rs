//! AWS Signature Version 4 as S3 checks it on every request: the `Authorization` header's
//! credential scope, the `x-amz-date` clock, the `x-amz-content-sha256` payload hash and the
//! signature over the canonical request (S3 style: the path exactly as sent, no normalization).

use axum::http::{HeaderMap, HeaderName, Method, StatusCode};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::data::{Time, iso8601};
use super::xml::S3Error;
use crate::simulator::query;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// How far `x-amz-date` may be from the server's clock.
const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// The access key pair the endpoint accepts.
pub struct Credentials<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
}

/// A request as signed: method, raw path and query, headers and body.
pub struct Signed<'a> {
    pub method: &'a Method,
    /// The path as sent, still percent-encoded.
    pub path: &'a str,
    /// The query string as sent.
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

/// Checks the request's signature for `region`, at server time `now`.
pub fn verify(
    request: &Signed<'_>,
    credentials: &Credentials<'_>,
    region: &str,
    now: Time,
) -> Result<(), S3Error> {
    let Some(value) = request.headers.get("authorization") else {
        return Err(S3Error::forbidden("AccessDenied", "Access Denied"));
    };
    let value = String::from_utf8_lossy(value.as_bytes());
    let auth = parse(&value, region)?;
    if auth.access_key != credentials.access_key {
        return Err(S3Error::forbidden(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
        .detail("AWSAccessKeyId", auth.access_key));
    }
    let amz_date = header_text(request.headers, "x-amz-date");
    let Some(signed_at) = amz_date.as_deref().and_then(Time::parse_basic) else {
        return Err(S3Error::forbidden(
            "AccessDenied",
            "AWS authentication requires a valid Date or x-amz-date header",
        ));
    };
    let amz_date = amz_date.unwrap_or_default();
    if !amz_date.starts_with(auth.date) {
        return Err(malformed(
            "Invalid credential date. Date is not the same as X-Amz-Date.",
        ));
    }
    if (signed_at.0 - now.0).abs() > MAX_SKEW_SECONDS {
        return Err(S3Error::forbidden(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )
        .detail("RequestTime", iso8601(signed_at))
        .detail("ServerTime", iso8601(now))
        .detail(
            "MaxAllowedSkewMilliseconds",
            (MAX_SKEW_SECONDS * 1000).to_string(),
        ));
    }
    let payload = payload_hash(request)?;
    let canonical = canonical_request(request, auth.signed_headers, &payload);
    let scope = format!("{}/{}/s3/aws4_request", auth.date, auth.region);
    let string_to_sign = string_to_sign(&amz_date, &scope, &canonical);
    let key = signing_key(credentials.secret_key, auth.date, auth.region);
    let matches = hex::decode(auth.signature).is_ok_and(|provided| {
        mac(&key, string_to_sign.as_bytes())
            .verify_slice(&provided)
            .is_ok()
    });
    if matches {
        return Ok(());
    }
    Err(S3Error::forbidden(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    )
    .detail("AWSAccessKeyId", auth.access_key)
    .detail("StringToSign", string_to_sign)
    .detail("SignatureProvided", auth.signature)
    .detail("CanonicalRequest", canonical))
}

/// `400 AuthorizationHeaderMalformed` with S3's message prefix.
fn malformed(reason: &str) -> S3Error {
    S3Error::bad_request(
        "AuthorizationHeaderMalformed",
        format!("The authorization header is malformed; {reason}"),
    )
}

/// The header's parts, its credential scope checked against the endpoint's `region`.
fn parse<'a>(value: &'a str, region: &str) -> Result<Authorization<'a>, S3Error> {
    let rest = value
        .trim()
        .strip_prefix(ALGORITHM)
        .filter(|rest| rest.starts_with([' ', '\t']))
        .ok_or_else(|| malformed(&format!("the authorization type must be {ALGORITHM}.")))?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| malformed(&format!("the component '{}' is mal-formed.", part.trim())))?;
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            other => {
                return Err(malformed(&format!("the component '{other}' is unknown.")));
            }
        };
        if slot.replace(value).is_some() {
            return Err(malformed(&format!("the component '{name}' is repeated.")));
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(malformed(
            "it must have the components Credential, SignedHeaders and Signature.",
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, scope_region, service, terminal] = scope[..] else {
        return Err(malformed(
            "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
        ));
    };
    if access_key.is_empty() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(
            "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
        ));
    }
    if scope_region != region {
        return Err(malformed(&format!(
            "the region '{scope_region}' is wrong; expecting '{region}'"
        ))
        .detail("Region", region));
    }
    if service != "s3" {
        return Err(malformed(&format!(
            "incorrect service '{service}'. This endpoint belongs to 's3'."
        )));
    }
    if terminal != "aws4_request" {
        return Err(malformed(&format!(
            "incorrect terminal '{terminal}'. This endpoint uses 'aws4_request'."
        )));
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if names
        .iter()
        .any(|n| n.is_empty() || HeaderName::from_bytes(n.as_bytes()).is_err())
    {
        return Err(malformed("the SignedHeaders are mal-formed."));
    }
    if !names.contains(&"host") {
        return Err(malformed("the host header must be signed."));
    }
    Ok(Authorization {
        access_key,
        date,
        region: scope_region,
        signed_headers,
        signature,
    })
}

/// The `x-amz-content-sha256` value, checked against the body.
fn payload_hash(request: &Signed<'_>) -> Result<String, S3Error> {
    let Some(value) = header_text(request.headers, "x-amz-content-sha256") else {
        return Err(S3Error::bad_request(
            "InvalidRequest",
            "Missing required header for this request: x-amz-content-sha256",
        ));
    };
    if value == UNSIGNED_PAYLOAD {
        return Ok(value);
    }
    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(S3Error::bad_request(
            "InvalidArgument",
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a valid sha256 value.",
        )
        .detail("ArgumentName", "x-amz-content-sha256")
        .detail("ArgumentValue", value));
    }
    let computed = hex::encode(Sha256::digest(request.body));
    if !value.eq_ignore_ascii_case(&computed) {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
        .detail("ClientComputedContentSHA256", value)
        .detail("S3ComputedContentSHA256", computed));
    }
    Ok(value)
}

/// A header's value as text, several values joined by `,`.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// Method, path, canonical query, canonical headers, signed header list and payload hash.
fn canonical_request(request: &Signed<'_>, signed_headers: &str, payload: &str) -> String {
    let path = if request.path.is_empty() {
        "/"
    } else {
        request.path
    };
    let mut out = format!(
        "{}\n{path}\n{}\n",
        request.method,
        canonical_query(request.query)
    );
    for name in signed_headers.split(';') {
        let name = name.to_ascii_lowercase();
        let value = request
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| collapse(&String::from_utf8_lossy(v.as_bytes())))
            .collect::<Vec<_>>()
            .join(",");
        out.push_str(&name);
        out.push(':');
        out.push_str(&value);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    out.push_str(payload);
    out
}

/// Trimmed, with runs of whitespace as one space.
fn collapse(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The query's pairs decoded, re-encoded the RFC 3986 way and sorted; a flag gets `=`.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query::decode_pairs(query)
        .into_iter()
        .map(|(name, value)| (uri_encode(&name), uri_encode(&value)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Unreserved characters (`A-Za-z0-9-_.~`) as they are, every other byte as `%XX`.
fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let hash = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{hash}")
}

/// `AWS4<secret>` -> date -> region -> `s3` -> `aws4_request`.
fn signing_key(secret: &str, date: &str, region: &str) -> Vec<u8> {
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [date, region, "s3", "aws4_request"] {
        key = mac(&key, part.as_bytes()).finalize().into_bytes().to_vec();
    }
    key
}

fn mac(key: &[u8], data: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC key of any length");
    mac.update(data);
    mac
}

/// The hex signature of a canonical request, as a client computes it (for the tests).
#[cfg(test)]
pub fn signature(secret: &str, amz_date: &str, region: &str, canonical_request: &str) -> String {
    let date = amz_date.get(..8).unwrap_or_default();
    let scope = format!("{date}/{region}/s3/aws4_request");
    let sts = string_to_sign(amz_date, &scope, canonical_request);
    hex::encode(
        mac(&signing_key(secret, date, region), sts.as_bytes())
            .finalize()
            .into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn request<'a>(
        path: &'a str,
        query: &'a str,
        headers: &'a HeaderMap,
        method: &'a Method,
    ) -> Signed<'a> {
        Signed {
            method,
            path,
            query,
            headers,
            body: b"",
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).expect("header"));
        }
        h
    }

    /// The examples of Amazon's "Signature Calculations for the Authorization Header".
    #[test]
    fn matches_the_documented_examples() {
        let get = Method::GET;
        let h = headers(&[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY),
            ("x-amz-date", "20130524T000000Z"),
        ]);
        let creq = canonical_request(
            &request("/test.txt", "", &h, &get),
            "host;range;x-amz-content-sha256;x-amz-date",
            EMPTY,
        );
        assert_eq!(
            signature(SECRET, "20130524T000000Z", "us-east-1", &creq),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );

        let h = headers(&[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-content-sha256", EMPTY),
            ("x-amz-date", "20130524T000000Z"),
        ]);
        let signed = "host;x-amz-content-sha256;x-amz-date";
        let creq = canonical_request(&request("/", "lifecycle", &h, &get), signed, EMPTY);
        assert!(creq.starts_with("GET\n/\nlifecycle=\n"), "{creq}");
        assert_eq!(
            signature(SECRET, "20130524T000000Z", "us-east-1", &creq),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
        let creq = canonical_request(
            &request("/", "prefix=J&max-keys=2", &h, &get),
            signed,
            EMPTY,
        );
        assert_eq!(
            signature(SECRET, "20130524T000000Z", "us-east-1", &creq),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
    }

    #[test]
    fn canonical_query_reencodes_and_sorts() {
        assert_eq!(
            canonical_query("prefix=a%2Fb c&cors&list-type=2&a=%7e+x&b=%41"),
            "a=~%20x&b=A&cors=&list-type=2&prefix=a%2Fb%20c"
        );
        assert_eq!(canonical_query(""), "");
        assert_eq!(collapse("  a   b\tc "), "a b c");
    }

    #[test]
    fn parses_the_header_and_checks_the_scope() {
        let ok = parse(
            "AWS4-HMAC-SHA256 Credential=AK/20261129/de/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
            "de",
        )
        .expect("valid");
        assert_eq!(
            (
                ok.access_key,
                ok.date,
                ok.region,
                ok.signed_headers,
                ok.signature
            ),
            ("AK", "20261129", "de", "host;x-amz-date", "00")
        );
        for bad in [
            "Bearer x",
            "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA256 Credential=AK/20261129/de/s3/aws4_request",
            "AWS4-HMAC-SHA256 Credential=AK/2026112/de/s3/aws4_request, SignedHeaders=host, Signature=0",
            "AWS4-HMAC-SHA256 Credential=AK/20261129/eu-central-3/s3/aws4_request, SignedHeaders=host, Signature=0",
            "AWS4-HMAC-SHA256 Credential=AK/20261129/de/ec2/aws4_request, SignedHeaders=host, Signature=0",
            "AWS4-HMAC-SHA256 Credential=AK/20261129/de/s3/aws4_request, SignedHeaders=x-amz-date, Signature=0",
            "AWS4-HMAC-SHA256 Credential=AK/20261129/de/s3/aws4_request, SignedHeaders=host;;a, Signature=0",
            "AWS4-HMAC-SHA256 Credential=AK/20261129/de/s3/aws4_request, Credential=x, SignedHeaders=host, Signature=0",
            "AWS4-HMAC-SHA256 Credential=AK/20261129/de/s3/aws4_request, SignedHeaders=host, Signature=0, Extra=1",
        ] {
            let e = parse(bad, "de").err().expect(bad);
            assert_eq!(
                (e.status, e.code),
                (StatusCode::BAD_REQUEST, "AuthorizationHeaderMalformed"),
                "{bad}"
            );
        }
    }
}
