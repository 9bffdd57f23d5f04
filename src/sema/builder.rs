//! Grows one instantiated [`Model`]: adds inputs, parameters and layer nodes,
//! refusing any tensor that would not fit in memory before anything is
//! allocated.

use crate::diag::{Code, Diagnostic, Span};
use crate::ir::{Dim, Shape, TensorType};

use super::init::Init;
use super::program::{Activation, Layer, LayerNode, Model, NodeId, Param, StateVar};

/// Limits the checker enforces.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The most bytes one tensor may take (the machine's memory, say).
    pub max_bytes: u64,
    /// The batch size used to size activations (`N`) in that check.
    pub batch: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bytes: 16 << 30,
            batch: 32,
        }
    }
}

pub struct Builder {
    pub model: Model,
    pub limits: Limits,
}

impl Builder {
    pub fn new(name: &str, limits: Limits) -> Builder {
        Builder {
            model: Model {
                name: name.to_string(),
                inputs: Vec::new(),
                params: Vec::new(),
                states: Vec::new(),
                nodes: Vec::new(),
                outputs: Vec::new(),
                loss: None,
            },
            limits,
        }
    }

    pub fn ty(&self, id: NodeId) -> &TensorType {
        &self.model.nodes[id].ty
    }

    /// Bytes a tensor of `ty` takes with `N` bound to the batch size, or
    /// `None` on overflow.
    fn bytes(&self, ty: &TensorType) -> Option<u64> {
        ty.shape
            .dims()
            .iter()
            .try_fold(ty.dtype.size() as u64, |acc, d| {
                let n = match d {
                    Dim::Fixed(n) => *n as u64,
                    Dim::Sym(_) => self.limits.batch as u64,
                };
                acc.checked_mul(n)
            })
    }

    fn check_size(&self, ty: &TensorType, span: Span, what: &str) -> Result<(), Diagnostic> {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        match self.bytes(ty) {
            Some(b) if b <= self.limits.max_bytes => Ok(()),
            found => {
                let size = match found {
                    Some(b) => format!("{:.1} GiB", gib(b)),
                    None => "more than 2^64 bytes".to_string(),
                };
                let d = Diagnostic::new(
                    Code::TooLarge,
                    format!(
                        "{what} of type {ty} would take {size}, over the limit of {:.1} GiB",
                        gib(self.limits.max_bytes)
                    ),
                )
                .at(span, "this tensor is too large")
                .help("check the sizes written here; a misplaced digit is the usual cause");
                // The sizes written here may be fine and the batch the
                // culprit: say what `N` was taken to be.
                let batched = ty.shape.dims().iter().any(|d| matches!(d, Dim::Sym(_)));
                Err(if batched {
                    d.note(format!(
                        "the batch `N` is counted as {} (the train block's `batch`, 32 when there is none)",
                        self.limits.batch
                    ))
                } else {
                    d
                })
            }
        }
    }

    pub fn input(&mut self, name: &str, ty: TensorType, span: Span) -> Result<NodeId, Diagnostic> {
        self.check_size(&ty, span, "input")?;
        self.model.inputs.push((name.to_string(), ty.clone()));
        let index = self.model.inputs.len() - 1;
        Ok(self.push(Layer::Input(index), vec![], ty, name, span))
    }

    pub fn param(
        &mut self,
        path: String,
        ty: TensorType,
        init: Init,
        fans: (usize, usize),
        span: Span,
    ) -> Result<usize, Diagnostic> {
        self.check_size(&ty, span, "parameter")?;
        self.model.params.push(Param {
            path,
            ty,
            init,
            fan_in: fans.0,
            fan_out: fans.1,
        });
        Ok(self.model.params.len() - 1)
    }

    /// Adds a state tensor (a running statistic) filled with `fill`.
    pub fn state(
        &mut self,
        path: String,
        ty: TensorType,
        fill: f64,
        span: Span,
    ) -> Result<usize, Diagnostic> {
        self.check_size(&ty, span, "state")?;
        self.model.states.push(StateVar { path, ty, fill });
        Ok(self.model.states.len() - 1)
    }

    /// Adds a layer node after checking that its result fits in memory.
    pub fn node(
        &mut self,
        layer: Layer,
        args: Vec<NodeId>,
        ty: TensorType,
        name: &str,
        span: Span,
    ) -> Result<NodeId, Diagnostic> {
        self.check_size(&ty, span, "result")?;
        Ok(self.push(layer, args, ty, name, span))
    }

    /// `y` followed by the fused `activation:` a layer was given, if any
    /// (identity adds no node): one rule for dense, conv and conv_transpose.
    pub fn activated(
        &mut self,
        y: NodeId,
        act: Option<Activation>,
        name: &str,
        span: Span,
    ) -> Result<NodeId, Diagnostic> {
        match act {
            Some(a) if a != Activation::Identity => {
                let ty = self.ty(y).clone();
                self.node(Layer::Activation(a), vec![y], ty, name, span)
            }
            _ => Ok(y),
        }
    }

    fn push(
        &mut self,
        layer: Layer,
        args: Vec<NodeId>,
        ty: TensorType,
        name: &str,
        span: Span,
    ) -> NodeId {
        self.model.nodes.push(LayerNode {
            layer,
            args,
            ty,
            name: name.to_string(),
            span,
        });
        self.model.nodes.len() - 1
    }
}

/// `f32[N,64]` with dims replaced: a helper for layer shape rules.
pub fn with_last(ty: &TensorType, last: usize) -> TensorType {
    let mut dims = ty.shape.dims().to_vec();
    *dims.last_mut().expect("rank checked by caller") = Dim::Fixed(last);
    TensorType::new(ty.dtype, Shape(dims))
}
