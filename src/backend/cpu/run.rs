//! Running a compiled kernel program: binding sizes from the inputs' shapes
//! (once per distinct set of shapes, cached in a [`Bound`]), pointing every
//! buffer at its storage — a caller's input, an updated input written in
//! place, fresh output storage, or the arena — and calling the steps in
//! order, splitting big loops over rayon's pool.
//!
//! The per-call path is kept short for batch-1 inference, where a whole
//! step takes microseconds: sizes, strides and output shapes are evaluated
//! once per binding, not per call.

#![deny(clippy::undocumented_unsafe_blocks)]

use rayon::prelude::*;

use super::matmul::{run_matmul, run_with_packed_b, GEMM_PARALLEL_MIN};
use super::{denormals, library, profile, Align64, Compiled, KernelFn, Loop, Step};
use crate::backend::{check_updates, Arg, RunError, Runner};
use crate::ir::DType;
use crate::kernel::{bind, in_place, BufKind, InPlace, Layout, Size};
use crate::tensor::Tensor;

/// Loops with less work than this (elements weighted by their body's cost,
/// see `cost_per_element`) run on one thread: below it, waking the pool
/// costs more than the loop.
pub const PARALLEL_MIN: usize = 1 << 15;

/// What one set of input shapes fixes: the symbols' values, the arena
/// layout, each step's extents and each output's shape.
pub(super) struct Bound {
    /// The input shapes this was made for.
    pub(super) shapes: Vec<Vec<usize>>,
    pub(super) layout: Layout,
    /// Each of the program's symbols, in `Compiled::syms` order.
    syms: Vec<i64>,
    /// Per step: the loop's (or epilogue's) outer extent and element count.
    loops: Vec<Option<(usize, usize)>>,
    /// Per step: a contraction's (batch, m, k, n).
    dims: Vec<(usize, usize, usize, usize)>,
    /// Each buffer's shape.
    pub(super) out_shapes: Vec<Vec<usize>>,
    /// Whether any step is big enough to split over threads. A single
    /// one-row product does not count: it splits from the calling thread
    /// (`gemv::row_times_matrix_split`), and handing a batch-1 step to a
    /// pool thread and back would cost more than that product.
    parallel: bool,
}

impl Runner for Compiled {
    fn run(&mut self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, RunError> {
        let mut args: Vec<Arg> = inputs.iter().map(|t| Arg::In(t)).collect();
        let outs = self.execute(&mut args, &[])?;
        Ok(outs
            .into_iter()
            .map(|t| t.expect("internal: every output returned"))
            .collect())
    }

    fn run_update(
        &mut self,
        args: &mut [Arg],
        updates: &[(usize, usize)],
    ) -> Result<Vec<Option<Tensor>>, RunError> {
        check_updates(args, updates)?;
        self.execute(args, updates)
    }
}

impl Compiled {
    /// How each update may be done in place, cached for the last `updates`.
    fn in_place_plan(&mut self, updates: &[(usize, usize)]) -> Vec<InPlace> {
        if let Some((u, plan)) = &self.in_place {
            if u == updates {
                return plan.clone();
            }
        }
        let p = &self.prog;
        let plan: Vec<InPlace> = updates
            .iter()
            .map(|&(i, o)| match (p.inputs.get(i), p.outputs.get(o)) {
                (Some(&ib), Some((_, ob))) => in_place(p, ib, *ob),
                _ => InPlace::No,
            })
            .collect();
        self.in_place = Some((updates.to_vec(), plan.clone()));
        plan
    }

    /// Makes `self.bound` describe `inputs`' shapes: reused when they are
    /// the last call's (dtypes still checked), rebuilt (and the inputs fully
    /// checked) otherwise.
    fn bind_shapes(&mut self, inputs: &[&Tensor]) -> Result<(), RunError> {
        let p = &self.prog;
        if let Some(b) = &self.bound {
            let same = inputs.len() == b.shapes.len()
                && inputs
                    .iter()
                    .zip(&b.shapes)
                    .zip(&p.inputs)
                    .all(|((t, s), &ib)| {
                        t.shape() == s.as_slice() && t.dtype() == p.buffers[ib].ty.dtype
                    });
            if same {
                return Ok(());
            }
        }
        let bindings = bind(p, inputs)?;
        self.bind_sizes(
            &bindings,
            inputs.iter().map(|t| t.shape().to_vec()).collect(),
        );
        Ok(())
    }

