//! The layers that depend on the lowering mode (dropout, batch norm) and the
//! transposed convolution: their gradient-check cases, and their values
//! against direct computations — dropout's masks (fixed by the key, fresh
//! per step and per layer, the right fraction kept, the identity in eval
//! mode), batch norm's output and running statistics against PyTorch's
//! formulas in both modes, and `conv_transpose2d` against a hand-computed
//! case and the adjoint identity `<convT(x), y> = <x, conv(y)>`.

use dlc::backend::interp::eval;
use dlc::ir::{ConvAttrs, DType, Graph, Hyper, Role, Shape, TensorType};
use dlc::passes::lower::{Mode, KEY as KEY_INPUT};
use dlc::runtime::train::step_key;
use dlc::tensor::Tensor;

use super::model::{f64n, ModelBuilder};
use super::{lowered_in, run, unary, LayerCase};
use crate::gradcheck::fd::{sample, Domain, Rng};

pub(super) fn cases() -> Vec<LayerCase> {
    vec![
        unary("dropout", &[2, 3], Domain::Any, 4, |b, x| {
            b.dropout("d", x, 0.5)
        }),
        unary("dense dropout", &[3], Domain::Any, 5, |b, x| {
            let h = b.dense("h", x, 4, true);
            b.dropout("h", h, 0.25)
        }),
        unary("dropout eval", &[3], Domain::Any, 3, |b, x| {
            b.dropout("d", x, 0.5)
        })
        .eval(),
        unary("batch_norm", &[3], Domain::Any, 4, |b, x| {
            let h = b.dense("h", x, 2, true);
            b.batch_norm("bn", h, 0.1, true)
        }),
        unary("batch_norm 2d", &[2, 2, 3], Domain::Any, 3, |b, x| {
            b.batch_norm("bn", x, 0.1, true)
        }),
        unary(
            "batch_norm without affine",
            &[1, 3],
            Domain::Any,
            4,
            |b, x| b.batch_norm("bn", x, 0.3, false),
        ),
        unary("batch_norm eval", &[2, 2], Domain::Any, 3, |b, x| {
            b.batch_norm("bn", x, 0.1, true)
        })
        .eval(),
        unary("conv_transpose", &[2, 3, 2], Domain::Any, 2, |b, x| {
            b.conv_transpose2d("ct", x, 3, 3, (2, 1, 1))
        }),
        unary(
            "conv_transpose stride 1",
            &[1, 2, 2],
            Domain::Any,
            2,
            |b, x| b.conv_transpose2d("ct", x, 2, 2, (1, 0, 0)),
        ),
    ]
}

fn key(k: i32) -> Tensor {
    Tensor::scalar(DType::I32, k.into())
}

/// Runs `g` (data `x`, then any key) and returns output `name`.
fn output(g: &Graph, inputs: &[Tensor], name: &str) -> Vec<f64> {
    run(g, inputs)[name].to_f64_vec()
}

/// `y = dropout(x, rate)` over `x: f64[N, 1000]`, and a second layer `z` on
/// the same `x`.
fn dropout_model(rate: f64) -> Graph {
    let mut b = ModelBuilder::new("m");
    let x = b.input("x", f64n(&[1000]));
    let y = b.dropout("a", x, rate);
    let z = b.dropout("b", x, rate);
    b.output("y", y);
    b.output("z", z);
    let g = lowered_in(&b.model, Mode::Train);
    let k = g.find_input(KEY_INPUT).expect("a key input in train mode");
    assert_eq!(g.input_info(k).1, Role::Hyper(Hyper::Key));
    g
}

#[test]
fn dropout_masks_follow_the_key_and_the_layer() {
    let rate = 0.3;
    let g = dropout_model(rate);
    let n = 100;
    let ones = Tensor::full(DType::F64, &[n, 1000], 1.0);
    let (k1, k2) = (step_key(7, 1), step_key(7, 2));
    assert_ne!(k1, k2);
    let y1 = output(&g, &[ones.clone(), key(k1)], "y");
    let y1_again = output(&g, &[ones.clone(), key(k1)], "y");
    let z1 = output(&g, &[ones.clone(), key(k1)], "z");
    let y2 = output(&g, &[ones, key(k2)], "y");
    assert_eq!(y1, y1_again, "the same key gives the same mask");
    assert_ne!(y1, y2, "another step gives another mask");
    assert_ne!(y1, z1, "two layers never share a mask");
    // Kept elements are scaled by 1 / (1 - rate); the rest are 0.
    let scale = 1.0 / (1.0 - rate);
    assert!(y1.iter().all(|&v| v == 0.0 || v == scale));
    let kept = y1.iter().filter(|&&v| v != 0.0).count() as f64 / y1.len() as f64;
    // 100 000 Bernoulli(0.7) draws: the standard deviation is 0.0015.
    assert!((kept - (1.0 - rate)).abs() < 0.01, "kept {kept}");
    // The mean is preserved in expectation.
    let mean = y1.iter().sum::<f64>() / y1.len() as f64;
    assert!((mean - 1.0).abs() < 0.02, "mean {mean}");
}

