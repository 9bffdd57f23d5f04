//! Backend oracle for the cpu backend's library kernels (`conv`,
//! `reduce_window_*`, `slice`, `pad`, `concat`, `reverse`, `gather`,
//! `scatter_add`, `random_*`): each op on several shapes (size-1 axes, odd
//! sizes, a symbolic batch) and attribute corners, forward and through its
//! gradient graph (the VJPs are convolutions with input dilation, pads with
//! interior padding, slices, scatter_adds), on the kernel-program reference
//! runner and on the compiled backend, against the interpreter
//! (`cpu_oracle::agree_all_within`). Every `kernel::Routine` names its
//! test here (`tested_by`), so the reference runner, which defines the
//! routines, is checked on each.
//!
//! Tolerance: f32 to 1e-4 relative where a convolution or window sums
//! many products in another order than the interpreter's; the random draws
//! bit for bit.

use dlc::backend::interp;
use dlc::ir::print::print;
use dlc::ir::{
    ConvAttrs, DType, Dim, Dist, Graph, Op, ReduceOp, Role, Shape, TensorType, Value, Window,
};
use dlc::kernel::{kernel_program, reference, Kernel, Routine};
use dlc::passes::autodiff::grad;
use dlc::tensor::Tensor;

use crate::cpu_oracle::{agree_all, agree_all_within};

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

/// Checks the graph `build` makes (from its inputs, one output `y`), and
/// its gradient with respect to every float input of the loss
/// `sum(y · cotangent)`, `cotangent` a data input shaped like `y`.
fn forward_and_grad(
    inputs: &[(&str, TensorType)],
    tol: f64,
    mut build: impl FnMut(&mut Graph, &[Value]) -> Option<Value>,
) {
    let mut g = Graph::new("t");
    let vs: Vec<Value> = inputs
        .iter()
        .map(|(n, t)| g.input(*n, Role::Data, t.clone()))
        .collect();
    let Some(y) = build(&mut g, &vs) else {
        return;
    };
    g.output("y", y);
    agree_all_within(&print(&g), tol);
    if !g.ty(y).dtype.is_float() {
        return;
    }
    let c = g.input("cotangent", Role::Data, g.ty(y).clone());
    let yc = g.mul(y, c);
    let r = g.ty(y).rank();
    let loss = g.sum(yc, (0..r).collect());
    g.output("loss", loss);
    let wrt: Vec<Value> = vs
        .iter()
        .copied()
        .filter(|&v| g.ty(v).dtype.is_float())
        .collect();
    let d = grad(&g, "loss", &wrt);
    agree_all_within(&print(&d), tol);
}

/// A small deterministic stream for configurations.
fn stream(seed: u64) -> impl FnMut(usize) -> usize {
    let mut s = seed;
    move |n| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) as usize) % n
    }
}

#[test]
fn conv_on_random_configurations_and_its_gradient() {
    let mut next = stream(7);
    let mut checked = 0;
    for case in 0..40 {
        let sp = 1 + next(3);
        let groups = 1 + next(2);
        let (cg, og) = (1 + next(3), 1 + next(2));
        let batch = if case % 3 == 0 {
            "N".to_string()
        } else {
            (1 + next(3)).to_string()
        };
        let mut xs = vec![batch, (cg * groups).to_string()];
        let mut ws = vec![(og * groups).to_string(), cg.to_string()];
        let mut a = ConvAttrs::new(sp);
        a.groups = groups;
        for i in 0..sp {
            xs.push((1 + next(6)).to_string());
            ws.push((1 + next(3)).to_string());
            a.stride[i] = 1 + next(3);
            a.pad_low[i] = next(3);
            a.pad_high[i] = next(3);
            a.dilation[i] = 1 + next(2);
            a.lhs_dilation[i] = 1 + next(2);
        }
        let xr: Vec<&str> = xs.iter().map(String::as_str).collect();
        let wr: Vec<&str> = ws.iter().map(String::as_str).collect();
        let dtype = if case % 10 == 9 {
            DType::F64
        } else {
            DType::F32
        };
        let mut ok = false;
        forward_and_grad(
            &[("x", ty(dtype, &xr)), ("w", ty(dtype, &wr))],
            1e-4,
            |g, v| {
                let y = g.try_push(Op::Conv(a.clone()), &[v[0], v[1]], None).ok();
                ok = y.is_some();
                y
            },
        );
        checked += usize::from(ok);
    }
    assert!(checked > 25, "only {checked} configurations had outputs");
}