    /// Makes `self.bound` describe these symbol bindings, made from input
    /// shapes `shapes` (a scan body's are bound by its outer program).
    pub(super) fn bind_sizes(&mut self, bindings: &[(String, usize)], shapes: Vec<Vec<usize>>) {
        let p = &self.prog;
        let ev = |s: &Size| s.eval(bindings).expect("internal: bound size");
        let layout = Layout::new(p, bindings);
        let need = layout.arena_bytes.div_ceil(64);
        if self.arena.len() < need {
            self.arena = vec![Align64([0; 64]); need];
        }
        let syms = self
            .syms
            .iter()
            .map(|s| {
                bindings
                    .iter()
                    .find(|(k, _)| k == s)
                    .map_or(0, |(_, v)| *v as i64)
            })
            .collect();
        let extent = |lp: &Loop| (ev(&lp.dim0), ev(&lp.work));
        let loops: Vec<Option<(usize, usize)>> = self
            .steps
            .iter()
            .map(|s| match s {
                Step::Loop(lp) => Some(extent(lp)),
                Step::MatMul { epilogue, .. } => epilogue.as_ref().map(extent),
                Step::Library { .. } | Step::Scan(_) => None,
            })
            .collect();
        let dims: Vec<(usize, usize, usize, usize)> = self
            .steps
            .iter()
            .map(|s| match s {
                Step::MatMul { batch, m, k, n, .. } => (ev(batch), ev(m), ev(k), ev(n)),
                Step::Loop(_) | Step::Library { .. } | Step::Scan(_) => (0, 0, 0, 0),
            })
            .collect();
        let out_shapes: Vec<Vec<usize>> = p
            .buffers
            .iter()
            .map(|b| b.ty.shape.bind(bindings).expect("internal: bound shape"))
            .collect();
        let library_parallel = self.steps.iter().any(|s| match s {
            Step::Library { out, routine, .. } => {
                library::parallel(routine, out_shapes[*out].iter().product())
            }
            // A scan's body may split its loops: run it from the pool.
            Step::Scan(_) => true,
            _ => false,
        });
        let parallel = library_parallel
            || loops
                .iter()
                .flatten()
                .any(|&(d0, work)| d0 >= 2 && work >= PARALLEL_MIN)
            || dims
                .iter()
                .any(|&(bs, m, k, n)| m * k * n >= GEMM_PARALLEL_MIN && (m, bs) != (1, 1));
        self.bound = Some(Bound {
            parallel,
            shapes,
            layout,
            syms,
            loops,
            dims,
            out_shapes,
        });
    }

