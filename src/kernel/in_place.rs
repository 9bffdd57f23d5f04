//! In-place updates: when may a step write an output straight into the
//! storage of the input it replaces (a parameter, an optimizer slot)? Then
//! a training step allocates nothing and streams each weight once.
//!
//! It may when nothing reads the input after the output's kernel starts
//! writing: every other reader of the input runs earlier, and the writing
//! kernel itself reads it only at the element it writes (an elementwise
//! kernel over the output's own index). A contraction writes its whole
//! result before its epilogue reads anything, so it may only when the
//! epilogue is `acc + c·input` (momentum's `0.9·m + g`): gemm then computes
//! `out = c·out + a·b` in one pass, reading the old value as it goes.

use crate::kernel::{row_major, BufId, BufKind, Expr, Inst, Kernel, KernelProgram};

/// How an output may share the storage of the input it updates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InPlace {
    /// It may not: the output gets storage of its own, handed over after
    /// the step.
    No,
    /// The output's kernel writes straight into the input.
    Direct,
    /// The output is a contraction with epilogue `acc + alpha·input`, run
    /// as `input = alpha·input + a·b`, epilogue skipped. Holds the kernel's
    /// index.
    Accumulate { kernel: usize, alpha: f32 },
}

/// Whether output buffer `out` may be written into input buffer `input`.
pub fn in_place(p: &KernelProgram, input: BufId, out: BufId) -> InPlace {
    if input == out {
        // The step returns the input unchanged: it is already there.
        return InPlace::Direct;
    }
    let (ib, ob) = (&p.buffers[input], &p.buffers[out]);
    if ob.kind != BufKind::Output
        || !matches!(ib.kind, BufKind::Input { .. })
        || ib.ty != ob.ty
        || p.buffers
            .iter()
            .any(|b| b.kind == BufKind::View { of: out })
    {
        return InPlace::No;
    }
    let Some(w) = p.kernels.iter().position(|k| k.writes().contains(&out)) else {
        return InPlace::No;
    };
    let reads_input = |k: &Kernel| k.reads().iter().any(|&b| p.root(b) == input);
    if p.kernels[w + 1..].iter().any(reads_input) {
        return InPlace::No;
    }
    let k = &p.kernels[w];
    if !reads_input(k) {
        return InPlace::Direct;
    }
    match k {
        Kernel::Elementwise { dims, body, .. } => {
            let rm = row_major(dims);
            let same_index = body
                .loads()
                .filter(|a| p.root(a.buf) == input)
                .all(|a| a.buf == input && a.at_index(&rm));
            if same_index {
                InPlace::Direct
            } else {
                InPlace::No
            }
        }
        Kernel::MatMul {
            a,
            b,
            epilogue: Some((dims, body)),
            ..
        } if p.root(a.buf) != input && p.root(b.buf) != input => {
            match accumulate_alpha(body, input, &row_major(dims)) {
                Some(alpha) => InPlace::Accumulate { kernel: w, alpha },
                None => InPlace::No,
            }
        }
        _ => InPlace::No,
    }
}

/// `Some(c)` when `body` is exactly `acc + c·load(input)` (in either order)
/// with the load walking the output's own index.
fn accumulate_alpha(body: &Expr, input: BufId, rm: &[crate::kernel::Size]) -> Option<f32> {
    if body.insts.len() != 5 {
        return None;
    }
    let inst = |i: usize| &body.insts[i].0;
    let Inst::Binary(crate::ir::BinaryOp::Add, x, y) = inst(body.root()) else {
        return None;
    };
    let (acc, scaled) = match (inst(*x), inst(*y)) {
        (Inst::Acc, _) => (*x, *y),
        (_, Inst::Acc) => (*y, *x),
        _ => return None,
    };
    let _ = acc;
    let Inst::Binary(crate::ir::BinaryOp::Mul, p, q) = inst(scaled) else {
        return None;
    };
    let (load, c) = match (inst(*p), inst(*q)) {
        (Inst::Load(a), Inst::Const(c)) | (Inst::Const(c), Inst::Load(a)) => (a, *c),
        _ => return None,
    };
    (load.buf == input && load.at_index(rm)).then_some(c as f32)
}
