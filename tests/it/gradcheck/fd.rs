//! The finite-difference machinery every gradient check shares: a seeded
//! generator, value domains that keep away from kinks, and [`check`], which
//! compares one output of any graph with its reverse-mode gradient (from
//! `autodiff::grad`) by central differences in f64 on the interpreter. The
//! primitive checks (`gradcheck`) and the layer checks (`layer_gradcheck`)
//! both build a graph and call it.

use dlc::backend::interp::eval;
use dlc::ir::verify::verify;
use dlc::ir::{DType, Graph, Role, Value};
use dlc::passes::autodiff::grad;
use dlc::tensor::Tensor;

/// splitmix64: deterministic, so a failure reproduces.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Where values are drawn: away from the kinks of the op under test, so
/// central differences are valid.
#[derive(Clone, Copy, Debug)]
pub enum Domain {
    /// U(-2, 2)
    Any,
    /// U(0.5, 2): log, sqrt, the base of pow
    Positive,
    /// ±U(0.5, 2): abs, recip, divisors
    AwayFromZero,
    /// An integer in [-2, 2] plus the offset: two lattices with offsets 0.5
    /// apart never tie (max, min).
    Lattice(f64),
    /// All values distinct, 0.1 apart (reduce_max).
    Distinct,
    /// k/64 in [-2, 2]: exact in f32, so a cast round trip is exact.
    Dyadic,
    /// U(lo, hi): probabilities inside a clamp, small weights.
    Uniform(f64, f64),
    /// ±U(lo, hi): values outside a band (targets beyond tanh's range).
    Signed(f64, f64),
    /// Integers in [0, n): class labels.
    Below(u64),
}

pub fn sample(rng: &mut Rng, d: Domain, n: usize) -> Vec<f64> {
    match d {
        Domain::Any => sample(rng, Domain::Uniform(-2.0, 2.0), n),
        Domain::Positive => sample(rng, Domain::Uniform(0.5, 2.0), n),
        Domain::AwayFromZero => sample(rng, Domain::Signed(0.5, 2.0), n),
        Domain::Lattice(off) => (0..n).map(|_| rng.below(5) as f64 - 2.0 + off).collect(),
        Domain::Distinct => {
            let mut v: Vec<f64> = (0..n).map(|i| (i as f64 - n as f64 / 2.0) * 0.1).collect();
            for i in (1..n).rev() {
                v.swap(i, rng.below(i as u64 + 1) as usize);
            }
            v
        }
        Domain::Dyadic => (0..n)
            .map(|_| (rng.below(257) as f64 - 128.0) / 64.0)
            .collect(),
        Domain::Uniform(lo, hi) => (0..n).map(|_| rng.uniform(lo, hi)).collect(),
        Domain::Signed(lo, hi) => (0..n)
            .map(|_| {
                let s = if rng.below(2) == 0 { -1.0 } else { 1.0 };
                s * rng.uniform(lo, hi)
            })
            .collect(),
        Domain::Below(k) => (0..n).map(|_| rng.below(k) as f64).collect(),
    }
}

/// The default finite-difference step: a power of two, so `x ± h t` is
/// exact for dyadic `t`, and small enough that the O(h²) error of central
/// differences stays far below the tolerance of [`close`].
pub const H: f64 = 1.0 / (1u64 << 17) as f64;

/// Equal to 1e-6, relative to the larger magnitude (or absolute below 1).
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `x + s * t`, per differentiated input.
fn step(x: &[Vec<f64>], t: &[Vec<f64>], s: f64) -> Vec<Vec<f64>> {
    x.iter()
        .zip(t)
        .map(|(xs, ts)| xs.iter().zip(ts).map(|(a, b)| a + s * b).collect())
        .collect()
}

/// One gradient check: output `output` of `graph`, at `inputs` (one per
/// graph input, in order), differentiated with respect to the inputs at
/// positions `wrt`, which must be f64.
pub struct Check<'a> {
    pub name: &'a str,
    pub graph: &'a Graph,
    pub output: &'a str,
    pub inputs: &'a [Tensor],
    pub wrt: &'a [usize],
    /// The finite-difference step, usually [`H`].
    pub h: f64,
    /// Also compare the full Jacobian entry by entry (tiny shapes only);
    /// otherwise only random directions.
    pub full_jacobian: bool,
}