#[test]
fn lenet_convolutions_and_pooling_with_gradients() {
    let mut same = ConvAttrs::new(2);
    same.pad_low = vec![2, 2];
    same.pad_high = vec![2, 2];
    let mut pool = Window::new(vec![1, 1, 2, 2]);
    pool.stride = vec![1, 1, 2, 2];
    forward_and_grad(
        &[
            ("x", ty(DType::F32, &["N", "1", "28", "28"])),
            ("w", ty(DType::F32, &["6", "1", "5", "5"])),
        ],
        1e-4,
        |g, v| {
            let c = g.conv(v[0], v[1], same.clone());
            Some(g.reduce_window(ReduceOp::Max, c, pool.clone()))
        },
    );
    forward_and_grad(
        &[
            ("x", ty(DType::F32, &["N", "6", "14", "14"])),
            ("w", ty(DType::F32, &["16", "6", "5", "5"])),
        ],
        1e-4,
        |g, v| {
            let c = g.conv(v[0], v[1], ConvAttrs::new(2));
            Some(g.reduce_window(ReduceOp::Max, c, pool.clone()))
        },
    );
    // A 1x1 convolution reads the sample itself as its column matrix.
    forward_and_grad(
        &[
            ("x", ty(DType::F32, &["N", "4", "3", "5"])),
            ("w", ty(DType::F32, &["2", "2", "1", "1"])),
        ],
        1e-4,
        |g, v| {
            let mut a = ConvAttrs::new(2);
            a.groups = 2;
            Some(g.conv(v[0], v[1], a))
        },
    );
}

#[test]
fn big_convolution_and_pooling_split_across_threads() {
    // 2x2 max pooling of 64·8 planes: above PARALLEL_MIN, planes in parallel.
    let mut pool = Window::new(vec![1, 1, 2, 2]);
    pool.stride = vec![1, 1, 2, 2];
    forward_and_grad(
        &[("x", ty(DType::F32, &["64", "8", "16", "16"]))],
        1e-5,
        |g, v| Some(g.reduce_window(ReduceOp::Max, v[0], pool.clone())),
    );
    // 64 samples: parallel over the batch when the pool has threads.
    forward_and_grad(
        &[
            ("x", ty(DType::F32, &["64", "3", "9", "9"])),
            ("w", ty(DType::F32, &["5", "3", "3", "3"])),
        ],
        1e-4,
        |g, v| {
            let mut a = ConvAttrs::new(2);
            a.stride = vec![2, 1];
            a.pad_low = vec![1, 0];
            Some(g.conv(v[0], v[1], a))
        },
    );
}

#[test]
fn pooling_on_random_windows_and_its_gradient() {
    let mut next = stream(11);
    for case in 0..30 {
        let r = 1 + next(4);
        let mut dims: Vec<String> = Vec::new();
        let mut w = Window::new(vec![1; r]);
        for i in 0..r {
            let n = 1 + next(6);
            dims.push(if i == 0 && case % 4 == 0 {
                "N".to_string()
            } else {
                n.to_string()
            });
            let bound = if dims[i] == "N" { 1 } else { n };
            w.size[i] = 1 + next(bound.min(3));
            w.stride[i] = 1 + next(3);
            if dims[i] != "N" {
                w.pad_low[i] = next(2);
                w.pad_high[i] = next(2);
            }
        }
        let op = if case % 2 == 0 {
            ReduceOp::Max
        } else {
            ReduceOp::Sum
        };
        let dtype = match case % 5 {
            3 => DType::F64,
            4 => DType::I32,
            _ => DType::F32,
        };
        let d: Vec<&str> = dims.iter().map(String::as_str).collect();
        forward_and_grad(&[("x", ty(dtype, &d))], 1e-5, |g, v| {
            g.try_push(
                Op::ReduceWindow {
                    op,
                    window: w.clone(),
                },
                &[v[0]],
                None,
            )
            .ok()
        });
    }
}

