//! Short constructors for common node shapes, used by lowering, autodiff and
//! the optimizers. Each is one `Graph::push`; a type error is a compiler bug.

use super::graph::{Graph, Value};
use super::op::{BinaryOp, CmpOp, ConvAttrs, Dist, Op, ReduceOp, UnaryOp, Window};
use super::types::{DType, Dim, Shape, TensorType};

impl Graph {
    pub fn unary(&mut self, op: UnaryOp, a: Value) -> Value {
        self.push(Op::Unary(op), &[a], None)
    }
    pub fn binary(&mut self, op: BinaryOp, a: Value, b: Value) -> Value {
        self.push(Op::Binary(op), &[a, b], None)
    }
    pub fn compare(&mut self, op: CmpOp, a: Value, b: Value) -> Value {
        self.push(Op::Compare(op), &[a, b], None)
    }
    pub fn add(&mut self, a: Value, b: Value) -> Value {
        self.binary(BinaryOp::Add, a, b)
    }
    pub fn sub(&mut self, a: Value, b: Value) -> Value {
        self.binary(BinaryOp::Sub, a, b)
    }
    pub fn mul(&mut self, a: Value, b: Value) -> Value {
        self.binary(BinaryOp::Mul, a, b)
    }
    pub fn div(&mut self, a: Value, b: Value) -> Value {
        self.binary(BinaryOp::Div, a, b)
    }
    pub fn neg(&mut self, a: Value) -> Value {
        self.unary(UnaryOp::Neg, a)
    }
    pub fn select(&mut self, cond: Value, a: Value, b: Value) -> Value {
        self.push(Op::Select, &[cond, a, b], None)
    }
    pub fn matmul(&mut self, a: Value, b: Value) -> Value {
        self.push(Op::MatMul, &[a, b], None)
    }

    /// A constant of type `ty`, every element `value`.
    pub fn constant(&mut self, value: f64, ty: TensorType) -> Value {
        self.push(Op::Const { value }, &[], Some(ty))
    }
    /// A constant with the type of `like`.
    pub fn constant_like(&mut self, value: f64, like: Value) -> Value {
        let ty = self.ty(like).clone();
        self.constant(value, ty)
    }
    /// `a * s` for a scalar `s`.
    pub fn scale(&mut self, a: Value, s: f64) -> Value {
        let c = self.constant_like(s, a);
        self.mul(a, c)
    }

    pub fn cast(&mut self, a: Value, dtype: DType) -> Value {
        let ty = self.ty(a).with_dtype(dtype);
        self.push(Op::Cast, &[a], Some(ty))
    }

    pub fn reshape(&mut self, a: Value, shape: Shape) -> Value {
        let ty = TensorType::new(self.ty(a).dtype, shape);
        self.push(Op::Reshape, &[a], Some(ty))
    }

    pub fn transpose(&mut self, a: Value, perm: Vec<usize>) -> Value {
        self.push(Op::Transpose { perm }, &[a], None)
    }
    /// Swaps the last two axes.
    pub fn transpose_last2(&mut self, a: Value) -> Value {
        let r = self.ty(a).rank();
        let mut perm: Vec<usize> = (0..r).collect();
        perm.swap(r - 2, r - 1);
        self.transpose(a, perm)
    }

    pub fn reduce(&mut self, op: ReduceOp, a: Value, axes: Vec<usize>) -> Value {
        if axes.is_empty() {
            return a;
        }
        self.push(Op::Reduce { op, axes }, &[a], None)
    }
    pub fn sum(&mut self, a: Value, axes: Vec<usize>) -> Value {
        self.reduce(ReduceOp::Sum, a, axes)
    }
    /// The mean over `axes`, dividing by their run-time sizes.
    pub fn mean(&mut self, a: Value, axes: Vec<usize>) -> Value {
        let dtype = self.ty(a).dtype;
        let count = self.count(a, &axes, dtype);
        let s = self.sum(a, axes);
        let c = self.broadcast_to(count, self.ty(s).shape.clone(), vec![]);
        self.div(s, c)
    }
    /// The number of elements over `axes` of `a`, as a scalar: a constant
    /// when the axes are fixed, a product of `dim` nodes otherwise.
    pub fn count(&mut self, a: Value, axes: &[usize], dtype: DType) -> Value {
        let dims = self.ty(a).shape.0.clone();
        let fixed: usize = axes.iter().filter_map(|&i| dims[i].fixed()).product();
        let mut acc = self.constant(fixed as f64, TensorType::scalar(dtype));
        for &i in axes {
            if let Dim::Sym(_) = dims[i] {
                let d = self.push(
                    Op::DimSize { axis: i },
                    &[a],
                    Some(TensorType::scalar(dtype)),
                );
                acc = self.mul(acc, d);
            }
        }
        acc
    }

