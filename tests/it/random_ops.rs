//! The IR's `random_uniform` and `random_normal` on the interpreter: the
//! numbers are a pure function of (key, stream, element index) — the same
//! key gives the same numbers, in any shape, in every run, and another key
//! or stream other numbers; element `i` is exactly Philox block `i` as
//! `crate::random` documents (checked against the runtime's generator);
//! the distributions have the right moments; and a key computed from the
//! step counter gives fresh numbers each step from one compiled graph.

use dlc::backend::interp::{eval, Interpreter};
use dlc::backend::Backend;
use dlc::ir::{DType, Dim, Dist, Graph, Hyper, Op, Role, Shape, TensorType};
use dlc::runtime::rng::{philox4x32_10, Rng};
use dlc::tensor::Tensor;

fn ty(dtype: DType, dims: &[usize]) -> TensorType {
    TensorType::new(dtype, Shape::fixed(dims))
}

/// `random_* %key stream=stream : dtype[shape]` for a given key.
fn draw(dist: Dist, dtype: DType, shape: &[usize], key: i32, stream: u64) -> Vec<f64> {
    let mut g = Graph::new("r");
    let k = g.input("key", Role::Hyper(Hyper::Key), ty(DType::I32, &[]));
    let r = g.random(dist, k, stream, ty(dtype, shape));
    g.output("r", r);
    let kv = Tensor::scalar(DType::I32, key as f64);
    let out = eval(&g, &[&kv]).unwrap().pop().unwrap();
    assert_eq!(out.dtype(), dtype);
    assert_eq!(out.shape(), shape);
    out.to_f64_vec()
}

#[test]
fn same_key_and_stream_same_numbers_otherwise_others() {
    for dist in Dist::ALL {
        for dtype in [DType::F32, DType::F64] {
            let a = draw(dist, dtype, &[4, 8], 7, 3);
            assert_eq!(a, draw(dist, dtype, &[4, 8], 7, 3));
            assert_ne!(a, draw(dist, dtype, &[4, 8], 8, 3));
            assert_ne!(a, draw(dist, dtype, &[4, 8], 7, 4));
            assert_ne!(a, draw(dist, dtype, &[4, 8], -7, 3));
            // Element i depends on its index only, not on the shape.
            let flat = draw(dist, dtype, &[40], 7, 3);
            assert_eq!(a, flat[..32]);
        }
    }
}

#[test]
fn element_i_is_philox_block_i_as_documented() {
    let (key, stream) = (-123i32, 0xDEAD_BEEF_0000_0005u64);
    let kw = [key as u32, 0];
    let ctr = |i: u64| {
        [
            i as u32,
            (i >> 32) as u32,
            stream as u32,
            (stream >> 32) as u32,
        ]
    };
    let u32s = draw(Dist::Uniform, DType::F32, &[5], key, stream);
    let u64s = draw(Dist::Uniform, DType::F64, &[5], key, stream);
    for i in 0..5u64 {
        let b = philox4x32_10(ctr(i), kw);
        assert_eq!(u32s[i as usize], (b[0] >> 8) as f64 / (1u64 << 24) as f64);
        let bits = (u64::from(b[0]) << 32) | u64::from(b[1]);
        assert_eq!(u64s[i as usize], (bits >> 11) as f64 / (1u64 << 53) as f64);
    }
    // Element 0 is the first draw of the runtime stream with the same
    // key and stream.
    let mut rng = Rng::new(u64::from(key as u32), stream);
    assert_eq!(u64s[0], rng.uniform());
    let mut rng = Rng::new(u64::from(key as u32), stream);
    assert_eq!(u32s[0], f64::from(rng.uniform_f32()));
    let normals = draw(Dist::Normal, DType::F64, &[3], key, stream);
    let mut rng = Rng::new(u64::from(key as u32), stream);
    assert_eq!(normals[0], rng.normal());
    let normals32 = draw(Dist::Normal, DType::F32, &[3], key, stream);
    assert_eq!(normals32[0], normals[0] as f32 as f64);
}

fn moments(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var)
}

