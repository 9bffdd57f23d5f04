//! The innermost loop of a nest: four lanes at a time with a scalar tail
//! (or scalars only), the stores of the output and of an elementwise
//! nest's extra outputs (or the reduction's combine), and each body
//! instruction at a width, by way of the op table (`ops.rs`).

#![deny(clippy::undocumented_unsafe_blocks)]

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder, Value};
use cranelift_frontend::Variable;

use super::{clif_type, flags, mem_type, Gen, Width};
use crate::ir::{DType, ReduceOp};
use crate::kernel::{Inst, Size};

impl Gen<'_, '_> {
    /// The innermost loop: four lanes at a time, then a scalar tail.
    pub(super) fn inner(&mut self, start: Value, end: Value) {
        let r = self.rank - 1;
        let reduce = self.n.reduce;
        let dt = self.n.body.dtype();
        let reduced_inner = reduce.is_some() && self.n.out_strides[r].is_zero();
        let root = self.n.body.root();
        let acc_var = if reduced_inner {
            let v = self.b.declare_var(clif_type(dt, Width::Scalar));
            let id = self.identity(reduce.unwrap_or(ReduceOp::Sum), dt, Width::Scalar);
            self.b.def_var(v, id);
            Some(v)
        } else {
            None
        };
        let mut tail_start = start;
        if self.vector {
            let n = self.b.ins().isub(end, start);
            let nv = self.b.ins().band_imm_s(n, -4);
            let vend = self.b.ins().iadd(start, nv);
            tail_start = vend;
            // Lower-level values the lanes use, splatted once.
            let mut splat: Vec<Option<Value>> = vec![None; self.n.body.insts.len()];
            for i in 0..self.n.body.insts.len() {
                if self.level[i] < self.rank {
                    continue;
                }
                for o in self.n.body.operands(i) {
                    if self.level[o] < self.rank && splat[o].is_none() {
                        splat[o] = Some(self.splat(o));
                    }
                }
            }
            let stored = self.n.extra.iter().map(|e| e.1).chain([root]);
            for i in stored.collect::<Vec<_>>() {
                if self.level[i] < self.rank && splat[i].is_none() {
                    splat[i] = Some(self.splat(i));
                }
            }
            let vacc = if let Some(op) = reduce.filter(|_| reduced_inner) {
                let v = self.b.declare_var(clif_type(dt, Width::X4));
                let id = self.identity(op, dt, Width::X4);
                self.b.def_var(v, id);
                Some(v)
            } else {
                None
            };
            self.counted_loop(start, vend, 4, |g, i| {
                let mut vals: Vec<Option<Value>> = splat.clone();
                for k in 0..g.n.body.insts.len() {
                    if g.level[k] == g.rank {
                        let v = g.inst(k, Width::X4, Some(i), &mut vals);
                        vals[k] = Some(v);
                    }
                }
                g.store_extra(&vals, i);
                let x = vals[root].expect("internal: root value");
                g.store_or_combine(x, dt, Width::X4, i, vacc);
            });
            if let (Some(v), Some(acc)) = (vacc, acc_var) {
                let op = reduce.unwrap_or(ReduceOp::Sum);
                let vv = self.b.use_var(v);
                let mut s = self.b.use_var(acc);
                for lane in 0..4u8 {
                    let x = self.b.ins().extractlane(vv, lane);
                    s = self.combine(op, dt, Width::Scalar, s, x);
                }
                self.b.def_var(acc, s);
            }
        }
        self.counted_loop(tail_start, end, 1, |g, i| {
            let mut vals: Vec<Option<Value>> = g.scalar.clone();
            for k in 0..g.n.body.insts.len() {
                if g.level[k] == g.rank {
                    let v = g.inst(k, Width::Scalar, Some(i), &mut vals);
                    vals[k] = Some(v);
                }
            }
            g.store_extra(&vals, i);
            let x = vals[root].expect("internal: root value");
            g.store_or_combine(x, dt, Width::Scalar, i, acc_var);
        });
        if let (Some(acc), Some(op)) = (acc_var, reduce) {
            let s = self.b.use_var(acc);
            let addr = self.b.ins().iadd(self.out_base, self.out_off);
            let ty = mem_type(dt);
            let old = self.b.ins().load(ty, flags(), addr, 0);
            let new = self.combine(op, dt, Width::Scalar, old, s);
            self.b.ins().store(flags(), new, addr, 0);
        }
    }

    /// Stores the `extra` outputs' values at the output's index `i` of the
    /// innermost loop.
    pub(super) fn store_extra(&mut self, vals: &[Option<Value>], i: Value) {
        let r = self.rank - 1;
        for (e, &(_, v)) in self.n.extra.iter().enumerate() {
            let x = vals[v].expect("internal: stored value computed");
            let addr = self.inner_addr(self.extra_base[e], self.out_off, self.out_stride[r], i);
            self.b.ins().store(flags(), x, addr, 0);
        }
    }

