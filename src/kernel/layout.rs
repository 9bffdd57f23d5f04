//! What a run of a kernel program needs once the inputs are known: the
//! symbols bound from the inputs' shapes (checked against their declared
//! types), each buffer's element count, and each temporary's byte offset in
//! the arena (slots laid end to end, 64-byte aligned).

use crate::backend::RunError;
use crate::ir::Dim;
use crate::kernel::{BufKind, KernelProgram};
use crate::tensor::Tensor;

/// Alignment of every arena slot: a cache line, and enough for any vector.
pub const ALIGN: usize = 64;

/// Checks `inputs` against the program's input buffers and binds every
/// symbol; a symbol bound twice to different sizes is an error naming both.
pub fn bind(p: &KernelProgram, inputs: &[&Tensor]) -> Result<Vec<(String, usize)>, RunError> {
    if inputs.len() != p.inputs.len() {
        return Err(RunError(format!(
            "graph @{} takes {} input(s), got {}",
            p.name,
            p.inputs.len(),
            inputs.len()
        )));
    }
    let mut bound: Vec<(String, usize, String)> = Vec::new();
    for (&b, t) in p.inputs.iter().zip(inputs) {
        let buf = &p.buffers[b];
        let (name, ty) = (&buf.name, &buf.ty);
        let mismatch = || {
            RunError(format!(
                "input `{name}` should be {ty}, got {}{:?}",
                t.dtype(),
                t.shape()
            ))
        };
        if t.dtype() != ty.dtype || t.shape().len() != ty.rank() {
            return Err(mismatch());
        }
        for (d, &size) in ty.shape.dims().iter().zip(t.shape()) {
            match d {
                Dim::Fixed(k) if *k != size => return Err(mismatch()),
                Dim::Fixed(_) => {}
                Dim::Sym(s) => match bound.iter().find(|(k, _, _)| k == s) {
                    Some((_, prev, by)) if *prev != size => {
                        return Err(RunError(format!(
                            "size `{s}` is {prev} in input `{by}` but {size} in input `{name}`"
                        )))
                    }
                    Some(_) => {}
                    None => bound.push((s.clone(), size, name.clone())),
                },
            }
        }
    }
    let bindings: Vec<(String, usize)> = bound.into_iter().map(|(s, n, _)| (s, n)).collect();
    for s in p.symbols() {
        if !bindings.iter().any(|(k, _)| *k == s) {
            return Err(RunError(format!("size `{s}` is not bound by any input")));
        }
    }
    Ok(bindings)
}

/// Sizes and arena offsets for one binding of the symbols.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Element count of every buffer.
    pub numel: Vec<usize>,
    /// Byte offset in the arena of every temporary (and of its views).
    pub offset: Vec<usize>,
    pub arena_bytes: usize,
}

impl Layout {
    pub fn new(p: &KernelProgram, bindings: &[(String, usize)]) -> Layout {
        let ev = |s: &crate::kernel::Size| s.eval(bindings).expect("internal: bound size");
        let mut slot_off = Vec::with_capacity(p.plan.slots.len());
        let mut end = 0usize;
        for s in &p.plan.slots {
            slot_off.push(end);
            end += ev(s).div_ceil(ALIGN) * ALIGN;
        }
        let numel: Vec<usize> = (0..p.buffers.len()).map(|b| ev(&p.numel(b))).collect();
        let offset = (0..p.buffers.len())
            .map(|b| {
                let r = p.root(b);
                match (&p.buffers[r].kind, p.buffers[r].slot) {
                    (BufKind::Temp, Some(s)) => slot_off[s],
                    (BufKind::Temp, None) => panic!("internal: temporary without a slot"),
                    _ => 0,
                }
            })
            .collect();
        Layout {
            numel,
            offset,
            arena_bytes: end,
        }
    }
}
