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
}

/// The backend called `name`, or `None` for an unknown name.
pub fn by_name(name: &str) -> Option<Box<dyn Backend>> {
    match name {
        "interp" => Some(Box::new(interp::Interpreter)),
        "cpu" => Some(Box::new(cpu::CpuBackend)),
        _ => None,
    }
}
