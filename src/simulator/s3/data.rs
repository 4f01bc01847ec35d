//! The account's buckets and objects, loaded from `s3.json`: bucket settings as S3 answers them,
//! object versions (newest first per key) with their delete markers, and multipart uploads in
//! progress. Dates may be relative to the start day (`${today-3}T02:10:00Z`, as in the
//! catalog's files); a `series` generates one object per day (daily logs), a `replicaOf`
//! bucket holds copies of another bucket's versions.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::simulator::catalog::relative_dates;
use crate::tools::behaviour::Day;

/// Seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time(pub i64);

const DAY: i64 = 86_400;

impl Time {
    pub fn now() -> Time {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Time(i64::try_from(secs).unwrap_or(0))
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` (fractions of a second are ignored).
    pub fn parse(text: &str) -> Option<Time> {
        let (date, rest) = text.split_once('T')?;
        let clock = rest.strip_suffix('Z')?;
        let clock = clock.split_once('.').map_or(clock, |(whole, _)| whole);
        Time::from_parts(date, clock)
    }

    /// The basic format of `x-amz-date`: `YYYYMMDDTHHMMSSZ`.
    pub fn parse_basic(text: &str) -> Option<Time> {
        let b = text.as_bytes();
        if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' || !text.is_ascii() {
            return None;
        }
        let date = format!("{}-{}-{}", &text[0..4], &text[4..6], &text[6..8]);
        let clock = format!("{}:{}:{}", &text[9..11], &text[11..13], &text[13..15]);
        Time::from_parts(&date, &clock)
    }

    fn from_parts(date: &str, clock: &str) -> Option<Time> {
        let day = Day::parse(date)?;
        let mut parts = clock.split(':');
        let mut field = |max: i64| -> Option<i64> {
            let text = parts.next()?;
            let n: i64 = text.parse().ok()?;
            (text.len() == 2 && (0..=max).contains(&n)).then_some(n)
        };
        let (h, m, s) = (field(23)?, field(59)?, field(60)?);
        if parts.next().is_some() {
            return None;
        }
        Some(Time(day.0 * DAY + h * 3600 + m * 60 + s))
    }

    pub fn plus_days(self, days: i64) -> Time {
        Time(self.0 + days * DAY)
    }

    fn day(self) -> Day {
        Day(self.0.div_euclid(DAY))
    }

    fn clock(self) -> (i64, i64, i64) {
        let s = self.0.rem_euclid(DAY);
        (s / 3600, s / 60 % 60, s % 60)
    }
}

/// `2026-11-29T22:15:00.000Z`, as S3 writes times in XML.
pub fn iso8601(t: Time) -> String {
    let (h, m, s) = t.clock();
    format!("{}T{h:02}:{m:02}:{s:02}.000Z", t.day())
}

/// `Sun, 29 Nov 2026 22:15:00 GMT`, as S3 writes `Last-Modified`.
pub fn http_date(t: Time) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let day = t.day();
    let date = day.to_string();
    let month = date
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .unwrap_or(&"Jan");
    let weekday = WEEKDAYS[usize::try_from(day.0.rem_euclid(7)).unwrap_or(0)];
    let (h, m, s) = t.clock();
    format!(
        "{weekday}, {} {month} {} {h:02}:{m:02}:{s:02} GMT",
        date.get(8..10).unwrap_or("01"),
        date.get(..4).unwrap_or("1970")
    )
}

/// The owner of every bucket and object (the contract's canonical user).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Owner {
    pub id: String,
    pub display_name: String,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CorsRule {
    pub id: Option<String>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Website {
    pub index_document: String,
    pub error_document: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LifecycleRule {
    pub id: String,
    /// The prefix the rule applies to, written as `<Filter><Prefix>` when `filter`, else as the
    /// older `<Prefix>`.
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub filter: bool,
    pub status: String,
    pub expiration_days: Option<u32>,
    pub noncurrent_days: Option<u32>,
    pub abort_incomplete_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Replication {
    pub role: String,
    pub rules: Vec<ReplicationRule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplicationRule {
    pub id: String,
    pub priority: Option<u32>,
    pub status: String,
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub filter: bool,
    /// The destination bucket's ARN, `arn:aws:s3:::<bucket>`.
    pub destination: String,
    pub storage_class: Option<String>,
}

/// Object Lock's default retention of new versions.
#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefaultRetention {
    pub mode: String,
    pub days: u32,
}

#[derive(Clone)]
pub struct Retention {
    pub mode: String,
    pub until: Time,
}

pub struct Bucket {
    pub name: String,
    pub region: String,
    pub created: Time,
    /// `Enabled` or `Suspended`; `None` when versioning was never enabled.
    pub versioning: Option<String>,
    pub object_lock: Option<DefaultRetention>,
    pub cors: Option<Vec<CorsRule>>,
    /// The policy document as stored.
    pub policy: Option<Value>,
    pub public_access_block: Option<PublicAccessBlock>,
    pub tags: Option<Vec<Tag>>,
    pub website: Option<Website>,
    /// The default SSE algorithm (`AES256`).
    pub encryption: Option<String>,
    pub lifecycle: Option<Vec<LifecycleRule>>,
    pub replication: Option<Replication>,
    /// The bucket this one is the replication destination of.
    pub replica_of: Option<String>,
    /// Sorted by key, newest version first within a key.
    pub versions: Vec<Version>,
    /// Sorted by key, then upload id.
    pub uploads: Vec<Upload>,
}

impl Bucket {
    /// The current version of each key that is not deleted.
    pub fn current(&self) -> impl Iterator<Item = (&Version, &Object)> {
        self.versions
            .iter()
            .filter(|v| v.is_latest)
            .filter_map(|v| v.object.as_ref().map(|o| (v, o)))
    }

    /// The newest version of `key` (it may be a delete marker), or the version `version_id`.
    pub fn version(&self, key: &str, version_id: Option<&str>) -> Option<&Version> {
        self.versions
            .iter()
            .find(|v| v.key == key && version_id.map_or(v.is_latest, |id| v.version_id == id))
    }
}

pub struct Version {
    pub key: String,
    /// `null` in a bucket that was never versioned.
    pub version_id: String,
    pub last_modified: Time,
    pub is_latest: bool,
    /// `None` for a delete marker.
    pub object: Option<Object>,
}

#[derive(Clone)]
pub struct Object {
    pub size: u64,
    /// Quoted, as S3 sends it.
    pub etag: String,
    pub content_type: String,
    pub cache_control: Option<String>,
    /// The content when the data gives it; otherwise generated text of `size` bytes.
    pub body: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub tags: Vec<Tag>,
    pub retention: Option<Retention>,
    pub legal_hold: Option<String>,
}

pub struct Upload {
    pub key: String,
    pub upload_id: String,
    pub initiated: Time,
    pub parts: Vec<Part>,
}

pub struct Part {
    pub number: u32,
    pub size: u64,
    pub last_modified: Time,
    pub etag: String,
}

pub struct Account {
    pub owner: Owner,
    /// In the order of the data file.
    pub buckets: Vec<Bucket>,
}

impl Account {
    pub fn bucket(&self, name: &str) -> Option<&Bucket> {
        self.buckets.iter().find(|b| b.name == name)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawAccount {
    owner: Owner,
    buckets: Vec<RawBucket>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawBucket {
    name: String,
    region: String,
    created: String,
    versioning: Option<String>,
    object_lock: Option<DefaultRetention>,
    cors: Option<Vec<CorsRule>>,
    policy: Option<Value>,
    public_access_block: Option<PublicAccessBlock>,
    tags: Option<Vec<Tag>>,
    website: Option<Website>,
    encryption: Option<String>,
    lifecycle: Option<Vec<LifecycleRule>>,
    replication: Option<Replication>,
    /// The bucket whose versions (not its delete markers) this one holds copies of.
    replica_of: Option<String>,
    #[serde(default)]
    objects: Vec<RawObject>,
    #[serde(default)]
    series: Vec<Series>,
    #[serde(default)]
    uploads: Vec<RawUpload>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawObject {
    key: String,
    last_modified: String,
    /// Given only to pin an id; versioned buckets otherwise get stable generated ids.
    version_id: Option<String>,
    #[serde(default)]
    delete_marker: bool,
    size: Option<u64>,
    body: Option<String>,
    content_type: Option<String>,
    cache_control: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    tags: Vec<Tag>,
    retention: Option<RawRetention>,
    legal_hold: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRetention {
    mode: String,
    retain_until: String,
}

/// One object per day from `from` to `to`: `key` with `{yyyy}`, `{mm}`, `{dd}` of the day,
/// written at `at` (UTC) the next day, of `size` plus a stable part of `spread` bytes.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Series {
    from: String,
    to: String,
    key: String,
    at: String,
    content_type: String,
    size: u64,
    #[serde(default)]
    spread: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawUpload {
    key: String,
    upload_id: String,
    initiated: String,
    /// Each part's size and time, numbered from 1.
    parts: Vec<RawPart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPart {
    size: u64,
    last_modified: String,
}

/// The account of `json`, with dates relative to `today`.
pub fn load(json: &str, today: Day) -> Result<Account, String> {
    let json = relative_dates(json, today)?;
    let raw: RawAccount = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    let mut buckets = Vec::new();
    let mut replicas = Vec::new();
    for b in raw.buckets {
        let context = b.name.clone();
        let bucket = bucket(b).map_err(|e| format!("bucket {context}: {e}"))?;
        if bucket.replica_of.is_some() {
            replicas.push(bucket);
        } else {
            buckets.push(bucket);
        }
    }
    for mut replica in replicas {
        let source_name = replica.replica_of.as_deref().unwrap_or_default();
        let source = buckets
            .iter()
            .find(|b| b.name == source_name)
            .ok_or_else(|| format!("bucket {}: no bucket {source_name}", replica.name))?;
        replica.versions = source
            .versions
            .iter()
            .filter_map(|v| {
                let object = v.object.clone()?;
                Some(Version {
                    key: v.key.clone(),
                    version_id: v.version_id.clone(),
                    last_modified: v.last_modified,
                    is_latest: false,
                    object: Some(object),
                })
            })
            .collect();
        mark_latest(&mut replica.versions);
        buckets.push(replica);
    }
    Ok(Account {
        owner: raw.owner,
        buckets,
    })
}

fn time(text: &str) -> Result<Time, String> {
    Time::parse(text).ok_or_else(|| format!("bad time {text:?} (want YYYY-MM-DDTHH:MM:SSZ)"))
}

fn bucket(b: RawBucket) -> Result<Bucket, String> {
    if let Some(v) = &b.versioning
        && v != "Enabled"
        && v != "Suspended"
    {
        return Err(format!("versioning {v:?} is neither Enabled nor Suspended"));
    }
    if b.object_lock.is_some() && b.versioning.as_deref() != Some("Enabled") {
        return Err("Object Lock needs versioning Enabled".into());
    }
    let versioned = b.versioning.is_some();
    let mut raw_objects = b.objects;
    for s in &b.series {
        raw_objects.extend(series(s)?);
    }
    let mut versions = Vec::with_capacity(raw_objects.len());
    for o in raw_objects {
        let context = o.key.clone();
        versions.push(
            version(&b.name, versioned, b.object_lock.as_ref(), o)
                .map_err(|e| format!("object {context}: {e}"))?,
        );
    }
    mark_latest(&mut versions);
    if !versioned && versions.iter().any(|v| !v.is_latest) {
        return Err("an unversioned bucket holds one version per key".into());
    }
    let mut uploads = Vec::new();
    for u in b.uploads {
        let mut parts = Vec::new();
        for (i, p) in u.parts.iter().enumerate() {
            let number = u32::try_from(i + 1).map_err(|e| e.to_string())?;
            parts.push(Part {
                number,
                size: p.size,
                last_modified: time(&p.last_modified)?,
                etag: etag(&format!("{}/{}/{number}", u.upload_id, p.size)),
            });
        }
        uploads.push(Upload {
            initiated: time(&u.initiated)?,
            key: u.key,
            upload_id: u.upload_id,
            parts,
        });
    }
    uploads.sort_by(|a, b| (&a.key, &a.upload_id).cmp(&(&b.key, &b.upload_id)));
    Ok(Bucket {
        created: time(&b.created)?,
        name: b.name,
        region: b.region,
        versioning: b.versioning,
        object_lock: b.object_lock,
        cors: b.cors,
        policy: b.policy,
        public_access_block: b.public_access_block,
        tags: b.tags,
        website: b.website,
        encryption: b.encryption,
        lifecycle: b.lifecycle,
        replication: b.replication,
        replica_of: b.replica_of,
        versions,
        uploads,
    })
}

/// Sorts by key, newest first, and marks the newest version of each key.
fn mark_latest(versions: &mut [Version]) {
    versions.sort_by(|a, b| {
        a.key
            .cmp(&b.key)
            .then(b.last_modified.cmp(&a.last_modified))
    });
    let mut previous: Option<String> = None;
    for v in versions.iter_mut() {
        v.is_latest = previous.as_deref() != Some(v.key.as_str());
        if v.is_latest {
            previous = Some(v.key.clone());
        }
    }
}

fn version(
    bucket: &str,
    versioned: bool,
    lock: Option<&DefaultRetention>,
    o: RawObject,
) -> Result<Version, String> {
    if o.key.is_empty() {
        return Err("an empty key".into());
    }
    let last_modified = time(&o.last_modified)?;
    let version_id = match (o.version_id, versioned) {
        (Some(id), _) => id,
        (None, true) => digest_id(&format!("{bucket}\n{}\n{}", o.key, last_modified.0)),
        (None, false) => "null".to_string(),
    };
    if o.delete_marker {
        return Ok(Version {
            key: o.key,
            version_id,
            last_modified,
            is_latest: false,
            object: None,
        });
    }
    for (name, value) in &o.metadata {
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok || !value.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return Err(format!("metadata {name:?} is not a valid header"));
        }
    }
    let size = match (&o.body, o.size) {
        (Some(body), _) => body.len() as u64,
        (None, Some(size)) => size,
        (None, None) => return Err("needs a size or a body".into()),
    };
    let etag = etag(&match &o.body {
        Some(body) => body.clone(),
        None => format!("{bucket}/{}/{version_id}/{size}", o.key),
    });
    let retention = match (o.retention, lock) {
        (Some(r), _) => Some(Retention {
            mode: r.mode,
            until: time(&r.retain_until)?,
        }),
        (None, Some(lock)) => Some(Retention {
            mode: lock.mode.clone(),
            until: last_modified.plus_days(i64::from(lock.days)),
        }),
        (None, None) => None,
    };
    Ok(Version {
        key: o.key,
        version_id,
        last_modified,
        is_latest: false,
        object: Some(Object {
            size,
            etag,
            content_type: o
                .content_type
                .unwrap_or_else(|| "application/octet-stream".into()),
            cache_control: o.cache_control,
            body: o.body,
            metadata: o.metadata,
            tags: o.tags,
            retention,
            legal_hold: o.legal_hold,
        }),
    })
}

fn series(s: &Series) -> Result<Vec<RawObject>, String> {
    let (from, to) = Day::parse(&s.from)
        .zip(Day::parse(&s.to))
        .ok_or_else(|| format!("bad series dates {} .. {}", s.from, s.to))?;
    Ok((from.0..=to.0)
        .map(|d| {
            let date = Day(d).to_string();
            let key = s
                .key
                .replace("{yyyy}", date.get(..4).unwrap_or_default())
                .replace("{mm}", date.get(5..7).unwrap_or_default())
                .replace("{dd}", date.get(8..10).unwrap_or_default());
            let spread = match s.spread {
                0 => 0,
                n => u64::from_le_bytes(stable_bytes(&key)) % n,
            };
            RawObject {
                last_modified: format!("{}T{}Z", Day(d + 1), s.at),
                size: Some(s.size + spread),
                content_type: Some(s.content_type.clone()),
                key,
                version_id: None,
                delete_marker: false,
                body: None,
                cache_control: None,
                metadata: BTreeMap::new(),
                tags: Vec::new(),
                retention: None,
                legal_hold: None,
            }
        })
        .collect())
}

fn stable_bytes(text: &str) -> [u8; 8] {
    let digest = Sha256::digest(text.as_bytes());
    let mut out = [0; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// A quoted 32-hex-digit entity tag, stable for `seed`.
fn etag(seed: &str) -> String {
    let digest = hex::encode(Sha256::digest(seed.as_bytes()));
    format!("\"{}\"", &digest[..32])
}

/// A version id in S3's style: 32 URL-safe characters, stable for `seed`.
fn digest_id(seed: &str) -> String {
    let id = URL_SAFE_NO_PAD.encode(Sha256::digest(seed.as_bytes()));
    id.chars().take(32).collect()
}

/// `size` bytes of readable text standing in for an object's content.
pub fn filler(key: &str, version_id: &str, size: u64) -> Vec<u8> {
    let line = format!("simulated content of {key} (version {version_id})\n");
    line.bytes()
        .cycle()
        .take(usize::try_from(size).unwrap_or(usize::MAX))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_and_format() {
        let t = Time::parse("2026-11-29T22:15:00Z").expect("time");
        assert_eq!(Time::parse_basic("20261129T221500Z"), Some(t));
        assert_eq!(Time::parse("2026-11-29T22:15:00.000Z"), Some(t));
        assert_eq!(iso8601(t), "2026-11-29T22:15:00.000Z");
        assert_eq!(http_date(t), "Sun, 29 Nov 2026 22:15:00 GMT");
        assert_eq!(
            http_date(Time::parse("2024-02-29T00:00:09Z").expect("leap day")),
            "Thu, 29 Feb 2024 00:00:09 GMT"
        );
        for bad in [
            "20261129T221500",
            "2026112XT221500Z",
            "20261131T221500Z",
            "20261129T241500Z",
            "2026-11-29T22:15Z",
            "2026-11-29 22:15:00Z",
            "",
        ] {
            assert_eq!(Time::parse_basic(bad).or(Time::parse(bad)), None, "{bad}");
        }
    }

    #[test]
    fn filler_has_the_size() {
        assert_eq!(filler("k", "null", 1000).len(), 1000);
        assert!(filler("k", "null", 0).is_empty());
    }
}
