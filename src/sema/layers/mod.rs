//! The layer library as the checker sees it: each layer's argument list and
//! shape rule. Lowering to primitives is in `passes::lower`.

mod attention;
mod axes;
mod modal;
mod recurrent;
mod spatial;

use crate::diag::{Code, Diagnostic, Span};
use crate::ir::{DType, Dim, Shape, TensorType};
use crate::syntax::ast;

use super::args::{bind, ArgVal};
use super::builder::with_last;
use super::init::Init;
use super::model::{Elaborator, Frame};
use super::program::{Activation, Layer, LossKind, NodeId};
use super::value::{Spanned, Val};
use recurrent::Cell;

pub use modal::dropout_stream;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LayerFn {
    Dense,
    Act(Activation),
    Softmax,
    LogSoftmax,
    Flatten,
    LayerNorm,
    Embedding,
    /// Convolution over 1 or 2 spatial axes.
    Conv(usize),
    ConvTranspose2d,
    Dropout,
    BatchNorm,
    /// Pooling over 1 or 2 spatial axes; `true` for max.
    Pool(usize, bool),
    GlobalAvgPool,
    Unsqueeze,
    /// `sum` (false) or `mean` (true) over one axis.
    Reduce(bool),
    Repeat,
    Recurrent(Cell),
    Attention,
    MultiHeadAttention,
    CrossAttention,
    Latents,
    PositionalEncoding,
    Loss(LossKind),
}

/// Every callable layer and loss name, for hints.
pub const NAMES: &[&str] = &[
    "dense",
    "relu",
    "sigmoid",
    "tanh",
    "identity",
    "linear",
    "leaky_relu",
    "elu",
    "softplus",
    "swish",
    "silu",
    "gelu",
    "softmax",
    "log_softmax",
    "flatten",
    "layer_norm",
    "embedding",
    "conv1d",
    "conv2d",
    "conv_transpose2d",
    "dropout",
    "batch_norm",
    "max_pool1d",
    "max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "global_avg_pool",
    "unsqueeze",
    "sum",
    "mean",
    "repeat",
    "rnn",
    "lstm",
    "gru",
    "attention",
    "multi_head_attention",
    "cross_attention",
    "latents",
    "positional_encoding",
    "cross_entropy",
    "binary_cross_entropy",
    "bce",
    "binary_cross_entropy_logits",
    "bce_logits",
    "mse",
    "mae",
];

pub fn lookup(name: &str) -> Option<LayerFn> {
    Some(match name {
        "dense" => LayerFn::Dense,
        "softmax" => LayerFn::Softmax,
        "log_softmax" => LayerFn::LogSoftmax,
        "flatten" => LayerFn::Flatten,
        "layer_norm" => LayerFn::LayerNorm,
        "embedding" => LayerFn::Embedding,
        "conv1d" => LayerFn::Conv(1),
        "conv2d" => LayerFn::Conv(2),
        "conv_transpose2d" => LayerFn::ConvTranspose2d,
        "dropout" => LayerFn::Dropout,
        "batch_norm" => LayerFn::BatchNorm,
        "max_pool1d" => LayerFn::Pool(1, true),
        "max_pool2d" => LayerFn::Pool(2, true),
        "avg_pool1d" => LayerFn::Pool(1, false),
        "avg_pool2d" => LayerFn::Pool(2, false),
        "global_avg_pool" => LayerFn::GlobalAvgPool,
        "unsqueeze" => LayerFn::Unsqueeze,
        "sum" => LayerFn::Reduce(false),
        "mean" => LayerFn::Reduce(true),
        "repeat" => LayerFn::Repeat,
        "rnn" => LayerFn::Recurrent(Cell::Rnn),
        "lstm" => LayerFn::Recurrent(Cell::Lstm),
        "gru" => LayerFn::Recurrent(Cell::Gru),
        "attention" => LayerFn::Attention,
        "multi_head_attention" => LayerFn::MultiHeadAttention,
        "cross_attention" => LayerFn::CrossAttention,
        "latents" => LayerFn::Latents,
        "positional_encoding" => LayerFn::PositionalEncoding,
        "cross_entropy" => LayerFn::Loss(LossKind::CrossEntropy),
        "binary_cross_entropy" | "bce" => LayerFn::Loss(LossKind::BinaryCrossEntropy),
        "binary_cross_entropy_logits" | "bce_logits" => {
            LayerFn::Loss(LossKind::BinaryCrossEntropyLogits)
        }
        "mse" => LayerFn::Loss(LossKind::MeanSquaredError),
        "mae" => LayerFn::Loss(LossKind::MeanAbsoluteError),
        other => LayerFn::Act(Activation::by_name(other)?),
    })
}

