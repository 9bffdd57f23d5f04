//! The `scan` op: a loop over a sequence whose body is a graph, compiled
//! once and run once per step (recurrent cells, backpropagation through
//! time), instead of an unrolled graph that grows with the sequence length.
//! Like JAX's `lax.scan` or XLA's `while` with a body computation.
//!
//! The body's inputs are, in order, `carries` carried values, `sequences`
//! per-step slices of the sequence operands, and then the loop invariants
//! (weights). Its outputs are the new carries (one per carry, same types),
//! then any number of per-step outputs. The scan's operands follow the
//! body's inputs: initial carries, whole sequences (the slice type with the
//! time axis `axis` put back; every sequence has the same length `T` there),
//! invariants. A scan has several results: the final carries, then each
//! per-step output stacked along `axis` (`T` inserted there). A step `t`
//! always reads index `t` of the sequences and writes index `t` of the
//! stacked outputs; `reverse` only changes the order of the steps.
//!
//! Carries have rank at least `axis`, so that their per-step values can be
//! stacked like any per-step output: backpropagation through time saves
//! them that way (`passes/autodiff/scan.rs`).
//!
//! A node holds one value, so the scan node itself has the placeholder type
//! [`Scan::token`] and each result is read by a `get %scan index=k` node
//! typed like that result. [`Scan::result_types`] is the typing rule of
//! both; [`Graph::scan`] builds a scan and its `get`s in one call.

use super::graph::{Graph, Value};
use super::op::Op;
use super::types::{DType, Dim, Shape, TensorType};

/// A loop over time; see the module doc for the operand and result layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Scan {
    /// One step: carries, slices and invariants in; new carries and
    /// per-step outputs out. Its types use the outer graph's symbols.
    pub body: Graph,
    /// How many of the body's leading inputs, and of its leading outputs,
    /// are carries.
    pub carries: usize,
    /// How many body inputs after the carries are sequence slices; the
    /// remaining inputs are invariants.
    pub sequences: usize,
    /// The time axis of the sequences and of the stacked outputs.
    pub axis: usize,
    /// Run the steps from `T - 1` down to 0 (a backward RNN, and the
    /// reverse scan of backpropagation through time).
    pub reverse: bool,
}

impl Scan {
    /// The type of the scan node itself, which is no tensor: only `get`
    /// nodes read it.
    pub fn token() -> TensorType {
        TensorType::scalar(DType::Bool)
    }

    /// Operands: one per body input.
    pub fn arity(&self) -> usize {
        self.body.inputs.len()
    }

    /// How many operands after the carries and sequences are invariants.
    pub fn invariants(&self) -> usize {
        self.arity().saturating_sub(self.carries + self.sequences)
    }

    /// How many results are stacked per-step outputs (after the carries).
    pub fn stacked(&self) -> usize {
        self.body.outputs.len().saturating_sub(self.carries)
    }

