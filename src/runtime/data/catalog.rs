//! The file-backed [`DataCatalog`] that `dlc check` hands the checker: it
//! answers a field's dtype, per-sample shape and sample count from the file.
//! IDX and NPY files are answered from their headers, after counting (not
//! keeping) the payload bytes so a truncated file fails at check time; CSV
//! files are small and are parsed in full, so a ragged row or a bad label
//! fails at check time too. Text files are tokenized in full, for the
//! vocabulary size.

use std::path::PathBuf;

use crate::ir::DType;
use crate::sema::data::{DataCatalog, DataError, FieldSchema, FieldSource, FileFormat, TextSchema};

use super::{field, idx, load_field, load_text, npy, resolve};

/// Reads fields from files under `base` (the directory the program runs
/// from).
#[derive(Clone, Debug)]
pub struct FileCatalog {
    pub base: PathBuf,
}

impl DataCatalog for FileCatalog {
    fn field(&self, name: &str, source: &FieldSource) -> Result<FieldSchema, DataError> {
        let path = resolve(&self.base, &source.path);
        let shown = source.path.as_str();
        // An i32 field must see every value when the file stores floats
        // (are they whole?), a bool field unless the file stores bools (are
        // they 0 or 1?); otherwise the header is enough.
        let needs_values = |integer_payload: bool, bool_payload: bool| match source.dtype {
            DType::I32 => !integer_payload,
            DType::Bool => !bool_payload,
            DType::F32 | DType::F64 => false,
        };
        let shape = match source.format {
            FileFormat::Csv { .. } => load_field(name, source, &self.base)?.shape().to_vec(),
            FileFormat::Idx => {
                let h = idx::header(&path, shown)?;
                if needs_values(h.elem.is_integer(), false) {
                    load_field(name, source, &self.base)?.shape().to_vec()
                } else {
                    field::select(&h.dims, &source.columns, shown)?.shape
                }
            }
            FileFormat::Npy => {
                let h = npy::header(&path, shown)?;
                if needs_values(h.elem.is_integer(), h.elem == npy::Elem::B1) {
                    load_field(name, source, &self.base)?.shape().to_vec()
                } else {
                    field::select(&h.shape, &source.columns, shown)?.shape
                }
            }
            FileFormat::Text(_) => load_field(name, source, &self.base)?.shape().to_vec(),
        };
        Ok(FieldSchema {
            name: name.to_string(),
            dtype: source.dtype,
            sample_shape: shape[1..].to_vec(),
            samples: shape[0],
        })
    }

    /// Tokenizes the whole file: the vocabulary size needs every token.
    fn text(&self, name: &str, source: &FieldSource) -> Result<TextSchema, DataError> {
        let FileFormat::Text(opts) = &source.format else {
            return Err(super::read::malformed(format!(
                "{}: not a text source",
                source.path
            )));
        };
        let (vocab, ids) = load_text(source, opts, &self.base)?;
        Ok(TextSchema {
            field: FieldSchema {
                name: name.to_string(),
                dtype: ids.dtype(),
                sample_shape: vec![],
                samples: ids.shape()[0],
            },
            vocab: vocab.len(),
            tokens: vocab.tokens,
        })
    }
}
