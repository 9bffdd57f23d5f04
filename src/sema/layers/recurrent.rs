//! The recurrent layers `rnn`, `lstm` and `gru`: a sequence
//! `[N, T, F]` in, every step's hidden state `[N, T, H]`
//! (`return_sequences: true`, as in Keras) or the last one `[N, H]` (the
//! default) out. The argument list and shape rule come first, then the
//! lowering, one `scan` per layer.
//!
//! Parameters are named by path: `<path>.w_ih: [F, gates*H]`, `<path>.w_hh:
//! [H, gates*H]` and `<path>.bias: [gates*H]` (the GRU has `b_ih` and `b_hh`
//! instead). Every one starts from U(-1/sqrt(H), 1/sqrt(H)), as PyTorch
//! initializes its recurrent layers; `init:` names the weights' initializer
//! instead, and the biases then start at zero (Keras' choice).

use crate::diag::{Code, Diagnostic, Span};
use crate::ir::{Dim, Graph, Role, Scan, Shape, TensorType, UnaryOp, Value};
use crate::syntax::ast;

use super::arguments::{float_tensor, initializer};
use crate::sema::args::{bind, ArgVal};
use crate::sema::init::Init;
use crate::sema::model::{Elaborator, Frame};
use crate::sema::program::{Layer, NodeId};

/// Which recurrent cell a call names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    Rnn,
    Lstm,
    Gru,
}

impl Cell {
    /// Gates per hidden unit: the width of the packed weights is `gates * H`.
    fn gates(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
}

/// `rnn|lstm|gru(x, hidden, return_sequences: false, init:)`.
pub fn recurrent(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    cell: Cell,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let b = bind(
        name,
        call.span,
        &["x", "hidden", "return_sequences", "init"],
        2,
        args,
    )?;
    let xv = b.req("x")?;
    let x = float_tensor(el, frame, xv, name, 0).map_err(|d| {
        if d.code == Code::DTypeMismatch {
            d.help(format!(
                "token ids become vectors first: `{name}(embedding(x, vocab, dim), hidden)`"
            ))
        } else {
            d
        }
    })?;
    let xt = el.builder.ty(x).clone();
    if xt.rank() != 3 {
        let d = Diagnostic::new(
            Code::RankMismatch,
            format!("{name} takes a sequence [N, T, F] (batch, steps, features), got {xt}"),
        )
        .at(xv.span, format!("this is {xt}"));
        return Err(if xt.rank() == 2 {
            d.help("a series with one value per step needs a feature axis: `unsqueeze(x, axis: 2)`; `windows(...)` data is already [N, length, F]")
        } else if xt.rank() > 3 {
            d.help("flatten each step's features into one axis first")
        } else {
            d
        });
    }
    let features = xt.shape.dims()[2].fixed().ok_or_else(|| {
        Diagnostic::new(
            Code::BadDim,
            format!("{name} needs a fixed feature size, got {xt}"),
        )
        .at(xv.span, "the last dimension is symbolic")
    })?;
    let hidden = b.req("hidden")?.positive("the hidden size")?;
    let sequences = match b.get("return_sequences") {
        Some(v) => v.bool()?,
        None => false,
    };
    let too_large = |what: &str| {
        Diagnostic::new(
            Code::TooLarge,
            format!("the {what} of {name} with {hidden} hidden units overflow"),
        )
        .at(span, "too large")
    };
    let width = hidden
        .checked_mul(cell.gates())
        .ok_or_else(|| too_large("gates"))?;
    let (weight_init, bias_init) = match b.get("init") {
        Some(v) => (initializer(v)?, Init::Zeros),
        None => {
            let k = 1.0 / (hidden as f64).sqrt();
            let u = Init::Uniform { low: -k, high: k };
            (u.clone(), u)
        }
    };
    let path = frame.next_layer_path();
    let dtype = xt.dtype;
    let param = |el: &mut Elaborator<'_>, leaf: &str, dims: &[usize], init: &Init| {
        let fans = (dims[0], *dims.last().expect("a parameter has an axis"));
        el.builder.param(
            format!("{path}.{leaf}"),
            TensorType::new(dtype, Shape::fixed(dims)),
            init.clone(),
            fans,
            span,
        )
    };
    let w_ih = param(el, "w_ih", &[features, width], &weight_init)?;
    let w_hh = param(el, "w_hh", &[hidden, width], &weight_init)?;
    let layer = match cell {
        Cell::Rnn | Cell::Lstm => {
            let bias = param(el, "bias", &[width], &bias_init)?;
            if cell == Cell::Rnn {
                Layer::Rnn {
                    w_ih,
                    w_hh,
                    bias,
                    sequences,
                }
            } else {
                Layer::Lstm {
                    w_ih,
                    w_hh,
                    bias,
                    sequences,
                }
            }
        }
        Cell::Gru => {
            let b_ih = param(el, "b_ih", &[width], &bias_init)?;
            let b_hh = param(el, "b_hh", &[width], &bias_init)?;
            Layer::Gru {
                w_ih,
                w_hh,
                b_ih,
                b_hh,
                sequences,
            }
        }
    };
    let n = xt.shape.dims()[0].clone();
    let dims = if sequences {
        vec![n, xt.shape.dims()[1].clone(), Dim::Fixed(hidden)]
    } else {
        vec![n, Dim::Fixed(hidden)]
    };
    el.builder.node(
        layer,
        vec![x],
        TensorType::new(dtype, Shape(dims)),
        &path,
        span,
    )
}

