//! The interpreter on the layer library's primitives, on small
//! hand-computed cases: slice, pad, concat and reverse (with symbolic and
//! size-1 axes and every dtype), so the semantics other backends are
//! compared with are pinned down by numbers written out here, not by the
//! interpreter's own output.

use dlc::backend::interp::eval;
use dlc::ir::{DType, Dim, Graph, Role, Shape, TensorType};
use dlc::tensor::Tensor;

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

fn t(dtype: DType, shape: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_f64(dtype, shape, v.to_vec())
}

/// `0, 1, 2, ...` in the given shape.
fn counting(dtype: DType, shape: &[usize]) -> Tensor {
    let n = shape.iter().product::<usize>();
    t(dtype, shape, &(0..n).map(|i| i as f64).collect::<Vec<_>>())
}

/// Runs `build` on one input of type `input` fed `x`; returns the output.
fn run(
    input: TensorType,
    x: &Tensor,
    build: impl Fn(&mut Graph, dlc::ir::Value) -> dlc::ir::Value,
) -> Tensor {
    let mut g = Graph::new("t");
    let a = g.input("x", Role::Data, input);
    let y = build(&mut g, a);
    g.output("y", y);
    eval(&g, &[x]).expect("runs").pop().unwrap()
}

fn fixed(xs: &[usize]) -> Vec<Dim> {
    xs.iter().map(|&x| Dim::Fixed(x)).collect()
}

#[test]
fn slice_takes_strided_elements() {
    // [[0,1,2,3],[4,5,6,7],[8,9,10,11]], rows 1..3, columns 0, 2
    let x = counting(DType::F32, &[3, 4]);
    let y = run(ty(DType::F32, &["3", "4"]), &x, |g, a| {
        g.slice(a, vec![1, 0], fixed(&[3, 4]), vec![1, 2])
    });
    assert_eq!(y.shape(), &[2, 2]);
    assert_eq!(y.to_f64_vec(), [4.0, 6.0, 8.0, 10.0]);
    // A stride that does not divide the range: elements 1 and 4 of 0..6.
    let x = counting(DType::I32, &[6]);
    let y = run(ty(DType::I32, &["6"]), &x, |g, a| {
        g.slice(a, vec![1], fixed(&[6]), vec![3])
    });
    assert_eq!(y.to_f64_vec(), [1.0, 4.0]);
    // An empty slice has size 0.
    let y = run(ty(DType::I32, &["6"]), &x, |g, a| {
        g.slice(a, vec![2], fixed(&[2]), vec![1])
    });
    assert_eq!(y.shape(), &[0]);
}

#[test]
fn slice_keeps_a_symbolic_axis_whole() {
    let x = counting(DType::F64, &[2, 4]);
    let y = run(ty(DType::F64, &["N", "4"]), &x, |g, a| {
        g.slice(
            a,
            vec![0, 1],
            vec![Dim::Sym("N".into()), Dim::Fixed(4)],
            vec![1, 2],
        )
    });
    assert_eq!(y.shape(), &[2, 2]);
    assert_eq!(y.to_f64_vec(), [1.0, 3.0, 5.0, 7.0]);
}

