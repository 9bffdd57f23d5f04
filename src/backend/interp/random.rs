//! The interpreter's `random_uniform` and `random_normal`: element `i` of
//! the result from Philox block `i`, exactly as `crate::random` defines it
//! (so the numbers do not depend on the backend or the order of work).

use ndarray::{ArrayD, IxDyn};

use crate::ir::Dist;
use crate::random::{element_block, normal_of, unit_f32, unit_f64};

pub fn random_f32(dist: Dist, key: i32, stream: u64, shape: &[usize]) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    let v = (0..n as u64)
        .map(|i| {
            let b = element_block(key, stream, i);
            match dist {
                Dist::Uniform => unit_f32(b[0]),
                Dist::Normal => normal_of(b) as f32,
            }
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), v).expect("internal: random shape")
}

pub fn random_f64(dist: Dist, key: i32, stream: u64, shape: &[usize]) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    let v = (0..n as u64)
        .map(|i| {
            let b = element_block(key, stream, i);
            match dist {
                Dist::Uniform => unit_f64(b[0], b[1]),
                Dist::Normal => normal_of(b),
            }
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), v).expect("internal: random shape")
}
