//! Generates the tool table from `tool-manifest.yaml`, `specs/` and `templates/` (see codegen/).

use std::path::PathBuf;

fn main() {
    let root =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed=build.rs");
    println!(
        "cargo:rerun-if-changed={}",
        ionos_mcp_codegen::MANIFEST_FILE
    );
    println!("cargo:rerun-if-changed=specs");
    println!("cargo:rerun-if-changed=templates");
    match ionos_mcp_codegen::generate(&root) {
        Ok(generated) => {
            for input in &generated.inputs {
                println!("cargo:rerun-if-changed={}", input.display());
            }
            if let Err(e) =
                ionos_mcp_codegen::write_if_changed(&out.join("tools.rs"), &generated.source)
            {
                eprintln!("cannot write generated tools.rs: {e}");
                std::process::exit(1);
            }
        }
        Err(e) => {
            // Cargo shows a build script's stderr when it fails; one readable report, no panic.
            eprintln!("\n{e}");
            std::process::exit(1);
        }
    }
}
