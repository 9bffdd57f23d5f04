//! Gradient checks of `scan` (backpropagation through time) in f64 against
//! central differences: a linear recurrence, the tanh RNN cell over T = 1
//! to 5, a cell with two carries (LSTM-like `c` and `h`), a reverse scan,
//! a scan nested in a body, a time-major scan with a scalar carry, an
//! integer mask sequence, an integer carry, no carries at all and an empty
//! sequence. Every case differentiates with
//! respect to the initial carries, the sequences and the invariants at
//! once, and checks the final carries, the stacked outputs, or both. Small
//! cases compare the full Jacobian; big ones (symbolic `N` and `T`) random
//! directions.

use super::{case, Case, Domain, Param};
use crate::scan::{body, f64t, linear_body, nested_body, rnn_body, scan1, two_carry_body};
use dlc::ir::{DType, Graph, Scan, Shape, TensorType, UnaryOp, Value};
use dlc::tensor::Tensor;

/// A parameter of type `dims` (symbols allowed) drawn at run-time `shape`.
fn sp(dims: &[&str], shape: &[usize], domain: Domain) -> Param {
    Param {
        ty: f64t(dims),
        shape: shape.to_vec(),
        domain,
    }
}

/// A fixed-shape parameter.
fn fp(shape: &[usize], domain: Domain) -> Param {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let dims: Vec<&str> = dims.iter().map(|s| s.as_str()).collect();
    sp(&dims, shape, domain)
}

const W: Domain = Domain::Uniform(-1.0, 1.0);

/// Which results of the scan the case's output is.
#[derive(Clone, Copy)]
enum Out {
    /// Final carry `k`.
    Carry(usize),
    /// Stacked output `k` (counted after the carries).
    Stacked(usize),
    /// Stacked output 0 plus final carry 0 broadcast to it (along the time
    /// axis, and the leading axes if the carry has fewer).
    Both,
}

fn pick(g: &mut Graph, scan: &Scan, r: &[Value], out: Out) -> Value {
    match out {
        Out::Carry(k) => r[k],
        Out::Stacked(k) => r[scan.carries + k],
        Out::Both => {
            let y = r[scan.carries];
            let shape = g.ty(y).shape.clone();
            let dims: Vec<usize> = (0..shape.rank()).filter(|&d| d != scan.axis).collect();
            // A carry of lower rank than a step's output aligns to the right.
            let dims = dims[dims.len() - g.ty(r[0]).rank()..].to_vec();
            let h = g.broadcast_to(r[0], shape, dims);
            g.add(y, h)
        }
    }
}

/// A case running `scan` over the params (in operand order) and checking
/// the result `out`.
fn scan_case(name: String, scan: Scan, params: Vec<Param>, out: Out) -> Case {
    case(
        name,
        &["scan", "get"],
        params,
        Box::new(move |g, a| {
            let r = g.scan(scan.clone(), a);
            pick(g, &scan, &r, out)
        }),
    )
}

fn rnn_params(n: usize, t: usize, feat: usize, hid: usize) -> Vec<Param> {
    vec![
        fp(&[n, hid], Domain::Any),
        fp(&[n, t, feat], Domain::Any),
        fp(&[feat, hid], W),
        fp(&[hid, hid], W),
        fp(&[hid], W),
    ]
}

fn lstm_params(n: usize, t: usize, feat: usize, hid: usize) -> Vec<Param> {
    let mut ps = vec![
        fp(&[n, hid], Domain::Any),
        fp(&[n, hid], Domain::Any),
        fp(&[n, t, feat], Domain::Any),
    ];
    ps.extend((0..4).map(|_| fp(&[feat, hid], W)));
    ps.push(fp(&[hid, hid], W));
    ps
}

