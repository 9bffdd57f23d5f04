//! A compiled unit: a verified graph and its typed calling convention.
//!
//! The passes produce a [`Function`]; the runtime, `bench`, `sample`,
//! `summary` and the backends consume its [`Signature`], which says
//! structurally which inputs are data, which are resident (parameters and
//! state, each paired with the output that replaces it), which are
//! hyperparameters of which kind, and what each output is. Nothing outside
//! the passes learns a value's role from its name.

use super::graph::Graph;
use super::role::{Hyper, OutputKind, Role};
use super::types::TensorType;
use super::verify::{verify, VerifyError};

/// One argument of a function.
#[derive(Clone, Debug, PartialEq)]
pub struct InputSpec {
    pub name: String,
    pub ty: TensorType,
    pub role: Role,
    /// For a resident input: the output that holds its new value after a
    /// call (a parameter's update, an optimizer slot, a running statistic).
    pub updated_by: Option<usize>,
}

/// One result of a function.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputSpec {
    pub name: String,
    pub ty: TensorType,
    pub kind: OutputKind,
}

/// A function's calling convention, read from its graph's input roles and
/// output kinds (the IR text form prints and parses both).
#[derive(Clone, Debug, PartialEq)]
pub struct Signature {
    pub inputs: Vec<InputSpec>,
    pub outputs: Vec<OutputSpec>,
}

impl Signature {
    /// The signature of a graph.
    pub fn of(g: &Graph) -> Signature {
        let mut inputs: Vec<InputSpec> = g
            .inputs
            .iter()
            .map(|&v| {
                let (name, role) = g.input_info(v);
                InputSpec {
                    name: name.to_string(),
                    ty: g.ty(v).clone(),
                    role,
                    updated_by: None,
                }
            })
            .collect();
        let outputs = g
            .outputs
            .iter()
            .enumerate()
            .map(|(k, o)| {
                if let OutputKind::Update { of } = o.kind {
                    inputs[of].updated_by = Some(k);
                }
                OutputSpec {
                    name: o.name.clone(),
                    ty: g.ty(o.value).clone(),
                    kind: o.kind,
                }
            })
            .collect();
        Signature { inputs, outputs }
    }

    /// Positions of the inputs with `role`, in calling order.
    pub fn inputs_with(&self, role: Role) -> Vec<usize> {
        (0..self.inputs.len())
            .filter(|&i| self.inputs[i].role == role)
            .collect()
    }

    /// Positions of the data inputs, the tensors fed on every call.
    pub fn data(&self) -> Vec<usize> {
        self.inputs_with(Role::Data)
    }

    /// Positions of the resident inputs (parameters and state), which an
    /// executable keeps where it runs between calls.
    pub fn resident(&self) -> Vec<usize> {
        (0..self.inputs.len())
            .filter(|&i| self.inputs[i].role.is_resident())
            .collect()
    }

    /// `(input, output)` pairs: each resident input and the output that
    /// replaces it.
    pub fn updates(&self) -> Vec<(usize, usize)> {
        self.inputs
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.updated_by.map(|o| (i, o)))
            .collect()
    }

    /// The position of the input named `name`.
    pub fn input(&self, name: &str) -> Option<usize> {
        self.inputs.iter().position(|s| s.name == name)
    }

    /// The position of the output named `name`.
    pub fn output(&self, name: &str) -> Option<usize> {
        self.outputs.iter().position(|s| s.name == name)
    }

    /// The position of the loss output.
    pub fn loss(&self) -> Option<usize> {
        self.outputs.iter().position(|s| s.kind == OutputKind::Loss)
    }

    /// The position of the hyperparameter input of kind `h`.
    pub fn hyper(&self, h: Hyper) -> Option<usize> {
        self.inputs.iter().position(|s| s.role == Role::Hyper(h))
    }
}

/// The values a call feeds to a function's hyperparameter inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct HyperValues {
    /// The learning rate of each parameter group.
    pub lr: Vec<f64>,
    /// The 1-based number of this update.
    pub step: usize,
    /// The step's random key.
    pub key: i32,
}

impl HyperValues {
    /// The value of a hyperparameter of kind `h` (0 for a group with no
    /// learning rate given).
    pub fn value(&self, h: Hyper) -> f64 {
        match h {
            Hyper::Lr(g) => self.lr.get(g).copied().unwrap_or(0.0),
            Hyper::Step => self.step as f64,
            Hyper::Key => f64::from(self.key),
        }
    }
}

/// A verified graph with its signature: what the passes hand to a backend.
#[derive(Clone, Debug)]
pub struct Function {
    graph: Graph,
    signature: Signature,
}

impl Function {
    /// Verifies `graph` (the calling convention included) and reads its
    /// signature.
    pub fn new(graph: Graph) -> Result<Function, VerifyError> {
        verify(&graph)?;
        let signature = Signature::of(&graph);
        Ok(Function { graph, signature })
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    pub fn name(&self) -> &str {
        &self.graph.name
    }

    /// The graph, for a pass that builds the next function from it.
    pub fn into_graph(self) -> Graph {
        self.graph
    }
}
