//! The API key format and its hash.
//!
//! A key is `mcp_sk_`, 38 random base62 characters (about 226 bits) and 6 base62 characters
//! of the CRC-32 of the random part. The checksum lets a mistyped or cut-short key be told
//! apart from an unknown one without a database lookup. The store keeps only the SHA-256 of
//! the whole key string ([`KeyHash`]) and its first characters ([`ApiKey::display_prefix`]).

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What every key starts with.
pub const KEY_PREFIX: &str = "mcp_sk_";

/// The characters of the random part and the checksum.
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random characters in a key.
const RANDOM_LEN: usize = 38;
/// Checksum characters in a key (62^6 > 2^32).
const CHECK_LEN: usize = 6;
/// Characters in a whole key.
pub const KEY_LEN: usize = KEY_PREFIX.len() + RANDOM_LEN + CHECK_LEN;
/// Characters of a key that may be shown and stored: the prefix and 5 random characters.
const DISPLAY_PREFIX_LEN: usize = 12;
/// Random characters in a key id.
const KEY_ID_RANDOM_LEN: usize = 12;

/// An API key: the secret itself.
///
/// `Debug` shows only the display prefix; there is no `Display`, so the key cannot end up in
/// a formatted message by accident. [`ApiKey::expose`] is the one way to the text.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// A new random key.
    ///
    /// # Panics
    ///
    /// When the operating system's random source cannot be read. [`ApiKey::try_generate`]
    /// reports that as an error instead; the key stores use it.
    pub fn generate() -> ApiKey {
        match ApiKey::try_generate() {
            Ok(key) => key,
            Err(e) => panic!("{e}"),
        }
    }

    /// A new random key, or why none could be made.
    pub fn try_generate() -> Result<ApiKey, RandomUnavailable> {
        let random = random_base62(RANDOM_LEN)?;
        let check = encode_checksum(crc32(random.as_bytes()));
        let mut text = String::with_capacity(KEY_LEN);
        text.push_str(KEY_PREFIX);
        text.push_str(&random);
        text.extend(check.iter().map(|&b| char::from(b)));
        Ok(ApiKey(text))
    }

    /// Checks a presented key's prefix, length, characters and checksum (surrounding
    /// whitespace is ignored).
    pub fn parse(presented: &str) -> Result<ApiKey, MalformedKey> {
        let text = presented.trim();
        let fail = |reason| Err(MalformedKey { reason });
        if text.starts_with("eyJ") {
            return fail(MalformedReason::Jwt);
        }
        let Some(body) = text.strip_prefix(KEY_PREFIX) else {
            return fail(MalformedReason::Prefix);
        };
        if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return fail(MalformedReason::Alphabet);
        }
        if body.len() != RANDOM_LEN + CHECK_LEN {
            return fail(MalformedReason::Length);
        }
        let (random, check) = body.as_bytes().split_at(RANDOM_LEN);
        if encode_checksum(crc32(random)) != check {
            return fail(MalformedReason::Checksum);
        }
        Ok(ApiKey(text.to_string()))
    }

    /// The key text, for the one place that must show or send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 of the key text: what the store keeps.
    pub fn hash(&self) -> KeyHash {
        KeyHash(Sha256::digest(self.0.as_bytes()).into())
    }

    /// The first 12 characters (`mcp_sk_AbCdE`): enough to tell keys apart in a list, far
    /// too little to guess the rest.
    pub fn display_prefix(&self) -> String {
        self.0.chars().take(DISPLAY_PREFIX_LEN).collect()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}…)", self.display_prefix())
    }
}

/// A new random key: [`ApiKey::generate`].
///
/// # Panics
///
/// When the operating system's random source cannot be read.
pub fn generate() -> ApiKey {
    ApiKey::generate()
}

/// Checks a presented key: [`ApiKey::parse`].
pub fn parse(presented: &str) -> Result<ApiKey, MalformedKey> {
    ApiKey::parse(presented)
}

