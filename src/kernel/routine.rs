//! The library routines a kernel program calls (`Kernel::Library`): the
//! primitives whose index maps are not affine loads of one loop nest
//! (padding, windows, data-dependent rows, counter-based draws), so a
//! backend implements each once, over whole row-major buffers, instead of
//! generating it. The set is closed: a backend's coverage is one `match`
//! on [`Routine`] that the compiler checks, and a routine added here fails
//! to build every backend until each implements it.
//!
//! Each routine's meaning is the reference runner's
//! (`kernel::reference::routine`), which computes it on plain values; a
//! backend is tested against that runner, routine by routine
//! (`tests/it/cpu_library.rs`). Every variant holds exactly its op's
//! attributes, so the kernel dump prints a routine as the IR prints the op.

use crate::ir::{ConvAttrs, Dim, Dist, Op, ReduceOp, Window};

/// A library routine and its attributes. Operands and result are whole
/// row-major buffers of the dtypes and shapes the op's typing rule
/// (`Op::result_type`) gives them.
#[derive(Clone, Debug, PartialEq)]
pub enum Routine {
    /// `out[i] = a[start + i·stride]` on every axis, any dtype; the
    /// result's shape says how many elements each axis keeps (`stop` is
    /// kept for the dump; a symbolic one means the whole axis).
    Slice {
        start: Vec<usize>,
        stop: Vec<Dim>,
        stride: Vec<usize>,
    },
    /// `out` filled with `value`, then `a[i]` stored at
    /// `low + i·(interior + 1)` on every axis, any dtype (`high` follows
    /// from the result's shape).
    Pad {
        low: Vec<usize>,
        high: Vec<usize>,
        interior: Vec<usize>,
        value: f64,
    },
    /// The operands (one or more, one dtype) one after another along
    /// `axis`.
    Concat { axis: usize },
    /// `a` with the element order reversed along `axes`, any dtype.
    Reverse { axes: Vec<usize> },
    /// `out[i, ..] = table[indices[i], ..]`: rows of the table (any dtype)
    /// picked by i32 indices of any shape; an index outside the table is a
    /// run-time error naming it.
    Gather,
    /// `out = operand`, then row `i` of `updates` added to row
    /// `indices[i]` (repeats accumulate), f32, f64 or i32; an index
    /// outside the operand is a run-time error. The adjoint of `Gather`.
    ScatterAdd,
    /// Convolution (cross-correlation) `[N, C, S..] x [O, C/groups, K..] ->
    /// [N, O, Y..]` in f32 or f64, over any number of spatial axes, with
    /// strides, padding, dilation and groups. A transposed convolution is
    /// this routine with an input dilation (`lhs_dilation`), which is also
    /// how the gradients of a convolution reach the kernel program.
    Conv(ConvAttrs),
    /// Sum or max over sliding windows (pooling) in f32, f64 or i32,
    /// padding holding the reduction's identity.
    ReduceWindow { op: ReduceOp, window: Window },
    /// Random numbers (f32 or f64) of `dist`: element `i` is a pure
    /// function of the i32 scalar key operand, `stream` and `i`
    /// (Philox4x32-10, as `crate::random` defines the draw).
    Random { dist: Dist, stream: u64 },
}

impl Routine {
    /// The routine that runs `op`, or `None` for an op the fusion pass
    /// expresses as loop nests (or as a scan).
    pub fn of(op: &Op) -> Option<Routine> {
        Some(match op {
            Op::Slice {
                start,
                stop,
                stride,
            } => Routine::Slice {
                start: start.clone(),
                stop: stop.clone(),
                stride: stride.clone(),
            },
            Op::Pad {
                low,
                high,
                interior,
                value,
            } => Routine::Pad {
                low: low.clone(),
                high: high.clone(),
                interior: interior.clone(),
                value: *value,
            },
            Op::Concat { axis } => Routine::Concat { axis: *axis },
            Op::Reverse { axes } => Routine::Reverse { axes: axes.clone() },
            Op::Gather => Routine::Gather,
            Op::ScatterAdd => Routine::ScatterAdd,
            Op::Conv(c) => Routine::Conv(c.clone()),
            Op::ReduceWindow { op, window } => Routine::ReduceWindow {
                op: *op,
                window: window.clone(),
            },
            Op::Random { dist, stream } => Routine::Random {
                dist: *dist,
                stream: *stream,
            },
            _ => return None,
        })
    }

    /// The op this routine runs (for printing it as the IR prints the op).
    pub fn op(&self) -> Op {
        match self {
            Routine::Slice {
                start,
                stop,
                stride,
            } => Op::Slice {
                start: start.clone(),
                stop: stop.clone(),
                stride: stride.clone(),
            },
            Routine::Pad {
                low,
                high,
                interior,
                value,
            } => Op::Pad {
                low: low.clone(),
                high: high.clone(),
                interior: interior.clone(),
                value: *value,
            },
            Routine::Concat { axis } => Op::Concat { axis: *axis },
            Routine::Reverse { axes } => Op::Reverse { axes: axes.clone() },
            Routine::Gather => Op::Gather,
            Routine::ScatterAdd => Op::ScatterAdd,
            Routine::Conv(c) => Op::Conv(c.clone()),
            Routine::ReduceWindow { op, window } => Op::ReduceWindow {
                op: *op,
                window: window.clone(),
            },
            Routine::Random { dist, stream } => Op::Random {
                dist: *dist,
                stream: *stream,
            },
        }
    }

    /// The routine's name: its op's name in the IR text.
    pub fn name(&self) -> &'static str {
        match self {
            Routine::Slice { .. } => "slice",
            Routine::Pad { .. } => "pad",
            Routine::Concat { .. } => "concat",
            Routine::Reverse { .. } => "reverse",
            Routine::Gather => "gather",
            Routine::ScatterAdd => "scatter_add",
            Routine::Conv(_) => "conv",
            Routine::ReduceWindow { op, .. } => op.window_name(),
            Routine::Random { dist, .. } => dist.name(),
        }
    }
}
