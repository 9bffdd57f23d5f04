//! The CPU backend: a graph is fused and memory-planned into a kernel
//! program, every loop nest is compiled to machine code with Cranelift
//! (`codegen`), contractions go to the `gemm` crate's AVX-512 micro-kernels
//! (called as Cᵀ = Bᵀ·Aᵀ, its fast orientation, see `TOOLCHAIN.md` §3), and
//! rayon splits big loops across cores. `reference` runs the same kernel
//! program with plain loops, to test fusion apart from code generation.
//!
//! A run binds the size symbols from the inputs' shapes, lays the arena out
//! for them (once per distinct batch size), points every buffer at the
//! caller's inputs, fresh outputs or the arena, and calls the kernels in
//! order. Kernels are compiled once per graph, never per batch size. With
//! `run_update`, outputs that replace an input (new parameters, optimizer
//! state) are written straight into it where `in_place` proves it safe, so
//! a training step allocates nothing.

mod codegen;
mod in_place;
mod layout;
mod matmul;
pub mod reference;

pub use in_place::{in_place, InPlace};
pub use layout::{bind, Layout};
pub use matmul::{sgemm, MatRef, GEMM_PARALLEL_MIN};

use rayon::prelude::*;

use self::codegen::{Jit, KernelFn, LoopNest};
use self::matmul::run_matmul;
use super::{check_updates, Arg, Backend, Executable, RunError};
use crate::ir::{DType, Graph, ReduceOp};
use crate::kernel::{
    row_major, Access, BufKind, Expr, Inst, Kernel, KernelProgram, MatOperand, Size,
};
use crate::passes::{fuse::fuse, plan_memory::plan_memory};
use crate::tensor::Tensor;

/// The fused, memory-planned kernel program of a verified graph: what
/// `dlc dump --stage kernels` prints and what every compiled backend runs.
pub fn kernel_program(g: &Graph) -> KernelProgram {
    let mut p = fuse(g);
    plan_memory(&mut p);
    p
}

/// Loops with fewer elements than this run on one thread: below it, waking
/// the pool costs more than the loop.
const PARALLEL_MIN: usize = 1 << 15;

/// The default backend: Cranelift-compiled kernels.
pub struct CpuBackend;

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }
    fn compile(&self, graph: &Graph) -> Result<Box<dyn Executable>, String> {
        crate::ir::verify::verify(graph).map_err(|e| e.to_string())?;
        compile_program(kernel_program(graph))
    }
}

/// Compiles a fused, memory-planned kernel program to machine code: the
/// last stage of [`CpuBackend::compile`], on its own so that `dlc bench`
/// can time fusion, planning and code generation apart.
pub fn compile_program(p: KernelProgram) -> Result<Box<dyn Executable>, String> {
    Ok(Box::new(Compiled::new(p)?))
}

/// The CLIF of every loop nest of `g`'s kernel program, in kernel order
/// (`dlc dump --stage clif`).
pub fn clif_text(g: &Graph) -> Result<String, String> {
    let p = kernel_program(g);
    let mut jit = Jit::new()?;
    jit.clif = Some(Vec::new());
    let syms = p.symbols();
    let dtypes: Vec<DType> = p.buffers.iter().map(|b| b.ty.dtype).collect();
    for k in &p.kernels {
        if let Some(spec) = NestSpec::of(&p, k) {
            jit.compile(&spec.nest(&dtypes), &syms)?;
        }
    }
    Ok(jit.clif.take().unwrap_or_default().join("\n"))
}

/// A loop nest in owned form, ready to hand to the code generator.
struct NestSpec {
    dims: Vec<Size>,
    body: Expr,
    out: usize,
    out_strides: Vec<Size>,
    reduce: Option<ReduceOp>,
}

