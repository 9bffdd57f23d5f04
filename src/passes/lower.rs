//! Layer lowering: a checked model becomes a graph of primitives. Inputs come
//! first (data, in the model's order), then one `param` input per parameter,
//! named by its path, then one `state` input per state tensor (batch norm's
//! running statistics), then, in train mode and only when the model has
//! dropout, the `hyper` input `key` (`i32[]`, the step's random key); the
//! model's outputs become the graph's outputs, followed in train mode by the
//! updated state tensors under their own names.
//!
//! The [`Mode`] says which graph to build: the training step's forward pass
//! (dropout drops, batch norm uses and updates batch statistics) or the
//! evaluation graph (dropout is the identity, batch norm uses the running
//! statistics). Models without such layers lower the same in both modes.
//!
//! Numerically delicate layers are lowered in their stable forms: softmax and
//! cross-entropy subtract the row maximum, sigmoid exponentiates only
//! `-|x|`, binary cross-entropy from logits uses
//! `max(z,0) - z*y + log(1 + exp(-|z|))`, and binary cross-entropy from
//! probabilities clamps them to [1e-7, 1 - 1e-7] as Keras does. Their
//! gradients (by `autodiff`) are finite for any finite input.

use crate::ir::{
    BinaryOp, CmpOp, DType, Dist, Graph, Op, ReduceOp, Role, Shape, TensorType, UnaryOp, Value,
};
use crate::passes::recurrent;
use crate::sema::program::{Activation, ArithOp, Layer, LossKind, Model};

mod attention;

pub use attention::MASKED_LOGIT;

/// The probability clamp for binary cross-entropy.
pub const BCE_EPSILON: f64 = 1e-7;

/// The name of the `hyper` input holding the step's random key.
pub const KEY: &str = "key";

/// Which graph [`lower`] builds: the forward pass of a training step, or the
/// graph evaluation and inference run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Train => "train",
            Mode::Eval => "eval",
        }
    }
}

/// Whether `model` lowers differently in train and eval mode.
pub fn has_modal_layers(model: &Model) -> bool {
    model
        .nodes
        .iter()
        .any(|n| matches!(n.layer, Layer::Dropout { .. } | Layer::BatchNorm { .. }))
}

