//! Running a scan kernel: the body's kernel program is compiled once, like
//! any program, and called once per time step from the host on raw
//! pointers. Each step gathers index `t` of every sequence into a
//! contiguous slice (or points straight at it when nothing precedes the
//! time axis), runs the body on the carries, slices and invariants, has
//! it write the new carries straight into the other half of a double buffer
//! (moving those it passes through or shares, so a body that swaps or passes
//! its carries through reads no half-written value) and
//! scatters the per-step outputs into index `t` of the stacked results
//! (or, time-major, has it write them there in the first place).
//! Every staging buffer is kept across steps and runs, grown only when the
//! batch grows.

#![deny(clippy::undocumented_unsafe_blocks)]

use std::cell::RefCell;

use super::{Align64, Compiled};
use crate::backend::RunError;
use crate::kernel::{BufId, BufKind, ScanKernel};

/// A compiled scan: the body and where its operands and results live.
pub(super) struct ScanStep {
    carries: usize,
    sequences: usize,
    axis: usize,
    reverse: bool,
    operands: Vec<BufId>,
    results: Vec<Vec<BufId>>,
    /// The body (its arena and binding are reused across steps).
    body: RefCell<Compiled>,
    /// Staging storage kept across runs.
    store: RefCell<Store>,
}

#[derive(Default)]
struct Store {
    /// Two sets of carries: the ones a step reads and the ones it writes.
    carries: [Vec<Vec<Align64>>; 2],
    /// One contiguous slice per sequence.
    slices: Vec<Vec<Align64>>,
    /// Storage of each body output buffer (by body buffer id).
    outputs: Vec<Vec<Align64>>,
}

/// `v` grown to at least `bytes` bytes; its start.
fn room(v: &mut Vec<Align64>, bytes: usize) -> *mut u8 {
    let need = bytes.div_ceil(64).max(1);
    if v.len() < need {
        *v = vec![Align64([0; 64]); need];
    }
    v.as_mut_ptr() as *mut u8
}

/// Elements before and after `axis` of `shape` (a sequence or a stacked
/// result is `outer × T × inner`).
fn geometry(shape: &[usize], axis: usize) -> (usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis + 1..].iter().product(),
    )
}

impl ScanStep {
    pub(super) fn new(s: &ScanKernel) -> Result<ScanStep, String> {
        let n = s.body.buffers.len();
        // The invariants are the same at every step of a run: a product
        // against one packs it once per run (see `run`).
        let mut body = Compiled::new(s.body.clone())?;
        body.pack_products_of(&s.body.inputs[s.carries + s.sequences..]);
        Ok(ScanStep {
            carries: s.carries,
            sequences: s.sequences,
            axis: s.axis,
            reverse: s.reverse,
            operands: s.operands.clone(),
            results: s.results.clone(),
            body: RefCell::new(body),
            store: RefCell::new(Store {
                carries: [vec![Vec::new(); s.carries], vec![Vec::new(); s.carries]],
                slices: vec![Vec::new(); s.sequences],
                outputs: vec![Vec::new(); n],
            }),
        })
    }

