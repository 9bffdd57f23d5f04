//! Values, not only gradients: each lowered loss and normalization against
//! its formula computed here by hand in f64, and the two binary
//! cross-entropies against each other. A gradient check alone would pass a
//! loss that is consistently wrong (or off by a constant).

use dlc::ir::DType;
use dlc::sema::program::{Activation, LossKind};
use dlc::tensor::Tensor;

use super::model::{f64n, labels, ModelBuilder};
use super::{lowered, run, with_grads};
use crate::gradcheck::fd::{sample, Domain, Rng};

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

/// Equal to `tol`, relative to the larger magnitude (absolute below 1).
fn assert_near(what: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol * got.abs().max(want.abs()).max(1.0),
        "{what}: got {got}, want {want}"
    );
}

fn assert_all_near(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert_near(&format!("{what}[{i}]"), g, w, tol);
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// `log(sum(exp(row)))`, stably.
fn logsumexp(row: &[f64]) -> f64 {
    let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    m + row.iter().map(|z| (z - m).exp()).sum::<f64>().ln()
}

#[test]
fn cross_entropy_is_minus_the_mean_log_softmax_of_the_label() {
    let mut b = ModelBuilder::new("ce");
    let z = b.input("z", f64n(&[3]));
    let t = b.input("t", labels());
    let ls = b.log_softmax(z, 1);
    let loss = b.loss(LossKind::CrossEntropy, z, t);
    b.output("log_softmax", ls);
    b.output("loss", loss);
    let g = with_grads(&lowered(&b.model), "loss");

    let zs = vec![
        0.5, -1.0, 2.0, //
        3.0, 3.0, -3.0, //
        -0.25, 0.0, 0.25, //
        10.0, -10.0, 1.0,
    ];
    let ts = [2, 0, 1, 1];
    let out = run(&g, &[t64(&[4, 3], zs.clone()), i32s(&ts)]);

    let rows: Vec<&[f64]> = zs.chunks(3).collect();
    let want_ls: Vec<f64> = rows
        .iter()
        .flat_map(|r| {
            let l = logsumexp(r);
            r.iter().map(move |z| z - l)
        })
        .collect();
    assert_all_near(
        "log_softmax",
        &out["log_softmax"].to_f64_vec(),
        &want_ls,
        1e-14,
    );
    let want: f64 = -rows
        .iter()
        .zip(ts)
        .map(|(r, t)| r[t as usize] - logsumexp(r))
        .sum::<f64>()
        / 4.0;
    assert_near("cross_entropy", out["loss"].item(), want, 1e-14);
    // d/dz = (softmax - onehot) / N
    let want_grad: Vec<f64> = rows
        .iter()
        .zip(ts)
        .flat_map(|(r, t)| {
            let l = logsumexp(r);
            (0..3).map(move |j| ((r[j] - l).exp() - f64::from(j == t as usize)) / 4.0)
        })
        .collect();
    assert_all_near("grad", &out["grad.z"].to_f64_vec(), &want_grad, 1e-14);
}

#[test]
fn bce_of_sigmoid_and_bce_logits_agree_on_the_same_data() {
    let mut b = ModelBuilder::new("bce");
    let z = b.input("z", f64n(&[1, 2]));
    let y = b.input("y", f64n(&[1, 2]));
    let p = b.activation(Activation::Sigmoid, z);
    let probs = b.loss(LossKind::BinaryCrossEntropy, p, y);
    let logits = b.loss(LossKind::BinaryCrossEntropyLogits, z, y);
    b.output("bce", probs);
    b.output("bce_logits", logits);
    let g = lowered(&b.model);

    let mut rng = Rng(7);
    let n = 4;
    let zs = sample(&mut rng, Domain::Uniform(-6.0, 6.0), n * 2);
    let ys = sample(&mut rng, Domain::Uniform(0.0, 1.0), n * 2);
    let inputs = [t64(&[n, 1, 2], zs.clone()), t64(&[n, 1, 2], ys.clone())];
    let k = (n * 2) as f64;
    let want = -zs
        .iter()
        .zip(&ys)
        .map(|(&z, &y)| y * sigmoid(z).ln() + (1.0 - y) * (1.0 - sigmoid(z)).ln())
        .sum::<f64>()
        / k;
    // d/dz = (sigmoid(z) - y) / k for both, d/dy = -z / k.
    let dz: Vec<f64> = zs
        .iter()
        .zip(&ys)
        .map(|(&z, &y)| (sigmoid(z) - y) / k)
        .collect();
    let dy: Vec<f64> = zs.iter().map(|&z| -z / k).collect();
    for loss in ["bce", "bce_logits"] {
        let out = run(&with_grads(&g, loss), &inputs);
        assert_near(loss, out[loss].item(), want, 1e-12);
        assert_all_near(
            &format!("{loss} d/dz"),
            &out["grad.z"].to_f64_vec(),
            &dz,
            1e-12,
        );
        assert_all_near(
            &format!("{loss} d/dy"),
            &out["grad.y"].to_f64_vec(),
            &dy,
            1e-12,
        );
    }
    let out = run(&g, &inputs);
    assert_near(
        "bce vs bce_logits",
        out["bce"].item(),
        out["bce_logits"].item(),
        1e-13,
    );
}

#[test]
fn softmax_rows_sum_to_one() {
    let mut b = ModelBuilder::new("softmax");
    let z = b.input("z", f64n(&[4]));
    let rows = b.softmax(z, 1);
    let cols = b.softmax(z, 0);
    b.output("rows", rows);
    b.output("cols", cols);
    let g = lowered(&b.model);
    let mut rng = Rng(11);
    let mut zs = sample(&mut rng, Domain::Uniform(-3.0, 3.0), 5 * 4);
    zs[4..8].copy_from_slice(&[50.0, -50.0, 49.0, 0.0]);
    let out = run(&g, &[t64(&[5, 4], zs.clone())]);
    let r = out["rows"].to_f64_vec();
    for (i, row) in r.chunks(4).enumerate() {
        assert!(
            row.iter().all(|&p| (0.0..=1.0).contains(&p)),
            "row {i}: {row:?}"
        );
        assert_near(&format!("row {i} sum"), row.iter().sum(), 1.0, 1e-15);
        let l = logsumexp(&zs[i * 4..i * 4 + 4]);
        let want: Vec<f64> = zs[i * 4..i * 4 + 4].iter().map(|z| (z - l).exp()).collect();
        assert_all_near(&format!("row {i}"), row, &want, 1e-14);
    }
    let c = out["cols"].to_f64_vec();
    for j in 0..4 {
        let s: f64 = (0..5).map(|i| c[i * 4 + j]).sum();
        assert_near(&format!("column {j} sum"), s, 1.0, 1e-15);
    }
}

/// A `[N]` i32 target with a `[N, 1]` prediction: lowering casts and
/// reshapes it, so the loss and its gradient equal those of the same
/// targets given as `f64[N, 1]`.
#[test]
fn bce_takes_i32_labels_of_shape_n_for_a_prediction_of_shape_n_1() {
    let ts = [1, 0, 0, 1, 1];
    let ps = vec![0.9, 0.2, 0.6, 0.3, 0.5];
    let zs = vec![2.0, -1.0, 0.5, -0.5, 3.0];
    for kind in [
        LossKind::BinaryCrossEntropy,
        LossKind::BinaryCrossEntropyLogits,
    ] {
        let x = match kind {
            LossKind::BinaryCrossEntropy => &ps,
            _ => &zs,
        };
        let mut losses = vec![];
        for target in [labels(), f64n(&[1])] {
            let mut b = ModelBuilder::new("bce");
            let p = b.input("p", f64n(&[1]));
            let t = b.input("t", target.clone());
            let l = b.loss(kind, p, t);
            b.output("loss", l);
            let g = with_grads(&lowered(&b.model), "loss");
            let t = match target.dtype {
                DType::I32 => i32s(&ts),
                _ => t64(&[5, 1], ts.iter().map(|&t| t as f64).collect()),
            };
            let out = run(&g, &[t64(&[5, 1], x.clone()), t]);
            losses.push((out["loss"].item(), out["grad.p"].to_f64_vec()));
        }
        assert_eq!(losses[0], losses[1], "{kind:?}: i32 [N] vs f64 [N, 1]");
        let want = -x
            .iter()
            .zip(ts)
            .map(|(&v, t)| {
                let p = match kind {
                    LossKind::BinaryCrossEntropy => v,
                    _ => sigmoid(v),
                };
                if t == 1 {
                    p.ln()
                } else {
                    (1.0 - p).ln()
                }
            })
            .sum::<f64>()
            / 5.0;
        assert_near(kind.name(), losses[0].0, want, 1e-14);
    }
}

#[test]
fn mse_and_mae_are_means_of_squared_and_absolute_errors() {
    let mut b = ModelBuilder::new("reg");
    let p = b.input("p", f64n(&[2]));
    let t = b.input("t", f64n(&[2]));
    let mse = b.loss(LossKind::MeanSquaredError, p, t);
    let mae = b.loss(LossKind::MeanAbsoluteError, p, t);
    b.output("mse", mse);
    b.output("mae", mae);
    let g = lowered(&b.model);
    let ps = vec![1.0, -2.0, 0.5, 3.0, 0.0, 0.25];
    let ts = vec![0.0, 1.0, 0.5, -1.0, 2.0, 0.5];
    let out = run(&g, &[t64(&[3, 2], ps.clone()), t64(&[3, 2], ts.clone())]);
    let d: Vec<f64> = ps.iter().zip(&ts).map(|(p, t)| p - t).collect();
    assert_near(
        "mse",
        out["mse"].item(),
        d.iter().map(|d| d * d).sum::<f64>() / 6.0,
        1e-15,
    );
    assert_near(
        "mae",
        out["mae"].item(),
        d.iter().map(|d| d.abs()).sum::<f64>() / 6.0,
        1e-15,
    );
}
