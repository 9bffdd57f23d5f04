//! Optimizers as graph transforms: the gradient graph becomes a training step
//! that also updates the parameters and the optimizer state, so forward,
//! backward and update compile into one function. The learning rate and the
//! step count are graph inputs, so a schedule never recompiles. The update
//! rules follow PyTorch's `torch.optim.SGD`, `Adam`/`AdamW` and `RMSprop`
//! exactly (their documented algorithms, without `maximize`, `amsgrad` or
//! SGD's `dampening`).

use crate::ir::{BinaryOp, DType, Graph, Hyper, OutputKind, Role, TensorType, UnaryOp, Value};

#[derive(Clone, Debug, PartialEq)]
pub enum Optimizer {
    /// `weight_decay` adds `wd * p` to the gradient; `momentum` keeps a
    /// buffer `b = momentum * b + g` (zero-initialised, so the first step
    /// stores `g`, as PyTorch does); `nesterov` steps along `g + momentum * b`.
    Sgd {
        momentum: f64,
        nesterov: bool,
        weight_decay: f64,
    },
    /// Adam with bias correction by the `step` input; `decoupled` is AdamW
    /// (the weight decay shrinks the parameter instead of joining the gradient).
    Adam {
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
        decoupled: bool,
    },
    /// RMSprop: `eps` is added outside the square root; `centered` subtracts
    /// the squared running mean of the gradient.
    RmsProp {
        alpha: f64,
        eps: f64,
        momentum: f64,
        weight_decay: f64,
        centered: bool,
    },
}

impl Optimizer {
    /// PyTorch's defaults: plain SGD.
    pub fn sgd() -> Optimizer {
        Optimizer::Sgd {
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
    /// PyTorch's defaults: betas (0.9, 0.999), eps 1e-8, no weight decay.
    pub fn adam() -> Optimizer {
        Optimizer::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }
    /// PyTorch's `AdamW` defaults: Adam's, with decoupled weight decay 0.01.
    pub fn adamw() -> Optimizer {
        Optimizer::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            decoupled: true,
        }
    }
    /// PyTorch's defaults: alpha 0.99, eps 1e-8, no momentum, not centered.
    pub fn rmsprop() -> Optimizer {
        Optimizer::RmsProp {
            alpha: 0.99,
            eps: 1e-8,
            momentum: 0.0,
            weight_decay: 0.0,
            centered: false,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Sgd { .. } => "sgd",
            Optimizer::Adam {
                decoupled: false, ..
            } => "adam",
            Optimizer::Adam {
                decoupled: true, ..
            } => "adamw",
            Optimizer::RmsProp { .. } => "rmsprop",
        }
    }

    /// The state each parameter carries between steps, in the order of the
    /// step graph's `<p>/<slot>` inputs and outputs. All start at zero.
    pub fn state_slots(&self) -> &'static [&'static str] {
        match self {
            Optimizer::Sgd { momentum, .. } if *momentum != 0.0 => &["momentum"],
            Optimizer::Sgd { .. } => &[],
            Optimizer::Adam { .. } => &["m", "v"],
            Optimizer::RmsProp {
                momentum, centered, ..
            } => match (*centered, *momentum != 0.0) {
                (false, false) => &["square_avg"],
                (false, true) => &["square_avg", "momentum"],
                (true, false) => &["square_avg", "grad_avg"],
                (true, true) => &["square_avg", "grad_avg", "momentum"],
            },
        }
    }
}

/// Parameters updated by one optimizer, with a learning rate of their own
/// (the `hyper(lr=G)` input of group `G`).
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// Positions in the graph's inputs of the parameters this group owns.
    pub params: Vec<usize>,
    pub optimizer: Optimizer,
}

impl Group {
    /// One group of every `Role::Param` input of `g`: the declarative
    /// `train` block's recipe.
    pub fn all(g: &Graph, optimizer: Optimizer) -> Group {
        let params = g
            .inputs_with_role(Role::Param)
            .into_iter()
            .map(|p| g.input_position(p).expect("internal: an input"))
            .collect();
        Group { params, optimizer }
    }
}

/// [`apply_groups`] with one group of every parameter: the declarative
/// `train` block's step.
pub fn apply(g: &Graph, opt: &Optimizer) -> Graph {
    apply_groups(g, &[Group::all(g, opt.clone())])
}

