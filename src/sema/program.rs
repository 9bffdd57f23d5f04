//! The checked program: every name resolved, every model instantiated with
//! its arguments into a flat list of layer applications whose shapes and
//! dtypes are known, every setting validated. This is what `lower` consumes
//! and what `dlc dump --stage checked` prints.

use crate::diag::Span;
use crate::ir::{ConvAttrs, TensorType, Window};

use super::data::DatasetSpec;
use super::init::Init;

/// Index of a node in [`Model::nodes`].
pub type NodeId = usize;

#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub datasets: Vec<DatasetSpec>,
    /// Every model that could be instantiated on its own (all parameters
    /// have defaults), with its defaults: what `dump` shows without a train.
    pub models: Vec<Model>,
    pub train: Option<Train>,
}

/// A model instantiated with concrete arguments: a flat SSA list of layers.
/// Blocks used inside it are inlined, their parameters named by path.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub name: String,
    pub inputs: Vec<(String, TensorType)>,
    pub params: Vec<Param>,
    /// Tensors the training step updates without gradients (batch norm's
    /// running statistics): `Role::State` inputs of the step graph with
    /// same-named outputs, saved in checkpoints, read by evaluation.
    pub states: Vec<StateVar>,
    pub nodes: Vec<LayerNode>,
    pub outputs: Vec<(String, NodeId)>,
    /// The scalar a train block minimizes, lowered as the output `loss`
    /// after the model's own outputs.
    pub loss: Option<NodeId>,
}

/// A trained tensor, named by its binding path (`mlp.h.weight`).
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub path: String,
    pub ty: TensorType,
    pub init: Init,
    pub fan_in: usize,
    pub fan_out: usize,
}

/// A non-trained tensor a layer carries across steps, named by path
/// (`mlp.bn.running_mean`) and filled with `fill` at the start of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct StateVar {
    pub path: String,
    pub ty: TensorType,
    pub fill: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LayerNode {
    pub layer: Layer,
    pub args: Vec<NodeId>,
    pub ty: TensorType,
    /// The binding path that produced the node (`mlp.h`), for dumps.
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Relu,
    Sigmoid,
    Tanh,
    Identity,
    /// `x` for x > 0, else `alpha * x`.
    LeakyRelu {
        alpha: f64,
    },
    /// `x` for x > 0, else `alpha * (exp(x) - 1)`.
    Elu {
        alpha: f64,
    },
    /// `log(1 + exp(x))`, computed without overflow.
    Softplus,
    /// `x * sigmoid(x)` (also called SiLU).
    Swish,
    /// GELU in its tanh form (PyTorch's `approximate="tanh"`, JAX's default).
    Gelu,
}

