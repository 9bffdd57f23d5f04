//! Renders diagnostics for a terminal or a test snapshot.

use super::Diagnostic;

/// Renders `diags` against the source text `src` of file `path`.
pub fn render(diags: &[Diagnostic], path: &str, src: &str) -> String {
    let _ = (path, src);
    diags
        .iter()
        .map(|d| format!("error[{}]: {}\n", d.code, d.message))
        .collect()
}
