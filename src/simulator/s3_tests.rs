//! The S3 endpoints over HTTP, as an S3 client sees them. Requests are signed here the way a
//! client does, independently of the simulator's checker: the canonical request is built from
//! the `reqwest::Url` (path as sent, query pairs re-encoded and sorted), the key and signature
//! come from `aws-sigv4`'s `generate_signing_key` and `calculate_signature`. (`aws-sigv4`'s
//! whole-request `sign` needs an `Identity` from crates this one does not depend on.)

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{DEMO_S3_ACCESS_KEY, DEMO_S3_SECRET_KEY, DEMO_TOKEN, Simulator};
use crate::tools::behaviour::Day;

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your key and signing method.";

/// RFC 3986 unreserved characters stay, everything else is `%XX`.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How one request is signed (and spoiled, for the failure cases).
#[derive(Clone)]
struct Sig {
    access_key: String,
    secret: String,
    /// The credential scope's region; the endpoint's when `None`.
    scope_region: Option<String>,
    at: SystemTime,
    /// `x-amz-content-sha256`; `None` leaves the header out.
    payload: Option<String>,
    /// Whether to send the `Authorization` header at all.
    authorize: bool,
}

impl Default for Sig {
    fn default() -> Sig {
        Sig {
            access_key: DEMO_S3_ACCESS_KEY.into(),
            secret: DEMO_S3_SECRET_KEY.into(),
            scope_region: None,
            at: SystemTime::now(),
            payload: Some(EMPTY_SHA256.into()),
            authorize: true,
        }
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn doc(&self) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(&self.text)
            .unwrap_or_else(|e| panic!("not XML ({e}): {}", self.text))
    }

    fn root(&self) -> String {
        self.doc().root_element().tag_name().name().to_string()
    }

    /// The text of every `tag` element whose parent is `parent` (any parent when empty).
    fn texts(&self, parent: &str, tag: &str) -> Vec<String> {
        self.doc()
            .descendants()
            .filter(|n| n.is_element() && n.tag_name().name() == tag)
            .filter(|n| {
                parent.is_empty()
                    || n.parent_element()
                        .is_some_and(|p| p.tag_name().name() == parent)
            })
            .map(|n| n.text().unwrap_or("").to_string())
            .collect()
    }

    /// The text of the one `tag` element under the root.
    fn one(&self, tag: &str) -> String {
        let root = self.root();
        let all = self.texts(&root, tag);
        assert_eq!(all.len(), 1, "one {tag} in {}", self.text);
        all[0].clone()
    }

    fn opt(&self, tag: &str) -> Option<String> {
        let root = self.root();
        self.texts(&root, tag).into_iter().next()
    }

    /// A `200` XML answer with root `root` in the S3 namespace.
    fn assert_ok(&self, root: &str) {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text);
        assert_eq!(self.header("content-type"), Some("application/xml"));
        let doc = self.doc();
        let r = doc.root_element();
        assert_eq!(r.tag_name().name(), root, "{}", self.text);
        assert_eq!(r.tag_name().namespace(), Some(NAMESPACE), "{}", self.text);
    }

    /// An S3 error document with this status and code.
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(self.header("content-type"), Some("application/xml"));
        assert!(
            self.text
                .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        );
        assert_eq!(self.root(), "Error", "{}", self.text);
        assert_eq!(self.one("Code"), code, "{}", self.text);
        assert!(!self.one("Message").is_empty());
        assert!(!self.one("Resource").is_empty());
        assert!(!self.one("RequestId").is_empty());
    }
}

struct S3Client {
    sim: Simulator,
    http: reqwest::Client,
}

impl S3Client {
    async fn start() -> S3Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim = Simulator::start().await.expect("simulator starts");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        S3Client { sim, http }
    }

    fn origin(&self) -> String {
        format!("http://{}", self.sim.addr())
    }

    /// A signed GET of `path_and_query` (below the endpoint, e.g. `/shop-assets?cors=`) at
    /// the region's endpoint.
    async fn get(&self, region: &str, path_and_query: &str) -> Reply {
        self.send(Method::GET, region, path_and_query, &Sig::default(), &[])
            .await
    }

    async fn head(&self, region: &str, path_and_query: &str) -> Reply {
        self.send(Method::HEAD, region, path_and_query, &Sig::default(), &[])
            .await
    }

    async fn send(
        &self,
        method: Method,
        region: &str,
        path_and_query: &str,
        sig: &Sig,
        extra: &[(&str, &str)],
    ) -> Reply {
        let url =
            Url::parse(&format!("{}/s3/{region}{path_and_query}", self.origin())).expect("url");
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        let host = format!(
            "{}:{}",
            url.host_str().expect("host"),
            url.port().expect("port")
        );
        headers.insert("host".into(), host);
        headers.insert("x-amz-date".into(), amz_date(sig.at));
        if let Some(payload) = &sig.payload {
            headers.insert("x-amz-content-sha256".into(), payload.clone());
        }
        for (name, value) in extra {
            headers.insert(name.to_string(), value.to_string());
        }
        let mut req = self.http.request(method.clone(), url.clone());
        for (name, value) in &headers {
            if name != "host" {
                req = req.header(name, value);
            }
        }
        if sig.authorize {
            let scope_region = sig.scope_region.as_deref().unwrap_or(region);
            req = req.header(
                "authorization",
                authorization(sig, scope_region, method.as_str(), &url, &headers),
            );
        }
        let resp = req.send().await.expect("simulator answers");
        Reply {
            status: resp.status(),
            headers: resp.headers().clone(),
            text: resp.text().await.expect("body"),
        }
    }
}