    /// Stores an innermost-loop value, or folds it into the accumulator
    /// (register or output element) of a reduction.
    pub(super) fn store_or_combine(
        &mut self,
        x: Value,
        dt: DType,
        w: Width,
        i: Value,
        acc: Option<Variable>,
    ) {
        let r = self.rank - 1;
        if let Some(acc) = acc {
            let op = self.n.reduce.unwrap_or(ReduceOp::Sum);
            let a = self.b.use_var(acc);
            let s = self.combine(op, dt, w, a, x);
            self.b.def_var(acc, s);
            return;
        }
        let addr = self.inner_addr(self.out_base, self.out_off, self.out_stride[r], i);
        let x = match self.n.reduce {
            Some(op) => {
                let ty = if w == Width::X4 {
                    clif_type(dt, w)
                } else {
                    mem_type(dt)
                };
                let old = self.b.ins().load(ty, flags(), addr, 0);
                self.combine(op, dt, w, old, x)
            }
            None => x,
        };
        self.b.ins().store(flags(), x, addr, 0);
    }

    /// `base + off + i * stride` (the address of element `i` of a row).
    pub(super) fn inner_addr(
        &mut self,
        base: Value,
        off: Value,
        stride: Option<Value>,
        i: Value,
    ) -> Value {
        let row = self.b.ins().iadd(base, off);
        match stride {
            Some(s) => {
                let step = self.b.ins().imul(i, s);
                self.b.ins().iadd(row, step)
            }
            None => row,
        }
    }

    pub(super) fn splat(&mut self, i: usize) -> Value {
        let dt = self.n.body.insts[i].1;
        let s = self.scalar[i].expect("internal: hoisted value emitted");
        match dt {
            DType::Bool => {
                // 0/1 byte → all-ones/zero lane mask.
                let w = self.b.ins().uextend(types::I32, s);
                let m = self.b.ins().ineg(w);
                self.b.ins().splat(types::I32X4, m)
            }
            _ => self.b.ins().splat(clif_type(dt, Width::X4), s),
        }
    }

    pub(super) fn inst(
        &mut self,
        k: usize,
        w: Width,
        i: Option<Value>,
        vals: &mut [Option<Value>],
    ) -> Value {
        let e = self.n.body;
        let (inst, dt) = (&e.insts[k].0, e.insts[k].1);
        let get = |j: usize, g: &Self| -> Value {
            vals.get(j)
                .copied()
                .flatten()
                .or(g.scalar[j])
                .expect("internal: operand emitted before use")
        };
        let ty = clif_type(dt, w);
        match inst {
            Inst::Load(a) => {
                let r = self.rank - 1;
                let base = self.base[k].expect("internal: load base");
                let mty = mem_type(self.n.buf_dtypes[a.buf]);
                let at_inner = i.is_some() && self.level[k] == self.rank;
                if !at_inner {
                    let addr = self.b.ins().iadd(base, self.off[k]);
                    return self.b.ins().load(mty, flags(), addr, 0);
                }
                let i = i.expect("internal");
                let stride = self.stride[k][r];
                if w == Width::Scalar {
                    let addr = self.inner_addr(base, self.off[k], stride, i);
                    return self.b.ins().load(mty, flags(), addr, 0);
                }
                if a.strides[r] == Size::one() {
                    let addr = self.inner_addr(base, self.off[k], stride, i);
                    return self.b.ins().load(ty, flags(), addr, 0);
                }
                // A strided row (a transposed operand): gather four lanes.
                let mut v = self.constant(0.0, dt, Width::X4);
                for lane in 0..4 {
                    let il = self.b.ins().iadd_imm_s(i, lane);
                    let addr = self.inner_addr(base, self.off[k], stride, il);
                    let x = self.b.ins().load(mty, flags(), addr, 0);
                    v = self.b.ins().insertlane(v, x, lane as u8);
                }
                v
            }
            Inst::Const(c) => self.constant(*c, dt, w),
            Inst::Index(l) => {
                let iv = if *l + 1 == self.rank {
                    i.expect("internal: innermost index")
                } else {
                    self.idx[*l].expect("internal: outer index")
                };
                let s = self.b.ins().ireduce(types::I32, iv);
                if w == Width::Scalar {
                    return s;
                }
                let mut v = self.b.ins().splat(types::I32X4, s);
                for lane in 1..4u8 {
                    let x = self.b.ins().iadd_imm_s(s, lane as i64);
                    v = self.b.ins().insertlane(v, x, lane);
                }
                v
            }
            Inst::Sym(name) => {
                let s = self.size(&Size {
                    coeff: 1,
                    syms: vec![name.clone()],
                });
                let s = match dt {
                    DType::F32 | DType::F64 => self.b.ins().fcvt_from_sint(ty, s),
                    DType::I32 => self.b.ins().ireduce(types::I32, s),
                    DType::Bool => {
                        let z = self.b.ins().icmp_imm_s(IntCC::NotEqual, s, 0);
                        return z;
                    }
                };
                s
            }
            Inst::Acc => unreachable!("internal: acc is rewritten to a load"),
            Inst::Unary(u, a) => {
                let x = get(*a, self);
                self.unary(*u, dt, w, x)
            }
            Inst::Binary(op, a, c) => {
                let (x, y) = (get(*a, self), get(*c, self));
                let y_is_zero = matches!(e.insts[*c].0, Inst::Const(z) if z == 0.0);
                self.binary(*op, dt, w, x, y, y_is_zero)
            }
            Inst::Compare(op, a, c) => {
                let (x, y) = (get(*a, self), get(*c, self));
                self.compare(*op, e.insts[*a].1, x, y)
            }
            Inst::Select(c, a, d) => {
                let (c, x, y) = (get(*c, self), get(*a, self), get(*d, self));
                self.pick(c, x, y, w)
            }
            Inst::Cast(a) => {
                let x = get(*a, self);
                self.cast(e.insts[*a].1, dt, w, x)
            }
        }
    }
}
