//! The interpreter's per-op kernels on ndarray, generic over the element type
//! so that an f32 tensor is computed in f32 (the scalar semantics mirror
//! `UnaryOp::eval`, `BinaryOp::eval` and `CmpOp::eval`, which are written in
//! f64; a test checks the two agree). Every kernel returns a standard-layout
//! array, which `reshape` and `matmul` rely on.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayD, Axis, Ix3, IxDyn, NdFloat, Zip};

use crate::ir::{BinaryOp, CmpOp, ReduceOp, UnaryOp};

/// Every element type a tensor can hold: how a `const` value or a `cast`
/// converts. Going through f64 is exact for f32, i32 and bool, so a cast is
/// one rounding, as a direct `as` would be.
pub trait Elem: Copy + PartialOrd + 'static {
    fn of(v: f64) -> Self;
    fn f64(self) -> f64;
}

impl Elem for f32 {
    fn of(v: f64) -> f32 {
        v as f32
    }
    fn f64(self) -> f64 {
        self as f64
    }
}
impl Elem for f64 {
    fn of(v: f64) -> f64 {
        v
    }
    fn f64(self) -> f64 {
        self
    }
}
impl Elem for i32 {
    fn of(v: f64) -> i32 {
        v as i32
    }
    fn f64(self) -> f64 {
        self as f64
    }
}
impl Elem for bool {
    fn of(v: f64) -> bool {
        v != 0.0
    }
    fn f64(self) -> f64 {
        if self {
            1.0
        } else {
            0.0
        }
    }
}

/// Element types that reduce: the identity of each reduction and the step.
/// i32 sums wrap rather than trap, as the other i32 arithmetic does.
pub trait Num: Elem {
    const ZERO: Self;
    const LOWEST: Self;
    fn plus(self, o: Self) -> Self;
    fn max_of(self, o: Self) -> Self;
}

impl Num for f32 {
    const ZERO: f32 = 0.0;
    const LOWEST: f32 = f32::NEG_INFINITY;
    fn plus(self, o: f32) -> f32 {
        self + o
    }
    fn max_of(self, o: f32) -> f32 {
        self.max(o)
    }
}
impl Num for f64 {
    const ZERO: f64 = 0.0;
    const LOWEST: f64 = f64::NEG_INFINITY;
    fn plus(self, o: f64) -> f64 {
        self + o
    }
    fn max_of(self, o: f64) -> f64 {
        self.max(o)
    }
}
impl Num for i32 {
    const ZERO: i32 = 0;
    const LOWEST: i32 = i32::MIN;
    fn plus(self, o: i32) -> i32 {
        self.wrapping_add(o)
    }
    fn max_of(self, o: i32) -> i32 {
        self.max(o)
    }
}

/// `a[i] = f(a[i], b[i])`, in place: the interpreter hands over its operand
/// buffer when this is the operand's last use.
fn zip_with<T: Copy, U: Copy>(a: &mut ArrayD<T>, b: &ArrayD<U>, f: impl Fn(T, U) -> T) {
    Zip::from(a).and(b).for_each(|x, &y| *x = f(*x, y));
}

fn zip_map<T: Copy, R>(a: &ArrayD<T>, b: &ArrayD<T>, f: impl Fn(T, T) -> R) -> ArrayD<R> {
    Zip::from(a).and(b).map_collect(|&x, &y| f(x, y))
}

pub fn unary_float<T: NdFloat>(op: UnaryOp, mut a: ArrayD<T>) -> ArrayD<T> {
    let (zero, one) = (T::zero(), T::one());
    match op {
        UnaryOp::Neg => a.mapv_inplace(|x| -x),
        UnaryOp::Exp => a.mapv_inplace(T::exp),
        UnaryOp::Log => a.mapv_inplace(T::ln),
        UnaryOp::Sqrt => a.mapv_inplace(T::sqrt),
        UnaryOp::Recip => a.mapv_inplace(|x| one / x),
        UnaryOp::Tanh => a.mapv_inplace(T::tanh),
        UnaryOp::Sin => a.mapv_inplace(T::sin),
        UnaryOp::Cos => a.mapv_inplace(T::cos),
        UnaryOp::Abs => a.mapv_inplace(T::abs),
        UnaryOp::Sign => a.mapv_inplace(|x| {
            if x > zero {
                one
            } else if x < zero {
                -one
            } else {
                zero
            }
        }),
    }
    a
}

