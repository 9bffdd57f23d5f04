//! The verifier: runs between passes (and in every pass test) so that a
//! pass that breaks the IR is caught where it did so, not in a backend.
//! Backends may assume a verified graph.
//!
//! Invariants checked, each reported as one problem:
//! 1. Every node's type is what its op gives: `ty == op.result_type(operand
//!    types, Some(ty))` (which also checks attributes: axes, perms, dims).
//! 2. Each node has exactly `op.arity()` incoming edges (one or more for
//!    `concat`), and their operand positions are `0..arity`, each exactly
//!    once.
//! 3. Every edge runs from an earlier node to a later one: build order is a
//!    topological order, so there are no cycles.
//! 4. Every `Op::Input` node is in `g.inputs` exactly once, and everything
//!    in `g.inputs` is an existing `Op::Input` node.
//! 5. Input names are unique.
//! 6. Output names are unique.
//! 7. Outputs refer to existing nodes.
//! 8. Symbolic dimensions come only from the inputs: a symbol in any
//!    node's type appears in some input's type (otherwise nothing binds it
//!    at run time).
//! 9. A scan's body passes all of these checks itself (its problems are
//!    reported under the scan's node), and the body's signature fits the
//!    operands (checked by `result_type`, as in 1).
//! 10. A `get` reads a multi-result node (a scan), its index is in range,
//!     and its type is that result's type.
//! 11. The calling convention holds: an `update(%p)` output replaces a
//!     parameter or state input of its own type, and no input is updated
//!     twice; a `grad(%x)` output has its input's type; a `loss` is a
//!     scalar.

use std::collections::BTreeSet;
use std::fmt;

use petgraph::visit::EdgeRef;
use petgraph::Direction;

use super::graph::Graph;
use super::op::Op;
use super::print::fmt_name;
use super::role::OutputKind;
use super::types::{Dim, TensorType};

/// Everything wrong with a graph, in node order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    pub problems: Vec<String>,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in the graph:", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for VerifyError {}

