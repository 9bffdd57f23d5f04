//! Numerical robustness of the lowered layers: logits of ±1000 give finite
//! losses and gradients (and the right ones), saturated sigmoids are exactly
//! 0 and 1 with finite gradients, clamped probabilities stay finite, and the
//! gradients at the kinks follow PyTorch's conventions (relu'(0) = 0, the
//! logistic loss is smooth at z = 0).

use dlc::ir::DType;
use dlc::sema::program::{Activation, LossKind};
use dlc::tensor::Tensor;

use super::model::{f64n, labels, ModelBuilder};
use super::{lowered, run, with_grads};
use dlc::passes::lower::BCE_EPSILON;

fn t64(shape: &[usize], v: Vec<f64>) -> Tensor {
    Tensor::from_f64(DType::F64, shape, v)
}

fn i32s(v: &[i32]) -> Tensor {
    Tensor::from_f64(
        DType::I32,
        &[v.len()],
        v.iter().map(|&x| x as f64).collect(),
    )
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-12 * w.abs().max(1.0),
            "{what}[{i}]: got {g}, want {w} (all: {got:?})"
        );
    }
}

fn all_finite(what: &str, v: &[f64]) {
    assert!(v.iter().all(|x| x.is_finite()), "{what}: {v:?}");
}

#[test]
fn cross_entropy_and_log_softmax_of_logits_of_1000_are_finite_and_right() {
    let mut b = ModelBuilder::new("ce");
    let z = b.input("z", f64n(&[3]));
    let t = b.input("t", labels());
    let ls = b.log_softmax(z, 1);
    let loss = b.loss(LossKind::CrossEntropy, z, t);
    b.output("log_softmax", ls);
    b.output("loss", loss);
    let g = with_grads(&lowered(&b.model), "loss");
    let zs = vec![
        1000.0, -1000.0, 0.0, //
        -1000.0, 1000.0, 1000.0, //
        1000.0, 1000.0, 1000.0,
    ];
    let out = run(&g, &[t64(&[3, 3], zs), i32s(&[1, 2, 0])]);
    let (l2, l3) = (2f64.ln(), 3f64.ln());
    assert_close(
        "log_softmax",
        &out["log_softmax"].to_f64_vec(),
        &[0.0, -2000.0, -1000.0, -2000.0 - l2, -l2, -l2, -l3, -l3, -l3],
    );
    assert_close("loss", &[out["loss"].item()], &[(2000.0 + l2 + l3) / 3.0]);
    // (softmax - onehot) / N
    let third = 1.0 / 3.0;
    let want: Vec<f64> = [1.0, -1.0, 0.0, 0.0, 0.5, -0.5, third - 1.0, third, third]
        .iter()
        .map(|v| v / 3.0)
        .collect();
    assert_close("grad", &out["grad.z"].to_f64_vec(), &want);

    // log_softmax's own gradient: the loss sum(log_softmax(z) * c).
    let mut b = ModelBuilder::new("ls");
    let z = b.input("z", f64n(&[3]));
    let c = b.input("c", f64n(&[3]));
    let ls = b.log_softmax(z, 1);
    let prod = b.arith(dlc::sema::program::ArithOp::Mul, ls, c);
    // mse against zero targets is a mean of squares: any scalar will do.
    let zero = b.input("zero", f64n(&[3]));
    let loss = b.loss(LossKind::MeanSquaredError, prod, zero);
    b.output("loss", loss);
    let g = with_grads(&lowered(&b.model), "loss");
    let zs = vec![1000.0, -1000.0, 0.0, -1000.0, 1000.0, 1000.0];
    let out = run(
        &g,
        &[
            t64(&[2, 3], zs),
            t64(&[2, 3], vec![1e-3; 6]),
            t64(&[2, 3], vec![0.0; 6]),
        ],
    );
    all_finite("loss", &[out["loss"].item()]);
    all_finite("grad.z", &out["grad.z"].to_f64_vec());
    all_finite("grad.c", &out["grad.c"].to_f64_vec());
}

#[test]
fn bce_logits_of_logits_of_1000_is_finite_and_right() {
    let mut b = ModelBuilder::new("bce");
    let z = b.input("z", f64n(&[1]));
    let t = b.input("t", labels());
    let loss = b.loss(LossKind::BinaryCrossEntropyLogits, z, t);
    b.output("loss", loss);
    let g = with_grads(&lowered(&b.model), "loss");
    let out = run(
        &g,
        &[
            t64(&[4, 1], vec![1000.0, -1000.0, 1000.0, -1000.0]),
            i32s(&[1, 0, 0, 1]),
        ],
    );
    assert_close("loss", &[out["loss"].item()], &[500.0]);
    // (sigmoid(z) - y) / N
    assert_close(
        "grad",
        &out["grad.z"].to_f64_vec(),
        &[0.0, 0.0, 0.25, -0.25],
    );
}

