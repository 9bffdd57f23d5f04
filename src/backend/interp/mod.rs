//! The reference interpreter on ndarray.

use super::{Backend, Executable};
use crate::ir::Graph;

pub struct Interpreter;

impl Backend for Interpreter {
    fn name(&self) -> &'static str {
        "interp"
    }
    fn compile(&self, graph: &Graph) -> Result<Box<dyn Executable>, String> {
        let _ = graph;
        Err("not yet".into())
    }
}
