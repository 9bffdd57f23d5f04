//! What every library routine (`kernel::Routine`) computes: one arm per
//! routine, on host tensors, with the interpreter's kernels for the op it
//! runs (`backend::interp`'s `movement`, `conv`, `window`, `indexing`,
//! `random`). This `match` is the specification a backend's routines are
//! tested against (`tests/it/cpu_library.rs`), and what a backend calls for
//! the dtypes it has no code of its own for.

use ndarray::ArrayD;

use crate::backend::interp::{conv, indexing, kernels::Elem, movement, random, window};
use crate::backend::RunError;
use crate::ir::DType;
use crate::kernel::Routine;
use crate::tensor::Tensor;

/// Applies a body generic over the element type to a tensor of any dtype.
macro_rules! each_dtype {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            Tensor::F32($a) => Tensor::F32($body),
            Tensor::F64($a) => Tensor::F64($body),
            Tensor::I32($a) => Tensor::I32($body),
            Tensor::Bool($a) => Tensor::Bool($body),
        }
    };
}

/// `r` applied to `args`, as a tensor of the result buffer's `dtype` and
/// bound `shape`. Operands the typing rule rejects are an internal error;
/// an index outside a table is the run-time error the interpreter gives.
pub fn routine(
    r: &Routine,
    args: &[&Tensor],
    dtype: DType,
    shape: &[usize],
) -> Result<Tensor, RunError> {
    let bad = || -> RunError {
        panic!(
            "internal: `{}` on operands the typing rule rejects",
            r.name()
        )
    };
    let a = args[0];
    Ok(match r {
        Routine::Slice {
            start,
            stop,
            stride,
        } => {
            // A symbolic axis is kept whole: its stop is its run-time size.
            let stop: Vec<usize> = stop
                .iter()
                .zip(a.shape())
                .map(|(d, &n)| d.fixed().unwrap_or(n))
                .collect();
            each_dtype!(a, a => movement::slice(a, start, &stop, stride))
        }
        Routine::Pad {
            low,
            interior,
            value,
            ..
        } => each_dtype!(a, a => movement::pad(a, low, interior, Elem::of(*value), shape)),
        Routine::Concat { axis } => concat(args, *axis).ok_or_else(bad)?,
        Routine::Reverse { axes } => each_dtype!(a, a => movement::reverse(a, axes)),
        Routine::Gather => {
            let Tensor::I32(indices) = args[1] else {
                return Err(bad());
            };
            each_dtype!(a, t => indexing::gather(t, indices).map_err(RunError)?)
        }
        Routine::ScatterAdd => {
            let (Tensor::I32(indices), updates) = (args[1], args[2]) else {
                return Err(bad());
            };
            match (a.clone(), updates) {
                (Tensor::F32(a), Tensor::F32(u)) => {
                    Tensor::F32(indexing::scatter_add(a, indices, u).map_err(RunError)?)
                }
                (Tensor::F64(a), Tensor::F64(u)) => {
                    Tensor::F64(indexing::scatter_add(a, indices, u).map_err(RunError)?)
                }
                (Tensor::I32(a), Tensor::I32(u)) => {
                    Tensor::I32(indexing::scatter_add(a, indices, u).map_err(RunError)?)
                }
                _ => return Err(bad()),
            }
        }
        Routine::Conv(c) => match (a, args[1]) {
            (Tensor::F32(x), Tensor::F32(w)) => Tensor::F32(conv::conv(x, w, c, shape)),
            (Tensor::F64(x), Tensor::F64(w)) => Tensor::F64(conv::conv(x, w, c, shape)),
            _ => return Err(bad()),
        },
        Routine::ReduceWindow { op, window: w } => match a {
            Tensor::F32(a) => Tensor::F32(window::reduce_window(*op, a, w, shape)),
            Tensor::F64(a) => Tensor::F64(window::reduce_window(*op, a, w, shape)),
            Tensor::I32(a) => Tensor::I32(window::reduce_window(*op, a, w, shape)),
            Tensor::Bool(_) => return Err(bad()),
        },
        Routine::Random { dist, stream } => {
            let key = match a {
                Tensor::I32(k) => k.iter().next().copied().ok_or_else(bad)?,
                _ => return Err(bad()),
            };
            match dtype {
                DType::F32 => Tensor::F32(random::random_f32(*dist, key, *stream, shape)),
                DType::F64 => Tensor::F64(random::random_f64(*dist, key, *stream, shape)),
                _ => return Err(bad()),
            }
        }
    })
}

/// Joins tensors of one dtype along `axis`; `None` if the dtypes differ.
fn concat(parts: &[&Tensor], axis: usize) -> Option<Tensor> {
    fn join<T: Clone>(
        parts: &[&Tensor],
        axis: usize,
        of: impl Fn(&Tensor) -> Option<&ArrayD<T>>,
    ) -> Option<ArrayD<T>> {
        let views = parts
            .iter()
            .map(|t| of(t).map(|a| a.view()))
            .collect::<Option<Vec<_>>>()?;
        Some(movement::concat(&views, axis))
    }
    Some(match parts.first()? {
        Tensor::F32(_) => Tensor::F32(join(parts, axis, |t| match t {
            Tensor::F32(a) => Some(a),
            _ => None,
        })?),
        Tensor::F64(_) => Tensor::F64(join(parts, axis, |t| match t {
            Tensor::F64(a) => Some(a),
            _ => None,
        })?),
        Tensor::I32(_) => Tensor::I32(join(parts, axis, |t| match t {
            Tensor::I32(a) => Some(a),
            _ => None,
        })?),
        Tensor::Bool(_) => Tensor::Bool(join(parts, axis, |t| match t {
            Tensor::Bool(a) => Some(a),
            _ => None,
        })?),
    })
}
