//! The token's life: where it comes from (`IONOS_TOKEN`, `IONOS_TOKEN_FILE` re-read when the
//! file changes, `IONOS_USERNAME`/`IONOS_PASSWORD` as HTTP Basic like the IONOS SDKs, or the
//! current profile of the shared IONOS config file), and when it expires (the JWT `exp` claim,
//! read without verifying the signature).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;

use crate::config::{Credentials, ProfileLogin, Secret};
use crate::errors::ToolError;

/// What goes into the `Authorization` header of one request.
pub enum Auth {
    Bearer(Secret),
    Basic { username: String, password: Secret },
}

/// Resolves the credentials for each call; caches a token file until it changes.
pub struct CredentialSource {
    credentials: Credentials,
    file_cache: Mutex<Option<(SystemTime, Secret)>>,
}

impl CredentialSource {
    pub fn new(credentials: Credentials) -> Self {
        CredentialSource {
            credentials,
            file_cache: Mutex::new(None),
        }
    }

    /// The credentials to send now, or the error that explains why there are none.
    pub fn current(&self) -> Result<Auth, ToolError> {
        match &self.credentials {
            Credentials::None => Err(ToolError::MissingToken),
            Credentials::Token(t) => checked(t, &self.credentials),
            Credentials::TokenFile(path) => checked(&self.read_file(path)?, &self.credentials),
            Credentials::Basic { username, password }
            | Credentials::Profile {
                login: ProfileLogin::Basic { username, password },
                ..
            } => Ok(Auth::Basic {
                username: username.clone(),
                password: password.clone(),
            }),
            Credentials::Profile {
                login: ProfileLogin::Token(t),
                ..
            } => checked(t, &self.credentials),
        }
    }

    /// How to put a new token where this server reads it.
    pub fn renewal(&self) -> String {
        self.credentials.renewal()
    }

    /// Where the credentials come from, for messages: `IONOS_TOKEN`, `IONOS_TOKEN_FILE (path)`,
    /// or the profile and file.
    pub fn origin(&self) -> String {
        self.credentials.origin()
    }

    fn read_file(&self, path: &PathBuf) -> Result<Secret, ToolError> {
        let unreadable = |e: std::io::Error| ToolError::TokenFile {
            path: path.display().to_string(),
            problem: match e.kind() {
                std::io::ErrorKind::NotFound => "the file does not exist".to_string(),
                std::io::ErrorKind::PermissionDenied => {
                    "this user may not read it (permission denied)".to_string()
                }
                std::io::ErrorKind::IsADirectory => "it is a directory".to_string(),
                _ => e.to_string(),
            },
        };
        let modified = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map_err(unreadable)?;
        let mut cache = self
            .file_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, token)) = cache.as_ref()
            && *at == modified
        {
            return Ok(token.clone());
        }
        let text = std::fs::read_to_string(path).map_err(unreadable)?;
        let token = text.trim();
        if token.is_empty() {
            return Err(ToolError::TokenFile {
                path: path.display().to_string(),
                problem: "the file is empty".into(),
            });
        }
        let token = Secret::new(token);
        *cache = Some((modified, token.clone()));
        Ok(token)
    }

    /// When the configured token expires (seconds since the epoch), if it says.
    pub fn expiry(&self) -> Option<u64> {
        match &self.credentials {
            Credentials::Token(t)
            | Credentials::Profile {
                login: ProfileLogin::Token(t),
                ..
            } => jwt_expiry(t.expose()),
            Credentials::TokenFile(p) => {
                self.read_file(p).ok().and_then(|t| jwt_expiry(t.expose()))
            }
            _ => None,
        }
    }

    /// Whether a token is configured (whatever its source), as opposed to a password or nothing.
    pub fn is_token(&self) -> bool {
        matches!(
            self.credentials,
            Credentials::Token(_)
                | Credentials::TokenFile(_)
                | Credentials::Profile {
                    login: ProfileLogin::Token(_),
                    ..
                }
        )
    }

    pub fn is_basic(&self) -> bool {
        matches!(
            self.credentials,
            Credentials::Basic { .. }
                | Credentials::Profile {
                    login: ProfileLogin::Basic { .. },
                    ..
                }
        )
    }
}

/// The token as it goes after `Bearer `: people often paste the whole header value
/// (`Bearer eyJ…`), which would otherwise be sent as `Bearer Bearer eyJ…`.
pub fn bare_token(token: &str) -> &str {
    let t = token.trim();
    match t.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => t[7..].trim_start(),
        _ => t,
    }
}

fn checked(token: &Secret, source: &Credentials) -> Result<Auth, ToolError> {
    let token = Secret::new(bare_token(token.expose()));
    if let Some(exp) = jwt_expiry(token.expose())
        && exp <= now()
    {
        return Err(ToolError::TokenExpired {
            variable: source.origin(),
            at: format_utc(exp),
            renewal: source.renewal(),
        });
    }
    Ok(Auth::Bearer(token))
}