#[test]
fn slices_pads_concats_and_reverses_with_gradients() {
    let f = |d: &[&str]| ty(DType::F32, d);
    let fix = |n: usize| Dim::Fixed(n);
    let sym = || Dim::Sym("N".into());
    // Slices: strided, from an offset, of a size-1 axis, the symbolic axis whole.
    forward_and_grad(&[("x", f(&["N", "7", "5"]))], 1e-5, |g, v| {
        Some(g.slice(
            v[0],
            vec![0, 1, 0],
            vec![sym(), fix(7), fix(5)],
            vec![1, 3, 2],
        ))
    });
    forward_and_grad(&[("x", f(&["3", "1", "4"]))], 1e-5, |g, v| {
        Some(g.slice(
            v[0],
            vec![2, 0, 3],
            vec![fix(3), fix(1), fix(4)],
            vec![1, 1, 1],
        ))
    });
    forward_and_grad(&[("x", f(&["6"]))], 1e-5, |g, v| {
        Some(g.slice(v[0], vec![1], vec![fix(6)], vec![2]))
    });
    // An offset of two size terms (`2·N + 1`) is no load offset: the
    // slice routine.
    forward_and_grad(&[("x", f(&["3", "N", "2"]))], 1e-5, |g, v| {
        Some(g.slice(
            v[0],
            vec![1, 0, 1],
            vec![fix(3), sym(), fix(2)],
            vec![2, 1, 1],
        ))
    });
    // Pads: low/high/interior, a value, a scalar-free size-1 axis.
    forward_and_grad(&[("x", f(&["N", "3", "1"]))], 1e-5, |g, v| {
        Some(g.pad(v[0], vec![0, 1, 2], vec![0, 2, 0], vec![0, 1, 0], -1.5))
    });
    forward_and_grad(&[("x", f(&["2", "5"]))], 1e-5, |g, v| {
        Some(g.pad(v[0], vec![0, 0], vec![0, 0], vec![2, 3], 0.0))
    });
    // Concats: along the batch, along an inner axis, three parts.
    forward_and_grad(
        &[
            ("a", f(&["N", "2"])),
            ("b", f(&["N", "3"])),
            ("c", f(&["N", "1"])),
        ],
        1e-5,
        |g, v| Some(g.concat(&[v[0], v[1], v[2]], 1)),
    );
    forward_and_grad(
        &[("a", f(&["2", "3", "1"])), ("b", f(&["1", "3", "1"]))],
        1e-5,
        |g, v| Some(g.concat(&[v[0], v[1]], 0)),
    );
    // Reverses: several axes, none, the last alone.
    forward_and_grad(&[("x", f(&["N", "3", "4"]))], 1e-5, |g, v| {
        Some(g.reverse(v[0], vec![1, 2]))
    });
    forward_and_grad(&[("x", f(&["N", "3"]))], 1e-5, |g, v| {
        Some(g.reverse(v[0], vec![]))
    });
    forward_and_grad(&[("x", f(&["1", "5"]))], 1e-5, |g, v| {
        Some(g.reverse(v[0], vec![0, 1]))
    });
    // Other dtypes move the same way.
    for dt in [DType::F64, DType::I32, DType::Bool] {
        let t = ty(dt, &["N", "4", "3"]);
        forward_and_grad(&[("x", t.clone())], 1e-5, |g, v| {
            Some(g.slice(
                v[0],
                vec![0, 1, 0],
                vec![sym(), fix(4), fix(3)],
                vec![1, 2, 2],
            ))
        });
        forward_and_grad(&[("x", t.clone())], 1e-5, |g, v| {
            Some(g.pad(v[0], vec![0, 1, 0], vec![0, 0, 1], vec![0, 1, 0], 1.0))
        });
        forward_and_grad(&[("x", t.clone()), ("y", t.clone())], 1e-5, |g, v| {
            Some(g.concat(&[v[0], v[1]], 2))
        });
        forward_and_grad(&[("x", t.clone())], 1e-5, |g, v| {
            Some(g.reverse(v[0], vec![0, 2]))
        });
    }
}

