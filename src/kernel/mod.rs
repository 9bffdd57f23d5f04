//! The kernel program: what every compiled backend consumes. A kernel is one
//! loop nest (or one library call) that reads whole buffers and writes one
//! buffer; the fusion pass (`passes::fuse`) turns a graph into an ordered
//! list of kernels, and the memory planner (`passes::plan_memory`) places
//! their temporaries in one arena.
//!
//! Five kinds of kernel cover the primitive set:
//! - `Elementwise`: a loop nest over an output shape whose body is a small
//!   SSA expression over loads, constants and loop indices. Broadcasts and
//!   transposes are not copies: they are strides (zero for a broadcast axis)
//!   in the loads' index maps.
//! - `Reduce`: a sum or max over some loop axes, with the elementwise
//!   expression that feeds it fused in as a prologue.
//! - `MatMul`: a batched contraction with transposes as flags and a fused
//!   elementwise epilogue (bias add, activation) applied to its result.
//! - `Library`: one [`Routine`] over whole buffers — convolution,
//!   pooling, the movement ops (slice, pad, concat, reverse),
//!   gather/scatter_add and the random draws — whose operands and result
//!   are materialized. Their index maps are not affine loads of one loop
//!   nest (padding, windows, data-dependent rows), so a backend implements
//!   each routine once rather than generating it; the set is closed
//!   (`routine.rs`).
//! - `Scan`: a loop over time whose step is a kernel program of its own
//!   (the scan's body, fused and planned once); the one kernel that writes
//!   several buffers (its `get`s').
//!
//! Reshapes are views: a buffer that aliases another's storage with another
//! shape. Sizes may be symbolic in the batch (`N`); a backend binds them at
//! run time, so one compiled program serves every batch size.
//!
//! What every backend shares lives here too: [`kernel_program`] (fuse,
//! then plan memory), the binding of sizes and the arena layout for one
//! call (`layout.rs`), which outputs may be written over the inputs they
//! replace (`in_place.rs`), and `reference`, a plain-loop runner of the
//! kernel program that defines each kernel's meaning, library routines
//! included, and that compiled backends are tested against.

mod in_place;
mod layout;
pub mod print;
pub mod reference;
mod routine;
mod scan;
mod size;

pub use in_place::{in_place, InPlace};
pub use layout::{bind, Layout};
pub use routine::Routine;
pub use scan::ScanKernel;
pub use size::{Poly, Size};

use crate::ir::{BinaryOp, CmpOp, DType, Dim, Graph, ReduceOp, Role, TensorType, UnaryOp};
use crate::passes::{fuse, plan_memory::plan_memory};

/// The fused, memory-planned kernel program of a verified graph that
/// [`fuse::unsupported_op`] accepts: what `dlc dump --stage kernels`
/// prints, what `dlc summary` sizes and what every compiled backend runs.
pub fn kernel_program(g: &Graph) -> KernelProgram {
    kernel_program_observed(g, &mut |_| {})
}

/// [`kernel_program`], calling `done(stage)` as each stage (`fuse`, `plan_memory`)
/// finishes: how `dlc bench` times them apart while this module never reads
/// a clock.
pub fn kernel_program_observed(g: &Graph, done: &mut dyn FnMut(&'static str)) -> KernelProgram {
    let mut p = fuse::fuse(g);
    done("fuse");
    plan_memory(&mut p);
    done("plan_memory");
    p
}

/// Index of a buffer in [`KernelProgram::buffers`].
pub type BufId = usize;

/// Where a buffer's storage comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum BufKind {
    /// The caller's tensor for graph input `index` (read only).
    Input { index: usize, role: Role },
    /// Storage handed back to the caller as a graph output.
    Output,
    /// Storage in the step's arena, placed by the memory plan.
    Temp,
    /// Another buffer's storage seen with this buffer's shape (a reshape).
    View { of: BufId },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Buffer {
    /// For dumps: the input or output name, or `t<k>` for a temporary.
    pub name: String,
    pub ty: TensorType,
    pub kind: BufKind,
    /// The arena slot of a temporary, once memory is planned.
    pub slot: Option<usize>,
}

/// A load's index map: a first element and one stride (in elements) per
/// loop axis. A zero stride is a broadcast; permuted strides are a
/// transpose; an offset and scaled strides are a slice.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Access {
    pub buf: BufId,
    pub strides: Vec<Size>,
    pub offset: Size,
}

