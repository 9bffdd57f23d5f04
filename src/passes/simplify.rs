//! Simplification passes: constant folding, algebraic identities, common
//! subexpression elimination and dead code elimination, and [`simplify`],
//! which runs them to a fixed point. Autodiff and lowering emit plenty of
//! `x * 1`, broadcasts of constants and repeated subexpressions; these
//! passes clean that up before a backend sees the graph.
//!
//! Each pass is a pure `fn(&Graph) -> Graph` that builds a fresh graph
//! (inputs first, in calling order, then the other nodes in the old order),
//! so a pass can never leave a half-edited graph behind. Only `dce` removes
//! nodes; the others leave what they make dead for `dce`, which keeps
//! single-pass filetests easy to read. [`PASSES`] names each pass so tests
//! and `dlc dump` can run one by name.
//!
//! A scan is opaque to the graph around it (its body is one op's
//! attribute), and every pass also runs inside each scan body, which keeps
//! its inputs and outputs and so stays valid for the scan.

use std::borrow::Cow;
use std::collections::HashMap;

use petgraph::graph::NodeIndex;

use crate::ir::print::{attr_text, print};
use crate::ir::{BinaryOp, DType, Graph, Node, Op, ReduceOp, TensorType, UnaryOp, Value};

/// A graph-to-graph pass: reads one graph, builds a new one.
pub type Pass = fn(&Graph) -> Graph;

/// Every pass by name: the name is the filetest folder and the `dlc dump`
/// pass name.
pub const PASSES: &[(&str, Pass)] = &[
    ("fold_constants", fold_constants),
    ("algebra", algebra),
    ("cse", cse),
    ("dce", dce),
    ("simplify", simplify),
];

/// The pass called `name` in [`PASSES`].
pub fn pass_by_name(name: &str) -> Option<Pass> {
    PASSES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Upper bound on [`simplify`]'s rounds; each round only shrinks or
/// rewrites towards constants, so a real graph settles in two or three.
const MAX_ROUNDS: usize = 16;

/// fold_constants → algebra → cse → dce, repeated until the printed graph
/// stops changing (at most [`MAX_ROUNDS`] times).
pub fn simplify(g: &Graph) -> Graph {
    let mut cur = g.clone();
    let mut text = print(&cur);
    for _ in 0..MAX_ROUNDS {
        let next = dce(&cse(&algebra(&fold_constants(&cur))));
        let next_text = print(&next);
        if next_text == text {
            return next;
        }
        cur = next;
        text = next_text;
    }
    cur
}

/// `g` with `pass` applied to the body of every scan (and so, through the
/// pass itself, to the bodies of scans nested in those); `g` itself when
/// it has no scan.
fn in_bodies(g: &Graph, pass: Pass) -> Cow<'_, Graph> {
    if !g.nodes().any(|v| matches!(g.op(v), Op::Scan(_))) {
        return Cow::Borrowed(g);
    }
    let mut g = g.clone();
    for v in 0..g.len() {
        if let Op::Scan(s) = &mut g.dag[NodeIndex::new(v)].op {
            s.body = pass(&s.body);
        }
    }
    Cow::Owned(g)
}

/// What a pass does with one node of the old graph.
enum Action {
    /// Copy it unchanged (with its operands mapped).
    Copy,
    /// Use this value of the new graph instead; it must have the node's type.
    Replace(Value),
}

/// Builds a fresh graph from `g`: inputs first, then every other node in
/// order, each as `rewrite` decides, given the new graph, the old node and
/// its operands already mapped into the new graph. With `keep`, the nodes
/// it marks false are left out (nothing kept may use them).
fn rebuild(
    g: &Graph,
    keep: Option<&[bool]>,
    mut rewrite: impl FnMut(&mut Graph, &Node, &[Value]) -> Action,
) -> Graph {
    let mut new = Graph::new(g.name.clone());
    let mut map: Vec<Option<Value>> = vec![None; g.len()];
    for &v in &g.inputs {
        let (name, role) = g.input_info(v);
        map[v.index()] = Some(new.input(name, role, g.ty(v).clone()));
    }
    let mapped = |map: &[Option<Value>], v: Value| {
        map[v.index()].unwrap_or_else(|| {
            panic!(
                "internal: node {} is used but was dropped or not yet built",
                v.index()
            )
        })
    };
    for v in g.nodes() {
        if g.inputs.contains(&v) || keep.is_some_and(|k| !k[v.index()]) {
            continue;
        }
        let node = g.node(v);
        let ops: Vec<Value> = g.operands(v).iter().map(|&o| mapped(&map, o)).collect();
        map[v.index()] = match rewrite(&mut new, node, &ops) {
            Action::Copy => Some(new.push_unchecked(node.op.clone(), &ops, node.ty.clone())),
            Action::Replace(r) => {
                assert_eq!(
                    *new.ty(r),
                    node.ty,
                    "internal: a rewrite of `{}` changed its type",
                    node.op.name()
                );
                Some(r)
            }
        };
    }
    for o in &g.outputs {
        new.output_kind(o.name.clone(), mapped(&map, o.value), o.kind);
    }
    new
}

