//! The reference interpreter, op by op, on small hand-computed cases: the
//! semantics every other backend is compared with. Also input checking,
//! binding of symbolic sizes and the run-time bookkeeping (unneeded nodes,
//! repeated outputs).

use dlc::backend::interp::{eval, Interpreter};
use dlc::backend::Backend;
use dlc::ir::{BinaryOp, CmpOp, DType, Dim, Graph, Op, ReduceOp, Role, Shape, TensorType, UnaryOp};
use dlc::tensor::Tensor;

fn ty(dtype: DType, dims: &[usize]) -> TensorType {
    TensorType::new(dtype, Shape::fixed(dims))
}

fn sym(dtype: DType, dims: &[&str]) -> TensorType {
    let dims = dims
        .iter()
        .map(|d| match d.parse::<usize>() {
            Ok(n) => Dim::Fixed(n),
            Err(_) => Dim::Sym(d.to_string()),
        })
        .collect();
    TensorType::new(dtype, Shape(dims))
}

fn t(dtype: DType, shape: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_f64(dtype, shape, v.to_vec())
}

/// Runs a graph with one output and returns it.
fn run1(g: &Graph, inputs: &[&Tensor]) -> Tensor {
    let mut out = eval(g, inputs).expect("graph runs");
    assert_eq!(out.len(), 1);
    out.pop().unwrap()
}