    /// Runs the loop on the outer program's buffers at `ptrs` (shapes
    /// `shapes`, symbols `bindings`).
    ///
    /// # Safety
    /// Every pointer addresses a live buffer of its shape, and the result
    /// buffers overlap no operand.
    pub(super) unsafe fn run(
        &self,
        ptrs: &[*mut u8],
        shapes: &[Vec<usize>],
        bindings: &[(String, usize)],
        threads: usize,
    ) -> Result<(), RunError> {
        let mut body = self.body.borrow_mut();
        body.forget_packed();
        let mut store = self.store.borrow_mut();
        let store = &mut *store;
        let (c, ns) = (self.carries, self.sequences);
        // Bind the body's sizes (once per outer binding).
        let in_shapes: Vec<Vec<usize>> = body
            .prog
            .inputs
            .iter()
            .map(|&b| {
                body.prog.buffers[b]
                    .ty
                    .shape
                    .bind(bindings)
                    .expect("internal: scan body shape bound by the outer program")
            })
            .collect();
        if body.bound.as_ref().map(|b| &b.shapes) != Some(&in_shapes) {
            body.bind_sizes(bindings, in_shapes);
        }
        let arena = body.arena.as_mut_ptr() as *mut u8;
        let body = &*body;
        let p = &body.prog;
        let bound = body.bound.as_ref().expect("internal: body bound");
        let bytes = |b: BufId| bound.layout.numel[b] * p.buffers[b].ty.dtype.size();
        let seq_shape = &shapes[self.operands[c]];
        let steps = seq_shape[self.axis];

        // Storage of the body's own buffers; inputs are set per step.
        let mut bptrs: Vec<*mut u8> = vec![std::ptr::null_mut(); p.buffers.len()];
        for (b, buf) in p.buffers.iter().enumerate() {
            bptrs[b] = match buf.kind {
                BufKind::Output => room(&mut store.outputs[b], bytes(b)),
                BufKind::Temp => arena.wrapping_add(bound.layout.offset[b]),
                BufKind::Input { .. } | BufKind::View { .. } => std::ptr::null_mut(),
            };
        }
        let mut inputs: Vec<*mut u8> = vec![std::ptr::null_mut(); p.inputs.len()];
        // Initial carries, into the first set.
        let mut cur = 0;
        let mut carry_ptrs: [Vec<*mut u8>; 2] = [Vec::new(), Vec::new()];
        for k in 0..c {
            let n = bytes(p.inputs[k]);
            for (set, ptrs_set) in carry_ptrs.iter_mut().enumerate() {
                ptrs_set.push(room(&mut store.carries[set][k], n));
            }
            // SAFETY: the operand holds the carry's `n` bytes.
            unsafe { std::ptr::copy(ptrs[self.operands[k]], carry_ptrs[0][k], n) };
        }
        for (i, slot) in inputs.iter_mut().enumerate().skip(c + ns) {
            *slot = ptrs[self.operands[i]];
        }
        // Sequences: element size, geometry, and a slice buffer when the
        // step's slice is not contiguous.
        let seqs: Vec<(usize, usize, usize, *mut u8)> = (0..ns)
            .map(|j| {
                let b = self.operands[c + j];
                let elem = p.buffers[p.inputs[c + j]].ty.dtype.size();
                let (outer, inner) = geometry(&shapes[b], self.axis);
                let slice = if outer == 1 {
                    std::ptr::null_mut()
                } else {
                    room(&mut store.slices[j], outer * inner * elem)
                };
                (elem, outer, inner, slice)
            })
            .collect();
        // Carries the body writes into a buffer of its own (not a pass-through
        // input, not shared with another carry) are written straight into
        // the next set: no copy per step (the reverse scan's weight-gradient
        // accumulator is 256 KB for the LSTM).
        let direct: Vec<bool> = (0..c)
            .map(|k| {
                let ob = p.outputs[k].1;
                matches!(p.buffers[ob].kind, BufKind::Output)
                    && (0..c).all(|j| j == k || p.outputs[j].1 != ob)
            })
            .collect();
        // Per-step outputs the body writes into a buffer of its own, stacked
        // into a result whose step `t` is one contiguous row (time-major):
        // written there in place, not staged and copied.
        let stacked_in_place: Vec<Option<BufId>> = (0..p.outputs.len())
            .map(|k| {
                let ob = p.outputs[k].1;
                let r = *self.results.get(k)?.first()?;
                let own = k >= c
                    && matches!(p.buffers[ob].kind, BufKind::Output)
                    && (0..k).all(|j| p.outputs[j].1 != ob)
                    && geometry(&shapes[r], self.axis).0 == 1;
                own.then_some(r)
            })
            .collect();
        let no_accumulate = vec![None; p.kernels.len()];
        for step in 0..steps {
            let t = if self.reverse { steps - 1 - step } else { step };
            inputs[..c].copy_from_slice(&carry_ptrs[cur]);
            for (j, &(elem, outer, inner, slice)) in seqs.iter().enumerate() {
                let src = ptrs[self.operands[c + j]];
                let row = inner * elem;
                inputs[c + j] = if outer == 1 {
                    src.wrapping_add(t * row)
                } else {
                    for o in 0..outer {
                        // SAFETY: row `(o, t)` of the sequence, row `o` of
                        // the slice buffer sized `outer × inner`.
                        unsafe {
                            std::ptr::copy_nonoverlapping(
                                src.add((o * steps + t) * row),
                                slice.add(o * row),
                                row,
                            )
                        };
                    }
                    slice
                };
            }
            for (b, buf) in p.buffers.iter().enumerate() {
                if let BufKind::Input { index, .. } = buf.kind {
                    bptrs[b] = inputs[index];
                }
            }
            let next = 1 - cur;
            for k in (0..c).filter(|&k| direct[k]) {
                bptrs[p.outputs[k].1] = carry_ptrs[next][k];
            }
            for (k, r) in stacked_in_place.iter().enumerate() {
                if let Some(r) = *r {
                    let ob = p.outputs[k].1;
                    // Row `t` of the stacked result (its `outer` is 1).
                    bptrs[ob] = ptrs[r].wrapping_add(t * bytes(ob));
                }
            }
            for b in 0..p.buffers.len() {
                bptrs[b] = bptrs[p.root(b)];
            }
            // SAFETY: `bptrs` points every body buffer at live storage
            // sized for the body's bindings: its arena, the staging rows,
            // the carry sets, or rows of the outer buffers (this function's
            // contract), which the body's own steps alone touch now.
            unsafe { body.run_steps(&bptrs, &no_accumulate, threads) }
                .map_err(|e| RunError(format!("step {t} of scan body @{}: {e}", p.name)))?;
            for k in (0..c).filter(|&k| !direct[k]) {
                let src = bptrs[p.outputs[k].1];
                // SAFETY: both hold the carry; the next set is not an
                // input of this step, so it overlaps nothing read.
                unsafe { std::ptr::copy(src, carry_ptrs[next][k], bytes(p.inputs[k])) };
            }
            for (k, &(_, ob)) in p.outputs.iter().enumerate().skip(c) {
                let src = bptrs[ob];
                let elem = p.buffers[ob].ty.dtype.size();
                for &r in &self.results[k] {
                    if stacked_in_place[k] == Some(r) {
                        continue;
                    }
                    let (outer, inner) = geometry(&shapes[r], self.axis);
                    let row = inner * elem;
                    for o in 0..outer {
                        // SAFETY: row `o` of the step's output, row
                        // `(o, t)` of the stacked result.
                        unsafe {
                            std::ptr::copy_nonoverlapping(
                                src.add(o * row),
                                ptrs[r].add((o * steps + t) * row),
                                row,
                            )
                        };
                    }
                }
            }
            cur = next;
        }
        for (k, &carry) in carry_ptrs[cur].iter().enumerate() {
            for &r in &self.results[k] {
                // SAFETY: the result holds the final carry.
                unsafe { std::ptr::copy(carry, ptrs[r], bytes(p.inputs[k])) };
            }
        }
        Ok(())
    }
}
