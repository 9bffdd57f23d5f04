//! The primitive op set. Every layer lowers to these; autodiff has one rule
//! per op and every backend implements each of them. Adding an op follows
//! `docs/adding-an-op.md`.
//!
//! Binary and select ops take operands of identical shape: broadcasting is
//! always an explicit `broadcast` node, so backends and fusion never guess.
//!
//! The typing rules of the movement, indexing, windowed and random ops live
//! in `op/rules.rs`, next to the attribute structs they check.

use super::role::Role;
use super::scan::Scan;
use super::types::{DType, Dim, Shape, TensorType};

mod rules;

pub use rules::{dilated, window_output, ConvAttrs, Dist, Window};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Recip,
    Tanh,
    Sin,
    Cos,
    Abs,
    /// -1, 0 or 1; its derivative is zero almost everywhere.
    Sign,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    Pow,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Max,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A graph argument (see [`Role`]); printed in the graph header.
    Input {
        name: String,
        role: Role,
    },
    /// A scalar splatted to the node's type: `const 0.5 : f32[N,10]`.
    Const {
        value: f64,
    },
    /// Indices 0, 1, 2, ... along `axis`, repeated along the others.
    Iota {
        axis: usize,
    },
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// Elementwise comparison; the result is `bool`.
    Compare(CmpOp),
    /// `select %cond, %a, %b`: `a` where `cond`, else `b`.
    Select,
    /// Converts to the node's dtype.
    Cast,
    /// Reduces over `axes` (sorted, distinct), which disappear from the shape.
    Reduce {
        op: ReduceOp,
        axes: Vec<usize>,
    },
    /// Operand axis `i` becomes result axis `dims[i]` (which must have the
    /// same size, or the operand's is 1); the other result axes are new.
    Broadcast {
        dims: Vec<usize>,
    },
    /// Same elements, the node's shape.
    Reshape,
    /// Result axis `i` is operand axis `perm[i]`.
    Transpose {
        perm: Vec<usize>,
    },
    /// `[..., m, k] x [..., k, n] -> [..., m, n]`, leading dims equal.
    MatMul,
    /// The run-time size of an operand axis, as a scalar of the node's dtype
    /// (how a mean divides by a symbolic batch size).
    DimSize {
        axis: usize,
    },
    /// Elements `start[i], start[i] + stride[i], ...` below `stop[i]` of
    /// each axis `i`. A symbolic axis is only kept whole: start 0, stride 1
    /// and its own symbol as the stop.
    Slice {
        start: Vec<usize>,
        stop: Vec<Dim>,
        stride: Vec<usize>,
    },
    /// Adds `low[i]` elements before axis `i`, `high[i]` after it and
    /// `interior[i]` between neighbours, each equal to `value`. Interior
    /// padding is what makes `pad` the adjoint of a strided `slice`.
    Pad {
        low: Vec<usize>,
        high: Vec<usize>,
        interior: Vec<usize>,
        value: f64,
    },
    /// The operands (one or more) joined along `axis`; other axes agree.
    Concat {
        axis: usize,
    },
    /// The elements in reverse order along `axes` (a kernel flip).
    Reverse {
        axes: Vec<usize>,
    },
    /// `gather %table, %indices`: rows of `table` (axis 0) picked by i32
    /// indices of any shape; the result is `indices.shape ++
    /// table.shape[1..]`. An index outside the table is a run-time error.
    /// Embedding lookup is this op.
    Gather,
    /// `scatter_add %operand, %indices, %updates`: `operand` with each row
    /// of `updates` (shaped like a `gather` result) added to the row its
    /// index names; repeated indices accumulate. The adjoint of `gather`.
    ScatterAdd,
    /// Convolution (cross-correlation, as in every framework), `[N, C,
    /// S...] x [O, C/groups, K...] -> [N, O, Y...]` over 1, 2 or more
    /// spatial axes; see [`ConvAttrs`]. Transposed convolution is the same
    /// op with `lhs_dilation`.
    Conv(ConvAttrs),
    /// Sum or max over sliding windows (pooling); see [`Window`].
    ReduceWindow {
        op: ReduceOp,
        window: Window,
    },
    /// Random numbers of the declared float type, a pure function of the
    /// i32 scalar key operand, `stream` and each element's row-major index
    /// (Philox4x32-10; `crate::random` defines the draw). Feeding the step
    /// counter as the key gives fresh numbers every step without
    /// recompiling; `stream` keeps two random ops with one key apart.
    Random {
        dist: Dist,
        stream: u64,
    },
    /// A loop over a sequence with a body graph (`ir/scan.rs`); one operand
    /// per body input. Its results are read by `get` nodes.
    Scan(Box<Scan>),
    /// Result `index` of a multi-result node (a scan).
    Get {
        index: usize,
    },
}

