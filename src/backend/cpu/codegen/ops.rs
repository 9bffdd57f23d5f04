//! The CLIF of each operation, at one width (a scalar or four lanes):
//! arithmetic, comparisons, casts, Rust's NaN-ignoring max/min, reduction
//! steps, and the calls into Rust for transcendentals. Split from
//! `codegen` so that the loop structure and the op table read apart.

#![deny(clippy::undocumented_unsafe_blocks)]

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, Value};

use super::{bitcast_flags, clif_type, Gen, Width};
use crate::ir::{BinaryOp, CmpOp, DType, ReduceOp, UnaryOp};

/// The Rust functions JIT code calls for what CLIF has no instruction for.
pub(super) const LIBCALLS: [(&str, *const u8); 13] = [
    ("dlc_expf", dlc_expf as *const u8),
    ("dlc_logf", dlc_logf as *const u8),
    ("dlc_tanhf", dlc_tanhf as *const u8),
    ("dlc_sinf", dlc_sinf as *const u8),
    ("dlc_cosf", dlc_cosf as *const u8),
    ("dlc_powf", dlc_powf as *const u8),
    ("dlc_exp", dlc_exp as *const u8),
    ("dlc_log", dlc_log as *const u8),
    ("dlc_tanh", dlc_tanh as *const u8),
    ("dlc_sin", dlc_sin as *const u8),
    ("dlc_cos", dlc_cos as *const u8),
    ("dlc_pow", dlc_pow as *const u8),
    ("dlc_powi", dlc_powi as *const u8),
];

extern "C" fn dlc_expf(x: f32) -> f32 {
    x.exp()
}
extern "C" fn dlc_logf(x: f32) -> f32 {
    x.ln()
}
extern "C" fn dlc_tanhf(x: f32) -> f32 {
    x.tanh()
}
extern "C" fn dlc_sinf(x: f32) -> f32 {
    x.sin()
}
extern "C" fn dlc_cosf(x: f32) -> f32 {
    x.cos()
}
extern "C" fn dlc_powf(x: f32, y: f32) -> f32 {
    x.powf(y)
}
extern "C" fn dlc_exp(x: f64) -> f64 {
    x.exp()
}
extern "C" fn dlc_log(x: f64) -> f64 {
    x.ln()
}
extern "C" fn dlc_tanh(x: f64) -> f64 {
    x.tanh()
}
extern "C" fn dlc_sin(x: f64) -> f64 {
    x.sin()
}
extern "C" fn dlc_cos(x: f64) -> f64 {
    x.cos()
}
extern "C" fn dlc_pow(x: f64, y: f64) -> f64 {
    x.powf(y)
}
/// i32 `pow` wraps; a negative exponent (a run-time error in the
/// interpreter) gives 0 here rather than a trap.
extern "C" fn dlc_powi(x: i32, y: i32) -> i32 {
    if y < 0 {
        0
    } else {
        x.wrapping_pow(y as u32)
    }
}

impl Gen<'_, '_> {
    pub(super) fn identity(&mut self, op: ReduceOp, dt: DType, w: Width) -> Value {
        let v = match (op, dt) {
            (ReduceOp::Sum, _) | (ReduceOp::Max, DType::Bool) => 0.0,
            (ReduceOp::Max, DType::I32) => i32::MIN as f64,
            (ReduceOp::Max, _) => f64::NEG_INFINITY,
        };
        self.constant(v, dt, w)
    }

    pub(super) fn constant(&mut self, v: f64, dt: DType, w: Width) -> Value {
        let s = match dt {
            DType::F32 => self.b.ins().f32const(v as f32),
            DType::F64 => self.b.ins().f64const(v),
            DType::I32 => self.b.ins().iconst(types::I32, v as i32 as i64),
            DType::Bool => {
                let bit = i64::from(v != 0.0);
                if w == Width::X4 {
                    let m = self.b.ins().iconst(types::I32, -bit);
                    return self.b.ins().splat(types::I32X4, m);
                }
                self.b.ins().iconst(types::I8, bit)
            }
        };
        match w {
            Width::Scalar => s,
            Width::X4 => self.b.ins().splat(clif_type(dt, w), s),
        }
    }

