//! The scan kernel: the IR's `scan` in the kernel program. Its body is a
//! kernel program of its own (fused and memory-planned once, like any
//! graph); a backend runs it once per step, feeding it the carries, index
//! `t` of every sequence along `axis` and the invariants, and writes the
//! per-step outputs at index `t` of the stacked results. Results follow
//! the IR: the final carries, then the stacked per-step outputs.

use super::{BufId, KernelProgram};

/// A loop over time whose step is a kernel program (see the module doc).
#[derive(Clone, Debug, PartialEq)]
pub struct ScanKernel {
    /// One step: carries, slices and invariants in; new carries and
    /// per-step outputs out (in the IR body's order).
    pub body: KernelProgram,
    pub carries: usize,
    pub sequences: usize,
    pub axis: usize,
    pub reverse: bool,
    /// The outer buffers of the initial carries, the whole sequences and
    /// the invariants, in the body's input order.
    pub operands: Vec<BufId>,
    /// For each result (final carries, then stacked outputs), the outer
    /// buffers that receive it: one per `get` reading it, none when nothing
    /// does.
    pub results: Vec<Vec<BufId>>,
}

impl ScanKernel {
    /// Every outer buffer the scan writes.
    pub fn writes(&self) -> Vec<BufId> {
        self.results.iter().flatten().copied().collect()
    }
}
