//! Property tests for the IR. Random well-typed graphs (a recipe of random
//! steps over a few inputs, each step picking an op and operands of fitting
//! types) must verify, round-trip through the text form, and come out of
//! every pass verified with their output names and types unchanged and
//! (for f64 graphs) the same values in the interpreter; the steps include
//! scans with random bodies, so passes inside bodies are covered too. The
//! shape rules in `Op::result_type` for transpose, reduce, broadcast,
//! reshape, slice, concat and matmul must agree with what ndarray does to
//! an actual array of that shape.

use dlc::backend::interp;
use dlc::ir::parse::parse;
use dlc::ir::print::print;
use dlc::ir::verify::verify;
use dlc::ir::{
    BinaryOp, CmpOp, DType, Dim, Graph, Hyper, Op, ReduceOp, Role, Scan, Shape, TensorType,
    UnaryOp, Value,
};
use dlc::passes::simplify::{dce, simplify, PASSES};
use ndarray::{ArrayD, Axis, Ix2, IxDyn};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

use crate::filetests::agreement::agree;

// ---------------------------------------------------------------------------
// Random well-typed graphs.

/// One step of a recipe: which op, and three numbers that pick operands
/// and attributes (each taken modulo whatever range it indexes).
#[derive(Clone, Debug)]
struct Step {
    kind: u8,
    i: usize,
    j: usize,
    k: usize,
}

fn step() -> impl Strategy<Value = Step> {
    (0u8..25, any::<usize>(), any::<usize>(), any::<usize>()).prop_map(|(kind, i, j, k)| Step {
        kind,
        i,
        j,
        k,
    })
}

fn sym(s: &str) -> Dim {
    Dim::Sym(s.into())
}

fn f64_ty(dims: Vec<Dim>) -> TensorType {
    TensorType::new(DType::F64, Shape(dims))
}

/// Constants the generator uses: the identities algebra looks for, a
/// negative zero, and ordinary values.
const CONSTS: [f64; 7] = [0.0, 1.0, -1.0, 0.5, 2.0, -0.0, 1e-3];

