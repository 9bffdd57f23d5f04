//! Data-set specifications as the checker resolves them: where each field
//! comes from and which transforms run, in order. `runtime` loads them; the
//! checker only asks a [`DataCatalog`] for the fields' types, so the compiler
//! core itself never opens a file.

use crate::ir::DType;

/// One file format and how to read it.
#[derive(Clone, Debug, PartialEq)]
pub enum FileFormat {
    /// Text rows. `delimiter: None` accepts commas or runs of whitespace;
    /// `skip_rows` drops header lines.
    Csv {
        delimiter: Option<char>,
        skip_rows: usize,
    },
    /// MNIST's IDX format (u8/i8/i16/i32/f32/f64 payloads).
    Idx,
    /// NumPy `.npy` (little-endian f4/f8/i4/i8/u1/b1, C order).
    Npy,
}

/// Which columns of a CSV file a field takes. Indices may be negative, from
/// the end (`-1` is the last column).
#[derive(Clone, Debug, PartialEq)]
pub enum Columns {
    All,
    AllBut(i64),
    Only(i64),
}

/// Where one field's values come from. Paths are as written in the program,
/// relative to the directory the program is run from. Any file may be gzipped
/// (detected by its magic bytes, not its name).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldSource {
    pub path: String,
    pub format: FileFormat,
    pub columns: Columns,
    /// The dtype the field is converted to (`i32` labels are checked to be
    /// whole numbers).
    pub dtype: DType,
}

/// A field of a data set: a name, a dtype and the shape of one sample
/// (`x: f32[64]`, `label: i32[]`).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldSchema {
    pub name: String,
    pub dtype: DType,
    pub sample_shape: Vec<usize>,
    pub samples: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Transform {
    /// Multiply every value of `field` by `factor`.
    Scale { field: String, factor: f64 },
    /// Zero mean and unit variance per feature; statistics come from the
    /// first split when applied after a split, else from the whole set.
    Standardize { field: String },
    /// Per-feature rescale to [0, 1], statistics as for `Standardize`.
    MinMax { field: String },
    /// A seeded permutation of the samples.
    Shuffle { seed: u64 },
    /// Keep the first `n` samples.
    Take { n: usize },
    /// Named parts by fractions (summing to at most 1), after a seeded shuffle.
    Split {
        parts: Vec<(String, f64)>,
        seed: u64,
    },
}

/// A data set as declared: its fields' sources and its transforms.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetSpec {
    pub name: String,
    pub sources: Vec<(String, FieldSource)>,
    pub transforms: Vec<Transform>,
    /// The fields, as the catalog reported them.
    pub fields: Vec<FieldSchema>,
}

impl DatasetSpec {
    /// Names of the split parts (`train`, `test`), empty when never split.
    pub fn parts(&self) -> Vec<&str> {
        self.transforms
            .iter()
            .rev()
            .find_map(|t| match t {
                Transform::Split { parts, .. } => {
                    Some(parts.iter().map(|(n, _)| n.as_str()).collect())
                }
                _ => None,
            })
            .unwrap_or_default()
    }
}

/// Answers what fields a file holds, without loading all of it. The CLI
/// passes the runtime's file-backed catalog; tests may pass their own.
pub trait DataCatalog {
    /// The schema of the field that `source` describes, named `name`, or a
    /// message saying what is wrong with the file (missing, truncated, ...).
    fn field(&self, name: &str, source: &FieldSource) -> Result<FieldSchema, DataError>;
}

/// Why a data file could not be used; `kind` picks the diagnostic code.
#[derive(Clone, Debug, PartialEq)]
pub struct DataError {
    pub kind: DataErrorKind,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataErrorKind {
    NotFound,
    Malformed,
}

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DataError {}
