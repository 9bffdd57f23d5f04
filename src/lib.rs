//! dlc: a compiler for deep-learning models.
//!
//! The pipeline, one module per stage, data flowing one way:
//!
//! ```text
//! source ─syntax::parse─▶ ast::File ─sema::check─▶ Program
//!        ─passes::lower─▶ Graph (forward + loss)
//!        ─passes::autodiff::grad─▶ Graph (+ gradients)
//!        ─passes::optimizer::apply─▶ Graph (the training step)
//!        ─passes::simplify─▶ Graph ─backend─▶ Executable ─runtime─▶ trained weights
//! ```
//!
//! The functions below are that pipeline, one line per stage; `cli` and the
//! tests call them.

pub mod backend;
pub mod cli;
pub mod diag;
pub mod ir;
pub mod kernel;
pub mod passes;
pub mod random;
pub mod runtime;
pub mod sema;
pub mod syntax;
pub mod tensor;

use ir::{Graph, Role};
use passes::lower::Mode;
use passes::optimizer::Optimizer;
use sema::program::{OptimizerKind, OptimizerSpec, Train};

/// The forward graph of a train block's model, with its `loss` output, as
/// the training step runs it (`Mode::Train`: dropout drops, batch norm
/// updates its running statistics).
pub fn forward(train: &Train) -> Graph {
    verified("lower", passes::lower::lower(&train.model, Mode::Train))
}

/// The forward graph as evaluation and inference run it (`Mode::Eval`).
pub fn inference(train: &Train) -> Graph {
    verified("lower", passes::lower::lower(&train.model, Mode::Eval))
}

/// The forward graph plus `grad.<param>` outputs.
pub fn gradients(train: &Train) -> Graph {
    let fwd = forward(train);
    let params = fwd.inputs_with_role(Role::Param);
    verified("autodiff", passes::autodiff::grad(&fwd, "loss", &params))
}

/// The whole training step — forward, backward, update — as one graph.
pub fn training_step(train: &Train) -> Graph {
    training_step_observed(train, &mut |_| {})
}

/// [`training_step`], calling `done(stage)` as each stage (`lower`,
/// `autodiff`, `optimizer`, `simplify`) finishes: how `dlc bench` times the
/// stages while the core itself never reads a clock.
pub fn training_step_observed(train: &Train, done: &mut dyn FnMut(&'static str)) -> Graph {
    let fwd = forward(train);
    done("lower");
    let params = fwd.inputs_with_role(Role::Param);
    let grads = verified("autodiff", passes::autodiff::grad(&fwd, "loss", &params));
    done("autodiff");
    let step = passes::optimizer::apply(&grads, &optimizer(&train.optimizer));
    let step = verified("optimizer", step);
    done("optimizer");
    let step = verified("simplify", passes::simplify::simplify(&step));
    done("simplify");
    step
}

/// The evaluation graph: the model's outputs and the loss, no update, in
/// eval mode.
pub fn evaluation(train: &Train) -> Graph {
    evaluation_observed(train, &mut |_| {})
}

/// [`evaluation`], calling `done(stage)` after `lower` and `simplify`.
pub fn evaluation_observed(train: &Train, done: &mut dyn FnMut(&'static str)) -> Graph {
    let fwd = inference(train);
    done("lower");
    let g = verified("simplify", passes::simplify::simplify(&fwd));
    done("simplify");
    g
}

/// Runs the verifier on a pass's result. A failure is a bug in that pass,
/// never a user error, so it panics (the CLI reports an internal error).
fn verified(pass: &str, g: Graph) -> Graph {
    if let Err(e) = ir::verify::verify(&g) {
        panic!(
            "internal: the {pass} pass produced an invalid graph @{}: {e}",
            g.name
        );
    }
    g
}

/// The optimizer transform a checked optimizer setting asks for.
pub fn optimizer(spec: &OptimizerSpec) -> Optimizer {
    let weight_decay = spec.weight_decay;
    match spec.kind {
        OptimizerKind::Sgd { momentum, nesterov } => Optimizer::Sgd {
            momentum,
            nesterov,
            weight_decay,
        },
        OptimizerKind::Adam {
            beta1,
            beta2,
            eps,
            decoupled,
        } => Optimizer::Adam {
            beta1,
            beta2,
            eps,
            weight_decay,
            decoupled,
        },
        OptimizerKind::RmsProp {
            alpha,
            eps,
            momentum,
            centered,
        } => Optimizer::RmsProp {
            alpha,
            eps,
            momentum,
            weight_decay,
            centered,
        },
    }
}
