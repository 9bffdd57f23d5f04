//! The IR text form and Graphviz output: round trips on hand-built graphs
//! that together use every op, snapshots of what they print, and the
//! parser's error messages (with line numbers) on malformed text.

use dlc::ir::dot::to_dot;
use dlc::ir::parse::{op_names, parse};
use dlc::ir::print::print;
use dlc::ir::verify::verify;
use dlc::ir::{
    BinaryOp, CmpOp, ConvAttrs, DType, Dim, Dist, Graph, Hyper, Op, ReduceOp, Role, Scan, Shape,
    TensorType, UnaryOp, Window,
};

fn ty(dtype: DType, dims: &[&str]) -> TensorType {
    let dims = dims
        .iter()
        .map(|d| match d.parse::<usize>() {
            Ok(n) => Dim::Fixed(n),
            Err(_) => Dim::Sym(d.to_string()),
        })
        .collect();
    TensorType::new(dtype, Shape(dims))
}

/// A graph that uses every op at least once (checked by `covers_every_op`).
fn every_op() -> Graph {
    let f32_ = DType::F32;
    let mut g = Graph::new("every_op");
    let x = g.input("x", Role::Data, ty(f32_, &["N", "3"]));
    let w = g.input("mlp.h.weight", Role::Param, ty(f32_, &["3", "4"]));
    let b = g.input("mlp.h.bias", Role::Param, ty(f32_, &["4"]));
    let m = g.input("mlp.h.weight/m", Role::State, ty(f32_, &["3", "4"]));
    let lr = g.input("lr", Role::Hyper(Hyper::Lr(0)), ty(f32_, &[]));
    let label = g.input("label", Role::Data, ty(DType::I32, &["N"]));

    let h = g.matmul(x, w);
    let hty = g.ty(h).shape.clone();
    let bb = g.broadcast_trailing(b, hty.clone());
    let mut h = g.add(h, bb);
    for u in UnaryOp::ALL {
        h = g.unary(u, h);
    }
    for op in BinaryOp::ALL {
        h = g.binary(op, h, bb);
    }
    let zero = g.constant(0.0, g.ty(h).clone());
    let mut cond = g.compare(CmpOp::Lt, h, zero);
    for c in CmpOp::ALL {
        let k = g.compare(c, h, zero);
        cond = g.select(cond, k, cond);
    }
    let relu = g.select(cond, zero, h);
    let sum = g.reduce(ReduceOp::Sum, relu, vec![1]);
    let max = g.reduce(ReduceOp::Max, relu, vec![0, 1]);
    let n = g.push(
        Op::DimSize { axis: 0 },
        &[x],
        Some(TensorType::scalar(DType::F32)),
    );
    let mean = g.div(max, n);
    let classes = g.push(Op::Iota { axis: 1 }, &[], Some(ty(DType::I32, &["N", "4"])));
    let lb = g.broadcast_to(label, g.ty(classes).shape.clone(), vec![0]);
    let onehot = g.compare(CmpOp::Eq, classes, lb);
    let onehot = g.cast(onehot, DType::F32);
    let t = g.transpose(onehot, vec![1, 0]);
    let flat = g.reshape(m, Shape::fixed(&[12]));
    let step = g.mul(w, m);
    let step = g.scale(step, 0.5);
    let lrb = g.broadcast_to(lr, Shape::fixed(&[3, 4]), vec![]);
    let step = g.mul(step, lrb);
    let new_w = g.sub(w, step);
    let _dead = g.neg(new_w);
    let n_dim = Dim::Sym("N".into());
    let s = g.slice(
        relu,
        vec![0, 1],
        vec![n_dim.clone(), Dim::Fixed(4)],
        vec![1, 2],
    );
    let padded = g.pad(s, vec![0, 1], vec![0, 0], vec![0, 1], f64::NEG_INFINITY);
    let joined = g.concat(&[padded, relu, padded], 1);
    let flipped = g.reverse(joined, vec![1]);
    let moved = g.slice(flipped, vec![0, 2], vec![n_dim, Dim::Fixed(12)], vec![1, 1]);
    // A running sum over the 3 columns of x, seeded with `sum`.
    let mut body = Graph::new("running");
    let acc = body.input("acc", Role::Data, ty(f32_, &["N"]));
    let col = body.input("col", Role::Data, ty(f32_, &["N"]));
    let next = body.add(acc, col);
    body.output("acc", next);
    body.output("col", col);
    let scan = Scan {
        body,
        carries: 1,
        sequences: 1,
        axis: 1,
        reverse: true,
    };
    let running = g.scan(scan, &[sum, x]);
    let sum = g.add(running[0], sum);
    g.output("sum", sum);
    g.output("mean", mean);
    g.output("onehot_t", t);
    g.output("m.flat", flat);
    g.output("mlp.h.weight", new_w);
    g.output("moved", moved);
    let rows = g.gather(w, label);
    let scattered = g.scatter_add(w, label, rows);
    g.output("scattered", scattered);
    let xm = g.reshape(m, Shape::fixed(&[1, 3, 4]));
    let k = g.reshape(w, Shape::fixed(&[2, 3, 2]));
    let mut a = ConvAttrs::new(1);
    a.stride = vec![2];
    a.pad_low = vec![1];
    a.pad_high = vec![2];
    a.dilation = vec![2];
    a.lhs_dilation = vec![2];
    let conv = g.conv(xm, k, a);
    let k2 = g.slice(
        w,
        vec![0, 0],
        vec![Dim::Fixed(3), Dim::Fixed(2)],
        vec![1, 1],
    );
    let k2 = g.reshape(k2, Shape::fixed(&[3, 1, 2]));
    let mut a = ConvAttrs::new(1);
    a.groups = 3;
    let depthwise = g.conv(xm, k2, a);
    g.output("conv", conv);
    g.output("depthwise", depthwise);
    let mut w4 = Window::new(vec![1, 2, 2]);
    w4.stride = vec![1, 1, 2];
    w4.pad_low = vec![0, 1, 0];
    w4.pad_high = vec![0, 0, 1];
    let pooled = g.reduce_window(ReduceOp::Max, depthwise, w4);
    let summed = g.reduce_window(ReduceOp::Sum, pooled, Window::new(vec![1, 2, 1]));
    g.output("pooled", summed);
    let key = g.cast(lr, DType::I32);
    let noise = g.random(Dist::Normal, key, u64::MAX, ty(f32_, &["N", "3"]));
    let coin = g.random(Dist::Uniform, key, 0, ty(DType::F64, &["2"]));
    g.output("noise", noise);
    g.output("coin", coin);
    g
}

