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
//! order. Kernels are compiled once per graph, never per batch size.

mod codegen;
mod layout;
pub mod reference;

pub use layout::{bind, Layout};

use rayon::prelude::*;

use self::codegen::{Jit, KernelFn, LoopNest};
use super::{Backend, Executable, RunError};
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
/// Contractions with fewer multiply-adds than this run on one thread.
const GEMM_PARALLEL_MIN: usize = 1 << 18;

/// The default backend: Cranelift-compiled kernels.
pub struct CpuBackend;

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }
    fn compile(&self, graph: &Graph) -> Result<Box<dyn Executable>, String> {
        crate::ir::verify::verify(graph).map_err(|e| e.to_string())?;
        if crate::passes::fuse::has_scan(graph) {
            return Err(format!(
                "the cpu backend does not run `scan` yet (graph @{}); use the interp backend",
                graph.name
            ));
        }
        Ok(Box::new(Compiled::new(kernel_program(graph))?))
    }
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

struct Compiled {
    prog: KernelProgram,
    steps: Vec<Step>,
    syms: Vec<String>,
    /// Kept alive (and freed on drop) for the kernels' code.
    _jit: Jit,
    /// The arena and the layout it was sized for.
    arena: Vec<Align64>,
    layout: Option<(Vec<(String, usize)>, Layout)>,
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

/// `out = a · b` for `bs` matrices laid end to end, f32 through `gemm`.
#[allow(clippy::too_many_arguments)]
fn run_matmul(
    ptrs: &[*mut u8],
    out: usize,
    (bs, m, k, n): (usize, usize, usize, usize),
    a: &MatOperand,
    b: &MatOperand,
    dtype: DType,
) {
    if m == 0 || n == 0 {
        return;
    }
    // Element strides of A (m×k) and B (k×n) as stored.
    let (a_rs, a_cs) = if a.transposed { (1, m) } else { (k, 1) };
    let (b_rs, b_cs) = if b.transposed { (1, k) } else { (n, 1) };
    let (pa, pb, pc) = (
        ptrs[a.buf] as usize,
        ptrs[b.buf] as usize,
        ptrs[out] as usize,
    );
    let one = |z: usize, par: gemm_common::Parallelism| match dtype {
        DType::F32 => {
            let (a, b, c) = (
                (pa as *const f32).wrapping_add(z * m * k),
                (pb as *const f32).wrapping_add(z * k * n),
                (pc as *mut f32).wrapping_add(z * m * n),
            );
            if k == 0 {
                // SAFETY: `c` holds m·n elements of this batch.
                unsafe { std::ptr::write_bytes(c, 0, m * n) };
                return;
            }
            let f = gemm_f32::gemm::f32::get_gemm_fn();
            // SAFETY: the buffers hold bs·m·k, bs·k·n and bs·m·n elements
            // (the layout sized them from the same bindings). Called as
            // Cᵀ = Bᵀ·Aᵀ: gemm's fast orientation for row-major C.
            unsafe {
                f(
                    n,
                    m,
                    k,
                    c,
                    n as isize,
                    1,
                    false,
                    b,
                    b_rs as isize,
                    b_cs as isize,
                    a,
                    a_rs as isize,
                    a_cs as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    par,
                )
            };
        }
        _ => {
            let (a, b, c) = (
                (pa as *const f64).wrapping_add(z * m * k),
                (pb as *const f64).wrapping_add(z * k * n),
                (pc as *mut f64).wrapping_add(z * m * n),
            );
            // f64 contractions are rare (gradient checks): plain loops.
            for i in 0..m {
                for j in 0..n {
                    let mut s = 0.0;
                    for q in 0..k {
                        // SAFETY: indices stay inside the sized buffers.
                        unsafe { s += *a.add(i * a_rs + q * a_cs) * *b.add(q * b_rs + j * b_cs) };
                    }
                    // SAFETY: as above.
                    unsafe { *c.add(i * n + j) = s };
                }
            }
        }
    };
    let threads = rayon::current_num_threads();
    let big = m * n * k >= GEMM_PARALLEL_MIN && threads > 1;
    if bs > 1 && big {
        (0..bs)
            .into_par_iter()
            .for_each(|z| one(z, gemm_common::Parallelism::None));
    } else {
        let par = if big {
            gemm_common::Parallelism::Rayon(threads)
        } else {
            gemm_common::Parallelism::None
        };
        for z in 0..bs {
            one(z, par);
        }
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
        let p = &self.prog;
        let bindings = bind(p, inputs)?;
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
        // Inputs in row-major order (a strided caller tensor is copied).
        let owned: Vec<Option<Tensor>> = inputs
            .iter()
            .map(|t| (!standard(t)).then(|| t.cast(t.dtype())))
            .map(|t| {
                t.map(|t| match t {
                    Tensor::F32(a) => Tensor::F32(a.as_standard_layout().into_owned()),
                    Tensor::F64(a) => Tensor::F64(a.as_standard_layout().into_owned()),
                    Tensor::I32(a) => Tensor::I32(a.as_standard_layout().into_owned()),
                    Tensor::Bool(a) => Tensor::Bool(a.as_standard_layout().into_owned()),
                })
            })
            .collect();
        let shape_of = |b: usize| {
            p.buffers[b]
                .ty
                .shape
                .bind(&bindings)
                .expect("internal: bound shape")
        };
        let mut outputs: Vec<Option<Tensor>> = vec![None; p.buffers.len()];
        let arena = self.arena.as_mut_ptr() as *mut u8;
        let mut ptrs: Vec<*mut u8> = vec![std::ptr::null_mut(); p.buffers.len()];
        for (b, buf) in p.buffers.iter().enumerate() {
            ptrs[b] = match &buf.kind {
                BufKind::Input { index, .. } => {
                    tensor_ptr(owned[*index].as_ref().unwrap_or(inputs[*index]))
                }
                BufKind::Output => {
                    let t = Tensor::full(buf.ty.dtype, &shape_of(b), 0.0);
                    let ptr = tensor_ptr(&t);
                    outputs[b] = Some(t);
                    ptr
                }
                BufKind::Temp => arena.wrapping_add(layout.offset[b]),
                BufKind::View { .. } => continue,
            };
        }
        for b in 0..p.buffers.len() {
            ptrs[b] = ptrs[p.root(b)];
        }
        let ev = |s: &Size| s.eval(&bindings).expect("internal: bound size");
        for step in &self.steps {
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
                    run_matmul(&ptrs, *out, dims, a, b, *dtype);
                    if let Some(lp) = epilogue {
                        run_loop(lp, &ptrs, &syms, &bindings);
                    }
                }
            }
        }
        let mut results = Vec::with_capacity(p.outputs.len());
        for (_, b) in &p.outputs {
            let t = match outputs[*b].take() {
                Some(t) => t,
                None => read_tensor(ptrs[*b], p.buffers[*b].ty.dtype, &shape_of(*b)),
            };
            results.push(t);
        }
        // (An output named twice is copied the second time from the first
        // one's storage, which moving the tensor into `results` kept alive.)
        Ok(results)
    }
}
