//! The gradient-check cases: each differentiable primitive on tiny shapes
//! (full Jacobian) and on bigger ones with symbolic, size-1 and broadcast
//! dims (random directions), plus compositions with the non-differentiable
//! ops, whose zero gradient must come out right too.

use super::{case, n_shape, p, pn, Build, Case, Domain, Param, Rng};
use dlc::ir::{BinaryOp, CmpOp, DType, Op, ReduceOp, Shape, UnaryOp};
use dlc::tensor::Tensor;

fn unary_cases(u: UnaryOp, d: Domain) -> Vec<Case> {
    let name = u.name();
    vec![
        case(
            name,
            &[name],
            vec![p(&[2, 3], d)],
            Box::new(move |g, a| g.unary(u, a[0])),
        ),
        case(
            format!("{name} big"),
            &[name],
            vec![pn(&[3, 1, 4], d)],
            Box::new(move |g, a| {
                let b = g.broadcast_to(a[0], n_shape(&[5, 4]), vec![0, 1, 2]);
                g.unary(u, b)
            }),
        )
        .big(),
    ]
}

fn binary_cases(b: BinaryOp, da: Domain, db: Domain) -> Vec<Case> {
    let name = b.name();
    vec![
        case(
            name,
            &[name],
            vec![p(&[2, 2], da), p(&[2, 2], db)],
            Box::new(move |g, a| g.binary(b, a[0], a[1])),
        ),
        case(
            format!("{name} big"),
            &[name],
            vec![pn(&[3, 1, 4], da), p(&[5, 4], db)],
            Box::new(move |g, a| {
                let x = g.broadcast_to(a[0], n_shape(&[5, 4]), vec![0, 1, 2]);
                let y = g.broadcast_trailing(a[1], n_shape(&[5, 4]));
                g.binary(b, x, y)
            }),
        )
        .big(),
        // The same value on both sides: the two cotangents add up.
        case(
            format!("{name} self"),
            &[name],
            vec![p(&[3], da)],
            Box::new(move |g, a| g.binary(b, a[0], a[0])),
        ),
    ]
}

fn reduce_cases(op: ReduceOp, d: Domain) -> Vec<Case> {
    let name = op.name();
    let r = move |axes: Vec<usize>| -> Build {
        Box::new(move |g, a| {
            g.push(
                Op::Reduce {
                    op,
                    axes: axes.clone(),
                },
                &[a[0]],
                None,
            )
        })
    };
    vec![
        case(
            format!("{name} [1]"),
            &[name],
            vec![p(&[2, 3], d)],
            r(vec![1]),
        ),
        case(
            format!("{name} [0,2]"),
            &[name],
            vec![p(&[2, 3, 2], d)],
            r(vec![0, 2]),
        ),
        case(
            format!("{name} all"),
            &[name],
            vec![p(&[2, 3], d)],
            r(vec![0, 1]),
        ),
        case(
            format!("{name} big"),
            &[name],
            vec![pn(&[3, 1, 5, 2], d)],
            r(vec![1, 3]),
        )
        .big(),
        case(
            format!("{name} big N"),
            &[name],
            vec![pn(&[3, 4, 5], d)],
            r(vec![0, 2]),
        )
        .big(),
    ]
}

fn broadcast_case(name: &str, from: Param, to: Shape, dims: Vec<usize>) -> Case {
    case(
        format!("broadcast {name}"),
        &["broadcast"],
        vec![from],
        Box::new(move |g, a| g.broadcast_to(a[0], to.clone(), dims.clone())),
    )
}