    /// `op(a, b)` for a reduction step.
    pub(super) fn combine(
        &mut self,
        op: ReduceOp,
        dt: DType,
        w: Width,
        a: Value,
        b: Value,
    ) -> Value {
        match (op, dt) {
            (ReduceOp::Sum, DType::I32) => self.b.ins().iadd(a, b),
            (ReduceOp::Sum, _) => self.b.ins().fadd(a, b),
            (ReduceOp::Max, DType::I32) => self.b.ins().smax(a, b),
            (ReduceOp::Max, DType::Bool) => self.b.ins().bor(a, b),
            (ReduceOp::Max, _) => self.fmax_rust(a, b, w, false),
        }
    }

    /// Rust's `max`/`min`: a NaN operand yields the other one.
    pub(super) fn fmax_rust(&mut self, a: Value, b: Value, w: Width, min: bool) -> Value {
        let cc = if min {
            FloatCC::GreaterThan
        } else {
            FloatCC::LessThan
        };
        let worse = self.b.ins().fcmp(cc, a, b);
        let nan = self.b.ins().fcmp(FloatCC::Unordered, a, a);
        let take_b = self.b.ins().bor(worse, nan);
        self.pick(take_b, b, a, w)
    }

    /// `c ? x : y` for a bool `c` of the same width.
    pub(super) fn pick(&mut self, c: Value, x: Value, y: Value, w: Width) -> Value {
        match w {
            Width::Scalar => self.b.ins().select(c, x, y),
            Width::X4 => {
                let ty = self.b.func.dfg.value_type(x);
                let c = if ty == types::I32X4 {
                    c
                } else {
                    self.b.ins().bitcast(ty, bitcast_flags(), c)
                };
                self.b.ins().bitselect(c, x, y)
            }
        }
    }

    pub(super) fn libcall(&mut self, name: &str, args: &[Value], w: Width) -> Value {
        let f = self
            .libs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .unwrap_or_else(|| panic!("internal: libcall {name} not declared"));
        match w {
            Width::Scalar => {
                let call = self.b.ins().call(f, args);
                self.b.inst_results(call)[0]
            }
            Width::X4 => {
                let mut out = args[0];
                for lane in 0..4u8 {
                    let lanes: Vec<Value> = args
                        .iter()
                        .map(|&a| self.b.ins().extractlane(a, lane))
                        .collect();
                    let call = self.b.ins().call(f, &lanes);
                    let r = self.b.inst_results(call)[0];
                    out = self.b.ins().insertlane(out, r, lane);
                }
                out
            }
        }
    }

    /// Emits instruction `k` at width `w`; `i` is the innermost index when
    /// emitting inside the inner loop, `vals` the values emitted there.
    pub(super) fn unary(&mut self, u: UnaryOp, dt: DType, w: Width, x: Value) -> Value {
        let f32s = dt == DType::F32;
        let lib = |f: &str, d: &str| if f32s { f.to_string() } else { d.to_string() };
        if dt == DType::I32 {
            return match u {
                UnaryOp::Neg => self.b.ins().ineg(x),
                UnaryOp::Abs => self.b.ins().iabs(x),
                _ => {
                    // sign: clamp to [-1, 1]
                    let lo = self.constant(-1.0, dt, w);
                    let hi = self.constant(1.0, dt, w);
                    let t = self.b.ins().smax(x, lo);
                    self.b.ins().smin(t, hi)
                }
            };
        }
        match u {
            UnaryOp::Neg => self.b.ins().fneg(x),
            UnaryOp::Abs => self.b.ins().fabs(x),
            UnaryOp::Sqrt => self.b.ins().sqrt(x),
            UnaryOp::Recip => {
                let one = self.constant(1.0, dt, w);
                self.b.ins().fdiv(one, x)
            }
            UnaryOp::Sign => {
                let zero = self.constant(0.0, dt, w);
                let one = self.constant(1.0, dt, w);
                let m1 = self.constant(-1.0, dt, w);
                let pos = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                let neg = self.b.ins().fcmp(FloatCC::LessThan, x, zero);
                let t = self.pick(neg, m1, zero, w);
                self.pick(pos, one, t, w)
            }
            UnaryOp::Exp if f32s => self.exp_f32(x, w),
            UnaryOp::Exp => self.libcall(&lib("dlc_expf", "dlc_exp"), &[x], w),
            UnaryOp::Log => self.libcall(&lib("dlc_logf", "dlc_log"), &[x], w),
            UnaryOp::Tanh if f32s => self.tanh_f32(x, w),
            UnaryOp::Tanh => self.libcall(&lib("dlc_tanhf", "dlc_tanh"), &[x], w),
            UnaryOp::Sin => self.libcall(&lib("dlc_sinf", "dlc_sin"), &[x], w),
            UnaryOp::Cos => self.libcall(&lib("dlc_cosf", "dlc_cos"), &[x], w),
        }
    }

