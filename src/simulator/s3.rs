//! The Object Storage S3 data plane at `/s3/{region}`: one path-style endpoint per region of
//! the management API (`objectstorage.json`), serving the account's buckets from `s3.json`.
//!
//! Every request is signed with AWS Signature Version 4 (`s3/sigv4.rs`) for the endpoint's
//! region with [`DEMO_S3_ACCESS_KEY`](super::DEMO_S3_ACCESS_KEY). Answers are S3's XML
//! (`s3/xml.rs`); a bucket of another region is answered with `301 PermanentRedirect`, except
//! for `?location` and the bucket list, which every endpoint answers.
//!
//! - `GET /s3/{region}/`: ListBuckets
//! - `GET|HEAD /s3/{region}/{bucket}`: HeadBucket, ListObjects (v1, or v2 with `list-type=2`),
//!   and the sub-resources `?location`, `?cors`, `?encryption`, `?lifecycle`, `?policy`,
//!   `?policyStatus`, `?publicAccessBlock`, `?replication`, `?tagging`, `?versioning`,
//!   `?versions`, `?object-lock`, `?website`, `?uploads`
//! - `GET|HEAD /s3/{region}/{bucket}/{key}`: GetObject, HeadObject, and `?tagging`,
//!   `?retention`, `?legal-hold` (each with `versionId`), `?uploadId` (ListParts). The key may
//!   come as one segment with `/` encoded as `%2F`, or as several segments.

mod data;
mod sigv4;
mod xml;

use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode_str;
use serde_json::Value;

use super::query;
use super::{DEMO_S3_ACCESS_KEY, DEMO_S3_SECRET_KEY};
use crate::tools::behaviour::Day;
use data::{Account, Bucket, Object, Time, Version, http_date, iso8601};
use sigv4::{Credentials, Signed};
use xml::{Answer, S3Error, Xml};

/// The path prefix of the S3 endpoints.
pub const PREFIX: &str = "/s3";

/// Most keys, versions, uploads or parts in one answer.
const MAX_KEYS: usize = 1000;