#[test]
fn uniform_numbers_are_in_0_1_with_the_right_moments() {
    const N: usize = 100_000;
    for dtype in [DType::F32, DType::F64] {
        let v = draw(Dist::Uniform, dtype, &[N], 42, 0);
        assert!(v.iter().all(|&x| (0.0..1.0).contains(&x)), "{dtype}");
        let (mean, var) = moments(&v);
        // Five standard errors: sd/sqrt(N) = 0.00091 for the mean.
        assert!((mean - 0.5).abs() < 0.0046, "{dtype}: mean {mean}");
        assert!((var - 1.0 / 12.0).abs() < 0.0025, "{dtype}: variance {var}");
        // Ten equal bins hold about a tenth each.
        let mut bins = [0usize; 10];
        for &x in &v {
            bins[(x * 10.0) as usize] += 1;
        }
        for b in bins {
            assert!(
                (b as f64 - 10_000.0).abs() < 500.0,
                "{dtype}: bins {bins:?}"
            );
        }
    }
}

#[test]
fn normal_numbers_have_the_right_moments() {
    const N: usize = 100_000;
    for dtype in [DType::F32, DType::F64] {
        let v = draw(Dist::Normal, dtype, &[N], 42, 1);
        assert!(v.iter().all(|x| x.is_finite()));
        let (mean, var) = moments(&v);
        assert!(mean.abs() < 0.016, "{dtype}: mean {mean}");
        assert!((var - 1.0).abs() < 0.023, "{dtype}: variance {var}");
        let within1 = v.iter().filter(|x| x.abs() < 1.0).count() as f64 / N as f64;
        assert!(
            (within1 - 0.6827).abs() < 0.008,
            "{dtype}: {within1} within one sd"
        );
        let skew = v.iter().map(|x| (x - mean).powi(3)).sum::<f64>() / N as f64;
        assert!(skew.abs() < 0.04, "{dtype}: third moment {skew}");
    }
}

#[test]
fn a_key_from_the_step_gives_fresh_numbers_each_step_from_one_compiled_graph() {
    // The dropout pattern: key = cast(step), mask = uniform >= p.
    let mut g = Graph::new("dropout");
    let step = g.input("step", Role::Hyper(Hyper::Step), ty(DType::F32, &[]));
    let x = g.input(
        "x",
        Role::Data,
        TensorType::new(
            DType::F32,
            Shape(vec![Dim::Sym("N".into()), Dim::Fixed(16)]),
        ),
    );
    let key = g.cast(step, DType::I32);
    let xt = g.ty(x).clone();
    let u = g.random(Dist::Uniform, key, 9, xt);
    let p = g.constant_like(0.5, u);
    let keep = g.compare(dlc::ir::CmpOp::Ge, u, p);
    let zero = g.constant_like(0.0, x);
    let y = g.select(keep, x, zero);
    g.output("y", y);
    let mut exe = Interpreter.compile_graph(&g).unwrap();
    let xv = Tensor::full(DType::F32, &[4, 16], 1.0);
    let mut run = |s: f64| {
        exe.run(&[&Tensor::scalar(DType::F32, s), &xv])
            .unwrap()
            .pop()
            .unwrap()
            .to_f64_vec()
    };
    let (a, b, a2) = (run(1.0), run(2.0), run(1.0));
    assert_eq!(a, a2);
    assert_ne!(a, b);
    let kept = a.iter().filter(|&&v| v == 1.0).count();
    assert!((16..48).contains(&kept), "{kept} of 64 kept");
}

#[test]
fn the_typing_rule_wants_an_i32_scalar_key_and_a_float_result() {
    let f = ty(DType::F32, &[3]);
    let op = Op::Random {
        dist: Dist::Uniform,
        stream: 0,
    };
    let key = ty(DType::I32, &[]);
    assert_eq!(op.result_type(&[&key], Some(&f)), Ok(f.clone()));
    let e = op
        .result_type(&[&ty(DType::F32, &[])], Some(&f))
        .unwrap_err();
    assert!(e.contains("i32[] key"), "{e}");
    let e = op
        .result_type(&[&ty(DType::I32, &[1])], Some(&f))
        .unwrap_err();
    assert!(e.contains("i32[] key"), "{e}");
    let e = op
        .result_type(&[&key], Some(&ty(DType::I32, &[3])))
        .unwrap_err();
    assert!(e.contains("floats"), "{e}");
    assert!(op.result_type(&[&key], None).is_err());
}
