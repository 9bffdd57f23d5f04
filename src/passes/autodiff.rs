//! Reverse-mode autodiff as a graph-to-graph pass: the result is the forward
//! graph plus the nodes that compute the gradients, so forward and backward
//! run as one compiled function. One vector-Jacobian rule per primitive, all
//! in [`vjp`]; [`rule`] says which ops have one, and the gradient-check
//! coverage test fails when an op has neither a rule nor a reason to lack one.
//! `scan` is the exception: its rule (backpropagation through time, a
//! reverse scan over the differentiated body) is in `autodiff/scan.rs`, and
//! [`backprop`] routes the cotangents of its `get`s to it.

use std::collections::HashMap;

mod scan;
mod windowed;

use crate::ir::{
    dilated, BinaryOp, CmpOp, Dim, Graph, Op, OutputKind, ReduceOp, Shape, UnaryOp, Value,
};

/// Whether gradients flow through an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Differentiability {
    /// [`vjp`] has a rule. Cotangents only ever flow between float values, so
    /// a rule never sees an integer or bool operand: `cast` to or from an
    /// integer and `select`'s condition get no gradient.
    Rule,
    /// Piecewise constant or not a function of float operands: its
    /// cotangent is dropped (the gradient is zero almost everywhere).
    NonDifferentiable,
    /// A graph input: where gradients are collected.
    Leaf,
}

/// Which ops have a VJP rule. Exhaustive on purpose: a new op does not
/// compile until someone decides how it differentiates.
pub fn rule(op: &Op) -> Differentiability {
    use Differentiability::*;
    match op {
        Op::Input { .. } => Leaf,
        // Random numbers do not depend on anything differentiable: the key
        // is an integer.
        Op::Const { .. }
        | Op::Iota { .. }
        | Op::Compare(_)
        | Op::DimSize { .. }
        | Op::Random { .. } => NonDifferentiable,
        Op::Unary(UnaryOp::Sign) => NonDifferentiable,
        Op::Unary(
            UnaryOp::Neg
            | UnaryOp::Exp
            | UnaryOp::Log
            | UnaryOp::Sqrt
            | UnaryOp::Recip
            | UnaryOp::Tanh
            | UnaryOp::Sin
            | UnaryOp::Cos
            | UnaryOp::Abs,
        ) => Rule,
        Op::Binary(_)
        | Op::Select
        | Op::Cast
        | Op::Reduce { .. }
        | Op::Broadcast { .. }
        | Op::Reshape
        | Op::Transpose { .. }
        | Op::MatMul
        | Op::Slice { .. }
        | Op::Pad { .. }
        | Op::Concat { .. }
        | Op::Reverse { .. }
        | Op::Gather
        | Op::ScatterAdd
        | Op::Conv(_)
        | Op::ReduceWindow { .. }
        | Op::Scan(_)
        | Op::Get { .. } => Rule,
    }
}

/// Returns a new graph: `g` with the same inputs, all of its outputs, and
/// then one output `grad.<name>` per input in `wrt` (in that order) holding
/// d`loss`/d input (an [`OutputKind::Grad`] of that input; any input may be
/// chosen: parameters, or data for a gradient with respect to the input), typed like the input. An input the loss does not depend
/// on gets a zero gradient. A differentiated scan gains extra results (the
/// carries it saves for the backward scan); its other results are unchanged.
pub fn grad(g: &Graph, loss: &str, wrt: &[Value]) -> Graph {
    let Some(loss_v) = g.find_output(loss) else {
        panic!("internal: graph @{} has no output `{loss}`", g.name)
    };
    let loss_ty = g.ty(loss_v);
    if loss_ty.rank() != 0 || !loss_ty.dtype.is_float() {
        panic!("internal: loss `{loss}` is {loss_ty}, not a float scalar");
    }
    for &w in wrt {
        if !g.inputs.contains(&w) {
            panic!(
                "internal: gradient with respect to %{}, not an input",
                w.index()
            );
        }
    }
    // Build order is topological and `clone` keeps node numbers, so the
    // forward nodes of the result are the nodes of `g`.
    let mut h = g.clone();
    let carries = carries_gradient(g, &[loss_v], wrt);
    let mut seeds = Vec::new();
    if carries[loss_v.index()] {
        seeds.push((loss_v, h.constant(1.0, loss_ty.clone())));
    }
    let ct = backprop(g, &mut h, &carries, &seeds);
    for &w in wrt {
        let name = format!("grad.{}", g.input_info(w).0);
        let d = match ct[w.index()] {
            Some(d) => d,
            None => h.constant(0.0, g.ty(w).clone()),
        };
        let of = g.input_position(w).expect("internal: checked above");
        h.output_kind(name, d, OutputKind::Grad { of });
    }
    h
}

