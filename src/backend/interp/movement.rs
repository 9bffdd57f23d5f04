//! The interpreter's movement kernels: slice, pad, concat and reverse, each
//! a strided view or a strided assignment, so the element loops run inside
//! ndarray. Like every kernel here they return standard-layout arrays.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};

/// A strided view as a fresh standard-layout array.
fn owned<T: Clone>(v: ArrayViewD<T>) -> ArrayD<T> {
    v.as_standard_layout().into_owned()
}

/// Elements `start[i], start[i] + stride[i], ...` below `stop[i]` per axis.
pub fn slice<T: Clone>(
    a: &ArrayD<T>,
    start: &[usize],
    stop: &[usize],
    stride: &[usize],
) -> ArrayD<T> {
    owned(a.slice_each_axis(|ax| {
        let i = ax.axis.index();
        Slice::new(
            start[i] as isize,
            Some(stop[i] as isize),
            stride[i] as isize,
        )
    }))
}

/// `a` spread into an array of `shape` filled with `value`: its elements
/// start at `low[i]` and sit `interior[i] + 1` apart.
pub fn pad<T: Clone>(
    a: &ArrayD<T>,
    low: &[usize],
    interior: &[usize],
    value: T,
    shape: &[usize],
) -> ArrayD<T> {
    let mut out = ArrayD::from_elem(IxDyn(shape), value);
    out.slice_each_axis_mut(|ax| {
        let i = ax.axis.index();
        let step = interior[i] + 1;
        let n = a.shape()[i];
        let end = low[i] + if n == 0 { 0 } else { (n - 1) * step + 1 };
        Slice::new(low[i] as isize, Some(end as isize), step as isize)
    })
    .assign(a);
    out
}

/// The parts joined along `axis` (the typing rule made their other axes
/// agree).
pub fn concat<T: Clone>(parts: &[ArrayViewD<T>], axis: usize) -> ArrayD<T> {
    match ndarray::concatenate(Axis(axis), parts) {
        Ok(a) if a.is_standard_layout() => a,
        Ok(a) => owned(a.view()),
        Err(e) => panic!("internal: concat of well-typed parts failed: {e}"),
    }
}

/// The elements in reverse order along `axes`.
pub fn reverse<T: Clone>(a: &ArrayD<T>, axes: &[usize]) -> ArrayD<T> {
    let mut v = a.view();
    for &ax in axes {
        v.invert_axis(Axis(ax));
    }
    owned(v)
}
