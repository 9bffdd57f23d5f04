//! Shared test helpers: running the front end on source text, and a data
//! catalog that answers from memory so checker tests need no files.

use dlc::diag::Diagnostic;
use dlc::ir::DType;
use dlc::runtime::data::FileCatalog;
use dlc::sema::data::{DataCatalog, DataError, FieldSchema, FieldSource};
use dlc::sema::{self, Limits, Program};

/// A catalog with fixed fields: each source path maps to a schema.
pub struct MemoryCatalog(pub Vec<(&'static str, DType, Vec<usize>, usize)>);

impl DataCatalog for MemoryCatalog {
    fn field(&self, name: &str, source: &FieldSource) -> Result<FieldSchema, DataError> {
        let (_, dtype, shape, samples) = self
            .0
            .iter()
            .find(|(p, ..)| *p == source.path)
            .unwrap_or_else(|| panic!("test catalog has no {}", source.path));
        Ok(FieldSchema {
            name: name.to_string(),
            dtype: *dtype,
            sample_shape: shape.clone(),
            samples: *samples,
        })
    }
}

/// Parses and checks `src` against the real files (paths relative to the
/// package root, where tests run).
pub fn check_files(src: &str) -> Result<Program, Vec<Diagnostic>> {
    let file = dlc::syntax::parse(src)?;
    sema::check(&file, &FileCatalog { base: ".".into() }, Limits::default())
}

/// Parses and checks `src` against an in-memory catalog.
pub fn check_with(src: &str, catalog: &MemoryCatalog) -> Result<Program, Vec<Diagnostic>> {
    let file = dlc::syntax::parse(src)?;
    sema::check(&file, catalog, Limits::default())
}

/// Renders diagnostics for an assertion message.
pub fn show(src: &str, diags: &[Diagnostic]) -> String {
    dlc::diag::render(diags, "test.dl", src)
}

/// The source of an example program.
pub fn example(name: &str) -> String {
    std::fs::read_to_string(format!("examples/{name}.dl")).expect("example exists")
}

/// Every example program's name.
pub const EXAMPLES: &[&str] = &[
    "xor",
    "xor_perceptron",
    "digits_mlp",
    "breast_cancer",
    "diabetes",
    "sunspots_lstm",
];
