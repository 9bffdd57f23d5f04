//! Shape diagnostics: every shape error names both shapes and the first
//! dimension that differs.

use crate::diag::{Code, Diagnostic, Span};
use crate::ir::TensorType;

/// "cannot add f32[N,64] and f32[N,32]", with a note on which dimension
/// differs (aligned from the left; ranks compared first).
pub fn mismatch(what: &str, a: &TensorType, sa: Span, b: &TensorType, sb: Span) -> Diagnostic {
    let note = if a.rank() != b.rank() {
        format!(
            "the ranks differ: {} has {} dimensions, {} has {}",
            a,
            a.rank(),
            b,
            b.rank()
        )
    } else {
        let i = a
            .shape
            .dims()
            .iter()
            .zip(b.shape.dims())
            .position(|(x, y)| x != y)
            .unwrap_or(0);
        format!(
            "dimension {i} differs: {} vs {}",
            a.shape.dims()[i],
            b.shape.dims()[i]
        )
    };
    Diagnostic::new(Code::ShapeMismatch, format!("{what} {a} and {b}"))
        .at(sa, format!("{a}"))
        .also(sb, format!("{b}"))
        .note(note)
}