/// Builds the graph a recipe describes. Every step yields a well-typed
/// node: when the step's op cannot apply to the picked operand (a matmul of
/// a vector, say), it falls back to something that can.
fn build(steps: &[Step], outputs: &[usize], f64_only: bool) -> Graph {
    let mut g = Graph::new("random");
    let mut floats: Vec<Value> = vec![
        g.input("x", Role::Data, f64_ty(vec![sym("N"), 3.into()])),
        g.input("w", Role::Param, f64_ty(vec![3.into(), 4.into()])),
        g.input("b", Role::Param, f64_ty(vec![4.into()])),
        g.input("lr", Role::Hyper(Hyper::Lr(0)), f64_ty(vec![])),
        g.input("m", Role::State, f64_ty(vec![2.into(), 3.into(), 3.into()])),
    ];
    let mut bools: Vec<Value> = Vec::new();
    for s in steps {
        // Half the steps build on one of the last three values, so chains
        // grow deep; the others reach back anywhere.
        let a = if s.i % 2 == 0 {
            floats[floats.len() - 1 - (s.i / 2) % floats.len().min(3)]
        } else {
            floats[(s.i / 2) % floats.len()]
        };
        let ta = g.ty(a).clone();
        let rank = ta.rank();
        // A float value of a's type, searching from j; a itself if none.
        let partner = |g: &Graph, floats: &[Value]| {
            (0..floats.len())
                .map(|d| floats[(s.j + d) % floats.len()])
                .find(|&v| *g.ty(v) == ta)
                .unwrap_or(a)
        };
        let v = match s.kind {
            0 => g.unary(UnaryOp::ALL[s.k % UnaryOp::ALL.len()], a),
            1 | 2 => {
                let b = partner(&g, &floats);
                g.binary(BinaryOp::ALL[s.k % BinaryOp::ALL.len()], a, b)
            }
            3 => {
                let b = partner(&g, &floats);
                let c = g.compare(CmpOp::ALL[s.k % CmpOp::ALL.len()], a, b);
                bools.push(c);
                continue;
            }
            4 => {
                let b = partner(&g, &floats);
                let want = ta.with_dtype(DType::Bool);
                let existing = bools.iter().copied().find(|&c| *g.ty(c) == want);
                let cond = match (s.k % 3, existing) {
                    (0, _) => g.constant(f64::from(u8::from(s.j % 2 == 0)), want),
                    (1, Some(c)) => c,
                    _ => g.compare(CmpOp::Lt, a, b),
                };
                g.select(cond, a, b)
            }
            5 => g.constant(CONSTS[s.k % CONSTS.len()], ta.clone()),
            6 if rank < 4 => {
                // Insert a new axis (of size 2, 3 or N) at position p; a
                // size-1 axis may also stretch.
                let p = s.k % (rank + 1);
                let new_dim = [Dim::Fixed(2), Dim::Fixed(3), sym("N")][s.j % 3].clone();
                let mut dims = ta.shape.0.clone();
                dims.insert(p, new_dim);
                let kept: Vec<usize> = (0..rank + 1).filter(|&d| d != p).collect();
                g.broadcast_to(a, Shape(dims), kept)
            }
            7 if rank > 0 => {
                let mask = s.k % (1 << rank);
                let axes: Vec<usize> = (0..rank).filter(|d| mask & (1 << d) != 0).collect();
                let op = if s.j % 2 == 0 {
                    ReduceOp::Sum
                } else {
                    ReduceOp::Max
                };
                g.push(Op::Reduce { op, axes }, &[a], None)
            }
            8 if rank > 1 => g.transpose(a, permutation(rank, s.k)),
            9 => {
                let mut dims = ta.shape.0.clone();
                if s.k % 2 == 0 || rank < 2 {
                    dims.reverse();
                } else {
                    // Merge the last two axes when both are fixed.
                    let (x, y) = (dims[rank - 2].clone(), dims[rank - 1].clone());
                    if let (Some(x), Some(y)) = (x.fixed(), y.fixed()) {
                        dims.truncate(rank - 2);
                        dims.push(Dim::Fixed(x * y));
                    }
                }
                g.reshape(a, Shape(dims))
            }
            10 if rank >= 2 => {
                // a: [.., m, k]; find b: [.., k, n], else use a's transpose.
                let want_k = &ta.shape.0[rank - 1];
                let b = (0..floats.len())
                    .map(|d| floats[(s.j + d) % floats.len()])
                    .find(|&v| {
                        let t = g.ty(v);
                        t.dtype == ta.dtype
                            && t.rank() == rank
                            && t.shape.0[..rank - 2] == ta.shape.0[..rank - 2]
                            && t.shape.0[rank - 2] == *want_k
                    });
                let b = match b {
                    Some(b) => b,
                    None => g.transpose_last2(a),
                };
                g.matmul(a, b)
            }
            11 if !f64_only => {
                let to = if ta.dtype == DType::F64 {
                    DType::F32
                } else {
                    DType::F64
                };
                g.cast(a, to)
            }
            12 if rank > 0 => g.push(
                Op::DimSize { axis: s.k % rank },
                &[a],
                Some(TensorType::scalar(ta.dtype)),
            ),
            13 if rank > 0 => g.push(Op::Iota { axis: s.k % rank }, &[], Some(ta.clone())),
            14 => {
                // Patterns algebra rewrites.
                match s.k % 3 {
                    0 => {
                        let n = g.neg(a);
                        g.neg(n)
                    }
                    1 => g.scale(a, 1.0),
                    _ => {
                        let z = g.constant_like(0.0, a);
                        g.add(z, a)
                    }
                }
            }
            15 if rank > 0 => {
                // Per fixed axis: a start and a stride of 1 or 2 from k's
                // bits; symbolic axes whole.
                let (mut start, mut stop, mut stride) = (vec![], vec![], vec![]);
                for (i, d) in ta.shape.0.iter().enumerate() {
                    let bits = s.k >> (3 * i);
                    match d.fixed() {
                        Some(n) if n > 1 => {
                            start.push(bits % n);
                            stop.push(Dim::Fixed(n - (bits >> 1) % 2));
                            stride.push(1 + (bits >> 2) % 2);
                        }
                        _ => {
                            start.push(0);
                            stop.push(d.clone());
                            stride.push(1);
                        }
                    }
                }
                let start = start
                    .iter()
                    .zip(&stop)
                    .map(|(&b, e)| e.fixed().map_or(b, |e| b.min(e)))
                    .collect();
                g.slice(a, start, stop, stride)
            }
            16 if rank > 0 => {
                let (mut low, mut high, mut interior) = (vec![], vec![], vec![]);
                for (i, d) in ta.shape.0.iter().enumerate() {
                    let bits = s.k >> (3 * i);
                    let grow = d.fixed().is_some() as usize;
                    low.push(grow * (bits % 2));
                    high.push(grow * ((bits >> 1) % 2));
                    interior.push(grow * ((bits >> 2) % 2));
                }
                g.pad(a, low, high, interior, CONSTS[s.j % CONSTS.len()])
            }
            17 => {
                // Along a fixed axis, with a partner of the same type.
                match ta.shape.0.iter().position(|d| d.fixed().is_some()) {
                    Some(axis) => {
                        let b = partner(&g, &floats);
                        let parts = [a, b, a];
                        g.concat(&parts[..1 + s.k % 3], axis)
                    }
                    None => g.unary(UnaryOp::Neg, a),
                }
            }
            18 => {
                let mask = s.k % (1 << rank);
                let axes: Vec<usize> = (0..rank).filter(|d| mask & (1 << d) != 0).collect();
                g.reverse(a, axes)
            }
            19 if rank > 0 && ta.shape.0[0].fixed().is_some_and(|n| n > 0) => {
                // In-range indices: 0, 1, ... (iota) or all zeros, of rank 0..=2.
                let n = ta.shape.0[0].fixed().unwrap_or(1);
                let shape = [vec![], vec![n.min(3)], vec![2, n.min(2)]][s.j % 3].clone();
                let ity = TensorType::new(DType::I32, Shape::fixed(&shape));
                let idx = if s.k % 2 == 0 && !shape.is_empty() {
                    g.push(
                        Op::Iota {
                            axis: shape.len() - 1,
                        },
                        &[],
                        Some(ity),
                    )
                } else {
                    g.constant(0.0, ity)
                };
                let rows = g.gather(a, idx);
                if s.k % 3 == 0 {
                    rows
                } else {
                    let b = partner(&g, &floats);
                    let rows_b = g.gather(b, idx);
                    g.scatter_add(a, idx, rows_b)
                }
            }
            20 if rank >= 3 => {
                // a as the input and a partner (often a itself) as the
                // kernel, with attributes from k's bits; an ill-typed
                // combination (channels, empty output) falls back to neg.
                let b = partner(&g, &floats);
                let sp = rank - 2;
                let mut c = dlc::ir::ConvAttrs::new(sp);
                for i in 0..sp {
                    let bits = s.k >> (5 * i);
                    c.stride[i] = 1 + bits % 2;
                    c.pad_low[i] = (bits >> 1) % 2;
                    c.pad_high[i] = (bits >> 2) % 2;
                    c.dilation[i] = 1 + (bits >> 3) % 2;
                    c.lhs_dilation[i] = 1 + (bits >> 4) % 2;
                }
                match g.try_push(Op::Conv(c), &[a, b], None) {
                    Ok(v) => v,
                    Err(_) => g.unary(UnaryOp::Neg, a),
                }
            }
            21 if rank > 0 => {
                // Windows of 1 or 2, strides of 1 or 2 and padding of 0 or
                // 1 on fixed axes; an empty output falls back to neg.
                let mut w = dlc::ir::Window::new(vec![1; rank]);
                for (i, d) in ta.shape.0.iter().enumerate() {
                    let bits = s.k >> (4 * i);
                    if d.fixed().is_some() {
                        w.size[i] = 1 + bits % 2;
                        w.stride[i] = 1 + (bits >> 1) % 2;
                        w.pad_low[i] = (bits >> 2) % 2;
                        w.pad_high[i] = (bits >> 3) % 2;
                    }
                }
                let op = if s.j % 2 == 0 {
                    ReduceOp::Sum
                } else {
                    ReduceOp::Max
                };
                match g.try_push(Op::ReduceWindow { op, window: w }, &[a], None) {
                    Ok(v) => v,
                    Err(_) => g.unary(UnaryOp::Neg, a),
                }
            }
            22 => {
                // A constant key, so runs before and after a pass agree.
                let key = g.constant((s.j % 5) as f64, TensorType::scalar(DType::I32));
                let dist = dlc::ir::Dist::ALL[s.k % 2];
                g.random(dist, key, (s.k / 2) as u64 % 3, ta.clone())
            }
            23 if rank > 0 => {
                // A scan over `a` along a random axis: carry `h' = h op x`,
                // stacked `y = u(h')`; both results join the pool.
                let axis = s.k % rank;
                let mut slice = ta.clone();
                slice.shape.0.remove(axis);
                let init = (0..floats.len())
                    .map(|d| floats[(s.j + d) % floats.len()])
                    .find(|&v| *g.ty(v) == slice);
                let init = match init {
                    Some(v) => v,
                    None => g.constant(CONSTS[s.j % CONSTS.len()], slice.clone()),
                };
                let mut body = Graph::new("step");
                let h = body.input("h", Role::Data, slice.clone());
                let x = body.input("x", Role::Data, slice);
                let h2 = body.binary(BinaryOp::ALL[s.j % BinaryOp::ALL.len()], h, x);
                let y = body.unary(UnaryOp::ALL[s.k % UnaryOp::ALL.len()], h2);
                body.output("h", h2);
                body.output("y", y);
                let scan = Scan {
                    body,
                    carries: 1,
                    sequences: 1,
                    axis,
                    reverse: s.i % 3 == 0,
                };
                let r = g.scan(scan, &[init, a]);
                floats.push(r[0]);
                r[1]
            }
            _ => g.unary(UnaryOp::Neg, a),
        };
        floats.push(v);
    }
    let mut all: Vec<Value> = floats.clone();
    all.extend(&bools);
    let last = *floats.last().expect("inputs exist");
    g.output("out", last);
    for (n, &o) in outputs.iter().enumerate() {
        g.output(format!("o{n}"), all[o % all.len()]);
    }
    g
}

