//! Optional request signing, for keys created with `--require-signature`.
//!
//! A signed request carries `X-MCP-Timestamp` (Unix seconds) and `X-MCP-Signature`: the
//! lower-case hex HMAC-SHA256 of `"{timestamp}.{raw body}"`, keyed with the API key text
//! sent as the bearer token of the same request. A captured request cannot be replayed (each
//! signature is accepted once) nor altered (the body is signed), and goes stale after
//! [`MAX_SKEW_SECS`].
//!
//! Only lower-case hex is accepted: one spelling per signature, so the replay cache cannot
//! be side-stepped by changing letter case.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::key::{ApiKey, KEY_LEN};

/// How far a request's timestamp may be from the server's clock, either way.
pub const MAX_SKEW_SECS: i64 = 300;

/// The header with the signing time.
pub const TIMESTAMP_HEADER: &str = "X-MCP-Timestamp";
/// The header with the signature.
pub const SIGNATURE_HEADER: &str = "X-MCP-Signature";

/// How long a seen signature is remembered: longer than any timestamp stays acceptable.
pub(crate) const REPLAY_WINDOW_SECS: i64 = 2 * MAX_SKEW_SECS;
/// Signatures remembered at most; past that the oldest are forgotten first.
const REPLAY_CAPACITY: usize = 200_000;

type HmacSha256 = Hmac<Sha256>;

/// HMAC pads a key shorter than the hash's block (64 bytes) with zeros; every API key is.
const _: () = assert!(KEY_LEN <= 64);

