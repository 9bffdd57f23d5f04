//! Loop nests → CLIF → machine code. Every elementwise kernel, reduction and
//! contraction epilogue becomes one function
//! `fn(bufs: *const *mut u8, syms: *const i64, lo: i64, hi: i64)`: `bufs`
//! holds every buffer's base address, `syms` the bound size symbols, and
//! `lo..hi` the slice of the outermost loop this call runs (so rayon can
//! split it). Sizes are read from `syms`, so one compiled program serves
//! every batch size.
//!
//! Shape of the code (Cranelift 0.135 has no vectorizer, unroller or loop
//! rotation of its own, see `TOOLCHAIN.md` §2): rotated do-while loops; each
//! instruction is emitted in the outermost loop where its inputs vary
//! (loop-invariant code motion by construction); the innermost axis runs in
//! f32x4/i32x4 lanes with a scalar tail when every value is 4 bytes wide,
//! in scalars otherwise. ReLU is `fcmp`+`band`, max/min keep Rust's NaN
//! rule with compare+`bitselect` (never the costly `fmax`). f32 `exp` (the
//! softmax's) is computed in registers, within 2 ulp of Rust's; the other
//! transcendentals, and f64 `exp`, call Rust's own `f32::ln` & co. through
//! registered symbols, lane by lane, so they round exactly as the
//! interpreter does.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    types, AbiParam, Endianness, FuncRef, InstBuilder, MemFlagsData, Signature, Type, Value,
};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module};

use crate::ir::{BinaryOp, DType, ReduceOp};
use crate::kernel::{Expr, Inst, Size};

/// A compiled kernel: see the module doc for the arguments.
pub type KernelFn = unsafe extern "C" fn(*const *mut u8, *const i64, i64, i64);

/// One loop nest to compile: `out[o(i)] = body(i)` (or `op=` for a
/// reduction) for every index `i` of `dims` (at least one axis).
pub struct LoopNest<'a> {
    pub dims: &'a [Size],
    pub body: &'a Expr,
    pub out: usize,
    /// The output's stride per loop axis, in elements (zero on reduced axes).
    pub out_strides: Vec<Size>,
    pub reduce: Option<ReduceOp>,
    /// More outputs of an elementwise nest: buffer, instruction stored to
    /// it at the output's index (elements of the output's size).
    pub extra: &'a [(usize, usize)],
    /// Element type of every buffer, by buffer id.
    pub buf_dtypes: &'a [DType],
}

mod ops;

use ops::LIBCALLS;

/// A JIT module being filled with kernels, then finalized once.
pub struct Jit {
    module: Option<JITModule>,
    ctx: Context,
    fctx: FunctionBuilderContext,
    /// Each function's CLIF text, when asked for (`dlc dump --stage clif`).
    pub clif: Option<Vec<String>>,
    count: usize,
}