/// The `k`-th permutation of `0..n` (mod n!), by its Lehmer code.
fn permutation(n: usize, mut k: usize) -> Vec<usize> {
    let mut pool: Vec<usize> = (0..n).collect();
    let mut perm = Vec::with_capacity(n);
    for len in (1..=n).rev() {
        perm.push(pool.remove(k % len));
        k /= len;
    }
    perm
}

/// A generated graph; shows as its text form when a case fails.
#[derive(Clone)]
struct G(Graph);

impl std::fmt::Debug for G {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\n{}", print(&self.0))
    }
}

fn graphs() -> impl Strategy<Value = G> {
    (
        prop::collection::vec(step(), 1..30),
        prop::collection::vec(any::<usize>(), 1..5),
    )
        .prop_map(|(steps, outs)| G(build(&steps, &outs, false)))
}

/// Graphs without f32 values, for comparing runs: folding computes in f64,
/// the interpreter computes f32 in f32, and a one-ulp difference that a
/// later comparison turns into a different branch is not a bug.
fn f64_graphs() -> impl Strategy<Value = G> {
    (
        prop::collection::vec(step(), 1..30),
        prop::collection::vec(any::<usize>(), 1..5),
    )
        .prop_map(|(steps, outs)| G(build(&steps, &outs, true)))
}