/// Lowers `model` to a graph of primitives, for `mode`.
pub fn lower(model: &Model, mode: Mode) -> Graph {
    let mut g = Graph::new(&model.name);
    let inputs: Vec<Value> = model
        .inputs
        .iter()
        .map(|(name, ty)| g.input(name, Role::Data, ty.clone()))
        .collect();
    let params: Vec<Value> = model
        .params
        .iter()
        .map(|p| g.input(&p.path, Role::Param, p.ty.clone()))
        .collect();
    let states: Vec<Value> = model
        .states
        .iter()
        .map(|s| g.input(&s.path, Role::State, s.ty.clone()))
        .collect();
    let has_dropout = model
        .nodes
        .iter()
        .any(|n| matches!(n.layer, Layer::Dropout { rate, .. } if rate > 0.0));
    let key = (mode == Mode::Train && has_dropout)
        .then(|| g.input(KEY, Role::Hyper, TensorType::scalar(DType::I32)));
    // The updated state tensors, by index into `model.states`.
    let mut new_states: Vec<Option<Value>> = vec![None; states.len()];
    let mut vals: Vec<Value> = Vec::with_capacity(model.nodes.len());
    for node in &model.nodes {
        let arg = |i: usize| vals[node.args[i]];
        let v = match &node.layer {
            Layer::Input(i) => inputs[*i],
            Layer::Const(c) => g.constant(*c, node.ty.clone()),
            Layer::Dense { weight, bias } => {
                dense(&mut g, arg(0), params[*weight], bias.map(|b| params[b]))
            }
            Layer::Activation(a) => activation(&mut g, *a, arg(0)),
            Layer::Softmax { axis } => softmax(&mut g, arg(0), *axis, false),
            Layer::LogSoftmax { axis } => softmax(&mut g, arg(0), *axis, true),
            Layer::Flatten => g.reshape(arg(0), node.ty.shape.clone()),
            Layer::Embedding { weight } => g.gather(params[*weight], arg(0)),
            Layer::Conv {
                weight,
                bias,
                attrs,
            } => {
                let y = g.conv(arg(0), params[*weight], attrs.clone());
                match bias {
                    Some(b) => {
                        let shape = g.ty(y).shape.clone();
                        let bb = g.broadcast_to(params[*b], shape, vec![1]);
                        g.add(y, bb)
                    }
                    None => y,
                }
            }
            Layer::ConvTranspose {
                weight,
                bias,
                attrs,
            } => {
                // `[C, F, k, k]` to the `[F, C, k, k]` of a conv, flipped:
                // the transposed convolution is the conv of the
                // stride-dilated input with the mirrored kernel.
                let w = g.transpose(params[*weight], vec![1, 0, 2, 3]);
                let w = g.reverse(w, vec![2, 3]);
                let mut y = g.conv(arg(0), w, attrs.clone());
                // A padding beyond `kernel - 1` crops the rest equally
                // from both ends of each spatial axis (see `Layer`).
                for axis in 2..4 {
                    let have = g.ty(y).shape.dims()[axis].fixed();
                    let want = node.ty.shape.dims()[axis].fixed();
                    if let (Some(have), Some(want)) = (have, want) {
                        if have > want {
                            let crop = (have - want) / 2;
                            y = g.slice_axis(y, axis, crop, crop + want);
                        }
                    }
                }
                match bias {
                    Some(b) => {
                        let shape = g.ty(y).shape.clone();
                        let bb = g.broadcast_to(params[*b], shape, vec![1]);
                        g.add(y, bb)
                    }
                    None => y,
                }
            }
            Layer::Dropout { rate, stream } => match key {
                Some(key) if *rate > 0.0 => dropout(&mut g, arg(0), key, *rate, *stream),
                _ => arg(0),
            },
            Layer::BatchNorm {
                weight,
                bias,
                running,
                momentum,
                eps,
            } => {
                let bn = BatchNorm {
                    weight: weight.map(|w| params[w]),
                    bias: bias.map(|b| params[b]),
                    mean: states[*running],
                    var: states[*running + 1],
                    momentum: *momentum,
                    eps: *eps,
                };
                let (y, update) = batch_norm(&mut g, arg(0), &bn, mode);
                if let Some((m, v)) = update {
                    new_states[*running] = Some(m);
                    new_states[*running + 1] = Some(v);
                }
                y
            }
            Layer::Pool { max, window } => {
                if *max {
                    g.reduce_window(ReduceOp::Max, arg(0), window.clone())
                } else {
                    let s = g.reduce_window(ReduceOp::Sum, arg(0), window.clone());
                    let taps: usize = window.size.iter().product();
                    g.scale(s, 1.0 / taps as f64)
                }
            }
            Layer::GlobalAvgPool => {
                let r = g.ty(arg(0)).rank();
                g.mean(arg(0), (2..r).collect())
            }
            Layer::Reshape => g.reshape(arg(0), node.ty.shape.clone()),
            Layer::Reduce { mean: false, axis } => g.sum(arg(0), vec![*axis]),
            Layer::Reduce { mean: true, axis } => g.mean(arg(0), vec![*axis]),
            Layer::Repeat { axis } => {
                let shape = node.ty.shape.clone();
                let dims = (0..shape.rank()).filter(|i| i != axis).collect();
                g.broadcast_to(arg(0), shape, dims)
            }
            Layer::Rnn {
                w_ih,
                w_hh,
                bias,
                sequences,
            } => {
                let w = recurrent::RnnWeights {
                    w_ih: params[*w_ih],
                    w_hh: params[*w_hh],
                    bias: params[*bias],
                };
                recurrent::rnn(&mut g, arg(0), &w, None, *sequences)
            }
            Layer::Lstm {
                w_ih,
                w_hh,
                bias,
                sequences,
            } => {
                let w = recurrent::LstmWeights {
                    w_ih: params[*w_ih],
                    w_hh: params[*w_hh],
                    bias: params[*bias],
                };
                recurrent::lstm(&mut g, arg(0), &w, None, *sequences)
            }
            Layer::Gru {
                w_ih,
                w_hh,
                b_ih,
                b_hh,
                sequences,
            } => {
                let w = recurrent::GruWeights {
                    w_ih: params[*w_ih],
                    w_hh: params[*w_hh],
                    b_ih: params[*b_ih],
                    b_hh: params[*b_hh],
                };
                recurrent::gru(&mut g, arg(0), &w, None, *sequences)
            }
            Layer::Attention {
                heads,
                causal,
                masked,
            } => {
                let mask = masked.then(|| arg(3));
                attention::attention(&mut g, arg(0), arg(1), arg(2), mask, *heads, *causal)
            }
            Layer::Latents { weight } => {
                attention::latents(&mut g, params[*weight], node.ty.shape.clone())
            }
            Layer::PositionalEncoding { weight } => {
                attention::positional_encoding(&mut g, arg(0), weight.map(|w| params[w]))
            }
            Layer::LayerNorm { weight, bias, eps } => layer_norm(
                &mut g,
                arg(0),
                weight.map(|w| params[w]),
                bias.map(|b| params[b]),
                *eps,
            ),
            Layer::Neg => g.neg(arg(0)),
            Layer::Arith(op) => {
                let shape = node.ty.shape.clone();
                let a = g.broadcast_trailing(arg(0), shape.clone());
                let b = g.broadcast_trailing(arg(1), shape);
                let op = match op {
                    ArithOp::Add => BinaryOp::Add,
                    ArithOp::Sub => BinaryOp::Sub,
                    ArithOp::Mul => BinaryOp::Mul,
                    ArithOp::Div => BinaryOp::Div,
                };
                g.binary(op, a, b)
            }
            Layer::Loss(kind) => loss(&mut g, *kind, arg(0), arg(1)),
        };
        debug_assert_eq!(
            g.ty(v),
            &node.ty,
            "internal: lowering {:?} changed its type",
            node.layer
        );
        vals.push(v);
    }
    for (name, id) in &model.outputs {
        g.output(name, vals[*id]);
    }
    for (s, v) in model.states.iter().zip(new_states) {
        if let Some(v) = v {
            g.output(&s.path, v);
        }
    }
    g
}

