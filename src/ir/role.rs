//! The calling convention's vocabulary: what each graph input is to the
//! caller ([`Role`], with the [`Hyper`] kinds) and what each output is
//! ([`OutputKind`]). The IR text form prints both in a graph's header, the
//! verifier checks them, and `ir::Signature` reads them.

/// How a graph argument is fed: data from the batch, a trained parameter,
/// state carried from step to step (optimizer slots, running statistics),
/// or a hyperparameter of a known kind. Together with [`OutputKind`] this is
/// a function's calling convention: the runtime, `bench` and the backends
/// read it from here, never from a value's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Data,
    Param,
    State,
    Hyper(Hyper),
}

/// The kinds of hyperparameter input a compiled function takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hyper {
    /// The learning rate of one parameter group (0 for the first), in the
    /// parameters' dtype: an input, so a schedule never recompiles.
    Lr(usize),
    /// The 1-based number of this update (Adam's bias correction).
    Step,
    /// The step's random key (dropout masks), `i32`.
    Key,
}

impl Role {
    /// The role's keyword in the IR text form: `data`, `param`, `state`,
    /// `hyper(lr)`, `hyper(lr=1)`, `hyper(step)`, `hyper(key)`.
    pub fn name(self) -> String {
        match self {
            Role::Data => "data".into(),
            Role::Param => "param".into(),
            Role::State => "state".into(),
            Role::Hyper(h) => format!("hyper({})", h.name()),
        }
    }

    /// Whether the argument is resident in an executable (a parameter or
    /// state) rather than fed on every call (data and hyperparameters).
    pub fn is_resident(self) -> bool {
        matches!(self, Role::Param | Role::State)
    }
}

impl Hyper {
    /// The kind as written inside `hyper(...)`.
    pub fn name(self) -> String {
        match self {
            Hyper::Lr(0) => "lr".into(),
            Hyper::Lr(g) => format!("lr={g}"),
            Hyper::Step => "step".into(),
            Hyper::Key => "key".into(),
        }
    }
}

/// What a graph output is to its caller. Model outputs (`Value`) are what
/// inference returns; the others are the parts of a training step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputKind {
    /// A model output (logits, a prediction), or any value of a plain graph.
    Value,
    /// The scalar the step minimizes.
    Loss,
    /// A scalar or per-batch statistic reported, not minimized.
    Metric,
    /// The gradient of the loss with respect to input number `of`.
    Grad { of: usize },
    /// The new value of input number `of` (a parameter or state): an
    /// executable writes it back into that input, which it keeps resident.
    Update { of: usize },
}