/// A small graph: its header fits on one line.
fn small() -> Graph {
    let mut g = Graph::new("mlp");
    let x = g.input("x", Role::Data, ty(DType::F32, &["N", "64"]));
    let w = g.input("mlp.h.weight", Role::Param, ty(DType::F32, &["64", "10"]));
    let h = g.matmul(x, w);
    let r = g.constant_like(0.0, h);
    let logits = g.binary(BinaryOp::Max, h, r);
    let s = g.sum(logits, vec![0, 1]);
    g.output("logits", logits);
    g.output("loss", s);
    g
}

/// Checks both directions of the round trip and returns the text.
fn round_trip(g: &Graph) -> String {
    verify(g).unwrap_or_else(|e| panic!("{e}"));
    let text = print(g);
    let back = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    verify(&back).unwrap_or_else(|e| panic!("{e}"));
    assert!(back == *g, "parse(print(g)) != g for\n{text}");
    assert_eq!(print(&back), text);
    text
}

#[test]
fn covers_every_op() {
    let g = every_op();
    let mut missing: Vec<&str> = op_names()
        .into_iter()
        .filter(|name| g.nodes().all(|v| g.op(v).name() != *name))
        .collect();
    missing.sort_unstable();
    assert!(missing.is_empty(), "every_op() does not use {missing:?}");
    // And the parser knows every op the graph can hold.
    for v in g.nodes() {
        let name = g.op(v).name();
        assert!(name == "input" || op_names().contains(&name), "{name}");
    }
}

#[test]
fn every_op_round_trips() {
    let text = round_trip(&every_op());
    insta::assert_snapshot!("ir_text_every_op", text);
}

#[test]
fn small_header_is_one_line() {
    let text = round_trip(&small());
    assert!(text.starts_with("graph @mlp(%x: f32[N,64] data, %mlp.h.weight: f32[64,10] param) -> (%logits: f32[N,10], %loss: f32[]) {\n"));
    insta::assert_snapshot!("ir_text_small", text);
}