impl UnaryOp {
    pub const ALL: [UnaryOp; 10] = [
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Recip,
        UnaryOp::Tanh,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Abs,
        UnaryOp::Sign,
    ];
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Recip => "recip",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Abs => "abs",
            UnaryOp::Sign => "sign",
        }
    }
    /// Whether it is computed by a polynomial or a series (tens of
    /// instructions per element, not one): what a backend weighs when it
    /// splits work, and what a reverse scan reads back rather than recompute.
    pub fn is_transcendental(self) -> bool {
        matches!(
            self,
            UnaryOp::Exp | UnaryOp::Log | UnaryOp::Tanh | UnaryOp::Sin | UnaryOp::Cos
        )
    }
    /// The scalar semantics, shared by the interpreter and constant folding.
    pub fn eval(self, x: f64) -> f64 {
        match self {
            UnaryOp::Neg => -x,
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.ln(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Recip => 1.0 / x,
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Sin => x.sin(),
            UnaryOp::Cos => x.cos(),
            UnaryOp::Abs => x.abs(),
            UnaryOp::Sign => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
        }
    }
}

impl BinaryOp {
    pub const ALL: [BinaryOp; 7] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::Pow,
    ];
    /// See [`UnaryOp::is_transcendental`]: `pow` is an `exp` of a `log`.
    pub fn is_transcendental(self) -> bool {
        self == BinaryOp::Pow
    }
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Max => "max",
            BinaryOp::Min => "min",
            BinaryOp::Pow => "pow",
        }
    }
    pub fn eval(self, a: f64, b: f64) -> f64 {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Max => a.max(b),
            BinaryOp::Min => a.min(b),
            BinaryOp::Pow => a.powf(b),
        }
    }
}

impl CmpOp {
    pub const ALL: [CmpOp; 6] = [
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
        CmpOp::Eq,
        CmpOp::Ne,
    ];
    pub fn name(self) -> &'static str {
        match self {
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
        }
    }
    pub fn eval(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
        }
    }
}

impl ReduceOp {
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "reduce_sum",
            ReduceOp::Max => "reduce_max",
        }
    }
    /// The mnemonic of the windowed form of this reduction.
    pub fn window_name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "reduce_window_sum",
            ReduceOp::Max => "reduce_window_max",
        }
    }
}

