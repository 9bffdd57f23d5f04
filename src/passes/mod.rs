//! Graph-to-graph passes: lowering, autodiff, optimizers, simplification.

pub mod autodiff;
pub mod optimizer;