pub fn cases() -> Vec<Case> {
    let mut cs = Vec::new();
    for (what, out) in [("last", Out::Carry(0)), ("all", Out::Stacked(0))] {
        cs.push(scan_case(
            format!("scan linear {what}"),
            scan1(linear_body("2", 3), 1),
            vec![
                fp(&[2, 3], Domain::Any),
                fp(&[2, 3, 3], Domain::Any),
                fp(&[3], Domain::Any),
            ],
            out,
        ));
    }
    cs.push(scan_case(
        "scan linear T=0".into(),
        scan1(linear_body("2", 3), 1),
        vec![
            fp(&[2, 3], Domain::Any),
            fp(&[2, 0, 3], Domain::Any),
            fp(&[3], Domain::Any),
        ],
        Out::Carry(0),
    ));
    for t in 1..=5 {
        for (what, out) in [
            ("last", Out::Carry(0)),
            ("all", Out::Stacked(0)),
            ("both", Out::Both),
        ] {
            cs.push(scan_case(
                format!("scan tanh rnn T={t} {what}"),
                scan1(rnn_body("2", 2, 3), 1),
                rnn_params(2, t, 2, 3),
                out,
            ));
        }
    }
    let mut reverse = scan1(rnn_body("2", 2, 3), 1);
    reverse.reverse = true;
    cs.push(scan_case(
        "scan reverse tanh rnn T=3 both".into(),
        reverse,
        rnn_params(2, 3, 2, 3),
        Out::Both,
    ));
    for (what, out) in [
        ("last c", Out::Carry(0)),
        ("last h", Out::Carry(1)),
        ("all", Out::Stacked(0)),
    ] {
        cs.push(scan_case(
            format!("scan two carries T=3 {what}"),
            scan1(two_carry_body("2", 2, 2), 2),
            lstm_params(2, 3, 2, 2),
            out,
        ));
    }
    cs.push(scan_case(
        "scan nested both".into(),
        scan1(nested_body(), 1),
        vec![
            sp(&["N", "1"], &[2, 1], Domain::Uniform(-0.5, 0.5)),
            sp(&["N", "T", "3"], &[2, 2, 3], Domain::Uniform(-0.5, 0.5)),
        ],
        Out::Both,
    ));
    cs.push(time_major_scalar_carry());
    cs.push(no_carries());
    cs.push(int_carry());
    cs.push(masked());

    // Symbolic batch and length: random directions only.
    let sym = |n: usize, t: usize, feat: usize, hid: usize| {
        let (fs, hs) = (feat.to_string(), hid.to_string());
        vec![
            sp(&["N", &hs], &[n, hid], Domain::Any),
            sp(&["N", "T", &fs], &[n, t, feat], Domain::Any),
            fp(&[feat, hid], W),
            fp(&[hid, hid], W),
            fp(&[hid], W),
        ]
    };
    cs.push(
        scan_case(
            "scan tanh rnn N T big".into(),
            scan1(rnn_body("N", 3, 4), 1),
            sym(3, 4, 3, 4),
            Out::Both,
        )
        .big(),
    );
    let lstm = || {
        let mut ps = vec![
            sp(&["N", "3"], &[4, 3], Domain::Any),
            sp(&["N", "3"], &[4, 3], Domain::Any),
            sp(&["N", "T", "2"], &[4, 6, 2], Domain::Any),
        ];
        ps.extend((0..4).map(|_| fp(&[2, 3], W)));
        ps.push(fp(&[3, 3], W));
        ps
    };
    for (what, out) in [("last h", Out::Carry(1)), ("all", Out::Stacked(0))] {
        cs.push(
            scan_case(
                format!("scan two carries N T big {what}"),
                scan1(two_carry_body("N", 2, 3), 2),
                lstm(),
                out,
            )
            .big(),
        );
    }
    cs
}

/// Time-major (`axis=0`) with a scalar carry:
/// `s' = s / 2 + sum(tanh(x_t * w))`, `y_t = x_t * s'`.
fn time_major_scalar_carry() -> Case {
    let b = body(
        "scalar",
        &[("s", f64t(&[])), ("x", f64t(&["3"])), ("w", f64t(&["3"]))],
        |g, a| {
            let half = g.scale(a[0], 0.5);
            let xw = g.mul(a[1], a[2]);
            let t = g.unary(UnaryOp::Tanh, xw);
            let sum = g.sum(t, vec![0]);
            let s = g.add(half, sum);
            let sb = g.broadcast_to(s, Shape::fixed(&[3]), vec![]);
            let y = g.mul(a[1], sb);
            vec![("s", s), ("y", y)]
        },
    );
    let scan = Scan {
        axis: 0,
        ..scan1(b, 1)
    };
    scan_case(
        "scan time-major scalar carry".into(),
        scan,
        vec![fp(&[], Domain::Any), fp(&[4, 3], Domain::Any), fp(&[3], W)],
        Out::Both,
    )
}

