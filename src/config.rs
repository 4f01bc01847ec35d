//! Run-time configuration from the environment: credentials, endpoints, timeouts.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::tools::table::{Access, PRODUCTS, ProductSpec};

pub mod file;

/// A credential that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum Credentials {
    None,
    /// `IONOS_TOKEN`.
    Token(Secret),
    /// `IONOS_TOKEN_FILE`: read at each call, re-read when the file changes.
    TokenFile(std::path::PathBuf),
    /// `IONOS_USERNAME` + `IONOS_PASSWORD`, sent as HTTP Basic (no token is minted).
    Basic {
        username: String,
        password: Secret,
    },
    /// The current profile of the shared IONOS config file, when no variable names credentials.
    Profile {
        file: std::path::PathBuf,
        profile: String,
        login: ProfileLogin,
    },
}

/// What a config-file profile holds: a token, or else a username and password.
#[derive(Debug, Clone)]
pub enum ProfileLogin {
    Token(Secret),
    Basic { username: String, password: Secret },
}

impl Credentials {
    /// Where these credentials come from, as a person would look for them.
    pub fn origin(&self) -> String {
        match self {
            Credentials::None => "none".into(),
            Credentials::Token(_) => "IONOS_TOKEN".into(),
            Credentials::TokenFile(p) => format!("IONOS_TOKEN_FILE ({})", p.display()),
            Credentials::Basic { .. } => "IONOS_USERNAME/IONOS_PASSWORD".into(),
            Credentials::Profile {
                file,
                profile,
                login,
            } => format!(
                "the {} of profile `{profile}` in {}",
                match login {
                    ProfileLogin::Token(_) => "token",
                    ProfileLogin::Basic { .. } => "username and password",
                },
                file.display()
            ),
        }
    }

    /// How to put a new token where this server reads it: the variable is read at start, the
    /// token file at every call, the config file at start.
    pub fn renewal(&self) -> String {
        match self {
            Credentials::TokenFile(p) => format!(
                "write it to {} (IONOS_TOKEN_FILE): the next call reads it, no restart needed",
                p.display()
            ),
            Credentials::Profile { file, profile, .. } => format!(
                "store it with `ionosctl config login` or as the token of profile `{profile}` in {}, and restart the server (for stdio: the MCP client)",
                file.display()
            ),
            Credentials::None | Credentials::Token(_) | Credentials::Basic { .. } => {
                "set it as IONOS_TOKEN where this server is started (the MCP client's configuration, or the team server's environment) and restart it".into()
            }
        }
    }
}

/// Everything the dispatcher needs to reach IONOS.
#[derive(Debug, Clone)]
pub struct Config {
    pub credentials: Credentials,
    /// Base URL per product key, without a trailing slash.
    pub base_urls: BTreeMap<&'static str, String>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Larger answers are refused with advice to narrow the request.
    pub max_body_bytes: usize,
    /// The most a served tool may do (`IONOS_MCP_TOOL_SCOPE`): `Read` serves read tools
    /// only, `Write` also the tools that change the account, `Destructive` also those that
    /// interrupt what runs (stop, reboot, suspend). `IONOS_ENABLE_WRITES=true` means `Write`.
    pub tool_scope: Access,
    /// Time a call may spend on retries of GET requests (`IONOS_RETRY_BUDGET`, seconds).
    pub retry_budget: Duration,
    /// `IONOS_TOOLSETS`: products, toolsets or `product/toolset`s to serve; `None` serves all.
    pub toolsets: Option<Vec<String>>,
    /// The S3 data plane of Object Storage.
    pub s3: S3Settings,
    /// `IONOS_CONTRACT_NUMBER`: sent as `X-Contract-Number` (reseller and multi-contract users).
    pub contract_number: Option<u32>,
    /// Where each product's base URL came from (the variable, the config file, or the default).
    pub endpoint_origins: BTreeMap<&'static str, String>,
    /// What was taken from the shared IONOS config file, if anything.
    pub config_file: Option<file::Used>,
    /// `IONOS_MCP_LOAD_MODE`: how tools are offered to clients.
    pub load_mode: LoadMode,
    /// `IONOS_MCP_MAX_ANSWER_TOKENS`: no answer is larger than about this many tokens.
    pub max_answer_tokens: usize,
}

