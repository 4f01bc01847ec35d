//! One snapshot per tool definition, exactly as served in `tools/list`. A spec upgrade or a
//! manifest change shows up as a reviewable diff per tool (`cargo insta review`).

use ionos_mcp::tools::table::TOOLS;

#[test]
fn every_tool_definition_is_snapshotted() {
    let mut settings = insta::Settings::clone_current();
    settings.set_sort_maps(true);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path("../snapshots/tools");
    settings.bind(|| {
        for tool in TOOLS {
            let def = serde_json::to_value(tool.to_mcp()).expect("tool serialises");
            insta::assert_json_snapshot!(tool.name, def);
        }
    });
}
