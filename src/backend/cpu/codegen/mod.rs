//! Loop nests → CLIF → machine code. Every elementwise kernel, reduction and
//! contraction epilogue becomes one function
//! `fn(bufs: *const *mut u8, syms: *const i64, lo: i64, hi: i64)`: `bufs`
//! holds every buffer's base address, `syms` the bound size symbols, and
//! `lo..hi` the slice of the outermost loop this call runs (so rayon can
//! split it). Sizes are read from `syms`, so one compiled program serves
//! every batch size.
//!
//! Shape of the code (Cranelift 0.135 has no vectorizer, unroller or loop
//! rotation of its own, and only 128-bit vectors): rotated do-while loops; each
//! instruction is emitted in the outermost loop where its inputs vary
//! (loop-invariant code motion by construction); the innermost axis runs in
//! f32x4/i32x4 lanes with a scalar tail when every value is 4 bytes wide,
//! in scalars otherwise. ReLU is `fcmp`+`band`, max/min keep Rust's NaN
//! rule with compare+`bitselect` (never the costly `fmax`). f32 `exp` (the
//! softmax's) is computed in registers, within 2 ulp of Rust's; the other
//! transcendentals, and f64 `exp`, call Rust's own `f32::ln` & co. through
//! registered symbols, lane by lane, so they round exactly as the
//! interpreter does.
//!
//! This file holds the JIT module (declaring, defining and finalizing
//! functions, and the Rust functions they may call); `nest.rs` builds one
//! nest's function and its outer loops, `inner.rs` its innermost loop and
//! stores, `ops.rs` the CLIF of each operation.

#![deny(clippy::undocumented_unsafe_blocks)]

use cranelift_codegen::ir::{types, AbiParam, FuncRef, Signature};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
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

mod inner;
mod nest;
mod ops;

use nest::{bitcast_flags, clif_type, flags, mem_type, Gen, Width};
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