#[test]
fn dropout_is_the_identity_in_eval_mode_and_at_rate_0() {
    let mut b = ModelBuilder::new("m");
    let x = b.input("x", f64n(&[5]));
    let y = b.dropout("d", x, 0.5);
    let z = b.dropout("e", y, 0.0);
    b.output("y", z);
    let g = lowered_in(&b.model, Mode::Eval);
    assert!(g.find_input(KEY_INPUT).is_none(), "no key in eval mode");
    let mut rng = Rng(5);
    let xv = sample(&mut rng, Domain::Any, 15);
    let xt = Tensor::from_f64(DType::F64, &[3, 5], xv.clone());
    assert_eq!(output(&g, &[xt], "y"), xv);
    // Rate 0 draws nothing even in train mode.
    let mut b = ModelBuilder::new("m");
    let x = b.input("x", f64n(&[5]));
    let y = b.dropout("d", x, 0.0);
    b.output("y", y);
    let g = lowered_in(&b.model, Mode::Train);
    assert!(g.find_input(KEY_INPUT).is_none());
}

/// Per-channel statistics of `x: [n, c, s]` (s spatial elements), in f64:
/// mean, biased variance, unbiased variance.
fn channel_stats(x: &[f64], n: usize, c: usize, s: usize) -> Vec<(f64, f64, f64)> {
    (0..c)
        .map(|ch| {
            let vals: Vec<f64> = (0..n)
                .flat_map(|i| (0..s).map(move |j| (i, j)))
                .map(|(i, j)| x[(i * c + ch) * s + j])
                .collect();
            let m = vals.len() as f64;
            let mean = vals.iter().sum::<f64>() / m;
            let ss: f64 = vals.iter().map(|v| (v - mean) * (v - mean)).sum();
            (mean, ss / m, ss / (m - 1.0))
        })
        .collect()
}

#[test]
fn batch_norm_matches_pytorchs_formulas_in_both_modes() {
    // BatchNorm2d on [4, 3, 2, 2] and BatchNorm1d on [5, 3].
    batch_norm_case(4, 3, &[2, 2]);
    batch_norm_case(5, 3, &[]);
}

/// Batch norm of `x: [n, c, spatial...]` against the formulas, both modes.
fn batch_norm_case(n: usize, c: usize, spatial: &[usize]) {
    let s: usize = spatial.iter().product();
    let momentum = 0.2;
    let eps = 1e-5;
    let mut dims = vec![c];
    dims.extend(spatial);
    let mut b = ModelBuilder::new("m");
    let x = b.input("x", f64n(&dims));
    let y = b.batch_norm("bn", x, momentum, true);
    b.output("y", y);
    let train = lowered_in(&b.model, Mode::Train);
    let evalg = lowered_in(&b.model, Mode::Eval);
    let mut rng = Rng(11);
    let xv: Vec<f64> = sample(&mut rng, Domain::Uniform(-3.0, 5.0), n * c * s);
    let wv = sample(&mut rng, Domain::Uniform(0.5, 2.0), c);
    let bv = sample(&mut rng, Domain::Any, c);
    let rm = sample(&mut rng, Domain::Any, c);
    let rv = sample(&mut rng, Domain::Uniform(0.5, 2.0), c);
    let t = |shape: &[usize], v: &[f64]| Tensor::from_f64(DType::F64, shape, v.to_vec());
    let inputs = [
        t(&[&[n][..], &dims].concat(), &xv),
        t(&[c], &wv),
        t(&[c], &bv),
        t(&[c], &rm),
        t(&[c], &rv),
    ];
    let stats = channel_stats(&xv, n, c, s);
    let out = run(&train, &inputs);
    let normalized = |mean: &[f64], var: &[f64]| -> Vec<f64> {
        (0..n * c * s)
            .map(|i| {
                let ch = (i / s) % c;
                (xv[i] - mean[ch]) / (var[ch] + eps).sqrt() * wv[ch] + bv[ch]
            })
            .collect()
    };
    let close = |what: &str, got: &[f64], want: &[f64]| {
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-12 * w.abs().max(1.0),
                "{what}[{i}]: {g} vs {w}"
            );
        }
    };
    let mean: Vec<f64> = stats.iter().map(|s| s.0).collect();
    let biased: Vec<f64> = stats.iter().map(|s| s.1).collect();
    close(
        "train y",
        &out["y"].to_f64_vec(),
        &normalized(&mean, &biased),
    );
    let want_rm: Vec<f64> = (0..c)
        .map(|i| (1.0 - momentum) * rm[i] + momentum * stats[i].0)
        .collect();
    let want_rv: Vec<f64> = (0..c)
        .map(|i| (1.0 - momentum) * rv[i] + momentum * stats[i].2)
        .collect();
    close(
        "running_mean",
        &out["m.bn.running_mean"].to_f64_vec(),
        &want_rm,
    );
    close(
        "running_var",
        &out["m.bn.running_var"].to_f64_vec(),
        &want_rv,
    );
    // Eval mode: the running statistics normalize, and nothing is updated.
    let out = run(&evalg, &inputs);
    assert_eq!(evalg.outputs.len(), 1);
    close("eval y", &out["y"].to_f64_vec(), &normalized(&rm, &rv));
}

