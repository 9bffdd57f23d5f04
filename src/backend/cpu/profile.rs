//! Time per kernel of the compiled step, for `dlc bench --profile`: where a
//! step's time goes is the first question when a workload is slower than
//! expected, and `perf` shows JIT-compiled loops as bare addresses. Off by
//! default; when on, every kernel run adds two clock reads.
//!
//! Times are inclusive: a `scan` kernel's time contains its body's
//! kernels, which are listed too, under the body's graph name.

#![deny(clippy::undocumented_unsafe_blocks)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::kernel::{Kernel, KernelProgram};

static ON: AtomicBool = AtomicBool::new(false);

/// Time and calls per (graph, kernel index), with the kernel's label.
static TABLE: Mutex<Option<HashMap<(String, usize), Row>>> = Mutex::new(None);

/// One kernel's share of the profiled runs.
#[derive(Clone, Debug)]
pub struct Row {
    /// `@graph %out kind`, as `dlc dump --stage kernels` names it.
    pub label: String,
    pub calls: u64,
    pub time: Duration,
    /// Whether the time includes other rows (a scan's body).
    pub inclusive: bool,
}

/// Starts recording afresh, or stops (keeping what was recorded).
pub fn enable(on: bool) {
    if on {
        *TABLE.lock().expect("profile table") = None;
    }
    ON.store(on, Ordering::Relaxed);
}

/// The clock at a kernel's start, when profiling.
pub(super) fn start() -> Option<Instant> {
    ON.load(Ordering::Relaxed).then(Instant::now)
}

/// Adds the kernel `s` of `p`, started at `t0`, to the table.
pub(super) fn record(p: &KernelProgram, s: usize, t0: Option<Instant>) {
    let Some(t0) = t0 else { return };
    let dt = t0.elapsed();
    let mut table = TABLE.lock().expect("profile table");
    let row = table
        .get_or_insert_with(HashMap::new)
        .entry((p.name.clone(), s))
        .or_insert_with(|| {
            let k = &p.kernels[s];
            let out = k
                .writes()
                .first()
                .map_or("?", |&b| p.buffers[b].name.as_str());
            Row {
                label: format!("@{} %{out} {}", p.name, kind(k)),
                calls: 0,
                time: Duration::ZERO,
                inclusive: matches!(k, Kernel::Scan(_)),
            }
        });
    row.calls += 1;
    row.time += dt;
}

fn kind(k: &Kernel) -> String {
    match k {
        Kernel::Elementwise { .. } => "elementwise".into(),
        Kernel::Reduce { op, .. } => op.name().into(),
        Kernel::MatMul { m, k, n, .. } => format!("matmul m={m} k={k} n={n}"),
        Kernel::Library { routine, .. } => routine.name().into(),
        Kernel::Scan(_) => "scan".into(),
    }
}

/// What was recorded since [`enable`], most time first.
pub fn rows() -> Vec<Row> {
    let table = TABLE.lock().expect("profile table");
    let mut rows: Vec<Row> = table
        .as_ref()
        .map(|t| t.values().cloned().collect())
        .unwrap_or_default();
    rows.sort_by(|a, b| b.time.cmp(&a.time).then(a.label.cmp(&b.label)));
    rows
}