/// Turns a gradient graph (which has a [`OutputKind::Grad`] output for
/// every parameter of every group, as `autodiff::grad` adds them) into the
/// training step.
///
/// Inputs: those of `g`, then per group, per param, per slot a
/// `Role::State` input `<p>/<slot>` (typed like `p`), then each group's
/// learning rate `hyper(lr=G)` (named `lr` for the first group, `lr.G`
/// after it) and one `hyper(step)` (the 1-based number of this update), in
/// the params' dtype. Outputs: `g`'s outputs other than the groups'
/// gradients, then each param's new value named `p`, then each new state
/// `<p>/<slot>`, every one an [`OutputKind::Update`] of its input.
pub fn apply_groups(g: &Graph, groups: &[Group]) -> Graph {
    let mut h = g.clone();
    let all: Vec<usize> = groups.iter().flat_map(|gr| gr.params.clone()).collect();
    let dtype = params_dtype(g, &all);
    let grad_of = |of: usize| match g
        .outputs
        .iter()
        .position(|o| o.kind == OutputKind::Grad { of })
    {
        Some(k) => k,
        None => panic!("internal: graph @{} has no gradient of input {of}", g.name),
    };
    let consumed: Vec<usize> = all.iter().map(|&p| grad_of(p)).collect();
    h.outputs = g
        .outputs
        .iter()
        .enumerate()
        .filter(|(k, _)| !consumed.contains(k))
        .map(|(_, o)| o.clone())
        .collect();
    let states: Vec<Vec<Vec<Value>>> = groups
        .iter()
        .map(|group| {
            let slots = group.optimizer.state_slots();
            group
                .params
                .iter()
                .map(|&p| {
                    let (name, ty) = (g.input_info(g.inputs[p]).0, g.ty(g.inputs[p]).clone());
                    slots
                        .iter()
                        .map(|s| h.input(format!("{name}/{s}"), Role::State, ty.clone()))
                        .collect()
                })
                .collect()
        })
        .collect();
    let lrs: Vec<Value> = (0..groups.len())
        .map(|i| {
            let name = if i == 0 {
                "lr".to_string()
            } else {
                format!("lr.{i}")
            };
            h.input(name, Role::Hyper(Hyper::Lr(i)), TensorType::scalar(dtype))
        })
        .collect();
    let step = h.input("step", Role::Hyper(Hyper::Step), TensorType::scalar(dtype));
    let mut new_states = Vec::new();
    for ((group, states), &lr) in groups.iter().zip(&states).zip(&lrs) {
        let bias = match group.optimizer {
            Optimizer::Adam { beta1, beta2, .. } => Some((
                bias_correction(&mut h, beta1, step),
                bias_correction(&mut h, beta2, step),
            )),
            _ => None,
        };
        for (&p, state) in group.params.iter().zip(states) {
            let gr = g.outputs[grad_of(p)].value;
            let (new_p, new_s) = update(&mut h, &group.optimizer, g.inputs[p], gr, state, lr, bias);
            let name = g.input_info(g.inputs[p]).0;
            h.output_kind(name, new_p, OutputKind::Update { of: p });
            new_states.push((name, group.optimizer.state_slots(), state.clone(), new_s));
        }
    }
    for (name, slots, inputs, news) in new_states {
        for ((slot, &input), &v) in slots.iter().zip(&inputs).zip(&news) {
            let of = h.input_position(input).expect("internal: a state input");
            h.output_kind(format!("{name}/{slot}"), v, OutputKind::Update { of });
        }
    }
    h
}

