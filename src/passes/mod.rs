//! Graph-to-graph passes: lowering, autodiff, optimizers, simplification.
