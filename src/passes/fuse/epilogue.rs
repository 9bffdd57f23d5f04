//! Epilogue fusion: a contraction whose only reader is an elementwise
//! kernel of the same shape, reading it in place, takes that kernel as its
//! epilogue, so its result is written once; and removing a buffer no
//! kernel needs any more.

use crate::ir::DType;
use crate::kernel::{extents, row_major, BufId, BufKind, Expr, Inst, Kernel, KernelProgram};

/// Moves each contraction whose result only an elementwise kernel of the
/// same shape reads, in place, to that kernel's position with the kernel as
/// its epilogue; the contraction's own buffer disappears.
pub(super) fn fuse_epilogues(p: &mut KernelProgram) {
    let mut i = 0;
    while i < p.kernels.len() {
        let Kernel::MatMul { out: c, .. } = p.kernels[i] else {
            i += 1;
            continue;
        };
        let viewed = p.buffers.iter().any(|b| b.kind == BufKind::View { of: c });
        let readers: Vec<usize> = (0..p.kernels.len())
            .filter(|&j| p.kernels[j].reads().contains(&c))
            .collect();
        let ok = p.buffers[c].kind == BufKind::Temp
            && p.buffers[c].ty.dtype == DType::F32
            && !viewed
            && readers.len() == 1
            && match &p.kernels[readers[0]] {
                Kernel::Elementwise {
                    dims, body, extra, ..
                } => {
                    extra.is_empty()
                        && *dims == extents(p.buffers[c].ty.shape.dims())
                        && body
                            .loads()
                            .filter(|a| a.buf == c)
                            .all(|a| a.at_index(&row_major(dims)))
                }
                _ => false,
            };
        if !ok {
            i += 1;
            continue;
        }
        let j = readers[0];
        let Kernel::Elementwise {
            out, dims, body, ..
        } = p.kernels[j].clone()
        else {
            unreachable!()
        };
        let Kernel::MatMul {
            batch,
            summed,
            m,
            k,
            n,
            a,
            b,
            epilogue: inner,
            ..
        } = p.kernels.remove(i)
        else {
            unreachable!()
        };
        // The reader's body, with the contraction's result (after any
        // epilogue fused before) where it loaded the buffer.
        let mut fused = match inner {
            Some((_, e)) => e,
            None => Expr {
                insts: vec![(Inst::Acc, DType::F32)],
            },
        };
        let acc = fused.root();
        let mut new_index = Vec::with_capacity(body.insts.len());
        for (inst, dt) in body.insts {
            let idx = if matches!(&inst, Inst::Load(a) if a.buf == c) {
                acc
            } else {
                let inst = inst.map_operands(|x| new_index[x]);
                fused.insts.push((inst, dt));
                fused.root()
            };
            new_index.push(idx);
        }
        let last = *new_index.last().expect("internal: empty body");
        if last != fused.root() {
            let inst = fused.insts[last].clone();
            fused.insts.push(inst);
        }
        let body = fused;
        p.kernels[j - 1] = Kernel::MatMul {
            out,
            batch,
            summed,
            m,
            k,
            n,
            a,
            b,
            epilogue: Some((dims, body)),
        };
        remove_buffer(p, c);
    }
}

/// Deletes an unused buffer and renumbers the others.
pub(super) fn remove_buffer(p: &mut KernelProgram, dead: BufId) {
    p.buffers.remove(dead);
    let f = |b: &mut BufId| {
        if *b > dead {
            *b -= 1;
        }
    };
    for b in &mut p.buffers {
        if let BufKind::View { of } = &mut b.kind {
            f(of);
        }
    }
    p.inputs.iter_mut().for_each(f);
    p.outputs.iter_mut().for_each(|(_, b)| f(b));
    let in_expr = |e: &mut Expr| {
        for (inst, _) in &mut e.insts {
            if let Inst::Load(a) = inst {
                f(&mut a.buf);
            }
        }
    };
    for k in &mut p.kernels {
        match k {
            Kernel::Elementwise {
                out, body, extra, ..
            } => {
                f(out);
                in_expr(body);
                extra.iter_mut().for_each(|(b, _)| f(b));
            }
            Kernel::Reduce { out, body, .. } => {
                f(out);
                in_expr(body);
            }
            Kernel::MatMul {
                out,
                a,
                b,
                epilogue,
                ..
            } => {
                f(out);
                f(&mut a.buf);
                f(&mut b.buf);
                if let Some((_, e)) = epilogue {
                    in_expr(e);
                }
            }
            Kernel::Library { out, args, .. } => {
                f(out);
                args.iter_mut().for_each(f);
            }
            Kernel::Scan(s) => {
                s.operands.iter_mut().for_each(f);
                s.results.iter_mut().flatten().for_each(f);
            }
        }
    }
}
