//! The layer library, one module per family (`dense`, `loss`, `spatial`,
//! `axes`, `attention`, `recurrent`, `modal`). A family's file holds, for
//! each of its layers, the argument list and shape rule the checker calls
//! and, below them, the lowering to primitives that `passes::lower` calls,
//! so a layer is read and changed in one place. This file is the table of
//! names and the dispatch from a call to its family; `arguments.rs` holds
//! the argument checks the families share.

mod arguments;
pub(crate) mod attention;
pub(crate) mod axes;
pub(crate) mod dense;
pub(crate) mod loss;
pub(crate) mod modal;
pub mod recurrent;
pub(crate) mod spatial;

use crate::diag::{Diagnostic, Span};
use crate::syntax::ast;

use super::args::ArgVal;
use super::model::{Elaborator, Frame};
use super::program::{Activation, LossKind};
use super::value::{Spanned, Val};
use recurrent::Cell;

pub use attention::MASKED_LOGIT;
pub use loss::BCE_EPSILON;
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
    let id = match layer {
        LayerFn::Dense => dense::dense(el, frame, call, args, span)?,
        LayerFn::Act(a) => dense::activation_layer(el, frame, a, call, args, span)?,
        LayerFn::Softmax => dense::softmax_layer(el, frame, false, call, args, span)?,
        LayerFn::LogSoftmax => dense::softmax_layer(el, frame, true, call, args, span)?,
        LayerFn::Flatten => dense::flatten(el, frame, call, args, span)?,
        LayerFn::LayerNorm => dense::layer_norm(el, frame, call, args, span)?,
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
        LayerFn::Loss(kind) => loss::loss(el, frame, kind, call, args, span)?,
    };
    Ok(Spanned::new(Val::Tensor(id), span))
}