impl Access {
    /// A load of `buf` with these strides from its first element.
    pub fn new(buf: BufId, strides: Vec<Size>) -> Access {
        Access {
            buf,
            strides,
            offset: Size::zero(),
        }
    }
    /// Whether it reads the element a row-major output over the loop (whose
    /// strides are `rm`) writes at each index.
    pub fn at_index(&self, rm: &[Size]) -> bool {
        self.offset.is_zero() && self.strides == rm
    }
}

/// One instruction of a kernel body. Operands are earlier instructions.
#[derive(Clone, Debug, PartialEq)]
pub enum Inst {
    Load(Access),
    Const(f64),
    /// The loop index along a loop axis (how `iota` is fused).
    Index(usize),
    /// The run-time value of a size symbol (how `dim` is fused).
    Sym(String),
    /// In a contraction's epilogue: the contraction's result here.
    Acc,
    Unary(UnaryOp, usize),
    Binary(BinaryOp, usize, usize),
    Compare(CmpOp, usize, usize),
    /// `a` where `cond`, else `b`.
    Select(usize, usize, usize),
    /// Converts its operand to this instruction's dtype.
    Cast(usize),
}

impl Inst {
    /// The instruction with each operand `x` renamed `f(x)` (when bodies
    /// are spliced into one another).
    pub fn map_operands(self, f: impl Fn(usize) -> usize) -> Inst {
        match self {
            Inst::Unary(u, x) => Inst::Unary(u, f(x)),
            Inst::Binary(o, x, y) => Inst::Binary(o, f(x), f(y)),
            Inst::Compare(o, x, y) => Inst::Compare(o, f(x), f(y)),
            Inst::Select(q, x, y) => Inst::Select(f(q), f(x), f(y)),
            Inst::Cast(x) => Inst::Cast(f(x)),
            other => other,
        }
    }
}

/// A kernel body in SSA form: every instruction with its result dtype, the
/// last one is the value stored (or reduced).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Expr {
    pub insts: Vec<(Inst, DType)>,
}

impl Expr {
    pub fn root(&self) -> usize {
        self.insts.len() - 1
    }
    pub fn dtype(&self) -> DType {
        self.insts[self.root()].1
    }
    /// Every buffer the body loads.
    pub fn loads(&self) -> impl Iterator<Item = &Access> {
        self.insts.iter().filter_map(|(i, _)| match i {
            Inst::Load(a) => Some(a),
            _ => None,
        })
    }
    /// The operands of instruction `i`.
    pub fn operands(&self, i: usize) -> Vec<usize> {
        match &self.insts[i].0 {
            Inst::Unary(_, a) | Inst::Cast(a) => vec![*a],
            Inst::Binary(_, a, b) | Inst::Compare(_, a, b) => vec![*a, *b],
            Inst::Select(c, a, b) => vec![*c, *a, *b],
            _ => vec![],
        }
    }
}

/// A matmul operand: a buffer of shape `[batch.., m, k]`, or
/// `[batch.., k, m]` when `transposed`, without the batch when `shared`.
#[derive(Clone, Debug, PartialEq)]
pub struct MatOperand {
    pub buf: BufId,
    pub transposed: bool,
    /// The buffer holds one matrix, the same for every batch index (a
    /// weight broadcast over a batch, never copied out).
    pub shared: bool,
}

