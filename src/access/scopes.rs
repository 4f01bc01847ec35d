//! Scopes: which product families a key may read or write.
//!
//! The products are the tool table's families (`compute`, `dns`, `objectstorage`, …). A
//! grant is `read` or `write` (every product), `<family>:read` or `<family>:write`; `*` is
//! everything. `write` implies `read`. `admin` is apart from the products: it lets a key read
//! the server's `/metrics` (and is part of `*`).
//!
//! A key's `write` grant covers the manifest's `destructive` tools too (stop, reboot,
//! suspend): whether the server serves those at all is the operator's choice
//! (`IONOS_MCP_TOOL_SCOPE`), and each call is confirmed by a person before it is sent, so a
//! third key level would only make keys harder to hand out without adding a check.

use std::collections::BTreeMap;
use std::fmt;

use crate::tools::table::{Access, PRODUCTS};

/// Read or write; `Write` implies `Read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Read,
    Write,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Write => "write",
        }
    }

    fn parse(word: &str) -> Option<Level> {
        match word {
            "read" => Some(Level::Read),
            "write" => Some(Level::Write),
            _ => None,
        }
    }
}

impl From<Access> for Level {
    fn from(access: Access) -> Level {
        match access {
            Access::Read => Level::Read,
            Access::Write | Access::Destructive => Level::Write,
        }
    }
}

/// The product families of the tool table, sorted, each once.
pub fn families() -> Vec<&'static str> {
    let mut families: Vec<&'static str> = PRODUCTS.iter().map(|p| p.family).collect();
    families.sort_unstable();
    families.dedup();
    families
}

/// The scope that lets a key read `/metrics`.
pub const ADMIN: &str = "admin";

/// Every word [`Scopes::parse`] accepts, in the order help texts list them.
pub fn valid_words() -> Vec<String> {
    let mut words = vec![
        "*".to_string(),
        "read".to_string(),
        "write".to_string(),
        ADMIN.to_string(),
    ];
    for family in families() {
        words.push(format!("{family}:read"));
        words.push(format!("{family}:write"));
    }
    words
}

/// What a key may do: everything, or a set of grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes {
    all: bool,
    /// The server's own data (`/metrics`).
    admin: bool,
    /// A grant for every product (`read` or `write`).
    every: Option<Level>,
    /// Grants for single product families, none implied by `every`.
    products: BTreeMap<String, Level>,
}

impl Scopes {
    /// Everything: a key created without `--scopes`.
    pub fn all() -> Scopes {
        Scopes {
            all: true,
            admin: false,
            every: None,
            products: BTreeMap::new(),
        }
    }

    /// A comma-separated list of grants (`dns:write, billing:read`); whitespace and case
    /// do not matter.
    pub fn parse(list: &str) -> Result<Scopes, ScopeError> {
        let known = families();
        Scopes::parse_with(list, |family| known.contains(&family))
    }

    /// Scopes as a store wrote them ([`Scopes::to_text`]). Grants for families this build
    /// does not know are kept (they allow nothing), so a key survives a product's removal.
    pub(crate) fn from_stored(text: &str) -> Result<Scopes, ScopeError> {
        Scopes::parse_with(text, |family| {
            !family.is_empty() && family.bytes().all(|b| b.is_ascii_alphanumeric())
        })
    }

