//! The CPU backend: a graph is fused and memory-planned into a kernel
//! program (`kernel::kernel_program`), every loop nest is compiled to machine code with Cranelift
//! (`codegen`), contractions go to the `gemm` crate's micro-kernels (called
//! as Cᵀ = Bᵀ·Aᵀ: for a row-major C, gemm's column-major-first kernels run
//! about twice as fast that way round) or, for a
//! single row, to a streaming row-times-matrix (`gemv`), and rayon splits
//! big loops across cores (`run`). Convolution, pooling, movement,
//! indexing and random ops are library routines (`library`, `conv`: im2col
//! into the same gemm), one arm per `kernel::Routine`; the dtypes without
//! code of their own run the routine's definition in `kernel::reference`.
//!
//! A run binds the size symbols from the inputs' shapes, lays the arena out
//! for them (once per distinct batch size), points every buffer at the
//! caller's inputs, fresh outputs or the arena, and calls the kernels in
//! order. Kernels are compiled once per graph, never per batch size. With
//! `run_update`, outputs that replace an input (new parameters, optimizer
//! state) are written straight into it where `kernel::in_place` proves it
//! safe, so a training step allocates nothing.

mod codegen;
mod conv;
#[cfg(target_arch = "x86_64")]
mod conv_kgrad;
pub mod denormals;
mod gemv;
pub mod isa;
mod library;
mod matmul;
pub mod profile;
mod run;
mod scan;
mod small_gemm;

pub use matmul::{sgemm, MatRef, GEMM_PARALLEL_MIN, GEMV_PARALLEL_MIN};
pub use run::PARALLEL_MIN;

use self::codegen::{Jit, KernelFn, LoopNest};
use super::{Backend, BackendKind, CompileError, Runner};
use crate::ir::{DType, Graph, ReduceOp};
use crate::kernel::{
    kernel_program, row_major, Access, Expr, InPlace, Inst, Kernel, KernelProgram, MatOperand, Size,
};

/// The default backend: Cranelift-compiled kernels.
pub struct CpuBackend;

impl Backend for CpuBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Cpu
    }
    fn compile_graph(&self, graph: &Graph) -> Result<Box<dyn Runner>, CompileError> {
        crate::ir::verify::verify(graph).map_err(|e| CompileError::Internal(e.to_string()))?;
        if let Some(op) = crate::passes::fuse::unsupported_op(graph) {
            return Err(CompileError::Unsupported {
                backend: BackendKind::Cpu,
                op: op.to_string(),
                graph: graph.name.clone(),
            });
        }
        compile_program(kernel_program(graph))
    }
}

/// Compiles a fused, memory-planned kernel program to machine code: the
/// last stage of [`CpuBackend::compile`], on its own so that `dlc bench`
/// can time fusion, planning and code generation apart.
pub fn compile_program(p: KernelProgram) -> Result<Box<dyn Runner>, CompileError> {
    Ok(Box::new(Compiled::new(p).map_err(CompileError::Internal)?))
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
    extra: Vec<(usize, usize)>,
}

