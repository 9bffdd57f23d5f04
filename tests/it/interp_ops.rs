//! The interpreter on the layer library's primitives, on small
//! hand-computed cases: slice, pad, concat and reverse (with symbolic and
//! size-1 axes and every dtype), gather and scatter_add, convolution (also
//! against a direct loop-by-loop definition on random configurations) and
//! pooling, so the semantics other backends are compared with are
//! pinned down by numbers written out here, not by the interpreter's own
//! output.

use dlc::backend::interp::eval;
use dlc::ir::{ConvAttrs, DType, Dim, Graph, Op, ReduceOp, Role, Shape, TensorType, Window};
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

/// `conv` of `x` and `w` with attributes `a`, by the interpreter.
fn run_conv(x: &Tensor, w: &Tensor, a: &ConvAttrs) -> Result<Tensor, String> {
    let mut g = Graph::new("conv");
    let tx = TensorType::new(x.dtype(), Shape::fixed(x.shape()));
    let tw = TensorType::new(w.dtype(), Shape::fixed(w.shape()));
    let xv = g.input("x", Role::Data, tx);
    let wv = g.input("w", Role::Param, tw);
    let y = g.try_push(Op::Conv(a.clone()), &[xv, wv], None)?;
    g.output("y", y);
    Ok(eval(&g, &[x, w]).map_err(|e| e.0)?.pop().unwrap())
}

#[test]
fn conv_1d_by_hand() {
    // x = [1,2,3,4], w = [1,0,-1]: y[i] = x[i] - x[i+2].
    let x = t(DType::F64, &[1, 1, 4], &[1.0, 2.0, 3.0, 4.0]);
    let w = t(DType::F64, &[1, 1, 3], &[1.0, 0.0, -1.0]);
    let plain = ConvAttrs::new(1);
    assert_eq!(run_conv(&x, &w, &plain).unwrap().to_f64_vec(), [-2.0, -2.0]);
    // Padded by one zero each side: [0,1,2,3,4,0].
    let mut padded = ConvAttrs::new(1);
    padded.pad_low = vec![1];
    padded.pad_high = vec![1];
    assert_eq!(
        run_conv(&x, &w, &padded).unwrap().to_f64_vec(),
        [-2.0, -2.0, -2.0, 3.0]
    );
    // Stride 2 keeps outputs 0 and 2.
    padded.stride = vec![2];
    assert_eq!(
        run_conv(&x, &w, &padded).unwrap().to_f64_vec(),
        [-2.0, -2.0]
    );
    // Kernel dilation 2 (taps 0 and 2 only), on [1,2,3,4,5,6].
    let x6 = t(DType::F64, &[1, 1, 6], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let w2 = t(DType::F64, &[1, 1, 2], &[1.0, 10.0]);
    let mut dil = ConvAttrs::new(1);
    dil.dilation = vec![2];
    assert_eq!(
        run_conv(&x6, &w2, &dil).unwrap().to_f64_vec(),
        [31.0, 42.0, 53.0, 64.0]
    );
    // Input dilation 2: [1,0,2,0,3,0,4] with w = [1,10] gives
    // [1, 20, 2, 30, 3, 40] (a transposed convolution).
    let mut tr = ConvAttrs::new(1);
    tr.lhs_dilation = vec![2];
    assert_eq!(
        run_conv(&x, &w2, &tr).unwrap().to_f64_vec(),
        [1.0, 20.0, 2.0, 30.0, 3.0, 40.0]
    );
}

#[test]
fn conv_groups_keep_channels_apart() {
    // Two groups of one channel: output channel j sees input channel j only.
    let x = t(DType::F32, &[1, 2, 3], &[1.0, 2.0, 3.0, 10.0, 20.0, 30.0]);
    let w = t(DType::F32, &[2, 1, 2], &[1.0, 1.0, 1.0, -1.0]);
    let mut a = ConvAttrs::new(1);
    a.groups = 2;
    let y = run_conv(&x, &w, &a).unwrap();
    assert_eq!(y.shape(), &[1, 2, 2]);
    assert_eq!(y.to_f64_vec(), [3.0, 5.0, -10.0, -10.0]);
}

/// A direct, loop-by-loop convolution: the definition, for comparison.
fn naive_conv(x: &Tensor, w: &Tensor, a: &ConvAttrs) -> Vec<f64> {
    let (xs, ws) = (x.shape(), w.shape());
    let (xv, wv) = (x.to_f64_vec(), w.to_f64_vec());
    let sp = xs.len() - 2;
    let (n, o, cg) = (xs[0], ws[0], ws[1]);
    let og = o / a.groups;
    let dil = |n: usize, d: usize| (n - 1) * d + 1;
    let ys: Vec<usize> = (0..sp)
        .map(|i| {
            (dil(xs[2 + i], a.lhs_dilation[i]) + a.pad_low[i] + a.pad_high[i]
                - dil(ws[2 + i], a.dilation[i]))
                / a.stride[i]
                + 1
        })
        .collect();
    let decode = |mut flat: usize, dims: &[usize]| {
        let mut ix = vec![0; dims.len()];
        for i in (0..dims.len()).rev() {
            ix[i] = flat % dims[i];
            flat /= dims[i];
        }
        ix
    };
    let index =
        |ix: &[usize], dims: &[usize]| ix.iter().zip(dims).fold(0, |acc, (&i, &d)| acc * d + i);
    let (ny, nk) = (
        ys.iter().product::<usize>(),
        ws[2..].iter().product::<usize>(),
    );
    let mut out = Vec::new();
    for b in 0..n {
        for oc in 0..o {
            let group = oc / og;
            for yf in 0..ny {
                let y = decode(yf, &ys);
                let mut acc = 0.0;
                for ic in 0..cg {
                    'tap: for kf in 0..nk {
                        let k = decode(kf, &ws[2..]);
                        let mut q = vec![];
                        for i in 0..sp {
                            let p = (y[i] * a.stride[i] + k[i] * a.dilation[i]) as i64
                                - a.pad_low[i] as i64;
                            let ld = a.lhs_dilation[i] as i64;
                            if p < 0 || p % ld != 0 || (p / ld) as usize >= xs[2 + i] {
                                continue 'tap;
                            }
                            q.push((p / ld) as usize);
                        }
                        let mut xi = vec![b, group * cg + ic];
                        xi.extend(&q);
                        let mut wi = vec![oc, ic];
                        wi.extend(&k);
                        acc += xv[index(&xi, xs)] * wv[index(&wi, ws)];
                    }
                }
                out.push(acc);
            }
        }
    }
    out
}

