//! The optimizers' step graphs against PyTorch's documented algorithms: each
//! optimizer and option runs three steps (with a changing learning rate) on
//! a small quadratic in the interpreter, and is compared with a reference
//! loop written here in plain f64 from the `torch.optim` docs' pseudo-code.
//! Then a few hundred steps must minimise the quadratic.

use std::collections::HashMap;

use dlc::backend::interp::Interpreter;
use dlc::backend::Backend;
use dlc::ir::{DType, Graph, Hyper, Role, Shape, TensorType};
use dlc::passes::autodiff::grad;
use dlc::passes::optimizer::{apply, Optimizer};
use dlc::tensor::Tensor;

// The quadratic: loss = 1/2 Σ a (w - t)² + Σ (u - 1)², so
// d/dw = a (w - t) and d/du = 2 (u - 1).
const A: [f64; 3] = [1.0, 4.0, 0.5];
const T: [f64; 3] = [0.5, -1.0, 2.0];
const W0: [f64; 3] = [2.0, 1.0, -1.0];
const U0: [f64; 4] = [0.0, 3.0, -2.0, 1.5];

fn grads(w: &[f64], u: &[f64]) -> [Vec<f64>; 2] {
    [
        w.iter()
            .zip(A.iter().zip(T))
            .map(|(w, (a, t))| a * (w - t))
            .collect(),
        u.iter().map(|u| 2.0 * (u - 1.0)).collect(),
    ]
}

fn loss_of(w: &[f64], u: &[f64]) -> f64 {
    let lw: f64 = w
        .iter()
        .zip(A.iter().zip(T))
        .map(|(w, (a, t))| 0.5 * a * (w - t) * (w - t))
        .sum();
    lw + u.iter().map(|u| (u - 1.0) * (u - 1.0)).sum::<f64>()
}

/// The quadratic as a graph; params and data interleaved on purpose.
fn loss_graph(dtype: DType) -> Graph {
    let ty = |d: &[usize]| TensorType::new(dtype, Shape::fixed(d));
    let mut g = Graph::new("quadratic");
    let w = g.input("w", Role::Param, ty(&[3]));
    let a = g.input("a", Role::Data, ty(&[3]));
    let t = g.input("t", Role::Data, ty(&[3]));
    let u = g.input("m.u", Role::Param, ty(&[2, 2]));
    let d = g.sub(w, t);
    let dd = g.mul(d, d);
    let add = g.mul(a, dd);
    let lw = g.sum(add, vec![0]);
    let lw = g.scale(lw, 0.5);
    let one = g.constant_like(1.0, u);
    let e = g.sub(u, one);
    let ee = g.mul(e, e);
    let lu = g.sum(ee, vec![0, 1]);
    let loss = g.add(lw, lu);
    g.output("loss", loss);
    g
}

fn step_graph(opt: &Optimizer, dtype: DType) -> Graph {
    let g = loss_graph(dtype);
    let params = g.inputs_with_role(Role::Param);
    apply(&grad(&g, "loss", &params), opt)
}

/// Runs the step graph: returns the loss before each step and, after each
/// step, the params [w, u] and every state by its `<p>/<slot>` name.
struct Trace {
    losses: Vec<f64>,
    params: Vec<[Vec<f64>; 2]>,
    states: Vec<HashMap<String, Vec<f64>>>,
}