/// Checks a layer call and adds its node(s).
pub fn apply(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    layer: LayerFn,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<Spanned, Diagnostic> {
    let name = call.callee.name.as_str();
    let id = match layer {
        LayerFn::Dense => {
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
            el.builder.activated(out, act, &path, span)?
        }
        LayerFn::Act(a) => {
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
                .node(Layer::Activation(a), vec![x], ty, &frame.binding, span)?
        }
        LayerFn::Softmax | LayerFn::LogSoftmax => {
            let b = bind(name, call.span, &["x", "axis"], 1, args)?;
            let x = float_tensor(el, frame, b.req("x")?, name, 1)?;
            let ty = el.builder.ty(x).clone();
            let axis = match b.get("axis") {
                Some(v) => axis_arg(v, ty.rank())?,
                None => ty.rank() - 1,
            };
            let l = if layer == LayerFn::Softmax {
                Layer::Softmax { axis }
            } else {
                Layer::LogSoftmax { axis }
            };
            el.builder.node(l, vec![x], ty, &frame.binding, span)?
        }
        LayerFn::Flatten => {
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
                .node(Layer::Flatten, vec![x], out, &frame.binding, span)?
        }
        LayerFn::LayerNorm => {
            let b = bind(name, call.span, &["x", "eps", "affine"], 1, args)?;
            let xv = b.req("x")?;
            let x = float_tensor(el, frame, xv, name, 1)?;
            let eps = match b.get("eps") {
                Some(v) => {
                    let e = v.float()?;
                    if !(e > 0.0 && e.is_finite()) {
                        return Err(Diagnostic::new(
                            Code::BadValue,
                            format!("`eps` of `{name}` must be positive, got {e}"),
                        )
                        .at(v.span, "not positive")
                        .help("the usual value is 1e-5"));
                    }
                    e
                }
                None => 1e-5,
            };
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
            )?
        }
        LayerFn::Embedding => spatial::embedding(el, frame, call, args, span)?,
        LayerFn::Conv(d) => spatial::conv(el, frame, d, call, args, span)?,
        LayerFn::ConvTranspose2d => spatial::conv_transpose(el, frame, call, args, span)?,
        LayerFn::Dropout => modal::dropout(el, frame, call, args, span)?,
        LayerFn::BatchNorm => modal::batch_norm(el, frame, call, args, span)?,
        LayerFn::Pool(d, max) => spatial::pool(el, frame, d, max, call, args, span)?,
        LayerFn::GlobalAvgPool => spatial::global_avg_pool(el, frame, call, args, span)?,
        LayerFn::Unsqueeze => spatial::unsqueeze(el, frame, call, args, span)?,
        LayerFn::Reduce(mean) => axes::reduce(el, frame, mean, call, args, span)?,
        LayerFn::Repeat => axes::repeat(el, frame, call, args, span)?,
        LayerFn::Recurrent(cell) => recurrent::recurrent(el, frame, cell, call, args, span)?,
        LayerFn::Attention => attention::attention(el, frame, call, args, span)?,
        LayerFn::MultiHeadAttention => {
            attention::multi_head_attention(el, frame, call, args, span)?
        }
        LayerFn::CrossAttention => attention::cross_attention(el, frame, call, args, span)?,
        LayerFn::Latents => attention::latents(el, frame, call, args, span)?,
        LayerFn::PositionalEncoding => attention::positional_encoding(el, frame, call, args, span)?,
        LayerFn::Loss(kind) => loss(el, frame, kind, call, args, span)?,
    };
    Ok(Spanned::new(Val::Tensor(id), span))
}