// Lowering: Recurrent layers lowered to one `scan` each: the Elman RNN, the LSTM and
// the GRU over a batch-major sequence `x: [N, T, F]`, returning every
// step's hidden state `[N, T, H]` or the last one `[N, H]`. The cell is the
// scan's body, built once whatever `T` is; backpropagation through time is
// the scan's VJP.
//
// The gate equations are PyTorch's (`torch.nn.RNN`, `LSTM`, `GRU`, gates in
// its order), with weights laid out as dlc's dense layers are (`x W`, so
// `w_ih` is the transpose of PyTorch's `weight_ih_l0`):
//
// - RNN: `h' = tanh(x W_ih + h W_hh + b)`.
// - LSTM, gates `i, f, g, o` along the `4H` axis:
//   `i = σ(·), f = σ(·), g = tanh(·), o = σ(·)` of `x W_ih + h W_hh + b`,
//   `c' = f c + i g`, `h' = o tanh(c')`. PyTorch's two biases only ever
//   appear summed, so there is one `b` (`bias_ih + bias_hh`).
// - GRU, gates `r, z, n` along the `3H` axis, with both biases because
//   the reset gate multiplies the hidden part including its bias:
//   `r = σ(x W_ir + b_ir + h W_hr + b_hr)`, `z` likewise,
//   `n = tanh(x W_in + b_in + r (h W_hn + b_hn))`, `h' = (1 - z) n + z h`.
//
// The input projection `x W_ih (+ b)` does not depend on the state, so it
// is one batched matmul over all steps, outside the loop; the body only
// multiplies by `W_hh`. Initial states are zero unless given.
//
// The loop runs time-major: `x` is transposed to `[T, N, F]` once, so each
// step's slice of the projection, each saved state and each per-step
// gradient is one contiguous block (batch-major, every step would gather
// and scatter `N` rows of each sequence), and a stacked output is
// transposed back to `[N, T, H]`.

/// An Elman RNN layer's weights: `w_ih: [F, H]`, `w_hh: [H, H]`, `bias: [H]`.
pub struct RnnWeights {
    pub w_ih: Value,
    pub w_hh: Value,
    pub bias: Value,
}

/// An LSTM layer's weights: `w_ih: [F, 4H]`, `w_hh: [H, 4H]`, `bias: [4H]`,
/// gates `i, f, g, o`.
pub struct LstmWeights {
    pub w_ih: Value,
    pub w_hh: Value,
    pub bias: Value,
}

/// A GRU layer's weights: `w_ih: [F, 3H]`, `w_hh: [H, 3H]`, `b_ih, b_hh:
/// [3H]`, gates `r, z, n`.
pub struct GruWeights {
    pub w_ih: Value,
    pub w_hh: Value,
    pub b_ih: Value,
    pub b_hh: Value,
}

/// The tanh RNN over `x: [N, T, F]` from `h0` (zero when `None`); every
/// hidden state `[N, T, H]` with `return_sequences`, else the last `[N, H]`.
pub fn rnn(
    g: &mut Graph,
    x: Value,
    w: &RnnWeights,
    h0: Option<Value>,
    return_sequences: bool,
) -> Value {
    let gx = project(g, x, w.w_ih, Some(w.bias));
    let (n, hid, gates) = sizes(g, x, w.w_hh);
    let body = cell("rnn_cell", &n, hid, gates, g.ty(x).dtype, 1, &[], |b, a| {
        let hw = b.matmul(a.h[0], a.w_hh);
        let z = b.add(a.gx, hw);
        let h = b.unary(UnaryOp::Tanh, z);
        vec![h]
    });
    let h0 = h0.unwrap_or_else(|| zeros(g, x, hid));
    run(g, body, vec![h0], gx, vec![w.w_hh], return_sequences)
}