/// Whether `path` is for the S3 endpoints (and not, say, `/s3-management`).
pub fn is_s3(path: &str) -> bool {
    path.strip_prefix(PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A request as received: the raw path and query (both still encoded), headers and body.
pub struct Request<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

pub struct S3 {
    origin: String,
    /// The region ids of the management API; each has an endpoint.
    regions: Vec<String>,
    account: Account,
    /// Answer every request for a bucket of another region, `?location` included, with
    /// `404 NoSuchBucket` (as IONOS documents its endpoints), instead of S3's redirect.
    strict_regions: std::sync::atomic::AtomicBool,
    /// Buckets moved to another region since start (bucket -> region).
    moved: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl S3 {
    /// The endpoints of `origin` for the regions of the management API's `management_json`.
    pub fn new(origin: &str, management_json: &str) -> Result<S3, String> {
        let management: Value =
            serde_json::from_str(management_json).map_err(|e| format!("regions: {e}"))?;
        let regions: Vec<String> = management
            .pointer("/collections/regions/items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r["id"].as_str().map(str::to_string))
            .collect();
        let account = data::load(include_str!("s3.json"), Day::today())
            .map_err(|e| format!("s3.json: {e}"))?;
        if let Some(b) = account
            .buckets
            .iter()
            .find(|b| !regions.contains(&b.region))
        {
            return Err(format!(
                "s3.json: bucket {} is in unknown region {}",
                b.name, b.region
            ));
        }
        Ok(S3 {
            origin: origin.trim_end_matches('/').to_string(),
            regions,
            account,
            strict_regions: std::sync::atomic::AtomicBool::new(false),
            moved: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// Moves a bucket to another region, as if it had been recreated there.
    pub fn move_bucket(&self, bucket: &str, region: &str) {
        self.moved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(bucket.to_string(), region.to_string());
    }

    /// The region a bucket is in now.
    fn region_of(&self, bucket: &Bucket) -> String {
        self.moved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&bucket.name)
            .cloned()
            .unwrap_or_else(|| bucket.region.clone())
    }

    /// See `strict_regions`.
    pub fn set_strict_regions(&self, on: bool) {
        self.strict_regions
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// The endpoint of a region, as the management API gives it.
    fn endpoint(&self, region: &str) -> String {
        format!("{}{PREFIX}/{region}", self.origin)
    }

    pub fn handle(&self, req: &Request<'_>) -> Response {
        let request_id = format!("{:016X}", fastrand::u64(..));
        let head = req.method == Method::HEAD;
        let (resource, result) = match Target::parse(req.path) {
            Ok(target) => (target.resource(), self.serve(req, &target)),
            Err(e) => (req.path.to_string(), Err(e)),
        };
        let mut response = match result {
            Ok(answer) => answer.into_response(head),
            Err(e) => e.into_response(head, &resource, &request_id),
        };
        if let Ok(id) = request_id.parse() {
            response.headers_mut().insert("x-amz-request-id", id);
        }
        response
    }

    fn serve(&self, req: &Request<'_>, target: &Target) -> Result<Answer, S3Error> {
        let region = target.region.as_str();
        if !self.regions.iter().any(|r| r == region) {
            return Err(S3Error::bad_request(
                "InvalidRequest",
                format!("There is no Object Storage endpoint for region '{region}'."),
            ));
        }
        let signed = Signed {
            method: req.method,
            path: req.path,
            query: req.query,
            headers: req.headers,
            body: req.body,
        };
        let credentials = Credentials {
            access_key: DEMO_S3_ACCESS_KEY,
            secret_key: DEMO_S3_SECRET_KEY,
        };
        sigv4::verify(&signed, &credentials, region, Time::now())?;
        if req.method != Method::GET && req.method != Method::HEAD {
            return Err(S3Error::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            )
            .detail("Method", req.method.as_str())
            .detail("ResourceType", target.kind())
            .header("allow", "GET, HEAD"));
        }
        let ctx = Ctx {
            region,
            query: query::decode_pairs(req.query),
            headers: req.headers,
            head: req.method == Method::HEAD,
        };
        match (&target.bucket, &target.key) {
            (None, _) => Ok(self.list_buckets()),
            (Some(bucket), None) => self.bucket(&ctx, bucket),
            (Some(bucket), Some(key)) => self.object(&ctx, bucket, key),
        }
    }

    /// The bucket, if it is served by this endpoint.
    fn find(&self, ctx: &Ctx<'_>, name: &str) -> Result<&Bucket, S3Error> {
        let bucket = self.account.bucket(name).ok_or_else(|| {
            S3Error::not_found("NoSuchBucket", "The specified bucket does not exist")
                .detail("BucketName", name)
        })?;
        let region = self.region_of(bucket);
        if region != ctx.region
            && self
                .strict_regions
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Err(
                S3Error::not_found("NoSuchBucket", "The specified bucket does not exist")
                    .detail("BucketName", name),
            );
        }
        if region != ctx.region && !ctx.has("location") {
            return Err(S3Error::new(
                StatusCode::MOVED_PERMANENTLY,
                "PermanentRedirect",
                "The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.",
            )
            .detail("Endpoint", self.endpoint(&region))
            .detail("Bucket", name)
            .header("x-amz-bucket-region", region));
        }
        Ok(bucket)
    }

    fn owner(&self, x: &mut Xml) {
        let owner = &self.account.owner;
        x.node("Owner", |x| {
            x.leaf("ID", &owner.id)
                .leaf("DisplayName", &owner.display_name);
        });
    }

    fn list_buckets(&self) -> Answer {
        let mut buckets: Vec<&Bucket> = self.account.buckets.iter().collect();
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        Answer::xml(Xml::document("ListAllMyBucketsResult", true, |x| {
            self.owner(x);
            x.node("Buckets", |x| {
                for b in &buckets {
                    x.node("Bucket", |x| {
                        x.leaf("Name", &b.name)
                            .leaf("CreationDate", iso8601(b.created));
                    });
                }
            });
        }))
    }

    fn bucket(&self, ctx: &Ctx<'_>, name: &str) -> Result<Answer, S3Error> {
        let b = self.find(ctx, name)?;
        let missing = |code, message| S3Error::missing(code, message, name);
        let doc = |root, content: &dyn Fn(&mut Xml)| {
            Answer::xml(Xml::document(root, true, |x| content(x)))
        };
        if ctx.has("location") {
            return Ok(doc("LocationConstraint", &|x| {
                x.text(&self.region_of(b));
            }));
        }
        if ctx.has("cors") {
            let rules = b.cors.as_ref().ok_or_else(|| {
                missing(
                    "NoSuchCORSConfiguration",
                    "The CORS configuration does not exist",
                )
            })?;
            return Ok(doc("CORSConfiguration", &|x| {
                for r in rules {
                    x.node("CORSRule", |x| {
                        x.opt("ID", r.id.as_ref());
                        for (name, values) in [
                            ("AllowedHeader", &r.allowed_headers),
                            ("AllowedMethod", &r.allowed_methods),
                            ("AllowedOrigin", &r.allowed_origins),
                            ("ExposeHeader", &r.expose_headers),
                        ] {
                            for v in values {
                                x.leaf(name, v);
                            }
                        }
                        x.opt("MaxAgeSeconds", r.max_age_seconds);
                    });
                }
            }));
        }
        if ctx.has("encryption") {
            let algorithm = b.encryption.as_ref().ok_or_else(|| {
                missing(
                    "ServerSideEncryptionConfigurationNotFoundError",
                    "The server side encryption configuration was not found",
                )
            })?;
            return Ok(doc("ServerSideEncryptionConfiguration", &|x| {
                x.node("Rule", |x| {
                    x.node("ApplyServerSideEncryptionByDefault", |x| {
                        x.leaf("SSEAlgorithm", algorithm);
                    });
                });
            }));
        }
        if ctx.has("lifecycle") {
            let rules = b.lifecycle.as_ref().ok_or_else(|| {
                missing(
                    "NoSuchLifecycleConfiguration",
                    "The lifecycle configuration does not exist",
                )
            })?;
            return Ok(doc("LifecycleConfiguration", &|x| {
                for r in rules {
                    x.node("Rule", |x| {
                        x.leaf("ID", &r.id);
                        prefix_or_filter(x, &r.prefix, r.filter);
                        x.leaf("Status", &r.status);
                        if let Some(days) = r.expiration_days {
                            x.node("Expiration", |x| {
                                x.leaf("Days", days);
                            });
                        }
                        if let Some(days) = r.noncurrent_days {
                            x.node("NoncurrentVersionExpiration", |x| {
                                x.leaf("NoncurrentDays", days);
                            });
                        }
                        if let Some(days) = r.abort_incomplete_days {
                            x.node("AbortIncompleteMultipartUpload", |x| {
                                x.leaf("DaysAfterInitiation", days);
                            });
                        }
                    });
                }
            }));
        }
        if ctx.has("policy") || ctx.has("policyStatus") {
            let policy = b
                .policy
                .as_ref()
                .ok_or_else(|| missing("NoSuchBucketPolicy", "The bucket policy does not exist"))?;
            if ctx.has("policy") {
                return Ok(Answer::typed(
                    "application/json",
                    policy.to_string().into_bytes(),
                ));
            }
            return Ok(doc("PolicyStatus", &|x| {
                x.leaf("IsPublic", is_public(policy));
            }));
        }
        if ctx.has("publicAccessBlock") {
            let p = b.public_access_block.as_ref().ok_or_else(|| {
                missing(
                    "NoSuchPublicAccessBlockConfiguration",
                    "The public access block configuration was not found",
                )
            })?;
            return Ok(doc("PublicAccessBlockConfiguration", &|x| {
                x.leaf("BlockPublicAcls", p.block_public_acls)
                    .leaf("IgnorePublicAcls", p.ignore_public_acls)
                    .leaf("BlockPublicPolicy", p.block_public_policy)
                    .leaf("RestrictPublicBuckets", p.restrict_public_buckets);
            }));
        }
        if ctx.has("replication") {
            let r = b.replication.as_ref().ok_or_else(|| {
                missing(
                    "ReplicationConfigurationNotFoundError",
                    "The replication configuration was not found",
                )
            })?;
            return Ok(doc("ReplicationConfiguration", &|x| {
                x.leaf("Role", &r.role);
                for rule in &r.rules {
                    x.node("Rule", |x| {
                        x.leaf("ID", &rule.id)
                            .opt("Priority", rule.priority)
                            .leaf("Status", &rule.status);
                        prefix_or_filter(x, &rule.prefix, rule.filter);
                        x.node("Destination", |x| {
                            x.leaf("Bucket", &rule.destination)
                                .opt("StorageClass", rule.storage_class.as_ref());
                        });
                    });
                }
            }));
        }
        if ctx.has("tagging") {
            let tags = b
                .tags
                .as_deref()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| missing("NoSuchTagSet", "The TagSet does not exist"))?;
            return Ok(tagging(tags));
        }
        if ctx.has("versioning") {
            return Ok(doc("VersioningConfiguration", &|x| {
                x.opt("Status", b.versioning.as_ref());
            }));
        }
        if ctx.has("versions") {
            return self.list_versions(ctx, b);
        }
        if ctx.has("object-lock") {
            let lock = b.object_lock.as_ref().ok_or_else(|| {
                missing(
                    "ObjectLockConfigurationNotFoundError",
                    "Object Lock configuration does not exist for this bucket",
                )
            })?;
            return Ok(doc("ObjectLockConfiguration", &|x| {
                x.leaf("ObjectLockEnabled", "Enabled").node("Rule", |x| {
                    x.node("DefaultRetention", |x| {
                        x.leaf("Mode", &lock.mode).leaf("Days", lock.days);
                    });
                });
            }));
        }
        if ctx.has("website") {
            let w = b.website.as_ref().ok_or_else(|| {
                missing(
                    "NoSuchWebsiteConfiguration",
                    "The specified bucket does not have a website configuration",
                )
            })?;
            return Ok(doc("WebsiteConfiguration", &|x| {
                x.node("IndexDocument", |x| {
                    x.leaf("Suffix", &w.index_document);
                });
                if let Some(key) = &w.error_document {
                    x.node("ErrorDocument", |x| {
                        x.leaf("Key", key);
                    });
                }
            }));
        }
        if ctx.has("uploads") {
            return self.list_uploads(ctx, b);
        }
        match ctx.get("list-type") {
            Some("2") => self.list_objects_v2(ctx, b),
            Some(other) => Err(S3Error::invalid_argument(
                "Invalid List Type specified in Request",
                "list-type",
                other,
            )),
            None if ctx.head => Ok(Answer::typed("application/xml", Vec::new())
                .header("x-amz-bucket-region", self.region_of(b))),
            None => self.list_objects_v1(ctx, b),
        }
    }

    fn list_objects_v1(&self, ctx: &Ctx<'_>, b: &Bucket) -> Result<Answer, S3Error> {
        let q = ListQuery::parse(ctx, "max-keys")?;
        let marker = ctx.get("marker").unwrap_or("");
        let (entries, truncated) = page(
            b.current()
                .map(|(v, o)| (v.key.as_str(), (v, o)))
                .filter(|(key, _)| q.name_of(key) > marker),
            &q,
        );
        let next_marker = truncated.then(|| entries.last().map(Entry::name)).flatten();
        Ok(Answer::xml(Xml::document("ListBucketResult", true, |x| {
            x.leaf("Name", &b.name)
                .leaf("Prefix", q.encode(&q.prefix))
                .leaf("Marker", q.encode(marker))
                .opt("NextMarker", next_marker.map(|m| q.encode(m)))
                .leaf("MaxKeys", q.max)
                .opt("Delimiter", q.delimiter_shown())
                .leaf("IsTruncated", truncated)
                .opt("EncodingType", q.encoding());
            self.contents(x, &q, &entries, true);
        })))
    }

    fn list_objects_v2(&self, ctx: &Ctx<'_>, b: &Bucket) -> Result<Answer, S3Error> {
        let q = ListQuery::parse(ctx, "max-keys")?;
        let token = ctx.get("continuation-token");
        let start_after = ctx.get("start-after");
        let after = match token {
            Some(token) => decode_token(token).ok_or_else(|| {
                S3Error::invalid_argument(
                    "The continuation token provided is incorrect",
                    "continuation-token",
                    token,
                )
            })?,
            None => start_after.unwrap_or("").to_string(),
        };
        let fetch_owner = ctx
            .get("fetch-owner")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let (entries, truncated) = page(
            b.current()
                .map(|(v, o)| (v.key.as_str(), (v, o)))
                .filter(|(key, _)| q.name_of(key) > after.as_str()),
            &q,
        );
        let next = truncated
            .then(|| entries.last().map(|e| encode_token(e.name())))
            .flatten();
        Ok(Answer::xml(Xml::document("ListBucketResult", true, |x| {
            x.leaf("Name", &b.name)
                .leaf("Prefix", q.encode(&q.prefix))
                .opt("Delimiter", q.delimiter_shown())
                .leaf("MaxKeys", q.max)
                .opt("EncodingType", q.encoding())
                .leaf("KeyCount", entries.len())
                .leaf("IsTruncated", truncated)
                .opt("ContinuationToken", token)
                .opt("NextContinuationToken", next)
                .opt("StartAfter", start_after.map(|s| q.encode(s)));
            self.contents(x, &q, &entries, fetch_owner);
        })))
    }

    /// `Contents` of the objects, then `CommonPrefixes`.
    fn contents(
        &self,
        x: &mut Xml,
        q: &ListQuery,
        entries: &[Entry<'_, (&Version, &Object)>],
        with_owner: bool,
    ) {
        for entry in entries {
            if let Entry::Item(key, (v, o)) = entry {
                x.node("Contents", |x| {
                    x.leaf("Key", q.encode(key))
                        .leaf("LastModified", iso8601(v.last_modified))
                        .leaf("ETag", &o.etag)
                        .leaf("Size", o.size)
                        .leaf("StorageClass", "STANDARD");
                    if with_owner {
                        self.owner(x);
                    }
                });
            }
        }
        common_prefixes(x, q, entries);
    }

    fn list_versions(&self, ctx: &Ctx<'_>, b: &Bucket) -> Result<Answer, S3Error> {
        let q = ListQuery::parse(ctx, "max-keys")?;
        let key_marker = ctx.get("key-marker").unwrap_or("");
        let version_marker = ctx.get("version-id-marker").unwrap_or("");
        let versions: Vec<&Version> = if version_marker.is_empty() {
            b.versions
                .iter()
                .filter(|v| q.name_of(&v.key) > key_marker)
                .collect()
        } else {
            if key_marker.is_empty() {
                return Err(S3Error::invalid_argument(
                    "A version-id marker cannot be specified without a key marker.",
                    "version-id-marker",
                    version_marker,
                ));
            }
            let at = b
                .versions
                .iter()
                .position(|v| v.key == key_marker && v.version_id == version_marker)
                .ok_or_else(|| {
                    S3Error::invalid_argument(
                        "Invalid version id specified",
                        "version-id-marker",
                        version_marker,
                    )
                })?;
            b.versions[at + 1..].iter().collect()
        };
        let (entries, truncated) = page(versions.into_iter().map(|v| (v.key.as_str(), v)), &q);
        let (next_key, next_version) = match entries.last() {
            Some(Entry::Item(key, v)) if truncated => (Some(*key), Some(v.version_id.as_str())),
            Some(Entry::Prefix(p)) if truncated => (Some(p.as_str()), None),
            _ => (None, None),
        };
        Ok(Answer::xml(Xml::document(
            "ListVersionsResult",
            true,
            |x| {
                x.leaf("Name", &b.name)
                    .leaf("Prefix", q.encode(&q.prefix))
                    .leaf("KeyMarker", q.encode(key_marker))
                    .leaf("VersionIdMarker", version_marker)
                    .opt("NextKeyMarker", next_key.map(|k| q.encode(k)))
                    .opt("NextVersionIdMarker", next_version)
                    .leaf("MaxKeys", q.max)
                    .opt("Delimiter", q.delimiter_shown())
                    .leaf("IsTruncated", truncated)
                    .opt("EncodingType", q.encoding());
                for entry in &entries {
                    let Entry::Item(key, v) = entry else { continue };
                    let common = |x: &mut Xml| {
                        x.leaf("Key", q.encode(key))
                            .leaf("VersionId", &v.version_id)
                            .leaf("IsLatest", v.is_latest)
                            .leaf("LastModified", iso8601(v.last_modified));
                    };
                    match &v.object {
                        Some(o) => {
                            x.node("Version", |x| {
                                common(x);
                                x.leaf("ETag", &o.etag)
                                    .leaf("Size", o.size)
                                    .leaf("StorageClass", "STANDARD");
                                self.owner(x);
                            });
                        }
                        None => {
                            x.node("DeleteMarker", |x| {
                                common(x);
                                self.owner(x);
                            });
                        }
                    }
                }
                common_prefixes(x, &q, &entries);
            },
        )))
    }

    fn list_uploads(&self, ctx: &Ctx<'_>, b: &Bucket) -> Result<Answer, S3Error> {
        let q = ListQuery::parse(ctx, "max-uploads")?;
        let key_marker = ctx.get("key-marker").unwrap_or("");
        let id_marker = ctx.get("upload-id-marker").unwrap_or("");
        let (entries, truncated) = page(
            b.uploads
                .iter()
                .filter(|u| {
                    if id_marker.is_empty() {
                        q.name_of(&u.key) > key_marker
                    } else {
                        (u.key.as_str(), u.upload_id.as_str()) > (key_marker, id_marker)
                    }
                })
                .map(|u| (u.key.as_str(), u)),
            &q,
        );
        let (next_key, next_id) = match entries.last() {
            Some(Entry::Item(key, u)) if truncated => (Some(*key), Some(u.upload_id.as_str())),
            Some(Entry::Prefix(p)) if truncated => (Some(p.as_str()), None),
            _ => (None, None),
        };
        Ok(Answer::xml(Xml::document(
            "ListMultipartUploadsResult",
            true,
            |x| {
                x.leaf("Bucket", &b.name)
                    .leaf("KeyMarker", q.encode(key_marker))
                    .leaf("UploadIdMarker", id_marker)
                    .opt("NextKeyMarker", next_key.map(|k| q.encode(k)))
                    .opt("NextUploadIdMarker", next_id)
                    .opt("Delimiter", q.delimiter_shown())
                    .leaf("Prefix", q.encode(&q.prefix))
                    .leaf("MaxUploads", q.max)
                    .leaf("IsTruncated", truncated)
                    .opt("EncodingType", q.encoding());
                for entry in &entries {
                    let Entry::Item(key, u) = entry else { continue };
                    x.node("Upload", |x| {
                        x.leaf("Key", q.encode(key)).leaf("UploadId", &u.upload_id);
                        self.initiator(x);
                        self.owner(x);
                        x.leaf("StorageClass", "STANDARD")
                            .leaf("Initiated", iso8601(u.initiated));
                    });
                }
                common_prefixes(x, &q, &entries);
            },
        )))
    }

    fn initiator(&self, x: &mut Xml) {
        let owner = &self.account.owner;
        x.node("Initiator", |x| {
            x.leaf("ID", &owner.id)
                .leaf("DisplayName", &owner.display_name);
        });
    }

    fn object(&self, ctx: &Ctx<'_>, name: &str, key: &str) -> Result<Answer, S3Error> {
        let b = self.find(ctx, name)?;
        if let Some(upload_id) = ctx.get("uploadId") {
            return self.list_parts(ctx, b, key, upload_id);
        }
        let version_id = ctx.get("versionId");
        if version_id == Some("") {
            return Err(S3Error::invalid_argument(
                "Version id cannot be the empty string",
                "versionId",
                "",
            ));
        }
        let versioned = b.versioning.is_some();
        let v = b.version(key, version_id).ok_or_else(|| match version_id {
            Some(id) => {
                S3Error::not_found("NoSuchVersion", "The specified version does not exist.")
                    .detail("Key", key)
                    .detail("VersionId", id)
            }
            None => no_such_key(key),
        })?;
        let Some(o) = &v.object else {
            // A delete marker: the key is gone, and the marker itself has no content.
            let e = match version_id {
                Some(_) => S3Error::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "MethodNotAllowed",
                    "The specified method is not allowed against this resource.",
                )
                .detail("Method", if ctx.head { "HEAD" } else { "GET" })
                .detail("ResourceType", "DeleteMarker"),
                None => no_such_key(key),
            };
            return Err(e
                .header("x-amz-delete-marker", "true")
                .header("x-amz-version-id", v.version_id.clone()));
        };
        let with_version = |answer: Answer| {
            if versioned {
                answer.header("x-amz-version-id", v.version_id.clone())
            } else {
                answer
            }
        };
        let lock_missing = || {
            S3Error::not_found(
                "NoSuchObjectLockConfiguration",
                "The specified object does not have a ObjectLock configuration",
            )
        };
        if ctx.has("tagging") {
            if o.tags.is_empty() {
                return Err(
                    S3Error::not_found("NoSuchTagSet", "The TagSet does not exist")
                        .detail("Key", key),
                );
            }
            return Ok(with_version(tagging(&o.tags)));
        }
        if ctx.has("retention") {
            let r = o.retention.as_ref().ok_or_else(lock_missing)?;
            return Ok(with_version(Answer::xml(Xml::document(
                "Retention",
                true,
                |x| {
                    x.leaf("Mode", &r.mode)
                        .leaf("RetainUntilDate", iso8601(r.until));
                },
            ))));
        }
        if ctx.has("legal-hold") {
            let status = o.legal_hold.as_ref().ok_or_else(lock_missing)?;
            return Ok(with_version(Answer::xml(Xml::document(
                "LegalHold",
                true,
                |x| {
                    x.leaf("Status", status);
                },
            ))));
        }
        self.content(ctx, b, v, o).map(with_version)
    }

    /// GetObject and HeadObject: the content (or a range of it) and the object's headers.
    fn content(
        &self,
        ctx: &Ctx<'_>,
        b: &Bucket,
        v: &Version,
        o: &Object,
    ) -> Result<Answer, S3Error> {
        let mut answer = Answer::typed(&o.content_type, Vec::new())
            .header(header::ETAG, o.etag.clone())
            .header(header::LAST_MODIFIED, http_date(v.last_modified))
            .header(header::ACCEPT_RANGES, "bytes");
        if let Some(c) = &o.cache_control {
            answer = answer.header(header::CACHE_CONTROL, c.clone());
        }
        if let Some(sse) = &b.encryption {
            answer = answer.header("x-amz-server-side-encryption", sse.clone());
        }
        let replication = if b.replica_of.is_some() {
            Some("REPLICA")
        } else {
            b.replication
                .as_ref()
                .filter(|r| {
                    r.rules
                        .iter()
                        .any(|rule| rule.status == "Enabled" && v.key.starts_with(&rule.prefix))
                })
                .map(|_| "COMPLETED")
        };
        let mut extra: Vec<(String, String)> = o
            .metadata
            .iter()
            .map(|(k, value)| (format!("x-amz-meta-{k}"), value.clone()))
            .collect();
        if let Some(status) = replication {
            extra.push(("x-amz-replication-status".into(), status.into()));
        }
        if let Some(r) = &o.retention {
            extra.push(("x-amz-object-lock-mode".into(), r.mode.clone()));
            extra.push((
                "x-amz-object-lock-retain-until-date".into(),
                iso8601(r.until),
            ));
        }
        if let Some(hold) = &o.legal_hold {
            extra.push(("x-amz-object-lock-legal-hold".into(), hold.clone()));
        }
        if !o.tags.is_empty() && !ctx.head {
            extra.push(("x-amz-tagging-count".into(), o.tags.len().to_string()));
        }
        for (name, value) in extra {
            answer = answer.header(name, value);
        }
        if let Some(wanted) = ctx.header("if-match")
            && !etag_matches(&wanted, &o.etag)
        {
            return Err(S3Error::new(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
            )
            .detail("Condition", "If-Match"));
        }
        if let Some(wanted) = ctx.header("if-none-match")
            && etag_matches(&wanted, &o.etag)
        {
            answer.status = StatusCode::NOT_MODIFIED;
            answer
                .headers
                .retain(|(name, _)| name != header::CONTENT_TYPE);
            return Ok(answer);
        }
        if ctx.head {
            return Ok(answer.header(header::CONTENT_LENGTH, o.size.to_string()));
        }
        for (param, name) in [
            ("response-content-type", header::CONTENT_TYPE),
            ("response-cache-control", header::CACHE_CONTROL),
            ("response-content-disposition", header::CONTENT_DISPOSITION),
            ("response-content-encoding", header::CONTENT_ENCODING),
            ("response-content-language", header::CONTENT_LANGUAGE),
            ("response-expires", header::EXPIRES),
        ] {
            if let Some(value) = ctx.get(param) {
                answer.headers.retain(|(n, _)| *n != name);
                answer = answer.header(name, value);
            }
        }
        let body = match &o.body {
            Some(body) => body.clone().into_bytes(),
            None => data::filler(&v.key, &v.version_id, o.size),
        };
        match ctx.header("range").and_then(|r| byte_range(&r, o.size)) {
            None => answer.body = body,
            Some(Ok((first, last))) => {
                let (start, end) = (
                    usize::try_from(first).unwrap_or(usize::MAX),
                    usize::try_from(last).unwrap_or(usize::MAX),
                );
                answer.body = body.get(start..=end).unwrap_or_default().to_vec();
                answer.status = StatusCode::PARTIAL_CONTENT;
                answer = answer.header(
                    header::CONTENT_RANGE,
                    format!("bytes {first}-{last}/{}", o.size),
                );
            }
            Some(Err(())) => {
                return Err(S3Error::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                )
                .detail("RangeRequested", ctx.header("range").unwrap_or_default())
                .detail("ActualObjectSize", o.size.to_string())
                .header("content-range", format!("bytes */{}", o.size)));
            }
        }
        Ok(answer)
    }

    fn list_parts(
        &self,
        ctx: &Ctx<'_>,
        b: &Bucket,
        key: &str,
        upload_id: &str,
    ) -> Result<Answer, S3Error> {
        let upload = b
            .uploads
            .iter()
            .find(|u| u.key == key && u.upload_id == upload_id)
            .ok_or_else(|| {
                S3Error::not_found(
                    "NoSuchUpload",
                    "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
                )
                .detail("UploadId", upload_id)
            })?;
        let max = number(ctx, "max-parts", MAX_KEYS)?;
        let marker = number(ctx, "part-number-marker", 0)?;
        let after: Vec<_> = upload
            .parts
            .iter()
            .filter(|p| usize::try_from(p.number).is_ok_and(|n| n > marker))
            .collect();
        let truncated = after.len() > max;
        let parts = &after[..after.len().min(max)];
        Ok(Answer::xml(Xml::document("ListPartsResult", true, |x| {
            x.leaf("Bucket", &b.name)
                .leaf("Key", key)
                .leaf("UploadId", upload_id);
            self.initiator(x);
            self.owner(x);
            x.leaf("StorageClass", "STANDARD")
                .leaf("PartNumberMarker", marker)
                .opt(
                    "NextPartNumberMarker",
                    parts.last().filter(|_| truncated).map(|p| p.number),
                )
                .leaf("MaxParts", max)
                .leaf("IsTruncated", truncated);
            for p in parts {
                x.node("Part", |x| {
                    x.leaf("PartNumber", p.number)
                        .leaf("LastModified", iso8601(p.last_modified))
                        .leaf("ETag", &p.etag)
                        .leaf("Size", p.size);
                });
            }
        })))
    }
}

/// What a request addresses: `/s3/{region}[/{bucket}[/{key}]]`, decoded.
struct Target {
    region: String,
    bucket: Option<String>,
    key: Option<String>,
}

impl Target {
    fn parse(path: &str) -> Result<Target, S3Error> {
        let invalid = || {
            S3Error::bad_request("InvalidURI", "Couldn't parse the specified URI.")
                .detail("URI", path)
        };
        let decode = |s: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|d| d.into_owned())
                .map_err(|_| invalid())
        };
        let rest = path.strip_prefix(PREFIX).unwrap_or(path);
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let (region, rest) = rest.split_once('/').unwrap_or((rest, ""));
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket = decode(bucket)?;
        let key = decode(key)?;
        if bucket.is_empty() && !key.is_empty() {
            return Err(invalid());
        }
        Ok(Target {
            region: decode(region)?,
            bucket: (!bucket.is_empty()).then_some(bucket),
            key: (!key.is_empty()).then_some(key),
        })
    }

    /// `/bucket/key`, as S3 names the resource in errors.
    fn resource(&self) -> String {
        match (&self.bucket, &self.key) {
            (None, _) => "/".into(),
            (Some(b), None) => format!("/{b}"),
            (Some(b), Some(k)) => format!("/{b}/{k}"),
        }
    }

    fn kind(&self) -> &'static str {
        match (&self.bucket, &self.key) {
            (None, _) => "SERVICE",
            (Some(_), None) => "BUCKET",
            (Some(_), Some(_)) => "OBJECT",
        }
    }
}

