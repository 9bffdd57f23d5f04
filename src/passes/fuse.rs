//! Fusion: graph → kernel program. Greedy and local: a value gets a buffer
//! of its own ("is materialized") only when it must — a graph output, a
//! reduction or contraction result, a matmul operand, the source of a real
//! reshape, a value read by several users (unless recomputing it is only a
//! load), or a computed value about to be broadcast (recomputing it per
//! broadcast element would multiply its cost). Everything else is inlined
//! into the kernel of the materialized value that reads it: elementwise
//! chains become one loop body, broadcasts and transposes become strides in
//! the loads (a slice of a buffer an offset and scaled strides), and a
//! reduction absorbs the chain that feeds it. Ops that
//! run as library routines (convolution, pooling, movement, indexing,
//! random) read and write whole buffers: their operands and results are
//! all materialized. So does a scan, whose results are its `get`s' buffers
//! and whose body is fused on its own (`fuse/scan.rs`).
//!
//! A contraction whose only reader is an elementwise kernel over the same
//! shape reading it in place takes that kernel as its epilogue (bias add,
//! activation), so its result is written once. Sibling elementwise loops
//! over the same shape then become one loop with several outputs
//! (`fuse/merge.rs`). Finally every loop nest is normalized: size-1 axes
//! are dropped and adjacent axes that every access walks contiguously are
//! merged, so the backends see few, long loops.

mod merge;
mod scan;

use std::collections::HashMap;

use crate::ir::{DType, Dim, Graph, Op, ReduceOp, Value};
use crate::kernel::{
    extents, row_major, Access, BufId, BufKind, Buffer, Expr, Inst, Kernel, KernelProgram,
    MatOperand, MemoryPlan, Routine, Size,
};

/// The first op of `g` (or of a scan body in it) that the kernel program
/// cannot express yet, if any: backends that run kernel programs refuse
/// such graphs up front, with its name in the message. Today there is
/// none; a scan is a [`Kernel::Scan`] whose body is fused on its own.
pub fn unsupported_op(g: &Graph) -> Option<&'static str> {
    g.nodes().find_map(|v| match g.op(v) {
        Op::Scan(s) => unsupported_op(&s.body),
        _ => None,
    })
}

