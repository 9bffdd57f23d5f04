//! The seeded generator and parameter initializers: Philox known answers
//! from the Random123 distribution, determinism, stream independence, the
//! distributions' moments, and each initializer's statistics.

use dlc::ir::DType;
use dlc::runtime::init::init_tensor;
use dlc::runtime::rng::{derive, philox4x32_10, Rng};
use dlc::sema::init::Init;
use dlc::tensor::Tensor;

/// `kat_vectors` of Random123 1.09: counter (4 words), key (2), expected (4).
const KAT: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
    (
        [0, 0, 0, 0],
        [0, 0],
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
    ),
    (
        [u32::MAX; 4],
        [u32::MAX; 2],
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
    ),
    (
        [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
        [0xa4093822, 0x299f31d0],
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    ),
];

#[test]
fn philox_known_answers() {
    for (ctr, key, want) in KAT {
        assert_eq!(philox4x32_10(ctr, key), want, "ctr {ctr:x?} key {key:x?}");
    }
}

#[test]
fn stream_words_are_philox_blocks_in_counter_order() {
    let seed = 0x299f31d0_a4093822u64;
    let mut r = Rng::new(seed, 5);
    let key = [seed as u32, (seed >> 32) as u32];
    for block in 0..3u32 {
        let want = philox4x32_10([block, 0, 5, 0], key);
        let got: Vec<u32> = (0..4).map(|_| r.next_u32()).collect();
        assert_eq!(got, want, "block {block}");
    }
    // Seed 0, stream 0 starts with the first known answer.
    let mut z = Rng::new(0, 0);
    assert_eq!(z.next_u32(), 0x6627e8d5);
}

#[test]
fn same_seed_same_numbers_other_seed_or_stream_other_numbers() {
    let draw = |seed, stream| {
        let mut r = Rng::new(seed, stream);
        (0..64).map(|_| r.next_u32()).collect::<Vec<_>>()
    };
    assert_eq!(draw(42, 0), draw(42, 0));
    assert_ne!(draw(42, 0), draw(43, 0));
    assert_ne!(draw(42, 0), draw(42, 1));
    let mut a = Rng::new(9, 9);
    a.next_u32();
    let mut b = a.clone();
    assert_eq!(a.normal(), b.normal());
    assert_eq!(a.uniform(), b.uniform());
}

#[test]
fn uniform_and_normal_moments() {
    let mut r = Rng::new(1, 0);
    let n = 200_000;
    let u: Vec<f64> = (0..n).map(|_| r.uniform()).collect();
    assert!(u.iter().all(|&v| (0.0..1.0).contains(&v)));
    let (m, v) = moments(&u);
    assert!((m - 0.5).abs() < 0.005, "uniform mean {m}");
    assert!((v - 1.0 / 12.0).abs() < 0.002, "uniform variance {v}");

    let f: Vec<f64> = (0..n).map(|_| f64::from(r.uniform_f32())).collect();
    assert!(f.iter().all(|&v| (0.0..1.0).contains(&v)));
    assert!((moments(&f).0 - 0.5).abs() < 0.005);

    let z: Vec<f64> = (0..n).map(|_| r.normal()).collect();
    let (m, v) = moments(&z);
    assert!(m.abs() < 0.01, "normal mean {m}");
    assert!((v - 1.0).abs() < 0.02, "normal variance {v}");
    let tail = z.iter().filter(|v| v.abs() > 1.96).count() as f64 / n as f64;
    assert!((tail - 0.05).abs() < 0.005, "two-sided 5% tail: {tail}");
}

#[test]
fn permutations_are_permutations_and_seeded() {
    let p = Rng::new(3, 0).permutation(1000);
    let mut sorted = p.clone();
    sorted.sort();
    assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
    assert_ne!(p, sorted, "a shuffle of 1000 left everything in place");
    assert_eq!(p, Rng::new(3, 0).permutation(1000));
    assert_ne!(p, Rng::new(4, 0).permutation(1000));
    assert!(Rng::new(3, 0).permutation(0).is_empty());
    assert_eq!(Rng::new(3, 0).permutation(1), vec![0]);
}

#[test]
fn below_is_uniform() {
    let mut r = Rng::new(11, 0);
    let mut counts = [0usize; 3];
    for _ in 0..30_000 {
        counts[r.below(3)] += 1;
    }
    for c in counts {
        assert!((c as i64 - 10_000).abs() < 400, "{counts:?}");
    }
}