    fn parse_with(list: &str, known: impl Fn(&str) -> bool) -> Result<Scopes, ScopeError> {
        let mut scopes = Scopes {
            all: false,
            admin: false,
            every: None,
            products: BTreeMap::new(),
        };
        let mut any = false;
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            any = true;
            let lower = word.to_ascii_lowercase();
            if lower == "*" {
                scopes.all = true;
            } else if lower == ADMIN {
                scopes.admin = true;
            } else if let Some(level) = Level::parse(&lower) {
                scopes.every = scopes.every.max(Some(level));
            } else if let Some((family, level)) = lower
                .split_once(':')
                .and_then(|(f, l)| Some((f, Level::parse(l)?)))
                .filter(|(f, _)| known(f))
            {
                let entry = scopes.products.entry(family.to_string()).or_insert(level);
                *entry = (*entry).max(level);
            } else {
                return Err(ScopeError::Unknown {
                    word: word.to_string(),
                    valid: valid_words().join(", "),
                });
            }
        }
        if !any {
            return Err(ScopeError::Empty {
                valid: valid_words().join(", "),
            });
        }
        if scopes.all {
            return Ok(Scopes::all());
        }
        if let Some(every) = scopes.every {
            scopes.products.retain(|_, level| *level > every);
        }
        Ok(scopes)
    }

    /// Whether the key may read the server's metrics: `admin`, or everything.
    pub fn allows_admin(&self) -> bool {
        self.all || self.admin
    }

    /// Whether a call at `level` on a product of `family` is allowed.
    pub fn allows(&self, family: &str, level: Level) -> bool {
        self.all
            || self.every.is_some_and(|granted| granted >= level)
            || self
                .products
                .get(family)
                .is_some_and(|&granted| granted >= level)
    }

    /// The canonical text: `*` for everything, else the grants: `admin`, the all-product one,
    /// then by family. [`Scopes::parse`] reads it back to the same scopes.
    pub fn to_text(&self) -> String {
        if self.all {
            return "*".to_string();
        }
        let mut words: Vec<String> = self.admin.then(|| ADMIN.to_string()).into_iter().collect();
        words.extend(self.every.iter().map(|l| l.as_str().to_string()));
        words.extend(
            self.products
                .iter()
                .map(|(family, level)| format!("{family}:{}", level.as_str())),
        );
        words.join(",")
    }

    /// Whether this is everything (`*`).
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// The scope a call needs (`compute:read`), as named in an `insufficient_scope` answer.
    pub fn required(family: &str, level: Level) -> String {
        format!("{family}:{}", level.as_str())
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl serde::Serialize for Scopes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_text())
    }
}