/// `20261129T221500Z`
fn amz_date(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
    let day = Day(i64::try_from(secs / 86_400).expect("days"));
    let s = secs % 86_400;
    format!(
        "{}T{:02}{:02}{:02}Z",
        day.to_string().replace('-', ""),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The `Authorization` header for a request with these (lower-case, all signed) headers.
fn authorization(
    sig: &Sig,
    region: &str,
    method: &str,
    url: &Url,
    headers: &BTreeMap<String, String>,
) -> String {
    let mut query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            (
                utf8_percent_encode(&k, ENCODE).to_string(),
                utf8_percent_encode(&v, ENCODE).to_string(),
            )
        })
        .collect();
    query.sort();
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let canonical_headers: String = headers
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.trim()))
        .collect();
    let signed: Vec<&str> = headers.keys().map(String::as_str).collect();
    let signed = signed.join(";");
    let payload = sig.payload.as_deref().unwrap_or(EMPTY_SHA256);
    let canonical = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed}\n{payload}",
        url.path(),
        query.join("&")
    );
    let amz_date = amz_date(sig.at);
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/s3/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = generate_signing_key(&sig.secret, sig.at, region, "s3");
    let signature = calculate_signature(key, string_to_sign.as_bytes());
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
        sig.access_key
    )
}

const ALL_BUCKETS: [&str; 4] = [
    "logs-archive",
    "shop-assets",
    "shop-backups",
    "shop-backups-replica",
];

#[tokio::test]
async fn list_buckets_answers_every_region_and_is_recorded() {
    let c = S3Client::start().await;
    assert_eq!(
        c.sim.base_url("objectstorage_s3"),
        Some(format!("{}/s3/eu-central-3", c.origin()))
    );
    for region in ["eu-central-3", "de", "us-central-1"] {
        let r = c.get(region, "/").await;
        r.assert_ok("ListAllMyBucketsResult");
        assert_eq!(r.texts("Bucket", "Name"), ALL_BUCKETS, "{region}");
        assert_eq!(r.texts("Owner", "DisplayName"), ["31000000"]);
        assert_eq!(r.texts("Owner", "ID"), ["a1b2c3d4e5f60718293a4b5c6d7e8f90"]);
        let dates = r.texts("Bucket", "CreationDate");
        assert!(
            dates.iter().all(|d| d.len() == 24 && d.ends_with(".000Z")),
            "{dates:?}"
        );
        assert!(
            r.header("x-amz-request-id")
                .is_some_and(|id| !id.is_empty())
        );
    }
    // Both regions' buckets, as the locations say.
    let mut regions = BTreeSet::new();
    for bucket in ALL_BUCKETS {
        let r = c.get("eu-central-3", &format!("/{bucket}?location=")).await;
        r.assert_ok("LocationConstraint");
        regions.insert(r.doc().root_element().text().unwrap_or("").to_string());
    }
    assert_eq!(
        regions,
        BTreeSet::from(["de".to_string(), "eu-central-3".to_string()])
    );

    let log = c.sim.requests();
    let first = log.first().expect("recorded");
    assert_eq!(
        (first.method.as_str(), first.path.as_str()),
        ("GET", "/s3/eu-central-3/")
    );
    assert!(
        first
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 Credential=EXAMPLEACCESSKEY0001/")),
        "{first:?}"
    );
    let location = log
        .iter()
        .find(|r| r.query.iter().any(|(k, _)| k == "location"));
    assert_eq!(
        location.map(|r| r.query.clone()),
        Some(vec![("location".to_string(), String::new())])
    );
}

#[tokio::test]
async fn signatures_are_checked() {
    let c = S3Client::start().await;
    let send = |sig: Sig, path: &'static str| {
        let c = &c;
        async move { c.send(Method::GET, "eu-central-3", path, &sig, &[]).await }
    };

    let wrong_secret = Sig {
        secret: "x".repeat(40),
        ..Sig::default()
    };
    let r = send(wrong_secret, "/shop-assets?list-type=2&prefix=css%2F").await;
    r.assert_error(403, "SignatureDoesNotMatch");
    assert_eq!(r.one("Message"), SIGNATURE_MISMATCH);
    assert_eq!(r.one("AWSAccessKeyId"), DEMO_S3_ACCESS_KEY);
    let canonical = r.one("CanonicalRequest");
    assert!(
        canonical.starts_with(
            "GET\n/s3/eu-central-3/shop-assets\nlist-type=2&prefix=css%2F\nhost:127.0.0.1:"
        ),
        "{canonical}"
    );
    assert!(r.one("StringToSign").starts_with("AWS4-HMAC-SHA256\n"));
    assert!(!r.text.contains(DEMO_S3_SECRET_KEY));

    let r = send(
        Sig {
            authorize: false,
            ..Sig::default()
        },
        "/",
    )
    .await;
    r.assert_error(403, "AccessDenied");

    let r = send(
        Sig {
            access_key: "EXAMPLEACCESSKEY9999".into(),
            ..Sig::default()
        },
        "/",
    )
    .await;
    r.assert_error(403, "InvalidAccessKeyId");

    let r = send(
        Sig {
            scope_region: Some("us-east-1".into()),
            ..Sig::default()
        },
        "/",
    )
    .await;
    r.assert_error(400, "AuthorizationHeaderMalformed");
    assert!(
        r.one("Message").contains("expecting 'eu-central-3'"),
        "{}",
        r.text
    );

    let r = send(
        Sig {
            at: SystemTime::now() - Duration::from_secs(20 * 60),
            ..Sig::default()
        },
        "/",
    )
    .await;
    r.assert_error(403, "RequestTimeTooSkewed");
    // Within 15 minutes is fine.
    let r = send(
        Sig {
            at: SystemTime::now() - Duration::from_secs(10 * 60),
            ..Sig::default()
        },
        "/",
    )
    .await;
    r.assert_ok("ListAllMyBucketsResult");

    let r = send(
        Sig {
            payload: Some("UNSIGNED-PAYLOAD".into()),
            ..Sig::default()
        },
        "/shop-assets?cors",
    )
    .await;
    r.assert_ok("CORSConfiguration");
    let r = send(
        Sig {
            payload: None,
            ..Sig::default()
        },
        "/",
    )
    .await;
    r.assert_error(400, "InvalidRequest");
    let r = send(
        Sig {
            payload: Some("0".repeat(64)),
            ..Sig::default()
        },
        "/",
    )
    .await;
    r.assert_error(400, "XAmzContentSHA256Mismatch");

    // A header that is not the SigV4 kind.
    let r = c
        .http
        .get(format!("{}/s3/eu-central-3/", c.origin()))
        .bearer_auth(DEMO_TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("<Code>AuthorizationHeaderMalformed</Code>")
    );

    // HEAD errors have no body.
    let r = c
        .send(
            Method::HEAD,
            "eu-central-3",
            "/shop-assets",
            &Sig {
                secret: "wrong".into(),
                ..Sig::default()
            },
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text.is_empty());

    // An extra signed header takes part in the signature; other methods are refused once signed.
    let r = c
        .send(
            Method::GET,
            "eu-central-3",
            "/shop-assets/index.html",
            &Sig::default(),
            &[("range", "bytes=0-14")],
        )
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT, "{}", r.text);
    assert_eq!(r.text, "<!doctype html>");
    let r = c
        .send(
            Method::DELETE,
            "eu-central-3",
            "/shop-assets/index.html",
            &Sig::default(),
            &[],
        )
        .await;
    r.assert_error(405, "MethodNotAllowed");
}