#[test]
fn gather_and_scatter_add_with_gradients() {
    // Seeded i32 inputs lie in [-3, 3]: their absolute values are rows.
    for (table, idx, dt) in [
        (&["7", "3"][..], &["N", "2"][..], DType::F32),
        (&["4"][..], &["N"][..], DType::F32),
        (&["4", "1", "2"][..], &["3"][..], DType::F32),
        // Tables the cpu backend has no code of its own for.
        (&["5", "2"][..], &["N"][..], DType::I32),
        (&["4", "3"][..], &["2", "N"][..], DType::F64),
    ] {
        forward_and_grad(
            &[("t", ty(dt, table)), ("i", ty(DType::I32, idx))],
            1e-5,
            |g, v| {
                let rows = g.push(Op::Unary(dlc::ir::UnaryOp::Abs), &[v[1]], None);
                Some(g.gather(v[0], rows))
            },
        );
    }
    // scatter_add directly, repeated rows accumulating, f32 and i32.
    for dt in [DType::F32, DType::I32, DType::F64] {
        forward_and_grad(
            &[
                ("a", ty(dt, &["5", "2"])),
                ("i", ty(DType::I32, &["N", "3"])),
                ("u", ty(dt, &["N", "3", "2"])),
            ],
            1e-5,
            |g, v| {
                let rows = g.push(Op::Unary(dlc::ir::UnaryOp::Abs), &[v[1]], None);
                Some(g.scatter_add(v[0], rows, v[2]))
            },
        );
    }
}

#[test]
fn an_index_outside_the_table_is_an_error_on_cpu() {
    let mut g = Graph::new("t");
    let t = g.input("t", Role::Data, ty(DType::F32, &["3", "2"]));
    let i = g.input("i", Role::Data, ty(DType::I32, &["2"]));
    let y = g.gather(t, i);
    g.output("y", y);
    let backend = dlc::backend::BackendKind::Cpu.backend();
    let mut exe = backend.compile_graph(&g).unwrap();
    let table = Tensor::from_f64(DType::F32, &[3, 2], vec![0.0; 6]);
    let bad = Tensor::from_f64(DType::I32, &[2], vec![1.0, 3.0]);
    let e = exe.run(&[&table, &bad]).unwrap_err();
    assert!(e.0.contains("index 3") && e.0.contains("3 rows"), "{}", e.0);
}

#[test]
fn random_draws_are_the_interpreters_bit_for_bit() {
    for (dist, dt, shape) in [
        (Dist::Uniform, DType::F32, &["4", "1", "3"][..]),
        (Dist::Normal, DType::F32, &["7"][..]),
        (Dist::Uniform, DType::F64, &["2", "5"][..]),
        (Dist::Normal, DType::F64, &["1"][..]),
        (Dist::Uniform, DType::F32, &["300", "200"][..]),
    ] {
        let mut g = Graph::new("r");
        let k = g.input("k", Role::Data, ty(DType::I32, &[]));
        let y = g.random(dist, k, 3, ty(dt, shape));
        g.output("y", y);
        for key in [0, 1, -7, i32::MAX] {
            let kt = Tensor::from_f64(DType::I32, &[], vec![key as f64]);
            let want = interp::eval(&g, &[&kt]).unwrap();
            let backend = dlc::backend::BackendKind::Cpu.backend();
            let got = backend.compile_graph(&g).unwrap().run(&[&kt]).unwrap();
            assert_eq!(want, got, "{dist:?} {dt} {shape:?} key {key}");
            let spec = reference::run(&kernel_program(&g), &[&kt]).unwrap();
            assert_eq!(want, spec, "reference: {dist:?} {dt} {shape:?} key {key}");
        }
    }
    // Dropout: a mask from a uniform draw, forward and gradient.
    agree_all(
        "graph @drop(%x: f32[N,5] data, %k: i32[] data) -> (%y: f32[N,5]) {
  %u = random_uniform %k stream=1 : f32[N,5]
  %half = const 0.5 : f32[N,5]
  %keep = lt %u, %half : bool[N,5]
  %zero = const 0 : f32[N,5]
  %two = const 2 : f32[N,5]
  %x2 = mul %x, %two : f32[N,5]
  %y = select %keep, %x2, %zero : f32[N,5]
  return %y = %y
}",
    );
}

