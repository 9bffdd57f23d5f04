//! The layers that behave differently when training and when
//! evaluating (see `passes::lower::Mode`): `dropout`, which draws a fresh
//! mask every step, and `batch_norm`, which normalizes with the batch's
//! statistics while training and with running statistics (state tensors the
//! training step updates) afterwards. Each layer's argument list and shape
//! rule sit above its lowering, which builds the train-mode or the eval-mode
//! form.

use crate::diag::{Code, Diagnostic, Span};
use crate::ir::{BinaryOp, CmpOp, Dist, Graph, Shape, TensorType, UnaryOp, Value};
use crate::syntax::ast;

use super::arguments::{eps, float_tensor};
use crate::sema::args::{bind, ArgVal};
use crate::sema::init::Init;
use crate::sema::model::{Elaborator, Frame};
use crate::sema::program::{Layer, NodeId};

/// The `stream` of a dropout layer: FNV-1a of its path, so two layers never
/// share a mask and a layer keeps its stream when others are added.
pub fn dropout_stream(path: &str) -> u64 {
    path.bytes().fold(0xcbf2_9ce4_8422_2325, |h: u64, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `dropout(x, rate: 0.5)`: same type out; `rate` in [0, 1).
pub fn dropout(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let b = bind(name, call.span, &["x", "rate"], 1, args)?;
    let x = float_tensor(el, frame, b.req("x")?, name, 0)?;
    let rate = match b.get("rate") {
        Some(v) => {
            let r = v.float()?;
            if !(0.0..1.0).contains(&r) {
                return Err(Diagnostic::new(
                    Code::BadValue,
                    format!("the `rate` of `{name}` must be at least 0 and below 1, got {r}"),
                )
                .at(v.span, "out of range")
                .help("the rate is the fraction of elements dropped; 0.1 to 0.5 is usual"));
            }
            r
        }
        None => 0.5,
    };
    let path = frame.next_layer_path();
    let ty = el.builder.ty(x).clone();
    el.builder.node(
        Layer::Dropout {
            rate,
            stream: dropout_stream(&path),
        },
        vec![x],
        ty,
        &path,
        span,
    )
}

/// `batch_norm(x, momentum: 0.1, eps: 1e-5, affine: true)` on `[N, F]` or
/// `[N, C, ...]`: parameters `weight`/`bias` and states
/// `running_mean`/`running_var` of the feature (channel) size.
pub fn batch_norm(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let b = bind(
        name,
        call.span,
        &["x", "momentum", "eps", "affine"],
        1,
        args,
    )?;
    let xv = b.req("x")?;
    let x = float_tensor(el, frame, xv, name, 2)?;
    let momentum = match b.get("momentum") {
        Some(v) => {
            let m = v.float()?;
            if !(0.0..=1.0).contains(&m) {
                return Err(Diagnostic::new(
                    Code::BadValue,
                    format!("the `momentum` of `{name}` must be between 0 and 1, got {m}"),
                )
                .at(v.span, "out of range")
                .help("it is the weight of each new batch in the running statistics; PyTorch's default is 0.1"));
            }
            m
        }
        None => 0.1,
    };
    let eps = eps(name, b.get("eps"))?;
    let affine = match b.get("affine") {
        Some(v) => v.bool()?,
        None => true,
    };
    let ty = el.builder.ty(x).clone();
    let features = ty.shape.dims()[1].fixed().ok_or_else(|| {
        Diagnostic::new(
            Code::BadDim,
            format!("batch_norm needs a fixed size on axis 1 (features or channels), got {ty}"),
        )
        .at(xv.span, "axis 1 is symbolic")
    })?;
    let path = frame.next_layer_path();
    let pty = TensorType::new(ty.dtype, Shape::fixed(&[features]));
    let (weight, bias) = if affine {
        let w = el.builder.param(
            format!("{path}.weight"),
            pty.clone(),
            Init::Ones,
            (features, features),
            span,
        )?;
        let b = el.builder.param(
            format!("{path}.bias"),
            pty.clone(),
            Init::Zeros,
            (features, features),
            span,
        )?;
        (Some(w), Some(b))
    } else {
        (None, None)
    };
    let running = el
        .builder
        .state(format!("{path}.running_mean"), pty.clone(), 0.0, span)?;
    el.builder
        .state(format!("{path}.running_var"), pty, 1.0, span)?;
    el.builder.node(
        Layer::BatchNorm {
            weight,
            bias,
            running,
            momentum,
            eps,
        },
        vec![x],
        ty,
        &path,
        span,
    )
}

// Lowering: the train-mode and eval-mode forms as primitives.

/// Inverted dropout: `x / (1 - rate)` where a uniform draw is at least
/// `rate` (probability `1 - rate`), else 0.
pub(crate) fn lower_dropout(g: &mut Graph, x: Value, key: Value, rate: f64, stream: u64) -> Value {
    let ty = g.ty(x).clone();
    let u = g.random(Dist::Uniform, key, stream, ty);
    let r = g.constant_like(rate, x);
    let keep = g.compare(CmpOp::Ge, u, r);
    let scaled = g.scale(x, 1.0 / (1.0 - rate));
    let zero = g.constant_like(0.0, x);
    g.select(keep, scaled, zero)
}

/// Batch norm's parameters and running statistics, as graph values.
pub(crate) struct BatchNorm {
    pub weight: Option<Value>,
    pub bias: Option<Value>,
    pub mean: Value,
    pub var: Value,
    pub momentum: f64,
    pub eps: f64,
}

/// Batch normalization over every axis but 1. With `train` (the training step's forward pass): the batch's
/// mean and biased variance normalize, and the running statistics move
/// towards the mean and the unbiased variance (`sum / (m - 1)`, `m` the
/// elements per channel, at least 1 so one sample gives 0, not a NaN);
/// these updates are returned. Otherwise (evaluation) the running statistics
/// normalize and nothing is returned.
pub(crate) fn lower_batch_norm(
    g: &mut Graph,
    x: Value,
    bn: &BatchNorm,
    train: bool,
) -> (Value, Option<(Value, Value)>) {
    let shape = g.ty(x).shape.clone();
    let axes: Vec<usize> = (0..shape.rank()).filter(|&a| a != 1).collect();
    let per_channel = |g: &mut Graph, v: Value| g.broadcast_to(v, shape.clone(), vec![1]);
    let (xc, var, update) = if train {
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
    } else {
        let mb = per_channel(g, bn.mean);
        (g.sub(x, mb), bn.var, None)
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
