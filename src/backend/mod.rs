//! Backends turn a verified graph into something that runs. The interpreter
//! is the oracle: it defines every op's semantics, and every other backend is
//! tested against it.

pub mod cpu;
pub mod interp;

use crate::ir::Graph;
use crate::tensor::Tensor;

/// A failure while running a compiled graph: wrong input count, dtype or
/// shape. (A NaN is not an error here; the runtime checks losses.)
#[derive(Debug, Clone, PartialEq)]
pub struct RunError(pub String);

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunError {}

/// A code generator: compiles a graph once, to be run many times.
pub trait Backend {
    fn name(&self) -> &'static str;
    fn compile(&self, graph: &Graph) -> Result<Box<dyn Executable>, String>;
}

/// A compiled graph. `inputs` follow `Graph::inputs`, the result follows
/// `Graph::outputs`; symbolic dimensions are bound from the inputs' shapes.
pub trait Executable {
    fn run(&mut self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, RunError>;

    /// Runs with some outputs written back into the inputs they replace: a
    /// training step's new parameters and optimizer state. `updates` holds
    /// `(input, output)` index pairs, each input an [`Arg::Update`] of the
    /// output's type; the result has `None` at those outputs. A backend that
    /// can writes them in place, so a step allocates nothing; this default
    /// runs [`Executable::run`] and moves the fresh outputs in.
    fn run_update(
        &mut self,
        args: &mut [Arg],
        updates: &[(usize, usize)],
    ) -> Result<Vec<Option<Tensor>>, RunError> {
        check_updates(args, updates)?;
        let outs = {
            let refs: Vec<&Tensor> = args.iter().map(Arg::tensor).collect();
            self.run(&refs)?
        };
        let mut outs: Vec<Option<Tensor>> = outs.into_iter().map(Some).collect();
        for &(i, o) in updates {
            let t = outs
                .get_mut(o)
                .and_then(Option::take)
                .ok_or_else(|| RunError(format!("no output {o} to update input {i} with")))?;
            if let Arg::Update(slot) = &mut args[i] {
                **slot = t;
            }
        }
        Ok(outs)
    }
}

/// An argument of [`Executable::run_update`].
pub enum Arg<'a> {
    /// Read only.
    In(&'a Tensor),
    /// Read, then replaced by the output it is paired with.
    Update(&'a mut Tensor),
}

impl Arg<'_> {
    pub fn tensor(&self) -> &Tensor {
        match self {
            Arg::In(t) => t,
            Arg::Update(t) => t,
        }
    }
}

/// Checks that every updated input is an [`Arg::Update`], and that no input
/// or output is paired twice.
pub fn check_updates(args: &[Arg], updates: &[(usize, usize)]) -> Result<(), RunError> {
    for (n, &(i, o)) in updates.iter().enumerate() {
        if !matches!(args.get(i), Some(Arg::Update(_))) {
            return Err(RunError(format!(
                "input {i} is updated by output {o} but not passed as an update"
            )));
        }
        if updates[..n].iter().any(|&(j, p)| j == i || p == o) {
            return Err(RunError(format!(
                "input {i} or output {o} is paired twice in the updates"
            )));
        }
    }
    Ok(())
}

/// The backend used when none is named.
pub const DEFAULT: &str = "cpu";

/// The backend called `name`, or `None` for an unknown name.
pub fn by_name(name: &str) -> Option<Box<dyn Backend>> {
    match name {
        "interp" => Some(Box::new(interp::Interpreter)),
        "cpu" => Some(Box::new(cpu::CpuBackend)),
        _ => None,
    }
}