/// The default size budget of one answer, in o200k tokens.
pub const DEFAULT_MAX_ANSWER_TOKENS: usize = 20_000;

/// How the tools are offered in `tools/list`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LoadMode {
    /// Every served tool, with its full definition (the default).
    #[default]
    Eager,
    /// Three meta-tools that search, describe and call the served tools: for clients with
    /// tool caps and no tool search of their own. `search` and `lazy` are taken as this.
    #[value(alias = "search", alias = "lazy")]
    Dynamic,
}

impl LoadMode {
    /// `eager`, `dynamic` (or `search`; `lazy`, whose sentinel tools need
    /// `notifications/tools/list_changed`, is served as `dynamic`, which needs nothing).
    pub fn parse(text: &str) -> Option<LoadMode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "eager" => Some(LoadMode::Eager),
            "dynamic" | "search" | "lazy" => Some(LoadMode::Dynamic),
            _ => None,
        }
    }
}

/// Access key pair and endpoint choice for the S3 tools.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// `IONOS_S3_ACCESS_KEY`.
    pub access_key: Option<String>,
    /// `IONOS_S3_SECRET_KEY`.
    pub secret_key: Option<Secret>,
    /// `IONOS_S3_REGION`: the signing region of the base endpoint, when its host name does not
    /// tell (`s3.<region>.ionoscloud.com` does).
    pub region: Option<String>,
    /// `IONOS_S3_ENDPOINT` is set: every bucket is addressed there. Otherwise each bucket's
    /// region is looked up and its regional endpoint used.
    pub single_endpoint: bool,
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

/// The environment the configuration is read from (a map in tests).
pub trait Env {
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.trim().is_empty())
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        BTreeMap::get(self, key)
            .cloned()
            .filter(|v| !v.trim().is_empty())
    }
}

