//! Data sets in memory: loading the files a [`DatasetSpec`] names (CSV, IDX,
//! NPY, any of them gzipped), applying its transforms, and cutting the result
//! into batches. A [`Table`] holds one tensor per field with the sample on
//! axis 0; a [`Dataset`] is its named parts (`train`, `test`, or `all` when
//! never split), with the [`Vocabulary`] of its text source if it has one.

mod catalog;
mod csv;
mod field;
mod idx;
mod npy;
pub(crate) mod read;
mod stream;
mod text;
mod transform;

pub use catalog::FileCatalog;
pub use stream::UnigramSampler;
pub use text::{tokenize, Vocabulary, UNK};

use std::ops::Range;
use std::path::{Path, PathBuf};

use ndarray::Axis;

use crate::sema::data::{DataError, DatasetSpec, FieldSource, FileFormat, TextOptions};
use crate::tensor::Tensor;

use read::malformed;

/// Samples along axis 0 of every field, all fields the same length.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub samples: usize,
    pub fields: Vec<(String, Tensor)>,
}

impl Table {
    pub fn field(&self, name: &str) -> Option<&Tensor> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// The samples at `idx`, in that order: a batch, a shuffle or a part.
    /// Panics (an internal error) when an index is out of range.
    pub fn gather(&self, idx: &[usize]) -> Table {
        if let Some(&bad) = idx.iter().find(|&&i| i >= self.samples) {
            panic!(
                "internal: sample {bad} of a table of {} samples",
                self.samples
            );
        }
        Table {
            samples: idx.len(),
            fields: self
                .fields
                .iter()
                .map(|(n, t)| (n.clone(), gather_rows(t, idx)))
                .collect(),
        }
    }

    /// The batches of `batch` samples taken in `order` (a permutation for a
    /// shuffled epoch, `0..samples` otherwise); the last one may be smaller.
    pub fn batches<'a>(
        &'a self,
        order: &'a [usize],
        batch: usize,
    ) -> impl Iterator<Item = Table> + 'a {
        batch_ranges(order.len(), batch)
            .into_iter()
            .map(move |r| self.gather(&order[r]))
    }
}

/// `0..samples` cut into consecutive ranges of `batch`; the last partial
/// batch is kept, so every sample is seen once an epoch.
pub fn batch_ranges(samples: usize, batch: usize) -> Vec<Range<usize>> {
    assert!(batch > 0, "internal: batch size 0");
    (0..samples)
        .step_by(batch)
        .map(|s| s..(s + batch).min(samples))
        .collect()
}

fn gather_rows(t: &Tensor, idx: &[usize]) -> Tensor {
    match t {
        Tensor::F32(a) => Tensor::F32(a.select(Axis(0), idx)),
        Tensor::F64(a) => Tensor::F64(a.select(Axis(0), idx)),
        Tensor::I32(a) => Tensor::I32(a.select(Axis(0), idx)),
        Tensor::Bool(a) => Tensor::Bool(a.select(Axis(0), idx)),
    }
}

/// A loaded data set: its parts, in the order the split named them (one part
/// called `all` when it is never split).
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub name: String,
    pub parts: Vec<(String, Table)>,
    /// The vocabulary of a `text(...)` source: how ids read back as text.
    pub vocab: Option<Vocabulary>,
}

impl Dataset {
    pub fn part(&self, name: &str) -> Option<&Table> {
        self.parts.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

/// Loads every field of `spec` (paths relative to `base`) and applies its
/// transforms in order.
pub fn load(spec: &DatasetSpec, base: &Path) -> Result<Dataset, DataError> {
    let mut fields: Vec<(String, Tensor)> = Vec::with_capacity(spec.sources.len());
    let mut vocab = None;
    for (name, source) in &spec.sources {
        let t = match &source.format {
            FileFormat::Text(opts) => {
                let (v, t) = load_text(source, opts, base)?;
                vocab = Some(v);
                t
            }
            _ => load_field(name, source, base)?,
        };
        if let Some((first, t0)) = fields.first() {
            let (n0, n) = (t0.shape()[0], t.shape()[0]);
            if n != n0 {
                let path0 = &spec.sources[0].1.path;
                return Err(malformed(format!(
                    "data set `{}`: field `{name}` ({}) has {n} samples but field `{first}` ({path0}) has {n0}",
                    spec.name, source.path
                )));
            }
        }
        fields.push((name.clone(), t));
    }
    let samples = fields.first().map_or(0, |(_, t)| t.shape()[0]);
    let table = Table { samples, fields };
    let parts = transform::apply(&spec.name, table, &spec.transforms)?;
    Ok(Dataset {
        name: spec.name.clone(),
        parts,
        vocab,
    })
}

/// A text source's vocabulary and its token ids, `i32[tokens]`.
pub fn load_text(
    source: &FieldSource,
    opts: &TextOptions,
    base: &Path,
) -> Result<(Vocabulary, Tensor), DataError> {
    let path = resolve(base, &source.path);
    let (vocab, ids) = text::load(&path, &source.path, opts)?;
    let n = ids.len();
    let t = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[n]), ids)
        .expect("internal: one id per token");
    Ok((vocab, Tensor::I32(t)))
}

/// One field, as `source` describes it, converted to its dtype; axis 0 is
/// the sample.
pub fn load_field(name: &str, source: &FieldSource, base: &Path) -> Result<Tensor, DataError> {
    let path = resolve(base, &source.path);
    let shown = source.path.as_str();
    match &source.format {
        FileFormat::Csv {
            delimiter,
            skip_rows,
        } => {
            let bytes = read::read_all(&path, shown)?;
            let table = csv::parse(&bytes, shown, *delimiter, *skip_rows)?;
            let locate = |row: usize| format!("on line {}", table.lines[row]);
            field::to_tensor(
                &table.array,
                &source.columns,
                source.dtype,
                name,
                shown,
                &locate,
            )
        }
        FileFormat::Idx => {
            let raw = idx::load(&path, shown)?;
            field::to_tensor(&raw, &source.columns, source.dtype, name, shown, &at_sample)
        }
        FileFormat::Npy => {
            let raw = npy::load(&path, shown)?;
            field::to_tensor(&raw, &source.columns, source.dtype, name, shown, &at_sample)
        }
        FileFormat::Text(opts) => Ok(load_text(source, opts, base)?.1),
    }
}

fn at_sample(row: usize) -> String {
    format!("at sample {row}")
}

/// A program's data path, relative to the directory it runs from.
fn resolve(base: &Path, path: &str) -> PathBuf {
    base.join(path)
}