    /// `tanh` of f32 lanes in registers: Eigen's rational approximation
    /// (odd degree-13 over even degree-6 polynomial of the input clamped to
    /// ±7.9053, where tanh is 1 within 3e-7), about 20 instructions per four
    /// lanes with one division, so the recurrent cells (five tanh per
    /// element) do not spend their time here. Within 3.5e-7 of tanh
    /// everywhere (6 ulp near ±1, 1 ulp near 0); NaN stays NaN.
    fn tanh_f32(&mut self, x: Value, w: Width) -> Value {
        let f = |g: &mut Self, v: f64| g.constant(v, DType::F32, w);
        // Clamped by compare-and-pick (CLIF's fmin/fmax cost 8 instructions
        // each); NaN fails both compares and stays NaN.
        let (hi, lo) = (
            f(self, 7.905_311_107_635_498),
            f(self, -7.905_311_107_635_498),
        );
        let above = self.b.ins().fcmp(FloatCC::GreaterThan, x, hi);
        let c = self.pick(above, hi, x, w);
        let below = self.b.ins().fcmp(FloatCC::LessThan, c, lo);
        let c = self.pick(below, lo, c, w);
        let z = self.b.ins().fmul(c, c);
        let p = self.horner(
            z,
            &[
                -2.760_768_477_423_55e-16,
                2.000_187_904_824_77e-13,
                -8.604_671_522_137_35e-11,
                5.122_297_090_371_14e-8,
                1.485_722_357_179_79e-5,
                6.372_619_288_754_36e-4,
                4.893_524_558_917_86e-3,
            ],
            w,
        );
        let p = self.b.ins().fmul(p, c);
        let q = self.horner(
            z,
            &[
                1.198_258_394_667_02e-6,
                1.185_347_056_866_54e-4,
                2.268_434_632_439e-3,
                4.893_525_185_543_85e-3,
            ],
            w,
        );
        let r = self.b.ins().fdiv(p, q);
        // Below 4e-4, tanh x is x to the last bit (and -0 stays -0).
        let a = self.b.ins().fabs(x);
        let tiny = f(self, 4e-4);
        let is_tiny = self.b.ins().fcmp(FloatCC::LessThan, a, tiny);
        self.pick(is_tiny, x, r, w)
    }

    /// The f32 polynomial with coefficients `c` (highest degree first) at
    /// `x`, by Horner's rule with one FMA per coefficient.
    fn horner(&mut self, x: Value, c: &[f64], w: Width) -> Value {
        let mut p = self.constant(c[0], DType::F32, w);
        for &k in &c[1..] {
            let k = self.constant(k, DType::F32, w);
            p = self.b.ins().fma(p, x, k);
        }
        p
    }