fn run_graph(opt: &Optimizer, lrs: &[f64]) -> Trace {
    let g = step_graph(opt, DType::F64);
    let mut exe = Interpreter.compile_graph(&g).expect("step graph compiles");
    let f = |shape: &[usize], v: &[f64]| Tensor::from_f64(DType::F64, shape, v.to_vec());
    let (a, t) = (f(&[3], &A), f(&[3], &T));
    let (mut w, mut u) = (f(&[3], &W0), f(&[2, 2], &U0));
    let slots = opt.state_slots();
    let mut state: Vec<Tensor> = (0..slots.len())
        .map(|_| Tensor::full(DType::F64, &[3], 0.0))
        .chain((0..slots.len()).map(|_| Tensor::full(DType::F64, &[2, 2], 0.0)))
        .collect();
    let mut trace = Trace {
        losses: vec![],
        params: vec![],
        states: vec![],
    };
    for (k, &lr) in lrs.iter().enumerate() {
        let lr = Tensor::scalar(DType::F64, lr);
        let step = Tensor::scalar(DType::F64, (k + 1) as f64);
        let mut inputs = vec![&w, &a, &t, &u];
        inputs.extend(state.iter());
        inputs.push(&lr);
        inputs.push(&step);
        let out = exe.run(&inputs).expect("step runs");
        assert_eq!(out.len(), 3 + state.len());
        trace.losses.push(out[0].item());
        w = out[1].clone();
        u = out[2].clone();
        state = out[3..].to_vec();
        trace.params.push([w.to_f64_vec(), u.to_f64_vec()]);
        let names = g.outputs[3..].iter().map(|o| o.name.clone());
        trace
            .states
            .push(names.zip(state.iter().map(|s| s.to_f64_vec())).collect());
    }
    trace
}

/// PyTorch's algorithms, transcribed from the `torch.optim` docs for one
/// parameter tensor, elementwise. `t` is the 1-based step.
#[derive(Default)]
struct RefState {
    b: Vec<f64>,
    m: Vec<f64>,
    v: Vec<f64>,
    g_ave: Vec<f64>,
}

fn reference_step(
    opt: &Optimizer,
    theta: &mut [f64],
    g: &[f64],
    lr: f64,
    t: usize,
    s: &mut RefState,
) {
    let n = theta.len();
    if s.m.is_empty() {
        // m_0, v_0, square_avg_0, g_ave_0 <- 0 (the momentum buffer is set at t = 1)
        s.m = vec![0.0; n];
        s.v = vec![0.0; n];
        s.g_ave = vec![0.0; n];
        s.b = vec![0.0; n];
    }
    for i in 0..n {
        let mut gi = g[i];
        match *opt {
            Optimizer::Sgd {
                momentum: mu,
                nesterov,
                weight_decay: wd,
            } => {
                if wd != 0.0 {
                    gi += wd * theta[i];
                }
                if mu != 0.0 {
                    s.b[i] = if t > 1 { mu * s.b[i] + gi } else { gi };
                    gi = if nesterov { gi + mu * s.b[i] } else { s.b[i] };
                }
                theta[i] -= lr * gi;
            }
            Optimizer::Adam {
                beta1,
                beta2,
                eps,
                weight_decay: wd,
                decoupled,
            } => {
                if decoupled {
                    theta[i] -= lr * wd * theta[i];
                } else if wd != 0.0 {
                    gi += wd * theta[i];
                }
                s.m[i] = beta1 * s.m[i] + (1.0 - beta1) * gi;
                s.v[i] = beta2 * s.v[i] + (1.0 - beta2) * gi * gi;
                let m_hat = s.m[i] / (1.0 - beta1.powi(t as i32));
                let v_hat = s.v[i] / (1.0 - beta2.powi(t as i32));
                theta[i] -= lr * m_hat / (v_hat.sqrt() + eps);
            }
            Optimizer::RmsProp {
                alpha,
                eps,
                momentum: mu,
                weight_decay: wd,
                centered,
            } => {
                if wd != 0.0 {
                    gi += wd * theta[i];
                }
                s.v[i] = alpha * s.v[i] + (1.0 - alpha) * gi * gi;
                let mut v_tilde = s.v[i];
                if centered {
                    s.g_ave[i] = alpha * s.g_ave[i] + (1.0 - alpha) * gi;
                    v_tilde -= s.g_ave[i] * s.g_ave[i];
                }
                if mu > 0.0 {
                    s.b[i] = mu * s.b[i] + gi / (v_tilde.sqrt() + eps);
                    theta[i] -= lr * s.b[i];
                } else {
                    theta[i] -= lr * gi / (v_tilde.sqrt() + eps);
                }
            }
        }
    }
}

