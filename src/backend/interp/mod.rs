//! The reference interpreter on ndarray: the oracle that defines what every
//! op means. It walks the graph in build order (a topological order),
//! computes only the nodes the outputs need, hands an operand's buffer to its
//! last user so elementwise chains run in place, and frees every value after
//! its last use. Symbolic dimensions are bound from the inputs' shapes.
//! A scan runs its body once per step with the body's own plan, made once
//! when the outer graph's plan is (`scan.rs`).

mod conv;
mod indexing;
mod kernels;
mod movement;
mod random;
mod scan;
mod window;

use ndarray::ArrayD;

use super::{Backend, BackendKind, CompileError, RunError, Runner};
use crate::ir::{DType, Dim, Graph, Op, Value};
use crate::tensor::Tensor;

/// The reference backend. Slow but simple; every other backend is tested
/// against it.
pub struct Interpreter;

impl Backend for Interpreter {
    fn kind(&self) -> BackendKind {
        BackendKind::Interp
    }
    fn compile_graph(&self, graph: &Graph) -> Result<Box<dyn Runner>, CompileError> {
        check_types(graph).map_err(CompileError::Internal)?;
        let plan = Plan::new(graph);
        Ok(Box::new(Compiled {
            graph: graph.clone(),
            plan,
        }))
    }
}

struct Compiled {
    graph: Graph,
    plan: Plan,
}

impl Runner for Compiled {
    fn run(&mut self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, RunError> {
        run(&self.graph, &self.plan, inputs)
    }
}

/// Runs `g` once: `inputs` in `g.inputs` order, results in `g.outputs` order.
/// Each input is checked against its declared type and binds the symbols in
/// it; a symbol bound twice to different sizes is an error naming both inputs.
pub fn eval(g: &Graph, inputs: &[&Tensor]) -> Result<Vec<Tensor>, RunError> {
    run(g, &Plan::new(g), inputs)
}

/// A light verification: every node's type follows from its operands by the
/// op's typing rule, so the kernels may assume well-typed operands. Scan
/// bodies are checked the same way.
fn check_types(g: &Graph) -> Result<(), String> {
    for v in g.nodes() {
        let node = g.node(v);
        let ops = g.operands(v);
        if let Op::Scan(s) = &node.op {
            check_types(&s.body)
                .map_err(|e| format!("node %{}: body @{}: {e}", v.index(), s.body.name))?;
        }
        let tys: Vec<_> = ops.iter().map(|&o| g.ty(o)).collect();
        node.op
            .result_type(&tys, Some(&node.ty))
            .map_err(|e| format!("node %{}: {e}", v.index()))?;
        if let Op::Get { index } = node.op {
            g.check_get(ops[0], index, &node.ty)
                .map_err(|e| format!("node %{}: {e}", v.index()))?;
        }
    }
    for &i in &g.inputs {
        if !matches!(g.op(i), Op::Input { .. }) {
            return Err(format!("graph input %{} is not an input node", i.index()));
        }
    }
    for o in &g.outputs {
        if o.value.index() >= g.len() {
            return Err(format!("output `{}` names a missing node", o.name));
        }
    }
    Ok(())
}

/// What a run needs to know about the graph, computed once per compile.
struct Plan {
    /// Operands of each node, in position order.
    operands: Vec<Vec<Value>>,
    /// Whether an output depends on the node's value.
    needed: Vec<bool>,
    /// How many times the node's value is read: once per operand edge of a
    /// needed user, plus once per output naming it (never released).
    uses: Vec<usize>,
    /// The plan of each scan node's body (`None` for other nodes).
    bodies: Vec<Option<Plan>>,
    /// For a `get`: whether it is the last needed read of its result, so
    /// it may move the result out rather than copy it.
    moves: Vec<bool>,
}

/// `dim` reads only its operand's shape, which the bindings give, so it
/// does not keep the operand alive or force it to be computed.
fn reads_value(op: &Op) -> bool {
    !matches!(op, Op::DimSize { .. })
}

impl Plan {
    fn new(g: &Graph) -> Plan {
        let n = g.len();
        let operands: Vec<Vec<Value>> = g.nodes().map(|v| g.operands(v)).collect();
        let mut needed = vec![false; n];
        let mut uses = vec![0usize; n];
        for o in &g.outputs {
            needed[o.value.index()] = true;
            uses[o.value.index()] += 1;
        }
        for v in (0..n).rev() {
            if !needed[v] || !reads_value(&g.dag[Value::new(v)].op) {
                continue;
            }
            for &o in &operands[v] {
                needed[o.index()] = true;
                uses[o.index()] += 1;
            }
        }
        let bodies = g
            .nodes()
            .map(|v| match g.op(v) {
                Op::Scan(s) if needed[v.index()] => Some(Plan::new(&s.body)),
                _ => None,
            })
            .collect();
        let moves = scan::last_gets(g, &operands, &needed);
        Plan {
            operands,
            needed,
            uses,
            bodies,
            moves,
        }
    }
}

/// A value during a run: absent (not computed yet, or freed), a caller's
/// input, a tensor the interpreter owns and may reuse, or the results of a
/// scan (each `None` once a `get` has moved it out).
enum Slot<'a> {
    Empty,
    Input(&'a Tensor),
    Owned(Tensor),
    Many(Vec<Option<Tensor>>),
}

struct Run<'a> {
    slots: Vec<Slot<'a>>,
    remaining: Vec<usize>,
    bindings: Vec<(String, usize)>,
}

