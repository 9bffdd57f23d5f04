//! A kernel-program interpreter with plain Rust loops: the same kernel IR
//! the JIT compiles, run one element at a time. It proves fusion and memory
//! planning right independently of code generation: temporaries live in one
//! arena laid out by the plan, so a slot reused too early corrupts a result
//! here just as it would in compiled code. Values are held as f64 and
//! rounded to their dtype after every instruction (for f32, +, −, ×, ÷ and
//! sqrt then round exactly as f32 arithmetic does). Library kernels
//! (convolution, pooling, movement, indexing, random) run their routine's
//! definition (`routine.rs`), which is what defines each routine for every
//! backend.

mod routine;

pub use routine::routine;

use crate::backend::RunError;
use crate::ir::{BinaryOp, DType, ReduceOp, UnaryOp};
use crate::kernel::{
    bind, extents, BufId, BufKind, Expr, Inst, Kernel, KernelProgram, Layout, ScanKernel, Size,
};
use crate::tensor::Tensor;

/// Runs `p` on `inputs` (in graph-input order); results in output order.
pub fn run(p: &KernelProgram, inputs: &[&Tensor]) -> Result<Vec<Tensor>, RunError> {
    let bindings = bind(p, inputs)?;
    let layout = Layout::new(p, &bindings);
    // Space 0 is the arena (one f64 per byte, so that slots overlap exactly
    // as planned); then one space per input and per output buffer.
    let mut mem: Vec<Vec<f64>> = vec![vec![0.0; layout.arena_bytes]];
    let mut place: Vec<(usize, usize)> = vec![(0, 0); p.buffers.len()];
    for (b, buf) in p.buffers.iter().enumerate() {
        place[b] = match &buf.kind {
            BufKind::Input { index, .. } => {
                mem.push(inputs[*index].to_f64_vec());
                (mem.len() - 1, 0)
            }
            BufKind::Output => {
                mem.push(vec![0.0; layout.numel[b]]);
                (mem.len() - 1, 0)
            }
            BufKind::Temp => (0, layout.offset[b]),
            BufKind::View { .. } => continue,
        };
    }
    let place: Vec<(usize, usize)> = (0..p.buffers.len()).map(|b| place[p.root(b)]).collect();
    let mut m = Machine {
        dtype: p.buffers.iter().map(|b| b.ty.dtype).collect(),
        mem,
        place,
        bindings: &bindings,
        shapes: p
            .buffers
            .iter()
            .map(|b| b.ty.shape.bind(&bindings).expect("internal: bound shape"))
            .collect(),
    };
    for k in &p.kernels {
        m.kernel(k)?;
    }
    Ok(p.outputs
        .iter()
        .map(|(_, b)| {
            let (s, o) = m.place[*b];
            let n = layout.numel[*b];
            let ty = &p.buffers[*b].ty;
            let shape = ty.shape.bind(&bindings).expect("internal: bound shape");
            Tensor::from_f64(ty.dtype, &shape, m.mem[s][o..o + n].to_vec())
        })
        .collect())
}

struct Machine<'a> {
    mem: Vec<Vec<f64>>,
    place: Vec<(usize, usize)>,
    dtype: Vec<DType>,
    bindings: &'a [(String, usize)],
    /// Each buffer's shape under the bindings.
    shapes: Vec<Vec<usize>>,
}

/// Every multi-index of `dims`, row-major.
fn for_each_index(dims: &[usize], mut f: impl FnMut(&[usize])) {
    if dims.contains(&0) {
        return;
    }
    let mut idx = vec![0usize; dims.len()];
    loop {
        f(&idx);
        let mut a = dims.len();
        loop {
            if a == 0 {
                return;
            }
            a -= 1;
            idx[a] += 1;
            if idx[a] < dims[a] {
                break;
            }
            idx[a] = 0;
        }
    }
}