fn assert_close(got: &Tensor, want: &[f64], tol: f64) {
    let g = got.to_f64_vec();
    assert_eq!(g.len(), want.len(), "got {g:?}, want {want:?}");
    for (a, b) in g.iter().zip(want) {
        let ok = (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= tol * b.abs().max(1.0);
        assert!(ok, "got {g:?}, want {want:?}");
    }
}

/// A graph `f(x)` of one unary op.
fn unary_graph(op: UnaryOp, dtype: DType, n: usize) -> Graph {
    let mut g = Graph::new("u");
    let x = g.input("x", Role::Data, ty(dtype, &[n]));
    let y = g.unary(op, x);
    g.output("y", y);
    g
}

const SAMPLES: [f64; 7] = [-2.5, -1.0, -0.0, 0.0, 0.3, 1.0, 4.0];

#[test]
fn unary_float_ops_follow_the_scalar_semantics() {
    for op in UnaryOp::ALL {
        let want: Vec<f64> = SAMPLES.iter().map(|&x| op.eval(x)).collect();
        let g = unary_graph(op, DType::F64, SAMPLES.len());
        let got = run1(&g, &[&t(DType::F64, &[SAMPLES.len()], &SAMPLES)]);
        assert_close(&got, &want, 0.0);
        // f32 computes in f32: within f32 rounding of the f64 result.
        let g = unary_graph(op, DType::F32, SAMPLES.len());
        let got = run1(&g, &[&t(DType::F32, &[SAMPLES.len()], &SAMPLES)]);
        assert_eq!(got.dtype(), DType::F32);
        assert_close(&got, &want, 1e-6);
    }
}

#[test]
fn sign_of_zero_and_nan_is_zero() {
    let g = unary_graph(UnaryOp::Sign, DType::F32, 3);
    let got = run1(&g, &[&t(DType::F32, &[3], &[0.0, f64::NAN, -3.0])]);
    assert_close(&got, &[0.0, 0.0, -1.0], 0.0);
}

#[test]
fn unary_int_ops() {
    let x = t(DType::I32, &[4], &[-3.0, 0.0, 2.0, -1.0]);
    for (op, want) in [
        (UnaryOp::Neg, [3.0, 0.0, -2.0, 1.0]),
        (UnaryOp::Abs, [3.0, 0.0, 2.0, 1.0]),
        (UnaryOp::Sign, [-1.0, 0.0, 1.0, -1.0]),
    ] {
        let got = run1(&unary_graph(op, DType::I32, 4), &[&x]);
        assert_eq!(got.dtype(), DType::I32);
        assert_close(&got, &want, 0.0);
    }
}

fn binary_graph(op: BinaryOp, t: TensorType) -> Graph {
    let mut g = Graph::new("b");
    let a = g.input("a", Role::Data, t.clone());
    let b = g.input("b", Role::Data, t);
    let y = g.binary(op, a, b);
    g.output("y", y);
    g
}

#[test]
fn binary_float_ops_follow_the_scalar_semantics() {
    let a = [1.5, -2.0, 3.0, 0.5, 2.0, 4.0];
    let b = [2.0, 0.5, -1.0, 0.5, 3.0, 0.25];
    for op in BinaryOp::ALL {
        let want: Vec<f64> = a.iter().zip(&b).map(|(&x, &y)| op.eval(x, y)).collect();
        for dtype in [DType::F32, DType::F64] {
            let g = binary_graph(op, ty(dtype, &[2, 3]));
            let got = run1(&g, &[&t(dtype, &[2, 3], &a), &t(dtype, &[2, 3], &b)]);
            assert_eq!(got.shape(), &[2, 3]);
            assert_close(&got, &want, 1e-6);
        }
    }
}

#[test]
fn f32_arithmetic_is_done_in_f32() {
    // 2^24 + 1 rounds back to 2^24 in f32 (it would be exact in f64).
    let mut g = Graph::new("f32");
    let x = g.input("x", Role::Data, ty(DType::F32, &[]));
    let one = g.constant_like(1.0, x);
    let s = g.add(x, one);
    let d = g.sub(s, x);
    g.output("d", d);
    let got = run1(&g, &[&Tensor::scalar(DType::F32, 16777216.0)]);
    assert_eq!(got.item(), 0.0);
}

#[test]
fn binary_int_ops() {
    let a = t(DType::I32, &[4], &[7.0, -7.0, 2.0, 3.0]);
    let b = t(DType::I32, &[4], &[2.0, 2.0, 5.0, 2.0]);
    for (op, want) in [
        (BinaryOp::Add, [9.0, -5.0, 7.0, 5.0]),
        (BinaryOp::Sub, [5.0, -9.0, -3.0, 1.0]),
        (BinaryOp::Mul, [14.0, -14.0, 10.0, 6.0]),
        (BinaryOp::Div, [3.0, -3.0, 0.0, 1.0]),
        (BinaryOp::Max, [7.0, 2.0, 5.0, 3.0]),
        (BinaryOp::Min, [2.0, -7.0, 2.0, 2.0]),
        (BinaryOp::Pow, [49.0, 49.0, 32.0, 9.0]),
    ] {
        let got = run1(&binary_graph(op, ty(DType::I32, &[4])), &[&a, &b]);
        assert_eq!(got.dtype(), DType::I32);
        assert_close(&got, &want, 0.0);
    }
}

#[test]
fn integer_division_by_zero_is_a_run_error() {
    let g = binary_graph(BinaryOp::Div, ty(DType::I32, &[2]));
    let a = t(DType::I32, &[2], &[1.0, 2.0]);
    let b = t(DType::I32, &[2], &[1.0, 0.0]);
    let e = eval(&g, &[&a, &b]).unwrap_err();
    assert!(e.0.contains("division by zero"), "{e}");
}

#[test]
fn compare_ops_on_every_dtype() {
    let a = [1.0, 2.0, 3.0];
    let b = [2.0, 2.0, 1.0];
    for op in CmpOp::ALL {
        let want: Vec<f64> = a
            .iter()
            .zip(&b)
            .map(|(&x, &y)| op.eval(x, y) as u8 as f64)
            .collect();
        for dtype in [DType::F32, DType::F64, DType::I32] {
            let mut g = Graph::new("c");
            let x = g.input("a", Role::Data, ty(dtype, &[3]));
            let y = g.input("b", Role::Data, ty(dtype, &[3]));
            let c = g.compare(op, x, y);
            g.output("c", c);
            let got = run1(&g, &[&t(dtype, &[3], &a), &t(dtype, &[3], &b)]);
            assert_eq!(got.dtype(), DType::Bool);
            assert_close(&got, &want, 0.0);
        }
    }
    // NaN compares unequal to everything, itself included.
    let mut g = Graph::new("nan");
    let x = g.input("a", Role::Data, ty(DType::F64, &[2]));
    let eq = g.compare(CmpOp::Eq, x, x);
    let ne = g.compare(CmpOp::Ne, x, x);
    g.output("eq", eq);
    g.output("ne", ne);
    let out = eval(&g, &[&t(DType::F64, &[2], &[f64::NAN, 1.0])]).unwrap();
    assert_close(&out[0], &[0.0, 1.0], 0.0);
    assert_close(&out[1], &[1.0, 0.0], 0.0);
    // bool compares with false < true.
    let mut g = Graph::new("bool");
    let x = g.input("a", Role::Data, ty(DType::Bool, &[2]));
    let y = g.input("b", Role::Data, ty(DType::Bool, &[2]));
    let lt = g.compare(CmpOp::Lt, x, y);
    g.output("lt", lt);
    let got = run1(
        &g,
        &[
            &t(DType::Bool, &[2], &[0.0, 1.0]),
            &t(DType::Bool, &[2], &[1.0, 1.0]),
        ],
    );
    assert_close(&got, &[1.0, 0.0], 0.0);
}

#[test]
fn select_picks_per_element() {
    for dtype in [DType::F32, DType::F64, DType::I32, DType::Bool] {
        let mut g = Graph::new("s");
        let c = g.input("c", Role::Data, ty(DType::Bool, &[2, 2]));
        let a = g.input("a", Role::Data, ty(dtype, &[2, 2]));
        let b = g.input("b", Role::Data, ty(dtype, &[2, 2]));
        let s = g.select(c, a, b);
        g.output("s", s);
        let got = run1(
            &g,
            &[
                &t(DType::Bool, &[2, 2], &[1.0, 0.0, 0.0, 1.0]),
                &t(dtype, &[2, 2], &[1.0, 1.0, 1.0, 1.0]),
                &t(dtype, &[2, 2], &[0.0, 0.0, 0.0, 0.0]),
            ],
        );
        assert_close(&got, &[1.0, 0.0, 0.0, 1.0], 0.0);
    }
}

fn cast_graph(from: DType, to: DType, n: usize) -> Graph {
    let mut g = Graph::new("cast");
    let x = g.input("x", Role::Data, ty(from, &[n]));
    let y = g.cast(x, to);
    g.output("y", y);
    g
}

#[test]
fn cast_between_dtypes() {
    let cases: &[(DType, DType, &[f64], &[f64])] = &[
        (DType::F32, DType::I32, &[2.7, -2.7, 0.0], &[2.0, -2.0, 0.0]),
        (
            DType::F64,
            DType::F32,
            &[0.1, 1e40, -3.0],
            &[0.1f32 as f64, f64::INFINITY, -3.0],
        ),
        (
            DType::F32,
            DType::F64,
            &[0.5, -1.25, 3.0],
            &[0.5, -1.25, 3.0],
        ),
        (DType::I32, DType::F32, &[3.0, -4.0, 0.0], &[3.0, -4.0, 0.0]),
        (DType::I32, DType::Bool, &[3.0, 0.0, -1.0], &[1.0, 0.0, 1.0]),
        (DType::Bool, DType::F64, &[1.0, 0.0, 1.0], &[1.0, 0.0, 1.0]),
        (DType::F64, DType::Bool, &[0.5, 0.0, -2.0], &[1.0, 0.0, 1.0]),
        (DType::F64, DType::F64, &[0.5, 0.0, -2.0], &[0.5, 0.0, -2.0]),
    ];
    for &(from, to, x, want) in cases {
        let got = run1(&cast_graph(from, to, 3), &[&t(from, &[3], x)]);
        assert_eq!(got.dtype(), to);
        assert_close(&got, want, 0.0);
    }
}

fn reduce_graph(op: ReduceOp, dtype: DType, dims: &[usize], axes: Vec<usize>) -> Graph {
    let mut g = Graph::new("r");
    let x = g.input("x", Role::Data, ty(dtype, dims));
    let y = g.push(Op::Reduce { op, axes }, &[x], None);
    g.output("y", y);
    g
}

/// op, axes, result shape, result values
type ReduceCase<'a> = (ReduceOp, Vec<usize>, &'a [usize], &'a [f64]);

#[test]
fn reduce_sum_and_max_over_axes() {
    // x[i,j,k] = 6i + 2j + k on [2,3,2], with one element made negative.
    let mut x: Vec<f64> = (0..12).map(|v| v as f64).collect();
    x[5] = -5.0;
    let cases: &[ReduceCase] = &[
        (
            ReduceOp::Sum,
            vec![0],
            &[3, 2],
            &[6.0, 8.0, 10.0, 12.0, 14.0, 6.0],
        ),
        (ReduceOp::Sum, vec![1], &[2, 2], &[6.0, -1.0, 24.0, 27.0]),
        (
            ReduceOp::Sum,
            vec![2],
            &[2, 3],
            &[1.0, 5.0, -1.0, 13.0, 17.0, 21.0],
        ),
        (ReduceOp::Sum, vec![0, 2], &[3], &[14.0, 22.0, 20.0]),
        (ReduceOp::Sum, vec![0, 1, 2], &[], &[56.0]),
        (
            ReduceOp::Max,
            vec![0],
            &[3, 2],
            &[6.0, 7.0, 8.0, 9.0, 10.0, 11.0],
        ),
        (ReduceOp::Max, vec![1], &[2, 2], &[4.0, 3.0, 10.0, 11.0]),
        (
            ReduceOp::Max,
            vec![2],
            &[2, 3],
            &[1.0, 3.0, 4.0, 7.0, 9.0, 11.0],
        ),
        (ReduceOp::Max, vec![1, 2], &[2], &[4.0, 11.0]),
    ];
    for (op, axes, shape, want) in cases {
        for dtype in [DType::F32, DType::F64, DType::I32] {
            let g = reduce_graph(*op, dtype, &[2, 3, 2], axes.clone());
            let got = run1(&g, &[&t(dtype, &[2, 3, 2], &x)]);
            assert_eq!(got.shape(), *shape, "{op:?} {axes:?}");
            assert_close(&got, want, 0.0);
        }
    }
}

#[test]
fn reduce_over_size_one_and_bool_any() {
    let g = reduce_graph(ReduceOp::Sum, DType::F64, &[1, 3], vec![0]);
    let got = run1(&g, &[&t(DType::F64, &[1, 3], &[1.0, 2.0, 3.0])]);
    assert_close(&got, &[1.0, 2.0, 3.0], 0.0);
    let g = reduce_graph(ReduceOp::Max, DType::Bool, &[2, 2], vec![1]);
    let got = run1(&g, &[&t(DType::Bool, &[2, 2], &[0.0, 1.0, 0.0, 0.0])]);
    assert_close(&got, &[1.0, 0.0], 0.0);
}

fn broadcast_graph(from: TensorType, to: TensorType, dims: Vec<usize>) -> Graph {
    let mut g = Graph::new("bc");
    let x = g.input("x", Role::Data, from);
    let y = g.push(Op::Broadcast { dims }, &[x], Some(to));
    g.output("y", y);
    g
}

#[test]
fn broadcast_inserts_and_stretches_axes() {
    let v = t(DType::F64, &[3], &[1.0, 2.0, 3.0]);
    // [3] -> [2,3] along the rows.
    let g = broadcast_graph(ty(DType::F64, &[3]), ty(DType::F64, &[2, 3]), vec![1]);
    assert_close(&run1(&g, &[&v]), &[1.0, 2.0, 3.0, 1.0, 2.0, 3.0], 0.0);
    // [3] -> [3,2] along the columns.
    let g = broadcast_graph(ty(DType::F64, &[3]), ty(DType::F64, &[3, 2]), vec![0]);
    assert_close(&run1(&g, &[&v]), &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0], 0.0);
    // [1,3] -> [2,3]: a size-1 axis stretched.
    let g = broadcast_graph(ty(DType::I32, &[1, 3]), ty(DType::I32, &[2, 3]), vec![0, 1]);
    let got = run1(&g, &[&t(DType::I32, &[1, 3], &[1.0, 2.0, 3.0])]);
    assert_close(&got, &[1.0, 2.0, 3.0, 1.0, 2.0, 3.0], 0.0);
    // scalar -> [2,2]
    let g = broadcast_graph(ty(DType::Bool, &[]), ty(DType::Bool, &[2, 2]), vec![]);
    let got = run1(&g, &[&Tensor::scalar(DType::Bool, 1.0)]);
    assert_close(&got, &[1.0; 4], 0.0);
    // [3] -> [N,3] with N bound by another input.
    let mut g = Graph::new("bcn");
    let x = g.input("x", Role::Data, ty(DType::F32, &[3]));
    let z = g.input("z", Role::Data, sym(DType::F32, &["N", "3"]));
    let y = g.broadcast_to(x, sym(DType::F32, &["N", "3"]).shape, vec![1]);
    let s = g.add(y, z);
    g.output("s", s);
    let x = t(DType::F32, &[3], &[1.0, 2.0, 3.0]);
    let got = run1(&g, &[&x, &Tensor::full(DType::F32, &[2, 3], 10.0)]);
    assert_eq!(got.shape(), &[2, 3]);
    assert_close(&got, &[11.0, 12.0, 13.0, 11.0, 12.0, 13.0], 0.0);
}

