//! Name resolution, model instantiation and shape/dtype inference: the AST
//! becomes a checked program, or diagnostics with spans.

pub mod data;
pub mod init;
