//! Argument checks shared by the layer families, so that one rule has one
//! wording: a float tensor of at least a rank, an axis, an activation or
//! initializer by name, a positive `eps`.

use crate::diag::{Code, Diagnostic};
use crate::sema::init::Init;
use crate::sema::model::{Elaborator, Frame};
use crate::sema::program::{Activation, NodeId};
use crate::sema::value::Spanned;

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

/// A normalization's `eps` (1e-5 when not given): positive and finite, or
/// the square root it guards could see zero.
pub(super) fn eps(layer: &str, v: Option<&Spanned>) -> Result<f64, Diagnostic> {
    let Some(v) = v else { return Ok(1e-5) };
    let e = v.float()?;
    if !(e > 0.0 && e.is_finite()) {
        return Err(Diagnostic::new(
            Code::BadValue,
            format!("`eps` of `{layer}` must be positive, got {e}"),
        )
        .at(v.span, "not positive")
        .help("the usual value is 1e-5"));
    }
    Ok(e)
}
