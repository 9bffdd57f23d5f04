//! The interpreter's `scan`: the reference semantics of the loop. Step `t`
//! (in `0..T`, or `T-1` down to 0 with `reverse`) runs the body on the
//! current carries, index `t` of each sequence along the scan's axis and
//! the invariants; the body's first outputs become the next carries and
//! the others are written at index `t` of the stacked results. The body's
//! plan is made once, with the outer graph's ([`super::Plan::new`]), and
//! reused for every step and every run.

use std::collections::HashSet;

use ndarray::{ArrayD, Axis};

use super::{run, Plan, Run, RunError, Slot};
use crate::ir::{Graph, Op, Scan, Value};
use crate::tensor::Tensor;

/// For each node, whether it is a `get` that reads its result for the last
/// time in a run (so it may move the tensor out instead of copying it).
pub(super) fn last_gets(g: &Graph, operands: &[Vec<Value>], needed: &[bool]) -> Vec<bool> {
    let mut seen: HashSet<(usize, usize)> = HashSet::new();
    let mut moves = vec![false; g.len()];
    for v in (0..g.len()).rev().map(Value::new) {
        if let (true, Op::Get { index }) = (needed[v.index()], g.op(v)) {
            moves[v.index()] = seen.insert((operands[v.index()][0].index(), *index));
        }
    }
    moves
}

impl Run<'_> {
    /// Result `index` of the scan `tuple`: moved out by its last reader,
    /// copied for the others.
    pub(super) fn result(&mut self, tuple: Value, index: usize, last: bool) -> Tensor {
        let Slot::Many(results) = &mut self.slots[tuple.index()] else {
            panic!("internal: get of %{}, which is not a scan", tuple.index())
        };
        let slot = &mut results[index];
        let t = if last { slot.take() } else { slot.clone() };
        t.unwrap_or_else(|| {
            panic!(
                "internal: result {index} of %{} read after it moved",
                tuple.index()
            )
        })
    }
}

/// Runs the scan node `v` (op `s`, operands `ops`) with its body's plan;
/// returns the final carries, then the stacked per-step outputs.
pub(super) fn exec(
    g: &Graph,
    v: Value,
    s: &Scan,
    body: &Plan,
    ops: &[Value],
    r: &Run,
) -> Result<Vec<Tensor>, RunError> {
    let types = g
        .result_types(v)
        .unwrap_or_else(|e| panic!("internal: a checked scan has no result types: {e}"));
    let (c, n_seq) = (s.carries, s.sequences);
    let args: Vec<&Tensor> = ops.iter().map(|&o| r.get(o)).collect();
    let steps = args[c].shape()[s.axis];
    let mut stacked = Vec::with_capacity(types.len() - c);
    for t in &types[c..] {
        let shape = t.shape.bind(&r.bindings).ok_or_else(|| {
            RunError(format!(
                "a size of the scan's result {t} is not bound by any input"
            ))
        })?;
        stacked.push(Tensor::zeros(t, &shape));
    }
    let mut carries: Vec<Tensor> = args[..c].iter().map(|&t| t.clone()).collect();
    for step in 0..steps {
        let t = if s.reverse { steps - 1 - step } else { step };
        let slices: Vec<Tensor> = args[c..c + n_seq]
            .iter()
            .map(|x| index_axis(x, s.axis, t))
            .collect();
        let mut inputs: Vec<&Tensor> = carries.iter().collect();
        inputs.extend(&slices);
        inputs.extend(&args[c + n_seq..]);
        let mut outs = run(&s.body, body, &inputs)
            .map_err(|e| RunError(format!("step {t} of scan body @{}: {e}", s.body.name)))?;
        let per_step = outs.split_off(c);
        carries = outs;
        for (acc, y) in stacked.iter_mut().zip(&per_step) {
            write_at(acc, s.axis, t, y);
        }
    }
    carries.extend(stacked);
    Ok(carries)
}

/// Index `t` of `x` along `axis`, as a tensor of one rank less.
fn index_axis(x: &Tensor, axis: usize, t: usize) -> Tensor {
    fn at<T: Clone>(a: &ArrayD<T>, axis: usize, t: usize) -> ArrayD<T> {
        a.index_axis(Axis(axis), t).to_owned()
    }
    match x {
        Tensor::F32(a) => Tensor::F32(at(a, axis, t)),
        Tensor::F64(a) => Tensor::F64(at(a, axis, t)),
        Tensor::I32(a) => Tensor::I32(at(a, axis, t)),
        Tensor::Bool(a) => Tensor::Bool(at(a, axis, t)),
    }
}

/// Writes `y` at index `t` of `acc` along `axis`.
fn write_at(acc: &mut Tensor, axis: usize, t: usize, y: &Tensor) {
    fn put<T: Clone>(a: &mut ArrayD<T>, axis: usize, t: usize, y: &ArrayD<T>) {
        let mut view = a.index_axis_mut(Axis(axis), t);
        assert_eq!(
            view.shape(),
            y.shape(),
            "internal: a scan step's output does not fit its stacked result"
        );
        view.assign(y);
    }
    match (acc, y) {
        (Tensor::F32(a), Tensor::F32(y)) => put(a, axis, t, y),
        (Tensor::F64(a), Tensor::F64(y)) => put(a, axis, t, y),
        (Tensor::I32(a), Tensor::I32(y)) => put(a, axis, t, y),
        (Tensor::Bool(a), Tensor::Bool(y)) => put(a, axis, t, y),
        _ => panic!("internal: a scan step's output has the wrong dtype"),
    }
}
