//! Kernel bodies: a node's value at the loop index, built from its
//! operands through index maps, with loads of materialized buffers and
//! shared subexpressions computed once.

use std::collections::HashMap;

use crate::ir::{DType, Dim, Graph, Op, Value};
use crate::kernel::{extents, row_major, Access, BufId, Expr, Inst, Routine, Size};

use super::operands::slice_offset;

/// Builds one kernel body: the value of a node at the loop index, through
/// index maps (`map[a]` is the loop axis that indexes the node's axis `a`,
/// `None` when the axis is always 0).
pub(super) struct ExprBuilder<'a> {
    g: &'a Graph,
    buf_of: &'a [Option<BufId>],
    memo: HashMap<(Value, Vec<Option<usize>>), usize>,
    expr: Expr,
    rank: usize,
    /// The kernel's own value: computed, not loaded, even though it has a
    /// buffer.
    pub(super) skip_load: Option<Value>,
}

impl<'a> ExprBuilder<'a> {
    pub(super) fn new(g: &'a Graph, buf_of: &'a [Option<BufId>], rank: usize) -> Self {
        ExprBuilder {
            g,
            buf_of,
            memo: HashMap::new(),
            expr: Expr::default(),
            rank,
            skip_load: None,
        }
    }

    pub(super) fn root(mut self, v: Value) -> Expr {
        let map: Vec<Option<usize>> = (0..self.rank).map(Some).collect();
        let r = self.value(v, &map);
        // The stored value must be the last instruction (a pass-through such
        // as a same-dtype cast may return an earlier one).
        if r + 1 != self.expr.insts.len() {
            let inst = self.expr.insts[r].clone();
            self.expr.insts.push(inst);
        }
        self.expr
    }

    fn push(&mut self, inst: Inst, dt: DType) -> usize {
        self.expr.insts.push((inst, dt));
        self.expr.insts.len() - 1
    }

    fn value(&mut self, v: Value, map: &[Option<usize>]) -> usize {
        let key = (v, map.to_vec());
        if let Some(&i) = self.memo.get(&key) {
            return i;
        }
        let i = self.compute(v, map);
        self.memo.insert(key, i);
        i
    }

    fn compute(&mut self, v: Value, map: &[Option<usize>]) -> usize {
        let g = self.g;
        let ty = g.ty(v);
        let dt = ty.dtype;
        if self.skip_load != Some(v) {
            if let Some(buf) = self.buf_of[v.index()] {
                let rm = row_major(&extents(ty.shape.dims()));
                let mut strides = vec![Size::zero(); self.rank];
                for (a, l) in map.iter().enumerate() {
                    if let Some(l) = l {
                        strides[*l] = rm[a].clone();
                    }
                }
                return self.push(Inst::Load(Access::new(buf, strides)), dt);
            }
        }
        let ops = g.operands(v);
        match g.op(v) {
            Op::Const { value } => self.push(Inst::Const(*value), dt),
            Op::Iota { axis } => match map[*axis] {
                Some(l) => {
                    let i = self.push(Inst::Index(l), DType::I32);
                    if dt == DType::I32 {
                        i
                    } else {
                        self.push(Inst::Cast(i), dt)
                    }
                }
                None => self.push(Inst::Const(0.0), dt),
            },
            Op::DimSize { axis } => match &g.ty(ops[0]).shape.0[*axis] {
                Dim::Fixed(k) => self.push(Inst::Const(*k as f64), dt),
                Dim::Sym(s) => self.push(Inst::Sym(s.clone()), dt),
            },
            Op::Unary(u) => {
                let a = self.value(ops[0], map);
                self.push(Inst::Unary(*u, a), dt)
            }
            Op::Binary(b) => {
                let x = self.value(ops[0], map);
                let y = self.value(ops[1], map);
                self.push(Inst::Binary(*b, x, y), dt)
            }
            Op::Compare(c) => {
                let x = self.value(ops[0], map);
                let y = self.value(ops[1], map);
                self.push(Inst::Compare(*c, x, y), dt)
            }
            Op::Select => {
                let c = self.value(ops[0], map);
                let x = self.value(ops[1], map);
                let y = self.value(ops[2], map);
                self.push(Inst::Select(c, x, y), dt)
            }
            Op::Cast => {
                let a = self.value(ops[0], map);
                if g.ty(ops[0]).dtype == dt {
                    a
                } else {
                    self.push(Inst::Cast(a), dt)
                }
            }
            Op::Broadcast { dims } => {
                let src = g.ty(ops[0]);
                let m: Vec<Option<usize>> = dims
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| {
                        if src.shape.0[i] == Dim::Fixed(1) {
                            None
                        } else {
                            map[d]
                        }
                    })
                    .collect();
                self.value(ops[0], &m)
            }
            Op::Transpose { perm } => {
                let mut m = vec![None; perm.len()];
                for (i, &p) in perm.iter().enumerate() {
                    m[p] = map[i];
                }
                self.value(ops[0], &m)
            }
            Op::Slice { stride, .. } => {
                // A load of the operand's buffer (see `slice_offset`).
                let offset = slice_offset(g, v).expect("internal: an absorbed slice");
                let buf = self.buf_of[ops[0].index()].expect("internal: sliced buffer");
                let rm = row_major(&extents(g.ty(ops[0]).shape.dims()));
                let mut strides = vec![Size::zero(); self.rank];
                for (a, l) in map.iter().enumerate() {
                    if let Some(l) = l {
                        strides[*l] = rm[a].scale(stride[a] as u64);
                    }
                }
                let access = Access {
                    buf,
                    strides,
                    offset,
                };
                self.push(Inst::Load(access), dt)
            }
            Op::Reshape => {
                // Only size-1 axes change (other reshapes are views).
                let src = g.ty(ops[0]).shape.dims();
                let kept: Vec<usize> = (0..ty.rank())
                    .filter(|&a| ty.shape.0[a] != Dim::Fixed(1))
                    .collect();
                let mut next = kept.into_iter();
                let m: Vec<Option<usize>> = src
                    .iter()
                    .map(|d| {
                        if *d == Dim::Fixed(1) {
                            None
                        } else {
                            next.next().and_then(|a| map[a])
                        }
                    })
                    .collect();
                self.value(ops[0], &m)
            }
            op @ (Op::Input { .. } | Op::Reduce { .. } | Op::MatMul) => {
                panic!(
                    "internal: `{}` node %{} has no buffer",
                    op.name(),
                    v.index()
                )
            }
            op if Routine::of(op).is_some() => {
                panic!(
                    "internal: `{}` node %{} has no buffer",
                    op.name(),
                    v.index()
                )
            }
            op => {
                panic!(
                    "internal: the kernel program has no `{}` yet (see `unsupported_op`)",
                    op.name()
                )
            }
        }
    }
}
