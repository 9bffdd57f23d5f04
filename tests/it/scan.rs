//! The `scan` op outside its gradients (those are in `gradcheck/scan.rs`):
//! hand-computed interpreter results (forward and reverse, empty and
//! symbolic lengths, integer sequences, nested scans), the text form
//! (round trip, snapshot, parse errors), the verifier's scan and `get`
//! checks, the simplification passes inside bodies, the shape of the
//! differentiated graph, whose size does not grow with the sequence length,
//! and second-order gradients (a gradient through a scan, differentiated).
//! The body builders here are shared with the gradient checks.

use dlc::backend::interp::{eval, Interpreter};
use dlc::backend::Backend;
use dlc::ir::parse::parse;
use dlc::ir::print::print;
use dlc::ir::verify::verify;
use dlc::ir::{DType, Dim, Graph, Op, Role, Scan, Shape, TensorType, UnaryOp, Value};
use dlc::passes::autodiff::grad;
use dlc::passes::simplify::{cse, dce, simplify, PASSES};
use dlc::tensor::Tensor;

/// An f64 type; a dimension that is not a number is a symbol.
pub fn f64t(dims: &[&str]) -> TensorType {
    let dims = dims
        .iter()
        .map(|d| match d.parse::<usize>() {
            Ok(n) => Dim::Fixed(n),
            Err(_) => Dim::Sym(d.to_string()),
        })
        .collect();
    TensorType::new(DType::F64, Shape(dims))
}

