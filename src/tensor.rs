//! Host tensors: the values that flow into and out of a compiled graph. Every
//! backend takes and returns these; the runtime builds them from data files.

use ndarray::{ArrayD, IxDyn};

use crate::ir::{DType, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub enum Tensor {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
    I32(ArrayD<i32>),
    Bool(ArrayD<bool>),
}

impl Tensor {
    pub fn dtype(&self) -> DType {
        match self {
            Tensor::F32(_) => DType::F32,
            Tensor::F64(_) => DType::F64,
            Tensor::I32(_) => DType::I32,
            Tensor::Bool(_) => DType::Bool,
        }
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Tensor::F32(a) => a.shape(),
            Tensor::F64(a) => a.shape(),
            Tensor::I32(a) => a.shape(),
            Tensor::Bool(a) => a.shape(),
        }
    }

    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A tensor of `dtype` and `shape` with every element `value`.
    pub fn full(dtype: DType, shape: &[usize], value: f64) -> Tensor {
        let s = IxDyn(shape);
        match dtype {
            DType::F32 => Tensor::F32(ArrayD::from_elem(s, value as f32)),
            DType::F64 => Tensor::F64(ArrayD::from_elem(s, value)),
            DType::I32 => Tensor::I32(ArrayD::from_elem(s, value as i32)),
            DType::Bool => Tensor::Bool(ArrayD::from_elem(s, value != 0.0)),
        }
    }

    pub fn zeros(ty: &TensorType, shape: &[usize]) -> Tensor {
        Tensor::full(ty.dtype, shape, 0.0)
    }

    /// A scalar (rank 0) tensor.
    pub fn scalar(dtype: DType, value: f64) -> Tensor {
        Tensor::full(dtype, &[], value)
    }

    /// Builds a tensor from row-major `f64` values, converting to `dtype`.
    pub fn from_f64(dtype: DType, shape: &[usize], values: Vec<f64>) -> Tensor {
        let s = IxDyn(shape);
        let conv = |f: &dyn Fn(f64) -> f64| values.iter().map(|&v| f(v)).collect::<Vec<f64>>();
        match dtype {
            DType::F64 => {
                Tensor::F64(ArrayD::from_shape_vec(s, values).expect("shape matches data"))
            }
            DType::F32 => Tensor::F32(
                ArrayD::from_shape_vec(s, values.iter().map(|&v| v as f32).collect())
                    .expect("shape matches data"),
            ),
            DType::I32 => Tensor::I32(
                ArrayD::from_shape_vec(s, conv(&|v| v).iter().map(|&v| v as i32).collect())
                    .expect("shape matches data"),
            ),
            DType::Bool => Tensor::Bool(
                ArrayD::from_shape_vec(s, values.iter().map(|&v| v != 0.0).collect())
                    .expect("shape matches data"),
            ),
        }
    }

    /// All elements, row-major, as `f64` (for metrics, tests and printing).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            Tensor::F32(a) => a.iter().map(|&v| v as f64).collect(),
            Tensor::F64(a) => a.iter().copied().collect(),
            Tensor::I32(a) => a.iter().map(|&v| v as f64).collect(),
            Tensor::Bool(a) => a.iter().map(|&v| if v { 1.0 } else { 0.0 }).collect(),
        }
    }

    /// The single element of a scalar or one-element tensor.
    pub fn item(&self) -> f64 {
        let v = self.to_f64_vec();
        assert_eq!(v.len(), 1, "item() of a tensor with {} elements", v.len());
        v[0]
    }

    /// Converts to another dtype (a copy).
    pub fn cast(&self, dtype: DType) -> Tensor {
        if self.dtype() == dtype {
            return self.clone();
        }
        Tensor::from_f64(dtype, self.shape(), self.to_f64_vec())
    }
}