impl<'a> Run<'a> {
    fn get(&self, v: Value) -> &Tensor {
        match &self.slots[v.index()] {
            Slot::Input(t) => t,
            Slot::Owned(t) => t,
            Slot::Empty => panic!("internal: value %{} read before it is computed", v.index()),
            Slot::Many(_) => panic!("internal: scan %{} read without `get`", v.index()),
        }
    }

    /// The operand as an owned tensor to compute into: its buffer when this
    /// is its last read, a copy otherwise.
    fn take(&mut self, v: Value) -> Tensor {
        let i = v.index();
        if self.remaining[i] == 1 {
            if let Slot::Owned(_) = self.slots[i] {
                if let Slot::Owned(t) = std::mem::replace(&mut self.slots[i], Slot::Empty) {
                    return t;
                }
            }
        }
        self.get(v).clone()
    }

    fn release(&mut self, v: Value) {
        let i = v.index();
        self.remaining[i] -= 1;
        if self.remaining[i] == 0 {
            self.slots[i] = Slot::Empty;
        }
    }

    /// The run-time shape of a node's type.
    fn shape(&self, g: &Graph, v: Value) -> Result<Vec<usize>, RunError> {
        let shape = &g.ty(v).shape;
        shape.bind(&self.bindings).ok_or_else(|| {
            let unbound: Vec<String> = shape
                .dims()
                .iter()
                .filter_map(|d| match d {
                    Dim::Sym(s) if !self.bindings.iter().any(|(k, _)| k == s) => Some(s.clone()),
                    _ => None,
                })
                .collect();
            RunError(format!(
                "size `{}` of node %{} is not bound by any input",
                unbound.join(", "),
                v.index()
            ))
        })
    }
}

