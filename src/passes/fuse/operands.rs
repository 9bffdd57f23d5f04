//! What fusion decides per value before it builds kernels: which nodes an
//! output needs, which matmuls only a sum over their batch reads (one
//! `summed` contraction), how an operand is read (through a transpose, a
//! broadcast or a slice at an offset), and the contraction kernel itself.

use crate::ir::{Dim, Graph, Op, ReduceOp, Value};
use crate::kernel::{extents, row_major, BufId, Kernel, MatOperand, Size};

/// The contraction kernel of the matmul `v` writing `out`; with `summed`,
/// `out` is the sum over the batch of the products (see
/// [`Kernel::MatMul`]).
pub(super) fn matmul_kernel(
    g: &Graph,
    v: Value,
    out: BufId,
    buf_of: &[Option<BufId>],
    summed: bool,
) -> Kernel {
    let ops = g.operands(v);
    let (a, ta, sa) = peel_operand(g, ops[0]);
    let (b, tb, sb) = peel_operand(g, ops[1]);
    let d = &g.ty(v).shape.0;
    let r = d.len();
    let a_ty = g.ty(ops[0]);
    Kernel::MatMul {
        out,
        batch: d[..r - 2].to_vec(),
        summed,
        m: d[r - 2].clone(),
        k: a_ty.shape.0[r - 1].clone(),
        n: d[r - 1].clone(),
        a: MatOperand {
            buf: buf_of[a.index()].expect("internal: matmul operand buffer"),
            transposed: ta,
            shared: sa,
        },
        b: MatOperand {
            buf: buf_of[b.index()].expect("internal: matmul operand buffer"),
            transposed: tb,
            shared: sb,
        },
        epilogue: None,
    }
}

/// Batched matmuls that only a sum over all their batch axes reads (the
/// gradient of a weight shared across a batch: `Σ_b Xbᵀ·dYb`). The sum's
/// kernel computes them as one contraction into `[m, n]`, so the
/// `[batch, m, n]` products are never stored.
pub(super) fn summed_matmuls(g: &Graph, users: &[Vec<Value>]) -> Vec<bool> {
    let mut summed = vec![false; g.len()];
    for v in g.nodes() {
        let Op::Reduce {
            op: ReduceOp::Sum,
            axes,
        } = g.op(v)
        else {
            continue;
        };
        let mm = g.operands(v)[0];
        let r = g.ty(mm).rank();
        summed[mm.index()] = matches!(g.op(mm), Op::MatMul)
            && r > 2
            && *axes == (0..r - 2).collect::<Vec<_>>()
            && users[mm.index()] == [v]
            && g.outputs.iter().all(|o| o.value != mm);
    }
    summed
}

/// Nodes some output depends on. `dim` reads only its operand's shape.
pub(super) fn needed_nodes(g: &Graph) -> Vec<bool> {
    let mut needed = vec![false; g.len()];
    for o in &g.outputs {
        needed[o.value.index()] = true;
    }
    for &i in &g.inputs {
        needed[i.index()] = true;
    }
    for v in g.nodes().collect::<Vec<_>>().into_iter().rev() {
        if needed[v.index()] && reads_value(g.op(v)) {
            for o in g.operands(v) {
                needed[o.index()] = true;
            }
        }
    }
    needed
}

pub(super) fn reads_value(op: &Op) -> bool {
    !matches!(op, Op::DimSize { .. })
}

/// What a matmul reads for its operand `v`: the value, whether it is read
/// transposed (see [`peel_transpose`]) and whether it is one matrix
/// broadcast over the batch (read in place for every batch index).
pub(super) fn peel_operand(g: &Graph, v: Value) -> (Value, bool, bool) {
    if let Op::Broadcast { dims } = g.op(v) {
        let x = g.operands(v)[0];
        let r = g.ty(v).rank();
        if r > 2 && g.ty(x).rank() == 2 && *dims == [r - 2, r - 1] {
            let (x, t) = peel_transpose(g, x);
            return (x, t, true);
        }
    }
    let (x, t) = peel_transpose(g, v);
    (x, t, false)
}

/// `(x, true)` when `v` is `x` with its last two axes swapped (a matmul
/// reads it transposed for free), else `(v, false)`.
fn peel_transpose(g: &Graph, v: Value) -> (Value, bool) {
    if let Op::Transpose { perm } = g.op(v) {
        let r = perm.len();
        let swap = r >= 2
            && perm[r - 2] == r - 1
            && perm[r - 1] == r - 2
            && perm[..r - 2].iter().enumerate().all(|(i, &p)| i == p);
        if swap {
            return (g.operands(v)[0], true);
        }
    }
    (v, false)
}

/// Where slice `v` starts in its operand's row-major buffer, in elements,
/// when that is one monomial (every nonzero start along an axis of the
/// same stride's symbols): then the slice is a load at that offset, with
/// its operand's strides scaled by the slice's steps.
pub(super) fn slice_offset(g: &Graph, v: Value) -> Option<Size> {
    let Op::Slice { start, .. } = g.op(v) else {
        return None;
    };
    let rm = row_major(&extents(g.ty(g.operands(v)[0]).shape.dims()));
    let mut offset = Size::zero();
    for (s, r) in start.iter().zip(&rm).filter(|(s, _)| **s > 0) {
        let term = r.scale(*s as u64);
        if offset.is_zero() {
            offset = term;
        } else if offset.syms == term.syms {
            offset.coeff += term.coeff;
        } else {
            return None;
        }
    }
    Some(offset)
}

/// A reshape that only adds or removes size-1 axes: an index map, not a view.
pub(super) fn is_map_reshape(g: &Graph, v: Value) -> bool {
    let src = g.operands(v)[0];
    non_unit(g.ty(src).shape.dims()) == non_unit(g.ty(v).shape.dims())
}

fn non_unit(dims: &[Dim]) -> Vec<Dim> {
    dims.iter()
        .filter(|d| **d != Dim::Fixed(1))
        .cloned()
        .collect()
}