/// A scope list that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("no scopes given; give a comma-separated list of: {valid}")]
    Empty { valid: String },
    #[error("unknown scope \"{word}\"; valid scopes are: {valid}")]
    Unknown { word: String, valid: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &str) -> Scopes {
        Scopes::parse(list).expect(list)
    }

    #[test]
    fn families_come_from_the_tool_table() {
        let families = families();
        for family in [
            "compute",
            "kubernetes",
            "dns",
            "billing",
            "certmanager",
            "activitylog",
            "objectstorage",
            "auth",
        ] {
            assert!(families.contains(&family), "{family}");
        }
        let mut sorted = families.clone();
        sorted.dedup();
        assert_eq!(sorted, families);
    }

    #[test]
    fn all_allows_everything() {
        for scopes in [Scopes::all(), parse("*"), parse("dns:read, *")] {
            assert!(scopes.is_all());
            assert_eq!(scopes.to_text(), "*");
            for family in families() {
                assert!(scopes.allows(family, Level::Read));
                assert!(scopes.allows(family, Level::Write));
            }
        }
    }

    #[test]
    fn write_implies_read() {
        let write = parse("write");
        assert!(!write.is_all());
        for family in families() {
            assert!(write.allows(family, Level::Read));
            assert!(write.allows(family, Level::Write));
        }

        let dns = parse("dns:write");
        assert!(dns.allows("dns", Level::Read));
        assert!(dns.allows("dns", Level::Write));
        assert!(!dns.allows("compute", Level::Read));
        assert!(!dns.allows("compute", Level::Write));
    }

    #[test]
    fn read_allows_every_product_read_only() {
        let read = parse("read");
        for family in families() {
            assert!(read.allows(family, Level::Read));
            assert!(!read.allows(family, Level::Write));
        }
        let mixed = parse("read,dns:write");
        assert!(mixed.allows("dns", Level::Write));
        assert!(mixed.allows("compute", Level::Read));
        assert!(!mixed.allows("compute", Level::Write));
        assert!(!parse("billing:read").allows("billing", Level::Write));
    }

    #[test]
    fn text_is_canonical_and_round_trips() {
        let cases = [
            (
                " DNS:Read ,billing:read,, dns:write ",
                "billing:read,dns:write",
            ),
            ("read, dns:read, compute:write", "read,compute:write"),
            ("write,dns:write,read", "write"),
            ("objectstorage:read", "objectstorage:read"),
            ("*", "*"),
        ];
        for (input, canonical) in cases {
            let scopes = parse(input);
            assert_eq!(scopes.to_text(), canonical, "{input}");
            assert_eq!(scopes.to_string(), canonical);
            assert_eq!(parse(&scopes.to_text()), scopes, "{input}");
        }
        assert_eq!(Scopes::all().to_text(), "*");
        assert_eq!(parse(&Scopes::all().to_text()), Scopes::all());
        assert_eq!(
            serde_json::to_string(&parse("dns:read")).expect("serialises"),
            "\"dns:read\""
        );
    }

    #[test]
    fn unknown_words_are_named_with_every_valid_word() {
        for word in [
            "dns:admin",
            "nosuchproduct:read",
            "administrator",
            "dns",
            ":read",
        ] {
            let err = Scopes::parse(&format!("dns:read,{word}")).expect_err(word);
            assert!(matches!(&err, ScopeError::Unknown { word: w, .. } if w == word));
            let message = err.to_string();
            assert!(message.contains(&format!("\"{word}\"")), "{message}");
            for valid in valid_words() {
                assert!(message.contains(&valid), "{message} lacks {valid}");
            }
        }
    }

    #[test]
    fn an_empty_list_is_an_error() {
        for list in ["", "  ", " , ,"] {
            let err = Scopes::parse(list).expect_err(list);
            assert!(matches!(err, ScopeError::Empty { .. }));
            assert!(err.to_string().contains("compute:read"));
        }
    }

    #[test]
    fn stored_scopes_keep_families_this_build_does_not_know() {
        let stored = Scopes::from_stored("dns:read,retired:write").expect("readable");
        assert!(stored.allows("dns", Level::Read));
        assert!(!stored.allows("compute", Level::Read));
        assert_eq!(stored.to_text(), "dns:read,retired:write");
        assert!(Scopes::parse("retired:write").is_err());
        assert!(Scopes::from_stored("").is_err());
    }

    #[test]
    fn admin_is_apart_from_the_products_and_part_of_everything() {
        let admin = parse("admin");
        assert!(admin.allows_admin());
        assert!(!admin.is_all());
        for family in families() {
            assert!(!admin.allows(family, Level::Read), "{family}");
        }
        assert_eq!(admin.to_text(), "admin");
        let mixed = parse("dns:read, ADMIN, read");
        assert!(mixed.allows_admin());
        assert!(mixed.allows("compute", Level::Read));
        assert_eq!(mixed.to_text(), "admin,read");
        assert_eq!(parse(&mixed.to_text()), mixed);
        assert_eq!(
            Scopes::from_stored("admin,dns:read").expect("stored"),
            parse("admin,dns:read")
        );
        assert!(Scopes::all().allows_admin());
        assert!(parse("*").allows_admin());
        assert!(!parse("read,write").allows_admin());
        assert!(valid_words().contains(&"admin".to_string()));
    }

    #[test]
    fn required_names_the_scope() {
        assert_eq!(Scopes::required("compute", Level::Read), "compute:read");
        assert_eq!(Scopes::required("dns", Level::Write), "dns:write");
        assert_eq!(Level::from(Access::Write), Level::Write);
        assert_eq!(Level::from(Access::Destructive), Level::Write);
        assert_eq!(Level::from(Access::Read), Level::Read);
    }
}
