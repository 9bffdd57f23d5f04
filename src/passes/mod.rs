//! Graph-to-graph passes: lowering, autodiff, optimizers, simplification.

pub mod autodiff;
