//! Gradient checks: every differentiable primitive's VJP rule against central
//! differences, in f64 on the interpreter. Tiny cases compare the full
//! Jacobian entry by entry; bigger cases (symbolic, size-1 and broadcast
//! dims) compare ⟨J t, c⟩ by finite differences with ⟨t, Jᵀ c⟩ by autodiff
//! for random t and c. A coverage test fails when an op has neither a check
//! here nor a `NonDifferentiable` mark in `autodiff::rule`.

use std::collections::HashSet;

use dlc::backend::interp::eval;
use dlc::ir::{
    BinaryOp, CmpOp, DType, Dim, Graph, Op, ReduceOp, Role, Scan, Shape, TensorType, UnaryOp, Value,
};
use dlc::passes::autodiff::{grad, rule, Differentiability};
use dlc::tensor::Tensor;

mod cases;
pub mod fd;
mod movement;
mod scan;
mod window;
use cases::cases;
use fd::{sample, Domain, Rng};

/// A differentiated input: its type (maybe symbolic), its run-time shape and
/// where its values come from.
struct Param {
    ty: TensorType,
    shape: Vec<usize>,
    domain: Domain,
}

fn p(shape: &[usize], domain: Domain) -> Param {
    Param {
        ty: TensorType::new(DType::F64, Shape::fixed(shape)),
        shape: shape.to_vec(),
        domain,
    }
}

/// Like `p`, but the first axis is the symbol `N`.
fn pn(shape: &[usize], domain: Domain) -> Param {
    let mut param = p(shape, domain);
    param.ty.shape.0[0] = Dim::Sym("N".into());
    param
}

/// `[N, rest...]`
fn n_shape(rest: &[usize]) -> Shape {
    let mut s = vec![Dim::Sym("N".into())];
    s.extend(rest.iter().map(|&d| Dim::Fixed(d)));
    Shape(s)
}

type Build = Box<dyn Fn(&mut Graph, &[Value]) -> Value>;

struct Case {
    name: String,
    /// The primitives this case checks (by mnemonic).
    covers: Vec<&'static str>,
    params: Vec<Param>,
    /// Inputs that are not differentiated (a select's condition).
    data: Vec<Tensor>,
    build: Build,
    /// Finite-difference step (a power of two, so steps are exact).
    h: f64,
    /// Big cases get the random-direction test only; the others also get
    /// the full Jacobian.
    big: bool,
}