impl NestSpec {
    /// The loop nest of an elementwise or reduce kernel, or of a
    /// contraction's epilogue; `None` for a contraction without one.
    fn of(p: &KernelProgram, k: &Kernel) -> Option<NestSpec> {
        let mut extra = Vec::new();
        let (dims, mut body, out, reduce, axes) = match k {
            Kernel::Elementwise {
                out,
                dims,
                body,
                extra: e,
            } => {
                extra = e.clone();
                (dims, body.clone(), *out, None, vec![])
            }
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
                        *inst = Inst::Load(Access::new(*out, row_major(dims)));
                    }
                }
                (dims, body, *out, None, vec![])
            }
            Kernel::MatMul { .. } | Kernel::Library { .. } | Kernel::Scan(_) => return None,
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
            extra,
        })
    }

    fn nest<'a>(&'a self, dtypes: &'a [DType]) -> LoopNest<'a> {
        LoopNest {
            dims: &self.dims,
            body: &self.body,
            out: self.out,
            out_strides: self.out_strides.clone(),
            reduce: self.reduce,
            extra: &self.extra,
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

/// A loop body's cost per element relative to a plain one (a load and an
/// add): each `exp`, `log`, `tanh`, `sin`, `cos` or `pow` adds 5 (about 20
/// instructions per four lanes against 4). A loop is split over threads by
/// this weighted work (`run::PARALLEL_MIN`), so a recurrent cell's gate
/// kernel (4096 elements, three `tanh` each) runs on both cores while a
/// plain one of the same size stays on one.
fn cost_per_element(k: &Kernel) -> u64 {
    let body = match k {
        Kernel::Elementwise { body, .. } | Kernel::Reduce { body, .. } => body,
        Kernel::MatMul {
            epilogue: Some((_, body)),
            ..
        } => body,
        _ => return 1,
    };
    let heavy = body
        .insts
        .iter()
        .filter(|(inst, _)| match inst {
            Inst::Unary(u, _) => u.is_transcendental(),
            Inst::Binary(b, _, _) => b.is_transcendental(),
            _ => false,
        })
        .count() as u64;
    1 + 5 * heavy
}

enum Step {
    Loop(Loop),
    MatMul {
        out: usize,
        batch: Size,
        summed: bool,
        m: Size,
        k: Size,
        n: Size,
        a: MatOperand,
        b: MatOperand,
        dtype: DType,
        epilogue: Option<Loop>,
    },
    /// A library routine (`library.rs`).
    Library {
        out: usize,
        routine: crate::kernel::Routine,
        args: Vec<usize>,
    },
    /// A loop over time around a compiled body (`scan.rs`).
    Scan(Box<scan::ScanStep>),
}

/// `(input, output)` pairs of a `run_update`.
type Updates = Vec<(usize, usize)>;

struct Compiled {
    prog: KernelProgram,
    steps: Vec<Step>,
    syms: Vec<String>,
    /// Kept alive (and freed on drop) for the kernels' code.
    _jit: Jit,
    /// The arena, and what the last inputs' shapes bound.
    arena: Vec<Align64>,
    bound: Option<run::Bound>,
    /// The in-place plan of the last `run_update`'s pairs.
    in_place: Option<(Updates, Vec<InPlace>)>,
    /// Per step: a product whose B is the same from one call to the next
    /// until [`Compiled::forget_packed`] (a scan body's invariant), and B
    /// packed for it once (`small_gemm::Packed`).
    pack_b: Vec<bool>,
    packed: std::cell::RefCell<Vec<Option<small_gemm::Packed>>>,
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
                    let elements = spec.dims.iter().fold(Size::one(), |a, d| a.mul(d));
                    let work = elements.scale(cost_per_element(k));
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
                    summed,
                    m,
                    k,
                    n,
                    a,
                    b,
                    ..
                } => Step::MatMul {
                    out: *out,
                    batch: Size::of_dims(batch),
                    summed: *summed,
                    m: Size::of_dim(m),
                    k: Size::of_dim(k),
                    n: Size::of_dim(n),
                    a: a.clone(),
                    b: b.clone(),
                    dtype: prog.buffers[*out].ty.dtype,
                    epilogue: lp,
                },
                Kernel::Library { out, routine, args } => Step::Library {
                    out: *out,
                    routine: routine.clone(),
                    args: args.clone(),
                },
                Kernel::Scan(s) => Step::Scan(Box::new(scan::ScanStep::new(s)?)),
                _ => Step::Loop(lp.expect("internal: loop kernel compiled")),
            });
        }
        let n = steps.len();
        Ok(Compiled {
            prog,
            pack_b: vec![false; n],
            packed: std::cell::RefCell::new((0..n).map(|_| None).collect()),
            steps,
            syms,
            _jit: jit,
            arena: Vec::new(),
            bound: None,
            in_place: None,
        })
    }

    /// Marks the products whose B is one of `inputs` (buffers whose
    /// contents stay put until [`Compiled::forget_packed`]) to pack that B
    /// once, when packing pays (`small_gemm::packs`).
    fn pack_products_of(&mut self, inputs: &[usize]) {
        for (s, step) in self.steps.iter().enumerate() {
            if let Step::MatMul { b, dtype, .. } = step {
                self.pack_b[s] =
                    *dtype == DType::F32 && !b.shared && inputs.contains(&self.prog.root(b.buf));
            }
        }
    }

    /// Drops every packed B: their sources may change from here on.
    fn forget_packed(&self) {
        self.packed.borrow_mut().iter_mut().for_each(|p| *p = None);
    }
}
