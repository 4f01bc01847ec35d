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
    // Shared wording names arguments of the other products too, and upstream's own (longer)
    // descriptions are not what the token budgets are for.
    manifest.arguments.clear();
    manifest.limits.max_tokens_total = None;
    manifest.limits.max_tokens_per_toolset = None;
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

/// Every GET (and HEAD) operation of `spec` as a tool of a manifest written on the fly; the
/// table must build and render.
fn build_all(spec_name: &str, spec: Spec) {
    let gets: Vec<String> = spec
        .operations()
        .into_iter()
        .filter(|o| o.method == "GET" || o.method == "HEAD")
        .map(|o| o.operation_id)
        .collect();
    assert!(!gets.is_empty(), "{spec_name}: no GET operations");
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
        "version: 1\nproducts:\n  p:\n    title: P\n    spec: {spec_name}\n    base_url: https://example.test\n    base_url_env: P_URL\n    auth: bearer\n    privilege: none\n    parameters:\n      hide: [\"X-Contract-Number\", MaxKeys, Marker, MaxUploads, KeyMarker, UploadIdMarker, PartNumberMarker, VersionIdMarker]\n    tools:\n{tools}"
    );
    let manifest =
        ionos_mcp_codegen::manifest::parse(&manifest_text).expect("generated manifest parses");
    let mut specs = BTreeMap::new();
    specs.insert(spec_name.to_string(), spec);
    let table = tool_table(&manifest, &specs)
        .unwrap_or_else(|e| panic!("{spec_name}: the generator refused it:\n{e}"));
    assert_eq!(table.tools.len(), gets.len());
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates/tools.rs.j2"),
    )
    .expect("template");
    ionos_mcp_codegen::render::render(&table, &template, "// check")
        .unwrap_or_else(|e| panic!("{spec_name}: {e}"));
}

/// The older upstream documents go through the generator.
#[test]
fn older_upstream_documents_build_tool_tables() {
    for file in ["certmanager-v1.yaml", "auth-v1.yaml"] {
        let Some(bytes) = upstream(file) else {
            return;
        };
        let spec_name = format!("specs/{file}");
        let spec = Spec::parse(&spec_name, &bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        build_all(&spec_name, spec);
    }
}

/// Every document in `specs/` can serve all its read operations, selected yet or not.
#[test]
fn every_spec_file_builds_a_tool_table() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("specs/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let name = format!(
            "specs/{}",
            path.file_name().and_then(|f| f.to_str()).unwrap_or("")
        );
        let bytes = std::fs::read(&path).expect("readable");
        let spec = Spec::parse(&name, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        build_all(&name, spec);
        n += 1;
    }
    assert!(n >= 8, "only {n} spec files");
}
