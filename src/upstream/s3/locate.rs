//! Where each bucket is: its regional endpoint and the region its requests are signed for.
//!
//! Each IONOS region has its own S3 endpoint, and a request must be signed for the region of
//! the endpoint it goes to. Unless `IONOS_S3_ENDPOINT` pins one endpoint, a bucket's location
//! is asked at the base endpoint (GetBucketLocation), the region's endpoint looked up in the
//! Object Storage management API (`GET /regions/{region}`), and the answer cached per bucket.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::Value;

use super::{DEFAULT_REGION, Keys, MANAGEMENT_PRODUCT, S3, refusal, sign, xml};
use crate::errors::ToolError;
use crate::tools::request::RequestParts;
use crate::tools::table::ToolSpec;
use crate::upstream::client::Outgoing;
use crate::upstream::{Exchange, Http};

/// Where a bucket is addressed and the region its requests are signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Base URL without trailing slash; the request path (`/{bucket}/...`) follows it.
    pub url: String,
    pub region: String,
}

/// The signing region an endpoint's host name implies: `s3.<region>.ionoscloud.com` or the
/// older `s3-<region>.ionoscloud.com`, where `eu-central-1` is the region called `de`.
pub fn region_of_endpoint(url: &str) -> Option<String> {
    let host = url::Url::parse(url).ok()?.host_str()?.to_string();
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

impl S3 {
    /// Where a bucket is addressed: `IONOS_S3_ENDPOINT` when set (and for requests without a
    /// bucket), else the bucket's regional endpoint, found once and cached.
    pub(super) async fn endpoint(
        &self,
        http: &Http,
        tool: &'static ToolSpec,
        bucket: Option<&str>,
        keys: &Keys,
    ) -> Result<Endpoint, ToolError> {
        let url = http.base_url(tool);
        let settings = &http.config().s3;
        let region = settings
            .region
            .clone()
            .or_else(|| region_of_endpoint(&url))
            .unwrap_or_else(|| DEFAULT_REGION.to_string());
        let home = Endpoint { url, region };
        let Some(bucket) = bucket else {
            return Ok(home);
        };
        if settings.single_endpoint {
            return Ok(home);
        }
        if let Some(found) = self.endpoints.get(bucket) {
            return Ok(found);
        }
        // GetBucketLocation, asked at the base endpoint.
        let answer = self.location(http, tool, bucket, &home, keys).await?;
        let region = if answer.is_success() {
            Some(location_region(&answer.body, &home.region))
        } else {
            // S3's redirect names the region.
            answer
                .headers
                .get("x-amz-bucket-region")
                .and_then(|v| v.to_str().ok())
                .filter(|r| !r.is_empty())
                .map(str::to_string)
        };
        let found = match region {
            Some(region) => Some(self.regional_endpoint(http, tool, &home, region).await),
            // Endpoints that only know their own region's buckets: ask each region.
            None if matches!(answer.status, 301 | 404) => {
                self.sweep(http, tool, bucket, &home, keys).await
            }
            None => None,
        };
        let Some(endpoint) = found else {
            return Err(refusal(
                tool,
                answer.status,
                xml::s3_error(&answer.body).as_ref(),
                Some(bucket),
                &home,
                false,
            ));
        };
        tracing::debug!(bucket, endpoint = %endpoint.url, region = %endpoint.region, "S3 bucket located");
        self.endpoints.put(bucket, endpoint.clone());
        Ok(endpoint)
    }

    /// One signed GetBucketLocation at `endpoint`.
    async fn location(
        &self,
        http: &Http,
        tool: &'static ToolSpec,
        bucket: &str,
        endpoint: &Endpoint,
        keys: &Keys,
    ) -> Result<Exchange, ToolError> {
        let mut parts = RequestParts::new("GET");
        parts.literal("/");
        parts.segment(bucket);
        let url = format!("{}{}", endpoint.url, parts.path);
        let mut request = Outgoing::new(hyper::Method::GET, &url).query([("location", "")]);
        sign(&mut request, keys, &endpoint.region, SystemTime::now())?;
        http.send_once(tool, request).await
    }

    /// The endpoint of `region`: the base endpoint for its own region, else the management
    /// API's answer, else IONOS's naming.
    async fn regional_endpoint(
        &self,
        http: &Http,
        tool: &'static ToolSpec,
        home: &Endpoint,
        region: String,
    ) -> Endpoint {
        if region == home.region {
            return home.clone();
        }
        let mut parts = RequestParts::new("GET");
        parts.literal("/regions/");
        parts.segment(&region);
        let listed = self
            .management
            .get_json(http, tool, MANAGEMENT_PRODUCT, &parts.path)
            .await
            .and_then(|v| {
                let e = v
                    .pointer("/properties/endpoint")?
                    .as_str()?
                    .trim()
                    .to_string();
                (!e.is_empty()).then(|| endpoint_url(&e))
            });
        let url = listed.unwrap_or_else(|| known_endpoint(&region));
        Endpoint { url, region }
    }

    /// Asks every other region's endpoint (from the management API's region list) for the
    /// bucket's location; the first that knows it wins.
    async fn sweep(
        &self,
        http: &Http,
        tool: &'static ToolSpec,
        bucket: &str,
        home: &Endpoint,
        keys: &Keys,
    ) -> Option<Endpoint> {
        let regions = self
            .management
            .get_json(http, tool, MANAGEMENT_PRODUCT, "/regions")
            .await?;
        for r in regions.get("items")?.as_array()? {
            let (Some(id), Some(endpoint)) = (
                r.get("id").and_then(Value::as_str),
                r.pointer("/properties/endpoint").and_then(Value::as_str),
            ) else {
                continue;
            };
            if id == home.region {
                continue;
            }
            let candidate = Endpoint {
                url: endpoint_url(endpoint),
                region: id.to_string(),
            };
            if let Ok(answer) = self.location(http, tool, bucket, &candidate, keys).await
                && answer.is_success()
            {
                let region = location_region(&answer.body, &candidate.region);
                if region == candidate.region {
                    return Some(candidate);
                }
                return Some(self.regional_endpoint(http, tool, home, region).await);
            }
        }
        None
    }
}