impl Config {
    /// Reads the credentials (`IONOS_TOKEN`, `IONOS_TOKEN_FILE`, `IONOS_USERNAME`/`IONOS_PASSWORD`,
    /// else the current profile of the shared IONOS config file), the base-URL overrides named in
    /// the manifest, and the timeouts. Explicit variables always win over the file.
    pub fn from_env(env: &dyn Env) -> Result<Config, ConfigError> {
        let explicit = match (
            env.get("IONOS_TOKEN"),
            env.get("IONOS_TOKEN_FILE"),
            env.get("IONOS_USERNAME"),
            env.get("IONOS_PASSWORD"),
        ) {
            (Some(t), _, _, _) => Credentials::Token(Secret::new(t.trim())),
            (None, Some(f), _, _) => Credentials::TokenFile(f.trim().into()),
            (None, None, Some(u), Some(p)) => Credentials::Basic {
                username: u.trim().to_string(),
                password: Secret::new(p),
            },
            (None, None, Some(_), None) | (None, None, None, Some(_)) => {
                return Err(ConfigError {
                    variable: "IONOS_USERNAME/IONOS_PASSWORD".into(),
                    message: "set both, or use IONOS_TOKEN instead".into(),
                });
            }
            (None, None, None, None) => Credentials::None,
        };
        let s3_keys_set =
            env.get("IONOS_S3_ACCESS_KEY").is_some() || env.get("IONOS_S3_SECRET_KEY").is_some();
        let cloud_env = PRODUCTS
            .iter()
            .find(|p| p.key == "compute")
            .map_or("IONOS_API_URL", |p| p.base_url_env);
        // The file is read only for what the variables leave open.
        let needs_file =
            matches!(explicit, Credentials::None) || env.get(cloud_env).is_none() || !s3_keys_set;
        let profile = if needs_file {
            file::current_profile(env)?
        } else {
            None
        };
        let mut used = profile.as_ref().map(|p| file::Used {
            path: p.path.clone(),
            profile: p.name.clone(),
            took: Vec::new(),
        });
        let credentials = match (
            explicit,
            profile.as_ref().and_then(|p| Some((p, p.login.clone()?))),
        ) {
            (Credentials::None, Some((p, login))) => {
                if let Some(u) = used.as_mut() {
                    u.took.push("credentials");
                }
                Credentials::Profile {
                    file: p.path.clone(),
                    profile: p.name.clone(),
                    login,
                }
            }
            (c, _) => c,
        };
        let mut base_urls = BTreeMap::new();
        let mut endpoint_origins = BTreeMap::new();
        for p in PRODUCTS {
            let from_file = (p.base_url_env == cloud_env)
                .then(|| profile.as_ref().and_then(|f| f.cloud_endpoint.clone()))
                .flatten();
            let (url, origin) = match (env.get(p.base_url_env), from_file) {
                (Some(v), _) => (
                    normalize_base_url(&v, p).map_err(|message| ConfigError {
                        variable: p.base_url_env.to_string(),
                        message,
                    })?,
                    p.base_url_env.to_string(),
                ),
                (None, Some(v)) => {
                    let path = profile.as_ref().map(|f| f.path.display().to_string());
                    let url = normalize_base_url(&v, p).map_err(|message| ConfigError {
                        variable: path.clone().unwrap_or_default(),
                        message: format!(
                            "the Cloud API endpoint of the current profile: {message}"
                        ),
                    })?;
                    if let Some(u) = used.as_mut()
                        && !u.took.contains(&"Cloud API endpoint")
                    {
                        u.took.push("Cloud API endpoint");
                    }
                    (
                        url,
                        used.as_ref().map(file::Used::describe).unwrap_or_default(),
                    )
                }
                (None, None) => (
                    p.base_url.trim_end_matches('/').to_string(),
                    "default".into(),
                ),
            };
            base_urls.insert(p.key, url);
            endpoint_origins.insert(p.key, origin);
        }
        let (file_access_key, file_secret_key) = match (&profile, s3_keys_set) {
            (Some(p), false) => match &p.s3_keys {
                Some((a, s)) => {
                    if let Some(u) = used.as_mut() {
                        u.took.push("Object Storage key pair");
                    }
                    (Some(a.clone()), Some(s.clone()))
                }
                None => (None, None),
            },
            _ => (None, None),
        };
        Ok(Config {
            credentials,
            base_urls,
            connect_timeout: Duration::from_secs(seconds(env, "IONOS_CONNECT_TIMEOUT", 10)?),
            request_timeout: Duration::from_secs(seconds(env, "IONOS_TIMEOUT", 60)?),
            max_body_bytes: 10 * 1024 * 1024,
            retry_budget: Duration::from_secs(seconds(env, "IONOS_RETRY_BUDGET", 20)?),
            toolsets: toolsets(env)?,
            s3: S3Settings {
                access_key: env
                    .get("IONOS_S3_ACCESS_KEY")
                    .map(|v| v.trim().to_string())
                    .or(file_access_key),
                secret_key: env
                    .get("IONOS_S3_SECRET_KEY")
                    .map(|v| Secret::new(v.trim()))
                    .or(file_secret_key),
                region: env.get("IONOS_S3_REGION").map(|v| v.trim().to_string()),
                single_endpoint: env.get("IONOS_S3_ENDPOINT").is_some(),
            },
            max_answer_tokens: match env.get("IONOS_MCP_MAX_ANSWER_TOKENS") {
                None => DEFAULT_MAX_ANSWER_TOKENS,
                Some(v) => match v.trim().parse::<usize>() {
                    Ok(n) if (1_000..=1_000_000).contains(&n) => n,
                    _ => {
                        return Err(ConfigError {
                            variable: "IONOS_MCP_MAX_ANSWER_TOKENS".into(),
                            message: format!(
                                "`{v}` is not a number of tokens between 1000 and 1000000"
                            ),
                        });
                    }
                },
            },
            load_mode: match env.get("IONOS_MCP_LOAD_MODE") {
                None => LoadMode::Eager,
                Some(v) => LoadMode::parse(&v).ok_or_else(|| ConfigError {
                    variable: "IONOS_MCP_LOAD_MODE".into(),
                    message: format!(
                        "`{v}` is not a load mode; expected eager or dynamic (alias search)"
                    ),
                })?,
            },
            contract_number: contract_number(env)?,
            endpoint_origins,
            config_file: used.filter(|u| !u.took.is_empty()),
            tool_scope: tool_scope(env)?,
        })
    }

    /// Whether any tool that changes the account is served.
    pub fn writes_enabled(&self) -> bool {
        self.tool_scope >= Access::Write
    }

