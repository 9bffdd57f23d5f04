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
//!   and `ȳ_t` for each stacked result that has a cotangent;
//! - invariants: the forward invariants `w`;
//! - results: `c̄_0` (the gradient of the initial carries), `w̄`, and the
//!   stacked `x̄` (the gradient of each differentiated sequence).
//!
//! **Memory and recomputation.** The forward scan is changed in place (in
//! the differentiated graph) to also stack the carry each step starts
//! from: `T` copies of the carries are kept, and nothing else. The
//! backward body begins with a copy of the forward body, which recomputes
//! the step's intermediate values from `(c_t, x_t, w)`, and then applies
//! the reverse sweep ([`super::backprop`]) to that copy. So each step's
//! forward work is done twice, and the memory for residuals is
//! `T × size(carries)` rather than every intermediate of every step. A
//! scan inside the body is differentiated by the same code, recursively.

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
    let residuals = save_carries(h, y, &fwd);

    let mut operands = Vec::new();
    for &i in &parts.dcarries {
        operands.push(match cts[i] {
            Some(ct) => ct,
            None => h.constant(0.0, b.ty(b.inputs[i]).clone()),
        });
    }
    for &l in &parts.dinvs {
        operands.push(h.constant_like(0.0, x[c + ns + l]));
    }
    operands.extend(&residuals);
    operands.extend(&x[c..c + ns]);
    operands.extend(
        parts
            .dys
            .iter()
            .map(|&k| cts[c + k].expect("has a cotangent")),
    );
    operands.extend(&x[c + ns..]);
    let reverse = Scan {
        body: backward_body(&fwd, &parts),
        carries: parts.dcarries.len() + parts.dinvs.len(),
        sequences: c + ns + parts.dys.len(),
        axis: fwd.axis,
        reverse: !fwd.reverse,
    };
    let results = h.scan(reverse, &operands);

    let mut out = vec![None; x.len()];
    let mut at = results.into_iter();
    for &i in &parts.dcarries {
        let r = at.next();
        if need[i] {
            out[i] = r;
        }
    }
    for &l in &parts.dinvs {
        out[c + ns + l] = at.next();
    }
    for &j in &parts.dseqs {
        out[c + j] = at.next();
    }
    out
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

/// Makes the forward scan `y` also stack each step's incoming carries, as
/// extra results after its own, and returns `get`s of them.
fn save_carries(h: &mut Graph, y: Value, fwd: &Scan) -> Vec<Value> {
    let mut s = fwd.clone();
    let first = s.body.outputs.len();
    let mut names: Vec<String> = s.body.outputs.iter().map(|o| o.name.clone()).collect();
    for i in 0..s.carries {
        let v = s.body.inputs[i];
        let name = fresh(&mut names, format!("saved.{}", s.body.input_info(v).0));
        s.body.output(name, v);
    }
    let carries = s.carries;
    h.dag[y].op = Op::Scan(Box::new(s));
    (0..carries).map(|i| h.get(y, first + i)).collect()
}

/// The backward step: a copy of the forward body (recomputing the step)
/// followed by its reverse sweep. Inputs and outputs as in the module doc.
fn backward_body(fwd: &Scan, p: &Parts) -> Graph {
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
    for (&l, &a) in p.dinvs.iter().zip(&acc) {
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
    rb
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