#[tokio::test]
async fn buckets_of_another_region_are_redirected() {
    let c = S3Client::start().await;
    let r = c.get("eu-central-3", "/shop-backups?versioning").await;
    r.assert_error(301, "PermanentRedirect");
    assert!(r.one("Message").starts_with(
        "The bucket you are attempting to access must be addressed using the specified endpoint."
    ));
    assert_eq!(r.one("Endpoint"), format!("{}/s3/de", c.origin()));
    assert_eq!(r.one("Bucket"), "shop-backups");
    assert_eq!(r.header("x-amz-bucket-region"), Some("de"));
    let r = c.head("eu-central-3", "/shop-backups").await;
    assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY);
    assert!(r.text.is_empty());
    let r = c.get("de", "/shop-assets/index.html").await;
    r.assert_error(301, "PermanentRedirect");
    assert_eq!(r.one("Endpoint"), format!("{}/s3/eu-central-3", c.origin()));

    // The location is answered anywhere, and the bucket is served at its own endpoint.
    for region in ["eu-central-3", "de"] {
        let r = c.get(region, "/shop-backups?location=").await;
        r.assert_ok("LocationConstraint");
        assert!(r.text.ends_with(">de</LocationConstraint>"), "{}", r.text);
    }
    c.get("de", "/shop-backups?versioning=")
        .await
        .assert_ok("VersioningConfiguration");
    let r = c.head("de", "/shop-backups").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.is_empty());

    c.get("de", "/no-such-bucket?location")
        .await
        .assert_error(404, "NoSuchBucket");
    let r = c.head("de", "/no-such-bucket").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text.is_empty());
    c.get("mars-1", "/")
        .await
        .assert_error(400, "InvalidRequest");
}

/// Every key of a ListObjectsV2 listing, page by page; the pages' sizes.
async fn list_v2(c: &S3Client, bucket: &str, query: &str) -> (Vec<String>, Vec<usize>) {
    let mut keys = Vec::new();
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut path = format!("/{bucket}?list-type=2&{query}");
        if let Some(t) = &token {
            path.push_str("&continuation-token=");
            path.push_str(&utf8_percent_encode(t, ENCODE).to_string());
        }
        let r = c.get("eu-central-3", &path).await;
        r.assert_ok("ListBucketResult");
        let page: Vec<String> = r
            .texts("Contents", "Key")
            .into_iter()
            .chain(r.texts("CommonPrefixes", "Prefix"))
            .collect();
        assert_eq!(r.one("KeyCount"), page.len().to_string());
        assert_eq!(r.opt("ContinuationToken"), token);
        pages.push(page.len());
        keys.extend(page);
        match r.one("IsTruncated").as_str() {
            "true" => token = Some(r.one("NextContinuationToken")),
            "false" => {
                assert_eq!(r.opt("NextContinuationToken"), None);
                return (keys, pages);
            }
            other => panic!("IsTruncated {other}"),
        }
        assert!(pages.len() < 100, "paging does not end");
    }
}