fn mac(key: &ApiKey, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let text = key.expose().as_bytes();
    let mut block = [0u8; 64];
    let used = text.len().min(block.len());
    block[..used].copy_from_slice(&text[..used]);
    let mut mac = <HmacSha256 as KeyInit>::new(&block.into());
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-MCP-Signature` value for a request body sent at `timestamp`.
pub fn sign(key: &ApiKey, timestamp: i64, body: &[u8]) -> String {
    hex::encode(
        mac(key, &timestamp.to_string(), body)
            .finalize()
            .into_bytes(),
    )
}

/// Checks a request's signature headers against its body and the key it presented, and
/// returns the signature. Whether it was used before is the caller's question to its replay
/// cache ([`crate::access::limits::Limits::first_use`]): ask only when this succeeds, so
/// that failed attempts are not remembered.
pub fn verify(
    key: &ApiKey,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<[u8; 32], SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::Missing {
        header: TIMESTAMP_HEADER,
    })?;
    let signature = signature.ok_or(SignatureError::Missing {
        header: SIGNATURE_HEADER,
    })?;
    if timestamp.is_empty()
        || timestamp.len() > 18
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(SignatureError::BadTimestamp);
    }
    let signed_at: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let skew_secs = signed_at.saturating_sub(now);
    if skew_secs.abs() > MAX_SKEW_SECS {
        return Err(SignatureError::Stale { skew_secs });
    }
    let mut presented = [0u8; 32];
    let lower_hex = signature.len() == 64
        && signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !lower_hex || hex::decode_to_slice(signature, &mut presented).is_err() {
        return Err(SignatureError::Mismatch);
    }
    mac(key, timestamp, body)
        .verify_slice(&presented)
        .map_err(|_| SignatureError::Mismatch)?;
    Ok(presented)
}

/// Why a request's signature was not accepted. No message contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "this key requires signed requests and the {header} header is missing: send \
         X-MCP-Timestamp (the current Unix time in seconds) and X-MCP-Signature (the \
         lower-case hex HMAC-SHA256 of \"<timestamp>.<raw request body>\", keyed with the API key)"
    )]
    Missing { header: &'static str },
    #[error("X-MCP-Timestamp must be the current Unix time in whole seconds (digits only)")]
    BadTimestamp,
    #[error(
        "X-MCP-Timestamp is {} seconds {} the server's clock; at most {} seconds are \
         accepted: sign each request when sending it, and check the client's clock",
        .skew_secs.unsigned_abs(),
        if *.skew_secs > 0 { "ahead of" } else { "behind" },
        MAX_SKEW_SECS
    )]
    Stale { skew_secs: i64 },
    #[error(
        "X-MCP-Signature does not match the request: it must be 64 lower-case hex digits, \
         the HMAC-SHA256 of \"<X-MCP-Timestamp>.<raw request body>\" (the exact bytes sent), \
         keyed with the API key"
    )]
    Mismatch,
    #[error(
        "this signed request was already received once; sign each request anew (a new \
         X-MCP-Timestamp, and a new JSON-RPC id for a repeated call)"
    )]
    Replayed,
}

/// Signatures seen in the last `2 × MAX_SKEW_SECS`, so each is accepted once.
#[derive(Debug)]
pub struct ReplayCache {
    inner: Mutex<Seen>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Seen {
    /// Signature → when it may be forgotten.
    until: HashMap<[u8; 32], i64>,
    /// The same, in the order they were seen.
    order: VecDeque<([u8; 32], i64)>,
}

impl Default for ReplayCache {
    fn default() -> Self {
        ReplayCache::new()
    }
}

impl ReplayCache {
    pub fn new() -> ReplayCache {
        ReplayCache::with_capacity(REPLAY_CAPACITY)
    }

    /// A cache of at most `capacity` signatures (at least 1).
    pub fn with_capacity(capacity: usize) -> ReplayCache {
        ReplayCache {
            inner: Mutex::new(Seen::default()),
            capacity: capacity.max(1),
        }
    }

    /// Remembers `signature` unless it was seen before and is still remembered; expired
    /// ones are dropped first. `false` when it is a replay.
    pub(crate) fn insert_if_new(&self, signature: [u8; 32], now: i64) -> bool {
        let mut seen = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let Seen { until, order } = &mut *seen;
        while let Some(&(old, expires)) = order.front() {
            if expires > now && order.len() < self.capacity {
                break;
            }
            order.pop_front();
            if until.get(&old) == Some(&expires) {
                until.remove(&old);
            }
        }
        if until.get(&signature).is_some_and(|&expires| expires > now) {
            return false;
        }
        let expires = now.saturating_add(REPLAY_WINDOW_SECS);
        until.insert(signature, expires);
        order.push_back((signature, expires));
        true
    }

    /// Signatures remembered now.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .until
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const BODY: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;

    fn check(
        key: &ApiKey,
        ts: Option<&str>,
        sig: Option<&str>,
        body: &[u8],
        now: i64,
        replay: &ReplayCache,
    ) -> Result<(), SignatureError> {
        let signed = verify(key, ts, sig, body, now)?;
        if replay.insert_if_new(signed, now) {
            Ok(())
        } else {
            Err(SignatureError::Replayed)
        }
    }

    #[test]
    fn a_good_signature_is_accepted_once() {
        let key = ApiKey::generate();
        let replay = ReplayCache::new();
        let sig = sign(&key, NOW, BODY);
        assert_eq!(sig.len(), 64);
        let ts = NOW.to_string();
        assert_eq!(
            check(&key, Some(&ts), Some(&sig), BODY, NOW, &replay),
            Ok(())
        );
        assert_eq!(
            check(&key, Some(&ts), Some(&sig), BODY, NOW + 1, &replay),
            Err(SignatureError::Replayed)
        );
        assert_eq!(replay.len(), 1);
    }

    #[test]
    fn the_signature_is_the_documented_hmac() {
        let key = ApiKey::generate();
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(key.expose().as_bytes()).expect("any length");
        mac.update(format!("{NOW}.").as_bytes());
        mac.update(BODY);
        assert_eq!(
            sign(&key, NOW, BODY),
            hex::encode(mac.finalize().into_bytes())
        );
    }

    #[test]
    fn a_changed_body_key_or_timestamp_does_not_match() {
        let key = ApiKey::generate();
        let replay = ReplayCache::new();
        let sig = sign(&key, NOW, BODY);
        let ts = NOW.to_string();
        let other_body = br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
        assert_eq!(
            check(&key, Some(&ts), Some(&sig), other_body, NOW, &replay),
            Err(SignatureError::Mismatch)
        );
        let other_key = ApiKey::generate();
        assert_eq!(
            check(&other_key, Some(&ts), Some(&sig), BODY, NOW, &replay),
            Err(SignatureError::Mismatch)
        );
        let later = (NOW + 1).to_string();
        assert_eq!(
            check(&key, Some(&later), Some(&sig), BODY, NOW, &replay),
            Err(SignatureError::Mismatch)
        );
        for bad in ["", "abc", &sig[..63], &format!("{sig}0"), &"z".repeat(64)] {
            assert_eq!(
                check(&key, Some(&ts), Some(bad), BODY, NOW, &replay),
                Err(SignatureError::Mismatch),
                "{bad}"
            );
        }
        // Failed checks are not remembered: the right signature still goes through.
        assert!(replay.is_empty());
        assert_eq!(
            check(&key, Some(&ts), Some(&sig), BODY, NOW, &replay),
            Ok(())
        );
    }

    #[test]
    fn upper_case_hex_is_refused() {
        let key = ApiKey::generate();
        let replay = ReplayCache::new();
        let sig = sign(&key, NOW, BODY);
        let upper = sig.to_ascii_uppercase();
        assert_ne!(upper, sig);
        let ts = NOW.to_string();
        let err = check(&key, Some(&ts), Some(&upper), BODY, NOW, &replay).expect_err("upper");
        assert_eq!(err, SignatureError::Mismatch);
        assert!(err.to_string().contains("lower-case hex"));
    }

    #[test]
    fn stale_timestamps_are_refused_both_ways() {
        let key = ApiKey::generate();
        let replay = ReplayCache::new();
        for (offset, ok) in [(-301, false), (-300, true), (300, true), (301, false)] {
            let ts = NOW + offset;
            let sig = sign(&key, ts, BODY);
            let result = check(&key, Some(&ts.to_string()), Some(&sig), BODY, NOW, &replay);
            if ok {
                assert_eq!(result, Ok(()), "{offset}");
            } else {
                assert_eq!(result, Err(SignatureError::Stale { skew_secs: offset }));
            }
        }
        let behind = SignatureError::Stale { skew_secs: -301 }.to_string();
        assert!(behind.contains("301 seconds behind"), "{behind}");
        assert!(behind.contains("at most 300 seconds"), "{behind}");
        let ahead = SignatureError::Stale { skew_secs: 400 }.to_string();
        assert!(ahead.contains("400 seconds ahead of"), "{ahead}");
    }

    #[test]
    fn missing_and_bad_headers_are_named() {
        let key = ApiKey::generate();
        let replay = ReplayCache::new();
        let sig = sign(&key, NOW, BODY);
        let ts = NOW.to_string();
        let no_ts = check(&key, None, Some(&sig), BODY, NOW, &replay).expect_err("missing");
        assert_eq!(
            no_ts,
            SignatureError::Missing {
                header: "X-MCP-Timestamp"
            }
        );
        assert!(
            no_ts
                .to_string()
                .contains("X-MCP-Timestamp header is missing")
        );
        assert!(no_ts.to_string().contains("HMAC-SHA256"));
        let no_sig = check(&key, Some(&ts), None, BODY, NOW, &replay).expect_err("missing");
        assert!(
            no_sig
                .to_string()
                .contains("X-MCP-Signature header is missing")
        );

        for bad in [
            "",
            "-5",
            "1.8e9",
            " 1800000000",
            "18000000000000000000000",
            "now",
        ] {
            assert_eq!(
                check(&key, Some(bad), Some(&sig), BODY, NOW, &replay),
                Err(SignatureError::BadTimestamp),
                "{bad}"
            );
        }
    }

    #[test]
    fn messages_never_contain_the_key() {
        let key = ApiKey::generate();
        let secret = &key.expose()[12..];
        for err in [
            SignatureError::Missing {
                header: SIGNATURE_HEADER,
            },
            SignatureError::BadTimestamp,
            SignatureError::Stale { skew_secs: 999 },
            SignatureError::Mismatch,
            SignatureError::Replayed,
        ] {
            assert!(!err.to_string().contains(secret));
            assert!(!format!("{err:?}").contains(secret));
        }
    }

    #[test]
    fn the_replay_cache_forgets_after_the_window_and_stays_bounded() {
        let cache = ReplayCache::with_capacity(3);
        assert!(cache.insert_if_new([1; 32], NOW));
        assert!(!cache.insert_if_new([1; 32], NOW + REPLAY_WINDOW_SECS - 1));
        assert!(cache.insert_if_new([2; 32], NOW + 1));
        // Expired: dropped when the next one comes in.
        assert!(cache.insert_if_new([3; 32], NOW + REPLAY_WINDOW_SECS));
        assert_eq!(cache.len(), 2);
        assert!(cache.insert_if_new([1; 32], NOW + REPLAY_WINDOW_SECS));
        // Full: the oldest goes first.
        assert!(cache.insert_if_new([4; 32], NOW + REPLAY_WINDOW_SECS + 1));
        assert_eq!(cache.len(), 3);
        assert!(!cache.insert_if_new([4; 32], NOW + REPLAY_WINDOW_SECS + 2));
        assert!(cache.insert_if_new([2; 32], NOW + REPLAY_WINDOW_SECS + 2));
    }
}