/// A body graph named `name` with these inputs (all `data`) and the
/// outputs `f` builds from them.
pub fn body(
    name: &str,
    inputs: &[(&str, TensorType)],
    f: impl FnOnce(&mut Graph, &[Value]) -> Vec<(&'static str, Value)>,
) -> Graph {
    let mut g = Graph::new(name);
    let args: Vec<Value> = inputs
        .iter()
        .map(|(n, t)| g.input(*n, Role::Data, t.clone()))
        .collect();
    for (n, v) in f(&mut g, &args) {
        g.output(n, v);
    }
    g
}

/// A batch-major scan (`axis=1`) with `carries` carries and one sequence.
pub fn scan1(body: Graph, carries: usize) -> Scan {
    Scan {
        body,
        carries,
        sequences: 1,
        axis: 1,
        reverse: false,
    }
}

/// `h' = h * a + x`, `y = h'`: carry `h: [n, f]`, sequence slice
/// `x: [n, f]`, invariant `a: [f]`.
pub fn linear_body(n: &str, f: usize) -> Graph {
    let fs = f.to_string();
    body(
        "linear",
        &[
            ("h", f64t(&[n, &fs])),
            ("x", f64t(&[n, &fs])),
            ("a", f64t(&[&fs])),
        ],
        |g, a| {
            let shape = g.ty(a[0]).shape.clone();
            let ab = g.broadcast_trailing(a[2], shape);
            let ha = g.mul(a[0], ab);
            let h = g.add(ha, a[1]);
            vec![("h", h), ("y", h)]
        },
    )
}

/// The tanh RNN cell `h' = tanh(x W + h U + b)`, `y = h'`: inputs `h: [n,
/// hid]`, `x: [n, feat]`, `w: [feat, hid]`, `u: [hid, hid]`, `b: [hid]`.
pub fn rnn_body(n: &str, feat: usize, hid: usize) -> Graph {
    let (fs, hs) = (feat.to_string(), hid.to_string());
    body(
        "cell",
        &[
            ("h", f64t(&[n, &hs])),
            ("x", f64t(&[n, &fs])),
            ("w", f64t(&[&fs, &hs])),
            ("u", f64t(&[&hs, &hs])),
            ("b", f64t(&[&hs])),
        ],
        |g, a| {
            let xw = g.matmul(a[1], a[2]);
            let hu = g.matmul(a[0], a[3]);
            let s = g.add(xw, hu);
            let bb = g.broadcast_trailing(a[4], g.ty(s).shape.clone());
            let s = g.add(s, bb);
            let h = g.unary(UnaryOp::Tanh, s);
            vec![("h", h), ("y", h)]
        },
    )
}

/// `1 / (1 + exp(-x))`
pub fn sigmoid(g: &mut Graph, x: Value) -> Value {
    let n = g.neg(x);
    let e = g.unary(UnaryOp::Exp, n);
    let one = g.constant_like(1.0, x);
    let d = g.add(one, e);
    g.unary(UnaryOp::Recip, d)
}

/// An LSTM-like cell with two carries: `c' = σ(f) c + σ(i) tanh(g)`,
/// `h' = σ(o) tanh(c')`, each gate `x W_k + h U_k`; outputs `c', h', y=h'`.
/// Inputs `c, h: [n, hid]`, `x: [n, feat]`, `w: [4, feat, hid]` sliced by a
/// matmul with a one-hot, `u: [hid, hid]` shared by the gates (enough to
/// exercise two carries that feed each other).
pub fn two_carry_body(n: &str, feat: usize, hid: usize) -> Graph {
    let (fs, hs) = (feat.to_string(), hid.to_string());
    body(
        "lstmish",
        &[
            ("c", f64t(&[n, &hs])),
            ("h", f64t(&[n, &hs])),
            ("x", f64t(&[n, &fs])),
            ("wi", f64t(&[&fs, &hs])),
            ("wf", f64t(&[&fs, &hs])),
            ("wg", f64t(&[&fs, &hs])),
            ("wo", f64t(&[&fs, &hs])),
            ("u", f64t(&[&hs, &hs])),
        ],
        |g, a| {
            let (c, h, x) = (a[0], a[1], a[2]);
            let hu = g.matmul(h, a[7]);
            let gate = |g: &mut Graph, w: Value| {
                let xw = g.matmul(x, w);
                g.add(xw, hu)
            };
            let i = gate(g, a[3]);
            let f = gate(g, a[4]);
            let gg = gate(g, a[5]);
            let o = gate(g, a[6]);
            let (i, f, o) = (sigmoid(g, i), sigmoid(g, f), sigmoid(g, o));
            let gg = g.unary(UnaryOp::Tanh, gg);
            let fc = g.mul(f, c);
            let ig = g.mul(i, gg);
            let c2 = g.add(fc, ig);
            let tc = g.unary(UnaryOp::Tanh, c2);
            let h2 = g.mul(o, tc);
            vec![("c", c2), ("h", h2), ("y", h2)]
        },
    )
}

/// A graph running `scan` over inputs of the body's operand types (the
/// sequences with `t` inserted at the scan axis), with every result as an
/// output `r0`, `r1`, ...
pub fn scan_graph(scan: Scan, t: &str) -> Graph {
    let mut g = Graph::new("s");
    let b = &scan.body;
    let args: Vec<Value> = b
        .inputs
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let (name, _) = b.input_info(v);
            let mut ty = b.ty(v).clone();
            if (scan.carries..scan.carries + scan.sequences).contains(&i) {
                ty.shape.0.insert(
                    scan.axis,
                    t.parse().map_or_else(|_| Dim::Sym(t.into()), Dim::Fixed),
                );
            }
            g.input(name, Role::Data, ty)
        })
        .collect();
    for (k, r) in g.scan(scan, &args).into_iter().enumerate() {
        g.output(format!("r{k}"), r);
    }
    g
}

fn tensor(shape: &[usize], values: &[f64]) -> Tensor {
    Tensor::from_f64(DType::F64, shape, values.to_vec())
}