/// The reverse sweep: adds to `h`, which holds `g`'s nodes under the same
/// numbers, the nodes computing the cotangent of every value that
/// `carries` marks, starting from `seeds` (a value of `g` and its
/// cotangent, a value of `h`; several seeds of one value add up). Returns
/// each node's cotangent. `grad` seeds the loss with 1; the backward body
/// of a scan seeds the body's outputs with the step's cotangents.
fn backprop(
    g: &Graph,
    h: &mut Graph,
    carries: &[bool],
    seeds: &[(Value, Value)],
) -> Vec<Option<Value>> {
    let n = g.len();
    let mut ct: Vec<Option<Value>> = vec![None; n];
    let mut top = 0;
    for &(v, s) in seeds {
        if carries[v.index()] {
            accumulate(h, &mut ct, v, s);
            top = top.max(v.index() + 1);
        }
    }
    // The cotangents of each scan's results, gathered from its `get`s.
    let mut results: HashMap<usize, Vec<Option<Value>>> = HashMap::new();
    for i in (0..top).rev() {
        let v = Value::new(i);
        let ops = g.operands(v);
        let need: Vec<bool> = ops.iter().map(|o| carries[o.index()]).collect();
        let contribs = match g.op(v) {
            Op::Get { index } => {
                let (Some(gv), Op::Scan(s)) = (ct[i], g.op(ops[0])) else {
                    continue;
                };
                let slots = results
                    .entry(ops[0].index())
                    .or_insert_with(|| vec![None; s.body.outputs.len()]);
                slots[*index] = Some(match slots[*index] {
                    Some(acc) => h.add(acc, gv),
                    None => gv,
                });
                continue;
            }
            Op::Scan(_) => {
                let Some(cts) = results.remove(&i) else {
                    continue;
                };
                if !need.contains(&true) {
                    continue;
                }
                scan::vjp(h, v, &ops, &cts, &need)
            }
            op => {
                let Some(gv) = ct[i] else { continue };
                if rule(op) != Differentiability::Rule || !need.contains(&true) {
                    continue;
                }
                vjp(h, v, &ops, gv, &need)
            }
        };
        for ((o, c), &needed) in ops.iter().zip(contribs).zip(&need) {
            let Some(c) = c.filter(|_| needed) else {
                continue;
            };
            debug_assert_eq!(h.ty(c), g.ty(*o), "internal: vjp of {}", g.op(v).name());
            accumulate(h, &mut ct, *o, c);
        }
    }
    ct
}

/// Adds `c` to the cotangent of `v`.
fn accumulate(h: &mut Graph, ct: &mut [Option<Value>], v: Value, c: Value) {
    ct[v.index()] = Some(match ct[v.index()] {
        Some(acc) => h.add(acc, c),
        None => c,
    });
}

/// Values on a float path from some `wrt` input to one of `targets`: the
/// only ones that need a cotangent. A scan counts as float (its own type
/// is a placeholder) and passes gradients from every operand to every
/// result.
fn carries_gradient(g: &Graph, targets: &[Value], wrt: &[Value]) -> Vec<bool> {
    let n = g.len();
    let mut from_wrt = vec![false; n];
    for &w in wrt {
        from_wrt[w.index()] = g.ty(w).dtype.is_float();
    }
    for v in g.nodes() {
        let float = g.ty(v).dtype.is_float() || matches!(g.op(v), Op::Scan(_));
        if !from_wrt[v.index()] && float {
            let flows = rule(g.op(v)) == Differentiability::Rule;
            from_wrt[v.index()] = flows && g.operands(v).iter().any(|o| from_wrt[o.index()]);
        }
    }
    let mut to_loss = vec![false; n];
    for &t in targets {
        to_loss[t.index()] = true;
    }
    for i in (0..n).rev() {
        if to_loss[i] && from_wrt[i] {
            for o in g.operands(Value::new(i)) {
                to_loss[o.index()] = true;
            }
        }
    }
    (0..n).map(|i| from_wrt[i] && to_loss[i]).collect()
}

