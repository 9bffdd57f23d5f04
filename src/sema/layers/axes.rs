//! Layers that remove or add one axis: `sum(x, axis:)` and `mean(x, axis:)`
//! (the dot product of two embeddings is `sum(a * b, axis: -1)`) and
//! `repeat(x, count, axis:)`, the explicit broadcast that lines one
//! embedding up against a row of others, since arithmetic never broadcasts.
//! Axis 0 is the batch and is never reduced or inserted: every layer keeps
//! one result per sample.

use crate::diag::{Code, Diagnostic, Span};
use crate::ir::{Dim, Graph, Shape, TensorType, Value};
use crate::syntax::ast;

use super::arguments::{axis_arg, float_tensor};
use crate::sema::args::{bind, ArgVal};
use crate::sema::model::{Elaborator, Frame};
use crate::sema::program::{Layer, NodeId};
use crate::sema::value::Spanned;

/// `sum(x, axis: -1)` / `mean(x, axis: 1)`: the axis disappears.
pub fn reduce(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    mean: bool,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let b = bind(name, call.span, &["x", "axis"], 2, args)?;
    let x = float_tensor(el, frame, b.req("x")?, name, 2)?;
    let t = el.builder.ty(x).clone();
    let axis_v = b.req("axis")?;
    let axis = axis_arg(axis_v, t.rank())?;
    not_batch(
        axis,
        axis_v,
        "reducing the batch would mix samples; the loss averages over it",
    )?;
    let mut dims = t.shape.dims().to_vec();
    dims.remove(axis);
    el.builder.node(
        Layer::Reduce { mean, axis },
        vec![x],
        TensorType::new(t.dtype, Shape(dims)),
        &frame.binding,
        span,
    )
}

/// `repeat(x, count, axis: 1)`: a new axis of `count` copies of `x`, at
/// `axis` of the result (`[N, D]` to `[N, count, D]`).
pub fn repeat(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let b = bind(name, call.span, &["x", "count", "axis"], 3, args)?;
    let x = el.tensor(frame, b.req("x")?)?;
    let t = el.builder.ty(x).clone();
    let count = b.req("count")?.positive("the number of copies")?;
    let axis_v = b.req("axis")?;
    let axis = axis_arg(axis_v, t.rank() + 1)?;
    not_batch(axis, axis_v, "a new axis goes after the batch")?;
    let mut dims = t.shape.dims().to_vec();
    dims.insert(axis, Dim::Fixed(count));
    el.builder.node(
        Layer::Repeat { axis },
        vec![x],
        TensorType::new(t.dtype, Shape(dims)),
        &frame.binding,
        span,
    )
}

fn not_batch(axis: usize, v: &Spanned, why: &str) -> Result<(), Diagnostic> {
    if axis == 0 {
        return Err(
            Diagnostic::new(Code::BadValue, format!("axis 0 is the batch; {why}"))
                .at(v.span, "the batch axis")
                .help("axes count from 0, the batch; write an axis of 1 or more"),
        );
    }
    Ok(())
}

// Lowering: `sum` and `mean` are one reduction each (in `passes::lower`);
// `repeat` is a broadcast.

/// `x` broadcast to `shape`, the repeated `axis` new.
pub(crate) fn lower_repeat(g: &mut Graph, x: Value, shape: Shape, axis: usize) -> Value {
    let dims = (0..shape.rank()).filter(|&i| i != axis).collect();
    g.broadcast_to(x, shape, dims)
}