#[tokio::test]
async fn list_objects_v2_pages_and_groups() {
    let c = S3Client::start().await;
    let (all, pages) = list_v2(&c, "logs-archive", "prefix=2026%2F11%2F&max-keys=10").await;
    assert_eq!(all.len(), 56);
    assert_eq!(pages, [10, 10, 10, 10, 10, 6]);
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "each key once");
    assert!(all.windows(2).all(|w| w[0] < w[1]), "in key order");
    assert_eq!(all[0], "2026/11/01/access.log.gz");
    assert_eq!(all[55], "2026/11/28/error.log.gz");

    let (whole, pages) = list_v2(&c, "logs-archive", "").await;
    assert_eq!(pages, [71]);
    assert_eq!(
        whole.first().map(String::as_str),
        Some("2026/10/25/access.log.gz")
    );
    assert_eq!(whole.last().map(String::as_str), Some("README.txt"));

    // The delimiter rolls keys up into common prefixes, also across pages.
    let (days, pages) = list_v2(
        &c,
        "logs-archive",
        "prefix=2026%2F11%2F&delimiter=%2F&max-keys=8",
    )
    .await;
    assert_eq!(pages, [8, 8, 8, 4]);
    let expected: Vec<String> = (1..=28).map(|d| format!("2026/11/{d:02}/")).collect();
    assert_eq!(days, expected);

    let r = c
        .get("eu-central-3", "/shop-assets?list-type=2&delimiter=/")
        .await;
    r.assert_ok("ListBucketResult");
    assert_eq!(r.texts("Contents", "Key"), ["404.html", "index.html"]);
    assert_eq!(r.texts("CommonPrefixes", "Prefix"), ["css/", "images/"]);
    assert_eq!(r.one("Delimiter"), "/");
    assert_eq!(r.one("MaxKeys"), "1000");
    assert!(r.texts("Contents", "Owner").is_empty());

    let r = c
        .get(
            "eu-central-3",
            "/shop-assets?list-type=2&prefix=images/&start-after=images%2Fhero-winter.jpg&fetch-owner=true",
        )
        .await;
    assert_eq!(
        r.texts("Contents", "Key"),
        [
            "images/logo.svg",
            "images/products/mug-blue.jpg",
            "images/products/mug-red.jpg",
            "images/products/shirt & hoodie.png",
        ]
    );
    assert_eq!(r.one("StartAfter"), "images/hero-winter.jpg");
    assert_eq!(r.texts("Owner", "DisplayName").len(), 4);
    assert!(
        r.text
            .contains("<Key>images/products/shirt &amp; hoodie.png</Key>")
    );
    let etags = r.texts("Contents", "ETag");
    assert!(
        etags.iter().all(|e| e.len() == 34 && e.starts_with('"')),
        "{etags:?}"
    );
    assert!(
        r.texts("Contents", "StorageClass")
            .iter()
            .all(|s| s == "STANDARD")
    );

    let r = c
        .get(
            "eu-central-3",
            "/shop-assets?list-type=2&prefix=images%2Fproducts%2Fshirt&encoding-type=url",
        )
        .await;
    assert_eq!(
        r.texts("Contents", "Key"),
        ["images/products/shirt+%26+hoodie.png"]
    );
    assert_eq!(r.one("EncodingType"), "url");

    for (query, argument) in [
        ("continuation-token=bm9wZQ%3D%3D", "continuation-token"),
        ("max-keys=-1", "max-keys"),
        ("max-keys=ten", "max-keys"),
        ("encoding-type=base64", "encoding-type"),
    ] {
        let r = c
            .get(
                "eu-central-3",
                &format!("/logs-archive?list-type=2&{query}"),
            )
            .await;
        r.assert_error(400, "InvalidArgument");
        assert_eq!(r.one("ArgumentName"), argument);
    }
    c.get("eu-central-3", "/logs-archive?list-type=3")
        .await
        .assert_error(400, "InvalidArgument");
}

#[tokio::test]
async fn list_objects_v1_pages_with_markers() {
    let c = S3Client::start().await;
    let mut marker = String::new();
    let mut keys = Vec::new();
    loop {
        let r = c
            .get(
                "eu-central-3",
                &format!(
                    "/shop-assets?max-keys=3&marker={}",
                    utf8_percent_encode(&marker, ENCODE)
                ),
            )
            .await;
        r.assert_ok("ListBucketResult");
        assert_eq!(r.one("Marker"), marker);
        assert_eq!(
            r.texts("Contents", "Owner").len(),
            r.texts("Contents", "Key").len()
        );
        keys.extend(r.texts("Contents", "Key"));
        if r.one("IsTruncated") == "false" {
            assert_eq!(r.opt("NextMarker"), None);
            break;
        }
        marker = r.one("NextMarker");
    }
    assert_eq!(
        keys,
        [
            "404.html",
            "css/main.css",
            "css/print.css",
            "images/favicon.ico",
            "images/hero-winter.jpg",
            "images/logo.svg",
            "images/products/mug-blue.jpg",
            "images/products/mug-red.jpg",
            "images/products/shirt & hoodie.png",
            "index.html",
        ]
    );
    // The delete marker hides its key from the listing.
    let r = c.get("de", "/shop-backups?prefix=config/").await;
    assert_eq!(r.texts("Contents", "Key"), ["config/nginx.conf"]);
}

