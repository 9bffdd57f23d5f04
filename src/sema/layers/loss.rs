//! The losses: `cross_entropy`, `binary_cross_entropy` (`bce`) and its
//! from-logits form, `mse`, `mae`. Each takes a prediction and a target and
//! is a scalar, the mean over every position. The checker's rules for the
//! target (integer class labels, 0/1 targets, float targets of the
//! prediction's shape) sit above the lowering to primitives, which uses the
//! stable forms: cross-entropy through a log-softmax, binary cross-entropy
//! from logits as `max(z,0) - z*y + log(1 + exp(-|z|))`, and from
//! probabilities with them clamped to [1e-7, 1 - 1e-7] as Keras does.

use crate::diag::{Code, Diagnostic, Span};
use crate::ir::{BinaryOp, CmpOp, DType, Dim, Graph, Op, Shape, TensorType, UnaryOp, Value};
use crate::sema::args::{bind, ArgVal};
use crate::sema::model::{Elaborator, Frame};
use crate::sema::program::{Layer, LossKind, NodeId};
use crate::syntax::ast;

use super::arguments::float_tensor;
use super::dense::softmax;

/// The probability clamp for binary cross-entropy.
pub const BCE_EPSILON: f64 = 1e-7;

/// A loss: `name(prediction, target)`, a scalar. Each kind has its rule for
/// the target's dtype and shape.
pub(super) fn loss(
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
                return Err(crate::sema::shape::mismatch(
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
                return Err(crate::sema::shape::mismatch(&format!("{name} compares prediction and target of types"), &pt, pv.span, &tt, tv.span)
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
                let mut d = crate::sema::shape::mismatch(
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

// Lowering: the losses as primitives.

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

pub(crate) fn lower_loss(g: &mut Graph, kind: LossKind, p: Value, t: Value) -> Value {
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
