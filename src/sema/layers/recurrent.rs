//! Shape rules of the recurrent layers `rnn`, `lstm` and `gru`: a sequence
//! `[N, T, F]` in, every step's hidden state `[N, T, H]`
//! (`return_sequences: true`, as in Keras) or the last one `[N, H]` (the
//! default) out. Lowering is `passes::recurrent`, one `scan` per layer.
//!
//! Parameters are named by path: `<path>.w_ih: [F, gates*H]`, `<path>.w_hh:
//! [H, gates*H]` and `<path>.bias: [gates*H]` (the GRU has `b_ih` and `b_hh`
//! instead). Every one starts from U(-1/sqrt(H), 1/sqrt(H)), as PyTorch
//! initializes its recurrent layers; `init:` names the weights' initializer
//! instead, and the biases then start at zero (Keras' choice).

use crate::diag::{Code, Diagnostic, Span};
use crate::ir::{Dim, Shape, TensorType};
use crate::syntax::ast;

use super::{float_tensor, initializer};
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
