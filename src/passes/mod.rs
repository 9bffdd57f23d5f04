//! Graph-to-graph passes: layer lowering (each layer family's lowering
//! sits beside its checker in `sema::layers`), autodiff, optimizers as update steps, and simplification. Each pass takes a graph and returns a new one;
//! the verifier runs after every pass in tests and in debug builds. Then
//! `fuse` turns the graph into a kernel program and `plan_memory` places
//! its temporaries.

pub mod autodiff;
pub mod fuse;
pub mod lower;
pub mod optimizer;
pub mod plan_memory;
pub mod simplify;