fn case(
    name: impl Into<String>,
    covers: &[&'static str],
    params: Vec<Param>,
    build: Build,
) -> Case {
    Case {
        name: name.into(),
        covers: covers.to_vec(),
        params,
        data: vec![],
        build,
        h: fd::H,
        big: false,
    }
}

impl Case {
    fn big(mut self) -> Case {
        self.big = true;
        self
    }
}

/// Builds the case's graph (params as `Role::Param` inputs, then the data),
/// draws the params from their domains and runs the shared check.
fn check(c: &Case, seed: u64) {
    let mut g = Graph::new(c.name.clone());
    let mut args: Vec<Value> = c
        .params
        .iter()
        .enumerate()
        .map(|(i, p)| g.input(format!("p{i}"), Role::Param, p.ty.clone()))
        .collect();
    for (i, d) in c.data.iter().enumerate() {
        let ty = TensorType::new(d.dtype(), Shape::fixed(d.shape()));
        args.push(g.input(format!("d{i}"), Role::Data, ty));
    }
    let y = (c.build)(&mut g, &args);
    g.output("y", y);
    let mut rng = Rng(seed);
    let mut inputs: Vec<Tensor> = c
        .params
        .iter()
        .map(|p| {
            let v = sample(&mut rng, p.domain, p.shape.iter().product());
            Tensor::from_f64(DType::F64, &p.shape, v)
        })
        .collect();
    inputs.extend(c.data.iter().cloned());
    let wrt: Vec<usize> = (0..c.params.len()).collect();
    fd::check(
        &fd::Check {
            name: &c.name,
            graph: &g,
            output: "y",
            inputs: &inputs,
            wrt: &wrt,
            h: c.h,
            full_jacobian: !c.big,
        },
        &mut rng,
    );
}

#[test]
fn every_primitive_matches_finite_differences() {
    for (i, c) in cases().iter().enumerate() {
        check(c, 1000 + i as u64);
    }
}

#[test]
fn reduce_max_splits_the_gradient_between_ties() {
    let mut g = Graph::new("ties");
    let x = g.input(
        "x",
        Role::Param,
        TensorType::new(DType::F64, Shape::fixed(&[2, 3])),
    );
    let m = g.push(
        Op::Reduce {
            op: ReduceOp::Max,
            axes: vec![1],
        },
        &[x],
        None,
    );
    let w = g.input(
        "w",
        Role::Data,
        TensorType::new(DType::F64, Shape::fixed(&[2])),
    );
    let mw = g.mul(m, w);
    let loss = g.sum(mw, vec![0]);
    g.output("loss", loss);
    let gg = grad(&g, "loss", &[x]);
    let xv = Tensor::from_f64(DType::F64, &[2, 3], vec![1.0, 3.0, 3.0, 2.0, 2.0, 2.0]);
    let wv = Tensor::from_f64(DType::F64, &[2], vec![4.0, 3.0]);
    let out = eval(&gg, &[&xv, &wv]).unwrap();
    assert_eq!(out[1].to_f64_vec(), vec![0.0, 2.0, 2.0, 1.0, 1.0, 1.0]);
}

#[test]
fn max_pooling_gives_a_tie_to_the_first_element_of_the_window() {
    // x = [1, 3, 3, 2], windows of 2 with stride 1: [1,3], [3,3], [3,2].
    // The cotangent of each window goes to one element: the tied middle
    // window's to its first 3.
    let mut g = Graph::new("pool_ties");
    let t = TensorType::new(DType::F64, Shape::fixed(&[4]));
    let x = g.input("x", Role::Param, t);
    let y = g.reduce_window(ReduceOp::Max, x, dlc::ir::Window::new(vec![2]));
    let w = g.input(
        "w",
        Role::Data,
        TensorType::new(DType::F64, Shape::fixed(&[3])),
    );
    let yw = g.mul(y, w);
    let loss = g.sum(yw, vec![0]);
    g.output("loss", loss);
    let gg = grad(&g, "loss", &[x]);
    let xv = Tensor::from_f64(DType::F64, &[4], vec![1.0, 3.0, 3.0, 2.0]);
    let wv = Tensor::from_f64(DType::F64, &[3], vec![1.0, 10.0, 100.0]);
    let out = eval(&gg, &[&xv, &wv]).unwrap();
    assert_eq!(out[1].to_f64_vec(), vec![0.0, 11.0, 100.0, 0.0]);
}

#[test]
fn max_and_min_ties_go_to_the_first_operand() {
    for op in [BinaryOp::Max, BinaryOp::Min] {
        let mut g = Graph::new("tie");
        let t = TensorType::new(DType::F64, Shape::fixed(&[2]));
        let a = g.input("a", Role::Param, t.clone());
        let b = g.input("b", Role::Param, t);
        let m = g.binary(op, a, b);
        let loss = g.sum(m, vec![0]);
        g.output("loss", loss);
        let gg = grad(&g, "loss", &[a, b]);
        let v = Tensor::from_f64(DType::F64, &[2], vec![1.0, -2.0]);
        let out = eval(&gg, &[&v, &v]).unwrap();
        assert_eq!(out[1].to_f64_vec(), vec![1.0, 1.0], "{op:?}");
        assert_eq!(out[2].to_f64_vec(), vec![0.0, 0.0], "{op:?}");
    }
}

#[test]
fn pow_gradient_of_the_exponent_is_zero_where_the_base_is_not_positive() {
    let mut g = Graph::new("pow0");
    let t = TensorType::new(DType::F64, Shape::fixed(&[2]));
    let a = g.input("a", Role::Param, t.clone());
    let b = g.input("b", Role::Param, t);
    let y = g.binary(BinaryOp::Pow, a, b);
    let loss = g.sum(y, vec![0]);
    g.output("loss", loss);
    let gg = grad(&g, "loss", &[a, b]);
    let av = Tensor::from_f64(DType::F64, &[2], vec![0.0, -2.0]);
    let bv = Tensor::from_f64(DType::F64, &[2], vec![2.0, 2.0]);
    let out = eval(&gg, &[&av, &bv]).unwrap();
    assert_eq!(out[1].to_f64_vec(), vec![0.0, -4.0]); // 2a
    assert_eq!(out[2].to_f64_vec(), vec![0.0, 0.0]);
}

#[test]
fn grad_appends_one_typed_output_per_input_and_zero_for_unused_ones() {
    let mut g = Graph::new("shape");
    let x = g.input("x", Role::Data, TensorType::new(DType::F32, n_shape(&[3])));
    let w = g.input(
        "w",
        Role::Param,
        TensorType::new(DType::F32, Shape::fixed(&[3, 2])),
    );
    let unused = g.input(
        "u",
        Role::Param,
        TensorType::new(DType::F32, Shape::fixed(&[4])),
    );
    let _i = g.input("i", Role::Data, TensorType::new(DType::I32, n_shape(&[])));
    let y = g.matmul(x, w);
    let loss = g.mean(y, vec![0, 1]);
    g.output("y", y);
    g.output("loss", loss);
    let gg = grad(&g, "loss", &[w, unused, x]);
    let names: Vec<&str> = gg.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["y", "loss", "grad.w", "grad.u", "grad.x"]);
    assert_eq!(gg.inputs, g.inputs);
    for (o, want) in gg.outputs[2..].iter().zip([w, unused, x]) {
        assert_eq!(gg.ty(o.value), g.ty(want));
    }
    let xv = Tensor::full(DType::F32, &[2, 3], 1.0);
    let wv = Tensor::full(DType::F32, &[3, 2], 0.5);
    let uv = Tensor::full(DType::F32, &[4], 7.0);
    let iv = Tensor::full(DType::I32, &[2], 0.0);
    let out = eval(&gg, &[&xv, &wv, &uv, &iv]).unwrap();
    // loss = mean over N*2 entries of sum_k x w: d/dw[k,j] = sum_n x[n,k] / (2N) = 0.5
    assert_eq!(out[2].to_f64_vec(), vec![0.5; 6]);
    assert_eq!(out[3].to_f64_vec(), vec![0.0; 4]);
    assert_eq!(out[4].shape(), &[2, 3]);
    assert_eq!(out[4].dtype(), DType::F32);
}

