//! Shape rules of the layers that behave differently when training and when
//! evaluating (see `passes::lower::Mode`): `dropout`, which draws a fresh
//! mask every step, and `batch_norm`, which normalizes with the batch's
//! statistics while training and with running statistics (state tensors the
//! training step updates) afterwards.

use crate::diag::{Code, Diagnostic, Span};
use crate::ir::{Shape, TensorType};
use crate::syntax::ast;

use super::float_tensor;
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
