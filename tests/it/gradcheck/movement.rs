//! Gradient checks of the movement ops: slice (strided, and keeping a
//! symbolic axis whole), pad (low, high and interior), concat (several
//! parts, and one value twice, whose cotangents add) and reverse; and of
//! the indexing ops, gather and scatter_add, with repeated indices (whose
//! cotangents accumulate) and indices of rank 0, 1 and 2.

use super::{case, n_shape, p, pn, Case, Domain};
use dlc::ir::{DType, Dim, Shape};
use dlc::tensor::Tensor;

fn fixed(xs: &[usize]) -> Vec<Dim> {
    xs.iter().map(|&x| Dim::Fixed(x)).collect()
}

fn n_dims(rest: &[usize]) -> Vec<Dim> {
    n_shape(rest).0
}

pub fn cases() -> Vec<Case> {
    use Domain::*;
    let mut cs = Vec::new();

    cs.push(case(
        "slice",
        &["slice"],
        vec![p(&[3, 4], Any)],
        Box::new(|g, a| g.slice(a[0], vec![1, 0], fixed(&[3, 4]), vec![1, 2])),
    ));
    cs.push(case(
        "slice strided with a remainder",
        &["slice"],
        vec![p(&[5, 3], Any)],
        Box::new(|g, a| g.slice(a[0], vec![0, 1], fixed(&[5, 2]), vec![3, 1])),
    ));
    cs.push(
        case(
            "slice big",
            &["slice"],
            vec![pn(&[3, 7, 4], Any)],
            Box::new(|g, a| g.slice(a[0], vec![0, 1, 0], n_dims(&[7, 3]), vec![1, 3, 2])),
        )
        .big(),
    );

    cs.push(case(
        "pad",
        &["pad"],
        vec![p(&[2, 3], Any)],
        Box::new(|g, a| g.pad(a[0], vec![1, 0], vec![0, 2], vec![0, 1], 0.5)),
    ));
    cs.push(
        case(
            "pad big",
            &["pad"],
            vec![pn(&[3, 4, 2], Any)],
            Box::new(|g, a| g.pad(a[0], vec![0, 1, 2], vec![0, 0, 1], vec![0, 2, 0], 0.0)),
        )
        .big(),
    );
    // pad and slice undo each other; the composition is the identity.
    cs.push(case(
        "slice of pad",
        &["slice", "pad"],
        vec![p(&[2, 3], Any)],
        Box::new(|g, a| {
            let x = g.pad(a[0], vec![1, 2], vec![1, 0], vec![1, 1], -1.0);
            g.slice(x, vec![1, 2], fixed(&[4, 7]), vec![2, 2])
        }),
    ));

    cs.push(case(
        "concat",
        &["concat"],
        vec![p(&[2, 1], Any), p(&[2, 3], Any), p(&[2, 2], Any)],
        Box::new(|g, a| g.concat(&[a[0], a[1], a[2]], 1)),
    ));
    cs.push(case(
        "concat self",
        &["concat"],
        vec![p(&[2, 2], Any)],
        Box::new(|g, a| g.concat(&[a[0], a[0]], 0)),
    ));
    cs.push(
        case(
            "concat big",
            &["concat"],
            vec![pn(&[3, 2, 4], Any), pn(&[3, 5, 4], Any)],
            Box::new(|g, a| g.concat(&[a[0], a[1]], 1)),
        )
        .big(),
    );

    cs.push(case(
        "reverse",
        &["reverse"],
        vec![p(&[2, 3], Any)],
        Box::new(|g, a| g.reverse(a[0], vec![1])),
    ));
    cs.push(case(
        "reverse both",
        &["reverse"],
        vec![p(&[2, 3], Any)],
        Box::new(|g, a| g.reverse(a[0], vec![0, 1])),
    ));
    cs.push(
        case(
            "reverse big",
            &["reverse"],
            vec![pn(&[3, 4, 5], Any)],
            Box::new(|g, a| {
                let r = g.reverse(a[0], vec![0, 2]);
                g.reshape(r, Shape(n_dims(&[20])))
            }),
        )
        .big(),
    );
    cs.extend(indexing());
    cs
}

fn indices(shape: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_f64(DType::I32, shape, v.to_vec())
}

fn indexing() -> Vec<Case> {
    use Domain::*;
    let mut cs = Vec::new();
    // The index input follows the params: a[1] for gather.
    let mut c = case(
        "gather",
        &["gather"],
        vec![p(&[4, 2], Any)],
        Box::new(|g, a| g.gather(a[0], a[1])),
    );
    c.data = vec![indices(&[3], &[2.0, 0.0, 2.0])];
    cs.push(c);
    let mut c = case(
        "gather of a scalar index",
        &["gather"],
        vec![p(&[3, 2], Any)],
        Box::new(|g, a| g.gather(a[0], a[1])),
    );
    c.data = vec![indices(&[], &[1.0])];
    cs.push(c);
    let mut c = case(
        "gather big",
        &["gather"],
        vec![pn(&[5, 3, 2], Any)],
        Box::new(|g, a| g.gather(a[0], a[1])),
    )
    .big();
    c.data = vec![indices(&[2, 3], &[4.0, 0.0, 4.0, 1.0, 4.0, 2.0])];
    cs.push(c);

    let mut c = case(
        "scatter_add",
        &["scatter_add"],
        vec![p(&[3, 2], Any), p(&[4, 2], Any)],
        Box::new(|g, a| g.scatter_add(a[0], a[2], a[1])),
    );
    c.data = vec![indices(&[4], &[0.0, 2.0, 0.0, 1.0])];
    cs.push(c);
    let mut c = case(
        "scatter_add big",
        &["scatter_add"],
        vec![pn(&[4, 3], Any), p(&[2, 2, 3], Any)],
        Box::new(|g, a| g.scatter_add(a[0], a[2], a[1])),
    )
    .big();
    c.data = vec![indices(&[2, 2], &[3.0, 0.0, 3.0, 1.0])];
    cs.push(c);
    cs
}