/// Dead code elimination: drops every node no output reaches. Inputs stay
/// even when unused: they are the graph's calling convention. A scan's
/// per-step outputs that no live `get` reads are dropped from its body
/// (with the computation only they needed) and the other `get`s renumbered;
/// its carries stay, the loop needs them.
pub fn dce(g: &Graph) -> Graph {
    let mut live = vec![false; g.len()];
    for o in &g.outputs {
        live[o.value.index()] = true;
    }
    for i in (0..g.len()).rev() {
        if live[i] {
            for o in g.operands(NodeIndex::new(i)) {
                live[o.index()] = true;
            }
        }
    }
    let pruned = prune_scan_results(g, &live);
    let g = &*in_bodies(pruned.as_ref().unwrap_or(g), dce);
    rebuild(g, Some(&live), |_, _, _| Action::Copy)
}

/// `g` with the stacked results of live scans that no live `get` reads
/// removed (node numbers unchanged), or `None` when every one is read.
fn prune_scan_results(g: &Graph, live: &[bool]) -> Option<Graph> {
    let mut read: HashMap<usize, Vec<bool>> = HashMap::new();
    for v in g.nodes().filter(|v| live[v.index()]) {
        if let Op::Get { index } = g.op(v) {
            let s = g.operands(v)[0];
            if let Op::Scan(scan) = g.op(s) {
                read.entry(s.index())
                    .or_insert_with(|| vec![false; scan.body.outputs.len()])[*index] = true;
            }
        }
    }
    let mut h: Option<Graph> = None;
    for v in g.nodes().filter(|v| live[v.index()]) {
        let Op::Scan(scan) = g.op(v) else { continue };
        let n = scan.body.outputs.len();
        let keep: Vec<bool> = (0..n)
            .map(|k| k < scan.carries || read.get(&v.index()).is_some_and(|r| r[k]))
            .collect();
        if keep.iter().all(|&k| k) {
            continue;
        }
        let h = h.get_or_insert_with(|| g.clone());
        let mut renumber = vec![None; n];
        let mut s = (**scan).clone();
        s.body.outputs = (0..n)
            .filter(|&k| keep[k])
            .enumerate()
            .map(|(new, k)| {
                renumber[k] = Some(new);
                scan.body.outputs[k].clone()
            })
            .collect();
        h.dag[v].op = Op::Scan(Box::new(s));
        for u in g.users(v).into_iter().filter(|u| live[u.index()]) {
            if let Op::Get { index } = g.op(u) {
                let index = renumber[*index].expect("internal: a live get reads a kept result");
                h.dag[u].op = Op::Get { index };
            }
        }
    }
    h
}

/// How CSE tells ops apart: the mnemonic, the attributes as the text form
/// writes them and, for constants, the value's bit pattern (so `-0` and `0`
/// stay apart and a NaN constant merges with an identical one).
#[derive(Clone, PartialEq, Eq, Hash)]
struct OpKey {
    name: &'static str,
    attr: String,
    bits: u64,
}

fn op_key(op: &Op) -> OpKey {
    let bits = match op {
        Op::Const { value } => value.to_bits(),
        _ => 0,
    };
    OpKey {
        name: op.name(),
        attr: attr_text(op),
        bits,
    }
}

/// Common subexpression elimination: a node with the same op, attributes,
/// operands and type as an earlier one is replaced by it. All ops are pure,
/// so this is always sound. Scans merge only with an equal body.
pub fn cse(g: &Graph) -> Graph {
    let mut seen: HashMap<(OpKey, Vec<Value>, TensorType), Value> = HashMap::new();
    let mut scans: Vec<(Op, Vec<Value>, Value)> = Vec::new();
    let g = in_bodies(g, cse);
    rebuild(&g, None, |new, node, ops| {
        if let Op::Scan(_) = node.op {
            if let Some((_, _, earlier)) =
                scans.iter().find(|(op, o, _)| *op == node.op && o == ops)
            {
                return Action::Replace(*earlier);
            }
            let v = new.push_unchecked(node.op.clone(), ops, node.ty.clone());
            scans.push((node.op.clone(), ops.to_vec(), v));
            return Action::Replace(v);
        }
        let key = (op_key(&node.op), ops.to_vec(), node.ty.clone());
        if let Some(&earlier) = seen.get(&key) {
            return Action::Replace(earlier);
        }
        let v = new.push_unchecked(node.op.clone(), ops, node.ty.clone());
        seen.insert(key, v);
        Action::Replace(v)
    })
}

