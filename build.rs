//! Generates the tool table from `tool-manifest.yaml`, `specs/` and `templates/` (see codegen/).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
    if packs_relative_relocations(&out) {
        // The loader reads a few KiB of packed relocations at start instead of ~0.9 MiB of
        // `.rela.dyn` (peak RSS over stdio, docs/benchmarks.md).
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
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

/// Whether the binary can be linked with packed relative relocations (DT_RELR): building for
/// this machine's Linux with glibc, whose linker (GNU ld 2.38+, lld) takes the option and whose
/// loader (glibc 2.36+) runs the result. Probed by linking and running an empty C program with
/// the C compiler Rust links with; anything else leaves the link as it is.
fn packs_relative_relocations(out: &Path) -> bool {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("TARGET") != var("HOST")
        || var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
    {
        return false;
    }
    let probe = out.join("relr-probe");
    let source = out.join("relr-probe.c");
    if std::fs::write(&source, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    let linked = Command::new("cc")
        .arg(&source)
        .arg("-o")
        .arg(&probe)
        .args(["-Wl,-z,pack-relative-relocs", "-Wl,--fatal-warnings"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    linked && Command::new(&probe).status().is_ok_and(|s| s.success())
}