/// Inverted dropout: `x / (1 - rate)` where a uniform draw is at least
/// `rate` (probability `1 - rate`), else 0.
fn dropout(g: &mut Graph, x: Value, key: Value, rate: f64, stream: u64) -> Value {
    let ty = g.ty(x).clone();
    let u = g.random(Dist::Uniform, key, stream, ty);
    let r = g.constant_like(rate, x);
    let keep = g.compare(CmpOp::Ge, u, r);
    let scaled = g.scale(x, 1.0 / (1.0 - rate));
    let zero = g.constant_like(0.0, x);
    g.select(keep, scaled, zero)
}

/// Batch norm's parameters and running statistics, as graph values.
struct BatchNorm {
    weight: Option<Value>,
    bias: Option<Value>,
    mean: Value,
    var: Value,
    momentum: f64,
    eps: f64,
}

/// Batch normalization over every axis but 1. In train mode: the batch's
/// mean and biased variance normalize, and the running statistics move
/// towards the mean and the unbiased variance (`sum / (m - 1)`, `m` the
/// elements per channel, at least 1 so one sample gives 0, not a NaN);
/// these updates are returned. In eval mode the running statistics
/// normalize and nothing is returned.
fn batch_norm(
    g: &mut Graph,
    x: Value,
    bn: &BatchNorm,
    mode: Mode,
) -> (Value, Option<(Value, Value)>) {
    let shape = g.ty(x).shape.clone();
    let axes: Vec<usize> = (0..shape.rank()).filter(|&a| a != 1).collect();
    let per_channel = |g: &mut Graph, v: Value| g.broadcast_to(v, shape.clone(), vec![1]);
    let (xc, var, update) = match mode {
        Mode::Train => {
            let mean = g.mean(x, axes.clone());
            let mb = g.broadcast_reduced(mean, shape.clone(), &axes);
            let xc = g.sub(x, mb);
            let sq = g.mul(xc, xc);
            let ss = g.sum(sq, axes.clone());
            let dtype = g.ty(x).dtype;
            let m = g.count(x, &axes, dtype);
            let cb = g.broadcast_to(m, g.ty(ss).shape.clone(), vec![]);
            let var = g.div(ss, cb);
            let one = g.constant_like(1.0, m);
            let m1 = g.sub(m, one);
            let m1 = g.binary(BinaryOp::Max, m1, one);
            let m1b = g.broadcast_to(m1, g.ty(ss).shape.clone(), vec![]);
            let unbiased = g.div(ss, m1b);
            let k = bn.momentum;
            let run = |g: &mut Graph, old: Value, new: Value| {
                let a = g.scale(old, 1.0 - k);
                let b = g.scale(new, k);
                g.add(a, b)
            };
            let new_mean = run(g, bn.mean, mean);
            let new_var = run(g, bn.var, unbiased);
            (xc, var, Some((new_mean, new_var)))
        }
        Mode::Eval => {
            let mb = per_channel(g, bn.mean);
            (g.sub(x, mb), bn.var, None)
        }
    };
    let e = g.constant_like(bn.eps, var);
    let ve = g.add(var, e);
    let sd = g.unary(UnaryOp::Sqrt, ve);
    let inv = g.unary(UnaryOp::Recip, sd);
    let ib = per_channel(g, inv);
    let mut y = g.mul(xc, ib);
    if let Some(w) = bn.weight {
        let wb = per_channel(g, w);
        y = g.mul(y, wb);
    }
    if let Some(b) = bn.bias {
        let bb = per_channel(g, b);
        y = g.add(y, bb);
    }
    (y, update)
}