impl Activation {
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Identity => "identity",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Elu { .. } => "elu",
            Activation::Softplus => "softplus",
            Activation::Swish => "swish",
            Activation::Gelu => "gelu",
        }
    }

    /// The activation called `name`, with its default `alpha` where it has
    /// one (0.01 for leaky ReLU, 1 for ELU, as in PyTorch and Keras).
    pub fn by_name(name: &str) -> Option<Activation> {
        Some(match name {
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "identity" | "linear" => Activation::Identity,
            "leaky_relu" => Activation::LeakyRelu { alpha: 0.01 },
            "elu" => Activation::Elu { alpha: 1.0 },
            "softplus" => Activation::Softplus,
            "swish" | "silu" => Activation::Swish,
            "gelu" => Activation::Gelu,
            _ => return None,
        })
    }

    /// Every activation name a program may use.
    pub const NAMES: &'static [&'static str] = &[
        "relu",
        "sigmoid",
        "tanh",
        "identity",
        "leaky_relu",
        "elu",
        "softplus",
        "swish",
        "silu",
        "gelu",
    ];

    /// A copy with `alpha` replaced, for the activations that take one.
    pub fn with_alpha(self, alpha: f64) -> Option<Activation> {
        match self {
            Activation::LeakyRelu { .. } => Some(Activation::LeakyRelu { alpha }),
            Activation::Elu { .. } => Some(Activation::Elu { alpha }),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    /// Softmax cross-entropy from logits `[N, C]` and integer labels `[N]`.
    CrossEntropy,
    /// Binary cross-entropy from probabilities in (0, 1).
    BinaryCrossEntropy,
    /// Binary cross-entropy from logits (numerically stable).
    BinaryCrossEntropyLogits,
    MeanSquaredError,
    MeanAbsoluteError,
}

impl LossKind {
    pub fn name(self) -> &'static str {
        match self {
            LossKind::CrossEntropy => "cross_entropy",
            LossKind::BinaryCrossEntropy => "binary_cross_entropy",
            LossKind::BinaryCrossEntropyLogits => "binary_cross_entropy_logits",
            LossKind::MeanSquaredError => "mse",
            LossKind::MeanAbsoluteError => "mae",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// Model input `i` (index into `Model::inputs`).
    Input(usize),
    /// A scalar constant written in the program.
    Const(f64),
    /// `x · W + b` over the last axis; `W: [in, out]`.
    Dense {
        weight: usize,
        bias: Option<usize>,
    },
    Activation(Activation),
    Softmax {
        axis: usize,
    },
    LogSoftmax {
        axis: usize,
    },
    /// `[N, a, b, ...] -> [N, a*b*...]`
    Flatten,
    /// Normalizes over the last axis to zero mean and unit variance, then
    /// scales and shifts by per-feature parameters (`weight`, `bias`).
    LayerNorm {
        weight: Option<usize>,
        bias: Option<usize>,
        eps: f64,
    },
    /// Rows of `weight` (`[vocab, dim]`) picked by integer indices.
    Embedding {
        weight: usize,
    },
    /// Convolution over the spatial axes of `[N, C, ...]`; weight
    /// `[F, C/groups, k...]`, bias `[F]`.
    Conv {
        weight: usize,
        bias: Option<usize>,
        attrs: ConvAttrs,
    },
    /// The transposed convolution (PyTorch's `ConvTranspose2d`) over
    /// `[N, C, H, W]`; weight `[C, F, k, k]` as PyTorch lays it out, bias
    /// `[F]`. `attrs` are those of the equivalent `conv` (stride as input
    /// dilation, padding `k - 1 - padding` plus `output_padding` after), which
    /// runs on the weight transposed to `[F, C, k, k]` and flipped spatially.
    /// A padding beyond `k - 1` is not a conv padding: `attrs` pad as for
    /// `k - 1`, and the lowering crops the output to this node's type, as
    /// much at each end.
    ConvTranspose {
        weight: usize,
        bias: Option<usize>,
        attrs: ConvAttrs,
    },
    /// Inverted dropout in train mode: each element kept with probability
    /// `1 - rate` and scaled by `1 / (1 - rate)`, from `random_uniform` on
    /// the step's key and this layer's own `stream`; the identity in eval.
    Dropout {
        rate: f64,
        stream: u64,
    },
    /// Batch normalization over every axis but 1 (the feature or channel
    /// axis), as PyTorch's `BatchNorm1d/2d`: batch statistics in train mode
    /// (and an update of the running ones), running statistics in eval.
    /// `running` indexes [`Model::states`]: the mean, then the variance.
    BatchNorm {
        weight: Option<usize>,
        bias: Option<usize>,
        running: usize,
        momentum: f64,
        eps: f64,
    },
    /// Max or average pooling (the average counts padding, as PyTorch's
    /// default does); `window` has one entry per axis.
    Pool {
        max: bool,
        window: Window,
    },
    /// The mean over every spatial axis: `[N, C, ...] -> [N, C]`.
    GlobalAvgPool,
    /// Same elements, the node's shape (`unsqueeze`).
    Reshape,
    /// The sum (or mean) over one axis, which disappears: `sum(x, axis: -1)`
    /// is a row of dot products when `x` is a product of two embeddings.
    Reduce {
        mean: bool,
        axis: usize,
    },
    /// A new axis at `axis` whose every slice is `x` (`repeat(x, 6, axis:
    /// 1)`): the one explicit broadcast, since arithmetic never broadcasts.
    Repeat {
        axis: usize,
    },
    /// The tanh RNN over `[N, T, F]` (`sema::layers::recurrent`): `w_ih: [F, H]`,
    /// `w_hh: [H, H]`, `bias: [H]`; every step's state `[N, T, H]` when
    /// `sequences`, else the last `[N, H]`.
    Rnn {
        w_ih: usize,
        w_hh: usize,
        bias: usize,
        sequences: bool,
    },
    /// The LSTM, gates `i, f, g, o` packed along the `4H` axis of `w_ih:
    /// [F, 4H]`, `w_hh: [H, 4H]`, `bias: [4H]`; outputs as for `Rnn`.
    Lstm {
        w_ih: usize,
        w_hh: usize,
        bias: usize,
        sequences: bool,
    },
    /// The GRU, gates `r, z, n` packed along `3H`, with PyTorch's two
    /// biases (the reset gate scales the hidden part with its bias).
    Gru {
        w_ih: usize,
        w_hh: usize,
        b_ih: usize,
        b_hh: usize,
        sequences: bool,
    },
    /// Scaled dot-product attention, `softmax(q kᵀ / sqrt(d)) v`, of
    /// `[q, k, v]` or `[q, k, v, mask]`: `q: [N, ..., Tq, D]`,
    /// `k: [N, ..., Tk, D]`, `v: [N, ..., Tk, Dv]`, a bool key mask
    /// `[N, Tk]` (true = attend). With `heads > 1` (rank 3 only) the
    /// features split into `heads` groups attended separately (`d = D /
    /// heads`) and concatenated back. Masked logits become
    /// [`crate::passes::lower::MASKED_LOGIT`].
    Attention {
        heads: usize,
        causal: bool,
        masked: bool,
    },
    /// A learned `[M, D]` array (`weight`) broadcast over the batch of the
    /// argument, which supplies only `N`: `[N, M, D]` (Perceiver's latents).
    Latents {
        weight: usize,
    },
    /// Adds position encodings to `[N, T, D]`: a learned `[T, D]` table, or
    /// with `None` the sinusoidal one of "Attention Is All You Need".
    PositionalEncoding {
        weight: Option<usize>,
    },
    /// Elementwise arithmetic; a scalar operand is broadcast.
    Arith(ArithOp),
    Neg,
    /// `[prediction, target]` to a scalar mean loss.
    Loss(LossKind),
}

/// What a trained model's metrics compare: a prediction output against a
/// target field, read off the loss when it is a single loss call.
#[derive(Clone, Debug, PartialEq)]
pub struct Head {
    pub prediction: String,
    pub target: String,
    pub loss: LossKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Loss,
    Accuracy,
    Mae,
    Mse,
    Rmse,
    /// The held-out cross-entropy (nats per token) of a bigram model
    /// fitted on the training part, with add-one smoothing: the baseline a
    /// sequence model must beat (`runtime::bigram`).
    BigramLoss,
    /// The MSE of the persistence forecast on `windows` data: `y` predicted
    /// by the last step of `x` (next year = this year), the baseline a
    /// forecaster must beat. It does not depend on the model.
    PersistenceMse,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Loss => "loss",
            Metric::Accuracy => "accuracy",
            Metric::Mae => "mae",
            Metric::Mse => "mse",
            Metric::Rmse => "rmse",
            Metric::BigramLoss => "bigram_loss",
            Metric::PersistenceMse => "persistence_mse",
        }
    }
    pub const ALL: [Metric; 7] = [
        Metric::Loss,
        Metric::Accuracy,
        Metric::Mae,
        Metric::Mse,
        Metric::Rmse,
        Metric::BigramLoss,
        Metric::PersistenceMse,
    ];
}