/// The reference state under the step graph's slot name.
fn ref_slot<'a>(opt: &Optimizer, s: &'a RefState, slot: &str) -> &'a [f64] {
    match (opt, slot) {
        (_, "momentum") => &s.b,
        (Optimizer::Adam { .. }, "m") => &s.m,
        (Optimizer::Adam { .. }, "v") | (Optimizer::RmsProp { .. }, "square_avg") => &s.v,
        (Optimizer::RmsProp { .. }, "grad_avg") => &s.g_ave,
        _ => panic!("no reference for slot {slot}"),
    }
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (a, b) in got.iter().zip(want) {
        assert!(
            (a - b).abs() <= 1e-12 * b.abs().max(1.0),
            "{what}: got {got:?}, want {want:?}"
        );
    }
}

fn compare_with_reference(opt: Optimizer) {
    let lrs = [0.1, 0.05, 0.02];
    let trace = run_graph(&opt, &lrs);
    let (mut w, mut u) = (W0.to_vec(), U0.to_vec());
    let (mut sw, mut su) = (RefState::default(), RefState::default());
    for (k, &lr) in lrs.iter().enumerate() {
        let what = format!("{opt:?}, step {}", k + 1);
        assert_close(
            &[trace.losses[k]],
            &[loss_of(&w, &u)],
            &format!("{what}: loss"),
        );
        let [gw, gu] = grads(&w, &u);
        reference_step(&opt, &mut w, &gw, lr, k + 1, &mut sw);
        reference_step(&opt, &mut u, &gu, lr, k + 1, &mut su);
        assert_close(&trace.params[k][0], &w, &format!("{what}: w"));
        assert_close(&trace.params[k][1], &u, &format!("{what}: m.u"));
        for slot in opt.state_slots() {
            let sw_got = &trace.states[k][&format!("w/{slot}")];
            let su_got = &trace.states[k][&format!("m.u/{slot}")];
            assert_close(
                sw_got,
                ref_slot(&opt, &sw, slot),
                &format!("{what}: w/{slot}"),
            );
            assert_close(
                su_got,
                ref_slot(&opt, &su, slot),
                &format!("{what}: m.u/{slot}"),
            );
        }
    }
}

fn sgd(momentum: f64, nesterov: bool, weight_decay: f64) -> Optimizer {
    Optimizer::Sgd {
        momentum,
        nesterov,
        weight_decay,
    }
}

fn adam(beta1: f64, beta2: f64, eps: f64, weight_decay: f64, decoupled: bool) -> Optimizer {
    Optimizer::Adam {
        beta1,
        beta2,
        eps,
        weight_decay,
        decoupled,
    }
}

fn rmsprop(alpha: f64, eps: f64, momentum: f64, weight_decay: f64, centered: bool) -> Optimizer {
    Optimizer::RmsProp {
        alpha,
        eps,
        momentum,
        weight_decay,
        centered,
    }
}

#[test]
fn sgd_matches_pytorch() {
    compare_with_reference(Optimizer::sgd());
    compare_with_reference(sgd(0.9, false, 0.0));
    compare_with_reference(sgd(0.9, true, 0.0));
    compare_with_reference(sgd(0.0, false, 0.1));
    compare_with_reference(sgd(0.8, true, 0.05));
}

#[test]
fn adam_and_adamw_match_pytorch() {
    compare_with_reference(Optimizer::adam());
    compare_with_reference(Optimizer::adamw());
    compare_with_reference(adam(0.9, 0.999, 1e-8, 0.1, false));
    compare_with_reference(adam(0.8, 0.9, 0.1, 0.1, true));
}

