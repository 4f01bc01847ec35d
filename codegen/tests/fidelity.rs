//! Every operation the manifest selects is faithful to the published API facts in
//! `../shared/ionos-api/facts/`: method, path, parameter names, locations, required flags,
//! types and formats. Skips, saying so, where the reference material is absent.

use std::path::{Path, PathBuf};

use ionos_mcp_codegen::Spec;
use ionos_mcp_codegen::fidelity::compare;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The facts file describing the API a spec mirrors.
fn facts_for(spec_file: &str) -> Option<&'static str> {
    Some(match spec_file {
        "specs/cloudapi-v6.yaml" => "compute.json",
        "specs/dns.yaml" => "dns.json",
        "specs/billing.yaml" => "billing.json",
        "specs/certmanager.yaml" => "certmanager.json",
        "specs/activitylog.yaml" => "activitylog.json",
        "specs/objectstorage-management.yaml" => "objectstorage-management.json",
        "specs/objectstorage-s3.yaml" => "objectstorage-s3.json",
        "specs/auth.yaml" => "auth.json",
        _ => return None,
    })
}

fn facts(name: &str) -> Option<Value> {
    let path = root().join("../shared/ionos-api/facts").join(name);
    let bytes = std::fs::read(&path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn shared_present() -> bool {
    let present = root().join("../shared/ionos-api/facts").is_dir();
    if !present {
        eprintln!("SKIPPED: ../shared/ionos-api/facts is absent; the fidelity check needs it");
    }
    present
}

#[test]
fn selected_operations_match_the_api_facts() {
    if !shared_present() {
        return;
    }
    let (manifest, specs, _) =
        ionos_mcp_codegen::load(&root(), "tool-manifest.yaml").expect("manifest and specs load");
    let mut problems = Vec::new();
    let mut checked = 0;
    for (file, spec) in &specs {
        let facts_file =
            facts_for(file).unwrap_or_else(|| panic!("no facts file known for {file}"));
        let facts = facts(facts_file).unwrap_or_else(|| panic!("facts/{facts_file} unreadable"));
        let ids: Vec<&str> = manifest
            .products
            .values()
            .filter(|p| &p.spec == file)
            .flat_map(|p| p.tools.iter().map(|t| t.operation.as_str()))
            .collect();
        checked += ids.len();
        problems.extend(compare(spec, &facts, &ids));
    }
    assert!(checked >= 60, "only {checked} operations checked");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_renamed_parameter_is_caught() {
    if !shared_present() {
        return;
    }
    let text = std::fs::read_to_string(root().join("specs/cloudapi-v6.yaml")).expect("spec");
    let facts = facts("compute.json").expect("facts");
    let ids = ["datacentersServersGet", "datacentersServersFindById"];
    let good = Spec::parse("specs/cloudapi-v6.yaml", text.as_bytes()).expect("parses");
    assert!(compare(&good, &facts, &ids).is_empty());

    let renamed = text.replace("name: serverId", "name: serverID");
    let bad = Spec::parse("specs/cloudapi-v6.yaml", renamed.as_bytes()).expect("parses");
    let problems = compare(&bad, &facts, &ids);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`serverID` is not in the API")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`serverId` of the API is missing")),
        "{problems:?}"
    );
}

/// Every document in `specs/` parses and every one of its operations matches the facts, selected
/// or not, so a later manifest entry cannot pick up an unfaithful operation.
#[test]
fn every_spec_file_matches_the_api_facts() {
    if !shared_present() {
        return;
    }
    let dir = root().join("specs");
    let mut problems = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("specs/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let file = format!(
            "specs/{}",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
        );
        let facts_file =
            facts_for(&file).unwrap_or_else(|| panic!("no facts file known for {file}"));
        let facts = facts(facts_file).unwrap_or_else(|| panic!("facts/{facts_file} unreadable"));
        let bytes = std::fs::read(&path).expect("readable");
        let spec = Spec::parse(&file, &bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        let ops = spec.operations();
        let ids: Vec<&str> = ops.iter().map(|o| o.operation_id.as_str()).collect();
        assert!(!ids.is_empty(), "{file} has no operations");
        problems.extend(
            compare(&spec, &facts, &ids)
                .into_iter()
                .map(|p| format!("{file}: {p}")),
        );
        files += 1;
    }
    assert!(files >= 1);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every `$ref` in every document under `specs/` resolves within that document.
#[test]
fn no_spec_has_a_dangling_reference() {
    let dir = root().join("specs");
    let mut problems = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("specs/ readable") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let bytes = std::fs::read(&path).expect("spec readable");
        let spec = Spec::parse(name, &bytes).expect("spec parses");
        checked += 1;
        for (at, target) in spec.dangling_refs() {
            problems.push(format!("{name}: {at} -> {target}"));
        }
    }
    assert!(
        checked >= 8,
        "only {checked} spec files found in {}",
        dir.display()
    );
    assert!(
        problems.is_empty(),
        "dangling references:\n{}",
        problems.join("\n")
    );
}