    /// `exp` of f32 lanes in registers (Cephes' `expf`, within 2 ulp of
    /// Rust's): x = n·ln2 + r with |r| ≤ ln2/2, a degree-6 polynomial for
    /// e^r, then 2^n built in the exponent bits, in two halves so that
    /// overflow gives inf and underflow passes through subnormals to 0. The
    /// scalar tail runs the same instructions, so a value does not depend
    /// on its lane. NaN stays NaN (CLIF's `fmin`/`fmax` propagate it).
    fn exp_f32(&mut self, x: Value, w: Width) -> Value {
        let f = |g: &mut Self, v: f64| g.constant(v, DType::F32, w);
        let (hi, lo) = (f(self, 89.0), f(self, -104.0));
        let x = self.b.ins().fmin(x, hi);
        let x = self.b.ins().fmax(x, lo);
        let log2e = f(self, std::f64::consts::LOG2_E);
        let t = self.b.ins().fmul(x, log2e);
        let n = self.b.ins().nearest(t);
        let minus_n = self.b.ins().fneg(n);
        let (ln2_hi, ln2_lo) = (f(self, 0.693_359_375), f(self, -2.121_944_4e-4));
        let r = self.b.ins().fma(minus_n, ln2_hi, x);
        let r = self.b.ins().fma(minus_n, ln2_lo, r);
        let p = self.horner(
            r,
            &[
                1.987_569_15e-4,
                1.398_199_950_7e-3,
                8.333_451_907_3e-3,
                4.166_579_589_4e-2,
                1.666_666_545_9e-1,
                5.000_000_120_1e-1,
            ],
            w,
        );
        let r2 = self.b.ins().fmul(r, r);
        let one = f(self, 1.0);
        let r1 = self.b.ins().fadd(r, one);
        let e_r = self.b.ins().fma(p, r2, r1);
        // 2^n as 2^(n>>1) · 2^(n - n>>1), each a normal number here.
        let ity = clif_type(DType::I32, w);
        let fty = clif_type(DType::F32, w);
        let ni = self.b.ins().fcvt_to_sint_sat(ity, n);
        let one_bit = self.b.ins().iconst(types::I32, 1);
        let n1 = self.b.ins().sshr(ni, one_bit);
        let n2 = self.b.ins().isub(ni, n1);
        let bias = self.constant(127.0, DType::I32, w);
        let mantissa = self.b.ins().iconst(types::I32, 23);
        let mut y = e_r;
        for half in [n1, n2] {
            let e = self.b.ins().iadd(half, bias);
            let bits = self.b.ins().ishl(e, mantissa);
            let scale = self.b.ins().bitcast(fty, bitcast_flags(), bits);
            y = self.b.ins().fmul(y, scale);
        }
        y
    }

    pub(super) fn binary(
        &mut self,
        op: BinaryOp,
        dt: DType,
        w: Width,
        x: Value,
        y: Value,
        y0: bool,
    ) -> Value {
        if dt == DType::I32 {
            return match op {
                BinaryOp::Add => self.b.ins().iadd(x, y),
                BinaryOp::Sub => self.b.ins().isub(x, y),
                BinaryOp::Mul => self.b.ins().imul(x, y),
                BinaryOp::Max => self.b.ins().smax(x, y),
                BinaryOp::Min => self.b.ins().smin(x, y),
                BinaryOp::Pow => self.libcall("dlc_powi", &[x, y], w),
                BinaryOp::Div => {
                    // Scalar only. x86 traps on ÷0 and MIN÷−1: divide by 1
                    // there, then give 0 and the wrapped −x.
                    let zero = self.b.ins().icmp_imm_s(IntCC::Equal, y, 0);
                    let m1 = self.b.ins().icmp_imm_s(IntCC::Equal, y, -1);
                    let bad = self.b.ins().bor(zero, m1);
                    let one = self.b.ins().iconst(types::I32, 1);
                    let d = self.b.ins().select(bad, one, y);
                    let q = self.b.ins().sdiv(x, d);
                    let nx = self.b.ins().ineg(x);
                    let z = self.b.ins().iconst(types::I32, 0);
                    let q = self.b.ins().select(m1, nx, q);
                    self.b.ins().select(zero, z, q)
                }
            };
        }
        match op {
            BinaryOp::Add => self.b.ins().fadd(x, y),
            BinaryOp::Sub => self.b.ins().fsub(x, y),
            BinaryOp::Mul => self.b.ins().fmul(x, y),
            BinaryOp::Div => self.b.ins().fdiv(x, y),
            BinaryOp::Max if y0 && w == Width::X4 => {
                // ReLU: keep x where x > 0 (NaN → 0, as Rust's max does).
                let m = self.b.ins().fcmp(FloatCC::GreaterThan, x, y);
                let xi = self.b.ins().bitcast(types::I32X4, bitcast_flags(), x);
                let r = self.b.ins().band(xi, m);
                self.b.ins().bitcast(types::F32X4, bitcast_flags(), r)
            }
            BinaryOp::Max => self.fmax_rust(x, y, w, false),
            BinaryOp::Min => self.fmax_rust(x, y, w, true),
            BinaryOp::Pow => {
                let f = if dt == DType::F32 {
                    "dlc_powf"
                } else {
                    "dlc_pow"
                };
                self.libcall(f, &[x, y], w)
            }
        }
    }