#[test]
fn reshape_and_transpose() {
    let x: Vec<f64> = (0..24).map(|v| v as f64).collect();
    let mut g = Graph::new("rt");
    let a = g.input("x", Role::Data, ty(DType::F64, &[2, 3, 4]));
    let tr = g.transpose(a, vec![2, 0, 1]);
    let re = g.reshape(tr, Shape::fixed(&[4, 6]));
    g.output("t", tr);
    g.output("r", re);
    let out = eval(&g, &[&t(DType::F64, &[2, 3, 4], &x)]).unwrap();
    assert_eq!(out[0].shape(), &[4, 2, 3]);
    // result[k,i,j] = x[i,j,k] = 12i + 4j + k
    let want: Vec<f64> = (0..4)
        .flat_map(|k| (0..2).flat_map(move |i| (0..3).map(move |j| (12 * i + 4 * j + k) as f64)))
        .collect();
    assert_close(&out[0], &want, 0.0);
    assert_eq!(out[1].shape(), &[4, 6]);
    assert_close(&out[1], &want, 0.0);
}

fn naive_matmul(a: &[f64], b: &[f64], batch: usize, m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut c = vec![0.0; batch * m * n];
    for p in 0..batch {
        for i in 0..m {
            for j in 0..n {
                for l in 0..k {
                    c[p * m * n + i * n + j] += a[p * m * k + i * k + l] * b[p * k * n + l * n + j];
                }
            }
        }
    }
    c
}

