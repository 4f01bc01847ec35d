//! The tools one server serves, with what each needs from a caller (its product and access),
//! and the search index over them.

use std::sync::OnceLock;

use rmcp::model::Tool;

use super::search::Index;
use crate::access::guard::Principal;
use crate::access::scopes::Level;
use crate::config::Config;
use crate::tools::table::{self, Access, DOCUMENTS, TOOLS};

/// One served tool.
pub struct Entry {
    pub tool: Tool,
    pub product: &'static str,
    pub toolset: &'static str,
    pub access: Access,
}

/// Every tool the configuration serves (`IONOS_TOOLSETS`, writes), in table order.
pub struct Catalog {
    pub entries: Vec<Entry>,
    index: OnceLock<Index>,
}

/// Group names of the official server's tool search, and the products they mean.
const GROUP_ALIASES: [(&str, &str); 3] = [
    ("k8s", "kubernetes"),
    ("cert", "certmanager"),
    ("s3", "objectstorage_s3"),
];

impl Catalog {
    pub fn new(config: &Config) -> Catalog {
        let specs = TOOLS.iter().filter(|t| config.serves(t)).map(|t| Entry {
            tool: t.to_mcp(),
            product: t.product,
            toolset: t.toolset,
            access: t.access,
        });
        let documents = DOCUMENTS
            .iter()
            .filter(|d| config.selects(d.product, d.toolset))
            .map(|d| Entry {
                tool: d.to_mcp(),
                product: d.product,
                toolset: d.toolset,
                access: Access::Read,
            });
        Catalog {
            entries: specs.chain(documents).collect(),
            index: OnceLock::new(),
        }
    }

    /// The search index, built on first use.
    pub fn index(&self) -> &Index {
        self.index.get_or_init(|| {
            let tools: Vec<Tool> = self.entries.iter().map(|e| e.tool.clone()).collect();
            Index::new(&tools)
        })
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tool.name == name)
    }

    /// The served tools the caller may use (all of them on stdio).
    pub fn visible<'a>(
        &'a self,
        caller: Option<&'a Principal>,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| e.allows(caller))
    }
}

impl Entry {
    /// The product family (the scopes' products).
    pub fn family(&self) -> &'static str {
        family(self.product)
    }

    /// Whether the caller's scopes allow this tool (always on stdio).
    pub fn allows(&self, caller: Option<&Principal>) -> bool {
        allowed(caller, self.product, self.access)
    }

    /// Whether the entry belongs to `group`: a product, family, toolset or `product/toolset`,
    /// or a group name of the official server (`k8s`, `cert`).
    pub fn in_group(&self, group: &str) -> bool {
        let g = group.trim().to_ascii_lowercase();
        let g = GROUP_ALIASES
            .iter()
            .find(|(alias, _)| *alias == g)
            .map_or(g.as_str(), |(_, product)| product);
        g == self.product
            || g == self.family()
            || g == self.toolset
            || g == format!("{}/{}", self.product, self.toolset)
    }
}

/// The product family of a manifest product.
pub fn family(product: &str) -> &'static str {
    table::product(product).map_or("", |p| p.family)
}

/// Whether the caller's scopes allow a tool of this product and access.
pub fn allowed(caller: Option<&Principal>, product: &str, access: Access) -> bool {
    caller.is_none_or(|p| p.scopes().allows(family(product), Level::from(access)))
}
