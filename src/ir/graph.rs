//! The graph IR: a petgraph `DiGraph` whose nodes are ops with their result
//! types and whose edges run from an operand to its user, weighted by the
//! operand's position. Passes build new graphs rather than editing in place,
//! so a `Graph` is always in the order it was built: operands before users.

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use super::op::Op;
use super::role::{OutputKind, Role};
use super::types::TensorType;

pub type Value = NodeIndex;

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    pub ty: TensorType,
}

/// A named result of the graph (`logits`, `loss`, `grad.mlp.h.weight`) and
/// what it is to the caller.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    pub name: String,
    pub value: Value,
    pub kind: OutputKind,
}

#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub name: String,
    pub dag: DiGraph<Node, usize>,
    /// Graph arguments in calling order; each is an `Op::Input` node.
    pub inputs: Vec<Value>,
    pub outputs: Vec<Output>,
}

impl Graph {
    pub fn new(name: impl Into<String>) -> Graph {
        Graph {
            name: name.into(),
            ..Graph::default()
        }
    }

    pub fn node(&self, v: Value) -> &Node {
        &self.dag[v]
    }
    pub fn ty(&self, v: Value) -> &TensorType {
        &self.dag[v].ty
    }
    pub fn op(&self, v: Value) -> &Op {
        &self.dag[v].op
    }

    /// Operands of `v` in position order.
    pub fn operands(&self, v: Value) -> Vec<Value> {
        let mut edges: Vec<(usize, Value)> = self
            .dag
            .edges_directed(v, Direction::Incoming)
            .map(|e| (*e.weight(), e.source()))
            .collect();
        edges.sort_unstable_by_key(|(pos, _)| *pos);
        edges.into_iter().map(|(_, s)| s).collect()
    }

    /// Users of `v` (each once, in node order).
    pub fn users(&self, v: Value) -> Vec<Value> {
        let mut users: Vec<Value> = self
            .dag
            .edges_directed(v, Direction::Outgoing)
            .map(|e| e.target())
            .collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// All nodes in build order, which is a topological order.
    pub fn nodes(&self) -> impl Iterator<Item = Value> + '_ {
        self.dag.node_indices()
    }

    pub fn len(&self) -> usize {
        self.dag.node_count()
    }
    pub fn is_empty(&self) -> bool {
        self.dag.node_count() == 0
    }

    /// Adds a graph argument.
    pub fn input(&mut self, name: impl Into<String>, role: Role, ty: TensorType) -> Value {
        let v = self.dag.add_node(Node {
            op: Op::Input {
                name: name.into(),
                role,
            },
            ty,
        });
        self.inputs.push(v);
        v
    }

    /// Adds a node whose type is already known to be right (the text parser
    /// and passes that copy nodes use this; the verifier checks it later).
    pub fn push_unchecked(&mut self, op: Op, operands: &[Value], ty: TensorType) -> Value {
        let v = self.dag.add_node(Node { op, ty });
        for (pos, &o) in operands.iter().enumerate() {
            self.dag.add_edge(o, v, pos);
        }
        v
    }

    /// Adds a node, computing and checking its type with
    /// [`Op::result_type`]. `declared` is needed only by ops that do not infer.
    pub fn try_push(
        &mut self,
        op: Op,
        operands: &[Value],
        declared: Option<TensorType>,
    ) -> Result<Value, String> {
        let tys: Vec<&TensorType> = operands.iter().map(|&o| self.ty(o)).collect();
        let ty = op.result_type(&tys, declared.as_ref())?;
        if let Op::Get { index } = op {
            self.check_get(operands[0], index, &ty)?;
        }
        Ok(self.push_unchecked(op, operands, ty))
    }

    /// [`Graph::try_push`] for passes, where a type error is a compiler bug.
    pub fn push(&mut self, op: Op, operands: &[Value], declared: Option<TensorType>) -> Value {
        match self.try_push(op.clone(), operands, declared) {
            Ok(v) => v,
            Err(e) => panic!(
                "internal: building `{}` in graph @{}: {e}",
                op.name(),
                self.name
            ),
        }
    }

    /// Adds a model output ([`OutputKind::Value`]).
    pub fn output(&mut self, name: impl Into<String>, value: Value) {
        self.output_kind(name, value, OutputKind::Value);
    }

    /// Adds an output of a given kind (loss, gradient, update, metric).
    pub fn output_kind(&mut self, name: impl Into<String>, value: Value, kind: OutputKind) {
        self.outputs.push(Output {
            name: name.into(),
            value,
            kind,
        });
    }

    /// The position in `inputs` of input node `v`.
    pub fn input_position(&self, v: Value) -> Option<usize> {
        self.inputs.iter().position(|&i| i == v)
    }

    pub fn find_output(&self, name: &str) -> Option<Value> {
        self.outputs
            .iter()
            .find(|o| o.name == name)
            .map(|o| o.value)
    }

    pub fn find_input(&self, name: &str) -> Option<Value> {
        self.inputs.iter().copied().find(|&v| match self.op(v) {
            Op::Input { name: n, .. } => n == name,
            _ => false,
        })
    }

    /// Name and role of an input node.
    pub fn input_info(&self, v: Value) -> (&str, Role) {
        match self.op(v) {
            Op::Input { name, role } => (name, *role),
            other => panic!(
                "internal: node {} is `{}`, not an input",
                v.index(),
                other.name()
            ),
        }
    }

    /// Inputs with a given role, in calling order.
    pub fn inputs_with_role(&self, role: Role) -> Vec<Value> {
        self.inputs
            .iter()
            .copied()
            .filter(|&v| self.input_info(v).1 == role)
            .collect()
    }
}

/// Structural equality up to node numbering: same inputs, same outputs and
/// the same computation behind them. Nodes that no output reaches are
/// ignored, so `parse(print(g)) == g` holds for any graph.
impl PartialEq for Graph {
    fn eq(&self, other: &Graph) -> bool {
        if self.name != other.name
            || self.inputs.len() != other.inputs.len()
            || self.outputs.len() != other.outputs.len()
        {
            return false;
        }
        let mut map = std::collections::HashMap::new();
        for (&a, &b) in self.inputs.iter().zip(&other.inputs) {
            if !same_node(self.node(a), other.node(b)) {
                return false;
            }
            map.insert(a, b);
        }
        fn same(
            g: &Graph,
            h: &Graph,
            a: Value,
            b: Value,
            map: &mut std::collections::HashMap<Value, Value>,
        ) -> bool {
            if let Some(&m) = map.get(&a) {
                return m == b;
            }
            if !same_node(g.node(a), h.node(b)) {
                return false;
            }
            let (oa, ob) = (g.operands(a), h.operands(b));
            if oa.len() != ob.len() || !oa.iter().zip(&ob).all(|(&x, &y)| same(g, h, x, y, map)) {
                return false;
            }
            map.insert(a, b);
            true
        }
        self.outputs.iter().zip(&other.outputs).all(|(x, y)| {
            x.name == y.name && x.kind == y.kind && same(self, other, x.value, y.value, &mut map)
        })
    }
}

/// Node equality for [`Graph`]'s `PartialEq`: constants compare by bit
/// pattern, except that any NaN equals any NaN. The text form prints every
/// NaN as `nan` (its payload is unobservable), and with plain `==` a graph
/// holding a NaN constant would not even equal itself.
fn same_node(a: &Node, b: &Node) -> bool {
    match (&a.op, &b.op) {
        (Op::Const { value: x }, Op::Const { value: y }) => {
            a.ty == b.ty && (x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
        }
        _ => a == b,
    }
}
