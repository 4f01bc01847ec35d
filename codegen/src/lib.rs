//! ionos-mcp's generator: OpenAPI specs + tool manifest -> typed request functions and the MCP
//! tool table, as Rust source.
//!
//! The library does no printing and reads no environment; `build.rs` resolves the paths, calls
//! [`generate`] and writes the result. Tests call the same functions on fixture inputs.

pub mod budget;
pub mod diagnostics;
pub mod fidelity;
pub mod manifest;
pub mod render;
pub mod shape;
pub mod spec;
pub mod specdiff;
pub mod table;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use diagnostics::{Diagnostic, Diagnostics};
pub use manifest::Manifest;
pub use spec::Spec;
pub use table::{ToolDef, ToolTable};

/// Where the generator's inputs live, relative to the project root.
pub const MANIFEST_FILE: &str = "tool-manifest.yaml";
pub const TEMPLATE_FILE: &str = "templates/tools.rs.j2";

/// The generator's output.
pub struct Generated {
    pub table: ToolTable,
    /// Formatted Rust source, with its `@generated` header.
    pub source: String,
    /// Every file read, for `cargo:rerun-if-changed`.
    pub inputs: Vec<PathBuf>,
}

/// Why generation failed.
#[derive(Debug)]
pub enum Error {
    /// A file could not be read or parsed.
    Input(String),
    /// The manifest and specs disagree; every problem is listed.
    Manifest(Diagnostics),
    /// The template failed or produced invalid Rust (a bug in the template).
    Render(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Input(m) | Error::Render(m) => write!(f, "{m}"),
            Error::Manifest(d) => write!(f, "{d}"),
        }
    }
}

impl std::error::Error for Error {}

/// Reads and parses a manifest file.
pub fn load_manifest(root: &Path, manifest_file: &str) -> Result<Manifest, Error> {
    let manifest_path = root.join(manifest_file);
    let text = std::fs::read_to_string(&manifest_path)
        .map_err(|e| Error::Input(format!("{}: cannot read: {e}", manifest_path.display())))?;
    manifest::parse(&text).map_err(|e| Error::Input(format!("{manifest_file}: {e}")))
}

/// Type of what [`load`] returns: the manifest, its specs by file name, and the files read.
pub type Loaded = (Manifest, BTreeMap<String, Spec>, Vec<PathBuf>);

/// Loads the manifest and the specs it names from `root`.
pub fn load(root: &Path, manifest_file: &str) -> Result<Loaded, Error> {
    let manifest = load_manifest(root, manifest_file)?;
    let mut inputs = vec![root.join(manifest_file)];
    let mut specs = BTreeMap::new();
    for product in manifest.products.values() {
        if specs.contains_key(&product.spec) {
            continue;
        }
        let path = root.join(&product.spec);
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::Input(format!(
                "{}: cannot read spec `{}`: {e}",
                manifest_file, product.spec
            ))
        })?;
        let spec = Spec::parse(&product.spec, &bytes).map_err(Error::Input)?;
        inputs.push(path);
        specs.insert(product.spec.clone(), spec);
    }
    Ok((manifest, specs, inputs))
}

/// Builds the validated tool table from a manifest and its specs.
pub fn tool_table(manifest: &Manifest, specs: &BTreeMap<String, Spec>) -> Result<ToolTable, Error> {
    table::build(manifest, specs).map_err(Error::Manifest)
}

/// The whole pipeline: read, validate, render.
pub fn generate(root: &Path) -> Result<Generated, Error> {
    let (manifest, specs, mut inputs) = load(root, MANIFEST_FILE)?;
    let table = tool_table(&manifest, &specs)?;
    let template_path = root.join(TEMPLATE_FILE);
    let template = std::fs::read_to_string(&template_path)
        .map_err(|e| Error::Input(format!("{TEMPLATE_FILE}: cannot read: {e}")))?;
    inputs.push(template_path);
    for d in &manifest.documents {
        let path = root.join(&d.file);
        if !path.is_file() {
            return Err(Error::Input(format!(
                "{MANIFEST_FILE}: document `{}`: {} is not a file",
                d.name, d.file
            )));
        }
        inputs.push(path);
    }
    let header = header(&table, &inputs[0], root);
    let source = render::render(&table, &template, &header).map_err(Error::Render)?;
    Ok(Generated {
        table,
        source,
        inputs,
    })
}

fn header(table: &ToolTable, manifest_path: &Path, _root: &Path) -> String {
    use sha2::{Digest, Sha256};
    let manifest_sha = std::fs::read(manifest_path)
        .map(|b| {
            Sha256::digest(&b)
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect::<String>()
        })
        .unwrap_or_default();
    let mut h = format!("// @generated from {MANIFEST_FILE} (sha256 {manifest_sha})");
    for s in &table.specs {
        h.push_str(&format!("\n//   and {} (sha256 {})", s.file, s.sha256));
    }
    h.push_str(
        "\n// Do not edit: change the manifest, a spec or templates/tools.rs.j2 and rebuild.",
    );
    h
}

/// Writes `contents` to `path` only when it differs, so unchanged output keeps its mtime.
pub fn write_if_changed(path: &Path, contents: &str) -> std::io::Result<bool> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(false);
    }
    std::fs::write(path, contents)?;
    Ok(true)
}