fn run(g: &Graph, plan: &Plan, inputs: &[&Tensor]) -> Result<Vec<Tensor>, RunError> {
    let bindings = bind_inputs(g, inputs)?;
    let n = g.len();
    let mut r = Run {
        slots: (0..n).map(|_| Slot::Empty).collect(),
        remaining: plan.uses.clone(),
        bindings,
    };
    for (&v, &t) in g.inputs.iter().zip(inputs) {
        r.slots[v.index()] = Slot::Input(t);
    }
    for i in 0..n {
        let v = Value::new(i);
        if !plan.needed[i] || matches!(g.op(v), Op::Input { .. }) {
            continue;
        }
        let ops = &plan.operands[i];
        let at = |e: RunError| RunError(format!("{} (node %{i}, `{}`)", e.0, g.op(v).name()));
        let out = match g.op(v) {
            Op::Scan(s) => {
                let body = plan.bodies[i]
                    .as_ref()
                    .expect("internal: a needed scan has a plan");
                let results = scan::exec(g, v, s, body, ops, &r).map_err(at)?;
                r.slots[i] = Slot::Many(results.into_iter().map(Some).collect());
                for &o in ops {
                    r.release(o);
                }
                continue;
            }
            Op::Get { index } => r.result(ops[0], *index, plan.moves[i]),
            _ => exec(g, v, ops, &mut r).map_err(at)?,
        };
        let want = r.shape(g, v)?;
        if out.dtype() != g.ty(v).dtype || out.shape() != want.as_slice() {
            panic!(
                "internal: interpreter computed {:?}{:?} for node %{i} of type {}",
                out.dtype(),
                out.shape(),
                g.ty(v)
            );
        }
        r.slots[i] = Slot::Owned(out);
        if reads_value(g.op(v)) {
            for &o in ops {
                r.release(o);
            }
        }
    }
    // What is left of each output's count is the number of outputs naming
    // it, so the last one moves the buffer out and the others copy it.
    let mut results = Vec::with_capacity(g.outputs.len());
    for o in &g.outputs {
        results.push(r.take(o.value));
        r.release(o.value);
    }
    Ok(results)
}

/// Checks every input against its node's type and binds symbolic sizes.
fn bind_inputs(g: &Graph, inputs: &[&Tensor]) -> Result<Vec<(String, usize)>, RunError> {
    if inputs.len() != g.inputs.len() {
        return Err(RunError(format!(
            "graph @{} takes {} input(s), got {}",
            g.name,
            g.inputs.len(),
            inputs.len()
        )));
    }
    // (symbol, size, the input that bound it)
    let mut bound: Vec<(String, usize, String)> = Vec::new();
    for (&v, t) in g.inputs.iter().zip(inputs) {
        let (name, _) = g.input_info(v);
        let ty = g.ty(v);
        let mismatch = || {
            RunError(format!(
                "input `{name}` should be {ty}, got {}{:?}",
                t.dtype(),
                t.shape()
            ))
        };
        if t.dtype() != ty.dtype || t.shape().len() != ty.rank() {
            return Err(mismatch());
        }
        for (d, &size) in ty.shape.dims().iter().zip(t.shape()) {
            match d {
                Dim::Fixed(k) if *k != size => return Err(mismatch()),
                Dim::Fixed(_) => {}
                Dim::Sym(s) => match bound.iter().find(|(k, _, _)| k == s) {
                    Some((_, prev, by)) if *prev != size => {
                        return Err(RunError(format!(
                            "size `{s}` is {prev} in input `{by}` but {size} in input `{name}`"
                        )))
                    }
                    Some(_) => {}
                    None => bound.push((s.clone(), size, name.to_string())),
                },
            }
        }
    }
    Ok(bound.into_iter().map(|(s, n, _)| (s, n)).collect())
}

fn err(msg: impl Into<String>) -> RunError {
    RunError(msg.into())
}

/// Applies a generic kernel to whichever dtype the tensor holds.
macro_rules! each_dtype {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            Tensor::F32($a) => Tensor::F32($body),
            Tensor::F64($a) => Tensor::F64($body),
            Tensor::I32($a) => Tensor::I32($body),
            Tensor::Bool($a) => Tensor::Bool($body),
        }
    };
}

fn creation<T: kernels::Elem>(op: &Op, shape: &[usize]) -> ArrayD<T> {
    match op {
        Op::Const { value } => ArrayD::from_elem(shape, T::of(*value)),
        Op::Iota { axis } => kernels::iota(shape, *axis),
        _ => unreachable!("internal: not a creation op"),
    }
}