/// The test that checks each routine, on the reference runner and the cpu
/// backend against the interpreter: a routine added to `Routine` does not
/// compile here until it names one.
fn tested_by(r: &Routine) -> &'static str {
    match r {
        Routine::Conv(_) => "conv_on_random_configurations_and_its_gradient",
        Routine::ReduceWindow { .. } => "pooling_on_random_windows_and_its_gradient",
        Routine::Slice { .. }
        | Routine::Pad { .. }
        | Routine::Concat { .. }
        | Routine::Reverse { .. } => "slices_pads_concats_and_reverses_with_gradients",
        Routine::Gather | Routine::ScatterAdd => "gather_and_scatter_add_with_gradients",
        Routine::Random { .. } => "random_draws_are_the_interpreters_bit_for_bit",
    }
}

#[test]
fn every_library_routine_has_a_test_here() {
    // A graph with one op of each library routine.
    let mut g = Graph::new("all");
    let x = g.input("x", Role::Data, ty(DType::F32, &["2", "3", "4", "4"]));
    let w = g.input("w", Role::Data, ty(DType::F32, &["2", "3", "2", "2"]));
    let i = g.input("i", Role::Data, ty(DType::I32, &["2"]));
    let k = g.input("k", Role::Data, ty(DType::I32, &[]));
    let s = g.input("s", Role::Data, ty(DType::F32, &["3", "N", "2"]));
    let push = |g: &mut Graph, op: Op, args: &[Value]| g.try_push(op, args, None).unwrap();
    let fix = Dim::Fixed;
    let outs = vec![
        push(&mut g, Op::Conv(ConvAttrs::new(2)), &[x, w]),
        push(
            &mut g,
            Op::ReduceWindow {
                op: ReduceOp::Max,
                window: Window::new(vec![1, 1, 2, 2]),
            },
            &[x],
        ),
        // At offset `2·N + 1`, which a load cannot hold.
        g.slice(
            s,
            vec![1, 0, 1],
            vec![fix(3), Dim::Sym("N".into()), fix(2)],
            vec![1, 1, 1],
        ),
        push(
            &mut g,
            Op::Pad {
                low: vec![0, 0, 1, 0],
                high: vec![0, 0, 0, 1],
                interior: vec![0; 4],
                value: 0.0,
            },
            &[x],
        ),
        push(&mut g, Op::Concat { axis: 1 }, &[x, x]),
        push(&mut g, Op::Reverse { axes: vec![3] }, &[x]),
        g.gather(x, i),
        g.scatter_add(x, i, x),
        g.random(Dist::Normal, k, 1, ty(DType::F32, &["3"])),
    ];
    for (n, v) in outs.into_iter().enumerate() {
        g.output(format!("y{n}"), v);
    }
    let routines: Vec<Routine> = kernel_program(&g)
        .kernels
        .into_iter()
        .filter_map(|k| match k {
            Kernel::Library { routine, .. } => Some(routine),
            _ => None,
        })
        .collect();
    assert_eq!(routines.len(), 9, "one kernel per routine: {routines:?}");
    let source = include_str!("cpu_library.rs");
    for r in &routines {
        let test = tested_by(r);
        assert!(
            source.contains(&format!("#[test]\nfn {test}()")),
            "`{}` names `{test}`, which is not a test in this file",
            r.name()
        );
    }
}
