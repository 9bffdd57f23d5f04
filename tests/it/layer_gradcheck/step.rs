//! The whole training step of a two-layer classifier (lower → grad →
//! optimizer → simplify) for every optimizer: the simplified step graph must
//! update the parameters and the optimizer state exactly as the unsimplified
//! one does (to 1e-12 in f64) over several steps, and simplification must
//! actually have removed something, so the comparison is not vacuous.

use std::collections::HashMap;

use dlc::ir::verify::verify;
use dlc::ir::{DType, Graph, Role};
use dlc::passes::optimizer::{apply, Optimizer};
use dlc::passes::simplify::simplify;
use dlc::sema::program::{Activation, LossKind, Model};
use dlc::tensor::Tensor;

use super::model::{f64n, labels, ModelBuilder};
use super::{bind, lowered, run};
use crate::gradcheck::fd::{sample, Domain, Rng};

/// `x: f64[N, 3] -> dense 4 relu -> dense 3 -> cross_entropy(labels)`
fn classifier() -> Model {
    let mut b = ModelBuilder::new("mlp");
    let x = b.input("x", f64n(&[3]));
    let t = b.input("label", labels());
    let h = b.dense("h", x, 4, true);
    let h = b.activation(Activation::Relu, h);
    let logits = b.dense("logits", h, 3, true);
    let loss = b.loss(LossKind::CrossEntropy, logits, t);
    b.output("logits", logits);
    b.output("loss", loss);
    b.model
}

fn optimizers() -> Vec<Optimizer> {
    vec![
        Optimizer::sgd(),
        Optimizer::Sgd {
            momentum: 0.9,
            nesterov: true,
            weight_decay: 1e-2,
        },
        Optimizer::adam(),
        Optimizer::adamw(),
        Optimizer::RmsProp {
            alpha: 0.99,
            eps: 1e-8,
            momentum: 0.5,
            weight_decay: 1e-3,
            centered: true,
        },
    ]
}

fn verified(g: Graph, what: &str) -> Graph {
    if let Err(e) = verify(&g) {
        panic!("{what}: {e}")
    }
    g
}

fn assert_same(what: &str, a: &Tensor, b: &Tensor) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    for (i, (x, y)) in a.to_f64_vec().iter().zip(b.to_f64_vec()).enumerate() {
        assert!(
            (x - y).abs() <= 1e-12 * x.abs().max(y.abs()).max(1.0),
            "{what}[{i}]: {x} unsimplified, {y} simplified"
        );
    }
}

#[test]
fn simplifying_the_training_step_does_not_change_the_updates() {
    let model = classifier();
    let g = lowered(&model);
    let params = g.inputs_with_role(Role::Param);
    let gg = verified(
        dlc::passes::autodiff::grad(&g, "loss", &params),
        "gradient graph",
    );
    let n = 5;
    let mut rng = Rng(31);
    for opt in optimizers() {
        let name = opt.name();
        let step = verified(apply(&gg, &opt), &format!("{name} step"));
        let simple = verified(simplify(&step), &format!("{name} simplified step"));
        assert!(
            simple.len() < step.len(),
            "{name}: simplify removed nothing ({} nodes)",
            step.len()
        );
        assert_eq!(simple.inputs.len(), step.inputs.len(), "{name}: inputs");
        // Values by input name: data and params drawn once, state zero.
        let mut values: HashMap<String, Tensor> = HashMap::new();
        for &v in &step.inputs {
            let (input, role) = step.input_info(v);
            let ty = step.ty(v);
            let shape = bind(ty, n);
            let k = shape.iter().product();
            let t = match role {
                Role::Data if ty.dtype == DType::I32 => {
                    Tensor::from_f64(DType::I32, &shape, sample(&mut rng, Domain::Below(3), k))
                }
                Role::Data | Role::Param => {
                    Tensor::from_f64(DType::F64, &shape, sample(&mut rng, Domain::Any, k))
                }
                Role::State | Role::Hyper(_) => Tensor::full(DType::F64, &shape, 0.0),
            };
            values.insert(input.to_string(), t);
        }
        let initial = values.clone();
        for s in 1..=3 {
            values.insert("lr".into(), Tensor::scalar(DType::F64, 0.1 / s as f64));
            values.insert("step".into(), Tensor::scalar(DType::F64, s as f64));
            let inputs: Vec<Tensor> = step
                .inputs
                .iter()
                .map(|&v| values[step.input_info(v).0].clone())
                .collect();
            let a = run(&step, &inputs);
            let b = run(&simple, &inputs);
            assert_eq!(a.len(), b.len(), "{name}: outputs");
            for (out, va) in &a {
                assert_same(&format!("{name} step {s}: {out}"), va, &b[out]);
            }
            // Feed the new params and state back in.
            for (out, v) in a {
                if values.contains_key(&out) {
                    values.insert(out, v);
                }
            }
        }
        for p in &model.params {
            assert_ne!(
                values[&p.path], initial[&p.path],
                "{name}: `{}` never moved",
                p.path
            );
        }
    }
}