fn cast_to<T: kernels::Elem>(t: &Tensor) -> ArrayD<T> {
    match t {
        Tensor::F32(a) => kernels::cast(a),
        Tensor::F64(a) => kernels::cast(a),
        Tensor::I32(a) => kernels::cast(a),
        Tensor::Bool(a) => kernels::cast(a),
    }
}

/// Computes one node. Operands are well typed (the graph was checked), so a
/// dtype combination the typing rule forbids is an internal error.
fn exec(g: &Graph, v: Value, ops: &[Value], r: &mut Run) -> Result<Tensor, RunError> {
    let node = g.node(v);
    let dtype = node.ty.dtype;
    let bad = || -> RunError {
        panic!(
            "internal: `{}` on operands the typing rule rejects",
            node.op.name()
        )
    };
    Ok(match &node.op {
        Op::Input { .. } => unreachable!("internal: inputs are bound before the run"),
        op @ (Op::Const { .. } | Op::Iota { .. }) => {
            let shape = r.shape(g, v)?;
            match dtype {
                DType::F32 => Tensor::F32(creation(op, &shape)),
                DType::F64 => Tensor::F64(creation(op, &shape)),
                DType::I32 => Tensor::I32(creation(op, &shape)),
                DType::Bool => Tensor::Bool(creation(op, &shape)),
            }
        }
        Op::Unary(u) => match r.take(ops[0]) {
            Tensor::F32(a) => Tensor::F32(kernels::unary_float(*u, a)),
            Tensor::F64(a) => Tensor::F64(kernels::unary_float(*u, a)),
            Tensor::I32(a) => Tensor::I32(kernels::unary_int(*u, a).map_err(err)?),
            Tensor::Bool(_) => return Err(bad()),
        },
        Op::Binary(b) => {
            let a = r.take(ops[0]);
            match (a, r.get(ops[1])) {
                (Tensor::F32(a), Tensor::F32(y)) => Tensor::F32(kernels::binary_float(*b, a, y)),
                (Tensor::F64(a), Tensor::F64(y)) => Tensor::F64(kernels::binary_float(*b, a, y)),
                (Tensor::I32(a), Tensor::I32(y)) => {
                    Tensor::I32(kernels::binary_int(*b, a, y).map_err(err)?)
                }
                _ => return Err(bad()),
            }
        }
        Op::Compare(c) => Tensor::Bool(match (r.get(ops[0]), r.get(ops[1])) {
            (Tensor::F32(a), Tensor::F32(b)) => kernels::compare(*c, a, b),
            (Tensor::F64(a), Tensor::F64(b)) => kernels::compare(*c, a, b),
            (Tensor::I32(a), Tensor::I32(b)) => kernels::compare(*c, a, b),
            (Tensor::Bool(a), Tensor::Bool(b)) => kernels::compare(*c, a, b),
            _ => return Err(bad()),
        }),
        Op::Select => {
            let a = r.take(ops[1]);
            let (Tensor::Bool(cond), b) = (r.get(ops[0]), r.get(ops[2])) else {
                return Err(bad());
            };
            match (a, b) {
                (Tensor::F32(a), Tensor::F32(b)) => Tensor::F32(kernels::select(cond, a, b)),
                (Tensor::F64(a), Tensor::F64(b)) => Tensor::F64(kernels::select(cond, a, b)),
                (Tensor::I32(a), Tensor::I32(b)) => Tensor::I32(kernels::select(cond, a, b)),
                (Tensor::Bool(a), Tensor::Bool(b)) => Tensor::Bool(kernels::select(cond, a, b)),
                _ => return Err(bad()),
            }
        }
        Op::Cast => {
            let a = r.get(ops[0]);
            match dtype {
                _ if a.dtype() == dtype => a.clone(),
                DType::F32 => Tensor::F32(cast_to(a)),
                DType::F64 => Tensor::F64(cast_to(a)),
                DType::I32 => Tensor::I32(cast_to(a)),
                DType::Bool => Tensor::Bool(cast_to(a)),
            }
        }
        Op::Reduce { op, axes } => match r.get(ops[0]) {
            Tensor::F32(a) => Tensor::F32(kernels::reduce(*op, a, axes)),
            Tensor::F64(a) => Tensor::F64(kernels::reduce(*op, a, axes)),
            Tensor::I32(a) => Tensor::I32(kernels::reduce(*op, a, axes)),
            Tensor::Bool(a) => Tensor::Bool(kernels::reduce_bool(*op, a, axes).map_err(err)?),
        },
        Op::Broadcast { dims } => {
            let shape = r.shape(g, v)?;
            let a = r.get(ops[0]);
            let from = a.shape().to_vec();
            let fail = || err(format!("cannot broadcast {from:?} to {shape:?}"));
            each_dtype!(a, a => kernels::broadcast(a, dims, &shape).ok_or_else(fail)?)
        }
        Op::Reshape => {
            let shape = r.shape(g, v)?;
            let a = r.take(ops[0]);
            let from = a.shape().to_vec();
            let fail = || err(format!("cannot reshape {from:?} to {shape:?}"));
            each_dtype!(a, a => kernels::reshape(a, &shape).ok_or_else(fail)?)
        }
        Op::Transpose { perm } => {
            let a = r.take(ops[0]);
            each_dtype!(a, a => kernels::transpose(a, perm))
        }
        Op::MatMul => match (r.get(ops[0]), r.get(ops[1])) {
            (Tensor::F32(a), Tensor::F32(b)) => Tensor::F32(kernels::matmul(a, b)),
            (Tensor::F64(a), Tensor::F64(b)) => Tensor::F64(kernels::matmul(a, b)),
            _ => return Err(bad()),
        },
        Op::DimSize { axis } => {
            let size = r.shape(g, ops[0])?[*axis];
            Tensor::scalar(dtype, size as f64)
        }
        op @ (Op::Slice { .. }
        | Op::Pad { .. }
        | Op::Concat { .. }
        | Op::Reverse { .. }
        | Op::Conv(_)
        | Op::ReduceWindow { .. }
        | Op::Random { .. }
        | Op::Gather) => {
            let shape = r.shape(g, v)?;
            let operands: Vec<&Tensor> = ops.iter().map(|&o| r.get(o)).collect();
            apply(op, &operands, dtype, &shape)?
        }
        Op::ScatterAdd => {
            let operand = r.take(ops[0]);
            let (Tensor::I32(indices), updates) = (r.get(ops[1]), r.get(ops[2])) else {
                return Err(bad());
            };
            match (operand, updates) {
                (Tensor::F32(a), Tensor::F32(u)) => {
                    Tensor::F32(indexing::scatter_add(a, indices, u).map_err(err)?)
                }
                (Tensor::F64(a), Tensor::F64(u)) => {
                    Tensor::F64(indexing::scatter_add(a, indices, u).map_err(err)?)
                }
                (Tensor::I32(a), Tensor::I32(u)) => {
                    Tensor::I32(indexing::scatter_add(a, indices, u).map_err(err)?)
                }
                _ => return Err(bad()),
            }
        }
        Op::Scan(_) | Op::Get { .. } => unreachable!("internal: scans run in `run`"),
    })
}

