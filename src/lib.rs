//! dlc: a compiler for deep-learning models.
//!
//! The pipeline, one module per stage, data flowing one way:
//! `syntax` (text → AST) → `sema` (AST → checked program) → `passes::lower`
//! (→ graph IR) → `passes::autodiff` and `passes::optimizer` (→ training
//! step) → `passes::simplify` → `backend` (interp) → `runtime` (data,
//! training driver, checkpoints) → `cli`.

pub mod backend;
pub mod cli;
pub mod diag;
pub mod ir;
pub mod kernel;
pub mod passes;
pub mod runtime;
pub mod sema;
pub mod syntax;
pub mod tensor;