/// A public key identifier: `key_` and 12 random base62 characters.
///
/// # Panics
///
/// When the operating system's random source cannot be read ([`try_new_key_id`] reports
/// that instead; the key stores use it).
pub fn new_key_id() -> String {
    match try_new_key_id() {
        Ok(id) => id,
        Err(e) => panic!("{e}"),
    }
}

/// A public key identifier, or why none could be made.
pub fn try_new_key_id() -> Result<String, RandomUnavailable> {
    Ok(format!("key_{}", random_base62(KEY_ID_RANDOM_LEN)?))
}

/// The SHA-256 of a key's text. Not secret, but only [`KeyHash::ct_eq`] should compare it
/// with a hash derived from a presented key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// From 64 hex characters; `None` for anything else.
    pub fn from_hex(text: &str) -> Option<KeyHash> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(KeyHash(bytes))
    }

    /// Equality in constant time.
    pub fn ct_eq(&self, other: &KeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({}…)", hex::encode(&self.0[..4]))
    }
}

/// A presented key is not in the ionos-mcp format. The message never repeats the
/// presented text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{reason}; an ionos-mcp API key starts with mcp_sk_ followed by 44 letters and digits")]
pub struct MalformedKey {
    pub reason: MalformedReason,
}

/// Which check a malformed key failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedReason {
    #[error("this looks like an IONOS Cloud token (a JWT), not an ionos-mcp API key")]
    Jwt,
    #[error("not an ionos-mcp API key (it does not start with mcp_sk_)")]
    Prefix,
    #[error("the key contains characters other than letters and digits after mcp_sk_")]
    Alphabet,
    #[error("the key has the wrong length (cut short or pasted twice?)")]
    Length,
    #[error("the key's checksum does not match (mistyped or damaged?)")]
    Checksum,
}

/// The operating system's random source could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the operating system's random number source is unavailable: {0}")]
pub struct RandomUnavailable(String);

/// `n` uniformly random base62 characters: random bytes below 248 (= 4 × 62) are taken
/// modulo 62, the rest are discarded, so every character is equally likely.
fn random_base62(n: usize) -> Result<String, RandomUnavailable> {
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        getrandom::fill(&mut buf).map_err(|e| RandomUnavailable(e.to_string()))?;
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == n {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(b % 62)]));
        }
    }
    Ok(out)
}

