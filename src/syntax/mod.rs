//! Source text to AST: the pest grammar (`grammar/dl.pest`), the tree builder
//! and the translation of parse errors into diagnostics.
//!
//! Parsing runs in three steps: a rough tokenizer reports lexical mistakes
//! (unterminated strings, malformed numbers) that pest would explain badly;
//! pest checks the structure; the builder turns pairs into the AST. A pest
//! failure becomes one diagnostic in words, never pest's own message.

pub mod ast;
mod context;
mod errors;
mod parse;
mod print;
mod tokens;

pub use print::{print_ast, print_ast_with_spans};

use pest::Parser as _;

use crate::diag::Diagnostic;
use parse::{DlParser, Rule};

/// Parses a whole `.dl` file. On failure, the diagnostics carry byte spans
/// into `src`; render them with [`crate::diag::render`].
pub fn parse(src: &str) -> Result<ast::File, Vec<Diagnostic>> {
    let (tokens, lexical) = tokens::tokenize(src);
    if !lexical.is_empty() {
        return Err(lexical);
    }
    match DlParser::parse(Rule::file, src) {
        Ok(pairs) => parse::build(pairs, &tokens),
        Err(e) => Err(vec![errors::translate(&e, src, &tokens)]),
    }
}
