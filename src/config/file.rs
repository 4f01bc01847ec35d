//! The shared IONOS config file, as the IONOS SDKs read it and `ionosctl config login` writes
//! it: YAML with `currentProfile`, `profiles` (a name, an environment and credentials) and
//! `environments` (products with their endpoints).
//!
//! Where it is looked for, first found wins: `IONOS_CONFIG_FILE`, `~/.ionos/config` (the SDKs'
//! default), then ionosctl's own location (`ionosctl config location`: `config.yaml` in the
//! `ionosctl` folder of the user's configuration directory). `IONOS_CURRENT_PROFILE` picks
//! another profile than the file's `currentProfile`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, Env, ProfileLogin, Secret};

/// The file as far as ionos-mcp reads it; everything else in it is ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileConfig {
    #[serde(default)]
    current_profile: String,
    #[serde(default)]
    profiles: Vec<Profile>,
    #[serde(default)]
    environments: Vec<Environment>,
}

#[derive(Debug, Default, Deserialize)]
struct Profile {
    #[serde(default)]
    name: String,
    #[serde(default)]
    environment: String,
    #[serde(default)]
    credentials: FileCredentials,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileCredentials {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    s3_access_key: Option<String>,
    #[serde(default)]
    s3_secret_key: Option<String>,
}

impl std::fmt::Debug for FileCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileCredentials(***)")
    }
}

#[derive(Debug, Default, Deserialize)]
struct Environment {
    #[serde(default)]
    name: String,
    #[serde(default)]
    products: Vec<Product>,
}

#[derive(Debug, Default, Deserialize)]
struct Product {
    #[serde(default)]
    name: String,
    #[serde(default)]
    endpoints: Vec<Endpoint>,
}

#[derive(Debug, Default, Deserialize)]
struct Endpoint {
    /// Empty for a product's global endpoint, `de/fra` and the like for regional ones.
    #[serde(default)]
    location: String,
    /// A host (`api.ionos.com`) or a URL (`https://api.ionos.com/cloudapi/v6`).
    #[serde(default)]
    name: String,
}

/// The current profile, reduced to what ionos-mcp uses.
#[derive(Debug, Clone)]
pub struct CurrentProfile {
    pub path: PathBuf,
    pub name: String,
    /// A token, else a username and password; `None` when the profile holds neither (after
    /// `ionosctl logout`).
    pub login: Option<ProfileLogin>,
    /// The global endpoint of the Cloud API (`cloud`, formerly `compute`) in the profile's
    /// environment.
    pub cloud_endpoint: Option<String>,
    pub s3_keys: Option<(String, Secret)>,
}

/// What the configuration took from the file, for `check` to say.
#[derive(Debug, Clone)]
pub struct Used {
    pub path: PathBuf,
    pub profile: String,
    pub took: Vec<&'static str>,
}

impl Used {
    /// "profile `user` in /home/me/.ionos/config".
    pub fn describe(&self) -> String {
        format!("profile `{}` in {}", self.profile, self.path.display())
    }
}

/// Product names the Cloud API goes by in the file (`compute` in files written before
/// ionosctl 6.9.1).
const CLOUD_API_NAMES: [&str; 2] = ["cloud", "compute"];

/// The file to read, if there is one. `IONOS_CONFIG_FILE` must name a file that exists.
fn locate(env: &dyn Env) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(p) = env.get("IONOS_CONFIG_FILE") {
        let path = PathBuf::from(p.trim());
        if !path.is_file() {
            return Err(ConfigError {
                variable: "IONOS_CONFIG_FILE".into(),
                message: format!(
                    "{} is not a file; name the file `ionosctl config login` wrote (`ionosctl config location` shows it), or unset the variable",
                    path.display()
                ),
            });
        }
        return Ok(Some(path));
    }
    Ok(candidates(env).into_iter().find(|p| p.is_file()))
}

