//! Parameter initialization: draws a parameter's first values from the
//! seeded generator by the formulas in [`crate::sema::init::Init`]. Values
//! are drawn in f64, one draw per element in row-major order, then converted
//! to the parameter's dtype, so f32 and f64 runs start from the same numbers
//! up to rounding.

use crate::ir::DType;
use crate::runtime::rng::Rng;
use crate::sema::init::Init;
use crate::tensor::Tensor;

/// A tensor of `dtype` and `shape` initialized by `init`. `fan_in` and
/// `fan_out` are the layer's (for dense: input and output features); a zero
/// fan counts as one so a degenerate layer gets finite values.
pub fn init_tensor(
    init: &Init,
    dtype: DType,
    shape: &[usize],
    fan_in: usize,
    fan_out: usize,
    rng: &mut Rng,
) -> Tensor {
    let n: usize = shape.iter().product();
    let fan_in = fan_in.max(1) as f64;
    let fan_sum = (fan_in + fan_out as f64).max(1.0);
    let uniform = |rng: &mut Rng, low: f64, high: f64| -> Vec<f64> {
        (0..n).map(|_| low + (high - low) * rng.uniform()).collect()
    };
    let normal = |rng: &mut Rng, mean: f64, std: f64| -> Vec<f64> {
        (0..n).map(|_| mean + std * rng.normal()).collect()
    };
    let values = match *init {
        Init::Zeros => return Tensor::full(dtype, shape, 0.0),
        Init::Ones => return Tensor::full(dtype, shape, 1.0),
        Init::Constant(c) => return Tensor::full(dtype, shape, c),
        Init::GlorotUniform => {
            let a = (6.0 / fan_sum).sqrt();
            uniform(rng, -a, a)
        }
        Init::GlorotNormal => normal(rng, 0.0, (2.0 / fan_sum).sqrt()),
        Init::HeUniform => {
            let a = (6.0 / fan_in).sqrt();
            uniform(rng, -a, a)
        }
        Init::HeNormal => normal(rng, 0.0, (2.0 / fan_in).sqrt()),
        Init::LecunNormal => normal(rng, 0.0, (1.0 / fan_in).sqrt()),
        Init::Uniform { low, high } => uniform(rng, low, high),
        Init::Normal { mean, std } => normal(rng, mean, std),
    };
    Tensor::from_f64(dtype, shape, values)
}
