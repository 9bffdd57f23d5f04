//! From a file's raw array to a field's tensor: the one place that picks
//! columns (`All`, `AllBut(i)`, `Only(i)`, negative from the end) and
//! converts values to the declared dtype, refusing what would silently lose
//! meaning (a label of 3.5, a bool of 2). Every format loader produces a
//! [`RawArray`] and ends here, so all formats agree on shapes and messages.

use ndarray::{ArrayD, IxDyn};

use crate::ir::DType;
use crate::sema::data::{Columns, DataError};
use crate::tensor::Tensor;

use super::read::malformed;

/// A file's values in the element type they were stored in (no widening
/// copy of a 47 MB u8 image file).
pub(crate) enum Values {
    U8(Vec<u8>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
}

impl Values {
    fn get(&self, i: usize) -> f64 {
        match self {
            Values::U8(v) => f64::from(v[i]),
            Values::I8(v) => f64::from(v[i]),
            Values::I16(v) => f64::from(v[i]),
            Values::I32(v) => f64::from(v[i]),
            Values::I64(v) => v[i] as f64,
            Values::F32(v) => f64::from(v[i]),
            Values::F64(v) => v[i],
            Values::Bool(v) => f64::from(u8::from(v[i])),
        }
    }
}

/// An array as stored in a file, row-major, axis 0 = sample.
pub(crate) struct RawArray {
    pub shape: Vec<usize>,
    pub values: Values,
}

/// Which source columns a field takes and the field's full shape
/// (`[samples, ...]`). Columns are only chosen from a 2-d table.
pub(crate) struct Selection {
    pub shape: Vec<usize>,
    /// `None`: every element, in order.
    columns: Option<Vec<usize>>,
}

/// Resolves `columns` against an array of `shape`, stored in `shown`.
pub(crate) fn select(
    shape: &[usize],
    columns: &Columns,
    shown: &str,
) -> Result<Selection, DataError> {
    if shape.is_empty() {
        return Err(malformed(format!(
            "{shown}: holds a single value, not samples along a first axis"
        )));
    }
    if *columns == Columns::All {
        return Ok(Selection {
            shape: shape.to_vec(),
            columns: None,
        });
    }
    if shape.len() != 2 {
        return Err(malformed(format!(
            "{shown}: columns can only be chosen from a table of rows and columns, but the data has shape {shape:?}"
        )));
    }
    let (rows, cols) = (shape[0], shape[1]);
    let resolve = |i: i64| -> Result<usize, DataError> {
        let j = if i < 0 { cols as i64 + i } else { i };
        if j < 0 || j >= cols as i64 {
            return Err(malformed(format!(
                "{shown}: column {i} is out of range: the file has {cols} columns"
            )));
        }
        Ok(j as usize)
    };
    Ok(match *columns {
        Columns::All => unreachable!("internal: handled above"),
        Columns::Only(i) => Selection {
            shape: vec![rows],
            columns: Some(vec![resolve(i)?]),
        },
        Columns::AllBut(i) => {
            let skip = resolve(i)?;
            Selection {
                shape: vec![rows, cols - 1],
                columns: Some((0..cols).filter(|&c| c != skip).collect()),
            }
        }
    })
}

/// The field `name` of dtype `dtype` from `raw`. `locate(sample)` says
/// where a sample is in the file ("on line 12", "at sample 12") for
/// messages about a bad value.
pub(crate) fn to_tensor(
    raw: &RawArray,
    columns: &Columns,
    dtype: DType,
    name: &str,
    shown: &str,
    locate: &dyn Fn(usize) -> String,
) -> Result<Tensor, DataError> {
    let sel = select(&raw.shape, columns, shown)?;
    let n: usize = sel.shape.iter().product();
    // Elements per sample; never 0 when there is an element to convert.
    let per_row: usize = sel.shape[1..].iter().product();
    let src_cols = raw.shape.get(1).copied().unwrap_or(1);
    // The source index of output element `i`.
    let src = |i: usize| match &sel.columns {
        None => i,
        Some(cols) => (i / per_row) * src_cols + cols[i % per_row],
    };
    let bad = |i: usize, v: f64, what: &str| {
        let row = i / per_row;
        malformed(format!("{shown}: {name} {v} {} is not {what}", locate(row)))
    };
    let dim = IxDyn(&sel.shape);
    let tensor = match dtype {
        DType::F32 => Tensor::F32(from_vec(
            dim,
            (0..n).map(|i| raw.values.get(src(i)) as f32).collect(),
        )),
        DType::F64 => Tensor::F64(from_vec(
            dim,
            (0..n).map(|i| raw.values.get(src(i))).collect(),
        )),
        DType::I32 => {
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let v = raw.values.get(src(i));
                if v.fract() != 0.0 || !v.is_finite() {
                    return Err(bad(i, v, "a whole number"));
                }
                if v < f64::from(i32::MIN) || v > f64::from(i32::MAX) {
                    return Err(bad(i, v, "within the range of i32"));
                }
                out.push(v as i32);
            }
            Tensor::I32(from_vec(dim, out))
        }
        DType::Bool => {
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let v = raw.values.get(src(i));
                if v != 0.0 && v != 1.0 {
                    return Err(bad(i, v, "0 or 1 (a bool)"));
                }
                out.push(v == 1.0);
            }
            Tensor::Bool(from_vec(dim, out))
        }
    };
    Ok(tensor)
}

fn from_vec<T>(dim: IxDyn, v: Vec<T>) -> ArrayD<T> {
    ArrayD::from_shape_vec(dim, v).expect("internal: selection shape matches its element count")
}