#[test]
fn matmul_2d_and_batched() {
    let mut g = Graph::new("mm");
    let a = g.input("a", Role::Data, ty(DType::F32, &[2, 3]));
    let b = g.input("b", Role::Data, ty(DType::F32, &[3, 2]));
    let c = g.matmul(a, b);
    g.output("c", c);
    let got = run1(
        &g,
        &[
            &t(DType::F32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            &t(DType::F32, &[3, 2], &[7.0, 8.0, 9.0, 10.0, 11.0, 12.0]),
        ],
    );
    assert_close(&got, &[58.0, 64.0, 139.0, 154.0], 0.0);

    let (p, q, m, k, n) = (2, 3, 2, 4, 1);
    let av: Vec<f64> = (0..p * q * m * k)
        .map(|v| (v as f64 * 0.37).sin())
        .collect();
    let bv: Vec<f64> = (0..p * q * k * n)
        .map(|v| (v as f64 * 0.91).cos())
        .collect();
    let mut g = Graph::new("bmm");
    let a = g.input("a", Role::Data, ty(DType::F64, &[p, q, m, k]));
    let b = g.input("b", Role::Data, ty(DType::F64, &[p, q, k, n]));
    let c = g.matmul(a, b);
    g.output("c", c);
    let got = run1(
        &g,
        &[
            &t(DType::F64, &[p, q, m, k], &av),
            &t(DType::F64, &[p, q, k, n], &bv),
        ],
    );
    assert_eq!(got.shape(), &[p, q, m, n]);
    assert_close(&got, &naive_matmul(&av, &bv, p * q, m, k, n), 1e-12);
}

#[test]
fn matmul_of_a_transposed_operand() {
    // The transpose produces a copy in standard layout that matmul can reshape.
    let mut g = Graph::new("mmt");
    let a = g.input("a", Role::Data, ty(DType::F64, &[3, 2]));
    let at = g.transpose_last2(a);
    let c = g.matmul(at, a);
    g.output("c", c);
    let got = run1(
        &g,
        &[&t(DType::F64, &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])],
    );
    assert_close(&got, &[35.0, 44.0, 44.0, 56.0], 0.0);
}