/// `x: [n, c, H, W]`, the model `conv_transpose2d(x, f, k, stride, padding,
/// output_padding)` lowered, with its bias set to 0.
fn conv_transpose(
    x: &Tensor,
    w: &Tensor,
    f: usize,
    k: usize,
    geometry: (usize, usize, usize),
) -> Tensor {
    let d = x.shape().to_vec();
    let mut b = ModelBuilder::new("m");
    let xi = b.input("x", f64n(&d[1..]));
    let y = b.conv_transpose2d("ct", xi, f, k, geometry);
    b.output("y", y);
    let g = lowered_in(&b.model, Mode::Eval);
    let zero = Tensor::full(DType::F64, &[f], 0.0);
    let out = eval(&g, &[x, w, &zero]).unwrap();
    out.into_iter().next().unwrap()
}

#[test]
fn conv_transpose_stamps_the_kernel_at_each_input_position() {
    // One channel, a 1x2 input, a 2x2 kernel, stride 2: each input value
    // stamps the kernel, unflipped, at twice its position.
    let x = Tensor::from_f64(DType::F64, &[1, 1, 1, 2], vec![1.0, 2.0]);
    let w = Tensor::from_f64(DType::F64, &[1, 1, 2, 2], vec![1.0, 10.0, 100.0, 1000.0]);
    let y = conv_transpose(&x, &w, 1, 2, (2, 0, 0));
    assert_eq!(y.shape(), &[1, 1, 2, 4]);
    assert_eq!(
        y.to_f64_vec(),
        vec![1.0, 10.0, 2.0, 20.0, 100.0, 1000.0, 200.0, 2000.0]
    );
    // output_padding 1: one more row and column at the end (bottom, right),
    // which no input reaches.
    let y = conv_transpose(&x, &w, 1, 2, (2, 0, 1));
    assert_eq!(y.shape(), &[1, 1, 3, 5]);
    assert_eq!(
        y.to_f64_vec(),
        vec![1.0, 10.0, 2.0, 20.0, 0.0, 100.0, 1000.0, 200.0, 2000.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    );
}

#[test]
fn conv_transpose_is_the_adjoint_of_conv_with_the_same_weight() {
    let mut rng = Rng(3);
    for (c, f, k, (stride, pad, extra), (h, w)) in [
        (2, 3, 3, (2, 1, 1), (3, 4)),
        (3, 2, 3, (1, 1, 0), (4, 3)),
        (1, 2, 4, (3, 2, 2), (2, 3)),
        (2, 2, 2, (2, 0, 0), (3, 3)),
    ] {
        let n = 2;
        let x = Tensor::from_f64(
            DType::F64,
            &[n, c, h, w],
            sample(&mut rng, Domain::Any, n * c * h * w),
        );
        let wt = Tensor::from_f64(
            DType::F64,
            &[c, f, k, k],
            sample(&mut rng, Domain::Any, c * f * k * k),
        );
        let y_of_x = conv_transpose(&x, &wt, f, k, (stride, pad, extra));
        let shape = y_of_x.shape().to_vec();
        let out = |s: usize| (s - 1) * stride + k + extra - 2 * pad;
        assert_eq!(shape, vec![n, f, out(h), out(w)]);
        // conv of a [n, f, H', W'] tensor with the weight read as
        // [out = c, in = f, k, k], stride and padding as given: [n, c, h, w].
        let ysz: usize = shape.iter().product();
        let y = Tensor::from_f64(DType::F64, &shape, sample(&mut rng, Domain::Any, ysz));
        let mut g = Graph::new("conv");
        let yi = g.input(
            "y",
            Role::Data,
            TensorType::new(DType::F64, Shape::fixed(&shape)),
        );
        let wi = g.input(
            "w",
            Role::Param,
            TensorType::new(DType::F64, Shape::fixed(&[c, f, k, k])),
        );
        let mut attrs = ConvAttrs::new(2);
        attrs.stride = vec![stride; 2];
        attrs.pad_low = vec![pad; 2];
        attrs.pad_high = vec![pad; 2];
        let cv = g.conv(yi, wi, attrs);
        assert_eq!(g.ty(cv).shape, Shape::fixed(&[n, c, h, w]));
        g.output("x", cv);
        let conv_y = eval(&g, &[&y, &wt]).unwrap().remove(0);
        let dot = |a: &Tensor, b: &Tensor| -> f64 {
            a.to_f64_vec()
                .iter()
                .zip(b.to_f64_vec())
                .map(|(p, q)| p * q)
                .sum()
        };
        let (lhs, rhs) = (dot(&y_of_x, &y), dot(&x, &conv_y));
        assert!(
            (lhs - rhs).abs() <= 1e-10 * lhs.abs().max(1.0),
            "c={c} f={f} k={k} stride={stride} pad={pad}: {lhs} vs {rhs}"
        );
    }
}