#[test]
fn dot_output() {
    insta::assert_snapshot!("ir_dot_small", to_dot(&small()));
    insta::assert_snapshot!("ir_dot_every_op", to_dot(&every_op()));
}

#[test]
fn dot_is_deterministic_and_escapes_quotes() {
    let mut g = Graph::new("q\"uote");
    let x = g.input("a \"b\"", Role::Data, ty(DType::F64, &["2"]));
    let y = g.add(x, x);
    g.output("o\\ut", y);
    let d = to_dot(&g);
    assert_eq!(d, to_dot(&g));
    assert!(d.contains(r#"digraph "@q\"uote""#), "{d}");
    assert!(
        d.contains(r#""%\"a \\\"b\\\"\"" -> "%0" [label="0"];"#),
        "{d}"
    );
    assert!(d.contains(r#"label="o\\ut""#), "{d}");
}

#[test]
fn constants_round_trip_exactly() {
    let values = [
        0.0,
        -0.0,
        1.0,
        -2.5,
        0.1,
        1e-7,
        1e300,
        -1e-300,
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        0.1f32 as f64,
        123456789.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut g = Graph::new("consts");
    for (i, &v) in values.iter().enumerate() {
        let c = g.constant(v, TensorType::scalar(DType::F64));
        g.output(format!("c{i}"), c);
    }
    let text = round_trip(&g);
    let back = parse(&text).unwrap();
    for (i, &v) in values.iter().enumerate() {
        let Op::Const { value } = back.op(back.find_output(&format!("c{i}")).unwrap()) else {
            panic!("not a const")
        };
        assert_eq!(value.to_bits(), v.to_bits(), "{v:?} came back as {value:?}");
    }
    insta::assert_snapshot!("ir_text_consts", text);
}

#[test]
fn nan_prints_and_parses() {
    let text = "graph @n() -> (%a: f32[], %b: f64[2]) {\n  %0 = const nan : f32[]\n  %1 = const -inf : f64[2]\n  return %a = %0, %b = %1\n}\n";
    let g = parse(text).unwrap();
    let Op::Const { value } = g.op(g.find_output("a").unwrap()) else {
        panic!()
    };
    assert!(value.is_nan());
    assert_eq!(print(&g), text);
    // Graph equality treats NaN constants as equal and tells -0 from 0.
    assert!(parse(text).unwrap() == g);
    let zero = parse(&text.replace("-inf", "0")).unwrap();
    let neg_zero = parse(&text.replace("-inf", "-0")).unwrap();
    assert!(zero != neg_zero);
}

#[test]
fn odd_names_are_quoted() {
    let mut g = Graph::new("my graph");
    let a = g.input("0", Role::Data, ty(DType::F32, &["2"]));
    let b = g.input("has space", Role::Param, ty(DType::F32, &["2"]));
    let c = g.input(
        "quote\"back\\slash\ttab",
        Role::State,
        ty(DType::F32, &["2"]),
    );
    let d = g.input("", Role::Hyper(Hyper::Step), ty(DType::F32, &["2"]));
    let s = g.add(a, b);
    let s = g.add(s, c);
    let s = g.add(s, d);
    g.output("7", s);
    g.output("ok/name_1.x", a);
    let text = round_trip(&g);
    insta::assert_snapshot!("ir_text_odd_names", text);
}

#[test]
fn handwritten_text_with_names_comments_and_any_numbering() {
    let text = "
# a comment line
graph @g(%x: f64[N,2] data) -> (%y: f64[N,2]) {
  %h = exp %x : f64[N,2]   # a named value
  %10 = add %h, %x : f64[N,2]
  %2 = neg %10 : f64[N,2]
  return %y = %2
}";
    let g = parse(text).unwrap();
    verify(&g).unwrap();
    insta::assert_snapshot!("ir_text_handwritten", print(&g));
}

#[test]
fn no_inputs_no_outputs() {
    let g = Graph::new("empty");
    let text = round_trip(&g);
    assert_eq!(text, "graph @empty() -> () {\n  return\n}\n");
}

/// Each malformed text with the line and column of the error it gives.
const BAD: &[(&str, &str, usize, usize)] = &[
    (
        "unknown op",
        "graph @g(%x: f32[2] data) -> (%y: f32[2]) {\n  %0 = exq %x : f32[2]\n  return %y = %0\n}",
        2,
        8,
    ),
    (
        "unknown dtype",
        "graph @g(%x: f33[2] data) -> (%y: f32[2]) {\n  return %y = %x\n}",
        1,
        14,
    ),
    (
        "malformed shape",
        "graph @g(%x: f32[2 data) -> (%y: f32[2]) {\n  return %y = %x\n}",
        1,
        20,
    ),
    (
        "wrong written type",
        "graph @g(%x: f32[2] data) -> (%y: f32[3]) {\n  %0 = exp %x : f32[2]\n  %1 = add %0, %x : f32[3]\n  return %y = %1\n}",
        3,
        8,
    ),
    (
        "wrong output type",
        "graph @g(%x: f32[2] data) -> (%y: f32[3]) {\n  %0 = exp %x : f32[2]\n  return %y = %0\n}",
        3,
        15,
    ),
    (
        "operand type mismatch",
        "graph @g(%x: f32[2] data, %z: f64[2] data) -> (%y: f32[2]) {\n  %0 = add %x, %z : f32[2]\n  return %y = %0\n}",
        2,
        8,
    ),
    (
        "undefined value",
        "graph @g(%x: f32[2] data) -> (%y: f32[2]) {\n  %0 = exp %x : f32[2]\n  %1 = add %0, %5 : f32[2]\n  return %y = %1\n}",
        3,
        16,
    ),
    (
        "undefined output value",
        "graph @g(%x: f32[2] data) -> (%y: f32[2]) {\n  return %y = %3\n}",
        2,
        15,
    ),
    (
        "duplicate value",
        "graph @g(%x: f32[2] data) -> (%y: f32[2]) {\n  %0 = exp %x : f32[2]\n  %0 = log %x : f32[2]\n  return %y = %0\n}",
        3,
        3,
    ),
    (
        "value named like an input",
        "graph @g(%x: f32[2] data) -> (%y: f32[2]) {\n  %x = exp %x : f32[2]\n  return %y = %x\n}",
        2,
        3,
    ),
    (
        "duplicate input",
        "graph @g(%x: f32[2] data, %x: f32[2] param) -> (%y: f32[2]) {\n  return %y = %x\n}",
        1,
        27,
    ),
    (
        "duplicate output",
        "graph @g(%x: f32[2] data) -> (%y: f32[2], %y: f32[2]) {\n  return %y = %x, %y = %x\n}",
        1,
        43,
    ),
    (
        "return names differ from the header",
        "graph @g(%x: f32[2] data) -> (%y: f32[2]) {\n  return %z = %x\n}",
        2,
        10,
    ),
    (
        "missing attribute",
        "graph @g(%x: f32[2,3] data) -> (%y: f32[3,2]) {\n  %0 = transpose %x : f32[3,2]\n  return %y = %0\n}",
        2,
        8,
    ),
    (
        "unknown attribute",
        "graph @g(%x: f32[2,3] data) -> (%y: f32[3,2]) {\n  %0 = transpose %x perm=[1,0] axis=1 : f32[3,2]\n  return %y = %0\n}",
        2,
        32,
    ),
    (
        "bad attribute value",
        "graph @g(%x: f32[2,3] data) -> (%y: f32[3,2]) {\n  %0 = transpose %x perm=[1,2] : f32[3,2]\n  return %y = %0\n}",
        2,
        8,
    ),
    (
        "wrong arity",
        "graph @g(%x: f32[2] data) -> (%y: f32[2]) {\n  %0 = add %x : f32[2]\n  return %y = %0\n}",
        2,
        8,
    ),
    (
        "unknown role",
        "graph @g(%x: f32[2] weight) -> (%y: f32[2]) {\n  return %y = %x\n}",
        1,
        21,
    ),
    (
        "bad character",
        "graph @g(%x: f32[2] data) -> (%y: f32[2]) {\n  %0 = exp %x ! : f32[2]\n  return %y = %0\n}",
        2,
        15,
    ),
    (
        "missing return",
        "graph @g(%x: f32[2] data) -> (%y: f32[2]) {\n  %0 = exp %x : f32[2]\n}",
        3,
        1,
    ),
    (
        "trailing text",
        "graph @g() -> () {\n  return\n}\nextra",
        4,
        1,
    ),
    (
        "input as a statement",
        "graph @g() -> () {\n  %0 = input : f32[2]\n  return\n}",
        2,
        8,
    ),
    (
        "unterminated quoted name",
        "graph @g(%\"x: f32[2] data) -> () {\n  return\n}",
        1,
        10,
    ),
    (
        "unbound symbol",
        "graph @g(%x: f32[N] data) -> () {\n  %0 = const 1 : f32[M,N]\n  return\n}",
        2,
        18,
    ),
    (
        "slice of part of a symbolic axis",
        "graph @g(%x: f32[N,4] data) -> (%y: f32[N,2]) {\n  %0 = slice %x start=[1,0] stop=[N,2] : f32[N,2]\n  return %y = %0\n}",
        2,
        8,
    ),
    (
        "slice past the end",
        "graph @g(%x: f32[4] data) -> (%y: f32[2]) {\n  %0 = slice %x start=[3] stop=[5] : f32[2]\n  return %y = %0\n}",
        2,
        8,
    ),
    (
        "pad growing a symbolic axis",
        "graph @g(%x: f32[N] data) -> () {\n  %0 = pad %x low=[1] high=[0] : f32[N]\n  return\n}",
        2,
        8,
    ),
    (
        "list where a value belongs",
        "graph @g(%x: f32[2] data) -> () {\n  %0 = pad %x low=[1] high=[0] value=[1] : f32[3]\n  return\n}",
        2,
        32,
    ),
    (
        "concat of nothing",
        "graph @g() -> () {\n  %0 = concat axis=0 : f32[2]\n  return\n}",
        2,
        8,
    ),
    (
        "concat along a symbolic axis",
        "graph @g(%x: f32[N] data) -> () {\n  %0 = concat %x, %x axis=0 : f32[N]\n  return\n}",
        2,
        8,
    ),
    (
        "conv with an empty output",
        "graph @g(%x: f32[N,1,2] data, %w: f32[1,1,3] param) -> () {\n  %0 = conv %x, %w : f32[N,1,0]\n  return\n}",
        2,
        8,
    ),
    (
        "conv groups that do not divide",
        "graph @g(%x: f32[N,4,5] data, %w: f32[3,2,3] param) -> () {\n  %0 = conv %x, %w groups=2 : f32[N,3,3]\n  return\n}",
        2,
        8,
    ),
    (
        "conv attribute of the wrong length",
        "graph @g(%x: f32[N,1,5,5] data, %w: f32[1,1,3,3] param) -> () {\n  %0 = conv %x, %w stride=[2] : f32[N,1,2,2]\n  return\n}",
        2,
        8,
    ),
    (
        "pooling a symbolic axis",
        "graph @g(%x: f32[N,4] data) -> () {\n  %0 = reduce_window_max %x window=[2,2] : f32[N,3]\n  return\n}",
        2,
        8,
    ),
    (
        "random without a stream",
        "graph @g(%k: i32[] data) -> () {\n  %0 = random_uniform %k : f32[2]\n  return\n}",
        2,
        8,
    ),
    (
        "random stream past 64 bits",
        "graph @g(%k: i32[] data) -> () {\n  %0 = random_normal %k stream=18446744073709551616 : f32[2]\n  return\n}",
        2,
        32,
    ),
    (
        "negative dimension",
        "graph @g(%x: f32[-2] data) -> () {\n  return\n}",
        1,
        18,
    ),
];

#[test]
fn parse_errors_have_positions() {
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
    insta::assert_snapshot!("ir_text_parse_errors", report);
}

#[test]
fn docs_example_is_printer_output() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ir.md")).unwrap();
    let start = doc.find("```\ngraph @").expect("docs/ir.md has an example") + 4;
    let end = start + doc[start..].find("```").unwrap();
    let text = &doc[start..end];
    let g = parse(text).unwrap_or_else(|e| panic!("docs/ir.md example: {e}"));
    verify(&g).unwrap();
    assert_eq!(
        print(&g),
        text,
        "the example is not what the printer writes"
    );
}