/// The parts of a request the operations read.
struct Ctx<'a> {
    region: &'a str,
    query: Vec<(String, String)>,
    headers: &'a HeaderMap,
    head: bool,
}

impl Ctx<'_> {
    /// Whether the query has `name`, as a flag (`?cors`, `?cors=`) or with a value.
    fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(n, _)| n == name)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// `prefix`, `delimiter`, the page size and `encoding-type` of a list request.
struct ListQuery {
    prefix: String,
    delimiter: String,
    max: usize,
    url_encoded: bool,
}

impl ListQuery {
    /// The list parameters; `max_name` is `max-keys` or `max-uploads`.
    fn parse(ctx: &Ctx<'_>, max_name: &str) -> Result<ListQuery, S3Error> {
        let url_encoded = match ctx.get("encoding-type") {
            None => false,
            Some(e) if e.eq_ignore_ascii_case("url") => true,
            Some(other) => {
                return Err(S3Error::invalid_argument(
                    "Invalid Encoding Method specified in Request",
                    "encoding-type",
                    other,
                ));
            }
        };
        Ok(ListQuery {
            prefix: ctx.get("prefix").unwrap_or("").to_string(),
            delimiter: ctx.get("delimiter").unwrap_or("").to_string(),
            max: number(ctx, max_name, MAX_KEYS)?.min(MAX_KEYS),
            url_encoded,
        })
    }