/// The checked graphs: `y` = the output, `loss = sum(y * cot)` for a new
/// data input `cot` (so the gradient of `loss` is Jᵀ cot); returned before
/// and after `grad`, both verified.
fn graphs(c: &Check) -> (Graph, Graph) {
    let Some(y) = c.graph.find_output(c.output) else {
        panic!("{}: no output `{}`", c.name, c.output)
    };
    let mut g = c.graph.clone();
    g.outputs.clear();
    let cot = g.input("cot", Role::Data, g.ty(y).clone());
    let prod = g.mul(y, cot);
    let loss = g.sum(prod, (0..g.ty(y).rank()).collect());
    g.output("y", y);
    g.output("loss", loss);
    let wrt: Vec<Value> = c.wrt.iter().map(|&i| c.graph.inputs[i]).collect();
    let gg = grad(&g, "loss", &wrt);
    for (what, graph) in [("forward", &g), ("gradient", &gg)] {
        if let Err(e) = verify(graph) {
            panic!("{}: the {what} graph does not verify: {e}", c.name)
        }
    }
    (g, gg)
}

/// Checks ⟨J t, c⟩ by central differences against ⟨t, Jᵀ c⟩ by autodiff
/// for three random directions `t` and cotangents `c`, and with
/// `full_jacobian` every entry of J both ways. Panics with the case's name
/// and the two numbers on a mismatch.
pub fn check(c: &Check, rng: &mut Rng) {
    for &i in c.wrt {
        assert_eq!(
            c.inputs[i].dtype(),
            DType::F64,
            "{}: input {i} is differentiated, so it must be f64",
            c.name
        );
    }
    let (fwd, bwd) = graphs(c);
    let x: Vec<Vec<f64>> = c.wrt.iter().map(|&i| c.inputs[i].to_f64_vec()).collect();
    let run = |g: &Graph, x: &[Vec<f64>], cot: &Tensor| -> Vec<Tensor> {
        let mut inputs = c.inputs.to_vec();
        for (&i, v) in c.wrt.iter().zip(x) {
            inputs[i] = Tensor::from_f64(DType::F64, c.inputs[i].shape(), v.clone());
        }
        inputs.push(cot.clone());
        let refs: Vec<&Tensor> = inputs.iter().collect();
        eval(g, &refs).unwrap_or_else(|e| panic!("{}: {e}", c.name))
    };
    // The output's run-time shape, from a run of the original graph.
    let y_shape = {
        let refs: Vec<&Tensor> = c.inputs.iter().collect();
        let out = eval(c.graph, &refs).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let at = c
            .graph
            .outputs
            .iter()
            .position(|o| o.name == c.output)
            .expect("output exists");
        out[at].shape().to_vec()
    };
    let m: usize = y_shape.iter().product();
    let fd = |x: &[Vec<f64>], cot: &Tensor| run(&fwd, x, cot)[1].item();
    let grads = |cot: &Tensor| -> Vec<Vec<f64>> {
        let out = run(&bwd, &x, cot);
        out[2..].iter().map(|t| t.to_f64_vec()).collect()
    };

    for round in 0..3 {
        let t: Vec<Vec<f64>> = x
            .iter()
            .map(|v| sample(rng, Domain::Dyadic, v.len()))
            .collect();
        let cot = Tensor::from_f64(DType::F64, &y_shape, sample(rng, Domain::Any, m));
        let jt_c = (fd(&step(&x, &t, c.h), &cot) - fd(&step(&x, &t, -c.h), &cot)) / (2.0 * c.h);
        let g = grads(&cot);
        let t_jc: f64 = t.iter().zip(&g).map(|(a, b)| dot(a, b)).sum();
        assert!(
            close(jt_c, t_jc),
            "{} (round {round}): <J t, c> = {jt_c} by differences, <t, J'c> = {t_jc} by autodiff",
            c.name
        );
    }
    if !c.full_jacobian {
        return;
    }
    // Row by row (autodiff) and column by column (differences).
    let rows: Vec<Vec<Vec<f64>>> = (0..m)
        .map(|j| {
            let mut e = vec![0.0; m];
            e[j] = 1.0;
            grads(&Tensor::from_f64(DType::F64, &y_shape, e))
        })
        .collect();
    for (pi, xp) in x.iter().enumerate() {
        for i in 0..xp.len() {
            let mut t: Vec<Vec<f64>> = x.iter().map(|v| vec![0.0; v.len()]).collect();
            t[pi][i] = 1.0;
            let at = |s: f64| -> Vec<f64> {
                let xs = step(&x, &t, s);
                run(&fwd, &xs, &Tensor::full(DType::F64, &y_shape, 0.0))[0].to_f64_vec()
            };
            let (plus, minus) = (at(c.h), at(-c.h));
            let input = c.wrt[pi];
            for j in 0..m {
                let num = (plus[j] - minus[j]) / (2.0 * c.h);
                let ad = rows[j][pi][i];
                assert!(
                    close(num, ad),
                    "{}: d y[{j}] / d input{input}[{i}] = {num} by differences, {ad} by autodiff",
                    c.name
                );
            }
        }
    }
}
