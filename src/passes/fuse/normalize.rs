//! Loop normalization, the last step of fusion: size-1 axes are dropped
//! and adjacent axes that every access walks contiguously are merged, so
//! backends see few, long loops.

use crate::kernel::{Expr, Inst, Kernel, Size};

/// Drops size-1 loop axes and merges adjacent axes that every access (and
/// the row-major output) walks as one, in every loop nest of `k`.
pub(super) fn normalize(k: &mut Kernel) {
    match k {
        Kernel::Elementwise { dims, body, .. } => {
            let mut no_axes = Vec::new();
            collapse(dims, body, &mut no_axes);
        }
        Kernel::Reduce {
            dims, axes, body, ..
        } => collapse(dims, body, axes),
        Kernel::MatMul {
            epilogue: Some((dims, body)),
            ..
        } => {
            let mut no_axes = Vec::new();
            collapse(dims, body, &mut no_axes);
        }
        Kernel::MatMul { .. } | Kernel::Library { .. } | Kernel::Scan(_) => {}
    }
}

pub(super) fn collapse(dims: &mut Vec<Size>, body: &mut Expr, reduced: &mut Vec<usize>) {
    // Size-1 axes: their index is always 0.
    let mut l = 0;
    while l < dims.len() {
        if dims[l] == Size::one() && dims.len() > 1 {
            remove_axis(dims, body, reduced, l, false);
        } else {
            l += 1;
        }
    }
    // Adjacent axes l, l+1 that every load walks as one.
    let mut l = 0;
    while l + 1 < dims.len() {
        let inner = dims[l + 1].clone();
        let same_kind = reduced.contains(&l) == reduced.contains(&(l + 1));
        let indexed = body
            .insts
            .iter()
            .any(|(i, _)| matches!(i, Inst::Index(a) if *a == l || *a == l + 1));
        let walks = body
            .loads()
            .all(|a| a.strides[l] == a.strides[l + 1].mul(&inner));
        if same_kind && !indexed && walks {
            dims[l + 1] = dims[l].mul(&inner);
            remove_axis(dims, body, reduced, l, true);
        } else {
            l += 1;
        }
    }
}

/// Removes loop axis `l`. Without `merge`, its index becomes 0; with it, the
/// axis has been folded into `l + 1` (strides of `l + 1` already right).
pub(super) fn remove_axis(
    dims: &mut Vec<Size>,
    body: &mut Expr,
    reduced: &mut Vec<usize>,
    l: usize,
    merge: bool,
) {
    dims.remove(l);
    for (inst, _) in &mut body.insts {
        match inst {
            Inst::Load(a) => {
                a.strides.remove(l);
            }
            Inst::Index(ax) if *ax == l => {
                debug_assert!(!merge);
                *inst = Inst::Const(0.0);
            }
            Inst::Index(ax) if *ax > l => *ax -= 1,
            _ => {}
        }
    }
    // A merged axis lives on as `l + 1`, now `l`; a dropped one is gone.
    reduced.retain(|&a| a != l);
    for a in reduced.iter_mut() {
        if *a > l {
            *a -= 1;
        }
    }
}
