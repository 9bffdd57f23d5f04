//! Fusing a `scan`: its operands are materialized by the outer program,
//! its results are the buffers of its `get`s, and its body is fused and
//! memory-planned on its own, once, as the step the backend calls per
//! time index.

use crate::ir::{Graph, Op, Scan, Value};
use crate::kernel::{BufId, Kernel, ScanKernel};
use crate::passes::plan_memory::plan_memory;

/// The scan kernel of scan node `v`.
pub(super) fn kernel(
    g: &Graph,
    v: Value,
    s: &Scan,
    buf_of: &[Option<BufId>],
    needed: &[bool],
) -> Kernel {
    let operands = g
        .operands(v)
        .iter()
        .map(|o| buf_of[o.index()].expect("internal: scan operand buffer"))
        .collect();
    let mut results = vec![Vec::new(); s.body.outputs.len()];
    for u in g.users(v) {
        if let (Op::Get { index }, true) = (g.op(u), needed[u.index()]) {
            let b = buf_of[u.index()].expect("internal: get buffer");
            if !results[*index].contains(&b) {
                results[*index].push(b);
            }
        }
    }
    let mut body = super::fuse(&s.body);
    plan_memory(&mut body);
    Kernel::Scan(Box::new(ScanKernel {
        body,
        carries: s.carries,
        sequences: s.sequences,
        axis: s.axis,
        reverse: s.reverse,
        operands,
        results,
    }))
}