/// Checks every invariant in the module doc; `Ok` when all hold.
pub fn verify(g: &Graph) -> Result<(), VerifyError> {
    let mut problems = Vec::new();
    let n = g.len();
    // Nodes are named by index here: the printed numbering skips inputs and
    // would be ambiguous for a graph broken enough to get here.
    let at = |i: usize| {
        format!(
            "node {i} ({})",
            g.op(petgraph::graph::NodeIndex::new(i)).name()
        )
    };

    for v in g.nodes() {
        let i = v.index();
        let node = g.node(v);
        let mut edges: Vec<(usize, usize)> = g
            .dag
            .edges_directed(v, Direction::Incoming)
            .map(|e| (*e.weight(), e.source().index()))
            .collect();
        edges.sort_unstable();

        // 3: edges go forwards.
        for &(pos, src) in &edges {
            if src >= i {
                problems.push(format!(
                    "{}: operand {pos} is node {src}, which is not earlier",
                    at(i)
                ));
            }
        }

        // 2: operand positions are exactly 0..arity.
        let positions: Vec<usize> = edges.iter().map(|&(p, _)| p).collect();
        let arity = node.op.arity().unwrap_or(positions.len().max(1));
        if positions != (0..arity).collect::<Vec<_>>() {
            problems.push(format!(
                "{}: takes {arity} operand(s) at positions 0..{arity}, has positions {positions:?}",
                at(i)
            ));
            continue;
        }

        // 9: a scan's body first, so that its typing rule reads a sound body.
        if let Op::Scan(s) = &node.op {
            if let Err(e) = verify(&s.body) {
                for p in e.problems {
                    problems.push(format!("{}: body @{}: {p}", at(i), fmt_name(&s.body.name)));
                }
                continue;
            }
        }

        // 1: the type is the op's result type.
        let tys: Vec<&TensorType> = g.operands(v).iter().map(|&o| g.ty(o)).collect();
        if let Err(e) = node.op.result_type(&tys, Some(&node.ty)) {
            problems.push(format!("{}: {e}", at(i)));
        } else if let Op::Get { index } = node.op {
            // 10: a get's type is its producer's result.
            if let Err(e) = g.check_get(g.operands(v)[0], index, &node.ty) {
                problems.push(format!("{}: {e}", at(i)));
            }
        }
    }

    // 4 and 5: inputs.
    let mut names: Vec<&str> = Vec::new();
    for (k, &v) in g.inputs.iter().enumerate() {
        if v.index() >= n {
            problems.push(format!("input {k} refers to missing node {}", v.index()));
            continue;
        }
        match g.op(v) {
            Op::Input { name, .. } => {
                if g.inputs[..k].contains(&v) {
                    problems.push(format!("{} is listed twice in the inputs", at(v.index())));
                } else if names.contains(&name.as_str()) {
                    problems.push(format!("input name `%{}` is used twice", fmt_name(name)));
                }
                names.push(name);
            }
            _ => problems.push(format!("input {k} is {}, not an input node", at(v.index()))),
        }
    }
    for v in g.nodes() {
        if matches!(g.op(v), Op::Input { .. }) && !g.inputs.contains(&v) {
            problems.push(format!("{} is missing from the inputs", at(v.index())));
        }
    }

    // 6 and 7: outputs.
    for (k, o) in g.outputs.iter().enumerate() {
        if g.outputs[..k].iter().any(|p| p.name == o.name) {
            problems.push(format!(
                "output name `%{}` is used twice",
                fmt_name(&o.name)
            ));
        }
        if o.value.index() >= n {
            problems.push(format!(
                "output `%{}` refers to missing node {}",
                fmt_name(&o.name),
                o.value.index()
            ));
        }
    }

    // 11: the calling convention.
    for (k, o) in g.outputs.iter().enumerate() {
        if o.value.index() >= n {
            continue;
        }
        let name = fmt_name(&o.name);
        match o.kind {
            OutputKind::Update { of } | OutputKind::Grad { of } => {
                let Some(&input) = g.inputs.get(of).filter(|v| v.index() < n) else {
                    problems.push(format!("output `%{name}` refers to missing input {of}"));
                    continue;
                };
                if g.ty(input) != g.ty(o.value) {
                    problems.push(format!(
                        "output `%{name}` is {} but the input it belongs to is {}",
                        g.ty(o.value),
                        g.ty(input)
                    ));
                }
                let updated = matches!(o.kind, OutputKind::Update { .. });
                if updated {
                    if let Op::Input { role, .. } = g.op(input) {
                        if !role.is_resident() {
                            problems.push(format!(
                                "output `%{name}` updates a {} input; only parameters and state are updated",
                                role.name()
                            ));
                        }
                    }
                    if g.outputs[..k].iter().any(|p| p.kind == o.kind) {
                        problems.push(format!(
                            "output `%{name}` updates an input another output already updates"
                        ));
                    }
                }
            }
            OutputKind::Loss if g.ty(o.value).rank() != 0 => {
                problems.push(format!(
                    "loss output `%{name}` is {}, not a scalar",
                    g.ty(o.value)
                ));
            }
            _ => {}
        }
    }

    // 8: symbols come from inputs.
    let bound: BTreeSet<&str> = g
        .inputs
        .iter()
        .filter(|v| v.index() < n)
        .flat_map(|&v| symbols(g.ty(v)))
        .collect();
    for v in g.nodes() {
        if matches!(g.op(v), Op::Input { .. }) {
            continue;
        }
        for s in symbols(g.ty(v)) {
            if !bound.contains(s) {
                problems.push(format!(
                    "{}: symbol `{s}` in {} appears in no input's type",
                    at(v.index()),
                    g.ty(v)
                ));
            }
        }
    }

    if problems.is_empty() {
        Ok(())
    } else {
        Err(VerifyError { problems })
    }
}

fn symbols(t: &TensorType) -> impl Iterator<Item = &str> {
    t.shape.dims().iter().filter_map(|d| match d {
        Dim::Sym(s) => Some(s.as_str()),
        Dim::Fixed(_) => None,
    })
}