    /// One run: points every buffer at an input, an updated input (in
    /// place), fresh output storage or the arena, runs the steps, and hands
    /// the outputs back (`None` for those written into their inputs).
    fn execute(
        &mut self,
        args: &mut [Arg],
        updates: &[(usize, usize)],
    ) -> Result<Vec<Option<Tensor>>, RunError> {
        if updates.iter().any(|&(_, o)| o >= self.prog.outputs.len()) {
            return Err(RunError(format!(
                "graph @{} has {} output(s)",
                self.prog.name,
                self.prog.outputs.len()
            )));
        }
        let plan = if updates.is_empty() {
            Vec::new()
        } else {
            self.in_place_plan(updates)
        };
        // Inputs in row-major order (a strided caller tensor is copied; no
        // vector at all when, as usual, none is strided).
        let owned: Vec<Option<Tensor>> = {
            let refs: Vec<&Tensor> = args.iter().map(Arg::tensor).collect();
            self.bind_shapes(&refs)?;
            if refs.iter().all(|t| standard(t)) {
                Vec::new()
            } else {
                refs.iter()
                    .map(|t| (!standard(t)).then(|| standard_copy(t)))
                    .collect()
            }
        };
        let copied = |i: usize| owned.get(i).and_then(Option::as_ref);
        let p = &self.prog;
        let bound = self.bound.as_ref().expect("internal: shapes bound");
        // Each input's storage; updated ones through their `&mut`.
        let input_ptr: Vec<*mut u8> = args
            .iter_mut()
            .enumerate()
            .map(|(i, a)| match (copied(i), a) {
                // Read only: no kernel writes an input buffer, and an
                // output goes into an input only when it is an updated one
                // that was not copied (`into_input` below).
                (Some(t), _) => tensor_ptr(t).cast_mut(),
                (None, Arg::In(t)) => tensor_ptr(t).cast_mut(),
                (None, Arg::Update(t)) => tensor_mut_ptr(t),
            })
            .collect();
        // Output buffers that live in their input, and gemms that accumulate.
        let mut into_input: Vec<Option<usize>> = vec![None; p.buffers.len()];
        let mut accumulate: Vec<Option<f32>> = vec![None; p.kernels.len()];
        for (&(i, o), how) in updates.iter().zip(&plan) {
            if *how == InPlace::No || copied(i).is_some() {
                continue;
            }
            into_input[p.outputs[o].1] = Some(i);
            if let InPlace::Accumulate { kernel, alpha } = *how {
                accumulate[kernel] = Some(alpha);
            }
        }
        // Fresh output storage by buffer: a few entries, not one per buffer
        // (a batch-1 step takes microseconds; a buffer-long vector of
        // tensors to fill and drop was a visible part of them).
        let mut outputs: Vec<(usize, Tensor)> = Vec::with_capacity(p.outputs.len());
        let arena = self.arena.as_mut_ptr() as *mut u8;
        let mut ptrs: Vec<*mut u8> = vec![std::ptr::null_mut(); p.buffers.len()];
        for (b, buf) in p.buffers.iter().enumerate() {
            ptrs[b] = match (&buf.kind, into_input[b]) {
                (BufKind::Input { index, .. }, _) => input_ptr[*index],
                (BufKind::Output, Some(i)) => input_ptr[i],
                (BufKind::Output, None) => {
                    let mut t = Tensor::full(buf.ty.dtype, &bound.out_shapes[b], 0.0);
                    // Written by the kernels: taken from `&mut`. Moving the
                    // tensor into `outputs` leaves its heap storage put.
                    let ptr = tensor_mut_ptr(&mut t);
                    outputs.push((b, t));
                    ptr
                }
                (BufKind::Temp, _) => arena.wrapping_add(bound.layout.offset[b]),
                (BufKind::View { .. }, _) => continue,
            };
        }
        for b in 0..p.buffers.len() {
            ptrs[b] = ptrs[p.root(b)];
        }
        let threads = rayon::current_num_threads();
        // SAFETY: `ptrs`, set up just above, points every buffer at live
        // storage sized for `bound`: the caller's inputs (or their
        // row-major copies), fresh outputs, an updated input where the
        // in-place plan allows it, or the arena laid out for `bound`; all of
        // it outlives the steps, and `args` stays borrowed meanwhile.
        let run_steps = || unsafe { self.run_steps(&ptrs, &accumulate, threads) };
        // Denormals flushed on every thread that runs part of the step
        // (`denormals`): the whole pool when the step splits work.
        if threads > 1 && bound.parallel && rayon::current_thread_index().is_none() {
            // Run the steps on a pool thread: from there each parallel part
            // is split by work stealing, so when the OS delays the other
            // thread this one goes on with the whole job instead of the
            // caller waiting for every part to be picked up.
            let job = AssertSend(move || denormals::on_pool(run_steps));
            let mut result = Ok(());
            let r = &mut result;
            rayon::scope(move |_| *r = job.run());
            result?;
        } else if threads > 1 && bound.parallel {
            denormals::on_pool(run_steps)?;
        } else {
            let _flush = denormals::flush_here();
            denormals::note();
            run_steps()?;
        }
        let mut results: Vec<Option<Tensor>> = Vec::with_capacity(p.outputs.len());
        for (o, (_, b)) in p.outputs.iter().enumerate() {
            if into_input[*b].is_some() && updates.iter().any(|&(_, u)| u == o) {
                results.push(None);
                continue;
            }
            let fresh = outputs.iter().position(|(ob, _)| ob == b);
            results.push(Some(match fresh.map(|i| outputs.swap_remove(i).1) {
                Some(t) => t,
                // SAFETY: `ptrs[b]` is the output's live storage (an input
                // or the arena) sized for these bindings, and the steps
                // that wrote it have finished.
                None => unsafe {
                    read_tensor(ptrs[*b], p.buffers[*b].ty.dtype, &bound.out_shapes[*b])
                },
            }));
        }
        // (An output named twice is copied the second time from the first
        // one's storage, which moving the tensor into `results` kept alive.)
        // Updates that could not be done in place are handed over now.
        for &(i, o) in updates {
            if let Some(t) = results[o].take() {
                if let Arg::Update(slot) = &mut args[i] {
                    **slot = t;
                }
            }
        }
        Ok(results)
    }

