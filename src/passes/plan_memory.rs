//! Memory planning: every temporary of a kernel program gets a slot in one
//! arena, allocated once per compiled step (and resized only when the batch
//! size grows). Slots are reused by liveness: a temporary's life runs from
//! the kernel that writes it to the last kernel that reads it (or one of its
//! views), and a slot whose occupant is dead takes the next temporary that
//! fits. An elementwise kernel may write over an input it reads for the last
//! time, at the same position, in place.
//!
//! Sizes are symbolic in the batch, so a slot is reused only when one size
//! bounds the other for every batch (`256·N` holds `10·N`, `N` does not hold
//! `784`); the planned peak is a polynomial in the batch symbols.
//!
//! Inputs are the caller's tensors and outputs are handed back to it, so
//! neither lives in the arena. Parameters and optimizer state are updated
//! in place all the same: an executable owns them and passes each as an
//! update of the output that replaces it, which the backend writes straight
//! into the input where `in_place` proves it safe.

use crate::kernel::{row_major, BufId, BufKind, Kernel, KernelProgram, Size};

/// Assigns a slot to every temporary of `p` and records the slots' sizes.
pub fn plan_memory(p: &mut KernelProgram) {
    let nk = p.kernels.len();
    let nb = p.buffers.len();
    // Life of each root buffer: (first write, last read).
    let mut def = vec![usize::MAX; nb];
    let mut last = vec![0usize; nb];
    for (t, k) in p.kernels.iter().enumerate() {
        for o in k.writes() {
            let o = p.root(o);
            def[o] = def[o].min(t);
            last[o] = last[o].max(t);
        }
        for r in k.reads() {
            let r = p.root(r);
            last[r] = last[r].max(t);
        }
    }
    for (_, b) in &p.outputs {
        let r = p.root(*b);
        last[r] = usize::MAX;
    }

    struct Slot {
        size: Size,
        occupant: Option<BufId>,
    }
    let mut slots: Vec<Slot> = Vec::new();
    let writes: Vec<(usize, BufId)> = (0..nk)
        .flat_map(|t| p.kernels[t].writes().into_iter().map(move |o| (t, o)))
        .collect();
    for (t, out) in writes {
        let out = p.root(out);
        if p.buffers[out].kind != BufKind::Temp || def[out] != t {
            continue;
        }
        let need = p.bytes(out);
        let free = |s: &Slot| match s.occupant {
            None => true,
            Some(b) => last[b] < t || (last[b] == t && in_place(p, &p.kernels[t], out, b)),
        };
        // The smallest free slot that holds it, else a free slot it can grow,
        // else a new one.
        let fitting: Vec<usize> = (0..slots.len())
            .filter(|&i| free(&slots[i]) && slots[i].size.dominates(&need))
            .collect();
        let fits = fitting.iter().copied().find(|&i| {
            fitting
                .iter()
                .all(|&j| slots[j].size.dominates(&slots[i].size))
        });
        let fits = fits.or(fitting.first().copied());
        let grow = || {
            slots
                .iter()
                .position(|s| free(s) && need.dominates(&s.size))
        };
        let i = match fits.or_else(grow) {
            Some(i) => {
                if need.dominates(&slots[i].size) {
                    slots[i].size = need.clone();
                }
                i
            }
            None => {
                slots.push(Slot {
                    size: need.clone(),
                    occupant: None,
                });
                slots.len() - 1
            }
        };
        slots[i].occupant = Some(out);
        p.buffers[out].slot = Some(i);
    }
    p.plan.slots = slots.into_iter().map(|s| s.size).collect();
}

/// Whether kernel `k` may write its output `out` over buffer `b`, which it
/// reads for the last time: an elementwise kernel reading `b` only at the
/// position it writes (all its stores follow all its loads there), with
/// elements of the same size and count.
fn in_place(p: &KernelProgram, k: &Kernel, out: BufId, b: BufId) -> bool {
    let Kernel::Elementwise { dims, body, .. } = k else {
        return false;
    };
    let same_layout = p.buffers[out].ty.dtype.size() == p.buffers[b].ty.dtype.size()
        && p.numel(out) == p.numel(b);
    let rm = row_major(dims);
    same_layout
        && body
            .loads()
            .filter(|a| p.root(a.buf) == b)
            .all(|a| a.at_index(&rm))
}