#[test]
fn pad_puts_the_value_around_and_between() {
    // [[1,2],[3,4]]: one row of 9 before, one column after, one between columns.
    let x = t(DType::F32, &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let y = run(ty(DType::F32, &["2", "2"]), &x, |g, a| {
        g.pad(a, vec![1, 0], vec![0, 1], vec![0, 1], 9.0)
    });
    assert_eq!(y.shape(), &[3, 4]);
    #[rustfmt::skip]
    let want = [
        9.0, 9.0, 9.0, 9.0,
        1.0, 9.0, 2.0, 9.0,
        3.0, 9.0, 4.0, 9.0,
    ];
    assert_eq!(y.to_f64_vec(), want);
    // A size-1 axis has no interior; a symbolic axis is left alone.
    let x = t(DType::I32, &[3, 1], &[5.0, 6.0, 7.0]);
    let y = run(ty(DType::I32, &["N", "1"]), &x, |g, a| {
        g.pad(a, vec![0, 2], vec![0, 0], vec![0, 4], -1.0)
    });
    assert_eq!(y.shape(), &[3, 3]);
    assert_eq!(
        y.to_f64_vec(),
        [-1.0, -1.0, 5.0, -1.0, -1.0, 6.0, -1.0, -1.0, 7.0]
    );
    // The value converts to the dtype as a constant does.
    let x = t(DType::Bool, &[1], &[0.0]);
    let y = run(ty(DType::Bool, &["1"]), &x, |g, a| {
        g.pad(a, vec![1], vec![1], vec![0], 0.5)
    });
    assert_eq!(y.to_f64_vec(), [1.0, 0.0, 1.0]);
}

#[test]
fn concat_joins_parts_in_order() {
    let mut g = Graph::new("c");
    let a = g.input("a", Role::Data, ty(DType::I32, &["N", "1"]));
    let b = g.input("b", Role::Data, ty(DType::I32, &["N", "2"]));
    let c = g.concat(&[a, b, a], 1);
    let d = g.concat(&[b], 1);
    g.output("c", c);
    g.output("d", d);
    let av = t(DType::I32, &[2, 1], &[1.0, 2.0]);
    let bv = t(DType::I32, &[2, 2], &[3.0, 4.0, 5.0, 6.0]);
    let out = eval(&g, &[&av, &bv]).unwrap();
    assert_eq!(out[0].shape(), &[2, 4]);
    assert_eq!(
        out[0].to_f64_vec(),
        [1.0, 3.0, 4.0, 1.0, 2.0, 5.0, 6.0, 2.0]
    );
    assert_eq!(out[1], bv);
    // Along the first axis.
    let x = t(DType::F32, &[1, 2], &[1.0, 2.0]);
    let y = run(ty(DType::F32, &["1", "2"]), &x, |g, a| {
        let z = g.constant(0.0, ty(DType::F32, &["2", "2"]));
        g.concat(&[z, a], 0)
    });
    assert_eq!(y.to_f64_vec(), [0.0, 0.0, 0.0, 0.0, 1.0, 2.0]);
}

#[test]
fn reverse_flips_the_named_axes() {
    let x = counting(DType::F64, &[2, 3]);
    let y = run(ty(DType::F64, &["2", "3"]), &x, |g, a| {
        g.reverse(a, vec![1])
    });
    assert_eq!(y.to_f64_vec(), [2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
    let y = run(ty(DType::F64, &["2", "3"]), &x, |g, a| {
        g.reverse(a, vec![0, 1])
    });
    assert_eq!(y.to_f64_vec(), [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]);
    let x = t(DType::Bool, &[3], &[1.0, 0.0, 0.0]);
    let y = run(ty(DType::Bool, &["N"]), &x, |g, a| g.reverse(a, vec![0]));
    assert_eq!(y.to_f64_vec(), [0.0, 0.0, 1.0]);
}

#[test]
fn gather_picks_rows_by_index() {
    // rows [0,1], [2,3], [4,5]; indices [[2,0],[1,1]]
    let mut g = Graph::new("g");
    let table = g.input("t", Role::Data, ty(DType::F32, &["3", "2"]));
    let idx = g.input("i", Role::Data, ty(DType::I32, &["N", "2"]));
    let one = g.input("j", Role::Data, ty(DType::I32, &[]));
    let y = g.gather(table, idx);
    let z = g.gather(table, one);
    g.output("y", y);
    g.output("z", z);
    let tv = counting(DType::F32, &[3, 2]);
    let iv = t(DType::I32, &[2, 2], &[2.0, 0.0, 1.0, 1.0]);
    let jv = t(DType::I32, &[], &[1.0]);
    let out = eval(&g, &[&tv, &iv, &jv]).unwrap();
    assert_eq!(out[0].shape(), &[2, 2, 2]);
    assert_eq!(
        out[0].to_f64_vec(),
        [4.0, 5.0, 0.0, 1.0, 2.0, 3.0, 2.0, 3.0]
    );
    assert_eq!(out[1].shape(), &[2]);
    assert_eq!(out[1].to_f64_vec(), [2.0, 3.0]);
    // A table of rank 1 gives one element per index.
    let x = t(DType::I32, &[4], &[10.0, 11.0, 12.0, 13.0]);
    let mut g = Graph::new("g1");
    let table = g.input("t", Role::Data, ty(DType::I32, &["4"]));
    let idx = g.input("i", Role::Data, ty(DType::I32, &["3"]));
    let y = g.gather(table, idx);
    g.output("y", y);
    let iv = t(DType::I32, &[3], &[3.0, 3.0, 0.0]);
    assert_eq!(
        eval(&g, &[&x, &iv]).unwrap()[0].to_f64_vec(),
        [13.0, 13.0, 10.0]
    );
}

#[test]
fn an_index_outside_the_table_is_a_run_error_naming_it() {
    let mut g = Graph::new("g");
    let table = g.input("t", Role::Data, ty(DType::F32, &["3", "2"]));
    let idx = g.input("i", Role::Data, ty(DType::I32, &["2", "2"]));
    let y = g.gather(table, idx);
    let zeros = g.constant(0.0, ty(DType::F32, &["3", "2"]));
    let upd = g.input("u", Role::Data, ty(DType::F32, &["2", "2", "2"]));
    let s = g.scatter_add(zeros, idx, upd);
    g.output("y", y);
    let tv = counting(DType::F32, &[3, 2]);
    let uv = counting(DType::F32, &[2, 2, 2]);
    for (bad, shown) in [
        (3.0, "index 3 at position [1, 0]"),
        (-1.0, "index -1 at position [1, 0]"),
    ] {
        let iv = t(DType::I32, &[2, 2], &[0.0, 1.0, bad, 2.0]);
        let e = eval(&g, &[&tv, &iv, &uv]).unwrap_err();
        assert!(
            e.0.contains(shown) && e.0.contains("3 rows") && e.0.contains("gather"),
            "{e}"
        );
    }
    g.outputs.clear();
    g.output("s", s);
    let iv = t(DType::I32, &[2, 2], &[0.0, 7.0, 1.0, 2.0]);
    let e = eval(&g, &[&tv, &iv, &uv]).unwrap_err();
    assert!(
        e.0.contains("scatter_add index 7 at position [0, 1]"),
        "{e}"
    );
}

#[test]
fn scatter_add_accumulates_repeated_indices() {
    // operand rows [0,1], [2,3], [4,5]; updates rows [1,1], [10,10], [100,100]
    // at indices [2, 0, 2].
    let mut g = Graph::new("s");
    let operand = g.input("o", Role::Data, ty(DType::I32, &["3", "2"]));
    let idx = g.input("i", Role::Data, ty(DType::I32, &["3"]));
    let upd = g.input("u", Role::Data, ty(DType::I32, &["3", "2"]));
    let y = g.scatter_add(operand, idx, upd);
    g.output("y", y);
    let ov = counting(DType::I32, &[3, 2]);
    let iv = t(DType::I32, &[3], &[2.0, 0.0, 2.0]);
    let uv = t(DType::I32, &[3, 2], &[1.0, 1.0, 10.0, 10.0, 100.0, 100.0]);
    let out = eval(&g, &[&ov, &iv, &uv]).unwrap();
    assert_eq!(out[0].to_f64_vec(), [10.0, 11.0, 2.0, 3.0, 105.0, 106.0]);
    // The operand input itself is not changed (it is the caller's).
    assert_eq!(ov, counting(DType::I32, &[3, 2]));
}