/// The kernel program for `g` (a verified graph without unsupported ops,
/// see [`unsupported_op`]), memory not yet planned.
pub fn fuse(g: &Graph) -> KernelProgram {
    let n = g.len();
    let needed = needed_nodes(g);
    let users: Vec<Vec<Value>> = g
        .nodes()
        .map(|v| {
            g.users(v)
                .into_iter()
                .filter(|&u| needed[u.index()] && reads_value(g.op(u)))
                .collect()
        })
        .collect();

    let summed = summed_matmuls(g, &users);
    // Values that must have a buffer whatever their users.
    let mut mat = vec![false; n];
    for o in &g.outputs {
        mat[o.value.index()] = true;
    }
    for v in g.nodes().filter(|v| needed[v.index()]) {
        let ops = g.operands(v);
        match g.op(v) {
            Op::Input { .. } | Op::Reduce { .. } | Op::Get { .. } => mat[v.index()] = true,
            Op::MatMul => mat[v.index()] = !summed[v.index()],
            // A scan reads whole buffers; its results are its `get`s'.
            Op::Scan(_) => ops.iter().for_each(|o| mat[o.index()] = true),
            // A slice of a buffer is a load at an offset (its own buffer
            // only if something else makes it one).
            Op::Slice { .. } if slice_offset(g, v).is_some() => mat[ops[0].index()] = true,
            op if Routine::of(op).is_some() => {
                // A library routine reads and writes whole buffers.
                mat[v.index()] = true;
                for &o in &ops {
                    mat[o.index()] = true;
                }
            }
            Op::Reshape if !is_map_reshape(g, v) => {
                mat[v.index()] = true;
                mat[ops[0].index()] = true;
            }
            _ => {}
        }
        if matches!(g.op(v), Op::MatMul) {
            for o in ops {
                mat[peel_operand(g, o).0.index()] = true;
            }
        }
    }
    // Shared or broadcast values, decided in build order so that whether an
    // operand is a plain load (cheap to recompute) is already known.
    let mut cheap = vec![false; n];
    for v in g.nodes().filter(|v| needed[v.index()]) {
        let i = v.index();
        cheap[i] = match g.op(v) {
            Op::Input { .. } | Op::Const { .. } | Op::Iota { .. } | Op::DimSize { .. } => true,
            Op::Broadcast { .. } | Op::Transpose { .. } | Op::Reshape => {
                let o = g.operands(v)[0].index();
                cheap[o] || mat[o]
            }
            Op::Slice { .. } => slice_offset(g, v).is_some(),
            _ => false,
        };
        if mat[i] || cheap[i] || matches!(g.op(v), Op::Scan(_)) {
            continue;
        }
        let broadcast = users[i]
            .iter()
            .any(|&u| matches!(g.op(u), Op::Broadcast { .. }));
        if users[i].len() > 1 || (broadcast && g.ty(v).rank() > 0) {
            mat[i] = true;
        }
    }

    // Buffers, in build order.
    let mut prog = KernelProgram {
        name: g.name.clone(),
        buffers: Vec::new(),
        inputs: Vec::new(),
        kernels: Vec::new(),
        outputs: Vec::new(),
        plan: MemoryPlan::default(),
    };
    let mut buf_of: Vec<Option<BufId>> = vec![None; n];
    let mut temps = 0usize;
    for v in g.nodes().filter(|v| mat[v.index()] && needed[v.index()]) {
        let out_name = g.outputs.iter().find(|o| o.value == v).map(|o| &o.name);
        let (name, kind) = match g.op(v) {
            Op::Input { name, role } => {
                let index = g.inputs.iter().position(|&i| i == v).unwrap_or_else(|| {
                    panic!("internal: input node %{} is not a graph input", v.index())
                });
                (name.clone(), BufKind::Input { index, role: *role })
            }
            Op::Reshape if !is_map_reshape(g, v) => {
                let of = buf_of[g.operands(v)[0].index()]
                    .expect("internal: reshape source has a buffer");
                let name = out_name.cloned().unwrap_or_else(|| {
                    temps += 1;
                    format!("t{}", temps - 1)
                });
                (name, BufKind::View { of })
            }
            _ => match out_name {
                Some(o) => (o.clone(), BufKind::Output),
                None => {
                    temps += 1;
                    (format!("t{}", temps - 1), BufKind::Temp)
                }
            },
        };
        buf_of[v.index()] = Some(prog.buffers.len());
        prog.buffers.push(Buffer {
            name,
            ty: g.ty(v).clone(),
            kind,
            slot: None,
        });
    }
    prog.inputs = g
        .inputs
        .iter()
        .map(|&v| match buf_of[v.index()] {
            Some(b) => b,
            None => {
                // An input nothing reads still has a place in the call.
                let (name, role) = g.input_info(v);
                let index = g.inputs.iter().position(|&i| i == v).unwrap_or(0);
                prog.buffers.push(Buffer {
                    name: name.to_string(),
                    ty: g.ty(v).clone(),
                    kind: BufKind::Input { index, role },
                    slot: None,
                });
                prog.buffers.len() - 1
            }
        })
        .collect();
    prog.outputs = g
        .outputs
        .iter()
        .map(|o| (o.name.clone(), buf_of[o.value.index()].expect("internal")))
        .collect();

    // One kernel per materialized computed value (a scan writes its gets').
    for v in g.nodes().filter(|v| needed[v.index()]) {
        match g.op(v) {
            Op::Scan(s) => {
                prog.kernels.push(scan::kernel(g, v, s, &buf_of, &needed));
                continue;
            }
            Op::Get { .. } => continue,
            _ if !mat[v.index()] => continue,
            _ => {}
        }
        let out = buf_of[v.index()].expect("internal: materialized value has a buffer");
        if matches!(
            prog.buffers[out].kind,
            BufKind::Input { .. } | BufKind::View { .. }
        ) {
            continue;
        }
        let ty = g.ty(v);
        let kernel = match g.op(v) {
            Op::Reduce { .. } if summed[g.operands(v)[0].index()] => {
                let mm = g.operands(v)[0];
                matmul_kernel(g, mm, out, &buf_of, true)
            }
            Op::Reduce { op, axes } => {
                let src = g.operands(v)[0];
                let dims = extents(g.ty(src).shape.dims());
                let body = ExprBuilder::new(g, &buf_of, dims.len()).root(src);
                Kernel::Reduce {
                    out,
                    op: *op,
                    dims,
                    axes: axes.clone(),
                    body,
                }
            }
            Op::MatMul => matmul_kernel(g, v, out, &buf_of, false),
            op if Routine::of(op).is_some() => Kernel::Library {
                out,
                routine: Routine::of(op).expect("internal: a library op"),
                args: g
                    .operands(v)
                    .iter()
                    .map(|o| buf_of[o.index()].expect("internal: library operand buffer"))
                    .collect(),
            },
            _ => {
                let dims = extents(ty.shape.dims());
                let mut eb = ExprBuilder::new(g, &buf_of, dims.len());
                eb.skip_load = Some(v);
                Kernel::Elementwise {
                    out,
                    dims,
                    body: eb.root(v),
                    extra: Vec::new(),
                }
            }
        };
        prog.kernels.push(kernel);
    }

    fuse_epilogues(&mut prog);
    // Siblings are matched by their output shapes, before normalizing
    // merges axes one way in one and another way in the other.
    merge::merge_siblings(&mut prog);
    for k in &mut prog.kernels {
        normalize(k);
    }
    prog
}