#[test]
fn a_linear_recurrence_runs_step_by_step() {
    // h' = h * a + x over T = 3 steps, batch 2, one feature.
    for reverse in [false, true] {
        let mut s = scan1(linear_body("N", 1), 1);
        s.reverse = reverse;
        let g = scan_graph(s, "T");
        verify(&g).unwrap();
        let h0 = tensor(&[2, 1], &[1.0, 10.0]);
        let x = tensor(&[2, 3, 1], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let a = tensor(&[1], &[2.0]);
        let out = eval(&g, &[&h0, &x, &a]).unwrap();
        let (last, ys) = if reverse {
            // t = 2, 1, 0: 1*2+3 = 5, 5*2+2 = 12, 12*2+1 = 25 (and 26, 57, 118)
            (vec![25.0, 118.0], vec![25.0, 12.0, 5.0, 118.0, 57.0, 26.0])
        } else {
            // t = 0, 1, 2: 1*2+1 = 3, 3*2+2 = 8, 8*2+3 = 19 (and 24, 53, 112)
            (vec![19.0, 112.0], vec![3.0, 8.0, 19.0, 24.0, 53.0, 112.0])
        };
        assert_eq!(out[0].shape(), &[2, 1]);
        assert_eq!(out[0].to_f64_vec(), last, "reverse={reverse}");
        assert_eq!(out[1].shape(), &[2, 3, 1]);
        assert_eq!(out[1].to_f64_vec(), ys, "reverse={reverse}");
    }
}

#[test]
fn an_empty_sequence_returns_the_initial_carries() {
    let g = scan_graph(scan1(linear_body("N", 2), 1), "T");
    let h0 = tensor(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let x = tensor(&[3, 0, 2], &[]);
    let a = tensor(&[2], &[7.0, 7.0]);
    let out = eval(&g, &[&h0, &x, &a]).unwrap();
    assert_eq!(out[0], h0);
    assert_eq!(out[1].shape(), &[3, 0, 2]);
}

#[test]
fn one_compiled_scan_runs_every_length_and_batch() {
    let g = scan_graph(scan1(linear_body("N", 1), 1), "T");
    let mut exe = Interpreter.compile_graph(&g).unwrap();
    for (n, t) in [(1, 1), (2, 5), (3, 2)] {
        let h0 = Tensor::full(DType::F64, &[n, 1], 0.0);
        let x = Tensor::full(DType::F64, &[n, t, 1], 1.0);
        let a = tensor(&[1], &[1.0]);
        let out = exe.run(&[&h0, &x, &a]).unwrap();
        // A running count: y_t = t + 1, the last carry is T.
        assert_eq!(out[0].to_f64_vec(), vec![t as f64; n]);
        let ys: Vec<f64> = (0..n).flat_map(|_| (1..=t).map(|k| k as f64)).collect();
        assert_eq!(out[1].to_f64_vec(), ys);
    }
}

#[test]
fn time_major_integer_sequences_and_several_outputs() {
    // axis 0: x: i32[T, 2]; carry s: f64[2] sums cast(x); outputs s and x > 1.
    let b = body(
        "count",
        &[
            ("s", f64t(&["2"])),
            ("x", TensorType::new(DType::I32, Shape::fixed(&[2]))),
        ],
        |g, a| {
            let xf = g.cast(a[1], DType::F64);
            let s = g.add(a[0], xf);
            let one = g.constant_like(1.0, a[1]);
            let big = g.compare(dlc::ir::CmpOp::Gt, a[1], one);
            vec![("s", s), ("x2", a[1]), ("big", big)]
        },
    );
    let s = Scan {
        body: b,
        carries: 1,
        sequences: 1,
        axis: 0,
        reverse: false,
    };
    let g = scan_graph(s, "3");
    verify(&g).unwrap();
    let types: Vec<String> = g
        .outputs
        .iter()
        .map(|o| g.ty(o.value).to_string())
        .collect();
    assert_eq!(types, ["f64[2]", "i32[3,2]", "bool[3,2]"]);
    let s0 = tensor(&[2], &[0.5, 0.0]);
    let x = Tensor::from_f64(DType::I32, &[3, 2], vec![1.0, 2.0, 3.0, 0.0, -1.0, 5.0]);
    let out = eval(&g, &[&s0, &x]).unwrap();
    assert_eq!(out[0].to_f64_vec(), vec![3.5, 7.0]);
    assert_eq!(out[1], x);
    assert_eq!(out[2].to_f64_vec(), vec![0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
}

/// An outer scan over `x: [N, T, K]` whose body runs an inner scan of the
/// linear recurrence (with `a = 1`, a running sum) over the `K` axis of its
/// slice `[N, K]`, seeded with the outer carry; the inner final carry is
/// the outer new carry.
pub fn nested_body() -> Graph {
    body(
        "outer",
        &[("h", f64t(&["N", "1"])), ("x", f64t(&["N", "3"]))],
        |g, a| {
            let x3 = g.reshape(a[1], Shape(vec![Dim::Sym("N".into()), 3.into(), 1.into()]));
            let one = g.constant(1.0, f64t(&["1"]));
            let r = g.scan(scan1(linear_body("N", 1), 1), &[a[0], x3, one]);
            let tanh = g.unary(UnaryOp::Tanh, r[0]);
            vec![("h", tanh), ("y", r[0])]
        },
    )
}

#[test]
fn a_scan_inside_a_scan_body() {
    let g = scan_graph(scan1(nested_body(), 1), "T");
    verify(&g).unwrap();
    let h0 = tensor(&[1, 1], &[0.0]);
    let x = tensor(&[1, 2, 3], &[1.0, 2.0, 3.0, 0.5, 0.5, 0.5]);
    let out = eval(&g, &[&h0, &x]).unwrap();
    let y0: f64 = 6.0;
    let y1 = y0.tanh() + 1.5;
    assert_eq!(out[1].to_f64_vec(), vec![y0, y1]);
    assert_eq!(out[0].to_f64_vec(), vec![y1.tanh()]);
}

fn rnn_graph() -> Graph {
    scan_graph(scan1(rnn_body("N", 2, 3), 1), "T")
}

#[test]
fn text_form_round_trips_and_nests_the_body() {
    for g in [
        rnn_graph(),
        scan_graph(scan1(nested_body(), 1), "T"),
        scan_graph(scan1(two_carry_body("N", 2, 2), 2), "4"),
    ] {
        let text = print(&g);
        let back = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        verify(&back).unwrap();
        assert!(back == g, "parse(print(g)) != g:\n{text}");
        assert_eq!(print(&back), text);
    }
    insta::assert_snapshot!("scan_text_rnn", print(&rnn_graph()));
    insta::assert_snapshot!(
        "scan_text_nested",
        print(&scan_graph(scan1(nested_body(), 1), "T"))
    );
}

#[test]
fn graphs_with_different_bodies_or_directions_differ() {
    let a = rnn_graph();
    let mut b = rnn_graph();
    assert!(a == b);
    let s = g_scan(&mut b);
    let t = s.body.nodes().last().unwrap();
    s.body.dag[t].op = Op::Unary(UnaryOp::Sin);
    assert!(a != b);
    let mut c = rnn_graph();
    g_scan(&mut c).reverse = true;
    assert!(a != c);
}

#[test]
fn docs_scan_example_is_printer_output_and_runs() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ir.md")).unwrap();
    let start = doc
        .find("```\ngraph @rnn")
        .expect("docs/ir.md has a scan example")
        + 4;
    let end = start + doc[start..].find("```").unwrap();
    let text = &doc[start..end];
    let g = parse(text).unwrap_or_else(|e| panic!("docs/ir.md scan example: {e}"));
    verify(&g).unwrap();
    assert_eq!(
        print(&g),
        text,
        "the example is not what the printer writes"
    );
    let h0 = Tensor::full(DType::F32, &[2, 4], 0.0);
    let x = Tensor::full(DType::F32, &[2, 5, 3], 0.0);
    let w = Tensor::full(DType::F32, &[3, 4], 1.0);
    let out = eval(&g, &[&h0, &x, &w]).unwrap();
    assert_eq!(out[1].shape(), &[2, 5, 4]);
}

fn g_scan(g: &mut Graph) -> &mut Scan {
    let v = g
        .nodes()
        .find(|&v| matches!(g.op(v), Op::Scan(_)))
        .expect("a scan");
    match &mut g.dag[v].op {
        Op::Scan(s) => s,
        _ => unreachable!(),
    }
}

/// Hand-written scans with the line and column of their error.
const BAD: &[(&str, &str, usize, usize)] = &[
    (
        "missing attribute",
        "graph @g(%h: f64[2] data, %x: f64[3,2] data) -> () {\n  %0 = scan %h, %x carries=1 sequences=1 axis=0 : (f64[2])\n    graph @b(%h: f64[2] data, %x: f64[2] data) -> (%h: f64[2]) {\n      return %h = %x\n    }\n  return\n}",
        2,
        8,
    ),
    (
        "unknown attribute",
        "graph @g(%h: f64[2] data, %x: f64[3,2] data) -> () {\n  %0 = scan %h, %x carries=1 sequences=1 axis=0 reverse=0 steps=3 : (f64[2])\n    graph @b(%h: f64[2] data, %x: f64[2] data) -> (%h: f64[2]) {\n      return %h = %x\n    }\n  return\n}",
        2,
        59,
    ),
    (
        "reverse is not a flag",
        "graph @g(%h: f64[2] data, %x: f64[3,2] data) -> () {\n  %0 = scan %h, %x carries=1 sequences=1 axis=0 reverse=2 : (f64[2])\n    graph @b(%h: f64[2] data, %x: f64[2] data) -> (%h: f64[2]) {\n      return %h = %x\n    }\n  return\n}",
        2,
        8,
    ),
    (
        "wrong result types written",
        "graph @g(%h: f64[2] data, %x: f64[3,2] data) -> () {\n  %0 = scan %h, %x carries=1 sequences=1 axis=0 reverse=0 : (f64[3])\n    graph @b(%h: f64[2] data, %x: f64[2] data) -> (%h: f64[2]) {\n      return %h = %x\n    }\n  return\n}",
        2,
        61,
    ),
    (
        "slice type differs from the body input",
        "graph @g(%h: f64[2] data, %x: f64[3,2] data) -> () {\n  %0 = scan %h, %x carries=1 sequences=1 axis=1 reverse=0 : (f64[2])\n    graph @b(%h: f64[2] data, %x: f64[2] data) -> (%h: f64[2]) {\n      return %h = %x\n    }\n  return\n}",
        2,
        8,
    ),
    (
        "carry type changes",
        "graph @g(%h: f64[2] data, %x: f64[3,2] data) -> () {\n  %0 = scan %h, %x carries=1 sequences=1 axis=0 reverse=0 : (f64[2])\n    graph @b(%h: f64[2] data, %x: f64[2] data) -> (%h: f32[2]) {\n      %0 = cast %x : f32[2]\n      return %h = %0\n    }\n  return\n}",
        2,
        8,
    ),
    (
        "no sequence",
        "graph @g(%h: f64[2] data) -> () {\n  %0 = scan %h carries=1 sequences=0 axis=0 reverse=0 : (f64[2])\n    graph @b(%h: f64[2] data) -> (%h: f64[2]) {\n      return %h = %h\n    }\n  return\n}",
        2,
        8,
    ),
    (
        "error inside the body",
        "graph @g(%h: f64[2] data, %x: f64[3,2] data) -> () {\n  %0 = scan %h, %x carries=1 sequences=1 axis=0 reverse=0 : (f64[2])\n    graph @b(%h: f64[2] data, %x: f64[2] data) -> (%h: f64[2]) {\n      %0 = exq %x : f64[2]\n      return %h = %0\n    }\n  return\n}",
        4,
        12,
    ),
    (
        "get out of range",
        "graph @g(%h: f64[2] data, %x: f64[3,2] data) -> () {\n  %0 = scan %h, %x carries=1 sequences=1 axis=0 reverse=0 : (f64[2])\n    graph @b(%h: f64[2] data, %x: f64[2] data) -> (%h: f64[2]) {\n      return %h = %x\n    }\n  %1 = get %0 index=1 : f64[2]\n  return\n}",
        6,
        8,
    ),
    (
        "get of a plain value",
        "graph @g(%h: f64[2] data) -> () {\n  %1 = get %h index=0 : f64[2]\n  return\n}",
        2,
        8,
    ),
    (
        "get with the wrong type",
        "graph @g(%h: f64[2] data, %x: f64[3,2] data) -> () {\n  %0 = scan %h, %x carries=1 sequences=1 axis=0 reverse=0 : (f64[2])\n    graph @b(%h: f64[2] data, %x: f64[2] data) -> (%h: f64[2]) {\n      return %h = %x\n    }\n  %1 = get %0 index=0 : f64[3]\n  return\n}",
        6,
        8,
    ),
];

#[test]
fn scan_parse_errors_have_positions() {
    let mut report = String::new();
    for &(what, text, line, col) in BAD {
        let e = match parse(text) {
            Ok(g) => panic!("{what}: parsed as\n{}", print(&g)),
            Err(e) => e,
        };
        assert_eq!(
            (e.line, e.col),
            (line, col),
            "{what}: wrong position for `{e}`"
        );
        report.push_str(&format!("{what}: {e}\n"));
    }
    insta::assert_snapshot!("scan_parse_errors", report);
}

#[test]
fn the_verifier_checks_bodies_and_gets() {
    // A body whose node has the wrong type.
    let mut g = rnn_graph();
    let s = g_scan(&mut g);
    let t = s.body.nodes().last().unwrap();
    s.body.dag[t].ty = f64t(&["N", "4"]);
    let e = verify(&g).unwrap_err().to_string();
    assert!(e.contains("body @cell") && e.contains("tanh"), "{e}");
    // A get with the wrong type.
    let mut g = rnn_graph();
    let get = g.outputs[1].value;
    g.dag[get].ty = f64t(&["N", "3"]);
    let e = verify(&g).unwrap_err().to_string();
    assert!(
        e.contains("get produces f64[N,T,3], but f64[N,3] is written"),
        "{e}"
    );
    // The interpreter refuses both as well.
    assert!(Interpreter.compile_graph(&g).is_err());
}

#[test]
fn passes_run_inside_bodies_and_keep_scans_apart() {
    // A body with foldable and dead code; two scans with different bodies
    // over the same operands must not merge.
    let b = body(
        "b",
        &[("h", f64t(&["N", "2"])), ("x", f64t(&["N", "2"]))],
        |g, a| {
            let one = g.constant_like(1.0, a[1]);
            let two = g.add(one, one);
            let x2 = g.mul(a[1], two);
            let _dead = g.unary(UnaryOp::Exp, x2);
            let h = g.add(a[0], x2);
            vec![("h", h)]
        },
    );
    let mut other = b.clone();
    other.outputs[0].value = other.inputs[1];
    let mut g = Graph::new("two");
    let h0 = g.input("h0", Role::Data, f64t(&["N", "2"]));
    let x = g.input("x", Role::Data, f64t(&["N", "T", "2"]));
    let r1 = g.scan(scan1(b.clone(), 1), &[h0, x]);
    let r2 = g.scan(scan1(other, 1), &[h0, x]);
    let r3 = g.scan(scan1(b, 1), &[h0, x]);
    let s = g.add(r1[0], r2[0]);
    let s = g.add(s, r3[0]);
    g.output("s", s);
    for (name, pass) in PASSES {
        let h = pass(&g);
        verify(&h).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let merged = cse(&g);
    let scans = |g: &Graph| {
        g.nodes()
            .filter(|&v| matches!(g.op(v), Op::Scan(_)))
            .count()
    };
    assert_eq!(scans(&dce(&merged)), 2, "{}", print(&merged));
    let s = simplify(&g);
    insta::assert_snapshot!("scan_simplified", print(&s));
    let h0v = tensor(&[1, 2], &[1.0, 2.0]);
    let xv = tensor(&[1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(
        eval(&g, &[&h0v, &xv]).unwrap(),
        eval(&s, &[&h0v, &xv]).unwrap()
    );
}

/// The loss `sum(final h) + sum(stacked y)` of the tanh RNN, with its
/// gradient with respect to every input.
fn rnn_grad(t: &str) -> Graph {
    let mut g = scan_graph(scan1(rnn_body("N", 2, 3), 1), t);
    let (h, y) = (g.outputs[0].value, g.outputs[1].value);
    let sh = g.sum(h, vec![0, 1]);
    let sy = g.sum(y, vec![0, 1, 2]);
    let loss = g.add(sh, sy);
    g.outputs.clear();
    g.output("loss", loss);
    let wrt = g.inputs.clone();
    grad(&g, "loss", &wrt)
}

#[test]
fn the_gradient_is_a_reverse_scan_whose_size_does_not_grow_with_t() {
    let (short, long) = (rnn_grad("2"), rnn_grad("50"));
    verify(&short).unwrap();
    assert_eq!(short.len(), long.len());
    let s = simplify(&rnn_grad("T"));
    verify(&s).unwrap();
    let text = print(&s);
    let back = parse(&text).unwrap();
    assert!(back == s);
    insta::assert_snapshot!("scan_rnn_grad", text);
    let reverse: Vec<bool> = s
        .nodes()
        .filter_map(|v| match s.op(v) {
            Op::Scan(sc) => Some(sc.reverse),
            _ => None,
        })
        .collect();
    assert_eq!(reverse, vec![false, true]);
}

#[test]
fn the_cpu_backend_runs_scans_and_refuses_nothing_in_their_bodies() {
    // A scan (nested too) is a kernel of its own now: nothing is refused,
    // and the compiled loop agrees with the interpreter (more in
    // `cpu_scan.rs`).
    for g in [rnn_graph(), scan_graph(scan1(nested_body(), 1), "T")] {
        assert_eq!(dlc::passes::fuse::unsupported_op(&g), None);
        let mut exe = dlc::backend::cpu::CpuBackend
            .compile_graph(&g)
            .expect("compiles");
        let inputs = crate::filetests::agreement::seeded_inputs(&g, 0);
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let want = eval(&g, &refs).unwrap();
        let got = exe.run(&refs).unwrap();
        for (w, x) in want.iter().zip(&got) {
            crate::cpu_oracle::close_within(w, x, 1e-5).unwrap();
        }
    }
}

#[test]
fn second_order_gradients_through_a_scan_match_finite_differences() {
    // The gradient of the tanh RNN's loss with respect to its weights,
    // itself differentiated: the VJP of the backward scan (whose body holds
    // the forward step and its reverse sweep) and of the forward scan that
    // saves its carries.
    use crate::gradcheck::fd::{self, sample, Domain, Rng};
    let mut g = scan_graph(scan1(rnn_body("2", 2, 2), 1), "3");
    let y = g.outputs[1].value;
    let sq = g.mul(y, y);
    let loss = g.sum(sq, vec![0, 1, 2]);
    g.outputs.clear();
    g.output("loss", loss);
    let wrt = g.inputs.clone();
    let gg = grad(&g, "loss", &wrt);
    verify(&gg).unwrap();
    let mut rng = Rng(42);
    let inputs: Vec<Tensor> = g
        .inputs
        .iter()
        .map(|&v| {
            let shape: Vec<usize> = g
                .ty(v)
                .shape
                .dims()
                .iter()
                .map(|d| d.fixed().unwrap())
                .collect();
            let n = shape.iter().product();
            Tensor::from_f64(
                DType::F64,
                &shape,
                sample(&mut rng, Domain::Uniform(-0.9, 0.9), n),
            )
        })
        .collect();
    for output in ["grad.w", "grad.h"] {
        fd::check(
            &fd::Check {
                name: output,
                graph: &gg,
                output,
                inputs: &inputs,
                wrt: &[0, 1, 2, 3, 4],
                h: fd::H,
                full_jacobian: true,
            },
            &mut rng,
        );
    }
}