pub fn cases() -> Vec<Case> {
    use Domain::*;
    let mut cs = Vec::new();
    for (u, d) in [
        (UnaryOp::Neg, Any),
        (UnaryOp::Exp, Any),
        (UnaryOp::Log, Positive),
        (UnaryOp::Sqrt, Positive),
        (UnaryOp::Recip, AwayFromZero),
        (UnaryOp::Tanh, Any),
        (UnaryOp::Sin, Any),
        (UnaryOp::Cos, Any),
        (UnaryOp::Abs, AwayFromZero),
    ] {
        cs.extend(unary_cases(u, d));
    }
    for (b, da, db) in [
        (BinaryOp::Add, Any, Any),
        (BinaryOp::Sub, Any, Any),
        (BinaryOp::Mul, Any, Any),
        (BinaryOp::Div, Any, AwayFromZero),
        (BinaryOp::Max, Lattice(0.25), Lattice(0.75)),
        (BinaryOp::Min, Lattice(0.25), Lattice(0.75)),
        (BinaryOp::Pow, Positive, Any),
    ] {
        cs.extend(binary_cases(b, da, db));
    }
    cs.extend(reduce_cases(ReduceOp::Sum, Any));
    cs.extend(reduce_cases(ReduceOp::Max, Distinct));

    cs.push(broadcast_case(
        "[3]->[2,3]",
        p(&[3], Any),
        Shape::fixed(&[2, 3]),
        vec![1],
    ));
    cs.push(broadcast_case(
        "[3]->[3,2]",
        p(&[3], Any),
        Shape::fixed(&[3, 2]),
        vec![0],
    ));
    cs.push(broadcast_case(
        "[2,1]->[2,3]",
        p(&[2, 1], Any),
        Shape::fixed(&[2, 3]),
        vec![0, 1],
    ));
    cs.push(broadcast_case(
        "[]->[2,2]",
        p(&[], Any),
        Shape::fixed(&[2, 2]),
        vec![],
    ));
    cs.push(
        broadcast_case(
            "[1,4]->[3,5,4]",
            p(&[1, 4], Any),
            Shape::fixed(&[3, 5, 4]),
            vec![1, 2],
        )
        .big(),
    );
    cs.push(
        broadcast_case(
            "[N,1,1]->[N,3,4]",
            pn(&[2, 1, 1], Any),
            n_shape(&[3, 4]),
            vec![0, 1, 2],
        )
        .big(),
    );

    let reshape = |to: Shape| -> Build { Box::new(move |g, a| g.reshape(a[0], to.clone())) };
    cs.push(case(
        "reshape",
        &["reshape"],
        vec![p(&[2, 3], Any)],
        reshape(Shape::fixed(&[3, 2])),
    ));
    cs.push(case(
        "reshape 1s",
        &["reshape"],
        vec![p(&[6], Any)],
        reshape(Shape::fixed(&[1, 2, 3])),
    ));
    cs.push(
        case(
            "reshape big",
            &["reshape"],
            vec![pn(&[3, 4, 5], Any)],
            reshape(n_shape(&[20])),
        )
        .big(),
    );

    let transpose =
        |perm: Vec<usize>| -> Build { Box::new(move |g, a| g.transpose(a[0], perm.clone())) };
    cs.push(case(
        "transpose 2d",
        &["transpose"],
        vec![p(&[2, 3], Any)],
        transpose(vec![1, 0]),
    ));
    cs.push(case(
        "transpose 3d",
        &["transpose"],
        vec![p(&[2, 3, 2], Any)],
        transpose(vec![2, 0, 1]),
    ));
    cs.push(
        case(
            "transpose big",
            &["transpose"],
            vec![pn(&[3, 4, 5], Any)],
            transpose(vec![1, 2, 0]),
        )
        .big(),
    );

    let mm: fn() -> Build = || Box::new(|g, a| g.matmul(a[0], a[1]));
    cs.push(case(
        "matmul",
        &["matmul"],
        vec![p(&[2, 3], Any), p(&[3, 2], Any)],
        mm(),
    ));
    cs.push(case(
        "matmul batched",
        &["matmul"],
        vec![p(&[2, 2, 3], Any), p(&[2, 3, 1], Any)],
        mm(),
    ));
    cs.push(
        case(
            "matmul big N",
            &["matmul"],
            vec![pn(&[3, 4, 5], Any), pn(&[3, 5, 2], Any)],
            mm(),
        )
        .big(),
    );
    cs.push(
        case(
            "matmul big 1s",
            &["matmul"],
            vec![p(&[2, 1, 4, 3], Any), p(&[2, 1, 3, 1], Any)],
            mm(),
        )
        .big(),
    );

    // select: the condition is data; each branch gets the cotangent where chosen.
    let mut rng = Rng(99);
    let cond = |rng: &mut Rng, shape: &[usize]| {
        let n = shape.iter().product();
        let v = (0..n).map(|_| rng.below(2) as f64).collect();
        Tensor::from_f64(DType::Bool, shape, v)
    };
    let mut s = case(
        "select",
        &["select"],
        vec![p(&[2, 3], Any), p(&[2, 3], Any)],
        Box::new(|g, a| g.select(a[2], a[0], a[1])),
    );
    s.data = vec![cond(&mut rng, &[2, 3])];
    cs.push(s);
    let mut s = case(
        "select big",
        &["select"],
        vec![p(&[4, 5], Any), p(&[1, 5], Any)],
        Box::new(|g, a| {
            let b = g.broadcast_to(a[1], Shape::fixed(&[4, 5]), vec![0, 1]);
            g.select(a[2], a[0], b)
        }),
    )
    .big();
    s.data = vec![cond(&mut rng, &[4, 5])];
    cs.push(s);

    // cast f64 -> f32 -> f64 on values and steps exact in f32.
    let round_trip: fn() -> Build = || {
        Box::new(|g, a| {
            let f = g.cast(a[0], DType::F32);
            let t = g.unary(UnaryOp::Neg, f);
            g.cast(t, DType::F64)
        })
    };
    let mut c = case("cast", &["cast"], vec![p(&[2, 3], Dyadic)], round_trip());
    c.h = (2.0f64).powi(-10);
    cs.push(c);
    let mut c = case(
        "cast big",
        &["cast"],
        vec![pn(&[4, 5], Dyadic)],
        round_trip(),
    )
    .big();
    c.h = (2.0f64).powi(-10);
    cs.push(c);

    // Compositions: fan-out, and non-differentiable ops inside a
    // differentiable function (their zero gradient must be right).
    cs.push(case(
        "fan-out x*x + sin(x) - x",
        &[],
        vec![p(&[2, 3], Any)],
        Box::new(|g, a| {
            let sq = g.mul(a[0], a[0]);
            let s = g.unary(UnaryOp::Sin, a[0]);
            let t = g.add(sq, s);
            g.sub(t, a[0])
        }),
    ));
    cs.push(case(
        "sign(x) * x",
        &["sign"],
        vec![p(&[2, 3], AwayFromZero)],
        Box::new(|g, a| {
            let s = g.unary(UnaryOp::Sign, a[0]);
            g.mul(s, a[0])
        }),
    ));
    cs.push(case(
        "relu via gt and select",
        &["gt", "const"],
        vec![p(&[2, 3], AwayFromZero)],
        Box::new(|g, a| {
            let z = g.constant_like(0.0, a[0]);
            let pos = g.compare(CmpOp::Gt, a[0], z);
            g.select(pos, a[0], z)
        }),
    ));
    cs.push(
        case(
            "mean over N divides by dim",
            &["dim"],
            vec![pn(&[3, 4], Any)],
            Box::new(|g, a| g.mean(a[0], vec![0])),
        )
        .big(),
    );
    cs.push(case(
        "x * cast(cast(x, i32), f64) + iota",
        &["iota"],
        vec![p(&[2, 3], Lattice(0.5))],
        Box::new(|g, a| {
            let i = g.cast(a[0], DType::I32);
            let f = g.cast(i, DType::F64);
            let m = g.mul(a[0], f);
            let ty = g.ty(a[0]).clone();
            let io = g.push(Op::Iota { axis: 1 }, &[], Some(ty));
            g.add(m, io)
        }),
    ));
    // Dropout: a random mask (no gradient of its own) scales the input.
    let mut c = case(
        "dropout: x * (uniform >= 0.5) * 2",
        &["random_uniform"],
        vec![p(&[3, 4], Any)],
        Box::new(|g, a| {
            let ty = g.ty(a[0]).clone();
            let u = g.random(dlc::ir::Dist::Uniform, a[1], 5, ty);
            let half = g.constant_like(0.5, u);
            let keep = g.compare(CmpOp::Ge, u, half);
            let mask = g.cast(keep, DType::F64);
            let y = g.mul(a[0], mask);
            g.scale(y, 2.0)
        }),
    );
    c.data = vec![Tensor::scalar(DType::I32, 11.0)];
    cs.push(c);
    cs.extend(super::movement::cases());
    cs.extend(super::window::cases());
    cs.extend(super::scan::cases());
    cs
}