/// The contraction kernel of the matmul `v` writing `out`; with `summed`,
/// `out` is the sum over the batch of the products (see
/// [`Kernel::MatMul`]).
fn matmul_kernel(
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
fn summed_matmuls(g: &Graph, users: &[Vec<Value>]) -> Vec<bool> {
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
fn needed_nodes(g: &Graph) -> Vec<bool> {
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

fn reads_value(op: &Op) -> bool {
    !matches!(op, Op::DimSize { .. })
}

/// What a matmul reads for its operand `v`: the value, whether it is read
/// transposed (see [`peel_transpose`]) and whether it is one matrix
/// broadcast over the batch (read in place for every batch index).
fn peel_operand(g: &Graph, v: Value) -> (Value, bool, bool) {
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
fn slice_offset(g: &Graph, v: Value) -> Option<Size> {
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
fn is_map_reshape(g: &Graph, v: Value) -> bool {
    let src = g.operands(v)[0];
    non_unit(g.ty(src).shape.dims()) == non_unit(g.ty(v).shape.dims())
}

fn non_unit(dims: &[Dim]) -> Vec<Dim> {
    dims.iter()
        .filter(|d| **d != Dim::Fixed(1))
        .cloned()
        .collect()
}

/// Builds one kernel body: the value of a node at the loop index, through
/// index maps (`map[a]` is the loop axis that indexes the node's axis `a`,
/// `None` when the axis is always 0).
struct ExprBuilder<'a> {
    g: &'a Graph,
    buf_of: &'a [Option<BufId>],
    memo: HashMap<(Value, Vec<Option<usize>>), usize>,
    expr: Expr,
    rank: usize,
    /// The kernel's own value: computed, not loaded, even though it has a
    /// buffer.
    skip_load: Option<Value>,
}

impl<'a> ExprBuilder<'a> {
    fn new(g: &'a Graph, buf_of: &'a [Option<BufId>], rank: usize) -> Self {
        ExprBuilder {
            g,
            buf_of,
            memo: HashMap::new(),
            expr: Expr::default(),
            rank,
            skip_load: None,
        }
    }

    fn root(mut self, v: Value) -> Expr {
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

/// Moves each contraction whose result only an elementwise kernel of the
/// same shape reads, in place, to that kernel's position with the kernel as
/// its epilogue; the contraction's own buffer disappears.
fn fuse_epilogues(p: &mut KernelProgram) {
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
fn remove_buffer(p: &mut KernelProgram, dead: BufId) {
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

/// Drops size-1 loop axes and merges adjacent axes that every access (and
/// the row-major output) walks as one, in every loop nest of `k`.
fn normalize(k: &mut Kernel) {
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

fn collapse(dims: &mut Vec<Size>, body: &mut Expr, reduced: &mut Vec<usize>) {
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
fn remove_axis(
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