/// The LSTM over `x: [N, T, F]` from `(h0, c0)` (zero when `None`); every
/// hidden state `h` `[N, T, H]` with `return_sequences`, else the last.
pub fn lstm(
    g: &mut Graph,
    x: Value,
    w: &LstmWeights,
    init: Option<(Value, Value)>,
    return_sequences: bool,
) -> Value {
    let gx = project(g, x, w.w_ih, Some(w.bias));
    let (n, hid, gates) = sizes(g, x, w.w_hh);
    let body = cell(
        "lstm_cell",
        &n,
        hid,
        gates,
        g.ty(x).dtype,
        2,
        &[],
        |b, a| {
            let (h, c) = (a.h[0], a.h[1]);
            let hw = b.matmul(h, a.w_hh);
            let z = b.add(a.gx, hw);
            let i = chunk(b, z, 0, 4);
            let f = chunk(b, z, 1, 4);
            let gg = chunk(b, z, 2, 4);
            let o = chunk(b, z, 3, 4);
            let (i, f, o) = (gate(b, i), gate(b, f), gate(b, o));
            let gg = b.unary(UnaryOp::Tanh, gg);
            let fc = b.mul(f, c);
            let ig = b.mul(i, gg);
            let c2 = b.add(fc, ig);
            let tc = b.unary(UnaryOp::Tanh, c2);
            let h2 = b.mul(o, tc);
            vec![h2, c2]
        },
    );
    let (h0, c0) = init.unwrap_or_else(|| (zeros(g, x, hid), zeros(g, x, hid)));
    run(g, body, vec![h0, c0], gx, vec![w.w_hh], return_sequences)
}

/// An LSTM or GRU gate's sigmoid as `(1 + tanh(x/2)) / 2`: a chain of one-use
/// elementwise ops that fuses into the kernel consuming the gate, where
/// [`sigmoid`](super::dense::sigmoid)'s stable form (a sign mask, `exp` and `recip` each read
/// twice) left eleven kernels per forward step and more in the reverse
/// scan. It saturates to exactly 0 and 1 and its gradient `(1 - t²)/4` is
/// finite everywhere; it loses the relative precision of outputs below
/// about 1e-7, which a gate scaling a state does not need.
fn gate(g: &mut Graph, x: Value) -> Value {
    let half = g.scale(x, 0.5);
    let t = g.unary(UnaryOp::Tanh, half);
    let one = g.constant_like(1.0, x);
    let s = g.add(one, t);
    g.scale(s, 0.5)
}

/// The GRU over `x: [N, T, F]` from `h0` (zero when `None`); every hidden
/// state `[N, T, H]` with `return_sequences`, else the last `[N, H]`.
pub fn gru(
    g: &mut Graph,
    x: Value,
    w: &GruWeights,
    h0: Option<Value>,
    return_sequences: bool,
) -> Value {
    let gx = project(g, x, w.w_ih, Some(w.b_ih));
    let (n, hid, gates) = sizes(g, x, w.w_hh);
    let b_hh = g.ty(w.b_hh).clone();
    let body = cell(
        "gru_cell",
        &n,
        hid,
        gates,
        g.ty(x).dtype,
        1,
        &[b_hh],
        |b, a| {
            let h = a.h[0];
            let hw = b.matmul(h, a.w_hh);
            let bias = b.broadcast_trailing(a.extra[0], b.ty(hw).shape.clone());
            let gh = b.add(hw, bias);
            let part = |b: &mut Graph, k: usize| {
                let x = chunk(b, a.gx, k, 3);
                let h = chunk(b, gh, k, 3);
                (x, h)
            };
            let (xr, hr) = part(b, 0);
            let (xz, hz) = part(b, 1);
            let (xn, hn) = part(b, 2);
            let r = b.add(xr, hr);
            let r = gate(b, r);
            let z = b.add(xz, hz);
            let z = gate(b, z);
            let rh = b.mul(r, hn);
            let n = b.add(xn, rh);
            let n = b.unary(UnaryOp::Tanh, n);
            let hmn = b.sub(h, n);
            let zh = b.mul(z, hmn);
            vec![b.add(n, zh)]
        },
    );
    let h0 = h0.unwrap_or_else(|| zeros(g, x, hid));
    run(
        g,
        body,
        vec![h0],
        gx,
        vec![w.w_hh, w.b_hh],
        return_sequences,
    )
}