/// The `exp` claim of a JWT, without verifying it (the server does that).
pub fn jwt_expiry(token: &str) -> Option<u64> {
    let payload = bare_token(token).split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("exp")?.as_u64()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `2026-11-24 09:30 UTC`.
pub fn format_utc(secs: u64) -> String {
    let day = crate::tools::behaviour::Day(i64::try_from(secs / 86_400).unwrap_or(0));
    let rem = secs % 86_400;
    format!("{day} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}

/// A line for stderr at start when the token expires within a week or has expired.
pub fn expiry_warning(source: &CredentialSource) -> Option<String> {
    let exp = source.expiry()?;
    let now = now();
    if exp <= now {
        Some(format!(
            "{} expired at {}; every call will fail until it is replaced. {}, then {}.",
            source.origin(),
            format_utc(exp),
            crate::errors::NEW_TOKEN,
            source.renewal()
        ))
    } else if exp - now < 7 * 86_400 {
        Some(format!(
            "{} expires at {} (in {} hours); make a new one before then (DCD > Management > Token Manager).",
            source.origin(),
            format_utc(exp),
            (exp - now) / 3600
        ))
    } else {
        None
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// An unsigned JWT with the given `exp`.
    pub fn jwt(exp: u64) -> String {
        let enc = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!(
            "{}.{}.c2lnbmF0dXJl",
            enc(&serde_json::json!({"alg": "RS256", "typ": "JWT"})),
            enc(&serde_json::json!({"exp": exp, "iss": "ionoscloud"}))
        )
    }

    #[test]
    fn expiry_is_read_from_the_claims() {
        assert_eq!(jwt_expiry(&jwt(1_800_000_000)), Some(1_800_000_000));
        assert_eq!(jwt_expiry("not-a-jwt"), None);
        assert_eq!(jwt_expiry("a.%%%.c"), None);
        assert_eq!(format_utc(1_800_000_000), "2027-01-15 08:00 UTC");
    }

    #[test]
    fn an_expired_token_is_refused_with_its_time() {
        let s = CredentialSource::new(Credentials::Token(Secret::new(jwt(1_000_000_000))));
        let Err(ToolError::TokenExpired { at, variable, .. }) = s.current() else {
            panic!("expired token accepted");
        };
        assert_eq!(variable, "IONOS_TOKEN");
        assert_eq!(at, "2001-09-09 01:46 UTC");
        assert!(expiry_warning(&s).is_some_and(|w| w.contains("expired at 2001-09-09")));

        let soon = CredentialSource::new(Credentials::Token(Secret::new(jwt(now() + 3600))));
        assert!(soon.current().is_ok());
        assert!(expiry_warning(&soon).is_some_and(|w| w.contains("expires at")));
        let later =
            CredentialSource::new(Credentials::Token(Secret::new(jwt(now() + 30 * 86_400))));
        assert!(expiry_warning(&later).is_none());
    }

    #[test]
    fn an_expired_token_says_where_to_put_the_new_one() {
        let expired = |credentials: Credentials| {
            CredentialSource::new(credentials)
                .current()
                .err()
                .expect("expired token accepted")
                .to_string()
        };
        let dir = std::env::temp_dir().join(format!("ionos-mcp-renew-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, jwt(1_000_000_000)).unwrap();

        let from_file = expired(Credentials::TokenFile(path.clone()));
        assert!(
            from_file.contains(&format!("write it to {}", path.display()))
                && from_file.contains("no restart needed")
                && !from_file.contains("set it as IONOS_TOKEN"),
            "{from_file}"
        );
        let from_variable = expired(Credentials::Token(Secret::new(jwt(1_000_000_000))));
        assert!(
            from_variable.contains("set it as IONOS_TOKEN") && from_variable.contains("restart it"),
            "{from_variable}"
        );
        let from_profile = expired(Credentials::Profile {
            file: dir.join("config"),
            profile: "work".into(),
            login: ProfileLogin::Token(Secret::new(jwt(1_000_000_000))),
        });
        assert!(
            from_profile.contains("ionosctl config login")
                && from_profile.contains("profile `work`")
                && !from_profile.contains("IONOS_TOKEN"),
            "{from_profile}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_token_file_is_re_read_when_it_changes() {
        let dir = std::env::temp_dir().join(format!("ionos-mcp-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "first-token\n").unwrap();
        let s = CredentialSource::new(Credentials::TokenFile(path.clone()));
        let bearer = |s: &CredentialSource| match s.current() {
            Ok(Auth::Bearer(t)) => t.expose().to_string(),
            _ => panic!("no bearer token"),
        };
        assert_eq!(bearer(&s), "first-token");
        // A different modification time marks the change, whatever the file system's resolution.
        std::fs::write(&path, "second-token").unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
        assert_eq!(bearer(&s), "second-token");
        std::fs::write(&path, "   ").unwrap();
        f.set_modified(SystemTime::now() + std::time::Duration::from_secs(10))
            .unwrap();
        assert!(matches!(s.current(), Err(ToolError::TokenFile { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_pasted_bearer_prefix_is_not_sent_twice() {
        assert_eq!(bare_token("Bearer abc.def"), "abc.def");
        assert_eq!(bare_token("  bearer   abc "), "abc");
        assert_eq!(bare_token("abc"), "abc");
        assert_eq!(bare_token("Bearer"), "Bearer");
        let s = CredentialSource::new(Credentials::Token(Secret::new(format!(
            "Bearer {}",
            jwt(1_000_000_000)
        ))));
        assert_eq!(s.expiry(), Some(1_000_000_000));
    }

    #[test]
    fn a_missing_token_file_says_so_in_words() {
        let path = std::env::temp_dir().join("ionos-mcp-no-such-token-file");
        let s = CredentialSource::new(Credentials::TokenFile(path));
        let Err(e) = s.current() else {
            panic!("a missing file gave a token")
        };
        let msg = e.to_string();
        assert!(msg.contains("the file does not exist"), "{msg}");
        assert!(!msg.contains("entity not found"), "{msg}");
    }
}
