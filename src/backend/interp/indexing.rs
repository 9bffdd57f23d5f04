//! The interpreter's indexing kernels: `gather` (rows of a table picked by
//! i32 indices) and `scatter_add` (its adjoint: rows added back at those
//! indices). A row is contiguous in a standard-layout table, so each index
//! costs one slice copy or one slice add. An index outside the table is a
//! run-time error naming the index and where it sits.

use ndarray::{ArrayD, IxDyn};

use super::kernels::Num;

/// Checks `k` against `rows`, naming its position in `indices` if not.
fn row_of(
    k: i32,
    flat: usize,
    indices: &ArrayD<i32>,
    rows: usize,
    op: &str,
) -> Result<usize, String> {
    match usize::try_from(k) {
        Ok(r) if r < rows => Ok(r),
        _ => {
            let mut pos = vec![0; indices.ndim()];
            let mut rest = flat;
            for (p, &n) in pos.iter_mut().zip(indices.shape()).rev() {
                *p = rest % n;
                rest /= n;
            }
            Err(format!(
                "{op} index {k} at position {pos:?} is outside the {rows} rows of the table"
            ))
        }
    }
}

/// `table[indices]` along axis 0: `indices.shape ++ table.shape[1..]`.
pub fn gather<T: Clone>(table: &ArrayD<T>, indices: &ArrayD<i32>) -> Result<ArrayD<T>, String> {
    let rows = table.shape()[0];
    let row_len: usize = table.shape()[1..].iter().product();
    let table = table.as_standard_layout();
    let data = table
        .as_slice()
        .expect("internal: a standard-layout array is a slice");
    let mut out = Vec::with_capacity(indices.len() * row_len);
    for (flat, &k) in indices.iter().enumerate() {
        let r = row_of(k, flat, indices, rows, "gather")?;
        out.extend_from_slice(&data[r * row_len..(r + 1) * row_len]);
    }
    let mut shape = indices.shape().to_vec();
    shape.extend_from_slice(&table.shape()[1..]);
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), out).expect("internal: gather result shape"))
}

/// `operand` with row `i` of `updates` added to row `indices[i]`, in
/// place (the interpreter hands over the operand's buffer on its last
/// use). Repeated indices accumulate in index order.
pub fn scatter_add<T: Num>(
    operand: ArrayD<T>,
    indices: &ArrayD<i32>,
    updates: &ArrayD<T>,
) -> Result<ArrayD<T>, String> {
    let rows = operand.shape()[0];
    let row_len: usize = operand.shape()[1..].iter().product();
    let mut operand = if operand.is_standard_layout() {
        operand
    } else {
        operand.as_standard_layout().into_owned()
    };
    let updates = updates.as_standard_layout();
    let src = updates
        .as_slice()
        .expect("internal: a standard-layout array is a slice");
    let dst = operand
        .as_slice_mut()
        .expect("internal: a standard-layout array is a slice");
    for (flat, &k) in indices.iter().enumerate() {
        let r = row_of(k, flat, indices, rows, "scatter_add")?;
        let from = &src[flat * row_len..(flat + 1) * row_len];
        for (d, &u) in dst[r * row_len..(r + 1) * row_len].iter_mut().zip(from) {
            *d = d.plus(u);
        }
    }
    Ok(operand)
}
