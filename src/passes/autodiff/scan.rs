//! The VJP of `scan`: backpropagation through time as another scan.
//!
//! For a forward scan with carries `c`, sequences `x`, invariants `w` and
//! per-step outputs `y`, step `t` maps `(c_t, x_t, w)` to `(c_{t+1}, y_t)`.
//! Its VJP is a scan running the other way whose step `t` maps the
//! cotangent of `c_{t+1}` and the cotangent `ȳ_t` to the cotangents of
//! `c_t` and `x_t`, and adds the step's cotangent of `w` to a running sum:
//!
//! - carries: `c̄` (one per float carry, starting from the cotangent of the
//!   final carry, or zero) and `w̄` (one per differentiated invariant,
//!   starting from zero);
//! - sequences: the saved `c_t` (every carry), the forward sequences `x_t`,
//!   `ȳ_t` for each stacked result that has a cotangent, and the step's
//!   saved values (see below);
//! - invariants: the forward invariants `w`;
//! - results: `c̄_0` (the gradient of the initial carries), `w̄`, and the
//!   stacked `x̄` (the gradient of each differentiated sequence).
//!
//! **Memory and recomputation.** The forward scan is changed in place (in
//! the differentiated graph) to also stack the carry each step starts
//! from, and every costly value of the step that the reverse sweep reads:
//! matrix products, convolutions and transcendental functions (an LSTM's
//! gate `tanh`s). `T` copies of the carries and of those values are kept,
//! and nothing else. The backward body begins with a copy of the forward
//! body, which recomputes the step's cheap intermediate values
//! (elementwise arithmetic, slices) from `(c_t, x_t, w)` and the saved
//! values, and then applies the reverse sweep ([`super::backprop`]) to
//! that copy. So a step's contractions and transcendentals run once
//! forward and never again, the rest of its forward work twice, and the
//! memory for residuals is `T × (size(carries) + size(saved values))`
//! rather than every intermediate of every step — about what cuDNN keeps
//! for an LSTM (the gate activations). A scan inside the body is
//! differentiated by the same code, recursively.

use super::{backprop, carries_gradient};
use crate::ir::{Graph, Op, Role, Scan, Value};

/// Cotangents of the operands `x` of the scan node `y`, given the
/// cotangents `cts` of its results (one per result, `None` for zero), built
/// only where `need` says so.
pub(super) fn vjp(
    h: &mut Graph,
    y: Value,
    x: &[Value],
    cts: &[Option<Value>],
    need: &[bool],
) -> Vec<Option<Value>> {
    let Op::Scan(fwd) = h.op(y).clone() else {
        unreachable!("internal: scan vjp of a `{}`", h.op(y).name())
    };
    let (c, ns) = (fwd.carries, fwd.sequences);
    let b = &fwd.body;
    let parts = Parts {
        dcarries: (0..c)
            .filter(|&i| b.ty(b.inputs[i]).dtype.is_float())
            .collect(),
        dseqs: (0..ns).filter(|&j| need[c + j]).collect(),
        dinvs: (0..fwd.invariants())
            .filter(|&l| need[c + ns + l])
            .collect(),
        dys: (0..fwd.stacked())
            .filter(|&k| cts[c + k].is_some())
            .collect(),
    };
    let back = backward_body(&fwd, &parts);
    let stacked = save(h, y, &fwd, &back.saved);
    let (residuals, saved) = stacked.split_at(c);
    let carried: Vec<usize> = parts
        .dinvs
        .iter()
        .copied()
        .filter(|l| back.hoisted.iter().all(|hz| hz.inv != *l))
        .collect();

    let mut operands = Vec::new();
    for &i in &parts.dcarries {
        operands.push(match cts[i] {
            Some(ct) => ct,
            None => h.constant(0.0, b.ty(b.inputs[i]).clone()),
        });
    }
    for &l in &carried {
        operands.push(h.constant_like(0.0, x[c + ns + l]));
    }
    operands.extend(residuals);
    operands.extend(&x[c..c + ns]);
    operands.extend(
        parts
            .dys
            .iter()
            .map(|&k| cts[c + k].expect("has a cotangent")),
    );
    operands.extend(saved);
    operands.extend(&x[c + ns..]);
    let reverse = Scan {
        body: back.body,
        carries: parts.dcarries.len() + carried.len(),
        sequences: c + ns + parts.dys.len() + saved.len(),
        axis: fwd.axis,
        reverse: !fwd.reverse,
    };
    let results = h.scan(reverse, &operands);

    let mut out = vec![None; x.len()];
    let mut at = results.iter().copied();
    for &i in &parts.dcarries {
        let r = at.next();
        if need[i] {
            out[i] = r;
        }
    }
    for &l in &carried {
        out[c + ns + l] = at.next();
    }
    for &j in &parts.dseqs {
        out[c + j] = at.next();
    }
    for hz in &back.hoisted {
        let stacked = |s: Stacked| match s {
            Stacked::Carry(i) => residuals[i],
            Stacked::Sequence(j) => x[c + j],
            Stacked::Result(k) => results[k],
        };
        let (a, b) = (stacked(hz.a), stacked(hz.b));
        out[c + ns + hz.inv] = Some(summed_product(h, a, b, fwd.axis));
    }
    out
}