#[test]
fn rmsprop_matches_pytorch() {
    compare_with_reference(Optimizer::rmsprop());
    compare_with_reference(rmsprop(0.9, 0.1, 0.0, 0.0, false)); // eps outside the sqrt
    compare_with_reference(rmsprop(0.99, 1e-8, 0.5, 0.0, false));
    compare_with_reference(rmsprop(0.9, 1e-8, 0.0, 0.0, true));
    compare_with_reference(rmsprop(0.9, 1e-3, 0.7, 0.1, true));
}

#[test]
fn a_few_hundred_steps_minimise_the_quadratic() {
    let start = loss_of(&W0, &U0);
    for (opt, lr) in [
        (Optimizer::sgd(), 0.1),
        (sgd(0.9, true, 0.0), 0.05),
        (Optimizer::adam(), 0.05),
        (Optimizer::adamw(), 0.05),
        (Optimizer::rmsprop(), 0.01),
        (rmsprop(0.9, 1e-8, 0.5, 0.0, true), 0.01),
    ] {
        let trace = run_graph(&opt, &[lr; 400]);
        let [w, u] = trace.params.last().unwrap();
        let end = loss_of(w, u);
        assert!(end < 1e-4 * start, "{opt:?}: loss {start} -> {end}");
    }
}

#[test]
fn the_step_graph_has_state_and_hyper_inputs_and_named_outputs() {
    let opt = rmsprop(0.9, 1e-8, 0.5, 0.0, true);
    let g = step_graph(&opt, DType::F32);
    let inputs: Vec<(String, Role, String)> = g
        .inputs
        .iter()
        .map(|&v| {
            let (n, r) = g.input_info(v);
            (n.to_string(), r, g.ty(v).to_string())
        })
        .collect();
    let want = [
        ("w", Role::Param, "f32[3]"),
        ("a", Role::Data, "f32[3]"),
        ("t", Role::Data, "f32[3]"),
        ("m.u", Role::Param, "f32[2,2]"),
        ("w/square_avg", Role::State, "f32[3]"),
        ("w/grad_avg", Role::State, "f32[3]"),
        ("w/momentum", Role::State, "f32[3]"),
        ("m.u/square_avg", Role::State, "f32[2,2]"),
        ("m.u/grad_avg", Role::State, "f32[2,2]"),
        ("m.u/momentum", Role::State, "f32[2,2]"),
        ("lr", Role::Hyper(Hyper::Lr(0)), "f32[]"),
        ("step", Role::Hyper(Hyper::Step), "f32[]"),
    ];
    let want: Vec<(String, Role, String)> = want
        .iter()
        .map(|(n, r, t)| (n.to_string(), *r, t.to_string()))
        .collect();
    assert_eq!(inputs, want);
    let outputs: Vec<(&str, String)> = g
        .outputs
        .iter()
        .map(|o| (o.name.as_str(), g.ty(o.value).to_string()))
        .collect();
    assert_eq!(
        outputs,
        [
            ("loss", "f32[]".to_string()),
            ("w", "f32[3]".into()),
            ("m.u", "f32[2,2]".into()),
            ("w/square_avg", "f32[3]".into()),
            ("w/grad_avg", "f32[3]".into()),
            ("w/momentum", "f32[3]".into()),
            ("m.u/square_avg", "f32[2,2]".into()),
            ("m.u/grad_avg", "f32[2,2]".into()),
            ("m.u/momentum", "f32[2,2]".into()),
        ]
    );
    assert!(Interpreter.compile_graph(&g).is_ok());
}

#[test]
fn state_slots_per_option() {
    assert!(Optimizer::sgd().state_slots().is_empty());
    assert_eq!(sgd(0.9, false, 0.0).state_slots(), ["momentum"]);
    assert_eq!(Optimizer::adam().state_slots(), ["m", "v"]);
    assert_eq!(Optimizer::rmsprop().state_slots(), ["square_avg"]);
    assert_eq!(
        rmsprop(0.9, 1e-8, 0.5, 0.0, true).state_slots(),
        ["square_avg", "grad_avg", "momentum"]
    );
}