/// `x · W + b` over the last axis. Inputs of rank above 2 multiply by `W`
/// broadcast over their leading axes.
fn dense(g: &mut Graph, x: Value, w: Value, b: Option<Value>) -> Value {
    let xt = g.ty(x).clone();
    let r = xt.rank();
    let w = if r == 2 {
        w
    } else {
        let mut dims = xt.shape.dims()[..r - 2].to_vec();
        dims.extend(g.ty(w).shape.dims().iter().cloned());
        g.broadcast_to(w, Shape(dims), vec![r - 2, r - 1])
    };
    let y = g.matmul(x, w);
    match b {
        Some(b) => {
            let shape = g.ty(y).shape.clone();
            let b = g.broadcast_to(b, shape, vec![r - 1]);
            g.add(y, b)
        }
        None => y,
    }
}

fn activation(g: &mut Graph, a: Activation, x: Value) -> Value {
    match a {
        // `max(0, x)`, not `max(x, 0)`: a tie gives the gradient to the
        // first operand, so relu'(0) = 0 as in PyTorch and JAX.
        Activation::Relu => {
            let zero = g.constant_like(0.0, x);
            g.binary(BinaryOp::Max, zero, x)
        }
        Activation::Sigmoid => sigmoid(g, x),
        Activation::Tanh => g.unary(UnaryOp::Tanh, x),
        Activation::Identity => x,
        Activation::LeakyRelu { alpha } => {
            // select(x > 0, x, αx): the slope at 0 is α, as in PyTorch.
            let zero = g.constant_like(0.0, x);
            let pos = g.compare(CmpOp::Gt, x, zero);
            let ax = g.scale(x, alpha);
            g.select(pos, x, ax)
        }
        Activation::Elu { alpha } => {
            // exp of min(x, 0), so the unused branch never overflows (an inf
            // there would turn its zero cotangent into NaN).
            let zero = g.constant_like(0.0, x);
            let pos = g.compare(CmpOp::Gt, x, zero);
            let neg = g.binary(BinaryOp::Min, x, zero);
            let e = g.unary(UnaryOp::Exp, neg);
            let one = g.constant_like(1.0, x);
            let em1 = g.sub(e, one);
            let a = g.scale(em1, alpha);
            g.select(pos, x, a)
        }
        Activation::Softplus => softplus(g, x),
        Activation::Swish => {
            let s = sigmoid(g, x);
            g.mul(x, s)
        }
        Activation::Gelu => {
            // 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))
            let x2 = g.mul(x, x);
            let x3 = g.mul(x2, x);
            let c = g.scale(x3, 0.044715);
            let inner = g.add(x, c);
            let k = (2.0 / std::f64::consts::PI).sqrt();
            let scaled = g.scale(inner, k);
            let t = g.unary(UnaryOp::Tanh, scaled);
            let one = g.constant_like(1.0, x);
            let onept = g.add(one, t);
            let half = g.scale(x, 0.5);
            g.mul(half, onept)
        }
    }
}