impl Jit {
    pub fn new() -> Result<Jit, String> {
        let mut flags = settings::builder();
        let set = |f: &mut settings::Builder, k: &str, v: &str| {
            f.set(k, v)
                .map_err(|e| format!("cranelift setting {k}: {e}"))
        };
        set(&mut flags, "opt_level", "speed")?;
        // Cranelift's IR verifier costs a tenth of code generation; it runs
        // in debug builds (every test), not in release.
        let verify = if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        };
        set(&mut flags, "enable_verifier", verify)?;
        set(&mut flags, "is_pic", "false")?;
        let isa = cranelift_native::builder()
            .map_err(|e| format!("host machine not supported by cranelift: {e}"))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| format!("cranelift: {e}"))?;
        let mut jb = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
        for (name, ptr) in LIBCALLS {
            jb.symbol(name, ptr);
        }
        let module = JITModule::new(jb);
        Ok(Jit {
            ctx: module.make_context(),
            module: Some(module),
            fctx: FunctionBuilderContext::new(),
            clif: None,
            count: 0,
        })
    }

    fn module(&mut self) -> &mut JITModule {
        self.module
            .as_mut()
            .expect("internal: JIT module used after free")
    }

    /// Compiles one loop nest; its address is known after [`Jit::finish`].
    pub fn compile(&mut self, nest: &LoopNest, syms: &[String]) -> Result<FuncId, String> {
        self.count += 1;
        let module = self.module.as_mut().expect("internal: JIT module freed");
        let cfg = module.target_config();
        let ptr = cfg.pointer_type();
        let mut sig = module.make_signature();
        for _ in 0..4 {
            sig.params.push(AbiParam::new(types::I64));
        }
        let name = format!("k{}", self.count);
        let id = module
            .declare_function(&name, Linkage::Local, &sig)
            .map_err(|e| e.to_string())?;
        let mut libs = Vec::new();
        let used = libcalls_used(nest.body);
        for &(lname, _) in LIBCALLS.iter().filter(|(n, _)| used.contains(n)) {
            let (arg, ret, n) = match lname {
                "dlc_powf" => (types::F32, types::F32, 2),
                "dlc_pow" => (types::F64, types::F64, 2),
                "dlc_powi" => (types::I32, types::I32, 2),
                n if n.ends_with('f') => (types::F32, types::F32, 1),
                _ => (types::F64, types::F64, 1),
            };
            let mut s = Signature::new(module.target_config().default_call_conv);
            for _ in 0..n {
                s.params.push(AbiParam::new(arg));
            }
            s.returns.push(AbiParam::new(ret));
            let f = module
                .declare_function(lname, Linkage::Import, &s)
                .map_err(|e| e.to_string())?;
            libs.push((lname, f));
        }
        self.ctx.func.signature = sig;
        {
            let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
            let lib_refs: Vec<(&str, FuncRef)> = libs
                .iter()
                .map(|(n, f)| (*n, module.declare_func_in_func(*f, b.func)))
                .collect();
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let params = b.block_params(entry).to_vec();
            let mut g = Gen::new(b, nest, syms, &params, lib_refs, ptr);
            g.emit();
            g.b.seal_all_blocks();
            g.b.finalize(cfg);
        }
        if let Some(c) = &mut self.clif {
            c.push(self.ctx.func.display().to_string());
        }
        let module = self.module.as_mut().expect("internal");
        module
            .define_function(id, &mut self.ctx)
            .map_err(|e| format!("cranelift: {e:?}"))?;
        module.clear_context(&mut self.ctx);
        Ok(id)
    }

    pub fn finish(&mut self) -> Result<(), String> {
        self.module()
            .finalize_definitions()
            .map_err(|e| e.to_string())
    }

    pub fn get(&mut self, id: FuncId) -> KernelFn {
        let p = self.module().get_finalized_function(id);
        // SAFETY: every function here was declared with `KernelFn`'s
        // signature (four i64 arguments, no result) in the host call conv.
        unsafe { std::mem::transmute::<*const u8, KernelFn>(p) }
    }
}

impl Drop for Jit {
    fn drop(&mut self) {
        if let Some(m) = self.module.take() {
            // SAFETY: the executable owning this `Jit` is being dropped, so
            // no kernel of it runs now or later.
            unsafe { m.free_memory() };
        }
    }
}

/// The Rust functions a body calls (see `ops::LIBCALLS`), so that only
/// those are declared in its function.
fn libcalls_used(body: &Expr) -> Vec<&'static str> {
    let mut used = Vec::new();
    for (inst, dt) in &body.insts {
        let f32s = *dt == DType::F32;
        let name = match inst {
            Inst::Unary(u, _) if dt.is_float() => match u {
                crate::ir::UnaryOp::Exp => (!f32s).then_some("dlc_exp"),
                crate::ir::UnaryOp::Log => Some(if f32s { "dlc_logf" } else { "dlc_log" }),
                crate::ir::UnaryOp::Tanh => (!f32s).then_some("dlc_tanh"),
                crate::ir::UnaryOp::Sin => Some(if f32s { "dlc_sinf" } else { "dlc_sin" }),
                crate::ir::UnaryOp::Cos => Some(if f32s { "dlc_cosf" } else { "dlc_cos" }),
                _ => None,
            },
            Inst::Binary(BinaryOp::Pow, _, _) => Some(match dt {
                DType::F32 => "dlc_powf",
                DType::F64 => "dlc_pow",
                _ => "dlc_powi",
            }),
            _ => None,
        };
        if let Some(n) = name {
            if !used.contains(&n) {
                used.push(n);
            }
        }
    }
    used
}