/// Two parameter groups, each with its own optimizer and learning-rate
/// input: `w` by SGD with momentum at `hyper(lr)`, `m.u` by Adam at
/// `hyper(lr=1)`. One step through the executable (which owns both
/// parameters and their slots) moves each parameter by its own rule and
/// rate; a group whose rate is 0 stays put while the other moves.
#[test]
fn parameter_groups_have_their_own_optimizer_and_learning_rate() {
    use dlc::ir::{Function, HyperValues, OutputKind};
    use dlc::passes::optimizer::{apply_groups, Group};

    let g = loss_graph(DType::F64);
    let params = g.inputs_with_role(Role::Param);
    let with_grads = grad(&g, "loss", &params);
    let w = g.input_position(params[0]).unwrap();
    let u = g.input_position(params[1]).unwrap();
    let sgd = Optimizer::Sgd {
        momentum: 0.9,
        nesterov: false,
        weight_decay: 0.0,
    };
    let groups = [
        Group {
            params: vec![w],
            optimizer: sgd,
        },
        Group {
            params: vec![u],
            optimizer: Optimizer::adam(),
        },
    ];
    let step = Function::new(apply_groups(&with_grads, &groups)).expect("the step verifies");
    let sig = step.signature();
    assert!(sig.hyper(Hyper::Lr(0)).is_some() && sig.hyper(Hyper::Lr(1)).is_some());
    assert_eq!(sig.inputs[sig.hyper(Hyper::Lr(1)).unwrap()].name, "lr.1");
    // w has one slot (momentum), m.u two (Adam's m and v): all updated.
    let slots: Vec<&str> = sig
        .inputs
        .iter()
        .filter(|s| s.role == Role::State)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(slots, ["w/momentum", "m.u/m", "m.u/v"]);
    assert_eq!(sig.updates().len(), 5);
    assert!(sig
        .outputs
        .iter()
        .all(|o| !matches!(o.kind, OutputKind::Grad { .. })));

    let f = |shape: &[usize], v: &[f64]| Tensor::from_f64(DType::F64, shape, v.to_vec());
    let (a, t) = (f(&[3], &A), f(&[3], &T));
    let run = |lr: [f64; 2]| -> (Vec<f64>, Vec<f64>) {
        let mut exe = Interpreter.compile(&step).expect("compiles");
        exe.load(w, &f(&[3], &W0)).unwrap();
        exe.load(u, &f(&[2, 2], &U0)).unwrap();
        let hyper = HyperValues {
            lr: lr.to_vec(),
            step: 1,
            key: 0,
        };
        exe.call(&[&a, &t], &hyper, &[]).expect("the step runs");
        (exe.read(w).to_f64_vec(), exe.read(u).to_f64_vec())
    };
    let [gw, gu] = grads(&W0, &U0);
    // SGD's first step: the momentum buffer is the gradient.
    let (w1, u1) = run([0.1, 0.0]);
    for ((got, w0), g) in w1.iter().zip(W0).zip(&gw) {
        assert!((got - (w0 - 0.1 * g)).abs() < 1e-12, "{w1:?}");
    }
    assert_eq!(u1, U0.to_vec(), "a group at rate 0 does not move");
    // Adam's first step moves every element by lr (times the gradient's sign).
    let (w2, u2) = run([0.0, 0.01]);
    assert_eq!(w2, W0.to_vec(), "a group at rate 0 does not move");
    for ((got, u0), g) in u2.iter().zip(U0).zip(&gu) {
        let want = u0 - 0.01 * g / (g.abs() + 1e-8);
        assert!((got - want).abs() < 1e-9, "{u2:?}");
    }
}
