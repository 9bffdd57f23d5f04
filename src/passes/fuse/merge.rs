//! Sibling fusion: elementwise kernels over the same loop nest, one of which
//! reads what the other writes or both of which read one buffer, become one
//! loop that stores several outputs.
//!
//! The greedy fuser gives every value with several readers a kernel of its
//! own, so a recurrent cell's step is a dozen loops over the same `[N, H]`
//! rows: each reloads the gate values the others just stored, and each is
//! too small to split over threads. Merged, an intermediate value another
//! part of the loop reads stays in a register (its store is dropped when
//! no other kernel reads it), shared loads and common subexpressions are
//! computed once, and the one loop carries the work of all of them.
//!
//! Only f32 kernels are merged (every value and buffer 4 bytes wide, so the
//! merged loop runs in vector lanes like its parts). A kernel moves past
//! the kernels between the two only when none of them reads what it writes
//! (moving it later) or writes what it reads (moving it earlier), and a
//! kernel that reads the other's output anywhere but at the index being
//! written is left alone (that element may not be stored yet).

use std::collections::HashMap;

use crate::ir::DType;
use crate::kernel::{row_major, BufId, BufKind, Expr, Inst, Kernel, KernelProgram};

/// Merges related sibling elementwise kernels of `p` (before their loops
/// are normalized, so that siblings over one shape have equal `dims`)
/// until no pair is left.
pub(super) fn merge_siblings(p: &mut KernelProgram) {
    let mut j = 0;
    while j < p.kernels.len() {
        match (0..j)
            .rev()
            .find_map(|i| placement(p, i, j).map(|at| (i, at)))
        {
            Some((i, at)) => j = merge(p, i, j, at),
            None => j += 1,
        }
    }
}

/// Where kernels `i < j` can run merged (`i` or `j`), if they can.
fn placement(p: &KernelProgram, i: usize, j: usize) -> Option<usize> {
    let (ki, kj) = (&p.kernels[i], &p.kernels[j]);
    let (Kernel::Elementwise { dims: di, .. }, Kernel::Elementwise { dims: dj, body, .. }) =
        (ki, kj)
    else {
        return None;
    };
    if di != dj || !all_f32(p, ki) || !all_f32(p, kj) {
        return None;
    }
    let roots = |bs: &[BufId]| -> Vec<BufId> { bs.iter().map(|&b| p.root(b)).collect() };
    let writes_i = ki.writes();
    let (wi, ri, rj) = (roots(&writes_i), roots(&ki.reads()), roots(&kj.reads()));
    if !rj.iter().any(|b| wi.contains(b) || ri.contains(b)) {
        return None;
    }
    // `j` reads `i`'s outputs only where it writes, by their own buffers.
    let rm = row_major(di);
    let at_index = body
        .loads()
        .filter(|a| wi.contains(&p.root(a.buf)))
        .all(|a| writes_i.contains(&a.buf) && a.at_index(&rm));
    if !at_index {
        return None;
    }
    let between = &p.kernels[i + 1..j];
    if between
        .iter()
        .all(|k| roots(&k.reads()).iter().all(|b| !wi.contains(b)))
    {
        return Some(j);
    }
    let wj = roots(&kj.writes());
    if between.iter().all(|k| {
        roots(&k.writes())
            .iter()
            .all(|b| !rj.contains(b) && !wj.contains(b))
    }) {
        return Some(i);
    }
    None
}

/// Whether every value of elementwise kernel `k` and every buffer it
/// touches is f32.
fn all_f32(p: &KernelProgram, k: &Kernel) -> bool {
    let Kernel::Elementwise { body, .. } = k else {
        return false;
    };
    body.insts.iter().all(|(_, dt)| *dt == DType::F32)
        && k.reads()
            .iter()
            .chain(&k.writes())
            .all(|&b| p.buffers[b].ty.dtype == DType::F32)
}

