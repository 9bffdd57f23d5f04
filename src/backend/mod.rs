//! Backends turn a verified graph into something that runs. The interpreter
//! is the oracle: it defines every op's semantics, and every other backend is
//! tested against it.

pub mod cpu;
pub mod interp;

use crate::ir::{Function, Graph, HyperValues, Role, Signature};
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

/// The backends, listed once: the CLI's `--backend` values, `dlc bench` and
/// the fallback policy all read this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// Cranelift-compiled kernels (the default).
    Cpu,
    /// The reference interpreter, the oracle.
    Interp,
}

impl BackendKind {
    pub const ALL: [BackendKind; 2] = [BackendKind::Cpu, BackendKind::Interp];

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Interp => "interp",
        }
    }

    pub fn by_name(name: &str) -> Option<BackendKind> {
        BackendKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The backend itself.
    pub fn backend(self) -> Box<dyn Backend> {
        match self {
            BackendKind::Cpu => Box::new(cpu::CpuBackend),
            BackendKind::Interp => Box::new(interp::Interpreter),
        }
    }
}

/// The backend used when none is named.
pub const DEFAULT: BackendKind = BackendKind::Cpu;

/// Why a backend could not compile a function.
#[derive(Clone, Debug, PartialEq)]
pub enum CompileError {
    /// The program uses an op this backend does not implement: a limit of
    /// the backend, not a bug; another backend may run it.
    Unsupported {
        backend: BackendKind,
        op: String,
        graph: String,
    },
    /// A compiler bug (an invalid graph, a code generator failure).
    Internal(String),
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompileError::Unsupported { backend, op, graph } => write!(
                f,
                "the {} backend does not run `{op}` yet (graph @{graph})",
                backend.name()
            ),
            CompileError::Internal(e) => write!(f, "internal compiler error: {e}"),
        }
    }
}

impl std::error::Error for CompileError {}

/// The executables of [`compile_with`], and the note to print when it fell
/// back to the interpreter.
pub type Compiled = (Vec<Box<dyn Executable>>, Option<String>);

/// Compiles `functions` with the backend a run named, or with the default
/// one. The one policy for every command: a named backend that cannot run
/// the program is an error; with none named, a program the default
/// backend does not support falls back to the interpreter, and the second
/// value is the note saying so (the caller prints it). Internal errors are
/// never hidden by a fallback.
pub fn compile_with(
    named: Option<BackendKind>,
    functions: &[&Function],
) -> Result<Compiled, CompileError> {
    let compile = |kind: BackendKind| -> Result<Vec<Box<dyn Executable>>, CompileError> {
        let backend = kind.backend();
        functions.iter().map(|f| backend.compile(f)).collect()
    };
    match (compile(named.unwrap_or(DEFAULT)), named) {
        (Ok(exes), _) => Ok((exes, None)),
        (Err(e @ CompileError::Unsupported { .. }), None) => {
            let exes = compile(BackendKind::Interp)?;
            Ok((
                exes,
                Some(format!("{e}; running on the interpreter instead")),
            ))
        }
        (Err(e), _) => Err(e),
    }
}

/// A code generator: compiles a graph once, to be run many times.
pub trait Backend {
    fn kind(&self) -> BackendKind;

    /// Compiles a plain graph into a runner on host tensors, every input
    /// passed on every call (the form the oracle tests compare).
    fn compile_graph(&self, graph: &Graph) -> Result<Box<dyn Runner>, CompileError>;

    /// Compiles a function into an executable that owns its resident
    /// inputs. Backends that run on host memory keep them as host tensors
    /// and update them in place ([`HostExecutable`]); a device backend
    /// overrides this to keep them in device memory.
    fn compile(&self, f: &Function) -> Result<Box<dyn Executable>, CompileError> {
        let runner = self.compile_graph(f.graph())?;
        Ok(Box::new(HostExecutable::new(f.signature().clone(), runner)))
    }
}

/// A compiled function that owns its parameters and state: they are
/// loaded once, stay where the backend runs, and are updated in place by
/// every call through the update pairs its signature fixed at compile time.
/// A call exchanges only data, hyperparameters and the outputs asked for.
pub trait Executable {
    fn signature(&self) -> &Signature;

    /// Replaces resident input `input` (a position in the signature's
    /// inputs, a parameter or state) with `value`.
    fn load(&mut self, input: usize, value: &Tensor) -> Result<(), RunError>;

    /// A host copy of resident input `input`.
    fn read(&self, input: usize) -> Tensor;