/// `~/.ionos/config`, then ionosctl's `config.yaml` in the user's configuration directory.
fn candidates(env: &dyn Env) -> Vec<PathBuf> {
    let home = env.get("HOME").or_else(|| env.get("USERPROFILE"));
    let mut out = Vec::new();
    if let Some(h) = &home {
        out.push(Path::new(h).join(".ionos").join("config"));
    }
    // Where Go's os.UserConfigDir puts it, which ionosctl uses.
    let config_dir = if cfg!(target_os = "macos") {
        home.map(|h| Path::new(&h).join("Library").join("Application Support"))
    } else if cfg!(windows) {
        env.get("APPDATA").map(PathBuf::from)
    } else {
        env.get("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| home.map(|h| Path::new(&h).join(".config")))
    };
    if let Some(d) = config_dir {
        out.push(d.join("ionosctl").join("config.yaml"));
    }
    out
}

/// The current profile of the config file, if a file is found and names one.
pub fn current_profile(env: &dyn Env) -> Result<Option<CurrentProfile>, ConfigError> {
    let Some(path) = locate(env)? else {
        return Ok(None);
    };
    let problem = |message: String| ConfigError {
        variable: path.display().to_string(),
        message,
    };
    let text =
        std::fs::read_to_string(&path).map_err(|e| problem(format!("cannot be read ({e})")))?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let file: FileConfig = serde_yaml::from_str(&text).map_err(|e| {
        problem(format!(
            "is not an IONOS config file ({e}); fix it, regenerate it with `ionosctl config login`, or set IONOS_CONFIG_FILE to another file"
        ))
    })?;
    let wanted = env.get("IONOS_CURRENT_PROFILE");
    let explicit = wanted.is_some();
    let wanted = wanted.unwrap_or_else(|| file.current_profile.clone());
    let wanted = wanted.trim();
    if wanted.is_empty() {
        return Ok(None);
    }
    let Some(profile) = file
        .profiles
        .iter()
        .find(|p| p.name.trim().eq_ignore_ascii_case(wanted))
    else {
        let names: Vec<&str> = file.profiles.iter().map(|p| p.name.as_str()).collect();
        return Err(ConfigError {
            variable: if explicit {
                "IONOS_CURRENT_PROFILE".into()
            } else {
                path.display().to_string()
            },
            message: format!(
                "there is no profile `{wanted}` in {}; its profiles are: {}",
                path.display(),
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
        });
    };
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let c = &profile.credentials;
    let login = match (given(&c.token), given(&c.username), given(&c.password)) {
        (Some(t), _, _) => Some(ProfileLogin::Token(Secret::new(t))),
        (None, Some(username), Some(password)) => Some(ProfileLogin::Basic {
            username,
            password: Secret::new(password),
        }),
        _ => None,
    };
    let s3_keys = match (given(&c.s3_access_key), given(&c.s3_secret_key)) {
        (Some(a), Some(s)) => Some((a, Secret::new(s))),
        _ => None,
    };
    Ok(Some(CurrentProfile {
        cloud_endpoint: cloud_endpoint(&file, &profile.environment),
        path,
        name: profile.name.trim().to_string(),
        login,
        s3_keys,
    }))
}

/// The first global endpoint of the Cloud API in the named environment; with no environment
/// named, in the first environment that has one (as the SDKs look it up).
fn cloud_endpoint(file: &FileConfig, environment: &str) -> Option<String> {
    let environment = environment.trim();
    file.environments
        .iter()
        .filter(|e| environment.is_empty() || e.name.trim().eq_ignore_ascii_case(environment))
        .flat_map(|e| &e.products)
        .filter(|p| {
            CLOUD_API_NAMES
                .iter()
                .any(|n| p.name.trim().eq_ignore_ascii_case(n))
        })
        .flat_map(|p| &p.endpoints)
        .find(|e| e.location.trim().is_empty() && !e.name.trim().is_empty())
        .map(|e| e.name.trim().to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::{Config, Credentials};

    /// A file as `ionosctl config login` writes it (products trimmed to a few).
    const WRITTEN_BY_IONOSCTL: &str = r#"
version: 1.0
currentProfile: user
profiles:
  - name: user
    environment: prod
    credentials:
      username: ""
      password: ""
      token: eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.c2ln
  - name: staging
    environment: dev
    credentials:
      token: staging-token
      s3AccessKey: AK-STAGING
      s3SecretKey: SK-STAGING
environments:
  - name: prod
    products:
      - name: cloud
        endpoints:
          - name: https://api.ionos.com/cloudapi/v6
            skipTlsVerify: false
      - name: dns
        endpoints:
          - location: de/fra
            name: https://dns.de-fra.ionos.com
            skipTlsVerify: false
  - name: dev
    products:
      - name: compute
        endpoints:
          - location: de/txl
            name: https://txl.example.com/cloudapi/v6
          - name: api.staging.example.com
"#;

    fn with_file(text: &str, extra: &[(&str, &str)]) -> (BTreeMap<String, String>, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "ionos-mcp-cfg-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(dir.join(".ionos")).unwrap();
        let path = dir.join(".ionos").join("config");
        std::fs::write(&path, text).unwrap();
        let mut env: BTreeMap<String, String> =
            [("HOME".to_string(), dir.display().to_string())].into();
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        (env, path)
    }

    #[test]
    fn the_current_profile_gives_token_and_cloud_api_endpoint() {
        let (env, path) = with_file(WRITTEN_BY_IONOSCTL, &[]);
        let c = Config::from_env(&env).unwrap();
        let Credentials::Profile {
            file,
            profile,
            login: ProfileLogin::Token(t),
        } = &c.credentials
        else {
            panic!("not from the profile: {:?}", c.credentials);
        };
        assert_eq!((file, profile.as_str()), (&path, "user"));
        assert!(t.expose().starts_with("eyJ0eXAi"));
        assert_eq!(
            c.base_url("compute"),
            Some("https://api.ionos.com/cloudapi/v6")
        );
        assert!(c.endpoint_origins["compute"].contains("profile `user`"));
        // Only the Cloud API endpoint is taken; DNS keeps its default.
        assert_eq!(c.endpoint_origins["dns"], "default");
        let used = c.config_file.expect("file used");
        assert_eq!(used.took, vec!["credentials", "Cloud API endpoint"]);
    }

    #[test]
    fn ionos_current_profile_picks_another_and_a_bare_host_gets_the_path() {
        let (env, _) = with_file(WRITTEN_BY_IONOSCTL, &[("IONOS_CURRENT_PROFILE", "Staging")]);
        let c = Config::from_env(&env).unwrap();
        assert!(
            matches!(&c.credentials, Credentials::Profile { profile, .. } if profile == "staging")
        );
        // The regional endpoint is passed over for the global one.
        assert_eq!(
            c.base_url("compute"),
            Some("https://api.staging.example.com/cloudapi/v6")
        );
        assert_eq!(c.base_url("kubernetes"), c.base_url("compute"));
        assert_eq!(c.s3.access_key.as_deref(), Some("AK-STAGING"));
        assert_eq!(
            c.s3.secret_key.as_ref().map(Secret::expose),
            Some("SK-STAGING")
        );

        let (env, _) = with_file(WRITTEN_BY_IONOSCTL, &[("IONOS_CURRENT_PROFILE", "nope")]);
        let e = Config::from_env(&env).unwrap_err();
        assert_eq!(e.variable, "IONOS_CURRENT_PROFILE");
        assert!(e.message.contains("user, staging"), "{e}");
    }

    #[test]
    fn explicit_variables_win_over_the_file() {
        let (env, _) = with_file(
            WRITTEN_BY_IONOSCTL,
            &[
                ("IONOS_TOKEN", "from-env"),
                ("IONOS_API_URL", "http://127.0.0.1:9/cloudapi/v6"),
            ],
        );
        let c = Config::from_env(&env).unwrap();
        assert!(matches!(&c.credentials, Credentials::Token(t) if t.expose() == "from-env"));
        assert_eq!(
            c.base_url("compute"),
            Some("http://127.0.0.1:9/cloudapi/v6")
        );
        assert_eq!(c.endpoint_origins["compute"], "IONOS_API_URL");
        assert!(c.config_file.is_none());

        // A token from the environment, the endpoint from the file.
        let (env, _) = with_file(WRITTEN_BY_IONOSCTL, &[("IONOS_TOKEN", "from-env")]);
        let c = Config::from_env(&env).unwrap();
        assert!(matches!(&c.credentials, Credentials::Token(_)));
        assert_eq!(
            c.config_file.expect("endpoint from the file").took,
            vec!["Cloud API endpoint"]
        );
    }

    #[test]
    fn ionos_config_file_names_the_file_and_must_exist() {
        let (mut env, path) = with_file(WRITTEN_BY_IONOSCTL, &[]);
        env.remove("HOME");
        env.insert("IONOS_CONFIG_FILE".into(), path.display().to_string());
        let c = Config::from_env(&env).unwrap();
        assert!(matches!(c.credentials, Credentials::Profile { .. }));

        env.insert(
            "IONOS_CONFIG_FILE".into(),
            path.with_file_name("missing").display().to_string(),
        );
        let e = Config::from_env(&env).unwrap_err();
        assert_eq!(e.variable, "IONOS_CONFIG_FILE");
        assert!(e.message.contains("not a file"), "{e}");
    }

    #[test]
    fn a_logged_out_profile_or_a_broken_file() {
        let (env, _) = with_file(
            "currentProfile: user\nprofiles:\n  - name: user\n    credentials:\n      token: \"\"\n",
            &[],
        );
        let c = Config::from_env(&env).unwrap();
        assert!(matches!(c.credentials, Credentials::None));
        assert!(c.config_file.is_none());

        let (env, path) = with_file("currentProfile: [unclosed\n", &[]);
        let e = Config::from_env(&env).unwrap_err();
        assert_eq!(e.variable, path.display().to_string());
        assert!(e.message.contains("not an IONOS config file"), "{e}");
    }

    #[test]
    fn no_file_no_change() {
        let dir = std::env::temp_dir().join(format!("ionos-mcp-nocfg-{}", std::process::id()));
        let env: BTreeMap<String, String> = [
            ("HOME".to_string(), dir.display().to_string()),
            ("XDG_CONFIG_HOME".to_string(), dir.display().to_string()),
        ]
        .into();
        let c = Config::from_env(&env).unwrap();
        assert!(matches!(c.credentials, Credentials::None));
        assert_eq!(c.endpoint_origins["compute"], "default");
    }
}