    /// The common prefix `key` rolls up into, if the delimiter groups it.
    fn common_prefix<'k>(&self, key: &'k str) -> Option<&'k str> {
        if self.delimiter.is_empty() {
            return None;
        }
        let rest = key.strip_prefix(self.prefix.as_str())?;
        let at = rest.find(self.delimiter.as_str())?;
        key.get(..self.prefix.len() + at + self.delimiter.len())
    }

    /// What `key` is listed as: its common prefix or itself. Markers compare with this, so a
    /// page that ended on a common prefix goes on after all of that prefix's keys.
    fn name_of<'k>(&self, key: &'k str) -> &'k str {
        self.common_prefix(key).unwrap_or(key)
    }

    fn delimiter_shown(&self) -> Option<String> {
        (!self.delimiter.is_empty()).then(|| self.encode(&self.delimiter))
    }

    fn encoding(&self) -> Option<&'static str> {
        self.url_encoded.then_some("url")
    }

    /// A key as the answer spells it: URL-encoded (space as `+`, `/` kept) with
    /// `encoding-type=url`.
    fn encode(&self, text: &str) -> String {
        if !self.url_encoded {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        for b in text.bytes() {
            match b {
                b' ' => out.push('+'),
                b if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) => out.push(char::from(b)),
                b => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }
}

/// One line of a list answer: an item (with the key it is listed under) or a common prefix.
enum Entry<'a, T> {
    Item(&'a str, T),
    Prefix(String),
}

impl<T> Entry<'_, T> {
    fn name(&self) -> &str {
        match self {
            Entry::Item(key, _) => key,
            Entry::Prefix(p) => p,
        }
    }
}