impl MatOperand {
    /// Element strides (along rows, along columns) of the `rows × cols`
    /// matrix it holds for one batch index: row-major, or read from its
    /// stored transpose.
    pub fn strides(&self, rows: usize, cols: usize) -> (usize, usize) {
        if self.transposed {
            (1, rows)
        } else {
            (cols, 1)
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kernel {
    /// `out[i] = body(i)` for every index `i` of `dims`, row-major; and
    /// `b[i] = v(i)` for each `(b, v)` of `extra`, the value of instruction
    /// `v` (sibling kernels merged into one loop, see `passes::fuse`).
    Elementwise {
        out: BufId,
        dims: Vec<Size>,
        body: Expr,
        extra: Vec<(BufId, usize)>,
    },
    /// `out[kept(i)] = op over axes of body(i)`; `out` is row-major over the
    /// kept loop axes.
    Reduce {
        out: BufId,
        op: ReduceOp,
        dims: Vec<Size>,
        axes: Vec<usize>,
        body: Expr,
    },
    /// `out[b] = a[b] · b[b]` for each batch index, then
    /// `out[i] = epilogue(i)` over `dims` (the output shape, collapsed).
    MatMul {
        out: BufId,
        batch: Vec<Dim>,
        /// `out` is `[m, n]`, the sum of the batch's products (a weight's
        /// gradient summed over a batch): one contraction whose k runs
        /// over the batch too.
        summed: bool,
        m: Dim,
        k: Dim,
        n: Dim,
        a: MatOperand,
        b: MatOperand,
        epilogue: Option<(Vec<Size>, Expr)>,
    },
    /// `out = routine(args...)` over whole row-major buffers, as the
    /// reference runner defines the routine.
    Library {
        out: BufId,
        routine: Routine,
        args: Vec<BufId>,
    },
    /// A loop over time running a kernel program per step (`scan.rs`);
    /// the one kernel that writes several buffers (see [`Kernel::writes`]).
    Scan(Box<ScanKernel>),
}

impl Kernel {
    pub fn out(&self) -> BufId {
        match self {
            Kernel::Elementwise { out, .. }
            | Kernel::Reduce { out, .. }
            | Kernel::MatMul { out, .. }
            | Kernel::Library { out, .. } => *out,
            Kernel::Scan(_) => panic!("internal: a scan writes several buffers (see `writes`)"),
        }
    }
    /// Every buffer the kernel writes: its `out` (and an elementwise
    /// kernel's `extra` outputs), or a scan's results.
    pub fn writes(&self) -> Vec<BufId> {
        match self {
            Kernel::Scan(s) => s.writes(),
            Kernel::Elementwise { out, extra, .. } => {
                let mut w = vec![*out];
                w.extend(extra.iter().map(|e| e.0));
                w
            }
            k => vec![k.out()],
        }
    }
    /// Every buffer the kernel reads, with repeats.
    pub fn reads(&self) -> Vec<BufId> {
        match self {
            Kernel::Elementwise { body, .. } | Kernel::Reduce { body, .. } => {
                body.loads().map(|a| a.buf).collect()
            }
            Kernel::MatMul { a, b, epilogue, .. } => {
                let mut r = vec![a.buf, b.buf];
                if let Some((_, e)) = epilogue {
                    r.extend(e.loads().map(|a| a.buf));
                }
                r
            }
            Kernel::Library { args, .. } => args.clone(),
            Kernel::Scan(s) => s.operands.clone(),
        }
    }
}

/// The memory plan: arena slots (bytes each, symbolic in the batch).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct MemoryPlan {
    pub slots: Vec<Size>,
}

impl MemoryPlan {
    /// The arena's size: every slot added up.
    pub fn arena(&self) -> Poly {
        Poly::sum(self.slots.iter())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct KernelProgram {
    pub name: String,
    pub buffers: Vec<Buffer>,
    /// The buffer of each graph input, in calling order.
    pub inputs: Vec<BufId>,
    pub kernels: Vec<Kernel>,
    /// Each graph output's name and buffer, in order.
    pub outputs: Vec<(String, BufId)>,
    pub plan: MemoryPlan,
}

impl KernelProgram {
    /// The buffer that owns `b`'s storage (itself unless it is a view).
    pub fn root(&self, mut b: BufId) -> BufId {
        while let BufKind::View { of } = self.buffers[b].kind {
            b = of;
        }
        b
    }
    /// `b`'s element count.
    pub fn numel(&self, b: BufId) -> Size {
        Size::of_dims(self.buffers[b].ty.shape.dims())
    }
    /// `b`'s size in bytes.
    pub fn bytes(&self, b: BufId) -> Size {
        self.numel(b).scale(self.buffers[b].ty.dtype.size() as u64)
    }
    /// Every size symbol the program uses, sorted.
    pub fn symbols(&self) -> Vec<String> {
        let mut s: Vec<String> = Vec::new();
        for b in &self.buffers {
            for d in b.ty.shape.dims() {
                if let Dim::Sym(x) = d {
                    s.push(x.clone());
                }
            }
        }
        s.sort();
        s.dedup();
        s
    }
}

/// Row-major strides of loop extents `dims`, in elements.
pub fn row_major(dims: &[Size]) -> Vec<Size> {
    let mut strides = vec![Size::one(); dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1].mul(&dims[i + 1]);
    }
    strides
}

/// The loop extents of a shape.
pub fn extents(dims: &[Dim]) -> Vec<Size> {
    dims.iter().map(Size::of_dim).collect()
}
