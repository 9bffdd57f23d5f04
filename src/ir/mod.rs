//! The graph IR: the primitive ops, their types, the graph, its text form
//! (printer and parser that read each other's output), Graphviz output and
//! the verifier every pass result goes through.

mod build;
pub mod dot;
pub mod flops;
mod function;
mod graph;
mod op;
pub mod parse;
pub mod print;
mod role;
mod scan;
mod types;
pub mod verify;

pub use function::{Function, HyperValues, InputSpec, OutputSpec, Signature};
pub use graph::{Graph, Node, Output, Value};
pub use op::{
    dilated, window_output, BinaryOp, CmpOp, ConvAttrs, Dist, Op, ReduceOp, UnaryOp, Window,
};
pub use role::{Hyper, OutputKind, Role};
pub use scan::Scan;
pub use types::{DType, Dim, Shape, TensorType};