/// Up to `q.max` entries of `items` (sorted by key, already past the marker) under the prefix,
/// keys sharing a common prefix rolled into one; and whether more follow.
fn page<'a, T>(
    items: impl IntoIterator<Item = (&'a str, T)>,
    q: &ListQuery,
) -> (Vec<Entry<'a, T>>, bool) {
    let mut out: Vec<Entry<'a, T>> = Vec::new();
    for (key, item) in items {
        if !key.starts_with(q.prefix.as_str()) {
            continue;
        }
        let entry = match q.common_prefix(key) {
            Some(p) => {
                if matches!(out.last(), Some(Entry::Prefix(last)) if last == p) {
                    continue;
                }
                Entry::Prefix(p.to_string())
            }
            None => Entry::Item(key, item),
        };
        if out.len() == q.max {
            return (out, true);
        }
        out.push(entry);
    }
    (out, false)
}

fn common_prefixes<T>(x: &mut Xml, q: &ListQuery, entries: &[Entry<'_, T>]) {
    for entry in entries {
        if let Entry::Prefix(p) = entry {
            x.node("CommonPrefixes", |x| {
                x.leaf("Prefix", q.encode(p));
            });
        }
    }
}

/// A non-negative integer parameter, `default` when absent.
fn number(ctx: &Ctx<'_>, name: &str, default: usize) -> Result<usize, S3Error> {
    match ctx.get(name) {
        None => Ok(default),
        Some(v) => v.parse::<usize>().map_err(|_| {
            S3Error::invalid_argument(
                format!("Provided {name} not an integer or within integer range"),
                name,
                v,
            )
        }),
    }
}

const TOKEN_TAG: &str = "sim-v2:";

/// An opaque continuation token for "after `name`".
fn encode_token(name: &str) -> String {
    STANDARD.encode(format!("{TOKEN_TAG}{name}"))
}

fn decode_token(token: &str) -> Option<String> {
    let bytes = STANDARD.decode(token).ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix(TOKEN_TAG)
        .map(str::to_string)
}

fn tagging(tags: &[data::Tag]) -> Answer {
    Answer::xml(Xml::document("Tagging", true, |x| {
        x.node("TagSet", |x| {
            for t in tags {
                x.node("Tag", |x| {
                    x.leaf("Key", &t.key).leaf("Value", &t.value);
                });
            }
        });
    }))
}

/// `<Filter><Prefix>p</Prefix></Filter>` or the older `<Prefix>p</Prefix>`.
fn prefix_or_filter(x: &mut Xml, prefix: &str, filter: bool) {
    if filter {
        x.node("Filter", |x| {
            x.leaf("Prefix", prefix);
        });
    } else {
        x.leaf("Prefix", prefix);
    }
}

fn no_such_key(key: &str) -> S3Error {
    S3Error::not_found("NoSuchKey", "The specified key does not exist.").detail("Key", key)
}

/// Whether a policy lets anyone in: an unconditional `Allow` for the principal `*`.
fn is_public(policy: &Value) -> bool {
    let anyone = |p: &Value| match p {
        Value::String(s) => s == "*",
        Value::Array(a) => a.iter().any(|v| v == "*"),
        _ => false,
    };
    policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| {
            s["Effect"] == "Allow"
                && s.get("Condition").is_none()
                && (anyone(&s["Principal"]) || anyone(&s["Principal"]["AWS"]))
        })
}

