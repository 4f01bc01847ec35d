//! `spec-diff`: what a spec upgrade changes for the selected operations.

use std::path::Path;

use ionos_mcp_codegen::Spec;
use ionos_mcp_codegen::specdiff::diff;

fn ours() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/cloudapi-v6.yaml"))
        .expect("spec")
}

fn parse(text: &str) -> Spec {
    Spec::parse("spec.yaml", text.as_bytes()).expect("parses")
}

#[test]
fn identical_specs_have_no_changes() {
    let s = parse(&ours());
    assert!(diff(&s, &s, &["datacentersServersGet", "k8sGet"]).is_empty());
}

#[test]
fn breaking_and_compatible_changes_are_told_apart() {
    let old = ours();
    // A renamed path parameter, a removed response property, a removed operation.
    let new = old
        .replace(
            "{datacenterId}/servers/{serverId}/nics",
            "{datacenterId}/servers/{srvId}/nics",
        )
        .replace(
            "name: serverId\n        in: path",
            "name: srvId\n        in: path",
        )
        .replace("        vmState:\n          type: string\n", "")
        .replace("operationId: k8sGet", "operationId: k8sListAll");
    let changes = diff(
        &parse(&old),
        &parse(&new),
        &[
            "datacentersServersNicsGet",
            "datacentersServersFindById",
            "k8sGet",
        ],
    );
    let text: Vec<String> = changes
        .iter()
        .map(|c| format!("{} {} {}", c.operation_id, c.breaking, c.what))
        .collect();
    let has = |needle: &str| text.iter().any(|t| t.contains(needle));
    assert!(has("datacentersServersNicsGet true moved"), "{text:#?}");
    assert!(has("`serverId` removed or renamed"), "{text:#?}");
    assert!(
        has("datacentersServersFindById true response property removed: properties.vmState"),
        "{text:#?}"
    );
    assert!(has("k8sGet true removed"), "{text:#?}");
    assert!(changes.iter().all(|c| c.breaking), "{text:#?}");

    // The other direction adds things: not breaking.
    let smaller = old.replace("        vmState:\n          type: string\n", "");
    let back = diff(
        &parse(&smaller),
        &parse(&old),
        &["datacentersServersFindById"],
    );
    assert!(
        !back.is_empty() && back.iter().all(|c| !c.breaking),
        "{back:#?}"
    );
}

#[test]
fn upstream_2023_document_against_ours() {
    let upstream = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/ionos-api/upstream/cloudapi-v6.yaml");
    let Ok(text) = std::fs::read_to_string(&upstream) else {
        eprintln!("SKIPPED: {} is absent", upstream.display());
        return;
    };
    let changes = diff(
        &parse(&text),
        &parse(&ours()),
        &["datacentersSecuritygroupsGet", "datacentersServersGet"],
    );
    assert!(
        changes
            .iter()
            .any(|c| c.operation_id == "datacentersSecuritygroupsGet"
                && !c.breaking
                && c.what.starts_with("added")),
        "{changes:#?}"
    );
}