impl NestSpec {
    /// The loop nest of an elementwise or reduce kernel, or of a
    /// contraction's epilogue; `None` for a contraction without one.
    fn of(p: &KernelProgram, k: &Kernel) -> Option<NestSpec> {
        let (dims, mut body, out, reduce, axes) = match k {
            Kernel::Elementwise { out, dims, body } => (dims, body.clone(), *out, None, vec![]),
            Kernel::Reduce {
                out,
                op,
                dims,
                axes,
                body,
            } => (dims, body.clone(), *out, Some(*op), axes.clone()),
            Kernel::MatMul {
                out,
                epilogue: Some((dims, body)),
                ..
            } => {
                // The epilogue reads the contraction's result where it writes.
                let mut body = body.clone();
                for (inst, _) in &mut body.insts {
                    if matches!(inst, Inst::Acc) {
                        *inst = Inst::Load(Access {
                            buf: *out,
                            strides: row_major(dims),
                        });
                    }
                }
                (dims, body, *out, None, vec![])
            }
            Kernel::MatMul { .. } => return None,
        };
        let mut dims = dims.clone();
        if dims.is_empty() {
            // A scalar: one iteration of a one-axis loop.
            dims.push(Size::one());
            for (inst, _) in &mut body.insts {
                if let Inst::Load(a) = inst {
                    a.strides.push(Size::zero());
                }
            }
        }
        let kept: Vec<Size> = (0..dims.len())
            .filter(|l| !axes.contains(l))
            .map(|l| dims[l].clone())
            .collect();
        let kept_strides = row_major(&kept);
        let mut next = kept_strides.into_iter();
        let out_strides = (0..dims.len())
            .map(|l| {
                if axes.contains(&l) {
                    Size::zero()
                } else {
                    next.next().unwrap_or_else(Size::one)
                }
            })
            .collect();
        let _ = p;
        Some(NestSpec {
            dims,
            body,
            out,
            out_strides,
            reduce,
        })
    }

    fn nest<'a>(&'a self, dtypes: &'a [DType]) -> LoopNest<'a> {
        LoopNest {
            dims: &self.dims,
            body: &self.body,
            out: self.out,
            out_strides: self.out_strides.clone(),
            reduce: self.reduce,
            buf_dtypes: dtypes,
        }
    }

    /// Whether rayon may split the outermost axis (each part then owns its
    /// own output rows).
    fn splittable(&self) -> bool {
        !self.out_strides[0].is_zero()
    }
}

/// A compiled loop nest with what the runner needs to split it.
struct Loop {
    f: KernelFn,
    dim0: Size,
    work: Size,
    splittable: bool,
}

enum Step {
    Loop(Loop),
    MatMul {
        out: usize,
        batch: Size,
        m: Size,
        k: Size,
        n: Size,
        a: MatOperand,
        b: MatOperand,
        dtype: DType,
        epilogue: Option<Loop>,
    },
}

/// `(input, output)` pairs of a `run_update`.
type Updates = Vec<(usize, usize)>;

struct Compiled {
    prog: KernelProgram,
    steps: Vec<Step>,
    syms: Vec<String>,
    /// Kept alive (and freed on drop) for the kernels' code.
    _jit: Jit,
    /// The arena and the layout it was sized for.
    arena: Vec<Align64>,
    layout: Option<(Vec<(String, usize)>, Layout)>,
    /// The in-place plan of the last `run_update`'s pairs.
    in_place: Option<(Updates, Vec<InPlace>)>,
}

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Align64([u8; 64]);

impl Compiled {
    fn new(prog: KernelProgram) -> Result<Compiled, String> {
        let mut jit = Jit::new()?;
        let syms = prog.symbols();
        let dtypes: Vec<DType> = prog.buffers.iter().map(|b| b.ty.dtype).collect();
        let mut pending = Vec::new();
        for k in &prog.kernels {
            let lp = match NestSpec::of(&prog, k) {
                Some(spec) => {
                    let id = jit.compile(&spec.nest(&dtypes), &syms)?;
                    let work = spec.dims.iter().fold(Size::one(), |a, d| a.mul(d));
                    Some((id, spec.dims[0].clone(), work, spec.splittable()))
                }
                None => None,
            };
            pending.push(lp);
        }
        jit.finish()?;
        let mut steps = Vec::new();
        for (k, lp) in prog.kernels.iter().zip(pending) {
            let lp = lp.map(|(id, dim0, work, splittable)| Loop {
                f: jit.get(id),
                dim0,
                work,
                splittable,
            });
            steps.push(match k {
                Kernel::MatMul {
                    out,
                    batch,
                    m,
                    k,
                    n,
                    a,
                    b,
                    ..
                } => Step::MatMul {
                    out: *out,
                    batch: Size::of_dims(batch),
                    m: Size::of_dim(m),
                    k: Size::of_dim(k),
                    n: Size::of_dim(n),
                    a: a.clone(),
                    b: b.clone(),
                    dtype: prog.buffers[*out].ty.dtype,
                    epilogue: lp,
                },
                _ => Step::Loop(lp.expect("internal: loop kernel compiled")),
            });
        }
        Ok(Compiled {
            prog,
            steps,
            syms,
            _jit: jit,
            arena: Vec::new(),
            layout: None,
            in_place: None,
        })
    }
}