#[test]
fn iota_const_and_dim() {
    let mut g = Graph::new("icd");
    let x = g.input("x", Role::Data, sym(DType::F32, &["N", "3"]));
    let i = g.push(Op::Iota { axis: 1 }, &[], Some(ty(DType::I32, &[2, 3])));
    let f = g.push(
        Op::Iota { axis: 0 },
        &[],
        Some(sym(DType::F32, &["N", "3"])),
    );
    let c = g.constant(2.5, sym(DType::F64, &["N"]));
    let d = g.push(
        Op::DimSize { axis: 0 },
        &[x],
        Some(TensorType::scalar(DType::F32)),
    );
    g.output("i", i);
    g.output("f", f);
    g.output("c", c);
    g.output("d", d);
    let out = eval(&g, &[&Tensor::full(DType::F32, &[2, 3], 0.0)]).unwrap();
    assert_eq!(out[0].dtype(), DType::I32);
    assert_close(&out[0], &[0.0, 1.0, 2.0, 0.0, 1.0, 2.0], 0.0);
    assert_close(&out[1], &[0.0, 0.0, 0.0, 1.0, 1.0, 1.0], 0.0);
    assert_eq!(out[2].shape(), &[2]);
    assert_close(&out[2], &[2.5, 2.5], 0.0);
    assert_eq!(out[3].shape(), &[] as &[usize]);
    assert_close(&out[3], &[2.0], 0.0);
}