/// The value every element of a `Const` node holds once stored in its
/// dtype, exactly as [`crate::tensor::Tensor::full`] converts it.
fn splat(g: &Graph, v: Value) -> Option<f64> {
    match g.op(v) {
        Op::Const { value } => Some(convert(g.ty(v).dtype, *value)),
        _ => None,
    }
}

/// `x` converted to `dtype` the way host tensors convert (`as` casts:
/// rounding to f32, saturating truncation to i32, nonzero to true).
fn convert(dtype: DType, x: f64) -> f64 {
    match dtype {
        DType::F64 => x,
        DType::F32 => x as f32 as f64,
        DType::I32 => x as i32 as f64,
        DType::Bool => f64::from(u8::from(x != 0.0)),
    }
}

/// An arithmetic result `x` as a constant of `dtype`, or `None` when the
/// result would overflow i32 or is not a number there: integer overflow
/// and division by zero are left for run time rather than guessed at.
fn fit(dtype: DType, x: f64) -> Option<f64> {
    match dtype {
        DType::I32 => {
            let t = x.trunc();
            (t.is_finite() && t >= i32::MIN as f64 && t <= i32::MAX as f64).then_some(t)
        }
        _ => Some(convert(dtype, x)),
    }
}

/// Constant folding: an op whose operands are all `Const` splats becomes a
/// `Const` splat of its type. Values are computed in f64 with the ops'
/// shared scalar semantics ([`UnaryOp::eval`], ...) and then rounded to the
/// result dtype (f32 rounding, i32 truncation, bool 0/1). `dim` of a fixed
/// axis folds whatever its operand is. Movement ops of a splat are that
/// splat (a `pad` only when its value is the same, a `concat` only when
/// every part is the same splat). An unpadded `reduce_window_*` of a splat
/// is the splat times the window size (sum) or the splat (max); a padded
/// one is not a splat. Not folded: `iota` (not a splat),
/// reductions over a symbolic axis (the count is unknown), `reduce_max` over
/// an empty axis, i32 `pow`, and i32 results that overflow or divide by zero.
pub fn fold_constants(g: &Graph) -> Graph {
    rebuild(&in_bodies(g, fold_constants), None, |new, node, ops| {
        let dtype = node.ty.dtype;
        let c: Vec<Option<f64>> = ops.iter().map(|&o| splat(new, o)).collect();
        let all: Option<Vec<f64>> = c.iter().copied().collect();
        let value = match (&node.op, all.as_deref()) {
            (Op::DimSize { axis }, _) => new.ty(ops[0]).shape.0[*axis]
                .fixed()
                .and_then(|n| fit(dtype, n as f64)),
            (Op::Unary(u), Some(&[a])) => fit(dtype, u.eval(a)),
            (Op::Binary(BinaryOp::Pow), Some(_)) if dtype == DType::I32 => None,
            (Op::Binary(b), Some(&[a, x])) => fit(dtype, b.eval(a, x)),
            (Op::Compare(cmp), Some(&[a, x])) => Some(f64::from(u8::from(cmp.eval(a, x)))),
            (Op::Select, Some(&[cond, a, b])) => Some(if cond != 0.0 { a } else { b }),
            (Op::Cast, Some(&[a])) => Some(convert(dtype, a)),
            (
                Op::Broadcast { .. }
                | Op::Reshape
                | Op::Transpose { .. }
                | Op::Slice { .. }
                | Op::Reverse { .. },
                Some(&[a]),
            ) => Some(a),
            (Op::Pad { value, .. }, Some(&[a])) => {
                let v = convert(dtype, *value);
                (v.to_bits() == a.to_bits()).then_some(a)
            }
            (Op::Concat { .. }, Some([a, rest @ ..])) => rest
                .iter()
                .all(|b| b.to_bits() == a.to_bits())
                .then_some(*a),
            (Op::Reduce { op, axes }, Some(&[a])) => {
                let dims = &new.ty(ops[0]).shape.0;
                let count: Option<usize> = axes.iter().map(|&i| dims[i].fixed()).product();
                match (op, count) {
                    (ReduceOp::Sum, Some(0)) => Some(0.0),
                    (ReduceOp::Sum, Some(n)) => fit(dtype, a * n as f64),
                    (ReduceOp::Max, Some(n)) if n > 0 => Some(a),
                    _ => None,
                }
            }
            (Op::ReduceWindow { op, window: w }, Some(&[a]))
                if w.pad_low.iter().chain(&w.pad_high).all(|&p| p == 0) =>
            {
                // Unpadded, every window is full: `count` copies of `a`.
                match op {
                    ReduceOp::Sum => {
                        let count: usize = w.size.iter().product();
                        fit(dtype, a * count as f64)
                    }
                    ReduceOp::Max => Some(a),
                }
            }
            (Op::MatMul, Some(&[a, b])) => {
                let r = new.ty(ops[0]).rank();
                match new.ty(ops[0]).shape.0[r - 1].fixed() {
                    Some(0) => Some(0.0),
                    Some(k) => fit(dtype, a * b * k as f64),
                    None => None,
                }
            }
            _ => None,
        };
        match value {
            Some(value) => {
                Action::Replace(new.push(Op::Const { value }, &[], Some(node.ty.clone())))
            }
            None => Action::Copy,
        }
    })
}