fn output_types(g: &Graph) -> Vec<(String, TensorType)> {
    g.outputs
        .iter()
        .map(|o| (o.name.clone(), g.ty(o.value).clone()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_graphs_verify_and_round_trip(g in graphs()) {
        let g = g.0;
        prop_assert!(verify(&g).is_ok(), "{}", verify(&g).unwrap_err());
        let text = print(&g);
        let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert!(back == g, "parse(print(g)) != g:\n{}", text);
        prop_assert_eq!(print(&back), text);
    }

    #[test]
    fn every_pass_keeps_graphs_valid(g in graphs()) {
        let g = g.0;
        for (name, pass) in PASSES {
            let h = pass(&g);
            if let Err(e) = verify(&h) {
                return Err(TestCaseError::fail(format!("{name}: {e}\n{}", print(&h))));
            }
            prop_assert_eq!(output_types(&h), output_types(&g), "{} changed the outputs", name);
            let text = print(&h);
            let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
            prop_assert!(back == h, "{}: parse(print(h)) != h:\n{}", name, text);
        }
    }

    #[test]
    fn damaged_text_never_panics_the_parser(
        g in graphs(),
        cuts in prop::collection::vec((any::<usize>(), 0usize..4, "[ -~\n]{0,3}"), 1..4),
    ) {
        // Replace a few short character ranges by random printable text;
        // whatever comes out must be an error or a graph the verifier likes.
        let mut text: Vec<char> = print(&g.0).chars().collect();
        for (at, len, with) in cuts {
            let at = at % (text.len() + 1);
            let end = (at + len).min(text.len());
            text.splice(at..end, with.chars());
        }
        let text: String = text.into_iter().collect();
        if let Ok(h) = parse(&text) {
            prop_assert!(verify(&h).is_ok(), "parsed but does not verify:\n{}", text);
        }
    }

    #[test]
    fn simplify_is_a_fixed_point_and_never_grows(g in graphs()) {
        let g = g.0;
        let s = simplify(&g);
        prop_assert_eq!(print(&simplify(&s)), print(&s));
        prop_assert!(s.len() <= dce(&g).len(), "{} nodes from {}", s.len(), dce(&g).len());
    }
}

proptest! {
    // A fixed seed: the same cases on every run, so a rounding-level
    // coincidence can never make this test flaky.
    #![proptest_config(ProptestConfig {
        cases: 200,
        rng_seed: RngSeed::Fixed(0x5EED),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_pass_keeps_what_the_interpreter_computes(g in f64_graphs()) {
        let g = g.0;
        for (name, pass) in PASSES {
            let h = pass(&g);
            agree(&g, &h, &interp::eval).map_err(|e| {
                TestCaseError::fail(format!("{name}: {e}\nafter:\n{}", print(&h)))
            })?;
        }
    }
}

// ---------------------------------------------------------------------------
// Shape algebra against ndarray.

fn fixed(dims: &[usize]) -> TensorType {
    TensorType::new(DType::F32, Shape::fixed(dims))
}

fn dims_of(t: &TensorType) -> Vec<usize> {
    t.shape.dims().iter().map(|d| d.fixed().unwrap()).collect()
}

fn shape(max_rank: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..5, 0..=max_rank)
}

fn zeros(dims: &[usize]) -> ArrayD<f32> {
    ArrayD::zeros(IxDyn(dims))
}

proptest! {
    #[test]
    fn transpose_matches_ndarray(
        (dims, perm) in shape(5).prop_flat_map(|d| {
            let n = d.len();
            (Just(d), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
        })
    ) {
        let t = Op::Transpose { perm: perm.clone() }.result_type(&[&fixed(&dims)], None).unwrap();
        let a = zeros(&dims).permuted_axes(IxDyn(&perm));
        prop_assert_eq!(dims_of(&t), a.shape().to_vec());
    }

    #[test]
    fn transpose_rejects_non_permutations(dims in shape(4), perm in prop::collection::vec(0usize..5, 0..5)) {
        let mut sorted = perm.clone();
        sorted.sort_unstable();
        let is_perm = sorted == (0..dims.len()).collect::<Vec<_>>();
        let r = Op::Transpose { perm }.result_type(&[&fixed(&dims)], None);
        prop_assert_eq!(r.is_ok(), is_perm);
    }

    #[test]
    fn reduce_matches_ndarray(dims in shape(5), mask in any::<u8>(), sum in any::<bool>()) {
        let axes: Vec<usize> = (0..dims.len()).filter(|d| mask & (1 << d) != 0).collect();
        let op = if sum { ReduceOp::Sum } else { ReduceOp::Max };
        let t = Op::Reduce { op, axes: axes.clone() }.result_type(&[&fixed(&dims)], None).unwrap();
        let mut a = zeros(&dims);
        for &ax in axes.iter().rev() {
            a = a.sum_axis(Axis(ax));
        }
        prop_assert_eq!(dims_of(&t), a.shape().to_vec());
    }

    #[test]
    fn broadcast_matches_ndarray(
        operand in shape(4),
        extra in prop::collection::vec(1usize..4, 0..3),
        mask in any::<u8>(),
        sizes in prop::collection::vec(1usize..4, 4),
    ) {
        // Target: the operand's axes (each kept, or replaced by a random
        // size, which may be invalid) with `extra` new axes interleaved.
        let rank = operand.len() + extra.len();
        let mut target = Vec::new();
        let mut dims = Vec::new();
        let (mut oi, mut ei) = (0, 0);
        for pos in 0..rank {
            let take_operand = oi < operand.len() && (ei >= extra.len() || mask & (1 << (pos % 8)) != 0);
            if take_operand {
                let d = if mask & (1 << ((pos + 4) % 8)) != 0 { sizes[oi] } else { operand[oi] };
                target.push(d);
                dims.push(pos);
                oi += 1;
            } else {
                target.push(extra[ei]);
                ei += 1;
            }
        }
        let r = Op::Broadcast { dims: dims.clone() }.result_type(&[&fixed(&operand)], Some(&fixed(&target)));
        // ndarray: put size-1 axes where the new axes go, then broadcast.
        let mut a = zeros(&operand);
        for pos in 0..rank {
            if !dims.contains(&pos) {
                a.insert_axis_inplace(Axis(pos));
            }
        }
        let b = a.broadcast(IxDyn(&target));
        prop_assert_eq!(r.is_ok(), b.is_some(), "{:?} dims={:?} -> {:?}", operand, dims, target);
        if let (Ok(t), Some(b)) = (r, b) {
            prop_assert_eq!(dims_of(&t), b.shape().to_vec());
        }
    }

    #[test]
    fn reshape_matches_ndarray(from in shape(4), to in shape(4), regroup in any::<bool>()) {
        // Random targets are mostly invalid; a regrouping of the same dims
        // (reversed, last two merged) is always valid.
        let to = if regroup {
            let mut t = from.clone();
            t.reverse();
            if t.len() >= 2 {
                let last = t.pop().unwrap();
                *t.last_mut().unwrap() *= last;
            }
            t
        } else {
            to
        };
        let r = Op::Reshape.result_type(&[&fixed(&from)], Some(&fixed(&to)));
        let n = zeros(&from).into_shape_with_order(IxDyn(&to));
        prop_assert_eq!(r.is_ok(), n.is_ok(), "{:?} -> {:?}", from, to);
    }

    #[test]
    fn slice_matches_ndarray(
        dims in shape(4),
        bounds in prop::collection::vec((0usize..6, 0usize..6, 1usize..4), 4),
    ) {
        // Random bounds, often invalid: valid exactly when ndarray agrees
        // that start <= stop <= size.
        let r = dims.len();
        let start: Vec<usize> = bounds[..r].iter().map(|b| b.0).collect();
        let stop: Vec<usize> = bounds[..r].iter().map(|b| b.1).collect();
        let stride: Vec<usize> = bounds[..r].iter().map(|b| b.2).collect();
        let op = Op::Slice {
            start: start.clone(),
            stop: stop.iter().map(|&e| Dim::Fixed(e)).collect(),
            stride: stride.clone(),
        };
        let t = op.result_type(&[&fixed(&dims)], None);
        let valid = (0..r).all(|i| start[i] <= stop[i] && stop[i] <= dims[i]);
        prop_assert_eq!(t.is_ok(), valid);
        if let Ok(t) = t {
            let a = zeros(&dims);
            let v = a.slice_each_axis(|ax| {
                let i = ax.axis.index();
                ndarray::Slice::new(start[i] as isize, Some(stop[i] as isize), stride[i] as isize)
            });
            prop_assert_eq!(dims_of(&t), v.shape().to_vec());
        }
    }

    #[test]
    fn concat_matches_ndarray(
        dims in shape(3).prop_filter("rank >= 1", |d| !d.is_empty()),
        axis in 0usize..3,
        sizes in prop::collection::vec(0usize..4, 1..4),
        other in 1usize..5,
        mismatch in any::<bool>(),
    ) {
        let axis = axis % dims.len();
        let mut parts: Vec<Vec<usize>> = sizes
            .iter()
            .map(|&n| {
                let mut d = dims.clone();
                d[axis] = n;
                d
            })
            .collect();
        // Perhaps make one part differ on another axis.
        if mismatch && dims.len() > 1 {
            let i = (axis + 1) % dims.len();
            parts[0][i] = other;
        }
        let tys: Vec<TensorType> = parts.iter().map(|d| fixed(d)).collect();
        let refs: Vec<&TensorType> = tys.iter().collect();
        let t = Op::Concat { axis }.result_type(&refs, None);
        let arrays: Vec<ArrayD<f32>> = parts.iter().map(|d| zeros(d)).collect();
        let views: Vec<_> = arrays.iter().map(|a| a.view()).collect();
        let n = ndarray::concatenate(Axis(axis), &views);
        prop_assert_eq!(t.is_ok(), n.is_ok(), "{:?} along {}", parts, axis);
        if let (Ok(t), Ok(n)) = (t, n) {
            prop_assert_eq!(dims_of(&t), n.shape().to_vec());
        }
    }

    #[test]
    fn matmul_matches_ndarray(
        batch in shape(2),
        other_batch in shape(2),
        same_batch in any::<bool>(),
        (m, k1, k2, n) in (1usize..5, 1usize..5, 1usize..5, 1usize..5),
        same_k in any::<bool>(),
    ) {
        let k2 = if same_k { k1 } else { k2 };
        let b_batch = if same_batch { batch.clone() } else { other_batch };
        let mut a_dims = batch.clone();
        a_dims.extend([m, k1]);
        let mut b_dims = b_batch.clone();
        b_dims.extend([k2, n]);
        let r = Op::MatMul.result_type(&[&fixed(&a_dims), &fixed(&b_dims)], None);
        let valid = batch == b_batch && k1 == k2;
        prop_assert_eq!(r.is_ok(), valid);
        if let Ok(t) = r {
            // ndarray multiplies one batch entry; the batch dims come first.
            let a2 = zeros(&[m, k1]).into_dimensionality::<Ix2>().unwrap();
            let b2 = zeros(&[k2, n]).into_dimensionality::<Ix2>().unwrap();
            let mut want = batch.clone();
            want.extend(a2.dot(&b2).shape());
            prop_assert_eq!(dims_of(&t), want);
        }
    }
}
