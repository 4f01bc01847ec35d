//! Edge-case specs and manifests, one folder per case under `tests/fixtures/`. Each case
//! either builds (its tool table is snapshotted, and the rendered Rust must parse) or fails
//! with readable diagnostics (snapshotted).

use std::path::Path;

use ionos_mcp_codegen::{Error, load, render, tool_table};
use serde_json::json;

fn run_case(dir: &Path) -> String {
    let (manifest, specs, _) = match load(dir, "manifest.yaml") {
        Ok(l) => l,
        Err(e) => return format!("load error:\n{e}"),
    };
    match tool_table(&manifest, &specs) {
        Ok(table) => {
            let template = std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates/tools.rs.j2"),
            )
            .expect("project template");
            render::render(&table, &template, "// fixture")
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            let tools: Vec<_> = table
                .tools
                .iter()
                .map(|t| {
                    json!({
                        "name": t.name,
                        "method": t.method,
                        "path": t.path,
                        "paging": t.paging,
                        "wire": t.wire,
                        "input_schema": t.input_schema,
                        "validation_schema": t.validation_schema,
                        "output_schema": t.output_schema,
                        "wrap": t.wrap,
                    })
                })
                .collect();
            serde_json::to_string_pretty(&tools).expect("json")
        }
        Err(Error::Manifest(d)) => d.to_string(),
        Err(e) => format!("error:\n{e}"),
    }
}

#[test]
fn every_fixture_case() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .expect("fixtures folder")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 10,
        "expected the fixture cases, found {}",
        cases.len()
    );
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let out = run_case(&case);
        insta::assert_snapshot!(name, out);
    }
}

#[test]
fn snake_case_conversion() {
    use ionos_mcp_codegen::table::snake_case;
    assert_eq!(snake_case("datacenterId"), "datacenter_id");
    assert_eq!(snake_case("k8sClusterId"), "k8s_cluster_id");
    assert_eq!(snake_case("X-Contract-Number"), "x_contract_number");
    assert_eq!(snake_case("filter.status"), "filter_status");
    assert_eq!(
        snake_case("networkLoadBalancerId"),
        "network_load_balancer_id"
    );
    assert_eq!(snake_case("GPUsId"), "gp_us_id");
}