/// The interpreter's definition of an op that needs nothing but its
/// operands and result shape (the movement, windowed, indexing and random
/// ops). It is also the definition of the kernel program's library
/// routines (`kernel::reference::routine` calls it). `scatter_add` copies its operand (the
/// graph walk above reuses it).
pub fn apply(
    op: &Op,
    operands: &[&Tensor],
    dtype: DType,
    shape: &[usize],
) -> Result<Tensor, RunError> {
    let bad = || -> RunError {
        panic!(
            "internal: `{}` on operands the typing rule rejects",
            op.name()
        )
    };
    let a = operands[0];
    Ok(match op {
        Op::Slice {
            start,
            stop,
            stride,
        } => {
            // A symbolic axis is kept whole: its stop is its run-time size.
            let stop: Vec<usize> = stop
                .iter()
                .zip(a.shape())
                .map(|(d, &n)| d.fixed().unwrap_or(n))
                .collect();
            each_dtype!(a, a => movement::slice(a, start, &stop, stride))
        }
        Op::Pad {
            low,
            interior,
            value,
            ..
        } => each_dtype!(a, a => movement::pad(a, low, interior, kernels::Elem::of(*value), shape)),
        Op::Concat { axis } => concat(operands, *axis).ok_or_else(bad)?,
        Op::Reverse { axes } => each_dtype!(a, a => movement::reverse(a, axes)),
        Op::Conv(c) => match (a, operands[1]) {
            (Tensor::F32(x), Tensor::F32(w)) => Tensor::F32(conv::conv(x, w, c, shape)),
            (Tensor::F64(x), Tensor::F64(w)) => Tensor::F64(conv::conv(x, w, c, shape)),
            _ => return Err(bad()),
        },
        Op::ReduceWindow { op, window } => match a {
            Tensor::F32(a) => Tensor::F32(window::reduce_window(*op, a, window, shape)),
            Tensor::F64(a) => Tensor::F64(window::reduce_window(*op, a, window, shape)),
            Tensor::I32(a) => Tensor::I32(window::reduce_window(*op, a, window, shape)),
            Tensor::Bool(_) => return Err(bad()),
        },
        Op::Random { dist, stream } => {
            let key = match a {
                Tensor::I32(k) => k.iter().next().copied().ok_or_else(bad)?,
                _ => return Err(bad()),
            };
            match dtype {
                DType::F32 => Tensor::F32(random::random_f32(*dist, key, *stream, shape)),
                DType::F64 => Tensor::F64(random::random_f64(*dist, key, *stream, shape)),
                _ => return Err(bad()),
            }
        }
        Op::Gather => {
            let Tensor::I32(indices) = operands[1] else {
                return Err(bad());
            };
            each_dtype!(a, t => indexing::gather(t, indices).map_err(err)?)
        }
        Op::ScatterAdd => {
            let (Tensor::I32(indices), updates) = (operands[1], operands[2]) else {
                return Err(bad());
            };
            match (a.clone(), updates) {
                (Tensor::F32(a), Tensor::F32(u)) => {
                    Tensor::F32(indexing::scatter_add(a, indices, u).map_err(err)?)
                }
                (Tensor::F64(a), Tensor::F64(u)) => {
                    Tensor::F64(indexing::scatter_add(a, indices, u).map_err(err)?)
                }
                (Tensor::I32(a), Tensor::I32(u)) => {
                    Tensor::I32(indexing::scatter_add(a, indices, u).map_err(err)?)
                }
                _ => return Err(bad()),
            }
        }
        _ => panic!("internal: `{}` is not a library op", op.name()),
    })
}

/// Joins tensors of one dtype along `axis`; `None` if the dtypes differ.
fn concat(parts: &[&Tensor], axis: usize) -> Option<Tensor> {
    macro_rules! join {
        ($variant:ident) => {{
            let views = parts
                .iter()
                .map(|t| match t {
                    Tensor::$variant(a) => Some(a.view()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            Tensor::$variant(movement::concat(&views, axis))
        }};
    }
    Some(match parts.first()? {
        Tensor::F32(_) => join!(F32),
        Tensor::F64(_) => join!(F64),
        Tensor::I32(_) => join!(I32),
        Tensor::Bool(_) => join!(Bool),
    })
}
