//! Typing rules of the movement ops (slice, pad, concat), the indexing ops
//! (gather, scatter_add), the windowed ops (conv, reduce_window) and the
//! random ops, with the attribute structs of the windowed ops and the
//! output-size arithmetic they share with autodiff. `Op::result_type`
//! dispatches here; it stays the one statement of each rule.
//!
//! Sizes come from parsed text as well as from passes, so every sum and
//! product is checked: an absurd attribute is a type error, not an overflow.

use super::super::types::{DType, Dim, Shape, TensorType};

/// The extent of `n` elements with `d - 1` gaps between neighbours.
pub fn dilated(n: usize, d: usize) -> Option<usize> {
    if n == 0 {
        return Some(0);
    }
    (n - 1).checked_mul(d)?.checked_add(1)
}

/// How many windows of `extent` fit, `stride` apart, in `size` elements
/// padded by `low` and `high`; `None` when not even one fits (or on
/// overflow).
pub fn window_output(
    size: usize,
    low: usize,
    high: usize,
    extent: usize,
    stride: usize,
) -> Option<usize> {
    let padded = size.checked_add(low)?.checked_add(high)?;
    let room = padded.checked_sub(extent)?;
    Some(room / stride + 1)
}

fn too_large(what: &str) -> String {
    format!("{what}: sizes overflow")
}

fn lengths(op: &str, rank: usize, lists: &[(&str, usize)]) -> Result<(), String> {
    for (name, len) in lists {
        if *len != rank {
            return Err(format!(
                "{op} needs one `{name}` entry per axis ({rank}), got {len}"
            ));
        }
    }
    Ok(())
}

fn positive(op: &str, name: &str, xs: &[usize]) -> Result<(), String> {
    if xs.contains(&0) {
        return Err(format!(
            "{op} `{name}` entries must be at least 1, got {xs:?}"
        ));
    }
    Ok(())
}

pub(super) fn slice(
    a: &TensorType,
    start: &[usize],
    stop: &[Dim],
    stride: &[usize],
) -> Result<TensorType, String> {
    let r = a.rank();
    lengths(
        "slice",
        r,
        &[
            ("start", start.len()),
            ("stop", stop.len()),
            ("stride", stride.len()),
        ],
    )?;
    positive("slice", "stride", stride)?;
    let mut dims = Vec::with_capacity(r);
    for i in 0..r {
        let d = match (&a.shape.0[i], &stop[i]) {
            (Dim::Fixed(n), Dim::Fixed(e)) => {
                if start[i] > *e || *e > *n {
                    return Err(format!(
                        "slice axis {i} of {a}: start {} and stop {e} must satisfy start <= stop <= {n}",
                        start[i]
                    ));
                }
                Dim::Fixed((e - start[i]).div_ceil(stride[i]))
            }
            (Dim::Sym(x), Dim::Sym(y)) if x == y && start[i] == 0 && stride[i] == 1 => {
                Dim::Sym(x.clone())
            }
            (Dim::Sym(x), _) => {
                return Err(format!(
                "slice axis {i} of {a} is symbolic: it is kept whole (start 0, stop {x}, stride 1)"
            ))
            }
            (Dim::Fixed(_), Dim::Sym(y)) => {
                return Err(format!(
                    "slice axis {i} of {a} is fixed, but its stop is the symbol {y}"
                ))
            }
        };
        dims.push(d);
    }
    Ok(TensorType::new(a.dtype, Shape(dims)))
}

pub(super) fn pad(
    a: &TensorType,
    low: &[usize],
    high: &[usize],
    interior: &[usize],
) -> Result<TensorType, String> {
    let r = a.rank();
    lengths(
        "pad",
        r,
        &[
            ("low", low.len()),
            ("high", high.len()),
            ("interior", interior.len()),
        ],
    )?;
    let mut dims = Vec::with_capacity(r);
    for i in 0..r {
        let d = match &a.shape.0[i] {
            Dim::Fixed(n) => {
                let grown = dilated(
                    *n,
                    interior[i].checked_add(1).ok_or_else(|| too_large("pad"))?,
                )
                .and_then(|m| m.checked_add(low[i]))
                .and_then(|m| m.checked_add(high[i]))
                .ok_or_else(|| too_large("pad"))?;
                Dim::Fixed(grown)
            }
            Dim::Sym(x) if low[i] == 0 && high[i] == 0 && interior[i] == 0 => Dim::Sym(x.clone()),
            Dim::Sym(x) => {
                return Err(format!(
                    "pad cannot grow axis {i} of {a}: its size {x} is symbolic"
                ))
            }
        };
        dims.push(d);
    }
    Ok(TensorType::new(a.dtype, Shape(dims)))
}

pub(super) fn concat(operands: &[&TensorType], axis: usize) -> Result<TensorType, String> {
    let first = operands[0];
    let r = first.rank();
    if axis >= r {
        return Err(format!("concat axis {axis} out of range for {first}"));
    }
    let mut total = 0usize;
    for t in operands {
        if t.dtype != first.dtype || t.rank() != r {
            return Err(format!(
                "concat needs operands of one dtype and rank, got {first} and {t}"
            ));
        }
        for i in (0..r).filter(|&i| i != axis) {
            if t.shape.0[i] != first.shape.0[i] {
                return Err(format!(
                    "concat along axis {axis}: {first} and {t} differ on axis {i}"
                ));
            }
        }
        match &t.shape.0[axis] {
            Dim::Fixed(n) => total = total.checked_add(*n).ok_or_else(|| too_large("concat"))?,
            Dim::Sym(x) => {
                return Err(format!(
                    "concat along axis {axis} of {t}: its size {x} is symbolic"
                ))
            }
        }
    }
    let mut dims = first.shape.0.clone();
    dims[axis] = Dim::Fixed(total);
    Ok(TensorType::new(first.dtype, Shape(dims)))
}

pub(super) fn gather(table: &TensorType, indices: &TensorType) -> Result<TensorType, String> {
    if table.rank() == 0 {
        return Err(format!("gather needs a table of rank >= 1, got {table}"));
    }
    if indices.dtype != DType::I32 {
        return Err(format!("gather indices must be i32, got {indices}"));
    }
    let mut dims = indices.shape.0.clone();
    dims.extend(table.shape.0[1..].iter().cloned());
    Ok(TensorType::new(table.dtype, Shape(dims)))
}

pub(super) fn scatter_add(
    operand: &TensorType,
    indices: &TensorType,
    updates: &TensorType,
) -> Result<TensorType, String> {
    if operand.dtype == DType::Bool {
        return Err(format!("scatter_add is not defined on bool, got {operand}"));
    }
    let want = gather(operand, indices)?;
    if *updates != want {
        return Err(format!(
            "scatter_add of {indices} indices into {operand} needs updates {want}, got {updates}"
        ));
    }
    Ok(operand.clone())
}