/// `x W (+ b)` for every step at once, time-major: `[N, T, F] x [F, G] ->
/// [T, N, G]`, a batched matmul with `W` broadcast over time.
fn project(g: &mut Graph, x: Value, w: Value, b: Option<Value>) -> Value {
    let rank = g.ty(x).rank();
    assert_eq!(
        rank,
        3,
        "internal: a recurrent layer takes [N, T, F], got {}",
        g.ty(x)
    );
    let x = g.transpose(x, vec![1, 0, 2]);
    let xt = g.ty(x).clone();
    let wt = g.ty(w).clone();
    let n = xt.shape.0[0].clone();
    let wb = g.broadcast_to(
        w,
        Shape(vec![n, wt.shape.0[0].clone(), wt.shape.0[1].clone()]),
        vec![1, 2],
    );
    let y = g.matmul(x, wb);
    match b {
        Some(b) => {
            let shape = g.ty(y).shape.clone();
            let bb = g.broadcast_trailing(b, shape);
            g.add(y, bb)
        }
        None => y,
    }
}

/// The batch dimension of `x`, the hidden size `H` and the gate width `G`
/// from `w_hh: [H, G]`.
fn sizes(g: &Graph, x: Value, w_hh: Value) -> (Dim, usize, usize) {
    let fixed = |d: &Dim| {
        d.fixed()
            .unwrap_or_else(|| panic!("internal: recurrent weights have fixed sizes, not {d}"))
    };
    let w = &g.ty(w_hh).shape.0;
    (g.ty(x).shape.0[0].clone(), fixed(&w[0]), fixed(&w[1]))
}

/// A zero state `[N, H]` of `x`'s dtype.
fn zeros(g: &mut Graph, x: Value, hid: usize) -> Value {
    let t = g.ty(x);
    let ty = TensorType::new(t.dtype, Shape(vec![t.shape.0[0].clone(), Dim::Fixed(hid)]));
    g.constant(0.0, ty)
}

/// The body's inputs, by role.
struct CellArgs {
    /// The carried states (`h`, or `h, c`).
    h: Vec<Value>,
    /// This step's input projection `[N, G]`.
    gx: Value,
    w_hh: Value,
    /// Further invariants after `w_hh`.
    extra: Vec<Value>,
}

/// A cell body: `states` carries `[n, hid]`, the step's projection
/// `[n, gates]`, `w_hh: [hid, gates]` and `extra` invariants in; the new
/// states (from `step`) out as carries, and the first one again as the
/// per-step output `y`.
#[allow(clippy::too_many_arguments)]
fn cell(
    name: &str,
    n: &Dim,
    hid: usize,
    gates: usize,
    dtype: crate::ir::DType,
    states: usize,
    extra: &[TensorType],
    step: impl FnOnce(&mut Graph, &CellArgs) -> Vec<Value>,
) -> Graph {
    let ty = |cols: usize| TensorType::new(dtype, Shape(vec![n.clone(), Dim::Fixed(cols)]));
    let mut b = Graph::new(name);
    let h: Vec<Value> = ["h", "c"][..states]
        .iter()
        .map(|s| b.input(*s, Role::Data, ty(hid)))
        .collect();
    let gx = b.input("gx", Role::Data, ty(gates));
    let w_hh = b.input(
        "w_hh",
        Role::Data,
        TensorType::new(dtype, Shape::fixed(&[hid, gates])),
    );
    let extra: Vec<Value> = extra
        .iter()
        .enumerate()
        .map(|(i, t)| b.input(format!("b{i}"), Role::Data, t.clone()))
        .collect();
    let args = CellArgs { h, gx, w_hh, extra };
    let new = step(&mut b, &args);
    for (s, &v) in ["h", "c"].iter().zip(&new) {
        b.output(*s, v);
    }
    b.output("y", new[0]);
    b
}

/// Runs `body` as a time-major scan over `gx: [T, N, G]`; the stacked `y`
/// as `[N, T, H]`, or the final `h`.
fn run(
    g: &mut Graph,
    body: Graph,
    init: Vec<Value>,
    gx: Value,
    invariants: Vec<Value>,
    return_sequences: bool,
) -> Value {
    let carries = init.len();
    let mut operands = init;
    operands.push(gx);
    operands.extend(invariants);
    let scan = Scan {
        body,
        carries,
        sequences: 1,
        axis: 0,
        reverse: false,
    };
    let r = g.scan(scan, &operands);
    if return_sequences {
        g.transpose(r[carries], vec![1, 0, 2])
    } else {
        r[0]
    }
}

/// Gate `k` of `parts` equal gates laid side by side along the last axis of
/// `z: [N, parts * H]`, as `[N, H]`.
fn chunk(g: &mut Graph, z: Value, k: usize, parts: usize) -> Value {
    let t = g.ty(z).clone();
    let axis = t.rank() - 1;
    let width = t.shape.0[axis]
        .fixed()
        .expect("internal: gate width is fixed");
    let h = width / parts;
    g.slice_axis(z, axis, k * h, (k + 1) * h)
}