/// Integer unary ops; the typing rule allows only neg, abs and sign.
pub fn unary_int(op: UnaryOp, mut a: ArrayD<i32>) -> Result<ArrayD<i32>, String> {
    match op {
        UnaryOp::Neg => a.mapv_inplace(i32::wrapping_neg),
        UnaryOp::Abs => a.mapv_inplace(i32::wrapping_abs),
        UnaryOp::Sign => a.mapv_inplace(i32::signum),
        _ => return Err(format!("{} is not defined on i32", op.name())),
    }
    Ok(a)
}

pub fn binary_float<T: NdFloat>(op: BinaryOp, mut a: ArrayD<T>, b: &ArrayD<T>) -> ArrayD<T> {
    match op {
        BinaryOp::Add => zip_with(&mut a, b, |x, y| x + y),
        BinaryOp::Sub => zip_with(&mut a, b, |x, y| x - y),
        BinaryOp::Mul => zip_with(&mut a, b, |x, y| x * y),
        BinaryOp::Div => zip_with(&mut a, b, |x, y| x / y),
        BinaryOp::Max => zip_with(&mut a, b, T::max),
        BinaryOp::Min => zip_with(&mut a, b, T::min),
        BinaryOp::Pow => zip_with(&mut a, b, T::powf),
    }
    a
}

/// Integer arithmetic wraps; division by zero and negative exponents are
/// run-time errors rather than panics.
pub fn binary_int(
    op: BinaryOp,
    mut a: ArrayD<i32>,
    b: &ArrayD<i32>,
) -> Result<ArrayD<i32>, String> {
    match op {
        BinaryOp::Add => zip_with(&mut a, b, i32::wrapping_add),
        BinaryOp::Sub => zip_with(&mut a, b, i32::wrapping_sub),
        BinaryOp::Mul => zip_with(&mut a, b, i32::wrapping_mul),
        BinaryOp::Max => zip_with(&mut a, b, i32::max),
        BinaryOp::Min => zip_with(&mut a, b, i32::min),
        BinaryOp::Div => {
            if b.iter().any(|&y| y == 0) {
                return Err("integer division by zero".into());
            }
            zip_with(&mut a, b, i32::wrapping_div)
        }
        BinaryOp::Pow => {
            if b.iter().any(|&y| y < 0) {
                return Err("integer pow with a negative exponent".into());
            }
            zip_with(&mut a, b, |x, y| x.wrapping_pow(y as u32))
        }
    }
    Ok(a)
}

pub fn compare<T: PartialOrd + Copy>(op: CmpOp, a: &ArrayD<T>, b: &ArrayD<T>) -> ArrayD<bool> {
    match op {
        CmpOp::Lt => zip_map(a, b, |x, y| x < y),
        CmpOp::Le => zip_map(a, b, |x, y| x <= y),
        CmpOp::Gt => zip_map(a, b, |x, y| x > y),
        CmpOp::Ge => zip_map(a, b, |x, y| x >= y),
        CmpOp::Eq => zip_map(a, b, |x, y| x == y),
        CmpOp::Ne => zip_map(a, b, |x, y| x != y),
    }
}

/// `a` where `cond`, else `b`, written into `a`'s buffer.
pub fn select<T: Copy>(cond: &ArrayD<bool>, mut a: ArrayD<T>, b: &ArrayD<T>) -> ArrayD<T> {
    Zip::from(&mut a).and(cond).and(b).for_each(|x, &c, &y| {
        if !c {
            *x = y
        }
    });
    a
}

pub fn cast<T: Elem, U: Elem>(a: &ArrayD<T>) -> ArrayD<U> {
    a.mapv(|x| U::of(x.f64()))
}