#[tokio::test]
async fn list_object_versions_with_delete_markers_and_paging() {
    let c = S3Client::start().await;
    let r = c.get("de", "/shop-backups?versions").await;
    r.assert_ok("ListVersionsResult");
    assert_eq!(r.one("IsTruncated"), "false");
    assert_eq!(r.one("KeyMarker"), "");
    let doc = r.doc();
    // (element, key, version id, is latest), in the answer's order.
    let entries: Vec<(String, String, String, String)> = doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("Version") || n.has_tag_name("DeleteMarker"))
        .map(|n| {
            let child = |name: &str| {
                n.children()
                    .find(|c| c.has_tag_name(name))
                    .and_then(|c| c.text())
                    .unwrap_or("")
                    .to_string()
            };
            (
                n.tag_name().name().to_string(),
                child("Key"),
                child("VersionId"),
                child("IsLatest"),
            )
        })
        .collect();
    assert_eq!(entries.len(), 14);
    let latest: Vec<&(String, String, String, String)> = entries
        .iter()
        .filter(|e| e.1 == "db/latest.sql.gz")
        .collect();
    assert_eq!(latest.len(), 4);
    assert_eq!(
        latest.iter().map(|e| e.3.as_str()).collect::<Vec<_>>(),
        ["true", "false", "false", "false"]
    );
    let markers: Vec<&(String, String, String, String)> =
        entries.iter().filter(|e| e.0 == "DeleteMarker").collect();
    assert_eq!(markers.len(), 1);
    assert_eq!(
        (markers[0].1.as_str(), markers[0].3.as_str()),
        ("config/app.env.enc", "true")
    );
    assert!(entries.iter().all(|e| e.2.len() == 32 && e.2 != "null"));
    assert_eq!(r.texts("DeleteMarker", "Owner").len(), 1);
    assert_eq!(r.texts("Owner", "ID").len(), 14);

    // Paging with key and version id markers visits the same entries once.
    let mut paged = Vec::new();
    let (mut key_marker, mut version_marker) = (String::new(), String::new());
    loop {
        let r = c
            .get(
                "de",
                &format!(
                    "/shop-backups?versions&max-keys=3&key-marker={}&version-id-marker={}",
                    utf8_percent_encode(&key_marker, ENCODE),
                    utf8_percent_encode(&version_marker, ENCODE)
                ),
            )
            .await;
        r.assert_ok("ListVersionsResult");
        let doc = r.doc();
        paged.extend(
            doc.root_element()
                .children()
                .filter(|n| n.has_tag_name("Version") || n.has_tag_name("DeleteMarker"))
                .map(|n| {
                    n.children()
                        .filter(|c| c.has_tag_name("Key") || c.has_tag_name("VersionId"))
                        .map(|c| c.text().unwrap_or("").to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                }),
        );
        if r.one("IsTruncated") == "false" {
            break;
        }
        key_marker = r.one("NextKeyMarker");
        version_marker = r.one("NextVersionIdMarker");
    }
    let all: Vec<String> = entries.iter().map(|e| format!("{} {}", e.1, e.2)).collect();
    assert_eq!(paged, all);

    // An unversioned bucket lists its objects with the version id `null`.
    let r = c
        .get("eu-central-3", "/logs-archive?versions&prefix=README")
        .await;
    assert_eq!(r.texts("Version", "VersionId"), ["null"]);
    assert_eq!(r.texts("Version", "IsLatest"), ["true"]);

    let r = c
        .get("de", "/shop-backups?versions&version-id-marker=abc")
        .await;
    r.assert_error(400, "InvalidArgument");
}

