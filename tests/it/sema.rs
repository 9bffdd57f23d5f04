//! The checker: parameter paths, shapes, shape variables, blocks, targets
//! and settings on valid programs (broken ones are in `ui.rs`).

use dlc::ir::{DType, Dim, Shape, TensorType};
use dlc::sema::program::{Layer, LossKind, OptimizerKind, Schedule};

use crate::common::{check_files, check_with, example, show, MemoryCatalog};

fn f32s(dims: &[Dim]) -> TensorType {
    TensorType::new(DType::F32, Shape(dims.to_vec()))
}
fn n() -> Dim {
    Dim::Sym("N".into())
}

#[test]
fn digits_example_checks_with_paths_shapes_and_settings() {
    let src = example("digits_mlp");
    let p = check_files(&src).unwrap_or_else(|d| panic!("{}", show(&src, &d)));
    let t = p.train.expect("train block");
    let paths: Vec<(&str, &TensorType)> = t
        .model
        .params
        .iter()
        .map(|p| (p.path.as_str(), &p.ty))
        .collect();
    assert_eq!(
        paths.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        [
            "mlp.h.weight",
            "mlp.h.bias",
            "mlp.h_2.weight",
            "mlp.h_2.bias",
            "mlp.logits.weight",
            "mlp.logits.bias"
        ]
    );
    assert_eq!(paths[0].1, &f32s(&[Dim::Fixed(64), Dim::Fixed(128)]));
    assert_eq!(paths[5].1, &f32s(&[Dim::Fixed(10)]));
    assert_eq!(
        t.model.inputs[0],
        ("x".to_string(), f32s(&[n(), Dim::Fixed(64)]))
    );
    assert_eq!(t.targets, ["label"]);
    assert_eq!(
        t.model.inputs[1].1,
        TensorType::new(DType::I32, Shape(vec![n()]))
    );
    let head = t.head.expect("single loss call gives a head");
    assert_eq!(
        (head.prediction.as_str(), head.target.as_str(), head.loss),
        ("logits", "label", LossKind::CrossEntropy)
    );
    assert_eq!(
        t.optimizer.kind,
        OptimizerKind::Sgd {
            momentum: 0.9,
            nesterov: false
        }
    );
    assert_eq!((t.epochs, t.batch, t.shuffle), (20, 32, true));
    assert_eq!(t.schedule, Schedule::Constant);
    assert_eq!(t.save.as_deref(), Some("runs/digits"));
    let loss_id = t.model.loss.expect("a train block's model has a loss");
    assert_eq!(t.model.nodes[loss_id].ty, TensorType::scalar(DType::F32));
}

const CATALOG_SRC: &str = "dataset d = load(x: csv(\"x.csv\"), y: csv(\"y.csv\"))\n";

fn catalog() -> MemoryCatalog {
    MemoryCatalog(vec![
        ("x.csv", DType::F32, vec![12], 100),
        ("y.csv", DType::F32, vec![1], 100),
    ])
}

#[test]
fn shape_variables_are_bound_from_the_data() {
    let src = format!(
        "{CATALOG_SRC}
model m(hidden: int = 4) {{
  input x: f32[N, F]
  h = dense(x, F + hidden) |> tanh
  output y_hat = dense(h, 1)
}}
train m on d {{ loss mse(y_hat, y); optimizer adam() }}"
    );
    let p = check_with(&src, &catalog()).unwrap_or_else(|d| panic!("{}", show(&src, &d)));
    let t = p.train.unwrap();
    assert_eq!(
        t.model.params[0].ty,
        f32s(&[Dim::Fixed(12), Dim::Fixed(16)])
    );
    assert_eq!(t.model.params[0].path, "m.h.weight");
}

#[test]
fn blocks_inline_with_nested_parameter_paths() {
    let src = format!(
        "{CATALOG_SRC}
model residual(width: int) {{
  input x: f32[N, width]
  h = dense(x, width) |> relu
  output y = x + dense(h, width)
}}
model m {{
  input x: f32[N, 12]
  a = residual(x, 12)
  b = residual(a, width: 12) |> residual(12)
  output y_hat = dense(b, 1)
}}
train m on d {{ loss mse(y_hat, y); optimizer sgd(lr: 0.01) }}"
    );
    let p = check_with(&src, &catalog()).unwrap_or_else(|d| panic!("{}", show(&src, &d)));
    let paths: Vec<String> = p
        .train
        .unwrap()
        .model
        .params
        .iter()
        .map(|p| p.path.clone())
        .collect();
    assert_eq!(
        paths,
        [
            "m.a.h.weight",
            "m.a.h.bias",
            "m.a.y.weight",
            "m.a.y.bias",
            "m.b.h.weight",
            "m.b.h.bias",
            "m.b.y.weight",
            "m.b.y.bias",
            "m.b.1.h.weight",
            "m.b.1.h.bias",
            "m.b.1.y.weight",
            "m.b.1.y.bias",
            "m.y_hat.weight",
            "m.y_hat.bias"
        ]
    );
}

#[test]
fn scalar_arithmetic_and_activation_argument_check() {
    let src = format!(
        "{CATALOG_SRC}
model m {{
  input x: f32[N, 12]
  h = dense(x, 8, activation: relu, bias: false) * 0.5 - 1
  output y_hat = dense(-h / 2, 1, init: he_normal)
}}
train m on d {{ loss mae(y_hat, y) + 0.1 * mse(y_hat, y); optimizer rmsprop(lr: 0.01, centered: true) }}"
    );
    let p = check_with(&src, &catalog()).unwrap_or_else(|d| panic!("{}", show(&src, &d)));
    let t = p.train.unwrap();
    assert_eq!(t.model.params.len(), 3, "no bias on h");
    assert!(t.head.is_none(), "a sum of losses has no single head");
    assert!(t.model.nodes.iter().any(|n| n.layer == Layer::Neg));
}

#[test]
fn standalone_models_are_checked_without_a_train_block() {
    let src =
        "model enc(k: int = 3) {\n input x: f32[N, 5]\n output z = dense(x, k) |> softmax\n}\n";
    let p = check_with(src, &MemoryCatalog(vec![])).unwrap_or_else(|d| panic!("{}", show(src, &d)));
    assert_eq!(p.models.len(), 1);
    assert_eq!(
        p.models[0].nodes.last().unwrap().ty,
        f32s(&[n(), Dim::Fixed(3)])
    );
}

#[test]
fn several_errors_are_reported_in_source_order() {
    let src = "model a {\n input x: f32[N, 5]\n output y = dense(x, 0)\n}\nmodel b {\n input x: f32[N, 5]\n output y = foo(x)\n}\n";
    let diags = check_with(src, &MemoryCatalog(vec![])).unwrap_err();
    assert_eq!(diags.len(), 2, "{}", show(src, &diags));
    assert!(diags[0].primary_span().unwrap().start < diags[1].primary_span().unwrap().start);
}