fn loss(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    kind: LossKind,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let b = bind(name, call.span, &["prediction", "target"], 2, args)?;
    let (pv, tv) = (b.req("prediction")?, b.req("target")?);
    let p = float_tensor(el, frame, pv, name, 1)?;
    let t = el.tensor(frame, tv)?;
    let (pt, tt) = (el.builder.ty(p).clone(), el.builder.ty(t).clone());
    match kind {
        LossKind::CrossEntropy => {
            if pt.rank() < 2 {
                return Err(Diagnostic::new(
                    Code::RankMismatch,
                    format!("cross_entropy takes logits of shape [N, classes] (or [N, T, classes]), got {pt}"),
                )
                .at(pv.span, format!("this is {pt}")));
            }
            if tt.dtype != DType::I32 {
                return Err(Diagnostic::new(
                    Code::DTypeMismatch,
                    format!("cross_entropy takes integer class labels, got {tt}"),
                )
                .at(tv.span, format!("this is {tt}"))
                .help("load labels as integers, e.g. `csv(..., label: last)`; for 0/1 targets with one output use `bce`"));
            }
            // Classes are the last axis; one label per position before it
            // (`[N, T, V]` logits of a sequence model take `[N, T]` labels).
            let dims = pt.shape.dims();
            let want = TensorType::new(DType::I32, Shape(dims[..dims.len() - 1].to_vec()));
            if tt != want {
                return Err(super::shape::mismatch(
                    "cross_entropy pairs logits and labels of types",
                    &pt,
                    pv.span,
                    &tt,
                    tv.span,
                )
                .help(format!(
                    "the labels must have type {want}: one class index per row of logits"
                )));
            }
        }
        LossKind::BinaryCrossEntropy | LossKind::BinaryCrossEntropyLogits => {
            // Targets may be integer 0/1 labels `[N]` for a prediction `[N]`
            // or `[N, 1]`: the common case of one sigmoid output unit.
            let squeezed = pt.rank() == 2
                && pt.shape.dims()[1] == Dim::Fixed(1)
                && tt.rank() == 1
                && tt.shape.dims()[0] == pt.shape.dims()[0];
            if tt.shape != pt.shape && !squeezed {
                return Err(super::shape::mismatch(&format!("{name} compares prediction and target of types"), &pt, pv.span, &tt, tv.span)
                    .help("give one target per prediction: the shapes must match (a `[N]` target also fits a `[N, 1]` prediction)"));
            }
            if tt.dtype == DType::Bool {
                return Err(Diagnostic::new(
                    Code::DTypeMismatch,
                    format!("{name} takes numeric targets, got {tt}"),
                )
                .at(tv.span, format!("this is {tt}")));
            }
        }
        LossKind::MeanSquaredError | LossKind::MeanAbsoluteError => {
            if tt.shape != pt.shape {
                let mut d = super::shape::mismatch(
                    &format!("{name} compares prediction and target of types"),
                    &pt,
                    pv.span,
                    &tt,
                    tv.span,
                );
                // Integer labels one axis short of a float prediction are
                // class indices against class scores: the mistake is the
                // loss, not the shape of the data.
                let class_labels = tt.dtype == DType::I32
                    && pt.dtype.is_float()
                    && pt.rank() == tt.rank() + 1
                    && pt.shape.dims()[pt.rank() - 1] != Dim::Fixed(1);
                d = if class_labels {
                    d.help(format!("integer labels against class scores want `cross_entropy`, which takes one class index per row of scores; {name} compares a prediction with a float target of the same shape"))
                } else if pt.rank() == tt.rank() + 1 || tt.rank() == pt.rank() + 1 {
                    d.help("one side has an extra axis of size 1; dlc does not broadcast [N] against [N, 1] (it would compare every pair); load the target with the same shape as the prediction")
                } else {
                    d.help("the prediction and the target must have the same shape")
                };
                return Err(d);
            }
            if !tt.dtype.is_float() {
                return Err(Diagnostic::new(
                    Code::DTypeMismatch,
                    format!("{name} takes float targets, got {tt}"),
                )
                .at(tv.span, format!("this is {tt}")));
            }
        }
    }
    el.builder.node(
        Layer::Loss(kind),
        vec![p, t],
        TensorType::scalar(pt.dtype),
        &frame.binding,
        span,
    )
}

/// A float tensor argument of at least `min_rank` dimensions.
pub(super) fn float_tensor(
    el: &Elaborator<'_>,
    frame: &Frame,
    v: &Spanned,
    layer: &str,
    min_rank: usize,
) -> Result<NodeId, Diagnostic> {
    let id = el.tensor(frame, v)?;
    let ty = el.builder.ty(id);
    if !ty.dtype.is_float() {
        return Err(Diagnostic::new(
            Code::DTypeMismatch,
            format!("{layer} takes a float tensor, got {ty}"),
        )
        .at(v.span, format!("this is {ty}")));
    }
    if ty.rank() < min_rank {
        return Err(Diagnostic::new(
            Code::RankMismatch,
            format!("{layer} takes a tensor of at least {min_rank} dimensions, got {ty}"),
        )
        .at(v.span, format!("this is {ty}")));
    }
    Ok(id)
}

pub(super) fn activation(v: &Spanned) -> Result<Activation, Diagnostic> {
    let s = v.symbol()?;
    Activation::by_name(s).ok_or_else(|| {
        let d = Diagnostic::new(Code::BadValue, format!("unknown activation `{s}`"))
            .at(v.span, "not an activation");
        match crate::diag::did_you_mean(s, Activation::NAMES.iter().copied()) {
            Some(m) => d.help(format!("did you mean `{m}`?")),
            None => d.help(format!(
                "the activations are: {}",
                Activation::NAMES.join(", ")
            )),
        }
    })
}

pub(super) fn initializer(v: &Spanned) -> Result<Init, Diagnostic> {
    let s = v.symbol()?;
    Init::by_name(s).ok_or_else(|| {
        let d = Diagnostic::new(Code::BadValue, format!("unknown initializer `{s}`"))
            .at(v.span, "not an initializer");
        match crate::diag::did_you_mean(s, Init::NAMES.iter().copied()) {
            Some(m) => d.help(format!("did you mean `{m}`?")),
            None => d.help(format!("the initializers are: {}", Init::NAMES.join(", "))),
        }
    })
}

pub(super) fn axis_arg(v: &Spanned, rank: usize) -> Result<usize, Diagnostic> {
    let a = v.int()?;
    let r = rank as i64;
    if a >= r || a < -r {
        return Err(Diagnostic::new(
            Code::BadValue,
            format!("axis {a} is out of range for a tensor of {rank} dimensions"),
        )
        .at(v.span, "out of range"));
    }
    Ok(if a < 0 { (a + r) as usize } else { a as usize })
}