/// Whether an `If-Match`/`If-None-Match` value names the entity tag (or is `*`).
fn etag_matches(wanted: &str, etag: &str) -> bool {
    let bare = etag.trim_matches('"');
    wanted
        .split(',')
        .map(str::trim)
        .any(|w| w == "*" || w.trim_start_matches("W/").trim_matches('"') == bare)
}

/// The first and last byte of a `Range: bytes=...` header for an object of `size` bytes;
/// `None` for a header S3 ignores (other units, several ranges, bad syntax), `Err` for a range
/// outside the object.
fn byte_range(value: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        let suffix: u64 = last.parse().ok()?;
        if suffix == 0 {
            return Some(Err(()));
        }
        (size.saturating_sub(suffix), size.checked_sub(1)?)
    } else {
        let first: u64 = first.parse().ok()?;
        let last = if last.is_empty() {
            u64::MAX
        } else {
            last.parse().ok()?
        };
        if last < first {
            return None;
        }
        if first >= size {
            return Some(Err(()));
        }
        (first, last.min(size - 1))
    };
    Some(Ok(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_decode_keys_in_one_or_several_segments() {
        let t = Target::parse("/s3/de/shop-backups/db%2Flatest.sql.gz").expect("target");
        assert_eq!(
            (t.region.as_str(), t.bucket.as_deref(), t.key.as_deref()),
            ("de", Some("shop-backups"), Some("db/latest.sql.gz"))
        );
        let t = Target::parse("/s3/de/shop-backups/db/latest.sql.gz").expect("target");
        assert_eq!(t.key.as_deref(), Some("db/latest.sql.gz"));
        assert_eq!(t.resource(), "/shop-backups/db/latest.sql.gz");
        let t = Target::parse("/s3/de/shop-backups/").expect("target");
        assert_eq!((t.bucket.as_deref(), t.key), (Some("shop-backups"), None));
        let t = Target::parse("/s3/de").expect("target");
        assert_eq!((t.region.as_str(), t.bucket), ("de", None));
        assert!(Target::parse("/s3/de/b/%FF").is_err());
        assert!(Target::parse("/s3/de//k").is_err());
        assert!(is_s3("/s3") && is_s3("/s3/de") && !is_s3("/s3-management/regions"));
    }

    #[test]
    fn ranges_follow_http() {
        assert_eq!(byte_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(byte_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(byte_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(byte_range("bytes=-500", 100), Some(Ok((0, 99))));
        assert_eq!(byte_range("bytes=50-5000", 100), Some(Ok((50, 99))));
        assert_eq!(byte_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(byte_range("bytes=0-1,5-6", 100), None);
        assert_eq!(byte_range("items=0-1", 100), None);
        assert_eq!(byte_range("bytes=x-1", 100), None);
    }

    #[test]
    fn tokens_round_trip_and_refuse_forgeries() {
        assert_eq!(
            decode_token(&encode_token("2026/11/05/")).as_deref(),
            Some("2026/11/05/")
        );
        assert_eq!(decode_token("bm90LWEtdG9rZW4="), None);
        assert_eq!(decode_token("%%%"), None);
    }

    #[test]
    fn public_policies_allow_anyone_unconditionally() {
        let public =
            serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["*"]}}]});
        let conditional = serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Condition": {}}]});
        let named = serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam:::user/1"]}}]});
        assert!(is_public(&public));
        assert!(!is_public(&conditional));
        assert!(!is_public(&named));
    }
}