impl Op {
    /// The mnemonic printed in the text form.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Const { .. } => "const",
            Op::Iota { .. } => "iota",
            Op::Unary(u) => u.name(),
            Op::Binary(b) => b.name(),
            Op::Compare(c) => c.name(),
            Op::Select => "select",
            Op::Cast => "cast",
            Op::Reduce { op, .. } => op.name(),
            Op::Broadcast { .. } => "broadcast",
            Op::Reshape => "reshape",
            Op::Transpose { .. } => "transpose",
            Op::MatMul => "matmul",
            Op::DimSize { .. } => "dim",
            Op::Slice { .. } => "slice",
            Op::Pad { .. } => "pad",
            Op::Concat { .. } => "concat",
            Op::Reverse { .. } => "reverse",
            Op::Gather => "gather",
            Op::ScatterAdd => "scatter_add",
            Op::Conv(_) => "conv",
            Op::ReduceWindow { op, .. } => op.window_name(),
            Op::Random { dist, .. } => dist.name(),
            Op::Scan(_) => "scan",
            Op::Get { .. } => "get",
        }
    }

    /// How many operands the op takes; `None` for `concat`, which takes
    /// one or more.
    pub fn arity(&self) -> Option<usize> {
        Some(match self {
            Op::Input { .. } | Op::Const { .. } | Op::Iota { .. } => 0,
            Op::Unary(_)
            | Op::Cast
            | Op::Reduce { .. }
            | Op::Broadcast { .. }
            | Op::Reshape
            | Op::Transpose { .. }
            | Op::DimSize { .. }
            | Op::Slice { .. }
            | Op::Pad { .. }
            | Op::Reverse { .. }
            | Op::ReduceWindow { .. }
            | Op::Random { .. }
            | Op::Get { .. } => 1,
            Op::Binary(_) | Op::Compare(_) | Op::MatMul | Op::Gather | Op::Conv(_) => 2,
            Op::Select | Op::ScatterAdd => 3,
            Op::Scan(s) => s.arity(),
            Op::Concat { .. } => return None,
        })
    }

    /// Whether `n` operands suit the op's [`Op::arity`].
    pub fn takes(&self, n: usize) -> bool {
        match self.arity() {
            Some(k) => n == k,
            None => n >= 1,
        }
    }

    /// Whether the result type follows from the operands alone; the others
    /// (const, iota, cast, broadcast, reshape, dim, random, get, input) need it
    /// declared.
    pub fn infers_type(&self) -> bool {
        !matches!(
            self,
            Op::Input { .. }
                | Op::Const { .. }
                | Op::Iota { .. }
                | Op::Cast
                | Op::Broadcast { .. }
                | Op::Reshape
                | Op::DimSize { .. }
                | Op::Random { .. }
                | Op::Get { .. }
        )
    }

    /// The result type of this op applied to `operands`, checked against
    /// `declared` when given. This is the single statement of each op's
    /// typing rule: the builder, the text parser and the verifier all use it.
    /// (`get` is checked against its producer by [`Graph::check_get`] as
    /// well, since its type comes from the producer's op.)
    ///
    /// [`Graph::check_get`]: super::Graph::check_get
    pub fn result_type(
        &self,
        operands: &[&TensorType],
        declared: Option<&TensorType>,
    ) -> Result<TensorType, String> {
        if !self.takes(operands.len()) {
            let want = match self.arity() {
                Some(k) => k.to_string(),
                None => "1 or more".into(),
            };
            return Err(format!(
                "{} takes {want} operand(s), got {}",
                self.name(),
                operands.len()
            ));
        }
        let need_declared = || {
            declared
                .cloned()
                .ok_or_else(|| format!("{} needs its result type written", self.name()))
        };
        let inferred = match self {
            Op::Input { .. } | Op::Const { .. } => need_declared()?,
            Op::Iota { axis } => {
                let t = need_declared()?;
                if *axis >= t.rank() {
                    return Err(format!("iota axis {axis} out of range for {t}"));
                }
                t
            }
            Op::Unary(u) => {
                let a = operands[0];
                if !a.dtype.is_float() && !matches!(u, UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign)
                {
                    return Err(format!("{} needs a float operand, got {a}", u.name()));
                }
                a.clone()
            }
            Op::Binary(b) => {
                same_type(operands[0], operands[1], b.name())?;
                if operands[0].dtype == DType::Bool {
                    return Err(format!("{} is not defined on bool", b.name()));
                }
                operands[0].clone()
            }
            Op::Compare(c) => {
                same_type(operands[0], operands[1], c.name())?;
                operands[0].with_dtype(DType::Bool)
            }
            Op::Select => {
                let (c, a, b) = (operands[0], operands[1], operands[2]);
                if c.dtype != DType::Bool {
                    return Err(format!("select condition must be bool, got {c}"));
                }
                same_type(a, b, "select")?;
                if c.shape != a.shape {
                    return Err(format!(
                        "select condition {c} and values {a} differ in shape"
                    ));
                }
                a.clone()
            }
            Op::Cast => {
                let t = need_declared()?;
                if t.shape != operands[0].shape {
                    return Err(format!("cast changes shape {} to {}", operands[0], t));
                }
                t
            }
            Op::Reduce { axes, .. } => {
                let a = operands[0];
                check_axes(axes, a.rank())?;
                let dims = a
                    .shape
                    .dims()
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !axes.contains(i))
                    .map(|(_, d)| d.clone())
                    .collect();
                TensorType::new(a.dtype, Shape(dims))
            }
            Op::Broadcast { dims } => {
                let t = need_declared()?;
                let a = operands[0];
                if t.dtype != a.dtype {
                    return Err(format!(
                        "broadcast changes dtype {} to {}",
                        a.dtype, t.dtype
                    ));
                }
                if dims.len() != a.rank() {
                    return Err(format!(
                        "broadcast dims {dims:?} do not match operand rank {}",
                        a.rank()
                    ));
                }
                if dims.windows(2).any(|w| w[0] >= w[1]) || dims.iter().any(|&d| d >= t.rank()) {
                    return Err(format!(
                        "broadcast dims {dims:?} must increase and be below {}",
                        t.rank()
                    ));
                }
                for (i, &d) in dims.iter().enumerate() {
                    let (from, to) = (&a.shape.0[i], &t.shape.0[d]);
                    if from != to && *from != Dim::Fixed(1) {
                        return Err(format!("broadcast cannot stretch axis {i} of {a} to {to}"));
                    }
                }
                t
            }
            Op::Reshape => {
                let t = need_declared()?;
                let a = operands[0];
                if t.dtype != a.dtype {
                    return Err(format!("reshape changes dtype {} to {}", a.dtype, t.dtype));
                }
                if !same_element_count(&a.shape, &t.shape) {
                    return Err(format!("reshape of {a} to {t} changes the element count"));
                }
                t
            }
            Op::Transpose { perm } => {
                let a = operands[0];
                let mut seen = perm.clone();
                seen.sort_unstable();
                if seen != (0..a.rank()).collect::<Vec<_>>() {
                    return Err(format!(
                        "transpose perm {perm:?} is not a permutation of {}",
                        a.rank()
                    ));
                }
                let dims = perm.iter().map(|&p| a.shape.0[p].clone()).collect();
                TensorType::new(a.dtype, Shape(dims))
            }
            Op::MatMul => {
                let (a, b) = (operands[0], operands[1]);
                if a.dtype != b.dtype || !a.dtype.is_float() {
                    return Err(format!(
                        "matmul needs two float operands of one dtype, got {a} and {b}"
                    ));
                }
                if a.rank() < 2 || a.rank() != b.rank() {
                    return Err(format!(
                        "matmul needs operands of equal rank >= 2, got {a} and {b}"
                    ));
                }
                let r = a.rank();
                if a.shape.0[..r - 2] != b.shape.0[..r - 2] {
                    return Err(format!("matmul batch dims differ: {a} and {b}"));
                }
                if a.shape.0[r - 1] != b.shape.0[r - 2] {
                    return Err(format!(
                        "matmul contracts {} with {}: {a} and {b}",
                        a.shape.0[r - 1],
                        b.shape.0[r - 2]
                    ));
                }
                let mut dims = a.shape.0[..r - 1].to_vec();
                dims.push(b.shape.0[r - 1].clone());
                TensorType::new(a.dtype, Shape(dims))
            }
            Op::DimSize { axis } => {
                let t = need_declared()?;
                if *axis >= operands[0].rank() {
                    return Err(format!("dim axis {axis} out of range for {}", operands[0]));
                }
                if t.rank() != 0 || t.dtype == DType::Bool {
                    return Err(format!("dim must produce a numeric scalar, not {t}"));
                }
                t
            }
            Op::Slice {
                start,
                stop,
                stride,
            } => rules::slice(operands[0], start, stop, stride)?,
            Op::Pad {
                low,
                high,
                interior,
                ..
            } => rules::pad(operands[0], low, high, interior)?,
            Op::Concat { axis } => rules::concat(operands, *axis)?,
            Op::Reverse { axes } => {
                check_axes(axes, operands[0].rank())?;
                operands[0].clone()
            }
            Op::Gather => rules::gather(operands[0], operands[1])?,
            Op::ScatterAdd => rules::scatter_add(operands[0], operands[1], operands[2])?,
            Op::Conv(c) => rules::conv(operands[0], operands[1], c)?,
            Op::ReduceWindow { op, window } => rules::reduce_window(operands[0], *op, window)?,
            Op::Random { dist, .. } => rules::random(operands[0], *dist, need_declared()?)?,
            Op::Scan(s) => {
                s.result_types(operands)?;
                Scan::token()
            }
            Op::Get { .. } => need_declared()?,
        };
        if let Some(d) = declared {
            if *d != inferred {
                return Err(format!(
                    "{} produces {inferred}, but {d} is written",
                    self.name()
                ));
            }
        }
        Ok(inferred)
    }
}

fn same_type(a: &TensorType, b: &TensorType, op: &str) -> Result<(), String> {
    if a != b {
        return Err(format!("{op} needs operands of one type, got {a} and {b}"));
    }
    Ok(())
}

pub(crate) fn check_axes(axes: &[usize], rank: usize) -> Result<(), String> {
    if axes.windows(2).any(|w| w[0] >= w[1]) || axes.iter().any(|&a| a >= rank) {
        return Err(format!(
            "axes {axes:?} must be increasing and below rank {rank}"
        ));
    }
    Ok(())
}

/// Element counts agree: fixed parts multiply to the same number and the
/// symbols on each side are the same multiset.
fn same_element_count(a: &Shape, b: &Shape) -> bool {
    fn split(s: &Shape) -> (usize, Vec<&str>) {
        let mut n = 1usize;
        let mut syms = Vec::new();
        for d in s.dims() {
            match d {
                Dim::Fixed(k) => n = n.saturating_mul(*k),
                Dim::Sym(x) => syms.push(x.as_str()),
            }
        }
        syms.sort_unstable();
        (n, syms)
    }
    split(a) == split(b)
}
