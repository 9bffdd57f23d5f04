//! dlc: a compiler for deep-learning models.
//!
//! The pipeline, one module per stage, data flowing one way:
//!
//! ```text
//! source ─syntax::parse─▶ ast::File ─sema::check─▶ Program
//!        ─passes::lower─▶ Function (forward, + loss)        lower(model, mode)
//!        ─passes::autodiff─▶ Function (+ grad outputs)      differentiate(f, of, wrt)
//!        ─passes::optimizer─▶ Function (the update step)    update(f, groups)
//!        ─passes::simplify─▶ Function                       simplified(f)
//!        ─backend─▶ Executable (owns its state) ─runtime─▶ trained weights
//! ```
//!
//! Every stage returns a [`ir::Function`]: a verified graph with its typed
//! [`ir::Signature`]. The general functions take a model and a recipe (the
//! output to differentiate, the inputs to differentiate with respect to,
//! the parameter groups and their optimizers), so a program may compile
//! several; `training_step`, `evaluation` and friends are the declarative
//! `train` block's recipe built from them. `cli` and the tests call these.

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

use ir::{Function, Graph, Role};
use passes::lower::Mode;
use passes::optimizer::{Group, Optimizer};
use sema::program::{Model, OptimizerKind, OptimizerSpec, Train};

/// A model's forward function in `mode`: its outputs, and the `loss`
/// output when the model comes from a train block. `Mode::Train` is how a
/// training step runs it (dropout drops, batch norm updates its running
/// statistics), `Mode::Eval` how evaluation and inference do.
pub fn lower(model: &Model, mode: Mode) -> Function {
    function("lower", passes::lower::lower(model, mode))
}

/// `f` plus the gradient of its scalar output `of` with respect to the
/// inputs at positions `wrt` (parameters of chosen models, or data inputs),
/// each a `grad(%input)` output.
pub fn differentiate(f: &Function, of: &str, wrt: &[usize]) -> Function {
    let g = f.graph();
    let wrt: Vec<ir::Value> = wrt.iter().map(|&i| g.inputs[i]).collect();
    function("autodiff", passes::autodiff::grad(g, of, &wrt))
}

/// A gradient function turned into an update step: each group's
/// parameters move by its optimizer, with its own learning rate input.
pub fn update(f: &Function, groups: &[Group]) -> Function {
    function(
        "optimizer",
        passes::optimizer::apply_groups(f.graph(), groups),
    )
}

/// `f` simplified (folding, algebra, CSE, DCE): the form backends compile.
pub fn simplified(f: &Function) -> Function {
    function("simplify", passes::simplify::simplify(f.graph()))
}

/// The forward function of a train block's model with its `loss`, as the
/// training step runs it (`Mode::Train`).
pub fn forward(train: &Train) -> Function {
    lower(&train.model, Mode::Train)
}

/// The forward function as evaluation and inference run it (`Mode::Eval`).
pub fn inference(train: &Train) -> Function {
    lower(&train.model, Mode::Eval)
}

/// A train block's forward function plus the gradient of the loss with
/// respect to every parameter.
pub fn gradients(train: &Train) -> Function {
    let fwd = forward(train);
    let params = fwd.signature().inputs_with(Role::Param);
    differentiate(&fwd, passes::lower::LOSS, &params)
}

/// The whole training step of a train block — forward, backward, update —
/// as one function.
pub fn training_step(train: &Train) -> Function {
    training_step_observed(train, &mut |_| {})
}

/// [`training_step`], calling `done(stage)` as each stage (`lower`,
/// `autodiff`, `optimizer`, `simplify`) finishes: how `dlc bench` times the
/// stages while the core itself never reads a clock.
pub fn training_step_observed(train: &Train, done: &mut dyn FnMut(&'static str)) -> Function {
    let fwd = forward(train);
    done("lower");
    let params = fwd.signature().inputs_with(Role::Param);
    let grads = differentiate(&fwd, passes::lower::LOSS, &params);
    done("autodiff");
    let group = Group {
        params,
        optimizer: optimizer(&train.optimizer),
    };
    let step = update(&grads, &[group]);
    done("optimizer");
    let step = simplified(&step);
    done("simplify");
    step
}

/// The evaluation function: the model's outputs and the loss, no update,
/// in eval mode.
pub fn evaluation(train: &Train) -> Function {
    evaluation_observed(train, &mut |_| {})
}

/// [`evaluation`], calling `done(stage)` after `lower` and `simplify`.
pub fn evaluation_observed(train: &Train, done: &mut dyn FnMut(&'static str)) -> Function {
    let fwd = inference(train);
    done("lower");
    let f = simplified(&fwd);
    done("simplify");
    f
}

/// Verifies a pass's result and reads its signature. A failure is a bug in
/// that pass, never a user error, so it panics (the CLI reports an
/// internal error).
fn function(pass: &str, g: Graph) -> Function {
    let name = g.name.clone();
    match Function::new(g) {
        Ok(f) => f,
        Err(e) => panic!("internal: the {pass} pass produced an invalid graph @{name}: {e}"),
    }
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
