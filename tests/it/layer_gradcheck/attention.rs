//! Attention, latents, positional encodings and `mean`: gradient-check
//! cases for the parent's table, and the lowered attention's values against
//! a direct ndarray computation (`reference`) — plain, with heads, with a
//! key mask (masked keys must not change the output at all, a fully masked
//! row averages the values) and causal (later keys must not reach earlier
//! queries).

use dlc::ir::{DType, Dim, Shape, TensorType};
use dlc::passes::lower::MASKED_LOGIT;
use dlc::tensor::Tensor;
use ndarray::{s, Array2, Array3, ArrayView2};

use super::model::{f64n, ModelBuilder};
use super::{lowered, run, LayerCase};
use crate::gradcheck::fd::{sample, Domain, Rng};

fn bool_n(dims: &[usize]) -> TensorType {
    let mut s = vec![Dim::Sym("N".into())];
    s.extend(dims.iter().map(|&d| Dim::Fixed(d)));
    TensorType::new(DType::Bool, Shape(s))
}

/// `y = attention(q, k, v)` on data inputs of the given feature shapes.
fn qkv_case(
    name: &str,
    q: &[usize],
    k: &[usize],
    v: &[usize],
    mask: Option<usize>,
    causal: bool,
) -> LayerCase {
    let mut b = ModelBuilder::new("m");
    let qi = b.input("q", f64n(q));
    let ki = b.input("k", f64n(k));
    let vi = b.input("v", f64n(v));
    let mut domains = vec![Domain::Any; 3];
    let m = mask.map(|tk| {
        domains.push(Domain::Below(2));
        b.input("mask", bool_n(&[tk]))
    });
    let y = b.attention(qi, ki, vi, m, 1, causal);
    b.output("y", y);
    LayerCase::new(name, b, 3, &domains)
}

/// Multi-head self-attention as the checker builds it: projections, the
/// attention core with `heads`, the output projection.
fn mha_case(name: &str, masked: bool, causal: bool) -> LayerCase {
    let mut b = ModelBuilder::new("m");
    let x = b.input("x", f64n(&[3, 4]));
    let mut domains = vec![Domain::Any];
    let m = masked.then(|| {
        domains.push(Domain::Below(2));
        b.input("mask", bool_n(&[3]))
    });
    let q = b.dense("wq", x, 4, true);
    let k = b.dense("wk", x, 4, false);
    let v = b.dense("wv", x, 4, true);
    let a = b.attention(q, k, v, m, 2, causal);
    let y = b.dense("wo", a, 4, true);
    b.output("y", y);
    LayerCase::new(name, b, 2, &domains).params(Domain::Uniform(-1.0, 1.0))
}

pub(super) fn cases() -> Vec<LayerCase> {
    let any = Domain::Any;
    let unary = |name: &str, dims: &[usize], f: &dyn Fn(&mut ModelBuilder, usize) -> usize| {
        let mut b = ModelBuilder::new("m");
        let x = b.input("x", f64n(dims));
        let y = f(&mut b, x);
        b.output("y", y);
        LayerCase::new(name, b, 3, &[any])
    };
    // Cross-attention from learned latents to a sequence.
    let mut b = ModelBuilder::new("m");
    let x = b.input("x", f64n(&[3, 2]));
    let z = b.latents("z", x, 2, 4);
    let q = b.dense("wq", z, 4, true);
    let k = b.dense("wk", x, 4, false);
    let v = b.dense("wv", x, 4, true);
    let a = b.attention(q, k, v, None, 2, false);
    b.output("y", a);
    let cross = LayerCase::new("cross attention from latents", b, 2, &[any])
        .params(Domain::Uniform(-1.0, 1.0));
    vec![
        qkv_case("attention", &[2, 3], &[4, 3], &[4, 2], None, false),
        qkv_case(
            "attention rank 4",
            &[2, 2, 3],
            &[2, 3, 3],
            &[2, 3, 1],
            None,
            false,
        ),
        qkv_case("attention causal", &[3, 2], &[3, 2], &[3, 2], None, true),
        qkv_case(
            "attention masked",
            &[2, 3],
            &[4, 3],
            &[4, 2],
            Some(4),
            false,
        ),
        mha_case("multi-head attention", false, false),
        mha_case("multi-head attention causal masked", true, true),
        cross,
        unary("latents", &[1], &|b, x| b.latents("z", x, 3, 2)),
        unary("positional_encoding learned", &[3, 4], &|b, x| {
            b.positional_encoding("pe", x, true)
        }),
        unary("positional_encoding sinusoidal", &[3, 4], &|b, x| {
            let p = b.positional_encoding("pe", x, false);
            b.dense("h", p, 2, true)
        }),
        unary("mean", &[3, 2], &|b, x| b.mean(x, 1)),
        unary("mean over the batch", &[2], &|b, x| b.mean(x, 0)),
    ]
}