/// Raw pointers shared with rayon workers; each worker writes disjoint rows.
#[derive(Clone, Copy)]
struct Shared(*const *mut u8, *const i64);
// SAFETY: the pointed-to arrays outlive the parallel loop, and the kernels
// called on different row ranges write disjoint elements.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// Runs `f` on rows `lo..hi`.
    ///
    /// # Safety
    /// The arrays are live and sized for the bindings `f` reads.
    unsafe fn call(&self, f: KernelFn, lo: usize, hi: usize) {
        unsafe { f(self.0, self.1, lo as i64, hi as i64) }
    }
}

fn run_loop(lp: &Loop, ptrs: &[*mut u8], syms: &[i64], bindings: &[(String, usize)]) {
    let ev = |s: &Size| s.eval(bindings).expect("internal: bound size");
    let d0 = ev(&lp.dim0);
    let work = ev(&lp.work);
    let sh = Shared(ptrs.as_ptr(), syms.as_ptr());
    let threads = rayon::current_num_threads();
    if lp.splittable && threads > 1 && work >= PARALLEL_MIN && d0 >= 2 {
        let parts = (threads * 4).min(d0);
        (0..parts).into_par_iter().for_each(|c| {
            let lo = d0 * c / parts;
            let hi = d0 * (c + 1) / parts;
            // SAFETY: see `Shared`; the kernel reads and writes inside the
            // buffers the layout sized for these bindings.
            unsafe { sh.call(lp.f, lo, hi) };
        });
    } else {
        // SAFETY: as above, on the whole range.
        unsafe { sh.call(lp.f, 0, d0) };
    }
}

fn tensor_ptr(t: &Tensor) -> *mut u8 {
    match t {
        Tensor::F32(a) => a.as_ptr() as *mut u8,
        Tensor::F64(a) => a.as_ptr() as *mut u8,
        Tensor::I32(a) => a.as_ptr() as *mut u8,
        Tensor::Bool(a) => a.as_ptr() as *mut u8,
    }
}

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