fn flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// Lane-type reinterpretation needs an explicit byte order.
fn bitcast_flags() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

/// How a value is held: one element, or four lanes of the innermost axis.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Width {
    Scalar,
    X4,
}

fn clif_type(dt: DType, w: Width) -> Type {
    match (dt, w) {
        (DType::F32, Width::Scalar) => types::F32,
        (DType::F64, _) => types::F64,
        (DType::I32, Width::Scalar) => types::I32,
        (DType::Bool, Width::Scalar) => types::I8,
        (DType::F32, Width::X4) => types::F32X4,
        (DType::I32 | DType::Bool, Width::X4) => types::I32X4,
    }
}

/// The storage type of one element of a buffer.
fn mem_type(dt: DType) -> Type {
    match dt {
        DType::Bool => types::I8,
        other => clif_type(other, Width::Scalar),
    }
}

struct Gen<'a, 'b> {
    b: FunctionBuilder<'b>,
    n: &'a LoopNest<'a>,
    syms: &'a [String],
    params: Vec<Value>,
    libs: Vec<(&'static str, FuncRef)>,
    ptr: Type,
    rank: usize,
    /// Outermost loop where each instruction's value varies (0 = never).
    level: Vec<usize>,
    vector: bool,
    /// Per loop axis: extent, as an i64 value of the entry block.
    extent: Vec<Value>,
    /// Base address of each load (by instruction) and of the output.
    base: Vec<Option<Value>>,
    out_base: Value,
    /// Base address of each `extra` output.
    extra_base: Vec<Value>,
    /// Byte strides per loop axis of each load and of the output.
    stride: Vec<Vec<Option<Value>>>,
    out_stride: Vec<Option<Value>>,
    /// Byte offset of each load / of the output at the current depth.
    off: Vec<Value>,
    out_off: Value,
    /// Current loop index per axis.
    idx: Vec<Option<Value>>,
    /// Scalar value of each instruction emitted outside the inner loop.
    scalar: Vec<Option<Value>>,
}

impl<'a, 'b> Gen<'a, 'b> {
    fn new(
        b: FunctionBuilder<'b>,
        n: &'a LoopNest<'a>,
        syms: &'a [String],
        params: &[Value],
        libs: Vec<(&'static str, FuncRef)>,
        ptr: Type,
    ) -> Self {
        let rank = n.dims.len();
        let e = n.body;
        let mut level = vec![0usize; e.insts.len()];
        for (i, (inst, _)) in e.insts.iter().enumerate() {
            level[i] = match inst {
                Inst::Load(a) => a
                    .strides
                    .iter()
                    .rposition(|s| !s.is_zero())
                    .map_or(0, |l| l + 1),
                Inst::Index(l) => l + 1,
                Inst::Acc => rank,
                _ => e.operands(i).iter().map(|&o| level[o]).max().unwrap_or(0),
            };
        }
        let four = |dt: DType| matches!(dt, DType::F32 | DType::I32);
        let vector = e.insts.iter().all(|(inst, dt)| match inst {
            Inst::Load(a) => four(n.buf_dtypes[a.buf]),
            Inst::Binary(BinaryOp::Div | BinaryOp::Pow, _, _) => *dt == DType::F32,
            _ => *dt != DType::F64,
        }) && four(n.buf_dtypes[n.out])
            && n.extra.iter().all(|&(b, _)| four(n.buf_dtypes[b]));
        let zero = params[0];
        Gen {
            b,
            n,
            syms,
            params: params.to_vec(),
            libs,
            ptr,
            rank,
            level,
            vector,
            extent: Vec::new(),
            base: vec![None; e.insts.len()],
            out_base: zero,
            extra_base: Vec::new(),
            stride: vec![Vec::new(); e.insts.len()],
            out_stride: Vec::new(),
            off: Vec::new(),
            out_off: zero,
            idx: vec![None; rank],
            scalar: vec![None; e.insts.len()],
        }
    }

    /// A size as an i64 value (emitted where it is asked for).
    fn size(&mut self, s: &Size) -> Value {
        let mut v = self.b.ins().iconst(types::I64, s.coeff as i64);
        for name in &s.syms {
            let k = self.syms.iter().position(|x| x == name).unwrap_or_else(|| {
                panic!("internal: size symbol `{name}` not in the program's symbols")
            });
            let sv = self
                .b
                .ins()
                .load(types::I64, flags(), self.params[1], (8 * k) as i32);
            v = self.b.ins().imul(v, sv);
        }
        v
    }

    fn buf_base(&mut self, buf: usize) -> Value {
        self.b
            .ins()
            .load(self.ptr, flags(), self.params[0], (8 * buf) as i32)
    }

    fn byte_strides(&mut self, strides: &[Size], esize: i64) -> Vec<Option<Value>> {
        strides
            .iter()
            .map(|s| {
                if s.is_zero() {
                    None
                } else {
                    let v = self.size(s);
                    Some(self.b.ins().imul_imm_s(v, esize))
                }
            })
            .collect()
    }

    fn emit(&mut self) {
        let dims = self.n.dims.to_vec();
        self.extent = dims.iter().map(|d| self.size(d)).collect();
        let zero = self.b.ins().iconst(types::I64, 0);
        let e = self.n.body;
        for (i, (inst, _)) in e.insts.iter().enumerate() {
            if let Inst::Load(a) = inst {
                let esize = self.n.buf_dtypes[a.buf].size() as i64;
                let mut base = self.buf_base(a.buf);
                if !a.offset.is_zero() {
                    let elements = self.size(&a.offset);
                    let bytes = self.b.ins().imul_imm_s(elements, esize);
                    base = self.b.ins().iadd(base, bytes);
                }
                self.base[i] = Some(base);
                self.stride[i] = self.byte_strides(&a.strides, esize);
            }
        }
        let out_es = self.n.buf_dtypes[self.n.out].size() as i64;
        self.out_base = self.buf_base(self.n.out);
        for &(b, _) in self.n.extra {
            assert_eq!(
                self.n.buf_dtypes[b].size() as i64,
                out_es,
                "internal: an extra output's elements differ in size from the output's"
            );
            let base = self.buf_base(b);
            self.extra_base.push(base);
        }
        let os = self.n.out_strides.clone();
        self.out_stride = self.byte_strides(&os, out_es);
        self.off = vec![zero; e.insts.len()];
        self.out_off = zero;
        if let Some(op) = self.n.reduce {
            self.init_reduction(op);
        }
        self.emit_level(0);
        self.nest(0);
        self.b.ins().return_(&[]);
    }

    /// Writes the reduction's identity over the output rows this call owns.
    fn init_reduction(&mut self, op: ReduceOp) {
        let dt = self.n.buf_dtypes[self.n.out];
        let kept: Vec<usize> = (0..self.rank)
            .filter(|&l| !self.n.out_strides[l].is_zero())
            .collect();
        let (start, end) = if kept.first() == Some(&0) {
            let s0 = self.size(&self.n.out_strides[0].clone());
            (
                self.b.ins().imul(self.params[2], s0),
                self.b.ins().imul(self.params[3], s0),
            )
        } else {
            let total = kept
                .iter()
                .fold(Size::one(), |acc, &l| acc.mul(&self.n.dims[l]));
            let zero = self.b.ins().iconst(types::I64, 0);
            (zero, self.size(&total))
        };
        let ident = self.identity(op, dt, Width::Scalar);
        let es = dt.size() as i64;
        let base = self.out_base;
        self.counted_loop(start, end, 1, |g, i| {
            let off = g.b.ins().imul_imm_s(i, es);
            let addr = g.b.ins().iadd(base, off);
            g.b.ins().store(flags(), ident, addr, 0);
        });
    }

    /// `for i in (start..end).step_by(step)` as a guarded do-while loop.
    fn counted_loop(
        &mut self,
        start: Value,
        end: Value,
        step: i64,
        mut body: impl FnMut(&mut Self, Value),
    ) {
        let var = self.b.declare_var(types::I64);
        self.b.def_var(var, start);
        let body_blk = self.b.create_block();
        let exit = self.b.create_block();
        let enter = self.b.ins().icmp(IntCC::SignedLessThan, start, end);
        self.b.ins().brif(enter, body_blk, &[], exit, &[]);
        self.b.switch_to_block(body_blk);
        let i = self.b.use_var(var);
        body(self, i);
        let next = self.b.ins().iadd_imm_s(i, step);
        self.b.def_var(var, next);
        let again = self.b.ins().icmp(IntCC::SignedLessThan, next, end);
        self.b.ins().brif(again, body_blk, &[], exit, &[]);
        self.b.switch_to_block(exit);
    }

    /// The loop over axis `d` and everything inside it.
    fn nest(&mut self, d: usize) {
        let (start, end) = if d == 0 {
            (self.params[2], self.params[3])
        } else {
            let z = self.b.ins().iconst(types::I64, 0);
            (z, self.extent[d])
        };
        if d + 1 == self.rank {
            self.inner(start, end);
            return;
        }
        let saved_off = self.off.clone();
        let saved_out = self.out_off;
        self.counted_loop(start, end, 1, |g, i| {
            g.idx[d] = Some(i);
            for (k, base) in saved_off.iter().enumerate() {
                if let Some(s) = g.stride[k].get(d).copied().flatten() {
                    let step = g.b.ins().imul(i, s);
                    g.off[k] = g.b.ins().iadd(*base, step);
                }
            }
            if let Some(s) = g.out_stride[d] {
                let step = g.b.ins().imul(i, s);
                g.out_off = g.b.ins().iadd(saved_out, step);
            }
            g.emit_level(d + 1);
            g.nest(d + 1);
            g.off = saved_off.clone();
            g.out_off = saved_out;
        });
    }

    /// Emits, as scalars, the instructions that vary at loop depth `level`.
    fn emit_level(&mut self, level: usize) {
        if level >= self.rank {
            return;
        }
        for i in 0..self.n.body.insts.len() {
            if self.level[i] == level {
                let v = self.inst(i, Width::Scalar, None, &mut Vec::new());
                self.scalar[i] = Some(v);
            }
        }
    }

    /// The innermost loop: four lanes at a time, then a scalar tail.
    fn inner(&mut self, start: Value, end: Value) {
        let r = self.rank - 1;
        let reduce = self.n.reduce;
        let dt = self.n.body.dtype();
        let reduced_inner = reduce.is_some() && self.n.out_strides[r].is_zero();
        let root = self.n.body.root();
        let acc_var = if reduced_inner {
            let v = self.b.declare_var(clif_type(dt, Width::Scalar));
            let id = self.identity(reduce.unwrap_or(ReduceOp::Sum), dt, Width::Scalar);
            self.b.def_var(v, id);
            Some(v)
        } else {
            None
        };
        let mut tail_start = start;
        if self.vector {
            let n = self.b.ins().isub(end, start);
            let nv = self.b.ins().band_imm_s(n, -4);
            let vend = self.b.ins().iadd(start, nv);
            tail_start = vend;
            // Lower-level values the lanes use, splatted once.
            let mut splat: Vec<Option<Value>> = vec![None; self.n.body.insts.len()];
            for i in 0..self.n.body.insts.len() {
                if self.level[i] < self.rank {
                    continue;
                }
                for o in self.n.body.operands(i) {
                    if self.level[o] < self.rank && splat[o].is_none() {
                        splat[o] = Some(self.splat(o));
                    }
                }
            }
            let stored = self.n.extra.iter().map(|e| e.1).chain([root]);
            for i in stored.collect::<Vec<_>>() {
                if self.level[i] < self.rank && splat[i].is_none() {
                    splat[i] = Some(self.splat(i));
                }
            }
            let vacc = if let Some(op) = reduce.filter(|_| reduced_inner) {
                let v = self.b.declare_var(clif_type(dt, Width::X4));
                let id = self.identity(op, dt, Width::X4);
                self.b.def_var(v, id);
                Some(v)
            } else {
                None
            };
            self.counted_loop(start, vend, 4, |g, i| {
                let mut vals: Vec<Option<Value>> = splat.clone();
                for k in 0..g.n.body.insts.len() {
                    if g.level[k] == g.rank {
                        let v = g.inst(k, Width::X4, Some(i), &mut vals);
                        vals[k] = Some(v);
                    }
                }
                g.store_extra(&vals, i);
                let x = vals[root].expect("internal: root value");
                g.store_or_combine(x, dt, Width::X4, i, vacc);
            });
            if let (Some(v), Some(acc)) = (vacc, acc_var) {
                let op = reduce.unwrap_or(ReduceOp::Sum);
                let vv = self.b.use_var(v);
                let mut s = self.b.use_var(acc);
                for lane in 0..4u8 {
                    let x = self.b.ins().extractlane(vv, lane);
                    s = self.combine(op, dt, Width::Scalar, s, x);
                }
                self.b.def_var(acc, s);
            }
        }
        self.counted_loop(tail_start, end, 1, |g, i| {
            let mut vals: Vec<Option<Value>> = g.scalar.clone();
            for k in 0..g.n.body.insts.len() {
                if g.level[k] == g.rank {
                    let v = g.inst(k, Width::Scalar, Some(i), &mut vals);
                    vals[k] = Some(v);
                }
            }
            g.store_extra(&vals, i);
            let x = vals[root].expect("internal: root value");
            g.store_or_combine(x, dt, Width::Scalar, i, acc_var);
        });
        if let (Some(acc), Some(op)) = (acc_var, reduce) {
            let s = self.b.use_var(acc);
            let addr = self.b.ins().iadd(self.out_base, self.out_off);
            let ty = mem_type(dt);
            let old = self.b.ins().load(ty, flags(), addr, 0);
            let new = self.combine(op, dt, Width::Scalar, old, s);
            self.b.ins().store(flags(), new, addr, 0);
        }
    }

    /// Stores the `extra` outputs' values at the output's index `i` of the
    /// innermost loop.
    fn store_extra(&mut self, vals: &[Option<Value>], i: Value) {
        let r = self.rank - 1;
        for (e, &(_, v)) in self.n.extra.iter().enumerate() {
            let x = vals[v].expect("internal: stored value computed");
            let addr = self.inner_addr(self.extra_base[e], self.out_off, self.out_stride[r], i);
            self.b.ins().store(flags(), x, addr, 0);
        }
    }

    /// Stores an innermost-loop value, or folds it into the accumulator
    /// (register or output element) of a reduction.
    fn store_or_combine(&mut self, x: Value, dt: DType, w: Width, i: Value, acc: Option<Variable>) {
        let r = self.rank - 1;
        if let Some(acc) = acc {
            let op = self.n.reduce.unwrap_or(ReduceOp::Sum);
            let a = self.b.use_var(acc);
            let s = self.combine(op, dt, w, a, x);
            self.b.def_var(acc, s);
            return;
        }
        let addr = self.inner_addr(self.out_base, self.out_off, self.out_stride[r], i);
        let x = match self.n.reduce {
            Some(op) => {
                let ty = if w == Width::X4 {
                    clif_type(dt, w)
                } else {
                    mem_type(dt)
                };
                let old = self.b.ins().load(ty, flags(), addr, 0);
                self.combine(op, dt, w, old, x)
            }
            None => x,
        };
        self.b.ins().store(flags(), x, addr, 0);
    }

    /// `base + off + i * stride` (the address of element `i` of a row).
    fn inner_addr(&mut self, base: Value, off: Value, stride: Option<Value>, i: Value) -> Value {
        let row = self.b.ins().iadd(base, off);
        match stride {
            Some(s) => {
                let step = self.b.ins().imul(i, s);
                self.b.ins().iadd(row, step)
            }
            None => row,
        }
    }

    fn splat(&mut self, i: usize) -> Value {
        let dt = self.n.body.insts[i].1;
        let s = self.scalar[i].expect("internal: hoisted value emitted");
        match dt {
            DType::Bool => {
                // 0/1 byte → all-ones/zero lane mask.
                let w = self.b.ins().uextend(types::I32, s);
                let m = self.b.ins().ineg(w);
                self.b.ins().splat(types::I32X4, m)
            }
            _ => self.b.ins().splat(clif_type(dt, Width::X4), s),
        }
    }

    fn inst(&mut self, k: usize, w: Width, i: Option<Value>, vals: &mut [Option<Value>]) -> Value {
        let e = self.n.body;
        let (inst, dt) = (&e.insts[k].0, e.insts[k].1);
        let get = |j: usize, g: &Self| -> Value {
            vals.get(j)
                .copied()
                .flatten()
                .or(g.scalar[j])
                .expect("internal: operand emitted before use")
        };
        let ty = clif_type(dt, w);
        match inst {
            Inst::Load(a) => {
                let r = self.rank - 1;
                let base = self.base[k].expect("internal: load base");
                let mty = mem_type(self.n.buf_dtypes[a.buf]);
                let at_inner = i.is_some() && self.level[k] == self.rank;
                if !at_inner {
                    let addr = self.b.ins().iadd(base, self.off[k]);
                    return self.b.ins().load(mty, flags(), addr, 0);
                }
                let i = i.expect("internal");
                let stride = self.stride[k][r];
                if w == Width::Scalar {
                    let addr = self.inner_addr(base, self.off[k], stride, i);
                    return self.b.ins().load(mty, flags(), addr, 0);
                }
                if a.strides[r] == Size::one() {
                    let addr = self.inner_addr(base, self.off[k], stride, i);
                    return self.b.ins().load(ty, flags(), addr, 0);
                }
                // A strided row (a transposed operand): gather four lanes.
                let mut v = self.constant(0.0, dt, Width::X4);
                for lane in 0..4 {
                    let il = self.b.ins().iadd_imm_s(i, lane);
                    let addr = self.inner_addr(base, self.off[k], stride, il);
                    let x = self.b.ins().load(mty, flags(), addr, 0);
                    v = self.b.ins().insertlane(v, x, lane as u8);
                }
                v
            }
            Inst::Const(c) => self.constant(*c, dt, w),
            Inst::Index(l) => {
                let iv = if *l + 1 == self.rank {
                    i.expect("internal: innermost index")
                } else {
                    self.idx[*l].expect("internal: outer index")
                };
                let s = self.b.ins().ireduce(types::I32, iv);
                if w == Width::Scalar {
                    return s;
                }
                let mut v = self.b.ins().splat(types::I32X4, s);
                for lane in 1..4u8 {
                    let x = self.b.ins().iadd_imm_s(s, lane as i64);
                    v = self.b.ins().insertlane(v, x, lane);
                }
                v
            }
            Inst::Sym(name) => {
                let s = self.size(&Size {
                    coeff: 1,
                    syms: vec![name.clone()],
                });
                let s = match dt {
                    DType::F32 | DType::F64 => self.b.ins().fcvt_from_sint(ty, s),
                    DType::I32 => self.b.ins().ireduce(types::I32, s),
                    DType::Bool => {
                        let z = self.b.ins().icmp_imm_s(IntCC::NotEqual, s, 0);
                        return z;
                    }
                };
                s
            }
            Inst::Acc => unreachable!("internal: acc is rewritten to a load"),
            Inst::Unary(u, a) => {
                let x = get(*a, self);
                self.unary(*u, dt, w, x)
            }
            Inst::Binary(op, a, c) => {
                let (x, y) = (get(*a, self), get(*c, self));
                let y_is_zero = matches!(e.insts[*c].0, Inst::Const(z) if z == 0.0);
                self.binary(*op, dt, w, x, y, y_is_zero)
            }
            Inst::Compare(op, a, c) => {
                let (x, y) = (get(*a, self), get(*c, self));
                self.compare(*op, e.insts[*a].1, x, y)
            }
            Inst::Select(c, a, d) => {
                let (c, x, y) = (get(*c, self), get(*a, self), get(*d, self));
                self.pick(c, x, y, w)
            }
            Inst::Cast(a) => {
                let x = get(*a, self);
                self.cast(e.insts[*a].1, dt, w, x)
            }
        }
    }
}