    /// Points every product at one base URL (the simulator), keeping each product's path.
    pub fn with_origin(mut self, origin: &str) -> Config {
        for p in PRODUCTS {
            let path = url_path(p.base_url);
            self.base_urls
                .insert(p.key, format!("{}{}", origin.trim_end_matches('/'), path));
            self.endpoint_origins.insert(p.key, "the simulator".into());
        }
        self
    }

    /// Whether a tool of this product and toolset is in the `IONOS_TOOLSETS` selection.
    pub fn selects(&self, product: &str, toolset: &str) -> bool {
        let family = crate::tools::table::product(product).map_or(product, |p| p.family);
        self.toolsets.as_ref().is_none_or(|sel| {
            sel.iter().any(|s| {
                s == product || s == family || s == toolset || *s == format!("{product}/{toolset}")
            })
        })
    }

    /// Whether the server serves this tool: selected, and within `IONOS_MCP_TOOL_SCOPE`.
    pub fn serves(&self, tool: &crate::tools::table::ToolSpec) -> bool {
        tool.access <= self.tool_scope && self.selects(tool.product, tool.toolset)
    }

    /// Sets the base URL of every product `f` knows (the simulator's layout).
    pub fn with_base_urls(mut self, f: impl Fn(&str) -> Option<String>) -> Config {
        for p in PRODUCTS {
            if let Some(url) = f(p.key) {
                self.base_urls.insert(p.key, url);
                self.endpoint_origins.insert(p.key, "the simulator".into());
            }
        }
        self
    }

    pub fn base_url(&self, product: &str) -> Option<&str> {
        self.base_urls.get(product).map(String::as_str)
    }
}

/// Short names people use for products in `IONOS_TOOLSETS`.
const TOOLSET_ALIASES: [(&str, &str); 3] = [
    ("k8s", "kubernetes"),
    ("s3", "objectstorage_s3"),
    ("cert", "certmanager"),
];