/// `Σ_t a_tᵀ·b_t` over the time axis `axis` of the stacked `a: [.., K, M]`
/// and `b: [.., K, N]` (rank 3 with time inserted): a batched matmul over
/// time and a sum over it, which the kernel program runs as one product
/// whose k spans both time and K.
fn summed_product(h: &mut Graph, a: Value, b: Value, axis: usize) -> Value {
    let time_first = |h: &mut Graph, v: Value| {
        if axis == 0 {
            return v;
        }
        let mut perm = vec![axis];
        perm.extend((0..3).filter(|&d| d != axis));
        h.transpose(v, perm)
    };
    let a = time_first(h, a);
    let b = time_first(h, b);
    let at = h.transpose(a, vec![0, 2, 1]);
    let products = h.matmul(at, b);
    h.sum(products, vec![0])
}

/// Where the reverse scan's caller finds a per-step value stacked over
/// time.
#[derive(Clone, Copy, Debug)]
enum Stacked {
    /// The saved carry `i` (a sequence of the reverse scan).
    Carry(usize),
    /// The forward sequence `j`.
    Sequence(usize),
    /// The reverse scan's result `k` (a stacked output of its body).
    Result(usize),
}

/// An invariant whose gradient is not accumulated in the loop: each step
/// adds `a_tᵀ·b_t` (the weight gradient of a matmul in the body), so the
/// sum over steps is one product after the loop, on the stacked `a` and
/// `b`, as PyTorch's and cuDNN's LSTMs compute it. The loop then carries
/// no accumulator (256 KB for the bench LSTM, read and written every step)
/// and the product's k is `T·N` rather than `N`.
struct Hoist {
    /// The invariant, as an index among the forward scan's invariants.
    inv: usize,
    a: Stacked,
    b: Stacked,
}

/// The backward step and what its caller needs to run it.
struct Backward {
    body: Graph,
    /// Forward-body values to stack and read back (see
    /// [`read_saved_values`]).
    saved: Vec<Value>,
    /// Invariant gradients computed after the loop.
    hoisted: Vec<Hoist>,
}

/// Which parts of the forward scan the backward one handles, as indices
/// among the carries, sequences, invariants and stacked outputs.
struct Parts {
    /// Float carries: they get a cotangent carry.
    dcarries: Vec<usize>,
    /// Sequences whose gradient is needed.
    dseqs: Vec<usize>,
    /// Invariants whose gradient is needed (accumulated over the steps).
    dinvs: Vec<usize>,
    /// Stacked outputs with a cotangent.
    dys: Vec<usize>,
}

/// Makes the forward scan `y` also stack each step's incoming carries and
/// the body values `extra`, as results after its own, and returns `get`s
/// of them (carries first).
fn save(h: &mut Graph, y: Value, fwd: &Scan, extra: &[Value]) -> Vec<Value> {
    let mut s = fwd.clone();
    let first = s.body.outputs.len();
    let mut names: Vec<String> = s.body.outputs.iter().map(|o| o.name.clone()).collect();
    for i in 0..s.carries {
        let v = s.body.inputs[i];
        let name = fresh(&mut names, format!("saved.{}", s.body.input_info(v).0));
        s.body.output(name, v);
    }
    for &v in extra {
        let name = fresh(&mut names, format!("saved.{}", s.body.op(v).name()));
        s.body.output(name, v);
    }
    let count = s.carries + extra.len();
    h.dag[y].op = Op::Scan(Box::new(s));
    (0..count).map(|i| h.get(y, first + i)).collect()
}