/// A data set part: `digits.train` is `{ dataset: 0, part: Some("train") }`.
#[derive(Clone, Debug, PartialEq)]
pub struct DataRef {
    pub dataset: usize,
    pub part: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum OptimizerKind {
    Sgd {
        momentum: f64,
        nesterov: bool,
    },
    Adam {
        beta1: f64,
        beta2: f64,
        eps: f64,
        decoupled: bool,
    },
    RmsProp {
        alpha: f64,
        eps: f64,
        momentum: f64,
        centered: bool,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerSpec {
    /// As written: `sgd`, `adam`, `adamw`, `rmsprop`.
    pub name: String,
    pub kind: OptimizerKind,
    pub lr: f64,
    pub weight_decay: f64,
}

/// How the learning rate moves over epochs; evaluated by the runtime and fed
/// to the compiled step as an input, so it never recompiles.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    Constant,
    /// Multiply by `gamma` every `every` epochs.
    Step {
        every: usize,
        gamma: f64,
    },
    /// Multiply by `gamma` each epoch.
    Exponential {
        gamma: f64,
    },
    /// Linear warm-up over `warmup` epochs, then cosine decay to `min_lr`.
    Cosine {
        warmup: usize,
        min_lr: f64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Evaluate {
    pub data: DataRef,
    pub metrics: Vec<Metric>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Train {
    /// The model with the training extras: target fields as inputs after the
    /// model's own, and a final `loss` output.
    pub model: Model,
    pub data: DataRef,
    /// Which model inputs come from which data field (input name = field).
    pub targets: Vec<String>,
    pub head: Option<Head>,
    pub optimizer: OptimizerSpec,
    pub schedule: Schedule,
    pub epochs: usize,
    pub batch: usize,
    pub shuffle: bool,
    pub seed: u64,
    pub evaluate: Vec<Evaluate>,
    pub save: Option<String>,
    /// Text generated after training, in order.
    pub samples: Vec<Sample>,
    /// Nearest-neighbour lists printed after training, in order.
    pub nearest: Vec<Nearest>,
}

/// `sample 400 from "HAMLET." temperature: 0.8`, checked: the model maps
/// token ids `input: i32[N, context]` to logits `output: [N, context,
/// vocab]`; generation feeds it the last `context` tokens and draws the next
/// from the last position's logits.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// How many tokens to generate (the prime not counted).
    pub length: usize,
    /// The text generation starts from (may be empty).
    pub prime: String,
    pub temperature: f64,
    pub input: String,
    pub output: String,
    pub context: usize,
}

/// `nearest center.weight: "king", "queen", count: 5`, checked: the rows of
/// `param` (`[vocab, dim]`, one row per token id) closest by cosine
/// similarity to each word's row.
#[derive(Clone, Debug, PartialEq)]
pub struct Nearest {
    /// The parameter's full path (`w2v.center.weight`).
    pub param: String,
    pub words: Vec<String>,
    pub count: usize,
}