/// Attention computed directly: for each query, the softmax over the keys
/// it may see of the scaled dot products, times the values (equal weights
/// on every key when it may see none, as the lowering's finite masked logit
/// gives);
/// features split into `heads` groups attended separately.
fn reference(
    q: &Array3<f64>,
    k: &Array3<f64>,
    v: &Array3<f64>,
    mask: Option<&Array2<bool>>,
    causal: bool,
    heads: usize,
) -> Array3<f64> {
    let (n, tq, dq) = q.dim();
    let (_, tk, dv) = v.dim();
    let (d, e) = (dq / heads, dv / heads);
    let mut out = Array3::zeros((n, tq, dv));
    for b in 0..n {
        for h in 0..heads {
            let qh: ArrayView2<f64> = q.slice(s![b, .., h * d..(h + 1) * d]);
            let kh = k.slice(s![b, .., h * d..(h + 1) * d]);
            let vh = v.slice(s![b, .., h * e..(h + 1) * e]);
            let logits = qh.dot(&kh.t()) / (d as f64).sqrt();
            for i in 0..tq {
                let seen: Vec<usize> = (0..tk)
                    .filter(|&j| mask.is_none_or(|m| m[[b, j]]) && (!causal || j <= i))
                    .collect();
                let (seen, w): (Vec<usize>, Vec<f64>) = if seen.is_empty() {
                    ((0..tk).collect(), vec![1.0; tk])
                } else {
                    let mx = seen
                        .iter()
                        .map(|&j| logits[[i, j]])
                        .fold(f64::NEG_INFINITY, f64::max);
                    let w = seen.iter().map(|&j| (logits[[i, j]] - mx).exp()).collect();
                    (seen, w)
                };
                let z: f64 = w.iter().sum();
                for (&j, wj) in seen.iter().zip(&w) {
                    for f in 0..e {
                        out[[b, i, h * e + f]] += wj / z * vh[[j, f]];
                    }
                }
            }
        }
    }
    out
}

fn random3(rng: &mut Rng, shape: (usize, usize, usize)) -> Array3<f64> {
    let v = sample(rng, Domain::Any, shape.0 * shape.1 * shape.2);
    Array3::from_shape_vec(shape, v).unwrap()
}

fn tensor3(a: &Array3<f64>) -> Tensor {
    Tensor::from_f64(DType::F64, a.shape(), a.iter().copied().collect())
}

fn tensor_mask(m: &Array2<bool>) -> Tensor {
    let v = m.iter().map(|&b| f64::from(u8::from(b))).collect();
    Tensor::from_f64(DType::Bool, m.shape(), v)
}