#[test]
fn sigmoid_saturates_to_exactly_0_and_1_with_finite_gradients() {
    let mut b = ModelBuilder::new("sig");
    let x = b.input("x", f64n(&[]));
    let s = b.activation(Activation::Sigmoid, x);
    // mae against zeros is mean(s), as s >= 0.
    let zero = b.input("zero", f64n(&[]));
    let loss = b.loss(LossKind::MeanAbsoluteError, s, zero);
    b.output("s", s);
    b.output("loss", loss);
    let g = with_grads(&lowered(&b.model), "loss");
    let xs = vec![-1000.0, 1000.0, -800.0, 800.0, 0.0, -40.0];
    let out = run(&g, &[t64(&[6], xs.clone()), t64(&[6], vec![0.0; 6])]);
    let s = out["s"].to_f64_vec();
    assert_eq!(&s[..4], &[0.0, 1.0, 0.0, 1.0]);
    assert_eq!(s[4], 0.5);
    let want = 1.0 / (1.0 + 40f64.exp());
    assert!(
        (s[5] - want).abs() <= 1e-15 * want,
        "sigmoid(-40) = {}",
        s[5]
    );
    // d/dx mean(s) = s (1 - s) / 6
    let want: Vec<f64> = s.iter().map(|s| s * (1.0 - s) / 6.0).collect();
    let got = out["grad.x"].to_f64_vec();
    all_finite("grad.x", &got);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-12 * w.abs(),
            "grad.x[{i}]: got {g}, want {w}"
        );
    }
}

#[test]
fn bce_of_probabilities_0_and_1_is_clamped_and_finite() {
    let mut b = ModelBuilder::new("bce");
    let p = b.input("p", f64n(&[1]));
    let t = b.input("t", labels());
    let loss = b.loss(LossKind::BinaryCrossEntropy, p, t);
    b.output("loss", loss);
    let g = with_grads(&lowered(&b.model), "loss");
    let out = run(
        &g,
        &[t64(&[4, 1], vec![0.0, 1.0, 1.0, 0.5]), i32s(&[1, 0, 1, 1])],
    );
    let hi = 1.0 - BCE_EPSILON;
    let want = -(BCE_EPSILON.ln() + (1.0 - hi).ln() + hi.ln() + 0.5f64.ln()) / 4.0;
    assert_close("loss", &[out["loss"].item()], &[want]);
    // Clamped probabilities get no gradient; 0.5 gets -1 / (0.5 * 4).
    assert_close("grad", &out["grad.p"].to_f64_vec(), &[0.0, 0.0, 0.0, -0.5]);
}

/// relu'(0) = 0 as in PyTorch and JAX: a unit whose pre-activation is
/// exactly 0 (a zero input row, zero-initialised biases) passes nothing back.
#[test]
fn relu_passes_no_gradient_at_zero() {
    let mut b = ModelBuilder::new("relu");
    let x = b.input("x", f64n(&[]));
    let r = b.activation(Activation::Relu, x);
    let one = b.input("one", f64n(&[]));
    let loss = b.loss(LossKind::MeanSquaredError, r, one);
    b.output("loss", loss);
    let g = with_grads(&lowered(&b.model), "loss");
    let out = run(
        &g,
        &[t64(&[3], vec![0.0, 1.5, -1.0]), t64(&[3], vec![1.0; 3])],
    );
    // d/dx mean((relu(x) - 1)^2) = 2 (relu(x) - 1) relu'(x) / 3
    assert_close("grad", &out["grad.x"].to_f64_vec(), &[0.0, 1.0 / 3.0, 0.0]);
}

/// The logistic loss is smooth: at z = 0 exactly (zero-initialised output
/// layers start there) its gradient is sigmoid(0) - y = 1/2 - y, not the
/// one-sided derivative of the `max(z, 0)` and `|z|` it is built from.
#[test]
fn bce_logits_gradient_at_zero_logits_is_one_half_minus_the_target() {
    let mut b = ModelBuilder::new("bce");
    let z = b.input("z", f64n(&[1]));
    let t = b.input("t", f64n(&[1]));
    let loss = b.loss(LossKind::BinaryCrossEntropyLogits, z, t);
    b.output("loss", loss);
    let g = with_grads(&lowered(&b.model), "loss");
    let out = run(
        &g,
        &[
            t64(&[3, 1], vec![0.0; 3]),
            t64(&[3, 1], vec![1.0, 0.0, 0.25]),
        ],
    );
    assert_close("loss", &[out["loss"].item()], &[2f64.ln()]);
    assert_close(
        "grad.z",
        &out["grad.z"].to_f64_vec(),
        &[-0.5 / 3.0, 0.5 / 3.0, 0.25 / 3.0],
    );
}