/// Algebraic identities, each replacing a node by an existing value or a
/// cheaper node of the same type:
/// - `x + 0`, `0 + x`, `x - 0`, `x * 1`, `1 * x`, `x / 1` → `x`
///   (exact, except that `-0 + 0` gives `+0`: the sign of a zero is not
///   kept, as in every compiler that does this);
/// - `x * 0` and `0 * x` → `0` **only for i32**: for floats the product is
///   NaN when `x` is infinite or NaN and `-0` when `x` is negative, and a
///   NaN that vanishes at compile time would hide a diverged training run,
///   so float `x * 0` is left alone;
/// - `neg(neg(x))` → `x`;
/// - `transpose(transpose(x, p), q)` → `transpose(x, p∘q)`, or `x` when
///   that is the identity, unless the inner transpose has other users; a
///   transpose by the identity → `x`;
/// - `reshape(reshape(x))` → one reshape; a reshape, broadcast or cast to
///   the operand's own type → `x`;
/// - `select(c, a, b)` with a constant `c` → `a` or `b`; with `a` and `b`
///   the same value → that value;
/// - a `slice`, `pad` or `concat` to the type of its (first) operand (so
///   of everything, of nothing, of one part) and a `reverse` of no axis
///   → `x`;
///   `reverse(reverse(x, a), a)` → `x`;
/// - `pad(a) + pad(b)` with zeros, along one and the same axis, where `a`
///   and `b` land on adjacent ranges → `pad(concat(a, b))` (the parts of a
///   concat operand spliced in): the gradient of a value sliced into
///   pieces is one concat, not a sum of padded copies.
pub fn algebra(g: &Graph) -> Graph {
    rebuild(&in_bodies(g, algebra), None, |new, node, ops| {
        let c = |i: usize| splat(new, ops[i]);
        let same_type = |v: Value| *new.ty(v) == node.ty;
        match &node.op {
            Op::Binary(BinaryOp::Add) if c(1) == Some(0.0) => Action::Replace(ops[0]),
            Op::Binary(BinaryOp::Add) if c(0) == Some(0.0) => Action::Replace(ops[1]),
            Op::Binary(BinaryOp::Sub) if c(1) == Some(0.0) => Action::Replace(ops[0]),
            Op::Binary(BinaryOp::Mul) if c(1) == Some(1.0) => Action::Replace(ops[0]),
            Op::Binary(BinaryOp::Mul) if c(0) == Some(1.0) => Action::Replace(ops[1]),
            Op::Binary(BinaryOp::Mul)
                if node.ty.dtype == DType::I32 && (c(0) == Some(0.0) || c(1) == Some(0.0)) =>
            {
                Action::Replace(new.push(Op::Const { value: 0.0 }, &[], Some(node.ty.clone())))
            }
            Op::Binary(BinaryOp::Div) if c(1) == Some(1.0) => Action::Replace(ops[0]),
            Op::Binary(BinaryOp::Add) => match join_pads(new, ops[0], ops[1]) {
                Some(v) => Action::Replace(v),
                None => Action::Copy,
            },
            Op::Unary(UnaryOp::Neg) => match new.op(ops[0]) {
                Op::Unary(UnaryOp::Neg) => Action::Replace(new.operands(ops[0])[0]),
                _ => Action::Copy,
            },
            Op::Transpose { perm } => {
                // A transpose of a transpose that something else also reads
                // stays: a matmul reads that value swapped for free, where
                // the composed permutation would be one more copy.
                let shared = !new.users(ops[0]).is_empty();
                let (x, perm) = match new.op(ops[0]) {
                    Op::Transpose { perm: inner } if !shared => {
                        let composed: Vec<usize> = perm.iter().map(|&p| inner[p]).collect();
                        (new.operands(ops[0])[0], composed)
                    }
                    _ => (ops[0], perm.clone()),
                };
                if perm.iter().enumerate().all(|(i, &p)| i == p) {
                    Action::Replace(x)
                } else if x == ops[0] {
                    Action::Copy
                } else {
                    Action::Replace(new.push(Op::Transpose { perm }, &[x], None))
                }
            }
            Op::Reshape => {
                let x = match new.op(ops[0]) {
                    Op::Reshape => new.operands(ops[0])[0],
                    _ => ops[0],
                };
                if same_type(x) {
                    Action::Replace(x)
                } else if x == ops[0] {
                    Action::Copy
                } else {
                    Action::Replace(new.push(Op::Reshape, &[x], Some(node.ty.clone())))
                }
            }
            Op::Broadcast { .. } | Op::Cast if same_type(ops[0]) => Action::Replace(ops[0]),
            // A slice that keeps the type takes everything (start 0, and
            // stride 1 or a size-1 axis); a pad that keeps it adds nothing;
            // a concat that keeps it has one part (or empty others).
            Op::Slice { .. } | Op::Pad { .. } | Op::Concat { .. } if same_type(ops[0]) => {
                Action::Replace(ops[0])
            }
            Op::Reverse { axes } if axes.is_empty() => Action::Replace(ops[0]),
            Op::Reverse { axes } => match new.op(ops[0]) {
                Op::Reverse { axes: inner } if inner == axes => {
                    Action::Replace(new.operands(ops[0])[0])
                }
                _ => Action::Copy,
            },
            Op::Select => match c(0) {
                Some(cond) => Action::Replace(if cond != 0.0 { ops[1] } else { ops[2] }),
                None if ops[1] == ops[2] => Action::Replace(ops[1]),
                None => Action::Copy,
            },
            _ => Action::Copy,
        }
    })
}