/// The lowered attention core on `q`, `k`, `v` (and `mask`).
fn lowered_attention(
    q: &Array3<f64>,
    k: &Array3<f64>,
    v: &Array3<f64>,
    mask: Option<&Array2<bool>>,
    causal: bool,
    heads: usize,
) -> Vec<f64> {
    let mut b = ModelBuilder::new("att");
    let qi = b.input("q", f64n(&[q.dim().1, q.dim().2]));
    let ki = b.input("k", f64n(&[k.dim().1, k.dim().2]));
    let vi = b.input("v", f64n(&[v.dim().1, v.dim().2]));
    let mut inputs = vec![tensor3(q), tensor3(k), tensor3(v)];
    let m = mask.map(|m| {
        inputs.push(tensor_mask(m));
        b.input("mask", bool_n(&[k.dim().1]))
    });
    let y = b.attention(qi, ki, vi, m, heads, causal);
    b.output("y", y);
    run(&lowered(&b.model), &inputs)["y"].to_f64_vec()
}

fn assert_close(what: &str, got: &[f64], want: &Array3<f64>) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        assert!((g - w).abs() <= 1e-12, "{what}[{i}]: got {g}, want {w}");
    }
}

#[test]
fn attention_matches_a_direct_computation() {
    let mut rng = Rng(41);
    let q = random3(&mut rng, (2, 3, 4));
    let k = random3(&mut rng, (2, 5, 4));
    let v = random3(&mut rng, (2, 5, 6));
    for heads in [1, 2] {
        let got = lowered_attention(&q, &k, &v, None, false, heads);
        let want = reference(&q, &k, &v, None, false, heads);
        assert_close(&format!("heads={heads}"), &got, &want);
    }
}

#[test]
fn masked_keys_do_not_change_the_output() {
    let mut rng = Rng(42);
    let q = random3(&mut rng, (2, 3, 4));
    let mut k = random3(&mut rng, (2, 5, 4));
    let mut v = random3(&mut rng, (2, 5, 4));
    let mask = Array2::from_shape_fn((2, 5), |(b, j)| (b + j) % 3 != 0);
    for heads in [1, 2] {
        let got = lowered_attention(&q, &k, &v, Some(&mask), false, heads);
        assert_close(
            &format!("masked, heads={heads}"),
            &got,
            &reference(&q, &k, &v, Some(&mask), false, heads),
        );
        // Masked keys and values replaced by large ones: not a bit changes,
        // since a masked logit's weight is exactly 0.
        let (mut k2, mut v2) = (k.clone(), v.clone());
        for ((b, j, _), x) in k2.indexed_iter_mut() {
            if !mask[[b, j]] {
                *x = 1e3;
            }
        }
        for ((b, j, _), x) in v2.indexed_iter_mut() {
            if !mask[[b, j]] {
                *x = -1e6;
            }
        }
        let again = lowered_attention(&q, &k2, &v2, Some(&mask), false, heads);
        assert_eq!(got, again, "masked keys changed the output (heads={heads})");
    }
    // A fully masked row is finite: the mean of the values.
    let none = Array2::from_elem((2, 5), false);
    k[[0, 0, 0]] = 50.0;
    v[[1, 2, 1]] = 7.0;
    let got = lowered_attention(&q, &k, &v, Some(&none), false, 1);
    assert!(got.iter().all(|x| x.is_finite()), "{got:?}");
    let mean = v.mean_axis(ndarray::Axis(1)).unwrap();
    for b in 0..2 {
        for i in 0..3 {
            for f in 0..4 {
                let g = got[(b * 3 + i) * 4 + f];
                assert!((g - mean[[b, f]]).abs() < 1e-12, "[{b},{i},{f}]: {g}");
            }
        }
    }
    assert!(MASKED_LOGIT.is_finite() && (MASKED_LOGIT as f32).is_finite());
}