#[tokio::test]
async fn objects_have_their_metadata_headers() {
    let c = S3Client::start().await;
    let r = c
        .head("eu-central-3", "/shop-assets/images%2Fhero-winter.jpg")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.is_empty());
    assert_eq!(r.header("content-length"), Some("284113"));
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    assert_eq!(r.header("x-amz-meta-photographer"), Some("Studio Nord"));
    assert_eq!(r.header("x-amz-meta-license"), Some("CC-BY-4.0"));
    assert_eq!(r.header("x-amz-server-side-encryption"), Some("AES256"));
    assert_eq!(r.header("x-amz-version-id"), None);
    let etag = r.header("etag").expect("etag");
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
    let modified = r.header("last-modified").expect("last-modified");
    assert!(
        modified.ends_with(" GMT") && modified.len() == 29,
        "{modified}"
    );

    // The same object as listed, as one segment or several.
    let listed = c
        .get(
            "eu-central-3",
            "/shop-assets?list-type=2&prefix=images/hero",
        )
        .await;
    assert_eq!(listed.texts("Contents", "ETag"), [etag]);
    let r = c
        .head("eu-central-3", "/shop-assets/images/hero-winter.jpg")
        .await;
    assert_eq!(r.header("etag"), Some(etag));

    let r = c.get("eu-central-3", "/shop-assets/index.html").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.starts_with("<!doctype html>"));
    assert_eq!(
        r.header("content-length"),
        Some(r.text.len().to_string().as_str())
    );
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_eq!(r.header("x-amz-meta-git-commit"), Some("8c41d2e"));

    let r = c.get("eu-central-3", "/shop-assets/css%2Fmain.css").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text.len(), 18342);
    let r = c
        .get(
            "eu-central-3",
            "/shop-assets/images%2Fproducts%2Fshirt%20%26%20hoodie.png?response-content-type=application%2Foctet-stream",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.text.len(), 120477);

    // Locked, versioned, held.
    let monthly = c
        .get("de", "/shop-backups?list-type=2&prefix=db/monthly/")
        .await
        .one_key();
    let path = format!("/shop-backups/{}", utf8_percent_encode(&monthly, ENCODE));
    let r = c.head("de", &path).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("x-amz-object-lock-mode"), Some("COMPLIANCE"));
    assert_eq!(r.header("x-amz-object-lock-legal-hold"), Some("ON"));
    assert!(
        r.header("x-amz-object-lock-retain-until-date")
            .is_some_and(|d| d.ends_with(".000Z"))
    );
    assert_eq!(r.header("x-amz-version-id").map(str::len), Some(32));
    assert_eq!(r.header("x-amz-replication-status"), Some("COMPLETED"));
    assert_eq!(r.header("x-amz-meta-source-host"), Some("db-01"));

    let r = c
        .head(
            "eu-central-3",
            &path.replace("shop-backups", "shop-backups-replica"),
        )
        .await;
    assert_eq!(r.header("x-amz-replication-status"), Some("REPLICA"));

    c.get("eu-central-3", "/shop-assets/images%2Fnope.png")
        .await
        .assert_error(404, "NoSuchKey");
    let r = c.head("eu-central-3", "/shop-assets/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text.is_empty());

    // A deleted key: its delete marker is the latest version; older versions remain.
    let r = c.get("de", "/shop-backups/config%2Fapp.env.enc").await;
    r.assert_error(404, "NoSuchKey");
    assert_eq!(r.header("x-amz-delete-marker"), Some("true"));
    let versions = c
        .get("de", "/shop-backups?versions&prefix=config/app.env.enc")
        .await;
    let marker = versions.texts("DeleteMarker", "VersionId").remove(0);
    let older = versions.texts("Version", "VersionId");
    assert_eq!(older.len(), 2);
    let r = c
        .get(
            "de",
            &format!("/shop-backups/config%2Fapp.env.enc?versionId={}", older[0]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text.len(), 2048);
    assert_eq!(r.header("x-amz-version-id"), Some(older[0].as_str()));
    c.get(
        "de",
        &format!("/shop-backups/config%2Fapp.env.enc?versionId={marker}"),
    )
    .await
    .assert_error(405, "MethodNotAllowed");
    c.get("de", "/shop-backups/config%2Fapp.env.enc?versionId=nope")
        .await
        .assert_error(404, "NoSuchVersion");
}

impl Reply {
    /// The one key of a listing.
    fn one_key(&self) -> String {
        let keys = self.texts("Contents", "Key");
        assert_eq!(keys.len(), 1, "{}", self.text);
        keys[0].clone()
    }
}

#[tokio::test]
async fn retention_legal_hold_and_tagging_of_objects() {
    let c = S3Client::start().await;
    let latest = "/shop-backups/db%2Flatest.sql.gz";
    let r = c.get("de", &format!("{latest}?retention=")).await;
    r.assert_ok("Retention");
    assert_eq!(r.one("Mode"), "COMPLIANCE");
    // The bucket's default: 30 days from the upload.
    let head = c.head("de", latest).await;
    let listed = c
        .get("de", "/shop-backups?list-type=2&prefix=db/latest")
        .await;
    let modified = listed.texts("Contents", "LastModified").remove(0);
    let until = r.one("RetainUntilDate");
    let days = |t: &str| Day::parse(&t[..10]).expect("date").0;
    assert_eq!(days(&until) - days(&modified), 30);
    assert_eq!(until[10..], modified[10..]);
    assert_eq!(
        head.header("x-amz-object-lock-retain-until-date"),
        Some(until.as_str())
    );

    let r = c.get("de", &format!("{latest}?legal-hold=")).await;
    r.assert_ok("LegalHold");
    assert_eq!(r.one("Status"), "OFF");
    let r = c.get("de", &format!("{latest}?tagging=")).await;
    r.assert_ok("Tagging");
    assert_eq!(r.texts("Tag", "Key"), ["backup-type"]);
    assert_eq!(r.texts("Tag", "Value"), ["latest"]);
    assert!(r.header("x-amz-version-id").is_some());

    // An older version: retention from the default, no legal hold, no tags.
    let versions = c
        .get("de", "/shop-backups?versions&prefix=db/latest.sql.gz")
        .await;
    let older = versions.texts("Version", "VersionId").remove(1);
    let r = c
        .get("de", &format!("{latest}?retention&versionId={older}"))
        .await;
    r.assert_ok("Retention");
    assert_ne!(r.one("RetainUntilDate"), until);
    c.get("de", &format!("{latest}?legal-hold&versionId={older}"))
        .await
        .assert_error(404, "NoSuchObjectLockConfiguration");
    c.get("de", &format!("{latest}?tagging&versionId={older}"))
        .await
        .assert_error(404, "NoSuchTagSet");

    let hero = "/shop-assets/images%2Fhero-winter.jpg";
    let r = c.get("eu-central-3", &format!("{hero}?tagging")).await;
    r.assert_ok("Tagging");
    assert_eq!(r.texts("Tag", "Key"), ["campaign", "reviewed"]);
    for flag in ["retention", "legal-hold"] {
        c.get("eu-central-3", &format!("{hero}?{flag}"))
            .await
            .assert_error(404, "NoSuchObjectLockConfiguration");
    }
    c.get("eu-central-3", "/shop-assets/index.html?tagging")
        .await
        .assert_error(404, "NoSuchTagSet");
    c.get("eu-central-3", "/shop-assets/nope?tagging")
        .await
        .assert_error(404, "NoSuchKey");
}

/// (bucket, region, sub-resource flag, the answer's root or the error code)
const SUB_RESOURCES: [(&str, &str, &str, &str); 39] = [
    ("shop-assets", "eu-central-3", "cors", "CORSConfiguration"),
    (
        "shop-assets",
        "eu-central-3",
        "encryption",
        "ServerSideEncryptionConfiguration",
    ),
    (
        "shop-assets",
        "eu-central-3",
        "lifecycle",
        "NoSuchLifecycleConfiguration",
    ),
    (
        "shop-assets",
        "eu-central-3",
        "policyStatus",
        "PolicyStatus",
    ),
    (
        "shop-assets",
        "eu-central-3",
        "publicAccessBlock",
        "PublicAccessBlockConfiguration",
    ),
    (
        "shop-assets",
        "eu-central-3",
        "replication",
        "ReplicationConfigurationNotFoundError",
    ),
    ("shop-assets", "eu-central-3", "tagging", "Tagging"),
    (
        "shop-assets",
        "eu-central-3",
        "versioning",
        "VersioningConfiguration",
    ),
    (
        "shop-assets",
        "eu-central-3",
        "object-lock",
        "ObjectLockConfigurationNotFoundError",
    ),
    (
        "shop-assets",
        "eu-central-3",
        "website",
        "WebsiteConfiguration",
    ),
    (
        "shop-assets",
        "eu-central-3",
        "uploads",
        "ListMultipartUploadsResult",
    ),
    (
        "shop-assets",
        "eu-central-3",
        "versions",
        "ListVersionsResult",
    ),
    (
        "shop-assets",
        "eu-central-3",
        "location",
        "LocationConstraint",
    ),
    ("shop-backups", "de", "cors", "NoSuchCORSConfiguration"),
    (
        "shop-backups",
        "de",
        "encryption",
        "ServerSideEncryptionConfiguration",
    ),
    ("shop-backups", "de", "lifecycle", "LifecycleConfiguration"),
    ("shop-backups", "de", "policy", "NoSuchBucketPolicy"),
    ("shop-backups", "de", "policyStatus", "NoSuchBucketPolicy"),
    (
        "shop-backups",
        "de",
        "publicAccessBlock",
        "PublicAccessBlockConfiguration",
    ),
    (
        "shop-backups",
        "de",
        "replication",
        "ReplicationConfiguration",
    ),
    ("shop-backups", "de", "tagging", "Tagging"),
    (
        "shop-backups",
        "de",
        "versioning",
        "VersioningConfiguration",
    ),
    (
        "shop-backups",
        "de",
        "object-lock",
        "ObjectLockConfiguration",
    ),
    (
        "shop-backups",
        "de",
        "website",
        "NoSuchWebsiteConfiguration",
    ),
    (
        "shop-backups",
        "de",
        "uploads",
        "ListMultipartUploadsResult",
    ),
    (
        "logs-archive",
        "eu-central-3",
        "cors",
        "NoSuchCORSConfiguration",
    ),
    (
        "logs-archive",
        "eu-central-3",
        "encryption",
        "ServerSideEncryptionConfigurationNotFoundError",
    ),
    (
        "logs-archive",
        "eu-central-3",
        "lifecycle",
        "LifecycleConfiguration",
    ),
    (
        "logs-archive",
        "eu-central-3",
        "policy",
        "NoSuchBucketPolicy",
    ),
    (
        "logs-archive",
        "eu-central-3",
        "publicAccessBlock",
        "NoSuchPublicAccessBlockConfiguration",
    ),
    (
        "logs-archive",
        "eu-central-3",
        "replication",
        "ReplicationConfigurationNotFoundError",
    ),
    ("logs-archive", "eu-central-3", "tagging", "NoSuchTagSet"),
    (
        "logs-archive",
        "eu-central-3",
        "versioning",
        "VersioningConfiguration",
    ),
    (
        "logs-archive",
        "eu-central-3",
        "object-lock",
        "ObjectLockConfigurationNotFoundError",
    ),
    (
        "logs-archive",
        "eu-central-3",
        "website",
        "NoSuchWebsiteConfiguration",
    ),
    (
        "shop-backups-replica",
        "eu-central-3",
        "versioning",
        "VersioningConfiguration",
    ),
    (
        "shop-backups-replica",
        "eu-central-3",
        "object-lock",
        "ObjectLockConfiguration",
    ),
    (
        "shop-backups-replica",
        "eu-central-3",
        "replication",
        "ReplicationConfigurationNotFoundError",
    ),
    ("shop-backups-replica", "eu-central-3", "tagging", "Tagging"),
];

#[tokio::test]
async fn bucket_sub_resources_are_found_or_missing() {
    let c = S3Client::start().await;
    for (bucket, region, flag, expected) in SUB_RESOURCES {
        // The client's spelling (`cors=`) and the bare flag are the same request.
        for path in [format!("/{bucket}?{flag}="), format!("/{bucket}?{flag}")] {
            let r = c.get(region, &path).await;
            if r.status == StatusCode::OK {
                r.assert_ok(expected);
            } else {
                r.assert_error(404, expected);
                assert_eq!(r.one("BucketName"), bucket, "{path}");
            }
        }
        let r = c.head(region, &format!("/{bucket}?{flag}")).await;
        assert!(r.text.is_empty(), "HEAD {bucket}?{flag}");
        assert_eq!(
            r.status == StatusCode::OK,
            !expected.starts_with("No") && !expected.contains("NotFound"),
            "HEAD {bucket}?{flag}"
        );
    }

    let cors = c.get("eu-central-3", "/shop-assets?cors=").await;
    assert_eq!(cors.texts("CORSRule", "ID"), ["1", "2"]);
    assert_eq!(
        cors.texts("CORSRule", "AllowedOrigin"),
        [
            "https://www.example-shop.de",
            "https://example-shop.de",
            "https://admin.example-shop.de"
        ]
    );
    assert_eq!(cors.texts("CORSRule", "MaxAgeSeconds"), ["3600", "600"]);

    let r = c.get("eu-central-3", "/shop-assets?policy=").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let policy: Value = serde_json::from_str(&r.text).expect("policy JSON");
    assert_eq!(policy["Version"], "2012-10-17");
    assert_eq!(policy["Statement"][0]["Principal"]["AWS"][0], "*");
    assert_eq!(policy["Statement"][0]["Action"][0], "s3:GetObject");
    assert_eq!(
        policy["Statement"][1]["Condition"]["IpAddress"]["aws:SourceIp"][0],
        "198.51.100.10/32"
    );
    let r = c.get("eu-central-3", "/shop-assets?policyStatus").await;
    assert_eq!(r.one("IsPublic"), "true");
    let r = c
        .get("eu-central-3", "/shop-assets?publicAccessBlock")
        .await;
    for flag in [
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(r.one(flag), "false");
    }
    let r = c.get("eu-central-3", "/shop-assets?encryption").await;
    assert_eq!(
        r.texts("ApplyServerSideEncryptionByDefault", "SSEAlgorithm"),
        ["AES256"]
    );
    let r = c.get("eu-central-3", "/shop-assets?website").await;
    assert_eq!(r.texts("IndexDocument", "Suffix"), ["index.html"]);
    assert_eq!(r.texts("ErrorDocument", "Key"), ["404.html"]);
    let r = c.get("eu-central-3", "/shop-assets?tagging").await;
    assert_eq!(
        r.texts("Tag", "Key"),
        ["project", "environment", "cost-center"]
    );

    // Versioning never enabled: an empty configuration.
    let r = c.get("eu-central-3", "/logs-archive?versioning").await;
    assert!(
        r.text
            .ends_with(&format!("<VersioningConfiguration xmlns=\"{NAMESPACE}\"/>")),
        "{}",
        r.text
    );
    let r = c.get("de", "/shop-backups?versioning").await;
    assert_eq!(r.one("Status"), "Enabled");

    let r = c.get("eu-central-3", "/logs-archive?lifecycle").await;
    assert_eq!(r.texts("Rule", "ID"), ["expire-after-90-days"]);
    assert_eq!(r.texts("Rule", "Prefix"), [""]);
    assert_eq!(r.texts("Expiration", "Days"), ["90"]);
    let r = c.get("de", "/shop-backups?lifecycle").await;
    assert_eq!(
        r.texts("Rule", "ID"),
        ["expire-noncurrent-versions", "expire-daily-dumps"]
    );
    assert_eq!(r.texts("Filter", "Prefix"), ["", "db/daily/"]);
    assert_eq!(
        r.texts("NoncurrentVersionExpiration", "NoncurrentDays"),
        ["90"]
    );
    assert_eq!(
        r.texts("AbortIncompleteMultipartUpload", "DaysAfterInitiation"),
        ["7"]
    );

    let r = c.get("de", "/shop-backups?replication").await;
    assert!(r.one("Role").starts_with("arn:aws:iam::"));
    assert_eq!(r.texts("Rule", "Status"), ["Enabled"]);
    assert_eq!(
        r.texts("Destination", "Bucket"),
        ["arn:aws:s3:::shop-backups-replica"]
    );
    let r = c.get("de", "/shop-backups?object-lock").await;
    assert_eq!(r.one("ObjectLockEnabled"), "Enabled");
    assert_eq!(r.texts("DefaultRetention", "Mode"), ["COMPLIANCE"]);
    assert_eq!(r.texts("DefaultRetention", "Days"), ["30"]);

    // The replica holds the source's versions, without its delete markers.
    let source = c.get("de", "/shop-backups?versions").await;
    let replica = c
        .get("eu-central-3", "/shop-backups-replica?versions")
        .await;
    assert_eq!(
        replica.texts("Version", "VersionId"),
        source.texts("Version", "VersionId")
    );
    assert!(replica.texts("DeleteMarker", "VersionId").is_empty());

    // HEAD of a bucket answers 200 without a body.
    let r = c.head("eu-central-3", "/logs-archive").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("x-amz-bucket-region"), Some("eu-central-3"));
}