/// The backward step: a copy of the forward body (recomputing the step)
/// followed by its reverse sweep, and the forward body's costly values that it
/// reads from saved sequences instead of recomputing them (see
/// [`read_saved_values`]). Inputs and outputs as in the module doc.
fn backward_body(fwd: &Scan, p: &Parts) -> Backward {
    let b = &fwd.body;
    let (c, ns) = (fwd.carries, fwd.sequences);
    let carry_in = &b.inputs[..c];
    let seq_in = &b.inputs[c..c + ns];
    let inv_in = &b.inputs[c + ns..];
    let name = |v: Value| b.input_info(v).0.to_string();

    let mut rb = b.clone();
    rb.name = format!("{}.vjp", b.name);
    rb.outputs.clear();
    let mut names: Vec<String> = b.inputs.iter().map(|&v| name(v)).collect();
    let mut input = |rb: &mut Graph, base: String, from: Value| {
        let n = fresh(&mut names, base);
        rb.input(n, Role::Data, b.ty(from).clone())
    };
    let dc: Vec<Value> = p
        .dcarries
        .iter()
        .map(|&i| input(&mut rb, format!("d.{}", name(carry_in[i])), carry_in[i]))
        .collect();
    let acc: Vec<Value> = p
        .dinvs
        .iter()
        .map(|&l| input(&mut rb, format!("acc.{}", name(inv_in[l])), inv_in[l]))
        .collect();
    let dy: Vec<Value> = p
        .dys
        .iter()
        .map(|&k| {
            let o = &b.outputs[c + k];
            input(&mut rb, format!("d.{}", o.name), o.value)
        })
        .collect();
    rb.inputs = [&dc[..], &acc, carry_in, seq_in, &dy, inv_in].concat();

    let mut seeds: Vec<(Value, Value)> = Vec::new();
    for (&i, &d) in p.dcarries.iter().zip(&dc) {
        seeds.push((b.outputs[i].value, d));
    }
    for (&k, &d) in p.dys.iter().zip(&dy) {
        seeds.push((b.outputs[c + k].value, d));
    }
    let mut wrt: Vec<Value> = p.dcarries.iter().map(|&i| carry_in[i]).collect();
    wrt.extend(p.dseqs.iter().map(|&j| seq_in[j]));
    wrt.extend(p.dinvs.iter().map(|&l| inv_in[l]));
    let targets: Vec<Value> = seeds.iter().map(|s| s.0).collect();
    let carries = carries_gradient(b, &targets, &wrt);
    let ct = backprop(b, &mut rb, &carries, &seeds);

    let mut outs: Vec<String> = Vec::new();
    let cot = |rb: &mut Graph, v: Value| match ct[v.index()] {
        Some(d) => d,
        None => rb.constant(0.0, b.ty(v).clone()),
    };
    for &i in &p.dcarries {
        let d = cot(&mut rb, carry_in[i]);
        rb.output(fresh(&mut outs, format!("d.{}", name(carry_in[i]))), d);
    }
    // Invariant gradients whose step contribution is `aᵀ·b`: summed after
    // the loop instead (see `Hoist`).
    let products: Vec<(usize, Value, Value)> = p
        .dinvs
        .iter()
        .filter_map(|&l| {
            let (a, q) = transposed_product(&rb, ct[inv_in[l].index()]?)?;
            Some((l, a, q))
        })
        .collect();
    let mut dropped = Vec::new();
    for (&l, &a) in p.dinvs.iter().zip(&acc) {
        if products.iter().any(|h| h.0 == l) {
            dropped.push(a);
            continue;
        }
        let sum = match ct[inv_in[l].index()] {
            Some(d) => rb.add(a, d),
            None => a,
        };
        rb.output(fresh(&mut outs, format!("acc.{}", name(inv_in[l]))), sum);
    }
    for &j in &p.dseqs {
        let d = cot(&mut rb, seq_in[j]);
        rb.output(fresh(&mut outs, format!("d.{}", name(seq_in[j]))), d);
    }
    let carried = p.dcarries.len() + p.dinvs.len() - dropped.len();
    let mut source = |rb: &mut Graph, v: Value| {
        if let Some(i) = carry_in.iter().position(|&x| x == v) {
            return Stacked::Carry(i);
        }
        if let Some(j) = seq_in.iter().position(|&x| x == v) {
            return Stacked::Sequence(j);
        }
        if let Some(k) = (carried..rb.outputs.len()).find(|&k| rb.outputs[k].value == v) {
            return Stacked::Result(k);
        }
        rb.output(fresh(&mut outs, "stacked".into()), v);
        Stacked::Result(rb.outputs.len() - 1)
    };
    let hoisted: Vec<Hoist> = products
        .into_iter()
        .map(|(inv, a, q)| Hoist {
            inv,
            a: source(&mut rb, a),
            b: source(&mut rb, q),
        })
        .collect();
    let (body, saved) = read_saved_values(b, rb, inv_in.len(), &dropped);
    Backward {
        body,
        saved,
        hoisted,
    }
}