#[test]
fn causal_attention_sees_no_later_key() {
    let mut rng = Rng(43);
    let q = random3(&mut rng, (2, 4, 4));
    let k = random3(&mut rng, (2, 4, 4));
    let v = random3(&mut rng, (2, 4, 2));
    let got = lowered_attention(&q, &k, &v, None, true, 1);
    assert_close("causal", &got, &reference(&q, &k, &v, None, true, 1));
    // Changing the last key and value changes only the last query's row.
    let (mut k2, mut v2) = (k.clone(), v.clone());
    k2.slice_mut(s![.., 3, ..]).fill(3.0);
    v2.slice_mut(s![.., 3, ..]).fill(-9.0);
    let again = lowered_attention(&q, &k2, &v2, None, true, 1);
    for b in 0..2 {
        for i in 0..4 {
            let row = |o: &[f64]| o[(b * 4 + i) * 2..(b * 4 + i + 1) * 2].to_vec();
            if i < 3 {
                assert_eq!(row(&got), row(&again), "query {i} saw a later key");
            } else {
                assert_ne!(row(&got), row(&again));
            }
        }
    }
    // With a key mask too: both apply.
    let mask = Array2::from_shape_fn((2, 4), |(b, j)| j != b);
    let got = lowered_attention(&q, &k, &v, Some(&mask), true, 2);
    assert_close(
        "causal masked",
        &got,
        &reference(&q, &k, &v, Some(&mask), true, 2),
    );
}

#[test]
fn sinusoidal_encoding_is_the_transformer_table() {
    let mut b = ModelBuilder::new("pe");
    let x = b.input("x", f64n(&[5, 6]));
    let y = b.positional_encoding("pe", x, false);
    b.output("y", y);
    let zeros = Tensor::from_f64(DType::F64, &[2, 5, 6], vec![0.0; 60]);
    let got = run(&lowered(&b.model), &[zeros])["y"].to_f64_vec();
    for n in 0..2 {
        for t in 0..5 {
            for j in 0..6 {
                let a = t as f64 / 10000f64.powf((j - j % 2) as f64 / 6.0);
                let want = if j % 2 == 0 { a.sin() } else { a.cos() };
                let g = got[(n * 5 + t) * 6 + j];
                assert!((g - want).abs() < 1e-12, "PE[{t},{j}] = {g}, want {want}");
            }
        }
    }
}

/// The checker's side: parameter paths and shapes of the projections,
/// latents and learned encodings, and the layers' result types.
#[test]
fn checker_names_projection_parameters_by_path() {
    let src = "
model m {
  input x: f32[N, 10, 3]
  input keep: bool[N, 10]
  t = positional_encoding(x, kind: learned)
  s = multi_head_attention(t, 2, 4, causal: true, mask: keep)
  z = latents(x, count: 5, dim: 6)
  c = cross_attention(z, s, 3, 6, mask: keep)
  output y = mean(c, axis: 1)
}";
    let p = crate::common::check_files(src)
        .unwrap_or_else(|d| panic!("{}", crate::common::show(src, &d)));
    let m = &p.models[0];
    let params: Vec<String> = m
        .params
        .iter()
        .map(|p| format!("{} {}", p.path, p.ty))
        .collect();
    assert_eq!(
        params,
        [
            "m.t.weight f32[10,3]",
            "m.s.wq.weight f32[3,4]",
            "m.s.wq.bias f32[4]",
            "m.s.wk.weight f32[3,4]",
            "m.s.wv.weight f32[3,4]",
            "m.s.wv.bias f32[4]",
            "m.s.wo.weight f32[4,4]",
            "m.s.wo.bias f32[4]",
            "m.z.weight f32[5,6]",
            "m.c.wq.weight f32[6,6]",
            "m.c.wq.bias f32[6]",
            "m.c.wk.weight f32[4,6]",
            "m.c.wv.weight f32[4,6]",
            "m.c.wv.bias f32[6]",
            "m.c.wo.weight f32[6,6]",
            "m.c.wo.bias f32[6]",
        ]
    );
    let y = m.outputs[0].1;
    assert_eq!(m.nodes[y].ty.to_string(), "f32[N,6]");
    let heads: Vec<(usize, bool, bool)> = m
        .nodes
        .iter()
        .filter_map(|n| match n.layer {
            dlc::sema::program::Layer::Attention {
                heads,
                causal,
                masked,
            } => Some((heads, causal, masked)),
            _ => None,
        })
        .collect();
    assert_eq!(heads, [(2, true, true), (3, false, true)]);
}