    /// One call: `data` holds the data inputs in calling order, `hyper` the
    /// hyperparameters; returns the outputs at positions `want`, in that
    /// order. Resident inputs are replaced by their updates.
    fn call(
        &mut self,
        data: &[&Tensor],
        hyper: &HyperValues,
        want: &[usize],
    ) -> Result<Vec<Tensor>, RunError>;
}

/// A compiled graph on host tensors. `inputs` follow `Graph::inputs`, the
/// result follows `Graph::outputs`; symbolic dimensions are bound from the
/// inputs' shapes.
pub trait Runner {
    fn run(&mut self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, RunError>;

    /// Runs with some outputs written back into the inputs they replace: a
    /// training step's new parameters and optimizer state. `updates` holds
    /// `(input, output)` index pairs, each input an [`Arg::Update`] of the
    /// output's type; the result has `None` at those outputs. A backend that
    /// can writes them in place, so a step allocates nothing; this default
    /// runs [`Runner::run`] and moves the fresh outputs in.
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

/// An [`Executable`] over a host [`Runner`]: resident inputs are host
/// tensors owned here, passed to the runner as in-place updates.
pub struct HostExecutable {
    signature: Signature,
    runner: Box<dyn Runner>,
    /// One slot per input; `Some` for resident inputs.
    resident: Vec<Option<Tensor>>,
    updates: Vec<(usize, usize)>,
}

impl HostExecutable {
    /// Resident inputs start at zero (`load` them before the first call).
    pub fn new(signature: Signature, runner: Box<dyn Runner>) -> HostExecutable {
        let resident = signature
            .inputs
            .iter()
            .map(|s| {
                s.role.is_resident().then(|| {
                    let shape: Vec<usize> =
                        s.ty.shape
                            .dims()
                            .iter()
                            .map(|d| d.fixed().unwrap_or(0))
                            .collect();
                    Tensor::full(s.ty.dtype, &shape, 0.0)
                })
            })
            .collect();
        let updates = signature.updates();
        HostExecutable {
            signature,
            runner,
            resident,
            updates,
        }
    }
}

impl Executable for HostExecutable {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn load(&mut self, input: usize, value: &Tensor) -> Result<(), RunError> {
        let spec = self
            .signature
            .inputs
            .get(input)
            .ok_or_else(|| RunError(format!("no input {input}")))?;
        let slot = self.resident[input]
            .as_mut()
            .ok_or_else(|| RunError(format!("input `{}` is not resident", spec.name)))?;
        if value.dtype() != slot.dtype() || value.shape() != slot.shape() {
            return Err(RunError(format!(
                "`{}` is {}, not {:?}{:?}",
                spec.name,
                spec.ty,
                value.dtype(),
                value.shape()
            )));
        }
        *slot = value.clone();
        Ok(())
    }

    fn read(&self, input: usize) -> Tensor {
        self.resident[input]
            .clone()
            .unwrap_or_else(|| panic!("internal: input {input} is not resident"))
    }

    fn call(
        &mut self,
        data: &[&Tensor],
        hyper: &HyperValues,
        want: &[usize],
    ) -> Result<Vec<Tensor>, RunError> {
        let hypers: Vec<Option<Tensor>> = self
            .signature
            .inputs
            .iter()
            .map(|s| match s.role {
                Role::Hyper(h) => Some(Tensor::scalar(s.ty.dtype, hyper.value(h))),
                _ => None,
            })
            .collect();
        let mut data = data.iter();
        let mut args: Vec<Arg> = Vec::with_capacity(hypers.len());
        for ((i, slot), h) in self.resident.iter_mut().enumerate().zip(&hypers) {
            let updated = self.signature.inputs[i].updated_by.is_some();
            let arg = match (slot, h) {
                (Some(t), _) => {
                    if updated {
                        Arg::Update(t)
                    } else {
                        Arg::In(t)
                    }
                }
                (None, Some(h)) => Arg::In(h),
                (None, None) => Arg::In(data.next().ok_or_else(|| {
                    RunError(format!(
                        "no data for input `{}`",
                        self.signature.inputs[i].name
                    ))
                })?),
            };
            args.push(arg);
        }
        if data.next().is_some() {
            return Err(RunError("more data tensors than data inputs".into()));
        }
        let mut outs = self.runner.run_update(&mut args, &self.updates)?;
        drop(args);
        want.iter()
            .map(|&o| match outs.get_mut(o).and_then(Option::take) {
                Some(t) => Ok(t),
                None => match self.updates.iter().find(|&&(_, u)| u == o) {
                    Some(&(i, _)) => Ok(self.read(i)),
                    None => Err(RunError(format!("no output {o}"))),
                },
            })
            .collect()
    }
}

/// An argument of [`Runner::run_update`].
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