pub fn iota<T: Elem>(shape: &[usize], axis: usize) -> ArrayD<T> {
    ArrayD::from_shape_fn(IxDyn(shape), |ix| T::of(ix[axis] as f64))
}

/// Reduces over `axes` (increasing), last first so the remaining axis
/// numbers stay valid. The innermost axis reduces lane by lane (contiguous),
/// the others by adding whole sub-arrays.
pub fn reduce<T: Num>(op: ReduceOp, a: &ArrayD<T>, axes: &[usize]) -> ArrayD<T> {
    let (init, f): (T, fn(T, T) -> T) = match op {
        ReduceOp::Sum => (T::ZERO, T::plus),
        ReduceOp::Max => (T::LOWEST, T::max_of),
    };
    let mut cur: Option<ArrayD<T>> = None;
    for &ax in axes.iter().rev() {
        let src = cur.as_ref().unwrap_or(a);
        let next = if ax + 1 == src.ndim() {
            src.map_axis(Axis(ax), |lane| lane.iter().fold(init, |s, &x| f(s, x)))
        } else {
            src.fold_axis(Axis(ax), init, |&s, &x| f(s, x))
        };
        cur = Some(next);
    }
    cur.unwrap_or_else(|| a.clone())
}

/// `reduce_max` on bool is "any"; there is no bool sum.
pub fn reduce_bool(op: ReduceOp, a: &ArrayD<bool>, axes: &[usize]) -> Result<ArrayD<bool>, String> {
    if op == ReduceOp::Sum {
        return Err("reduce_sum is not defined on bool".into());
    }
    let mut cur = a.clone();
    for &ax in axes.iter().rev() {
        cur = cur.fold_axis(Axis(ax), false, |&s, &x| s || x);
    }
    Ok(cur)
}

/// Operand axis `i` lands on result axis `dims[i]`; the other axes are new,
/// and operand axes of size 1 stretch.
pub fn broadcast<T: Clone>(a: &ArrayD<T>, dims: &[usize], shape: &[usize]) -> Option<ArrayD<T>> {
    let mut v = a.view();
    for r in 0..shape.len() {
        if !dims.contains(&r) {
            v.insert_axis_inplace(Axis(r));
        }
    }
    Some(v.broadcast(IxDyn(shape))?.to_owned())
}

pub fn reshape<T: Clone>(a: ArrayD<T>, shape: &[usize]) -> Option<ArrayD<T>> {
    let a = if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    };
    a.into_shape_with_order(IxDyn(shape)).ok()
}

pub fn transpose<T: Clone>(a: ArrayD<T>, perm: &[usize]) -> ArrayD<T> {
    a.permuted_axes(IxDyn(perm))
        .as_standard_layout()
        .into_owned()
}

/// `[..., m, k] x [..., k, n]`: one library matmul per batch index.
pub fn matmul<T: NdFloat>(a: &ArrayD<T>, b: &ArrayD<T>) -> ArrayD<T> {
    let r = a.ndim();
    let (m, k, n) = (a.shape()[r - 2], a.shape()[r - 1], b.shape()[r - 1]);
    let batch: usize = a.shape()[..r - 2].iter().product();
    let a3 = a.view().into_shape_with_order((batch, m, k));
    let b3 = b.view().into_shape_with_order((batch, k, n));
    let (a3, b3) = match (a3, b3) {
        (Ok(x), Ok(y)) => (x, y),
        _ => panic!("internal: matmul operands are not in standard layout"),
    };
    let mut c = ndarray::Array::<T, Ix3>::zeros((batch, m, n));
    for i in 0..batch {
        general_mat_mul(
            T::one(),
            &a3.index_axis(Axis(0), i),
            &b3.index_axis(Axis(0), i),
            T::zero(),
            &mut c.index_axis_mut(Axis(0), i),
        );
    }
    let mut out = a.shape()[..r - 1].to_vec();
    out.push(n);
    c.into_dyn()
        .into_shape_with_order(IxDyn(&out))
        .expect("internal: matmul result reshape")
}
