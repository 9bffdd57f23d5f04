//! Graph-to-graph passes: layer lowering, autodiff, optimizers as update
//! steps, and simplification. Each pass takes a graph and returns a new one;
//! the verifier runs after every pass in tests and in debug builds.

pub mod autodiff;
pub mod lower;
pub mod simplify;
