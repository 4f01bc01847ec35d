//! `spec-diff <old.yaml> <new.yaml> [--manifest tool-manifest.yaml]`: what replacing a spec
//! would change for the operations the manifest selects. Exit status: 0 no breaking change,
//! 1 breaking changes, 2 bad usage or unreadable input.
//!
//! Run from the project root: `cargo run -p ionos-mcp-codegen --bin spec-diff -- old.yaml new.yaml`

use std::path::Path;
use std::process::ExitCode;

use ionos_mcp_codegen::{Spec, load_manifest, specdiff};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut files = Vec::new();
    let mut manifest_file = "tool-manifest.yaml".to_string();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--manifest" => match it.next() {
                Some(m) => manifest_file = m.clone(),
                None => return usage("--manifest needs a file"),
            },
            "-h" | "--help" => return usage(""),
            _ => files.push(a.clone()),
        }
    }
    let [old, new] = files.as_slice() else {
        return usage("expected two spec files");
    };
    let manifest = match load_manifest(Path::new("."), &manifest_file) {
        Ok(m) => m,
        Err(e) => return fail(&e.to_string()),
    };
    let read = |f: &str| -> Result<Spec, String> {
        let bytes = std::fs::read(f).map_err(|e| format!("{f}: cannot read: {e}"))?;
        Spec::parse(f, &bytes)
    };
    let (old_spec, new_spec) = match (read(old), read(new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => return fail(&e),
    };
    // The operations of the products whose spec has the new file's name; all when none does.
    let name = |f: &str| Path::new(f).file_name().map(|n| n.to_os_string());
    let mut selected: Vec<&str> = manifest
        .products
        .values()
        .filter(|p| name(&p.spec) == name(new) || name(&p.spec) == name(old))
        .flat_map(|p| p.tools.iter().map(|t| t.operation.as_str()))
        .collect();
    if selected.is_empty() {
        selected = manifest
            .products
            .values()
            .flat_map(|p| p.tools.iter().map(|t| t.operation.as_str()))
            .collect();
    }
    let changes = specdiff::diff(&old_spec, &new_spec, &selected);
    let breaking = changes.iter().filter(|c| c.breaking).count();
    let mut last = "";
    for c in &changes {
        if c.operation_id != last {
            println!("{}", c.operation_id);
            last = &c.operation_id;
        }
        println!(
            "  {} {}",
            if c.breaking { "BREAKING" } else { "ok      " },
            c.what
        );
    }
    println!(
        "\n{} selected operations compared ({} -> {}): {} changes, {} breaking",
        selected.len(),
        old,
        new,
        changes.len(),
        breaking
    );
    if breaking > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn usage(problem: &str) -> ExitCode {
    if !problem.is_empty() {
        eprintln!("spec-diff: {problem}");
    }
    eprintln!("usage: spec-diff <old.yaml> <new.yaml> [--manifest tool-manifest.yaml]");
    ExitCode::from(2)
}

fn fail(message: &str) -> ExitCode {
    eprintln!("spec-diff: {message}");
    ExitCode::from(2)
}
