//! The generator consumes the real, unmodified upstream IONOS document: the Compute and
//! Kubernetes tool table builds from `../shared/ionos-api/upstream/cloudapi-v6.yaml` (2023).
//! Operations that post-date that document may be reported missing; nothing else may fail.

use std::path::Path;

use std::collections::BTreeMap;

use ionos_mcp_codegen::{Error, Spec, load_manifest, tool_table};

const UPSTREAM: &str = "../../shared/ionos-api/upstream";

fn upstream(file: &str) -> Option<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(UPSTREAM)
        .join(file);
    match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(_) => {
            eprintln!(
                "SKIPPED: {} is absent (the shared reference folder is not beside the project)",
                path.display()
            );
            None
        }
    }
}

#[test]
fn cloudapi_tool_table_builds_from_the_upstream_document() {
    let Some(bytes) = upstream("cloudapi-v6.yaml") else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = load_manifest(&root, "tool-manifest.yaml").expect("project manifest loads");
    let upstream = Spec::parse("specs/cloudapi-v6.yaml", &bytes).expect("upstream document parses");
    let mut specs = BTreeMap::new();
    specs.insert("specs/cloudapi-v6.yaml".into(), upstream);
    let mut manifest = manifest;
    // The products whose tools come from this document.
    manifest
        .products
        .retain(|_, p| p.spec == "specs/cloudapi-v6.yaml");
    manifest.documents.clear();
    match tool_table(&manifest, &specs) {
        Ok(table) => assert!(table.tools.len() >= 50),
        Err(Error::Manifest(diags)) => {
            let missing: Vec<String> = diags.0.iter().map(|d| d.message.clone()).collect();
            for d in &diags.0 {
                assert!(
                    d.message.starts_with("unknown operationId"),
                    "unexpected problem with the upstream document:\n{d}"
                );
                eprintln!("post-dates the 2023 document: {}", d.message);
            }
            // Security groups and GPUs arrived after 2023; the rest of the selection must be there.
            assert!(
                diags.len() <= 8,
                "{} operations missing from the upstream document",
                diags.len()
            );
            // Without them, the rest renders into Rust that parses.
            for p in manifest.products.values_mut() {
                p.tools.retain(|t| {
                    !missing
                        .iter()
                        .any(|m| m.contains(&format!("`{}`", t.operation)))
                });
            }
            let table = tool_table(&manifest, &specs).expect("the remaining tools build");
            assert!(
                table.tools.len() >= 55,
                "only {} tools built",
                table.tools.len()
            );
            let template = std::fs::read_to_string(root.join("templates/tools.rs.j2")).unwrap();
            let source = ionos_mcp_codegen::render::render(&table, &template, "// upstream")
                .expect("renders");
            assert!(source.contains("pub fn list_datacenters_request"));
        }
        Err(other) => panic!("{other}"),
    }
}

/// The older upstream documents go through the generator: every GET operation becomes a tool
/// of a manifest written on the fly, and the table builds and renders.
#[test]
fn older_upstream_documents_build_tool_tables() {
    for file in ["certmanager-v1.yaml", "auth-v1.yaml"] {
        let Some(bytes) = upstream(file) else {
            return;
        };
        let spec_name = format!("specs/{file}");
        let spec = Spec::parse(&spec_name, &bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        let gets: Vec<String> = spec
            .operations()
            .into_iter()
            .filter(|o| o.method == "GET")
            .map(|o| o.operation_id)
            .collect();
        assert!(!gets.is_empty(), "{file}: no GET operations");
        let tools: String = gets
            .iter()
            .enumerate()
            .map(|(i, id)| {
                format!(
                    "      - {{name: tool_{i}, operation: {id}, access: read, toolset: t, title: T{i}, description: Tool {i}.}}\n"
                )
            })
            .collect();
        let manifest_text = format!(
            "version: 1\nproducts:\n  p:\n    title: P\n    spec: {spec_name}\n    base_url: https://example.test\n    base_url_env: P_URL\n    auth: bearer\n    privilege: none\n    parameters:\n      hide: [\"X-Contract-Number\"]\n    tools:\n{tools}"
        );
        let manifest =
            ionos_mcp_codegen::manifest::parse(&manifest_text).expect("generated manifest parses");
        let mut specs = BTreeMap::new();
        specs.insert(spec_name.clone(), spec);
        let table = tool_table(&manifest, &specs)
            .unwrap_or_else(|e| panic!("{file}: the generator refused it:\n{e}"));
        assert_eq!(table.tools.len(), gets.len());
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates/tools.rs.j2"),
        )
        .expect("template");
        ionos_mcp_codegen::render::render(&table, &template, "// upstream")
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}
