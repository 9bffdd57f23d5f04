//! The interpreter's `reduce_window_*` (pooling): the input padded with the
//! reduction's identity (0 for sum, the lowest value for max, so padding
//! never wins), then one strided view per window tap folded into the
//! result. Pooling windows are small, so this is a handful of strided
//! passes over the output.

use ndarray::{ArrayD, IxDyn, Slice};

use super::kernels::Num;
use super::movement;
use crate::ir::{ReduceOp, Window};

pub fn reduce_window<T: Num>(op: ReduceOp, a: &ArrayD<T>, w: &Window, out: &[usize]) -> ArrayD<T> {
    let (init, f): (T, fn(T, T) -> T) = match op {
        ReduceOp::Sum => (T::ZERO, T::plus),
        ReduceOp::Max => (T::LOWEST, T::max_of),
    };
    let r = a.ndim();
    let padded;
    let src = if w.pad_low.iter().chain(&w.pad_high).all(|&p| p == 0) {
        a
    } else {
        let shape: Vec<usize> = (0..r)
            .map(|i| w.pad_low[i] + a.shape()[i] + w.pad_high[i])
            .collect();
        padded = movement::pad(a, &w.pad_low, &vec![0; r], init, &shape);
        &padded
    };
    let mut acc = ArrayD::from_elem(IxDyn(out), init);
    let taps: usize = w.size.iter().product();
    let mut tap = vec![0usize; r];
    for t in 0..taps {
        let mut rest = t;
        for i in (0..r).rev() {
            tap[i] = rest % w.size[i];
            rest /= w.size[i];
        }
        let view = src.slice_each_axis(|ax| {
            let i = ax.axis.index();
            // An empty output axis (a batch of 0) reads nothing.
            let end = match out[i] {
                0 => tap[i],
                y => tap[i] + (y - 1) * w.stride[i] + 1,
            };
            Slice::new(tap[i] as isize, Some(end as isize), w.stride[i] as isize)
        });
        acc.zip_mut_with(&view, |x, &y| *x = f(*x, y));
    }
    acc
}