/// `IONOS_TOOLSETS=compute,dns/dns,kubernetes`: every entry must name a product, a toolset or a
/// `product/toolset` of the tool table.
fn toolsets(env: &dyn Env) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(raw) = env.get("IONOS_TOOLSETS") else {
        return Ok(None);
    };
    let mut known: Vec<String> = Vec::new();
    for t in crate::tools::table::TOOLS {
        for k in [
            t.product.to_string(),
            t.product().family.to_string(),
            t.toolset.to_string(),
            format!("{}/{}", t.product, t.toolset),
        ] {
            if !known.contains(&k) {
                known.push(k);
            }
        }
    }
    for d in crate::tools::table::DOCUMENTS {
        for k in [d.product.to_string(), d.toolset.to_string()] {
            if !known.contains(&k) {
                known.push(k);
            }
        }
    }
    let wanted: Vec<String> = raw
        .split(',')
        .map(|s| {
            let s = s.trim().to_ascii_lowercase();
            TOOLSET_ALIASES
                .iter()
                .find(|(alias, _)| *alias == s)
                .map_or(s, |(_, key)| key.to_string())
        })
        .filter(|s| !s.is_empty())
        .collect();
    let unknown: Vec<&String> = wanted.iter().filter(|w| !known.contains(w)).collect();
    if !unknown.is_empty() || wanted.is_empty() {
        known.sort();
        return Err(ConfigError {
            variable: "IONOS_TOOLSETS".into(),
            message: format!(
                "unknown {:?}; use a comma-separated list of: {} (or {})",
                unknown,
                known.join(", "),
                TOOLSET_ALIASES
                    .iter()
                    .map(|(a, k)| format!("{a} for {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    Ok(Some(wanted))
}

/// The words a yes/no variable accepts, in any case.
pub const FLAG_WORDS: &str = "true/false, 1/0, yes/no or on/off";

/// A yes/no variable (`IONOS_ENABLE_WRITES=yes`); anything else is refused rather than read as
/// "no", so a typo never silently keeps a setting off.
pub fn flag(env: &dyn Env, key: &str, default: bool) -> Result<bool, ConfigError> {
    let Some(v) = env.get(key) else {
        return Ok(default);
    };
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError {
            variable: key.to_string(),
            message: format!("`{v}` is not a yes/no value; use {FLAG_WORDS} (any case)"),
        }),
    }
}

/// `IONOS_CONTRACT_NUMBER`: the contract a reseller or multi-contract user acts on.
fn contract_number(env: &dyn Env) -> Result<Option<u32>, ConfigError> {
    let Some(v) = env.get("IONOS_CONTRACT_NUMBER") else {
        return Ok(None);
    };
    match v.trim().parse::<u32>() {
        Ok(n) if n > 0 && i32::try_from(n).is_ok() => Ok(Some(n)),
        _ => Err(ConfigError {
            variable: "IONOS_CONTRACT_NUMBER".into(),
            message: format!(
                "`{v}` is not a contract number (a positive whole number, as the DCD shows under Management > Contract)"
            ),
        }),
    }
}

/// `IONOS_MCP_TOOL_SCOPE=read|write|destructive`, a comma-separated list whose words are
/// hierarchical (`destructive` includes `write`, which includes `read`): the highest word
/// counts. `IONOS_ENABLE_WRITES=true` (the older switch) means `write`; with a scope list
/// that says `read` it is a contradiction and refused.
fn tool_scope(env: &dyn Env) -> Result<Access, ConfigError> {
    let writes = flag(env, "IONOS_ENABLE_WRITES", false)?;
    let Some(raw) = env.get("IONOS_MCP_TOOL_SCOPE") else {
        return Ok(if writes { Access::Write } else { Access::Read });
    };
    let mut scope = None;
    for word in raw.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let class = match word.to_ascii_lowercase().as_str() {
            "read" => Access::Read,
            "write" => Access::Write,
            "destructive" => Access::Destructive,
            _ => {
                return Err(ConfigError {
                    variable: "IONOS_MCP_TOOL_SCOPE".into(),
                    message: format!(
                        "unknown scope `{word}`; use a comma-separated list of read, write, destructive (destructive includes write, write includes read)"
                    ),
                });
            }
        };
        scope = scope.max(Some(class));
    }
    let Some(scope) = scope else {
        return Err(ConfigError {
            variable: "IONOS_MCP_TOOL_SCOPE".into(),
            message: "empty; use read, write or destructive".into(),
        });
    };
    if writes && scope < Access::Write {
        return Err(ConfigError {
            variable: "IONOS_MCP_TOOL_SCOPE".into(),
            message: format!(
                "`{raw}` serves read tools only, but IONOS_ENABLE_WRITES=true asks for write tools; set one of them"
            ),
        });
    }
    Ok(scope)
}

fn seconds(env: &dyn Env, key: &str, default: u64) -> Result<u64, ConfigError> {
    match env.get(key) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if (1..=3600).contains(&n) => Ok(n),
            _ => Err(ConfigError {
                variable: key.to_string(),
                message: format!("`{v}` is not a number of seconds between 1 and 3600"),
            }),
        },
    }
}

/// The path part of an absolute URL (`https://api.ionos.com/cloudapi/v6` -> `/cloudapi/v6`).
fn url_path(url: &str) -> &str {
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    match after_scheme.find('/') {
        Some(i) => after_scheme[i..].trim_end_matches('/'),
        None => "",
    }
}

