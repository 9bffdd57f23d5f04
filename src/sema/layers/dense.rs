//! The dense family: `dense`, the activations, `softmax`/`log_softmax`,
//! `flatten` and `layer_norm`. Each layer's argument list and shape rule
//! (called by the checker) sit above its lowering to primitives (called by
//! `passes::lower`). Sigmoid and softmax are lowered in their stable forms
//! (sigmoid exponentiates only `-|x|`, softmax subtracts the row maximum),
//! so their gradients are finite for any finite input; the loss, attention
//! and recurrent families reuse them.

use crate::diag::{Code, Diagnostic, Span};
use crate::ir::{BinaryOp, CmpOp, Dim, Graph, ReduceOp, Shape, TensorType, UnaryOp, Value};
use crate::sema::args::{bind, ArgVal};
use crate::sema::builder::with_last;
use crate::sema::init::Init;
use crate::sema::model::{Elaborator, Frame};
use crate::sema::program::{Activation, Layer, NodeId};
use crate::syntax::ast;

use super::arguments::{activation, axis_arg, eps, float_tensor, initializer};

/// `dense(x, units, bias: true, activation, init)`: `x W + b` over the last
/// axis, with an optional activation after it.
pub(super) fn dense(
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
        &["x", "units", "bias", "activation", "init"],
        2,
        args,
    )?;
    let xv = b.req("x")?;
    let x = float_tensor(el, frame, xv, name, 2)?;
    let units = b.req("units")?.positive("the number of units")?;
    let bias = match b.get("bias") {
        Some(v) => v.bool()?,
        None => true,
    };
    let act = match b.get("activation") {
        Some(v) => Some(activation(v)?),
        None => None,
    };
    let init = match b.get("init") {
        Some(v) => initializer(v)?,
        None => Init::GlorotUniform,
    };
    let xt = el.builder.ty(x).clone();
    let fan_in = xt.shape.dims().last().and_then(Dim::fixed).ok_or_else(|| {
        Diagnostic::new(
            Code::BadDim,
            format!("dense needs a fixed feature size, got {xt}"),
        )
        .at(xv.span, "the last dimension is symbolic")
    })?;
    let path = frame.next_layer_path();
    let weight = el.builder.param(
        format!("{path}.weight"),
        TensorType::new(xt.dtype, Shape::fixed(&[fan_in, units])),
        init,
        (fan_in, units),
        span,
    )?;
    let bias = if bias {
        Some(el.builder.param(
            format!("{path}.bias"),
            TensorType::new(xt.dtype, Shape::fixed(&[units])),
            Init::Zeros,
            (fan_in, units),
            span,
        )?)
    } else {
        None
    };
    let out = el.builder.node(
        Layer::Dense { weight, bias },
        vec![x],
        with_last(&xt, units),
        &path,
        span,
    )?;
    el.builder.activated(out, act, &path, span)
}

/// An activation by name (`relu(x)`, `leaky_relu(x, alpha: 0.01)`), shape
/// preserving.
pub(super) fn activation_layer(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    a: Activation,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let params: &[&str] = match a.with_alpha(0.0) {
        Some(_) => &["x", "alpha"],
        None => &["x"],
    };
    let b = bind(name, call.span, params, 1, args)?;
    let x = float_tensor(el, frame, b.req("x")?, name, 0)?;
    let a = match b.get("alpha") {
        Some(v) => {
            let alpha = v.float()?;
            if !alpha.is_finite() {
                return Err(Diagnostic::new(
                    Code::BadValue,
                    format!("`alpha` of `{name}` must be finite"),
                )
                .at(v.span, "not finite"));
            }
            a.with_alpha(alpha)
                .expect("only activations with an alpha take one")
        }
        None => a,
    };
    let ty = el.builder.ty(x).clone();
    el.builder
        .node(Layer::Activation(a), vec![x], ty, &frame.binding, span)
}

/// `softmax(x, axis: -1)` and `log_softmax`, shape preserving.
pub(super) fn softmax_layer(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    log: bool,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let b = bind(name, call.span, &["x", "axis"], 1, args)?;
    let x = float_tensor(el, frame, b.req("x")?, name, 1)?;
    let ty = el.builder.ty(x).clone();
    let axis = match b.get("axis") {
        Some(v) => axis_arg(v, ty.rank())?,
        None => ty.rank() - 1,
    };
    let l = if log {
        Layer::LogSoftmax { axis }
    } else {
        Layer::Softmax { axis }
    };
    el.builder.node(l, vec![x], ty, &frame.binding, span)
}

/// `flatten(x)`: every axis after the batch into one.
pub(super) fn flatten(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let b = bind(name, call.span, &["x"], 1, args)?;
    let xv = b.req("x")?;
    let x = float_tensor(el, frame, xv, name, 2)?;
    let ty = el.builder.ty(x).clone();
    let mut rest = 1usize;
    for d in &ty.shape.dims()[1..] {
        let n = d.fixed().ok_or_else(|| {
            Diagnostic::new(
                Code::BadDim,
                format!("flatten needs fixed sizes after the batch, got {ty}"),
            )
            .at(xv.span, "a symbolic dimension after the first")
        })?;
        rest = rest.checked_mul(n).ok_or_else(|| {
            Diagnostic::new(Code::TooLarge, format!("flattening {ty} overflows"))
                .at(xv.span, "too large")
        })?;
    }
    let out = TensorType::new(
        ty.dtype,
        Shape(vec![ty.shape.dims()[0].clone(), Dim::Fixed(rest)]),
    );
    el.builder
        .node(Layer::Flatten, vec![x], out, &frame.binding, span)
}

/// `layer_norm(x, eps: 1e-5, affine: true)` over the last axis.
pub(super) fn layer_norm(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let b = bind(name, call.span, &["x", "eps", "affine"], 1, args)?;
    let xv = b.req("x")?;
    let x = float_tensor(el, frame, xv, name, 1)?;
    let eps = eps(name, b.get("eps"))?;
    let affine = match b.get("affine") {
        Some(v) => v.bool()?,
        None => true,
    };
    let ty = el.builder.ty(x).clone();
    let features = ty.shape.dims().last().and_then(Dim::fixed).ok_or_else(|| {
        Diagnostic::new(
            Code::BadDim,
            format!("layer_norm needs a fixed last dimension, got {ty}"),
        )
        .at(xv.span, "the last dimension is symbolic")
    })?;
    let (weight, bias) = if affine {
        let path = frame.next_layer_path();
        let pty = TensorType::new(ty.dtype, Shape::fixed(&[features]));
        let w = el.builder.param(
            format!("{path}.weight"),
            pty.clone(),
            Init::Ones,
            (features, features),
            span,
        )?;
        let b = el.builder.param(
            format!("{path}.bias"),
            pty,
            Init::Zeros,
            (features, features),
            span,
        )?;
        (Some(w), Some(b))
    } else {
        (None, None)
    };
    el.builder.node(
        Layer::LayerNorm { weight, bias, eps },
        vec![x],
        ty,
        &frame.binding,
        span,
    )
}

// Lowering: the layers above as primitives.

/// `x · W + b` over the last axis. Inputs of rank above 2 multiply by `W`
/// broadcast over their leading axes.
pub(crate) fn lower_dense(g: &mut Graph, x: Value, w: Value, b: Option<Value>) -> Value {
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

pub(crate) fn lower_activation(g: &mut Graph, a: Activation, x: Value) -> Value {
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
pub(crate) fn lower_layer_norm(
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
    let m = g.reduce(ReduceOp::Max, x, vec![axis]);
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