#[test]
#[should_panic(expected = "internal: loss `y` is f64[2], not a float scalar")]
fn a_non_scalar_loss_is_an_internal_error() {
    let mut g = Graph::new("bad");
    let x = g.input(
        "x",
        Role::Param,
        TensorType::new(DType::F64, Shape::fixed(&[2])),
    );
    let y = g.neg(x);
    g.output("y", y);
    grad(&g, "y", &[x]);
}

/// Every op variant and sub-op. The `match` below has no `_` arm: a new
/// `Op` variant does not compile until it is listed here too.
fn every_op() -> Vec<Op> {
    let mut ops = vec![
        Op::Input {
            name: "x".into(),
            role: Role::Param,
        },
        Op::Const { value: 0.0 },
        Op::Iota { axis: 0 },
        Op::Select,
        Op::Cast,
        Op::Broadcast { dims: vec![] },
        Op::Reshape,
        Op::Transpose { perm: vec![] },
        Op::MatMul,
        Op::DimSize { axis: 0 },
        Op::Slice {
            start: vec![],
            stop: vec![],
            stride: vec![],
        },
        Op::Pad {
            low: vec![],
            high: vec![],
            interior: vec![],
            value: 0.0,
        },
        Op::Concat { axis: 0 },
        Op::Reverse { axes: vec![] },
        Op::Gather,
        Op::ScatterAdd,
        Op::Conv(dlc::ir::ConvAttrs::new(1)),
        Op::Scan(Box::new(Scan {
            body: Graph::new("body"),
            carries: 0,
            sequences: 0,
            axis: 0,
            reverse: false,
        })),
        Op::Get { index: 0 },
    ];
    for dist in dlc::ir::Dist::ALL {
        ops.push(Op::Random { dist, stream: 0 });
    }
    for op in [ReduceOp::Sum, ReduceOp::Max] {
        ops.push(Op::ReduceWindow {
            op,
            window: dlc::ir::Window::new(vec![1]),
        });
    }
    ops.extend(UnaryOp::ALL.map(Op::Unary));
    ops.extend(BinaryOp::ALL.map(Op::Binary));
    ops.extend(CmpOp::ALL.map(Op::Compare));
    for op in [ReduceOp::Sum, ReduceOp::Max] {
        match op {
            ReduceOp::Sum | ReduceOp::Max => ops.push(Op::Reduce { op, axes: vec![0] }),
        }
    }
    for op in &ops {
        match op {
            Op::Input { .. }
            | Op::Const { .. }
            | Op::Iota { .. }
            | Op::Unary(_)
            | Op::Binary(_)
            | Op::Compare(_)
            | Op::Select
            | Op::Cast
            | Op::Reduce { .. }
            | Op::Broadcast { .. }
            | Op::Reshape
            | Op::Transpose { .. }
            | Op::MatMul
            | Op::DimSize { .. }
            | Op::Slice { .. }
            | Op::Pad { .. }
            | Op::Concat { .. }
            | Op::Reverse { .. }
            | Op::Gather
            | Op::ScatterAdd
            | Op::Conv(_)
            | Op::ReduceWindow { .. }
            | Op::Random { .. }
            | Op::Scan(_)
            | Op::Get { .. } => {}
        }
    }
    ops
}

#[test]
fn every_op_is_gradient_checked_or_marked_non_differentiable() {
    let cs = cases();
    let small: HashSet<&str> = cs
        .iter()
        .filter(|c| !c.big)
        .flat_map(|c| c.covers.clone())
        .collect();
    let big: HashSet<&str> = cs
        .iter()
        .filter(|c| c.big)
        .flat_map(|c| c.covers.clone())
        .collect();
    let ops = every_op();
    for op in &ops {
        let name = op.name();
        match rule(op) {
            Differentiability::Rule => assert!(
                small.contains(name) && big.contains(name),
                "`{name}` has a vjp rule but no full-Jacobian and random-direction gradient check"
            ),
            Differentiability::NonDifferentiable => {}
            Differentiability::Leaf => assert!(matches!(op, Op::Input { .. }), "`{name}`"),
        }
    }
}
