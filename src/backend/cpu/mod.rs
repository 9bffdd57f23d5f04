//! The CPU backend: a kernel program compiled to machine code with
//! Cranelift, contractions handed to the `gemm` crate's AVX-512 kernels, and
//! rayon splitting big loops across cores. `reference` runs the same kernel
//! program with plain loops, to test fusion apart from code generation.

mod layout;
pub mod reference;

pub use layout::{bind, Layout};

use crate::ir::Graph;
use crate::kernel::KernelProgram;
use crate::passes::{fuse::fuse, plan_memory::plan_memory};

/// The fused, memory-planned kernel program of a verified graph: what
/// `dlc dump --stage kernels` prints and what every compiled backend runs.
pub fn kernel_program(g: &Graph) -> KernelProgram {
    let mut p = fuse(g);
    plan_memory(&mut p);
    p
}