/// The checksum as 6 base62 characters, most significant first.
fn encode_checksum(mut value: u32) -> [u8; CHECK_LEN] {
    let mut out = [ALPHABET[0]; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    out
}

/// The CRC-32 lookup table (IEEE 802.3, reflected polynomial 0xEDB88320).
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 (the one of zip, PNG and Ethernet).
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn generated_keys_have_the_format_and_parse() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let key = ApiKey::generate();
            let text = key.expose();
            assert_eq!(text.len(), KEY_LEN);
            assert_eq!(KEY_LEN, 51);
            assert!(text.starts_with(KEY_PREFIX));
            assert!(
                text[KEY_PREFIX.len()..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric())
            );
            let parsed = ApiKey::parse(text).expect("a generated key parses");
            assert_eq!(parsed.expose(), text);
            assert!(seen.insert(text.to_string()), "keys repeat");
        }
    }

    #[test]
    fn random_characters_cover_the_whole_alphabet() {
        let mut counts = [0usize; 62];
        for _ in 0..200 {
            let key = ApiKey::generate();
            for b in key.expose()[KEY_PREFIX.len()..KEY_PREFIX.len() + RANDOM_LEN].bytes() {
                let i = ALPHABET.iter().position(|&a| a == b).expect("base62");
                counts[i] += 1;
            }
        }
        // 7600 draws, about 122 per character: a character missing or twice as frequent
        // as expected would show a bias.
        assert!(counts.iter().all(|&c| (60..250).contains(&c)), "{counts:?}");
    }

    #[test]
    fn changing_any_character_is_caught() {
        let key = ApiKey::generate();
        let text = key.expose();
        for pos in KEY_PREFIX.len()..KEY_LEN {
            for &replacement in ALPHABET {
                if text.as_bytes()[pos] == replacement {
                    continue;
                }
                let mut bytes = text.as_bytes().to_vec();
                bytes[pos] = replacement;
                let changed = String::from_utf8(bytes).expect("ascii");
                assert_eq!(
                    ApiKey::parse(&changed).map(|_| ()),
                    Err(MalformedKey {
                        reason: MalformedReason::Checksum
                    }),
                    "position {pos}"
                );
            }
        }
    }

    #[test]
    fn malformed_keys_say_what_is_expected_and_never_echo_the_text() {
        let key = ApiKey::generate();
        let text = key.expose();
        let cases = [
            (&text[..text.len() - 1], MalformedReason::Length),
            (&format!("{text}0")[..], MalformedReason::Length),
            (&text[KEY_PREFIX.len()..], MalformedReason::Prefix),
            (
                &format!("mcp_pk_{}", &text[7..])[..],
                MalformedReason::Prefix,
            ),
            (
                &format!("{}-{}", &text[..20], &text[21..])[..],
                MalformedReason::Alphabet,
            ),
            (
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
                MalformedReason::Jwt,
            ),
            ("", MalformedReason::Prefix),
            ("mcp_sk_ä", MalformedReason::Alphabet),
        ];
        for (presented, reason) in cases {
            let err = ApiKey::parse(presented).expect_err(presented);
            assert_eq!(err.reason, reason, "{presented}");
            let message = err.to_string();
            assert!(message.contains("starts with mcp_sk_ followed by 44 letters and digits"));
            if let Some(rest) = presented.get(8..).filter(|r| r.len() > 4) {
                assert!(!message.contains(presented));
                assert!(!message.contains(rest));
            }
        }
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        let key = ApiKey::generate();
        let parsed = ApiKey::parse(&format!("  {}\n", key.expose())).expect("parses");
        assert_eq!(parsed.expose(), key.expose());
        assert!(parse(key.expose()).is_ok());
    }

    #[test]
    fn debug_shows_only_the_display_prefix() {
        let key = ApiKey::generate();
        let debug = format!("{key:?}");
        let prefix = key.display_prefix();
        assert_eq!(prefix.len(), 12);
        assert!(prefix.starts_with(KEY_PREFIX));
        assert_eq!(debug, format!("ApiKey({prefix}…)"));
        assert!(!debug.contains(&key.expose()[12..]));
        let nested = format!("{:?}", Some(vec![key.clone()]));
        assert!(!nested.contains(&key.expose()[12..]));
    }

    #[test]
    fn hash_is_the_sha256_of_the_key_text_and_stable() {
        let random = "0".repeat(RANDOM_LEN);
        let check = encode_checksum(crc32(random.as_bytes()));
        let text = format!(
            "{KEY_PREFIX}{random}{}",
            std::str::from_utf8(&check).expect("ascii")
        );
        let key = ApiKey::parse(&text).expect("valid");
        let expected = Sha256::digest(text.as_bytes());
        assert_eq!(key.hash().0[..], expected[..]);
        assert_eq!(key.hash(), ApiKey::parse(&text).expect("valid").hash());
        assert!(key.hash().ct_eq(&key.hash()));
        assert!(!key.hash().ct_eq(&ApiKey::generate().hash()));

        let hex = key.hash().to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(KeyHash::from_hex(&hex), Some(key.hash()));
        assert_eq!(KeyHash::from_hex("abc"), None);
        assert_eq!(KeyHash::from_hex(&"g".repeat(64)), None);
        assert_eq!(
            format!("{:?}", key.hash()),
            format!("KeyHash({}…)", &hex[..8])
        );
    }

    #[test]
    fn key_ids_are_public_identifiers() {
        let id = new_key_id();
        assert_eq!(id.len(), 16);
        assert!(id.starts_with("key_"));
        assert!(id[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(new_key_id(), id);
        assert!(ApiKey::parse(&id).is_err());
    }
}