#[test]
fn conv_agrees_with_the_direct_definition_on_random_configurations() {
    let mut seed = 12345u64;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % n
    };
    let mut checked = 0;
    for _ in 0..300 {
        let sp = 1 + next(3);
        let groups = 1 + next(2);
        let (n, cg, og) = (1 + next(2), 1 + next(2), 1 + next(2));
        let mut xs = vec![n, cg * groups];
        let mut ws = vec![og * groups, cg];
        let mut a = ConvAttrs::new(sp);
        a.groups = groups;
        for i in 0..sp {
            xs.push(1 + next(5));
            ws.push(1 + next(3));
            a.stride[i] = 1 + next(3);
            a.pad_low[i] = next(3);
            a.pad_high[i] = next(3);
            a.dilation[i] = 1 + next(2);
            a.lhs_dilation[i] = 1 + next(2);
        }
        let numel = |s: &[usize]| s.iter().product::<usize>();
        let xv: Vec<f64> = (0..numel(&xs)).map(|_| next(19) as f64 - 9.0).collect();
        let wv: Vec<f64> = (0..numel(&ws)).map(|_| next(7) as f64 - 3.0).collect();
        let x = t(DType::F64, &xs, &xv);
        let w = t(DType::F64, &ws, &wv);
        match run_conv(&x, &w, &a) {
            // Integers in f64: both sums are exact.
            Ok(y) => {
                assert_eq!(
                    y.to_f64_vec(),
                    naive_conv(&x, &w, &a),
                    "{xs:?} {ws:?} {a:?}"
                );
                checked += 1;
            }
            Err(e) => assert!(e.contains("empty"), "{e}"),
        }
    }
    assert!(checked > 200, "only {checked} configurations had outputs");
}

fn pool(op: ReduceOp, x: &Tensor, input: TensorType, w: Window) -> Tensor {
    run(input, x, move |g, a| g.reduce_window(op, a, w.clone()))
}

#[test]
fn max_and_average_pooling_by_hand() {
    // 4x4 counting, 2x2 windows with stride 2.
    let x = counting(DType::F32, &[1, 1, 4, 4]);
    let mut w = Window::new(vec![1, 1, 2, 2]);
    w.stride = vec![1, 1, 2, 2];
    let input = ty(DType::F32, &["N", "1", "4", "4"]);
    let y = pool(ReduceOp::Max, &x, input.clone(), w.clone());
    assert_eq!(y.shape(), &[1, 1, 2, 2]);
    assert_eq!(y.to_f64_vec(), [5.0, 7.0, 13.0, 15.0]);
    let y = pool(ReduceOp::Sum, &x, input, w);
    assert_eq!(y.to_f64_vec(), [10.0, 18.0, 42.0, 50.0]);
    // Overlapping windows of 3 with stride 1 along one axis.
    let x = t(DType::F64, &[5], &[1.0, 5.0, 2.0, 0.0, 3.0]);
    let y = pool(
        ReduceOp::Max,
        &x,
        ty(DType::F64, &["5"]),
        Window::new(vec![3]),
    );
    assert_eq!(y.to_f64_vec(), [5.0, 5.0, 3.0]);
}

#[test]
fn pooling_padding_never_wins_a_max_and_adds_nothing_to_a_sum() {
    // [-5, -3] padded by one each side, windows of 2: [pad,-5], [-5,-3], [-3,pad].
    let mut w = Window::new(vec![2]);
    w.pad_low = vec![1];
    w.pad_high = vec![1];
    for dtype in [DType::I32, DType::F32] {
        let x = t(dtype, &[2], &[-5.0, -3.0]);
        let y = pool(ReduceOp::Max, &x, ty(dtype, &["2"]), w.clone());
        assert_eq!(y.to_f64_vec(), [-5.0, -3.0, -3.0], "{dtype}");
        let y = pool(ReduceOp::Sum, &x, ty(dtype, &["2"]), w.clone());
        assert_eq!(y.to_f64_vec(), [-5.0, -8.0, -3.0], "{dtype}");
    }
    // A window entirely in the padding: the max of nothing is -inf.
    let mut w = Window::new(vec![2]);
    w.pad_low = vec![3];
    let x = t(DType::F64, &[1], &[7.0]);
    let y = pool(ReduceOp::Max, &x, ty(DType::F64, &["1"]), w);
    assert_eq!(y.to_f64_vec(), [f64::NEG_INFINITY, f64::NEG_INFINITY, 7.0]);
}