/// `1 / (1 + exp(-x))`, from `e = exp(-|x|)`, which never overflows:
/// `1 / (1 + e)` for x >= 0 and `e / (1 + e)` below. It saturates to exactly
/// 0 and 1, keeps the relative precision of tiny outputs, and its gradient
/// is finite everywhere (the direct form's is `0 * inf = NaN` once `exp(-x)`
/// overflows). `-|x|` is a select on the same condition, so at x = 0 the
/// taken branch has the true derivative 1/4 (`abs`'s would be 0).
pub(crate) fn sigmoid(g: &mut Graph, x: Value) -> Value {
    let zero = g.constant_like(0.0, x);
    let pos = g.compare(CmpOp::Ge, x, zero);
    let nx = g.neg(x);
    let m = g.select(pos, nx, x);
    let e = g.unary(UnaryOp::Exp, m);
    let one = g.constant_like(1.0, x);
    let d = g.add(one, e);
    let r = g.unary(UnaryOp::Recip, d);
    let er = g.mul(e, r);
    g.select(pos, r, er)
}

/// `log(1 + exp(x))` as `log(1 + exp(-|x|)) + (x + |x|)/2`: no overflow, and
/// the slope at 0 is exactly 1/2.
fn softplus(g: &mut Graph, x: Value) -> Value {
    let abs = g.unary(UnaryOp::Abs, x);
    let na = g.neg(abs);
    let e = g.unary(UnaryOp::Exp, na);
    let one = g.constant_like(1.0, x);
    let ope = g.add(one, e);
    let l = g.unary(UnaryOp::Log, ope);
    let s = g.add(x, abs);
    let relu = g.scale(s, 0.5);
    g.add(l, relu)
}

/// Layer normalization over the last axis.
fn layer_norm(
    g: &mut Graph,
    x: Value,
    weight: Option<Value>,
    bias: Option<Value>,
    eps: f64,
) -> Value {
    let shape = g.ty(x).shape.clone();
    let last = shape.rank() - 1;
    let mean = g.mean(x, vec![last]);
    let mb = g.broadcast_reduced(mean, shape.clone(), &[last]);
    let xc = g.sub(x, mb);
    let sq = g.mul(xc, xc);
    let var = g.mean(sq, vec![last]);
    let e = g.constant_like(eps, var);
    let ve = g.add(var, e);
    let sd = g.unary(UnaryOp::Sqrt, ve);
    let inv = g.unary(UnaryOp::Recip, sd);
    let ib = g.broadcast_reduced(inv, shape.clone(), &[last]);
    let mut y = g.mul(xc, ib);
    if let Some(w) = weight {
        let wb = g.broadcast_trailing(w, shape.clone());
        y = g.mul(y, wb);
    }
    if let Some(b) = bias {
        let bb = g.broadcast_trailing(b, shape);
        y = g.add(y, bb);
    }
    y
}

/// Softmax (or log-softmax) along `axis`, with the maximum subtracted first.
pub(crate) fn softmax(g: &mut Graph, x: Value, axis: usize, log: bool) -> Value {
    let shape = g.ty(x).shape.clone();
    let m = g.reduce(crate::ir::ReduceOp::Max, x, vec![axis]);
    let mb = g.broadcast_reduced(m, shape.clone(), &[axis]);
    let s = g.sub(x, mb);
    let e = g.unary(UnaryOp::Exp, s);
    let z = g.sum(e, vec![axis]);
    if log {
        let lz = g.unary(UnaryOp::Log, z);
        let lzb = g.broadcast_reduced(lz, shape, &[axis]);
        g.sub(s, lzb)
    } else {
        let zb = g.broadcast_reduced(z, shape, &[axis]);
        g.div(e, zb)
    }
}