/// No carries: `y_t = tanh(x_t w)` with an invariant `w`.
fn no_carries() -> Case {
    let b = body(
        "map",
        &[("x", f64t(&["2", "3"])), ("w", f64t(&["3", "2"]))],
        |g, a| {
            let m = g.matmul(a[0], a[1]);
            vec![("y", g.unary(UnaryOp::Tanh, m))]
        },
    );
    scan_case(
        "scan without carries".into(),
        scan1(b, 0),
        vec![fp(&[2, 4, 3], Domain::Any), fp(&[3, 2], W)],
        Out::Stacked(0),
    )
}

/// An i32 step counter `k` next to a float carry: `k' = k + 1`,
/// `h' = tanh(h * k' + x)`.
fn int_carry() -> Case {
    let i32t = TensorType::new(DType::I32, Shape::fixed(&[2]));
    let b = body(
        "counted",
        &[
            ("k", i32t.clone()),
            ("h", f64t(&["2", "3"])),
            ("x", f64t(&["2", "3"])),
        ],
        |g, a| {
            let one = g.constant_like(1.0, a[0]);
            let k = g.add(a[0], one);
            let kf = g.cast(k, DType::F64);
            let kb = g.broadcast_to(kf, Shape::fixed(&[2, 3]), vec![0]);
            let hk = g.mul(a[1], kb);
            let s = g.add(hk, a[2]);
            let h = g.unary(UnaryOp::Tanh, s);
            vec![("k", k), ("h", h), ("y", h)]
        },
    );
    let scan = scan1(b, 2);
    case(
        "scan with an integer carry",
        &["scan", "get"],
        vec![
            sp(&["2", "3"], &[2, 3], Domain::Uniform(-0.5, 0.5)),
            fp(&[2, 3, 3], Domain::Uniform(-0.5, 0.5)),
        ],
        Box::new(move |g, a| {
            let k0 = g.constant(0.0, i32t.clone());
            let r = g.scan(scan.clone(), &[k0, a[0], a[1]]);
            let shape = g.ty(r[2]).shape.clone();
            let h = g.broadcast_to(r[1], shape, vec![0, 2]);
            g.add(r[2], h)
        }),
    )
}

/// An i32 mask sequence (a data input): `h' = h + m_t * x_t`.
fn masked() -> Case {
    let b = body(
        "masked",
        &[
            ("h", f64t(&["2", "3"])),
            ("x", f64t(&["2", "3"])),
            ("m", TensorType::new(DType::I32, Shape::fixed(&[2]))),
        ],
        |g, a| {
            let mf = g.cast(a[2], DType::F64);
            let mb = g.broadcast_to(mf, Shape::fixed(&[2, 3]), vec![0]);
            let mx = g.mul(mb, a[1]);
            let h = g.add(a[0], mx);
            let h = g.unary(UnaryOp::Sin, h);
            vec![("h", h), ("y", h)]
        },
    );
    let scan = Scan {
        sequences: 2,
        ..scan1(b, 1)
    };
    let mut c = case(
        "scan with an integer mask sequence",
        &["scan", "get"],
        vec![fp(&[2, 3], Domain::Any), fp(&[2, 4, 3], Domain::Any)],
        Box::new(move |g, a| {
            let r = g.scan(scan.clone(), &[a[0], a[1], a[2]]);
            pick(g, &scan, &r, Out::Both)
        }),
    );
    c.data = vec![Tensor::from_f64(
        DType::I32,
        &[2, 4],
        vec![1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0],
    )];
    c
}