/// The new value of parameter `p` and of its optimizer state after one
/// step along gradient `gr`.
fn update(
    h: &mut Graph,
    opt: &Optimizer,
    p: Value,
    gr: Value,
    state: &[Value],
    lr: Value,
    bias: Option<(Value, Value)>,
) -> (Value, Vec<Value>) {
    let mut u = Update { h, p };
    let lr = u.splat(lr);
    match *opt {
        Optimizer::Sgd {
            momentum,
            nesterov,
            weight_decay,
        } => {
            let d = u.decayed(gr, weight_decay);
            let (d, s) = if momentum != 0.0 {
                let b = u.axpby(momentum, state[0], 1.0, d);
                let d = if nesterov {
                    u.axpby(1.0, d, momentum, b)
                } else {
                    b
                };
                (d, vec![b])
            } else {
                (d, vec![])
            };
            (u.descend(p, lr, d), s)
        }
        Optimizer::Adam {
            beta1,
            beta2,
            eps,
            weight_decay,
            decoupled,
        } => {
            let (base, d) = if decoupled && weight_decay != 0.0 {
                // p <- p * (1 - lr * wd), before the Adam step
                let lw = u.h.scale(lr, weight_decay);
                let one = u.h.constant_like(1.0, p);
                let keep = u.h.sub(one, lw);
                (u.h.mul(p, keep), gr)
            } else {
                (p, u.decayed(gr, weight_decay))
            };
            let m = u.axpby(beta1, state[0], 1.0 - beta1, d);
            let dd = u.h.mul(d, d);
            let v = u.axpby(beta2, state[1], 1.0 - beta2, dd);
            let (bc1, bc2) = bias.expect("internal: adam has bias corrections");
            let (bc1, bc2) = (u.splat(bc1), u.splat(bc2));
            let m_hat = u.h.div(m, bc1);
            let v_hat = u.h.div(v, bc2);
            let dir = u.over_root(m_hat, v_hat, eps);
            (u.descend(base, lr, dir), vec![m, v])
        }
        Optimizer::RmsProp {
            alpha,
            eps,
            momentum,
            weight_decay,
            centered,
        } => {
            let d = u.decayed(gr, weight_decay);
            let dd = u.h.mul(d, d);
            let sq = u.axpby(alpha, state[0], 1.0 - alpha, dd);
            let mut s = vec![sq];
            let mut avg = sq;
            if centered {
                let ga = u.axpby(alpha, state[1], 1.0 - alpha, d);
                let ga2 = u.h.mul(ga, ga);
                avg = u.h.sub(sq, ga2);
                s.push(ga);
            }
            let dir = u.over_root(d, avg, eps);
            if momentum != 0.0 {
                let b = u.axpby(momentum, state[s.len()], 1.0, dir);
                s.push(b);
                (u.descend(p, lr, b), s)
            } else {
                (u.descend(p, lr, dir), s)
            }
        }
    }
}

/// The params' common float dtype (f32 when there are none).
fn params_dtype(g: &Graph, params: &[usize]) -> DType {
    let mut dtypes: Vec<DType> = params.iter().map(|&p| g.ty(g.inputs[p]).dtype).collect();
    dtypes.sort_by_key(|d| d.name());
    dtypes.dedup();
    match dtypes.as_slice() {
        [] => DType::F32,
        [d] if d.is_float() => *d,
        _ => panic!("internal: params of dtypes {dtypes:?}; the optimizer needs one float dtype"),
    }
}

/// `1 - beta^step`, a scalar.
fn bias_correction(h: &mut Graph, beta: f64, step: Value) -> Value {
    let b = h.constant_like(beta, step);
    let pow = h.binary(BinaryOp::Pow, b, step);
    let one = h.constant_like(1.0, step);
    h.sub(one, pow)
}

/// Builds one parameter's update; every value has the param's type.
struct Update<'a> {
    h: &'a mut Graph,
    p: Value,
}

impl Update<'_> {
    /// A scalar broadcast to the param's shape.
    fn splat(&mut self, s: Value) -> Value {
        let shape = self.h.ty(self.p).shape.clone();
        self.h.broadcast_to(s, shape, vec![])
    }
    /// `a * x + b * y` for constants `a`, `b` (a factor of 1 is skipped).
    fn axpby(&mut self, a: f64, x: Value, b: f64, y: Value) -> Value {
        let ax = if a == 1.0 { x } else { self.h.scale(x, a) };
        let by = if b == 1.0 { y } else { self.h.scale(y, b) };
        self.h.add(ax, by)
    }
    /// The gradient with L2 weight decay: `g + wd * p`.
    fn decayed(&mut self, g: Value, wd: f64) -> Value {
        if wd == 0.0 {
            g
        } else {
            let p = self.p;
            self.axpby(1.0, g, wd, p)
        }
    }
    /// `x / (sqrt(v) + eps)`
    fn over_root(&mut self, x: Value, v: Value, eps: f64) -> Value {
        let r = self.h.unary(UnaryOp::Sqrt, v);
        let e = self.h.constant_like(eps, r);
        let den = self.h.add(r, e);
        self.h.div(x, den)
    }
    /// `base - lr * d`
    fn descend(&mut self, base: Value, lr: Value, d: Value) -> Value {
        let step = self.h.mul(lr, d);
        self.h.sub(base, step)
    }
}