#[test]
fn derive_is_fnv1a_of_seed_and_name() {
    // Computed independently: FNV-1a 64 over the seed's 8 little-endian
    // bytes, then the name's bytes.
    assert_eq!(derive(0, "mlp.h.weight"), 0x3843bd2237a5bdb4);
    assert_eq!(derive(7, "split"), 0x92b5b723359a0e42);
    assert_ne!(derive(0, "mlp.h.weight"), derive(0, "mlp.h.bias"));
    assert_ne!(derive(0, "a"), derive(1, "a"));
}

fn moments(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (m, v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n)
}

fn init(init: Init, shape: &[usize], fan_in: usize, fan_out: usize) -> Vec<f64> {
    let mut r = Rng::new(5, derive(5, "w"));
    let t = init_tensor(&init, DType::F64, shape, fan_in, fan_out, &mut r);
    assert_eq!(t.shape(), shape);
    t.to_f64_vec()
}

#[test]
fn initializer_statistics() {
    let (fi, fo) = (400, 300);
    let shape = [fi, fo];
    let check = |name: &str, v: &[f64], mean: f64, var: f64| {
        let (m, s) = moments(v);
        // Five standard errors of the mean: the draw is seeded, so this
        // either always passes or the formula is wrong.
        let se = (var / v.len() as f64).sqrt();
        assert!((m - mean).abs() < 5.0 * se, "{name}: mean {m}, want {mean}");
        assert!(
            (s / var - 1.0).abs() < 0.02,
            "{name}: variance {s}, want {var}"
        );
    };

    let a = (6.0 / (fi + fo) as f64).sqrt();
    let v = init(Init::GlorotUniform, &shape, fi, fo);
    assert!(v.iter().all(|x| x.abs() <= a));
    check("glorot_uniform", &v, 0.0, a * a / 3.0);

    let v = init(Init::GlorotNormal, &shape, fi, fo);
    check("glorot_normal", &v, 0.0, 2.0 / (fi + fo) as f64);

    let a = (6.0 / fi as f64).sqrt();
    let v = init(Init::HeUniform, &shape, fi, fo);
    assert!(v.iter().all(|x| x.abs() <= a));
    check("he_uniform", &v, 0.0, a * a / 3.0);

    check(
        "he_normal",
        &init(Init::HeNormal, &shape, fi, fo),
        0.0,
        2.0 / fi as f64,
    );
    check(
        "lecun_normal",
        &init(Init::LecunNormal, &shape, fi, fo),
        0.0,
        1.0 / fi as f64,
    );

    let v = init(
        Init::Uniform {
            low: 2.0,
            high: 5.0,
        },
        &shape,
        fi,
        fo,
    );
    assert!(v.iter().all(|x| (2.0..5.0).contains(x)));
    check("uniform", &v, 3.5, 9.0 / 12.0);

    let v = init(
        Init::Normal {
            mean: -1.0,
            std: 0.5,
        },
        &shape,
        fi,
        fo,
    );
    check("normal", &v, -1.0, 0.25);
}

#[test]
fn constant_initializers_and_dtypes() {
    let mut r = Rng::new(0, 0);
    let z = init_tensor(&Init::Zeros, DType::F32, &[2, 3], 2, 3, &mut r);
    assert_eq!(z, Tensor::full(DType::F32, &[2, 3], 0.0));
    let o = init_tensor(&Init::Ones, DType::F64, &[4], 4, 4, &mut r);
    assert_eq!(o.to_f64_vec(), vec![1.0; 4]);
    let c = init_tensor(&Init::Constant(0.25), DType::F32, &[], 1, 1, &mut r);
    assert_eq!(c.item(), 0.25);
    // Constants draw nothing: the stream is untouched.
    assert_eq!(r.next_u32(), Rng::new(0, 0).next_u32());

    // f32 and f64 parameters start from the same numbers, up to rounding.
    let f32s = init_tensor(
        &Init::HeNormal,
        DType::F32,
        &[8, 8],
        8,
        8,
        &mut Rng::new(1, 2),
    );
    let f64s = init_tensor(
        &Init::HeNormal,
        DType::F64,
        &[8, 8],
        8,
        8,
        &mut Rng::new(1, 2),
    );
    assert_eq!(f32s.dtype(), DType::F32);
    for (a, b) in f32s.to_f64_vec().iter().zip(f64s.to_f64_vec()) {
        assert_eq!(*a, b as f32 as f64);
    }
}