/// `(a, b)` when `d` is `matmul(transpose(a), b)` of rank-2 `a` and `b`: a
/// weight's gradient in a step.
fn transposed_product(g: &Graph, d: Value) -> Option<(Value, Value)> {
    if !matches!(g.op(d), Op::MatMul) || g.ty(d).rank() != 2 {
        return None;
    }
    let [t, b] = g.operands(d)[..] else {
        return None;
    };
    match g.op(t) {
        Op::Transpose { perm } if *perm == [1, 0] => Some((g.operands(t)[0], b)),
        _ => None,
    }
}

/// Whether recomputing `op` in the backward step costs more than reading
/// it back from memory: contractions do `O(k)` work per element, and a
/// transcendental function tens of instructions (an LSTM's five `tanh`s
/// per hidden unit would otherwise run twice).
fn is_saved(op: &Op) -> bool {
    match op {
        Op::MatMul | Op::Conv(_) => true,
        Op::Unary(u) => u.is_transcendental(),
        Op::Binary(b) => b.is_transcendental(),
        _ => false,
    }
}

/// `rb` (the backward body, whose first `b.len()` nodes copy the forward
/// body `b`) with every costly forward value the sweep reads (see
/// [`is_saved`]) turned into a new
/// sequence input, placed before the `invariants` trailing inputs, and the
/// inputs `dropped` (unused accumulators) removed; and those values of
/// `b`, in input order. A value read only by another saved value is not
/// saved (it is dead once that one is read back).
fn read_saved_values(
    b: &Graph,
    rb: Graph,
    invariants: usize,
    dropped: &[Value],
) -> (Graph, Vec<Value>) {
    let mut live = vec![false; rb.len()];
    for o in &rb.outputs {
        live[o.value.index()] = true;
    }
    let mut saved = Vec::new();
    for i in (0..rb.len()).rev() {
        let v = Value::new(i);
        if !live[i] {
            continue;
        }
        if i < b.len() && is_saved(rb.op(v)) {
            saved.push(v);
            continue;
        }
        for o in rb.operands(v) {
            live[o.index()] = true;
        }
    }
    if saved.is_empty() && dropped.is_empty() {
        return (rb, saved);
    }
    saved.reverse();

    let mut new = Graph::new(rb.name.clone());
    let mut map: Vec<Option<Value>> = vec![None; rb.len()];
    let mut names: Vec<String> = rb
        .inputs
        .iter()
        .map(|&v| rb.input_info(v).0.to_string())
        .collect();
    let split = rb.inputs.len() - invariants;
    let copy_input = |new: &mut Graph, map: &mut Vec<Option<Value>>, v: Value| {
        let (name, role) = rb.input_info(v);
        map[v.index()] = Some(new.input(name, role, rb.ty(v).clone()));
    };
    for &v in rb.inputs[..split].iter().filter(|v| !dropped.contains(v)) {
        copy_input(&mut new, &mut map, v);
    }
    for &v in &saved {
        let name = fresh(&mut names, format!("saved.{}", rb.op(v).name()));
        map[v.index()] = Some(new.input(name, Role::Data, rb.ty(v).clone()));
    }
    for &v in &rb.inputs[split..] {
        copy_input(&mut new, &mut map, v);
    }
    for v in rb.nodes() {
        if !live[v.index()] || map[v.index()].is_some() {
            continue;
        }
        let ops: Vec<Value> = rb
            .operands(v)
            .iter()
            .map(|o| map[o.index()].expect("internal: a live operand is built first"))
            .collect();
        let node = rb.node(v);
        map[v.index()] = Some(new.push_unchecked(node.op.clone(), &ops, node.ty.clone()));
    }
    for o in &rb.outputs {
        let v = map[o.value.index()].expect("internal: outputs are live");
        new.output_kind(o.name.clone(), v, o.kind);
    }
    (new, saved)
}

/// `base`, or `base.1`, `base.2`, ... whichever `taken` lacks; added to it.
fn fresh(taken: &mut Vec<String>, base: String) -> String {
    let name = if taken.contains(&base) {
        (1..)
            .map(|k| format!("{base}.{k}"))
            .find(|n| !taken.contains(n))
            .expect("some suffix is free")
    } else {
        base
    };
    taken.push(name.clone());
    name
}