    /// The sequence length: axis `axis` of the first sequence operand.
    pub fn length<'a>(&self, operands: &[&'a TensorType]) -> Option<&'a Dim> {
        operands
            .get(self.carries)
            .and_then(|t| t.shape.dims().get(self.axis))
    }

    /// The types of the results (final carries, then stacked outputs) for
    /// these operand types, after checking the body's signature against
    /// them. The typing rule of `scan`, and through it of `get`.
    pub fn result_types(&self, operands: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let b = &self.body;
        let n = b.len();
        if b.inputs
            .iter()
            .chain(b.outputs.iter().map(|o| &o.value))
            .any(|v| v.index() >= n)
        {
            return Err("scan body refers to missing nodes".into());
        }
        if operands.len() != self.arity() {
            return Err(format!(
                "scan body takes {} input(s), got {} operand(s)",
                self.arity(),
                operands.len()
            ));
        }
        if self.carries + self.sequences > self.arity() {
            return Err(format!(
                "scan has {} carries and {} sequences but its body takes {} input(s)",
                self.carries,
                self.sequences,
                self.arity()
            ));
        }
        if self.sequences == 0 {
            return Err("scan needs at least one sequence (it sets the length)".into());
        }
        if b.outputs.len() < self.carries {
            return Err(format!(
                "scan body returns {} value(s), fewer than its {} carries",
                b.outputs.len(),
                self.carries
            ));
        }
        let input = |i: usize| b.ty(b.inputs[i]);
        let output = |k: usize| b.ty(b.outputs[k].value);
        for (i, &t) in operands[..self.carries].iter().enumerate() {
            if t != input(i) || input(i) != output(i) {
                return Err(format!(
                    "scan carry {i} is {t} but the body takes {} and returns {}",
                    input(i),
                    output(i)
                ));
            }
            if t.rank() < self.axis {
                return Err(format!(
                    "scan carry {i} is {t}, of rank below the scan axis {}, so its steps cannot be stacked",
                    self.axis
                ));
            }
        }
        let length = self
            .length(operands)
            .ok_or_else(|| {
                format!(
                    "scan axis {} is out of range for sequence {}",
                    self.axis, operands[self.carries]
                )
            })?
            .clone();
        for j in 0..self.sequences {
            let i = self.carries + j;
            let t = operands[i];
            if t.shape.dims().get(self.axis) != Some(&length) {
                return Err(format!(
                    "scan sequence {j} is {t}, not of length {length} along axis {}",
                    self.axis
                ));
            }
            let mut slice = t.shape.0.clone();
            slice.remove(self.axis);
            let slice = TensorType::new(t.dtype, Shape(slice));
            if slice != *input(i) {
                return Err(format!(
                    "scan sequence {j} is {t}, so a step reads {slice}, but the body takes {}",
                    input(i)
                ));
            }
        }
        let first = self.carries + self.sequences;
        for (l, &t) in operands[first..].iter().enumerate() {
            if t != input(first + l) {
                return Err(format!(
                    "scan invariant {l} is {t} but the body takes {}",
                    input(first + l)
                ));
            }
        }
        let mut results: Vec<TensorType> = (0..self.carries).map(|i| output(i).clone()).collect();
        for k in self.carries..b.outputs.len() {
            let t = output(k);
            if self.axis > t.rank() {
                return Err(format!(
                    "scan axis {} is out of range for the per-step output {t}",
                    self.axis
                ));
            }
            let mut dims = t.shape.0.clone();
            dims.insert(self.axis, length.clone());
            results.push(TensorType::new(t.dtype, Shape(dims)));
        }
        Ok(results)
    }
}

impl Graph {
    /// The result types of a multi-result node (a scan), or why it has none.
    pub fn result_types(&self, v: Value) -> Result<Vec<TensorType>, String> {
        match self.op(v) {
            Op::Scan(s) => {
                let tys: Vec<&TensorType> = self.operands(v).iter().map(|&o| self.ty(o)).collect();
                s.result_types(&tys)
            }
            op => Err(format!("`{}` has a single result", op.name())),
        }
    }

    /// Checks a `get` of result `index` of `tuple` typed `ty`: the typing
    /// rule of `get`, which needs the producer's op and so lives here
    /// rather than in [`Op::result_type`].
    pub fn check_get(&self, tuple: Value, index: usize, ty: &TensorType) -> Result<(), String> {
        let tys = self
            .result_types(tuple)
            .map_err(|e| format!("get reads a node without results: {e}"))?;
        match tys.get(index) {
            None => Err(format!(
                "get index {index} is out of range for {} result(s)",
                tys.len()
            )),
            Some(t) if t != ty => Err(format!("get produces {t}, but {ty} is written")),
            Some(_) => Ok(()),
        }
    }

    /// Result `index` of the multi-result node `tuple`.
    pub fn get(&mut self, tuple: Value, index: usize) -> Value {
        let ty = match self.result_types(tuple) {
            Ok(tys) if index < tys.len() => tys[index].clone(),
            other => panic!("internal: get {index} of %{}: {other:?}", tuple.index()),
        };
        self.push(Op::Get { index }, &[tuple], Some(ty))
    }

    /// Adds a scan over `operands` (initial carries, sequences, invariants)
    /// and a `get` per result; returns the final carries, then the stacked
    /// per-step outputs.
    pub fn scan(&mut self, scan: Scan, operands: &[Value]) -> Vec<Value> {
        let results = scan.body.outputs.len();
        let s = self.push(Op::Scan(Box::new(scan)), operands, None);
        (0..results).map(|k| self.get(s, k)).collect()
    }
}