impl Machine<'_> {
    fn dims(&self, dims: &[Size]) -> Vec<usize> {
        dims.iter()
            .map(|d| d.eval(self.bindings).expect("internal: bound dims"))
            .collect()
    }
    fn read(&self, b: BufId, i: usize) -> f64 {
        let (s, o) = self.place[b];
        self.mem[s][o + i]
    }
    fn write(&mut self, b: BufId, i: usize, v: f64) {
        let (s, o) = self.place[b];
        self.mem[s][o + i] = v;
    }

    fn kernel(&mut self, k: &Kernel) -> Result<(), RunError> {
        match k {
            Kernel::Elementwise {
                out,
                dims,
                body,
                extra,
            } => {
                // Written as computed, as compiled code does, so a wrong
                // in-place plan shows.
                let dims = self.dims(dims);
                let mut flat = 0usize;
                for_each_index(&dims, |idx| {
                    let v = self.values(body, idx, None);
                    self.write(*out, flat, v[body.root()]);
                    for &(b, i) in extra {
                        self.write(b, flat, v[i]);
                    }
                    flat += 1;
                });
            }
            Kernel::Reduce {
                out,
                op,
                dims,
                axes,
                body,
            } => {
                let dims = self.dims(dims);
                let dt = body.dtype();
                let kept: Vec<usize> = (0..dims.len()).filter(|a| !axes.contains(a)).collect();
                let count: usize = kept.iter().map(|&a| dims[a]).product();
                let init = match (op, dt) {
                    (ReduceOp::Sum, _) | (ReduceOp::Max, DType::Bool) => 0.0,
                    (ReduceOp::Max, DType::I32) => i32::MIN as f64,
                    (ReduceOp::Max, _) => f64::NEG_INFINITY,
                };
                let mut acc = vec![init; count];
                for_each_index(&dims, |idx| {
                    let o = kept.iter().fold(0, |s, &a| s * dims[a] + idx[a]);
                    let x = self.eval(body, idx, None);
                    acc[o] = round(
                        dt,
                        match op {
                            ReduceOp::Sum => acc[o] + x,
                            ReduceOp::Max => acc[o].max(x),
                        },
                    );
                });
                for (i, v) in acc.into_iter().enumerate() {
                    self.write(*out, i, v);
                }
            }
            Kernel::MatMul {
                out,
                batch,
                summed,
                m,
                k,
                n,
                a,
                b,
                epilogue,
            } => {
                let bs: usize = self.dims(&extents(batch)).iter().product();
                let [m, k, n] = self.dims(&extents(&[m.clone(), k.clone(), n.clone()]))[..] else {
                    unreachable!()
                };
                let dt = self.dtype[*out];
                let (a_rs, a_cs) = a.strides(m, k);
                let (b_rs, b_cs) = b.strides(k, n);
                // Summed: one m×n result, k running over the batch too.
                let (zs, per_z) = if *summed { (1, bs) } else { (bs, 1) };
                for z in 0..zs {
                    for i in 0..m {
                        for j in 0..n {
                            let mut s = 0.0;
                            for y in z * per_z..(z + 1) * per_z {
                                let (za, zb) = (
                                    if a.shared { 0 } else { y * m * k },
                                    if b.shared { 0 } else { y * k * n },
                                );
                                for q in 0..k {
                                    s += self.read(a.buf, za + i * a_rs + q * a_cs)
                                        * self.read(b.buf, zb + q * b_rs + j * b_cs);
                                }
                            }
                            self.write(*out, z * m * n + i * n + j, round(dt, s));
                        }
                    }
                }
                if let Some((dims, body)) = epilogue {
                    let dims = self.dims(dims);
                    let mut flat = 0usize;
                    for_each_index(&dims, |idx| {
                        let acc = self.read(*out, flat);
                        let v = self.eval(body, idx, Some(acc));
                        self.write(*out, flat, v);
                        flat += 1;
                    });
                }
            }
            Kernel::Library { out, routine, args } => {
                let tensors: Vec<Tensor> = args.iter().map(|&b| self.tensor(b)).collect();
                let refs: Vec<&Tensor> = tensors.iter().collect();
                let r =
                    self::routine::routine(routine, &refs, self.dtype[*out], &self.shapes[*out])?;
                for (i, v) in r.to_f64_vec().into_iter().enumerate() {
                    self.write(*out, i, v);
                }
            }
            Kernel::Scan(s) => self.scan(s)?,
        }
        Ok(())
    }

    /// A buffer's elements as a tensor.
    fn tensor(&self, b: BufId) -> Tensor {
        let n: usize = self.shapes[b].iter().product();
        let v = (0..n).map(|i| self.read(b, i)).collect();
        Tensor::from_f64(self.dtype[b], &self.shapes[b], v)
    }

    /// A scan: the body's program run by this reference runner once per
    /// step, on slices copied out of the sequences; outputs copied into the
    /// stacked results.
    fn scan(&mut self, s: &ScanKernel) -> Result<(), RunError> {
        let (c, ns) = (s.carries, s.sequences);
        let ops: Vec<Tensor> = s.operands.iter().map(|&b| self.tensor(b)).collect();
        let shape = ops[c].shape().to_vec();
        let steps = shape[s.axis];
        // Element `(o, t, i)` of a sequence or stacked result, with `o` over
        // the axes before `axis` and `i` over those after.
        let geometry = |shape: &[usize]| -> (usize, usize) {
            (
                shape[..s.axis].iter().product(),
                shape[s.axis + 1..].iter().product(),
            )
        };
        let mut carries: Vec<Tensor> = ops[..c].to_vec();
        for step in 0..steps {
            let t = if s.reverse { steps - 1 - step } else { step };
            let slices: Vec<Tensor> = ops[c..c + ns]
                .iter()
                .map(|x| {
                    let (outer, inner) = geometry(x.shape());
                    let v = x.to_f64_vec();
                    let mut out = Vec::with_capacity(outer * inner);
                    for o in 0..outer {
                        let at = (o * steps + t) * inner;
                        out.extend_from_slice(&v[at..at + inner]);
                    }
                    let mut sh = x.shape().to_vec();
                    sh.remove(s.axis);
                    Tensor::from_f64(x.dtype(), &sh, out)
                })
                .collect();
            let mut inputs: Vec<&Tensor> = carries.iter().collect();
            inputs.extend(&slices);
            inputs.extend(&ops[c + ns..]);
            let mut outs = run(&s.body, &inputs)?;
            let per_step = outs.split_off(c);
            carries = outs;
            for (k, y) in per_step.iter().enumerate() {
                let v = y.to_f64_vec();
                for &b in &s.results[c + k] {
                    let (outer, inner) = geometry(&self.shapes[b]);
                    for o in 0..outer {
                        for i in 0..inner {
                            self.write(b, (o * steps + t) * inner + i, v[o * inner + i]);
                        }
                    }
                }
            }
        }
        for (k, x) in carries.iter().enumerate() {
            for &b in &s.results[k] {
                for (i, v) in x.to_f64_vec().into_iter().enumerate() {
                    self.write(b, i, v);
                }
            }
        }
        Ok(())
    }

    /// The body's value at loop index `idx`.
    fn eval(&self, e: &Expr, idx: &[usize], acc: Option<f64>) -> f64 {
        *self
            .values(e, idx, acc)
            .last()
            .expect("internal: empty kernel body")
    }

    /// Every instruction's value at loop index `idx`.
    fn values(&self, e: &Expr, idx: &[usize], acc: Option<f64>) -> Vec<f64> {
        let mut v: Vec<f64> = Vec::with_capacity(e.insts.len());
        for (inst, dt) in &e.insts {
            let dt = *dt;
            let x = match inst {
                Inst::Load(a) => {
                    let first = a
                        .offset
                        .eval(self.bindings)
                        .expect("internal: bound offset");
                    let off = a.strides.iter().zip(idx).fold(first, |s, (st, &i)| {
                        s + st.eval(self.bindings).expect("internal: bound stride") * i
                    });
                    self.read(a.buf, off)
                }
                Inst::Const(c) => cast(dt, *c),
                Inst::Index(ax) => idx[*ax] as f64,
                Inst::Sym(s) => cast(
                    dt,
                    self.bindings
                        .iter()
                        .find(|(k, _)| k == s)
                        .map(|(_, n)| *n as f64)
                        .expect("internal: bound symbol"),
                ),
                Inst::Acc => acc.expect("internal: acc outside an epilogue"),
                Inst::Unary(u, a) => round(dt, unary(*u, dt, v[*a])),
                Inst::Binary(b, x, y) => binary(*b, dt, v[*x], v[*y]),
                Inst::Compare(c, x, y) => {
                    if c.eval(v[*x], v[*y]) {
                        1.0
                    } else {
                        0.0
                    }
                }
                Inst::Select(c, x, y) => {
                    if v[*c] != 0.0 {
                        v[*x]
                    } else {
                        v[*y]
                    }
                }
                Inst::Cast(a) => cast(dt, v[*a]),
            };
            v.push(x);
        }
        v
    }
}