/// Replaces kernels `i < j` by their merge at position `at` (`i` or `j`);
/// returns the merged kernel's index.
fn merge(p: &mut KernelProgram, i: usize, j: usize, at: usize) -> usize {
    let kj = p.kernels.remove(j);
    let ki = p.kernels.remove(i);
    let (
        Kernel::Elementwise {
            out: out_i,
            dims,
            body: body_i,
            extra: extra_i,
        },
        Kernel::Elementwise {
            out: out_j,
            body: body_j,
            extra: extra_j,
            ..
        },
    ) = (ki, kj)
    else {
        unreachable!("internal: only elementwise kernels merge")
    };
    // `i`'s stores, which `j`'s loads at the same index become.
    let mut stored: Vec<(BufId, usize)> = vec![(out_i, body_i.root())];
    stored.extend(extra_i);
    let rm = row_major(&dims);

    let mut body = Numbered::default();
    let mut from_i: Vec<usize> = Vec::with_capacity(body_i.insts.len());
    for (inst, dt) in body_i.insts {
        let v = body.push(inst.map_operands(|x| from_i[x]), dt);
        from_i.push(v);
    }
    let root_j = body_j.root();
    let mut from_j: Vec<usize> = Vec::with_capacity(body_j.insts.len());
    for (inst, dt) in body_j.insts {
        let forwarded = match &inst {
            Inst::Load(a) if a.at_index(&rm) => stored.iter().find(|s| s.0 == a.buf),
            _ => None,
        };
        let v = match forwarded {
            Some(&(_, v)) => from_i[v],
            None => body.push(inst.map_operands(|x| from_j[x]), dt),
        };
        from_j.push(v);
    }
    let root = from_j[root_j];
    let mut expr = body.expr;
    if root + 1 != expr.insts.len() {
        // The stored value must be the last instruction.
        let inst = expr.insts[root].clone();
        expr.insts.push(inst);
    }
    let extra: Vec<(BufId, usize)> = stored
        .into_iter()
        .map(|(b, v)| (b, from_i[v]))
        .chain(extra_j.into_iter().map(|(b, v)| (b, from_j[v])))
        .collect();
    let at = if at == j { j - 1 } else { i };
    p.kernels.insert(
        at,
        Kernel::Elementwise {
            out: out_j,
            dims,
            body: expr,
            extra,
        },
    );
    drop_dead_stores(p, at);
    at
}

/// Removes from kernel `at`'s extra outputs the temporaries nothing else
/// reads (their values live on in registers), and their buffers.
fn drop_dead_stores(p: &mut KernelProgram, at: usize) {
    loop {
        let Kernel::Elementwise { extra, .. } = &p.kernels[at] else {
            return;
        };
        let dead = extra.iter().map(|e| e.0).find(|&b| {
            p.buffers[b].kind == BufKind::Temp
                && !p.buffers.iter().any(|x| x.kind == BufKind::View { of: b })
                && p.kernels.iter().all(|k| !k.reads().contains(&b))
        });
        let Some(b) = dead else {
            return;
        };
        if let Kernel::Elementwise { extra, .. } = &mut p.kernels[at] {
            extra.retain(|e| e.0 != b);
        }
        super::remove_buffer(p, b);
    }
}

/// A body built by value numbering: an instruction equal to an earlier one
/// (same operation, operands and type) is that one. Every instruction of a
/// body is pure within one loop index (its loads precede every store), so
/// this is common-subexpression elimination of the two merged bodies.
#[derive(Default)]
struct Numbered {
    expr: Expr,
    seen: HashMap<String, usize>,
}

impl Numbered {
    fn push(&mut self, inst: Inst, dt: DType) -> usize {
        let key = format!("{inst:?}:{dt:?}");
        if let Some(&v) = self.seen.get(&key) {
            return v;
        }
        self.expr.insts.push((inst, dt));
        let v = self.expr.insts.len() - 1;
        self.seen.insert(key, v);
        v
    }
}
