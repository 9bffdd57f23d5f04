//! The function of one loop nest, around its innermost loop
//! (`inner.rs`): entry block with every size, base address and byte stride
//! the body needs, the reduction's identity written over the output rows
//! the call owns, and one rotated do-while loop per axis, each instruction
//! emitted in the outermost loop where its inputs vary.

#![deny(clippy::undocumented_unsafe_blocks)]

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, Endianness, FuncRef, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;

use super::LoopNest;
use crate::ir::{BinaryOp, DType, ReduceOp};
use crate::kernel::{Inst, Size};

/// Flags of every load and store of a buffer, a size or a base address:
/// `trusted`, that is non-trapping and aligned. Non-trapping holds because
/// each access stays inside a buffer sized for the bound symbols. Aligned
/// holds for scalars (each sits a multiple of its size from a base that
/// the arena's 64-byte slots or the tensor's allocation aligns), but a
/// four-lane access is only aligned to its element: the x64 backend then
/// relies on the host's AVX (VEX) encodings, which take unaligned memory
/// operands, where SSE encodings would fault.
pub(super) fn flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// Lane-type reinterpretation needs an explicit byte order.
pub(super) fn bitcast_flags() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

/// How a value is held: one element, or four lanes of the innermost axis.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Width {
    Scalar,
    X4,
}

/// The CLIF type of a value of `dt` held at width `w`.
pub(super) fn clif_type(dt: DType, w: Width) -> Type {
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
pub(super) fn mem_type(dt: DType) -> Type {
    match dt {
        DType::Bool => types::I8,
        other => clif_type(other, Width::Scalar),
    }
}

/// The state of building one nest's function: the builder, and the values
/// of the entry block and of the loops entered so far that the body's
/// instructions read.
pub(super) struct Gen<'a, 'b> {
    pub(super) b: FunctionBuilder<'b>,
    pub(super) n: &'a LoopNest<'a>,
    pub(super) syms: &'a [String],
    pub(super) params: Vec<Value>,
    pub(super) libs: Vec<(&'static str, FuncRef)>,
    pub(super) ptr: Type,
    pub(super) rank: usize,
    /// Outermost loop where each instruction's value varies (0 = never).
    pub(super) level: Vec<usize>,
    pub(super) vector: bool,
    /// Per loop axis: extent, as an i64 value of the entry block.
    pub(super) extent: Vec<Value>,
    /// Base address of each load (by instruction) and of the output.
    pub(super) base: Vec<Option<Value>>,
    pub(super) out_base: Value,
    /// Base address of each `extra` output.
    pub(super) extra_base: Vec<Value>,
    /// Byte strides per loop axis of each load and of the output.
    pub(super) stride: Vec<Vec<Option<Value>>>,
    pub(super) out_stride: Vec<Option<Value>>,
    /// Byte offset of each load / of the output at the current depth.
    pub(super) off: Vec<Value>,
    pub(super) out_off: Value,
    /// Current loop index per axis.
    pub(super) idx: Vec<Option<Value>>,
    /// Scalar value of each instruction emitted outside the inner loop.
    pub(super) scalar: Vec<Option<Value>>,
}

impl<'a, 'b> Gen<'a, 'b> {
    pub(super) fn new(
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
    pub(super) fn size(&mut self, s: &Size) -> Value {
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

    pub(super) fn buf_base(&mut self, buf: usize) -> Value {
        self.b
            .ins()
            .load(self.ptr, flags(), self.params[0], (8 * buf) as i32)
    }

    pub(super) fn byte_strides(&mut self, strides: &[Size], esize: i64) -> Vec<Option<Value>> {
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

    pub(super) fn emit(&mut self) {
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
    pub(super) fn init_reduction(&mut self, op: ReduceOp) {
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
    pub(super) fn counted_loop(
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
    pub(super) fn nest(&mut self, d: usize) {
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
    pub(super) fn emit_level(&mut self, level: usize) {
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
}