/// The mean of all elements.
fn mean_all(g: &mut Graph, x: Value) -> Value {
    let axes = (0..g.ty(x).rank()).collect();
    g.mean(x, axes)
}

/// Brings a target to the prediction's float dtype and shape (`[N]` targets
/// for `[N, 1]` predictions are reshaped; sema allowed only that case).
fn align_target(g: &mut Graph, t: Value, like: Value) -> Value {
    let want = g.ty(like).clone();
    let t = if g.ty(t).dtype != want.dtype {
        g.cast(t, want.dtype)
    } else {
        t
    };
    if g.ty(t).shape != want.shape {
        g.reshape(t, want.shape)
    } else {
        t
    }
}

fn loss(g: &mut Graph, kind: LossKind, p: Value, t: Value) -> Value {
    match kind {
        LossKind::CrossEntropy => {
            // Classes on the last axis; the mean is over every position.
            let pt = g.ty(p).clone();
            let shape = pt.shape.clone();
            let last = shape.rank() - 1;
            let ls = softmax(g, p, last, true);
            let iota = g.push(
                Op::Iota { axis: last },
                &[],
                Some(TensorType::new(DType::I32, shape.clone())),
            );
            let labels = g.broadcast_to(t, shape, (0..last).collect());
            let hit = g.compare(CmpOp::Eq, iota, labels);
            let onehot = g.cast(hit, pt.dtype);
            let picked = g.mul(ls, onehot);
            let per_row = g.sum(picked, vec![last]);
            let m = mean_all(g, per_row);
            g.neg(m)
        }
        LossKind::BinaryCrossEntropy => {
            let y = align_target(g, t, p);
            let lo = g.constant_like(BCE_EPSILON, p);
            let hi = g.constant_like(1.0 - BCE_EPSILON, p);
            let pc = g.binary(BinaryOp::Max, p, lo);
            let pc = g.binary(BinaryOp::Min, pc, hi);
            let one = g.constant_like(1.0, p);
            let lp = g.unary(UnaryOp::Log, pc);
            let q = g.sub(one, pc);
            let lq = g.unary(UnaryOp::Log, q);
            let a = g.mul(y, lp);
            let ny = g.sub(one, y);
            let b = g.mul(ny, lq);
            let s = g.add(a, b);
            let m = mean_all(g, s);
            g.neg(m)
        }
        LossKind::BinaryCrossEntropyLogits => {
            let y = align_target(g, t, p);
            // `max(z, 0)` as `(z + |z|) / 2` (the same value): with
            // sign(0) = 0 its gradient at z = 0 is 1/2, and the two kinks
            // at 0 cancel, so the loss's gradient there is the true
            // sigmoid(0) - y rather than a one-sided 1 - y.
            let abs = g.unary(UnaryOp::Abs, p);
            let za = g.add(p, abs);
            let relu = g.scale(za, 0.5);
            let zy = g.mul(p, y);
            let na = g.neg(abs);
            let e = g.unary(UnaryOp::Exp, na);
            let one = g.constant_like(1.0, p);
            let ope = g.add(one, e);
            let sp = g.unary(UnaryOp::Log, ope);
            let a = g.sub(relu, zy);
            let s = g.add(a, sp);
            mean_all(g, s)
        }
        LossKind::MeanSquaredError => {
            let y = align_target(g, t, p);
            let d = g.sub(p, y);
            let sq = g.mul(d, d);
            mean_all(g, sq)
        }
        LossKind::MeanAbsoluteError => {
            let y = align_target(g, t, p);
            let d = g.sub(p, y);
            let a = g.unary(UnaryOp::Abs, d);
            mean_all(g, a)
        }
    }
}