#[tokio::test]
async fn multipart_uploads_and_parts() {
    let c = S3Client::start().await;
    let r = c.get("eu-central-3", "/shop-assets?uploads=").await;
    r.assert_ok("ListMultipartUploadsResult");
    assert!(r.texts("Upload", "Key").is_empty());
    assert_eq!(r.one("IsTruncated"), "false");

    let r = c.get("de", "/shop-backups?uploads").await;
    let keys = r.texts("Upload", "Key");
    assert_eq!(keys.len(), 1);
    assert!(keys[0].starts_with("db/weekly/shop-full-"));
    let upload_id = r.texts("Upload", "UploadId").remove(0);
    assert_eq!(r.texts("Initiator", "DisplayName"), ["31000000"]);

    let path = format!(
        "/shop-backups/{}?uploadId={}",
        utf8_percent_encode(&keys[0], ENCODE),
        utf8_percent_encode(&upload_id, ENCODE)
    );
    let r = c.get("de", &path).await;
    r.assert_ok("ListPartsResult");
    assert_eq!(r.texts("Part", "PartNumber"), ["1", "2", "3"]);
    assert_eq!(r.texts("Part", "Size"), ["8388608"; 3]);
    let r = c.get("de", &format!("{path}&max-parts=2")).await;
    assert_eq!(r.texts("Part", "PartNumber"), ["1", "2"]);
    assert_eq!(r.one("IsTruncated"), "true");
    assert_eq!(r.one("NextPartNumberMarker"), "2");
    let r = c.get("de", &format!("{path}&part-number-marker=2")).await;
    assert_eq!(r.texts("Part", "PartNumber"), ["3"]);
    c.get("de", "/shop-backups/db%2Fx?uploadId=nope")
        .await
        .assert_error(404, "NoSuchUpload");
}