    pub(super) fn compare(&mut self, op: CmpOp, dt: DType, x: Value, y: Value) -> Value {
        if dt.is_float() {
            let cc = match op {
                CmpOp::Lt => FloatCC::LessThan,
                CmpOp::Le => FloatCC::LessThanOrEqual,
                CmpOp::Gt => FloatCC::GreaterThan,
                CmpOp::Ge => FloatCC::GreaterThanOrEqual,
                CmpOp::Eq => FloatCC::Equal,
                CmpOp::Ne => FloatCC::NotEqual,
            };
            return self.b.ins().fcmp(cc, x, y);
        }
        // Bools compare unsigned (false < true for 0/1 and for 0/−1 masks).
        let signed = dt == DType::I32;
        let cc = match (op, signed) {
            (CmpOp::Lt, true) => IntCC::SignedLessThan,
            (CmpOp::Le, true) => IntCC::SignedLessThanOrEqual,
            (CmpOp::Gt, true) => IntCC::SignedGreaterThan,
            (CmpOp::Ge, true) => IntCC::SignedGreaterThanOrEqual,
            (CmpOp::Lt, false) => IntCC::UnsignedLessThan,
            (CmpOp::Le, false) => IntCC::UnsignedLessThanOrEqual,
            (CmpOp::Gt, false) => IntCC::UnsignedGreaterThan,
            (CmpOp::Ge, false) => IntCC::UnsignedGreaterThanOrEqual,
            (CmpOp::Eq, _) => IntCC::Equal,
            (CmpOp::Ne, _) => IntCC::NotEqual,
        };
        self.b.ins().icmp(cc, x, y)
    }

    pub(super) fn cast(&mut self, from: DType, to: DType, w: Width, x: Value) -> Value {
        let ty = clif_type(to, w);
        match (from, to) {
            _ if from == to => x,
            (DType::F32 | DType::F64, DType::I32) => self.b.ins().fcvt_to_sint_sat(ty, x),
            (DType::I32, DType::F32 | DType::F64) => self.b.ins().fcvt_from_sint(ty, x),
            (DType::F32, DType::F64) => self.b.ins().fpromote(ty, x),
            (DType::F64, DType::F32) => self.b.ins().fdemote(ty, x),
            (DType::F32 | DType::F64, DType::Bool) => {
                let z = self.constant(0.0, from, w);
                self.b.ins().fcmp(FloatCC::NotEqual, x, z)
            }
            (DType::I32, DType::Bool) => {
                let z = self.constant(0.0, from, w);
                self.b.ins().icmp(IntCC::NotEqual, x, z)
            }
            (DType::Bool, _) => {
                let one = self.constant(1.0, to, w);
                let zero = self.constant(0.0, to, w);
                self.pick(x, one, zero, w)
            }
            _ => unreachable!("internal: cast {from} to {to}"),
        }
    }
}