/// Accepts a full URL (`http://127.0.0.1:9000/cloudapi/v6`) or a bare host as the IONOS SDKs
/// do (`api.ionos.com`, `https://api.ionos.com`): a URL without a path gets the product's path.
pub fn normalize_base_url(value: &str, product: &ProductSpec) -> Result<String, String> {
    let v = value.trim();
    let with_scheme = if v.contains("://") {
        v.to_string()
    } else {
        format!("https://{v}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| {
        format!(
            "`{v}` is not a URL ({e}); expected e.g. {}",
            product.base_url
        )
    })?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(format!("`{v}` must use http or https"));
    }
    if url.host_str().is_none() {
        return Err(format!(
            "`{v}` has no host; expected e.g. {}",
            product.base_url
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "`{v}` must not contain credentials, a query or a fragment"
        ));
    }
    let path = url.path().trim_end_matches('/');
    let base = with_scheme.trim_end_matches('/');
    if path.is_empty() {
        Ok(format!("{base}{}", url_path(product.base_url)))
    } else {
        Ok(base.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compute() -> &'static ProductSpec {
        crate::tools::table::product("compute").expect("compute product")
    }

    #[test]
    fn base_url_forms() {
        let p = compute();
        assert_eq!(
            normalize_base_url("api.ionos.com", p).unwrap(),
            "https://api.ionos.com/cloudapi/v6"
        );
        assert_eq!(
            normalize_base_url("https://api.ionos.com/", p).unwrap(),
            "https://api.ionos.com/cloudapi/v6"
        );
        assert_eq!(
            normalize_base_url("http://127.0.0.1:9000/cloudapi/v6/", p).unwrap(),
            "http://127.0.0.1:9000/cloudapi/v6"
        );
        assert!(normalize_base_url("ftp://x", p).is_err());
        assert!(normalize_base_url("http://u:p@host/", p).is_err());
        assert!(normalize_base_url("http://", p).is_err());
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn yes_no_variables_take_the_usual_words_and_refuse_the_rest() {
        for (v, want) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("Yes", true),
            ("on", true),
            ("false", false),
            ("0", false),
            ("NO", false),
            ("Off", false),
        ] {
            let c = Config::from_env(&env(&[("IONOS_ENABLE_WRITES", v)])).unwrap();
            assert_eq!(c.writes_enabled(), want, "{v}");
        }
        for v in ["y", "enable", "2", "treu"] {
            let e = Config::from_env(&env(&[("IONOS_ENABLE_WRITES", v)])).unwrap_err();
            assert_eq!(e.variable, "IONOS_ENABLE_WRITES");
            assert!(e.message.contains(FLAG_WORDS), "{e}");
        }
    }

    #[test]
    fn toolsets_know_the_short_names() {
        let c = Config::from_env(&env(&[("IONOS_TOOLSETS", "K8s, s3,cert")])).unwrap();
        assert_eq!(
            c.toolsets.as_deref(),
            Some(
                &[
                    "kubernetes".to_string(),
                    "objectstorage_s3".into(),
                    "certmanager".into()
                ][..]
            )
        );
        let e = Config::from_env(&env(&[("IONOS_TOOLSETS", "kubernets")])).unwrap_err();
        assert!(e.message.contains("k8s for kubernetes"), "{e}");
    }

    fn scope_of(pairs: &[(&str, &str)]) -> Result<Access, ConfigError> {
        let env: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tool_scope(&env)
    }

    #[test]
    fn tool_scopes_are_hierarchical_and_checked() {
        assert_eq!(scope_of(&[]).unwrap(), Access::Read);
        assert_eq!(
            scope_of(&[("IONOS_ENABLE_WRITES", "true")]).unwrap(),
            Access::Write
        );
        assert_eq!(
            scope_of(&[("IONOS_ENABLE_WRITES", "false")]).unwrap(),
            Access::Read
        );
        for (list, want) in [
            ("read", Access::Read),
            ("write", Access::Write),
            ("read,write", Access::Write),
            (" Destructive ", Access::Destructive),
            ("destructive, read", Access::Destructive),
        ] {
            assert_eq!(
                scope_of(&[("IONOS_MCP_TOOL_SCOPE", list)]).unwrap(),
                want,
                "{list}"
            );
        }
        assert_eq!(
            scope_of(&[
                ("IONOS_MCP_TOOL_SCOPE", "destructive"),
                ("IONOS_ENABLE_WRITES", "true")
            ])
            .unwrap(),
            Access::Destructive
        );
        let err = scope_of(&[("IONOS_MCP_TOOL_SCOPE", "read,admin")]).unwrap_err();
        assert_eq!(err.variable, "IONOS_MCP_TOOL_SCOPE");
        assert!(err.message.contains("`admin`"), "{}", err.message);
        assert!(err.message.contains("destructive"), "{}", err.message);
        assert!(scope_of(&[("IONOS_MCP_TOOL_SCOPE", " , ")]).is_err());
        let err = scope_of(&[
            ("IONOS_MCP_TOOL_SCOPE", "read"),
            ("IONOS_ENABLE_WRITES", "true"),
        ])
        .unwrap_err();
        assert!(
            err.message.contains("IONOS_ENABLE_WRITES"),
            "{}",
            err.message
        );
    }

    #[test]
    fn token_is_never_printed() {
        let s = Secret::new("eyJhbGciOi.secret");
        assert!(!format!("{s:?}").contains("secret"));
    }
}