    /// Runs every step with the buffers at `ptrs` (bound by `self.bound`);
    /// `accumulate` marks contractions that add into their output.
    ///
    /// # Safety
    /// `ptrs[b]` is, for every buffer `b` of the program, the base of live
    /// storage aligned for its dtype and holding its elements under
    /// `self.bound`'s bindings (a view's being its root's); storages
    /// overlap only as the program plans (views, arena slots reused after
    /// their last reader, outputs written over inputs where
    /// `kernel::in_place` allows it), and nothing else reads or writes
    /// them until this returns.
    pub(super) unsafe fn run_steps(
        &self,
        ptrs: &[*mut u8],
        accumulate: &[Option<f32>],
        threads: usize,
    ) -> Result<(), RunError> {
        let (p, steps) = (&self.prog, &self.steps);
        let bound = self.bound.as_ref().expect("internal: shapes bound");
        let buf = |b: usize| library::Buf {
            ptr: ptrs[b],
            dtype: p.buffers[b].ty.dtype,
            shape: &bound.out_shapes[b],
        };
        for (s, step) in steps.iter().enumerate() {
            let t0 = profile::start();
            match step {
                // SAFETY: this function's contract, for the nest's buffers.
                Step::Loop(lp) => unsafe {
                    run_loop(lp, bound.loops[s], ptrs, &bound.syms, threads)
                },
                Step::MatMul {
                    out,
                    a,
                    b,
                    dtype,
                    epilogue,
                    summed,
                    ..
                } => {
                    let acc = accumulate[s];
                    let dims = bound.dims[s];
                    let packed = self.pack_b[s] && {
                        let cache = &mut self.packed.borrow_mut()[s];
                        run_with_packed_b(ptrs, *out, dims, (a, b), *summed, cache, acc)
                    };
                    if !packed {
                        run_matmul(ptrs, *out, dims, (a, b), *dtype, acc, *summed);
                    }
                    if let (Some(lp), None) = (epilogue, acc) {
                        // SAFETY: this function's contract, for the
                        // epilogue's buffers.
                        unsafe { run_loop(lp, bound.loops[s], ptrs, &bound.syms, threads) };
                    }
                }
                Step::Library { out, routine, args } => {
                    let args: Vec<library::Buf> = args.iter().map(|&a| buf(a)).collect();
                    // SAFETY: every buffer is live and sized for these
                    // bindings (this function's contract), and fusion gave
                    // the routine an output of its own.
                    unsafe { library::run(routine, buf(*out), &args, threads) }.map_err(|e| {
                        RunError(format!("{} (`{}`, graph @{})", e.0, routine.name(), p.name))
                    })?;
                }
                Step::Scan(sc) => {
                    let bindings: Vec<(String, usize)> = self
                        .syms
                        .iter()
                        .zip(&bound.syms)
                        .map(|(k, &v)| (k.clone(), v as usize))
                        .collect();
                    // SAFETY: every buffer is live and sized for these
                    // bindings (this function's contract).
                    unsafe { sc.run(ptrs, &bound.out_shapes, &bindings, threads) }?;
                }
            }
            profile::record(p, s, t0);
        }
        Ok(())
    }
}

/// A job moved to a pool thread while its caller blocks on it.
struct AssertSend<F>(F);
// SAFETY: the caller waits in `rayon::scope` until the job is done, so the
// raw pointers it captures stay valid and are never used concurrently.
unsafe impl<F> Send for AssertSend<F> {}

impl<R, F: FnOnce() -> R> AssertSend<F> {
    fn run(self) -> R {
        (self.0)()
    }
}

/// Raw pointers shared with rayon workers; each worker writes disjoint rows.
#[derive(Clone, Copy)]
struct Shared(*const *mut u8, *const i64);
// SAFETY: the pointed-to arrays outlive the parallel loop, and the kernels
// called on different row ranges write disjoint elements.
unsafe impl Send for Shared {}
// SAFETY: as for `Send`: workers only read the two arrays, and the kernels
// they call write disjoint rows.
unsafe impl Sync for Shared {}

impl Shared {
    /// Runs `f` on rows `lo..hi`.
    ///
    /// # Safety
    /// The arrays are live: a base address per buffer of the program `f`
    /// was compiled for, each sized for the bound symbols; `lo..hi` lies
    /// in the outer extent, and no other call writes those rows meanwhile.
    unsafe fn call(&self, f: KernelFn, lo: usize, hi: usize) {
        // SAFETY: the caller's contract is what the kernel reads and
        // writes (see `codegen`'s module doc for its arguments).
        unsafe { f(self.0, self.1, lo as i64, hi as i64) }
    }
}

/// Whether [`run_loop`] splits this loop over `threads`.
fn splits(lp: &Loop, extent: Option<(usize, usize)>, threads: usize) -> bool {
    let (d0, work) = extent.expect("internal: loop extent bound");
    lp.splittable && threads > 1 && work >= PARALLEL_MIN && d0 >= 2
}

/// Runs a loop nest over its outer extent `d0` (`work` elements in all),
/// split into row ranges over the pool when it is big enough.
///
/// # Safety
/// `ptrs` holds the base address of every buffer of the program `lp` was
/// compiled in, each live and sized for the bindings `syms` holds (in the
/// program's symbol order), and nothing else touches the buffers the nest
/// writes meanwhile.
unsafe fn run_loop(
    lp: &Loop,
    extent: Option<(usize, usize)>,
    ptrs: &[*mut u8],
    syms: &[i64],
    threads: usize,
) {
    let (d0, _) = extent.expect("internal: loop extent bound");
    let sh = Shared(ptrs.as_ptr(), syms.as_ptr());
    if splits(lp, extent, threads) {
        // A few parts per thread, so a thread the OS delays holds up less.
        let parts = (threads * 4).min(d0);
        (0..parts).into_par_iter().for_each(|c| {
            denormals::note();
            let lo = d0 * c / parts;
            let hi = d0 * (c + 1) / parts;
            // SAFETY: this function's contract; the parts write disjoint
            // rows of the output (`splittable`), see `Shared`.
            unsafe { sh.call(lp.f, lo, hi) };
        });
    } else {
        // SAFETY: as above, on the whole range.
        unsafe { sh.call(lp.f, 0, d0) };
    }
}

/// Where a tensor's elements start, to read them.
pub(super) fn tensor_ptr(t: &Tensor) -> *const u8 {
    match t {
        Tensor::F32(a) => a.as_ptr() as *const u8,
        Tensor::F64(a) => a.as_ptr() as *const u8,
        Tensor::I32(a) => a.as_ptr() as *const u8,
        Tensor::Bool(a) => a.as_ptr() as *const u8,
    }
}

/// Where a tensor's elements start, to write them.
fn tensor_mut_ptr(t: &mut Tensor) -> *mut u8 {
    match t {
        Tensor::F32(a) => a.as_mut_ptr() as *mut u8,
        Tensor::F64(a) => a.as_mut_ptr() as *mut u8,
        Tensor::I32(a) => a.as_mut_ptr() as *mut u8,
        Tensor::Bool(a) => a.as_mut_ptr() as *mut u8,
    }
}

/// A row-major copy of a strided tensor.
fn standard_copy(t: &Tensor) -> Tensor {
    match t {
        Tensor::F32(a) => Tensor::F32(a.as_standard_layout().into_owned()),
        Tensor::F64(a) => Tensor::F64(a.as_standard_layout().into_owned()),
        Tensor::I32(a) => Tensor::I32(a.as_standard_layout().into_owned()),
        Tensor::Bool(a) => Tensor::Bool(a.as_standard_layout().into_owned()),
    }
}

fn standard(t: &Tensor) -> bool {
    match t {
        Tensor::F32(a) => a.is_standard_layout(),
        Tensor::F64(a) => a.is_standard_layout(),
        Tensor::I32(a) => a.is_standard_layout(),
        Tensor::Bool(a) => a.is_standard_layout(),
    }
}

/// A copy of the elements at `p` as a tensor of `dtype` and `shape`.
///
/// # Safety
/// `p` points at a live buffer holding at least `shape`'s element count of
/// `dtype`, aligned for it, that nothing writes while it is copied.
pub(super) unsafe fn read_tensor(p: *const u8, dtype: DType, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let sh = ndarray::IxDyn(shape);
    // SAFETY: the caller's contract.
    unsafe {
        match dtype {
            DType::F32 => Tensor::F32(
                ndarray::ArrayD::from_shape_vec(
                    sh,
                    std::slice::from_raw_parts(p as *const f32, n).to_vec(),
                )
                .expect("internal: shape"),
            ),
            DType::F64 => Tensor::F64(
                ndarray::ArrayD::from_shape_vec(
                    sh,
                    std::slice::from_raw_parts(p as *const f64, n).to_vec(),
                )
                .expect("internal: shape"),
            ),
            DType::I32 => Tensor::I32(
                ndarray::ArrayD::from_shape_vec(
                    sh,
                    std::slice::from_raw_parts(p as *const i32, n).to_vec(),
                )
                .expect("internal: shape"),
            ),
            DType::Bool => Tensor::Bool(
                ndarray::ArrayD::from_shape_vec(
                    sh,
                    std::slice::from_raw_parts(p as *const bool, n).to_vec(),
                )
                .expect("internal: shape"),
            ),
        }
    }
}
