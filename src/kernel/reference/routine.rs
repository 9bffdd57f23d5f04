//! What every library routine (`kernel::Routine`) computes: the
//! interpreter's definition of the op the routine runs (`interp::apply`,
//! reached through `Routine::op`), so a routine means exactly what its op
//! means in the oracle. This is the specification a backend's routines are
//! tested against (`tests/it/cpu_library.rs`), and what a backend calls for
//! the dtypes it has no code of its own for.

use crate::backend::interp;
use crate::backend::RunError;
use crate::ir::DType;
use crate::kernel::Routine;
use crate::tensor::Tensor;

/// `r` applied to `args`, as a tensor of the result buffer's `dtype` and
/// bound `shape`. Operands the typing rule rejects are an internal error;
/// an index outside a table is the run-time error the interpreter gives.
pub fn routine(
    r: &Routine,
    args: &[&Tensor],
    dtype: DType,
    shape: &[usize],
) -> Result<Tensor, RunError> {
    interp::apply(&r.op(), args, dtype, shape)
}