/// A copy of `n` elements at `p` as a tensor of `dtype` and `shape`.
fn read_tensor(p: *const u8, dtype: DType, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let sh = ndarray::IxDyn(shape);
    // SAFETY: `p` points at a live buffer of at least `n` elements of `dtype`.
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

impl Executable for Compiled {
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

    /// One run: binds the sizes, points every buffer at an input, an
    /// updated input (in place), fresh output storage or the arena, runs
    /// the kernels, and hands the outputs back (`None` for those written
    /// into their inputs).
    fn execute(
        &mut self,
        args: &mut [Arg],
        updates: &[(usize, usize)],
    ) -> Result<Vec<Option<Tensor>>, RunError> {
        let plan = self.in_place_plan(updates);
        if updates.iter().any(|&(_, o)| o >= self.prog.outputs.len()) {
            return Err(RunError(format!(
                "graph @{} has {} output(s)",
                self.prog.name,
                self.prog.outputs.len()
            )));
        }
        let p = &self.prog;
        let (bindings, owned) = {
            let refs: Vec<&Tensor> = args.iter().map(Arg::tensor).collect();
            let bindings = bind(p, &refs)?;
            // Inputs in row-major order (a strided caller tensor is copied).
            let owned: Vec<Option<Tensor>> = refs
                .iter()
                .map(|t| (!standard(t)).then(|| standard_copy(t)))
                .collect();
            (bindings, owned)
        };
        if self.layout.as_ref().map(|(b, _)| b) != Some(&bindings) {
            let layout = Layout::new(p, &bindings);
            let need = layout.arena_bytes.div_ceil(64);
            if self.arena.len() < need {
                self.arena = vec![Align64([0; 64]); need];
            }
            self.layout = Some((bindings.clone(), layout));
        }
        let layout = &self.layout.as_ref().expect("internal: layout").1;
        let syms: Vec<i64> = self
            .syms
            .iter()
            .map(|s| {
                bindings
                    .iter()
                    .find(|(k, _)| k == s)
                    .map_or(0, |(_, v)| *v as i64)
            })
            .collect();
        let shape_of = |b: usize| {
            p.buffers[b]
                .ty
                .shape
                .bind(&bindings)
                .expect("internal: bound shape")
        };
        // Each input's storage; updated ones through their `&mut`.
        let input_ptr: Vec<*mut u8> = args
            .iter_mut()
            .zip(&owned)
            .map(|(a, own)| match (own, a) {
                (Some(t), _) => tensor_ptr(t),
                (None, Arg::In(t)) => tensor_ptr(t),
                (None, Arg::Update(t)) => tensor_mut_ptr(t),
            })
            .collect();
        // Output buffers that live in their input, and gemms that accumulate.
        let mut into_input: Vec<Option<usize>> = vec![None; p.buffers.len()];
        let mut accumulate: Vec<Option<f32>> = vec![None; p.kernels.len()];
        for (&(i, o), how) in updates.iter().zip(&plan) {
            if *how == InPlace::No || owned[i].is_some() {
                continue;
            }
            into_input[p.outputs[o].1] = Some(i);
            if let InPlace::Accumulate { kernel, alpha } = *how {
                accumulate[kernel] = Some(alpha);
            }
        }
        let mut outputs: Vec<Option<Tensor>> = vec![None; p.buffers.len()];
        let arena = self.arena.as_mut_ptr() as *mut u8;
        let mut ptrs: Vec<*mut u8> = vec![std::ptr::null_mut(); p.buffers.len()];
        for (b, buf) in p.buffers.iter().enumerate() {
            ptrs[b] = match (&buf.kind, into_input[b]) {
                (BufKind::Input { index, .. }, _) => input_ptr[*index],
                (BufKind::Output, Some(i)) => input_ptr[i],
                (BufKind::Output, None) => {
                    let t = Tensor::full(buf.ty.dtype, &shape_of(b), 0.0);
                    let ptr = tensor_ptr(&t);
                    outputs[b] = Some(t);
                    ptr
                }
                (BufKind::Temp, _) => arena.wrapping_add(layout.offset[b]),
                (BufKind::View { .. }, _) => continue,
            };
        }
        for b in 0..p.buffers.len() {
            ptrs[b] = ptrs[p.root(b)];
        }
        let ev = |s: &Size| s.eval(&bindings).expect("internal: bound size");
        for (step, acc) in self.steps.iter().zip(&accumulate) {
            match step {
                Step::Loop(lp) => run_loop(lp, &ptrs, &syms, &bindings),
                Step::MatMul {
                    out,
                    batch,
                    m,
                    k,
                    n,
                    a,
                    b,
                    dtype,
                    epilogue,
                } => {
                    let dims = (ev(batch), ev(m), ev(k), ev(n));
                    run_matmul(&ptrs, *out, dims, (a, b), *dtype, *acc);
                    if let (Some(lp), None) = (epilogue, acc) {
                        run_loop(lp, &ptrs, &syms, &bindings);
                    }
                }
            }
        }
        let updated: Vec<usize> = updates.iter().map(|&(_, o)| o).collect();
        let mut results: Vec<Option<Tensor>> = Vec::with_capacity(p.outputs.len());
        for (o, (_, b)) in p.outputs.iter().enumerate() {
            if updated.contains(&o) && into_input[*b].is_some() {
                results.push(None);
                continue;
            }
            results.push(Some(match outputs[*b].take() {
                Some(t) => t,
                None => read_tensor(ptrs[*b], p.buffers[*b].ty.dtype, &shape_of(*b)),
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
}