/// `v` as a zero pad along one axis: that axis, the operand and its range
/// there; `None` when `v` is no such pad.
fn padded_range(g: &Graph, v: Value) -> Option<(usize, Value, usize, usize)> {
    let Op::Pad {
        low,
        high,
        interior,
        value,
    } = g.op(v)
    else {
        return None;
    };
    if *value != 0.0 || interior.iter().any(|&i| i != 0) {
        return None;
    }
    let mut axes = (0..low.len()).filter(|&a| low[a] != 0 || high[a] != 0);
    let axis = axes.next()?;
    if axes.next().is_some() {
        return None;
    }
    let x = g.operands(v)[0];
    let len = g.ty(x).shape.dims()[axis].fixed()?;
    Some((axis, x, low[axis], low[axis] + len))
}

/// `pad(a) + pad(b)` → `pad(concat(a, b))` when both pad with zeros along
/// the same single axis and `a`'s range ends where `b`'s starts (or the
/// other way round); see [`algebra`].
fn join_pads(g: &mut Graph, p: Value, q: Value) -> Option<Value> {
    let (axis, a, lo_a, hi_a) = padded_range(g, p)?;
    let (axis_b, b, lo_b, hi_b) = padded_range(g, q)?;
    if axis != axis_b || g.ty(p) != g.ty(q) {
        return None;
    }
    let (first, second, lo, hi) = if hi_a == lo_b {
        (a, b, lo_a, hi_b)
    } else if hi_b == lo_a {
        (b, a, lo_b, hi_a)
    } else {
        return None;
    };
    let mut parts = Vec::new();
    for x in [first, second] {
        match g.op(x) {
            Op::Concat { axis: inner } if *inner == axis => parts.extend(g.operands(x)),
            _ => parts.push(x),
        }
    }
    let ty = g.ty(p).clone();
    let rank = ty.rank();
    let full = ty.shape.dims()[axis].fixed()?;
    let joined = g.concat(&parts, axis);
    if lo == 0 && hi == full {
        return Some(joined);
    }
    let mut low = vec![0; rank];
    let mut high = vec![0; rank];
    low[axis] = lo;
    high[axis] = full - hi;
    Some(g.push(
        Op::Pad {
            low,
            high,
            interior: vec![0; rank],
            value: 0.0,
        },
        &[joined],
        Some(ty),
    ))
}