/// The vector-Jacobian products of node `v` (operands `x`, result `y`) for
/// cotangent `g`: one entry per operand, built only where `need` says so.
/// Every entry is typed like its operand.
pub fn vjp(h: &mut Graph, y: Value, x: &[Value], g: Value, need: &[bool]) -> Vec<Option<Value>> {
    let op = h.op(y).clone();
    let want = |i: usize| need.get(i).copied().unwrap_or(false);
    let zero = |h: &mut Graph| h.constant_like(0.0, g);
    match op {
        Op::Unary(u) => {
            let a = x[0];
            let d = match u {
                UnaryOp::Neg => h.neg(g),
                UnaryOp::Exp => h.mul(g, y),
                UnaryOp::Log => h.div(g, a),
                UnaryOp::Sqrt => {
                    let two_y = h.scale(y, 2.0);
                    h.div(g, two_y)
                }
                UnaryOp::Recip => {
                    let yy = h.mul(y, y);
                    let gyy = h.mul(g, yy);
                    h.neg(gyy)
                }
                UnaryOp::Tanh => {
                    let yy = h.mul(y, y);
                    let one = h.constant_like(1.0, y);
                    let d = h.sub(one, yy);
                    h.mul(g, d)
                }
                UnaryOp::Sin => {
                    let c = h.unary(UnaryOp::Cos, a);
                    h.mul(g, c)
                }
                UnaryOp::Cos => {
                    let s = h.unary(UnaryOp::Sin, a);
                    let gs = h.mul(g, s);
                    h.neg(gs)
                }
                UnaryOp::Abs => {
                    let s = h.unary(UnaryOp::Sign, a);
                    h.mul(g, s)
                }
                UnaryOp::Sign => unreachable!("internal: sign has no gradient"),
            };
            vec![Some(d)]
        }
        Op::Binary(b) => {
            let (a, c) = (x[0], x[1]);
            match b {
                BinaryOp::Add => vec![Some(g), Some(g)],
                BinaryOp::Sub => vec![Some(g), want(1).then(|| h.neg(g))],
                BinaryOp::Mul => vec![want(0).then(|| h.mul(g, c)), want(1).then(|| h.mul(g, a))],
                BinaryOp::Div => {
                    // d/da = g / c; d/dc = -g * a / c^2 = -(g / c) * y
                    let gc = h.div(g, c);
                    let dc = want(1).then(|| {
                        let gy = h.mul(gc, y);
                        h.neg(gy)
                    });
                    vec![Some(gc), dc]
                }
                // The winner takes the cotangent; a tie goes to the first operand.
                BinaryOp::Max | BinaryOp::Min => {
                    let cmp = if b == BinaryOp::Max {
                        CmpOp::Ge
                    } else {
                        CmpOp::Le
                    };
                    let first = h.compare(cmp, a, c);
                    let z = zero(h);
                    vec![
                        want(0).then(|| h.select(first, g, z)),
                        want(1).then(|| h.select(first, z, g)),
                    ]
                }
                BinaryOp::Pow => {
                    // d/da = g * c * a^(c-1); d/dc = g * y * log(a), taken as
                    // 0 where a <= 0 (where a^c is real only for integer c).
                    let da = want(0).then(|| {
                        let one = h.constant_like(1.0, c);
                        let cm1 = h.sub(c, one);
                        let p = h.binary(BinaryOp::Pow, a, cm1);
                        let cp = h.mul(c, p);
                        h.mul(g, cp)
                    });
                    let dc = want(1).then(|| {
                        let z = h.constant_like(0.0, a);
                        let pos = h.compare(CmpOp::Gt, a, z);
                        let one = h.constant_like(1.0, a);
                        let safe = h.select(pos, a, one);
                        let log = h.unary(UnaryOp::Log, safe);
                        let log = h.select(pos, log, z);
                        let gy = h.mul(g, y);
                        h.mul(gy, log)
                    });
                    vec![da, dc]
                }
            }
        }
        Op::Select => {
            let cond = x[0];
            let z = zero(h);
            vec![
                None,
                want(1).then(|| h.select(cond, g, z)),
                want(2).then(|| h.select(cond, z, g)),
            ]
        }
        Op::Cast => {
            let from = h.ty(x[0]).dtype;
            vec![from.is_float().then(|| h.cast(g, from))]
        }
        Op::Reduce {
            op: ReduceOp::Sum,
            axes,
        } => {
            let shape = h.ty(x[0]).shape.clone();
            vec![Some(h.broadcast_reduced(g, shape, &axes))]
        }
        Op::Reduce {
            op: ReduceOp::Max,
            axes,
        } => {
            // Split g evenly between the positions that hold the maximum, so
            // the gradient still sums to g when there are ties.
            let a = x[0];
            let shape = h.ty(a).shape.clone();
            let ymax = h.broadcast_reduced(y, shape.clone(), &axes);
            let hit = h.compare(CmpOp::Eq, a, ymax);
            let one = h.constant_like(1.0, a);
            let zero = h.constant_like(0.0, a);
            let mask = h.select(hit, one, zero);
            let count = h.sum(mask, axes.clone());
            let share = h.div(g, count);
            let share = h.broadcast_reduced(share, shape, &axes);
            vec![Some(h.mul(mask, share))]
        }
        Op::Broadcast { dims } => vec![Some(unbroadcast(h, g, x[0], &dims))],
        Op::Reshape => {
            let shape = h.ty(x[0]).shape.clone();
            vec![Some(h.reshape(g, shape))]
        }
        Op::Transpose { perm } => {
            let mut inv = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inv[p] = i;
            }
            vec![Some(h.transpose(g, inv))]
        }
        Op::MatMul => {
            let (a, b) = (x[0], x[1]);
            let da = want(0).then(|| {
                let bt = h.transpose_last2(b);
                h.matmul(g, bt)
            });
            let db = want(1).then(|| {
                let at = h.transpose_last2(a);
                h.matmul(at, g)
            });
            vec![da, db]
        }
        // The adjoint of a slice puts the cotangent back where the slice
        // took its elements: a pad with zeros, interior padding filling the
        // gaps a stride leaves. The adjoint of a pad is the matching slice.
        Op::Slice { start, stride, .. } => {
            let from = h.ty(x[0]).shape.0.clone();
            let to = h.ty(y).shape.0.clone();
            let high = (0..from.len())
                .map(|i| match (from[i].fixed(), to[i].fixed()) {
                    (Some(n), Some(m)) => n - start[i] - extent(m, stride[i]),
                    _ => 0,
                })
                .collect();
            let interior = stride.iter().map(|s| s - 1).collect();
            vec![Some(h.pad(g, start, high, interior, 0.0))]
        }
        Op::Pad { low, interior, .. } => {
            let from = h.ty(x[0]).shape.0.clone();
            let stride: Vec<usize> = interior.iter().map(|i| i + 1).collect();
            let stop = (0..from.len())
                .map(|i| match &from[i] {
                    Dim::Fixed(n) => Dim::Fixed(low[i] + extent(*n, stride[i])),
                    sym => sym.clone(),
                })
                .collect();
            vec![Some(h.slice(g, low, stop, stride))]
        }
        Op::Concat { axis } => {
            let mut offset = 0;
            x.iter()
                .enumerate()
                .map(|(i, &part)| {
                    let n = h.ty(part).shape.0[axis]
                        .fixed()
                        .unwrap_or_else(|| panic!("internal: concat along a symbolic axis"));
                    let piece = want(i).then(|| h.slice_axis(g, axis, offset, offset + n));
                    offset += n;
                    piece
                })
                .collect()
        }
        Op::Reverse { axes } => vec![Some(h.reverse(g, axes))],
        // An embedding's gradient: each looked-up row's cotangent added back
        // into a zero table at its index. The indices get none.
        Op::Gather => {
            let zeros = h.constant_like(0.0, x[0]);
            vec![Some(h.scatter_add(zeros, x[1], g)), None]
        }
        Op::Conv(c) => windowed::conv(h, y, x, g, &c, need),
        Op::ReduceWindow { op, window } => {
            vec![Some(windowed::reduce_window(h, op, y, x[0], g, &window))]
        }
        Op::ScatterAdd => vec![
            want(0).then_some(g),
            None,
            want(2).then(|| h.gather(g, x[1])),
        ],
        Op::Input { .. }
        | Op::Const { .. }
        | Op::Iota { .. }
        | Op::Compare(_)
        | Op::DimSize { .. }
        | Op::Random { .. } => {
            unreachable!("internal: `{}` has no vjp rule", op.name())
        }
        Op::Scan(_) | Op::Get { .. } => {
            unreachable!("internal: `{}` is differentiated by `backprop`", op.name())
        }
    }
}

/// The extent of `n` elements `stride` apart, as the typing rules compute it.
fn extent(n: usize, stride: usize) -> usize {
    dilated(n, stride).unwrap_or_else(|| panic!("internal: extent of a well-typed op overflows"))
}

/// The adjoint of a broadcast: sum the cotangent over the new axes and over
/// the size-1 axes that were stretched, then reshape to the operand.
fn unbroadcast(h: &mut Graph, g: Value, operand: Value, dims: &[usize]) -> Value {
    let from = h.ty(operand).shape.clone();
    let to = h.ty(g).shape.clone();
    let one = Dim::Fixed(1);
    let summed: Vec<usize> = (0..to.rank())
        .filter(|r| match dims.iter().position(|d| d == r) {
            None => true,
            Some(i) => from.0[i] == one && to.0[*r] != one,
        })
        .collect();
    let s = h.sum(g, summed);
    if h.ty(s).shape == from {
        s
    } else {
        h.reshape(s, Shape(from.0.clone()))
    }
}