    /// Broadcasts `a` to `shape`; operand axis `i` lands on `dims[i]`.
    pub fn broadcast_to(&mut self, a: Value, shape: Shape, dims: Vec<usize>) -> Value {
        let ty = TensorType::new(self.ty(a).dtype, shape);
        if dims.len() == ty.rank() && *self.ty(a) == ty {
            return a;
        }
        self.push(Op::Broadcast { dims }, &[a], Some(ty))
    }
    /// Broadcasts `a` back over the axes a reduction removed, to `shape`.
    pub fn broadcast_reduced(&mut self, a: Value, shape: Shape, reduced: &[usize]) -> Value {
        let dims = (0..shape.rank()).filter(|i| !reduced.contains(i)).collect();
        self.broadcast_to(a, shape, dims)
    }
    /// Broadcasts trailing-aligned, NumPy style: `[C]` to `[N, C]`.
    pub fn broadcast_trailing(&mut self, a: Value, shape: Shape) -> Value {
        let r = self.ty(a).rank();
        let dims = (shape.rank() - r..shape.rank()).collect();
        self.broadcast_to(a, shape, dims)
    }

    /// Elements `start[i], start[i] + stride[i], ...` below `stop[i]`; a
    /// symbolic axis must be kept whole (start 0, its symbol, stride 1).
    pub fn slice(
        &mut self,
        a: Value,
        start: Vec<usize>,
        stop: Vec<Dim>,
        stride: Vec<usize>,
    ) -> Value {
        self.push(
            Op::Slice {
                start,
                stop,
                stride,
            },
            &[a],
            None,
        )
    }
    /// Elements `start..stop` of `axis`, every other axis whole.
    pub fn slice_axis(&mut self, a: Value, axis: usize, start: usize, stop: usize) -> Value {
        let dims = self.ty(a).shape.0.clone();
        let r = dims.len();
        let mut begin = vec![0; r];
        begin[axis] = start;
        let mut end = dims;
        end[axis] = Dim::Fixed(stop);
        self.slice(a, begin, end, vec![1; r])
    }
    /// `a` with `low`/`high` elements of `value` around each axis and
    /// `interior` between neighbours.
    pub fn pad(
        &mut self,
        a: Value,
        low: Vec<usize>,
        high: Vec<usize>,
        interior: Vec<usize>,
        value: f64,
    ) -> Value {
        self.push(
            Op::Pad {
                low,
                high,
                interior,
                value,
            },
            &[a],
            None,
        )
    }
    pub fn concat(&mut self, parts: &[Value], axis: usize) -> Value {
        self.push(Op::Concat { axis }, parts, None)
    }
    pub fn reverse(&mut self, a: Value, axes: Vec<usize>) -> Value {
        self.push(Op::Reverse { axes }, &[a], None)
    }
    /// Rows of `table` picked by the i32 `indices`.
    pub fn gather(&mut self, table: Value, indices: Value) -> Value {
        self.push(Op::Gather, &[table, indices], None)
    }
    /// `operand` with the rows of `updates` added at `indices`.
    pub fn scatter_add(&mut self, operand: Value, indices: Value, updates: Value) -> Value {
        self.push(Op::ScatterAdd, &[operand, indices, updates], None)
    }
    pub fn conv(&mut self, lhs: Value, rhs: Value, attrs: ConvAttrs) -> Value {
        self.push(Op::Conv(attrs), &[lhs, rhs], None)
    }
    pub fn reduce_window(&mut self, op: ReduceOp, a: Value, window: Window) -> Value {
        self.push(Op::ReduceWindow { op, window }, &[a], None)
    }
    /// Random numbers of type `ty` drawn from `dist`, keyed by the i32
    /// scalar `key` and `stream`.
    pub fn random(&mut self, dist: Dist, key: Value, stream: u64, ty: TensorType) -> Value {
        self.push(Op::Random { dist, stream }, &[key], Some(ty))
    }
}