fn unary(u: UnaryOp, dt: DType, x: f64) -> f64 {
    if dt == DType::F32 {
        // Transcendentals in f32, as the interpreter computes them.
        let y = x as f32;
        return match u {
            UnaryOp::Exp => y.exp() as f64,
            UnaryOp::Log => y.ln() as f64,
            UnaryOp::Tanh => y.tanh() as f64,
            UnaryOp::Sin => y.sin() as f64,
            UnaryOp::Cos => y.cos() as f64,
            _ => u.eval(x),
        };
    }
    u.eval(x)
}

fn binary(b: BinaryOp, dt: DType, x: f64, y: f64) -> f64 {
    match (dt, b) {
        (DType::I32, BinaryOp::Div) => {
            let (x, y) = (x as i32, y as i32);
            if y == 0 {
                0.0
            } else {
                x.wrapping_div(y) as f64
            }
        }
        (DType::I32, BinaryOp::Pow) => (x as i32).wrapping_pow(y.max(0.0) as u32) as f64,
        (DType::F32, BinaryOp::Pow) => (x as f32).powf(y as f32) as f64,
        _ => round(dt, b.eval(x, y)),
    }
}

/// An arithmetic result in `dt`: f32 rounds, i32 wraps, bool is 0 or 1.
pub(super) fn round(dt: DType, x: f64) -> f64 {
    match dt {
        DType::F32 => x as f32 as f64,
        DType::F64 => x,
        DType::I32 => (x as i64) as i32 as f64,
        DType::Bool => {
            if x != 0.0 {
                1.0
            } else {
                0.0
            }
        }
    }
}

/// A conversion to `dt`, as `cast` does it: float to i32 saturates.
fn cast(dt: DType, x: f64) -> f64 {
    match dt {
        DType::I32 => x as i32 as f64,
        _ => round(dt, x),
    }
}
