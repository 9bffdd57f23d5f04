//! Layer lowering: a checked model becomes a graph of primitives. Inputs come
//! first (data, in the model's order), then one `param` input per parameter,
//! named by its path, then one `state` input per state tensor (batch norm's
//! running statistics), then, in train mode and only when the model has
//! dropout, the `hyper(key)` input `key` (`i32[]`, the step's random key); the
//! model's outputs become the graph's outputs, followed in train mode by the
//! updated state tensors under their own names.
//!
//! The [`Mode`] says which graph to build: the training step's forward pass
//! (dropout drops, batch norm uses and updates batch statistics) or the
//! evaluation graph (dropout is the identity, batch norm uses the running
//! statistics). Models without such layers lower the same in both modes.
//!
//! This file is the walk over the model and the dispatch: each layer's
//! lowering sits beside its shape rule in its family's file in
//! `sema::layers` (numerically delicate layers in their stable forms, whose
//! gradients are finite for any finite input), and the arm here passes it
//! the layer's arguments, parameters and state as graph values.

use std::ops::Range;

use crate::ir::{BinaryOp, DType, Graph, Hyper, OutputKind, Role, TensorType, Value};
use crate::sema::layers::{attention, axes, dense, loss, modal, recurrent, spatial};
use crate::sema::program::{ArithOp, Layer, Model};

pub use crate::sema::layers::{BCE_EPSILON, MASKED_LOGIT};

/// The name of the input holding the step's random key ([`Hyper::Key`]).
pub const KEY: &str = "key";

/// The name of the [`OutputKind::Loss`] output.
pub const LOSS: &str = "loss";

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
    lower_traced(model, mode).0
}

/// [`lower`], and for each of the model's nodes the graph nodes its
/// lowering built: a range of node indices, since a graph's node order is
/// its build order. `dlc summary` reads each layer's cost and parameters off
/// these nodes instead of estimating them per layer.
pub fn lower_traced(model: &Model, mode: Mode) -> (Graph, Vec<Range<usize>>) {
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
        .then(|| g.input(KEY, Role::Hyper(Hyper::Key), TensorType::scalar(DType::I32)));
    // The updated state tensors, by index into `model.states`.
    let mut new_states: Vec<Option<Value>> = vec![None; states.len()];
    let mut vals: Vec<Value> = Vec::with_capacity(model.nodes.len());
    let mut built = Vec::with_capacity(model.nodes.len());
    for node in &model.nodes {
        let first = g.dag.node_count();
        let arg = |i: usize| vals[node.args[i]];
        let v = match &node.layer {
            Layer::Input(i) => inputs[*i],
            Layer::Const(c) => g.constant(*c, node.ty.clone()),
            Layer::Dense { weight, bias } => {
                dense::lower_dense(&mut g, arg(0), params[*weight], bias.map(|b| params[b]))
            }
            Layer::Activation(a) => dense::lower_activation(&mut g, *a, arg(0)),
            Layer::Softmax { axis } => dense::softmax(&mut g, arg(0), *axis, false),
            Layer::LogSoftmax { axis } => dense::softmax(&mut g, arg(0), *axis, true),
            Layer::Flatten => g.reshape(arg(0), node.ty.shape.clone()),
            Layer::Embedding { weight } => g.gather(params[*weight], arg(0)),
            Layer::Conv {
                weight,
                bias,
                attrs,
            } => spatial::lower_conv(
                &mut g,
                arg(0),
                params[*weight],
                bias.map(|b| params[b]),
                attrs,
            ),
            Layer::ConvTranspose {
                weight,
                bias,
                attrs,
            } => spatial::lower_conv_transpose(
                &mut g,
                arg(0),
                params[*weight],
                bias.map(|b| params[b]),
                attrs,
                &node.ty,
            ),
            Layer::Dropout { rate, stream } => match key {
                Some(key) if *rate > 0.0 => {
                    modal::lower_dropout(&mut g, arg(0), key, *rate, *stream)
                }
                _ => arg(0),
            },
            Layer::BatchNorm {
                weight,
                bias,
                running,
                momentum,
                eps,
            } => {
                let bn = modal::BatchNorm {
                    weight: weight.map(|w| params[w]),
                    bias: bias.map(|b| params[b]),
                    mean: states[*running],
                    var: states[*running + 1],
                    momentum: *momentum,
                    eps: *eps,
                };
                let (y, update) = modal::lower_batch_norm(&mut g, arg(0), &bn, mode == Mode::Train);
                if let Some((m, v)) = update {
                    new_states[*running] = Some(m);
                    new_states[*running + 1] = Some(v);
                }
                y
            }
            Layer::Pool { max, window } => spatial::lower_pool(&mut g, arg(0), *max, window),
            Layer::GlobalAvgPool => spatial::lower_global_avg_pool(&mut g, arg(0)),
            Layer::Reshape => g.reshape(arg(0), node.ty.shape.clone()),
            Layer::Reduce { mean: false, axis } => g.sum(arg(0), vec![*axis]),
            Layer::Reduce { mean: true, axis } => g.mean(arg(0), vec![*axis]),
            Layer::Repeat { axis } => {
                axes::lower_repeat(&mut g, arg(0), node.ty.shape.clone(), *axis)
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
                attention::lower_attention(&mut g, arg(0), arg(1), arg(2), mask, *heads, *causal)
            }
            Layer::Latents { weight } => {
                attention::lower_latents(&mut g, params[*weight], node.ty.shape.clone())
            }
            Layer::PositionalEncoding { weight } => {
                attention::lower_positional_encoding(&mut g, arg(0), weight.map(|w| params[w]))
            }
            Layer::LayerNorm { weight, bias, eps } => dense::lower_layer_norm(
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
            Layer::Loss(kind) => loss::lower_loss(&mut g, *kind, arg(0), arg(1)),
        };
        debug_assert_eq!(
            g.ty(v),
            &node.ty,
            "internal: lowering {:?} changed its type",
            node.layer
        );
        vals.push(v);
        built.push(first..g.dag.node_count());
    }
    for (name, id) in &model.outputs {
        g.output(name, vals[*id]);
    }
    if let Some(id) = model.loss {
        g.output_kind(LOSS, vals[id], OutputKind::Loss);
    }
    for ((s, v), input) in model.states.iter().zip(new_states).zip(states) {
        if let Some(v) = v {
            let of = g.input_position(input).expect("internal: a state input");
            g.output_kind(&s.path, v, OutputKind::Update { of });
        }
    }
    (g, built)
}
