//! The arithmetic an op does, counted from its node's types, so that a
//! report of a model's cost (`dlc summary`) is read off the graph the model
//! lowers to rather than estimated per layer. Counts are per sample: a
//! symbolic size such as the batch `N` counts as 1.
//!
//! The convention: a multiply-add is 2 operations, so a `matmul` is
//! `2 · outputs · k` and a `conv` `2 · outputs · (taps per output)`; every
//! elementwise op (unary, binary, compare, select, cast) is 1 per output
//! element; a reduction is 1 per input element and a windowed reduction 1
//! per tap; `scatter_add` is 1 per update; a `scan` is its body's count
//! times its steps. Movement (broadcast, reshape, transpose, slice, pad,
//! concat, reverse, gather), constants, `iota` and `random` cost nothing.

use super::{Dim, Graph, Op, TensorType, Value};

/// Elements of one sample of `ty` (a symbolic axis counts as 1).
pub fn per_sample(ty: &TensorType) -> u64 {
    ty.shape.dims().iter().map(fixed_or_one).product()
}

fn fixed_or_one(d: &Dim) -> u64 {
    d.fixed().unwrap_or(1) as u64
}

/// Operations of node `v` for one sample, by the convention above.
pub fn flops(g: &Graph, v: Value) -> u64 {
    let out = per_sample(g.ty(v));
    let operand = |i: usize| g.ty(g.operands(v)[i]);
    match g.op(v) {
        Op::Unary(_) | Op::Binary(_) | Op::Compare(_) | Op::Select | Op::Cast => out,
        Op::Reduce { .. } => per_sample(operand(0)),
        Op::ReduceWindow { window, .. } => {
            out * window.size.iter().map(|&s| s as u64).product::<u64>()
        }
        Op::MatMul => {
            let k = operand(0).shape.dims().last().map_or(1, fixed_or_one);
            2 * out * k
        }
        // Weight `[F, C / groups, k...]`: each output sums one group's
        // channels over the kernel's taps (the zeros of a dilated input
        // included, as a transposed convolution computes them).
        Op::Conv(_) => {
            let taps: u64 = operand(1).shape.dims()[1..]
                .iter()
                .map(fixed_or_one)
                .product();
            2 * out * taps
        }
        Op::ScatterAdd => per_sample(operand(2)),
        Op::Scan(scan) => {
            let steps = if scan.sequences > 0 {
                fixed_or_one(&operand(scan.carries).shape.dims()[scan.axis])
            } else {
                1
            };
            let body: u64 = scan.body.nodes().map(|n| flops(&scan.body, n)).sum();
            steps * body
        }
        Op::Input { .. }
        | Op::Const { .. }
        | Op::Iota { .. }
        | Op::Broadcast { .. }
        | Op::Reshape
        | Op::Transpose { .. }
        | Op::DimSize { .. }
        | Op::Slice { .. }
        | Op::Pad { .. }
        | Op::Concat { .. }
        | Op::Reverse { .. }
        | Op::Gather
        | Op::Random { .. }
        | Op::Get { .. } => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::parse::parse;

    fn total(src: &str) -> u64 {
        let g = parse(src).expect("test graph parses");
        g.nodes().map(|v| flops(&g, v)).sum()
    }

    #[test]
    fn a_dense_layer_is_two_per_multiply_add_plus_its_bias() {
        let src =
            "graph @d(%x: f32[N,3] data, %w: f32[3,4] param, %b: f32[4] param) -> (%y: f32[N,4]) {
  %0 = matmul %x, %w : f32[N,4]
  %1 = broadcast %b dims=[1] : f32[N,4]
  %2 = add %0, %1 : f32[N,4]
  return %y = %2
}";
        assert_eq!(total(src), 2 * 3 * 4 + 4);
    }

    #[test]
    fn a_reduction_counts_its_input_and_movement_counts_nothing() {
        let src = "graph @r(%x: f32[N,5,6] data) -> (%y: f32[N,6]) {
  %0 = transpose %x perm=[0,2,1] : f32[N,6,5]
  %1 = reduce_sum %0 axes=[2] : f32[N,6]
  return %y = %1
}";
        assert_eq!(total(src), 30);
    }

    #[test]
    fn a_conv_is_two_per_tap_of_each_output() {
        let src = "graph @c(%x: f32[N,4,6] data, %w: f32[2,4,3] param) -> (%y: f32[N,2,4]) {
  %0 = conv %x, %w : f32[N,2,4]
  return %y = %0
}";
        // 2 filters x 4 positions, each over 4 channels x 3 taps.
        assert_eq!(total(src), 2 * (2 * 4) * (4 * 3));
    }

    #[test]
    fn a_scan_is_its_body_times_its_steps() {
        let src = "graph @rnn(%h0: f32[N,3] data, %x: f32[N,5,3] data, %w: f32[3,3] param) -> (%h: f32[N,3]) {
  %0 = scan %h0, %x, %w carries=1 sequences=1 axis=1 reverse=0 : (f32[N,3])
    graph @body(%h: f32[N,3] data, %x: f32[N,3] data, %w: f32[3,3] data) -> (%h: f32[N,3]) {
      %0 = matmul %h, %w : f32[N,3]
      %1 = add %0, %x : f32[N,3]
      %2 = tanh %1 : f32[N,3]
      return %h = %2
    }
  %1 = get %0 index=0 : f32[N,3]
  return %h = %1
}";
        assert_eq!(total(src), 5 * (2 * 3 * 3 + 3 + 3));
    }
}