#[tokio::test]
async fn management_regions_point_at_the_s3_endpoints() {
    let c = S3Client::start().await;
    let base = c.sim.base_url("objectstorage").expect("objectstorage");
    let get = |path: &str| {
        c.http
            .get(format!("{base}{path}"))
            .bearer_auth(DEMO_TOKEN)
            .send()
    };
    let regions: Value = get("/regions")
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    let items = regions["items"].as_array().expect("items");
    assert_eq!(items.len(), 5);
    for region in items {
        let id = region["id"].as_str().expect("id");
        let endpoint = region["properties"]["endpoint"].as_str().expect("endpoint");
        assert_eq!(endpoint, format!("{}/s3/{id}", c.origin()));
        // Each endpoint answers signed requests for its region.
        let r = c.get(id, "/").await;
        r.assert_ok("ListAllMyBucketsResult");
    }

    // The demo key pair is the first access key of the management API.
    let keys: Value = get(&format!(
        "/accesskeys?filter.accesskeyId={DEMO_S3_ACCESS_KEY}"
    ))
    .await
    .expect("answer")
    .json()
    .await
    .expect("JSON");
    let key = &keys["items"][0]["properties"];
    assert_eq!(key["accessKey"], DEMO_S3_ACCESS_KEY);
    assert_eq!(key["secretKey"], DEMO_S3_SECRET_KEY);
    assert_eq!(DEMO_S3_ACCESS_KEY.len(), 20);
    assert!(
        DEMO_S3_ACCESS_KEY
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );
    assert_eq!(DEMO_S3_SECRET_KEY.len(), 40);
    let supported = &keys["items"][0]["metadata"]["supportedRegions"];
    for region in ["de", "eu-central-3"] {
        assert!(
            supported
                .as_array()
                .is_some_and(|a| a.iter().any(|r| r == region)),
            "{supported}"
        );
    }
    // Owner of the buckets = the key's canonical user.
    let r = c.get("eu-central-3", "/").await;
    assert_eq!(
        r.texts("Owner", "ID"),
        [key["canonicalUserId"].as_str().expect("id")]
    );
}