#[test]
fn a_symbol_bound_to_two_sizes_names_both_inputs() {
    let mut g = Graph::new("bind");
    let x = g.input("x", Role::Data, sym(DType::F32, &["N", "2"]));
    let y = g.input("y", Role::Data, sym(DType::F32, &["N", "2"]));
    let s = g.add(x, y);
    g.output("s", s);
    let a = Tensor::full(DType::F32, &[3, 2], 1.0);
    let b = Tensor::full(DType::F32, &[4, 2], 1.0);
    let e = eval(&g, &[&a, &b]).unwrap_err();
    assert!(
        e.0.contains("`x`") && e.0.contains("`y`") && e.0.contains('3') && e.0.contains('4'),
        "{e}"
    );
    // The same symbol bound consistently runs.
    let out = eval(&g, &[&a, &a]).unwrap();
    assert_eq!(out[0].shape(), &[3, 2]);
}

#[test]
fn wrong_inputs_are_run_errors() {
    let mut g = Graph::new("w");
    let x = g.input("x", Role::Data, sym(DType::F32, &["N", "2"]));
    let y = g.neg(x);
    g.output("y", y);
    let cases = [
        Tensor::full(DType::F64, &[3, 2], 1.0), // dtype
        Tensor::full(DType::F32, &[3, 3], 1.0), // fixed size
        Tensor::full(DType::F32, &[6], 1.0),    // rank
    ];
    for bad in &cases {
        let e = eval(&g, &[bad]).unwrap_err();
        assert!(e.0.contains("input `x`") && e.0.contains("f32[N,2]"), "{e}");
    }
    let e = eval(&g, &[]).unwrap_err();
    assert!(e.0.contains("takes 1 input"), "{e}");
}

#[test]
fn only_what_the_outputs_need_is_computed() {
    // An integer division by zero that no output uses does not fail the run.
    let mut g = Graph::new("dead");
    let a = g.input("a", Role::Data, ty(DType::I32, &[2]));
    let z = g.constant_like(0.0, a);
    let _dead = g.div(a, z);
    let live = g.add(a, a);
    g.output("live", live);
    let got = run1(&g, &[&t(DType::I32, &[2], &[1.0, 2.0])]);
    assert_close(&got, &[2.0, 4.0], 0.0);
}

#[test]
fn repeated_outputs_inputs_as_outputs_and_shared_operands() {
    let mut g = Graph::new("rep");
    let x = g.input("x", Role::Data, ty(DType::F64, &[2]));
    let e = g.unary(UnaryOp::Exp, x);
    let sq = g.mul(e, e); // one operand used twice, must not be moved out
    let n = g.neg(sq);
    g.output("x", x);
    g.output("e", e);
    g.output("n", n);
    g.output("e_again", e);
    let out = eval(&g, &[&t(DType::F64, &[2], &[0.0, 1.0])]).unwrap();
    assert_close(&out[0], &[0.0, 1.0], 0.0);
    assert_close(&out[1], &[1.0, 1f64.exp()], 1e-15);
    assert_close(&out[2], &[-1.0, -(2f64.exp())], 1e-15);
    assert_close(&out[3], &[1.0, 1f64.exp()], 1e-15);
}

#[test]
fn backend_compiles_once_and_runs_many_batch_sizes() {
    let mut g = Graph::new("b");
    let x = g.input("x", Role::Data, sym(DType::F32, &["N", "2"]));
    let m = g.mean(x, vec![0]);
    g.output("m", m);
    let mut exe = Interpreter.compile_graph(&g).unwrap();
    for n in [1, 3, 8] {
        let x = Tensor::full(DType::F32, &[n, 2], 4.0);
        let out = exe.run(&[&x]).unwrap();
        assert_close(&out[0], &[4.0, 4.0], 0.0);
    }
}

#[test]
fn compile_rejects_a_node_whose_type_does_not_follow() {
    let mut g = Graph::new("bad");
    let x = g.input("x", Role::Data, ty(DType::F32, &[2]));
    let y = g.push_unchecked(Op::Unary(UnaryOp::Neg), &[x], ty(DType::F32, &[3]));
    g.output("y", y);
    let e = Interpreter.compile_graph(&g).err().expect("rejected");
    assert!(e.to_string().contains("neg"), "{e}");
}
