//! The verifier: one deliberately broken graph per invariant in
//! `ir::verify`'s module doc, each of which must be reported, and a
//! snapshot of the messages.

use dlc::ir::verify::verify;
use dlc::ir::{BinaryOp, DType, Dim, Graph, Node, Op, Output, OutputKind, Role, Shape, TensorType};
use petgraph::graph::NodeIndex;

fn f32s(dims: &[usize]) -> TensorType {
    TensorType::new(DType::F32, Shape::fixed(dims))
}

fn base() -> (Graph, NodeIndex) {
    let mut g = Graph::new("g");
    let x = g.input("x", Role::Data, f32s(&[2]));
    (g, x)
}

/// Each broken graph with a phrase its report must contain.
fn cases() -> Vec<(&'static str, Graph, &'static str)> {
    let mut cases = Vec::new();

    let (mut g, x) = base();
    let y = g.push_unchecked(Op::Binary(BinaryOp::Add), &[x, x], f32s(&[3]));
    g.output("y", y);
    cases.push((
        "wrong type",
        g,
        "add produces f32[2], but f32[3] is written",
    ));

    let (mut g, x) = base();
    let y = g.push_unchecked(Op::Binary(BinaryOp::Add), &[x], f32s(&[2]));
    g.output("y", y);
    cases.push(("missing operand", g, "takes 2 operand(s)"));

    let (mut g, x) = base();
    let y = g.push_unchecked(Op::Binary(BinaryOp::Add), &[x], f32s(&[2]));
    g.dag.add_edge(x, y, 0);
    g.output("y", y);
    cases.push(("duplicate position", g, "has positions [0, 0]"));

    let (mut g, x) = base();
    let y = g.push_unchecked(Op::Binary(BinaryOp::Add), &[x], f32s(&[2]));
    g.dag.add_edge(x, y, 5);
    g.output("y", y);
    cases.push(("position out of range", g, "has positions [0, 5]"));

    let (mut g, x) = base();
    let a = g.neg(x);
    let b = g.neg(a);
    g.dag.remove_edge(g.dag.find_edge(x, a).unwrap());
    g.dag.add_edge(b, a, 0);
    g.output("b", b);
    cases.push(("cycle", g, "which is not earlier"));

    let (mut g, _) = base();
    g.dag.add_node(Node {
        op: Op::Input {
            name: "stray".into(),
            role: Role::Param,
        },
        ty: f32s(&[2]),
    });
    cases.push(("unlisted input", g, "missing from the inputs"));

    let (mut g, x) = base();
    let y = g.neg(x);
    g.inputs.push(y);
    cases.push(("non-input listed", g, "not an input node"));

    let (mut g, x) = base();
    g.inputs.push(x);
    cases.push(("input listed twice", g, "listed twice"));

    let (mut g, _) = base();
    g.input("x", Role::Param, f32s(&[2]));
    cases.push(("duplicate input name", g, "input name `%x` is used twice"));

    let (mut g, x) = base();
    g.output("y", x);
    g.output("y", x);
    cases.push(("duplicate output name", g, "output name `%y` is used twice"));

    let (mut g, _) = base();
    g.outputs.push(Output {
        name: "y".into(),
        value: NodeIndex::new(99),
        kind: OutputKind::Value,
    });
    cases.push(("missing output node", g, "refers to missing node 99"));

    let (mut g, _) = base();
    let c = g.constant(
        1.0,
        TensorType::new(DType::F32, Shape(vec![Dim::Sym("M".into())])),
    );
    g.output("c", c);
    cases.push(("unbound symbol", g, "symbol `M`"));

    let (mut g, x) = base();
    let y = g.push_unchecked(Op::Transpose { perm: vec![1] }, &[x], f32s(&[2]));
    g.output("y", y);
    cases.push(("bad attribute", g, "not a permutation"));

    cases
}

#[test]
fn each_broken_invariant_is_reported() {
    let mut report = String::new();
    for (what, g, phrase) in cases() {
        let e = match verify(&g) {
            Ok(()) => panic!("{what}: the verifier accepted it"),
            Err(e) => e,
        };
        let text = e.to_string();
        assert!(text.contains(phrase), "{what}: `{phrase}` not in\n{text}");
        report.push_str(&format!("# {what}\n{text}\n"));
    }
    insta::assert_snapshot!("ir_verify_problems", report);
}

#[test]
fn well_formed_graphs_pass() {
    let (mut g, x) = base();
    let n = g.input(
        "n",
        Role::Data,
        TensorType::new(DType::F64, Shape(vec![Dim::Sym("N".into()), Dim::Fixed(2)])),
    );
    let y = g.neg(x);
    let c = g.constant_like(2.0, n);
    let s = g.add(n, c);
    g.output("y", y);
    g.output("s", s);
    verify(&g).unwrap();
    // An unused input and no outputs are fine too.
    verify(&base().0).unwrap();
}
