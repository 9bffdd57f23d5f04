//! Gradient checks of the windowed ops. Convolution: 1-D, 2-D and 3-D;
//! strides (including ones that leave trailing input unused), symmetric and
//! asymmetric padding (including padding wider than the kernel), kernel
//! dilation, input dilation (transposed convolution), groups and depthwise;
//! both operands, full Jacobians on small shapes and random directions with
//! a symbolic batch on bigger ones. Pooling (`reduce_window_sum` and
//! `_max`): non-overlapping and overlapping windows, strides that skip
//! input, padding (as wide as the window, for sum); max on distinct values
//! so that no window has a tie (the tie rule has its own test).

use super::{case, p, pn, Case, Domain, Param};
use dlc::ir::{ConvAttrs, ReduceOp, Window};

fn conv_case(name: &str, x: super::Param, w: super::Param, a: ConvAttrs) -> Case {
    case(
        format!("conv {name}"),
        &["conv"],
        vec![x, w],
        Box::new(move |g, v| g.conv(v[0], v[1], a.clone())),
    )
}

/// Plain attributes over `sp` spatial axes, then `f` changes some.
fn attrs(sp: usize, f: impl FnOnce(&mut ConvAttrs)) -> ConvAttrs {
    let mut a = ConvAttrs::new(sp);
    f(&mut a);
    a
}

fn pool_case(name: &str, op: ReduceOp, x: Param, w: Window) -> Case {
    case(
        format!("{} {name}", op.window_name()),
        &[op.window_name()],
        vec![x],
        Box::new(move |g, v| g.reduce_window(op, v[0], w.clone())),
    )
}

/// A window of `size` with `stride` and padding `low`/`high`.
fn window(size: &[usize], stride: &[usize], low: &[usize], high: &[usize]) -> Window {
    Window {
        size: size.to_vec(),
        stride: stride.to_vec(),
        pad_low: low.to_vec(),
        pad_high: high.to_vec(),
    }
}

fn pool_cases() -> Vec<Case> {
    use Domain::*;
    let mut cs = Vec::new();
    for (op, d) in [(ReduceOp::Sum, Any), (ReduceOp::Max, Distinct)] {
        cs.push(pool_case(
            "2x2 non-overlapping",
            op,
            p(&[1, 2, 4, 4], d),
            window(&[1, 1, 2, 2], &[1, 1, 2, 2], &[0; 4], &[0; 4]),
        ));
        cs.push(pool_case(
            "3 overlapping, stride 2, padded",
            op,
            p(&[2, 5], d),
            window(&[1, 3], &[1, 2], &[0, 1], &[0, 2]),
        ));
        cs.push(pool_case(
            "3x3 overlapping, stride 1",
            op,
            p(&[1, 1, 4, 3], d),
            window(&[1, 1, 3, 2], &[1, 1, 1, 1], &[0; 4], &[0; 4]),
        ));
        cs.push(pool_case(
            "stride 3 skips input",
            op,
            p(&[1, 7], d),
            window(&[1, 2], &[1, 3], &[0, 0], &[0, 0]),
        ));
        cs.push(
            pool_case(
                "big 2x2",
                op,
                pn(&[3, 2, 6, 6], d),
                window(&[1, 1, 2, 2], &[1, 1, 2, 2], &[0; 4], &[0; 4]),
            )
            .big(),
        );
        cs.push(
            pool_case(
                "big 3x3 stride 2 padded",
                op,
                pn(&[2, 3, 5, 6], d),
                window(&[1, 1, 3, 3], &[1, 1, 2, 2], &[0, 0, 1, 1], &[0, 0, 1, 0]),
            )
            .big(),
        );
    }
    // Padding as wide as the window: the sum's VJP crops.
    cs.push(pool_case(
        "padding as wide as the window",
        ReduceOp::Sum,
        p(&[1, 3], Any),
        window(&[1, 2], &[1, 1], &[0, 2], &[0, 2]),
    ));
    cs
}

pub fn cases() -> Vec<Case> {
    let mut cs = conv_cases();
    cs.extend(pool_cases());
    cs
}

fn conv_cases() -> Vec<Case> {
    use Domain::*;
    vec![
        conv_case(
            "1-D",
            p(&[2, 2, 5], Any),
            p(&[3, 2, 2], Any),
            attrs(1, |_| {}),
        ),
        conv_case(
            "1-D stride 2 leaves the last input unused",
            p(&[1, 2, 6], Any),
            p(&[2, 2, 3], Any),
            attrs(1, |a| a.stride = vec![2]),
        ),
        conv_case(
            "1-D padding wider than the kernel",
            p(&[1, 1, 3], Any),
            p(&[1, 1, 2], Any),
            attrs(1, |a| {
                a.pad_low = vec![3];
                a.pad_high = vec![2];
            }),
        ),
        conv_case(
            "2-D asymmetric padding",
            p(&[1, 2, 4, 3], Any),
            p(&[2, 2, 3, 2], Any),
            attrs(2, |a| {
                a.pad_low = vec![1, 0];
                a.pad_high = vec![2, 1];
            }),
        ),
        conv_case(
            "2-D stride and dilation",
            p(&[1, 1, 6, 6], Any),
            p(&[2, 1, 2, 2], Any),
            attrs(2, |a| {
                a.stride = vec![2, 1];
                a.dilation = vec![2, 2];
            }),
        ),
        conv_case(
            "1-D groups",
            p(&[1, 4, 4], Any),
            p(&[6, 2, 3], Any),
            attrs(1, |a| a.groups = 2),
        ),
        conv_case(
            "2-D depthwise",
            p(&[2, 3, 3, 3], Any),
            p(&[3, 1, 2, 2], Any),
            attrs(2, |a| a.groups = 3),
        ),
        conv_case(
            "1-D transposed (input dilation)",
            p(&[1, 2, 3], Any),
            p(&[2, 2, 3], Any),
            attrs(1, |a| {
                a.lhs_dilation = vec![2];
                a.pad_low = vec![2];
                a.pad_high = vec![1];
            }),
        ),
        conv_case(
            "2-D everything at once",
            p(&[1, 2, 5, 3], Any),
            p(&[2, 1, 2, 2], Any),
            attrs(2, |a| {
                a.stride = vec![2, 1];
                a.pad_low = vec![1, 0];
                a.pad_high = vec![0, 2];
                a.dilation = vec![1, 2];
                a.lhs_dilation = vec![1, 2];
                a.groups = 2;
            }),
        ),
        conv_case(
            "2-D big",
            pn(&[3, 2, 7, 6], Any),
            p(&[4, 2, 3, 3], Any),
            attrs(2, |a| {
                a.stride = vec![2, 2];
                a.pad_low = vec![1, 1];
                a.pad_high = vec![1, 1];
            }),
        )
        .big(),
        conv_case(
            "2-D big grouped",
            pn(&[2, 4, 6, 5], Any),
            p(&[4, 2, 2, 3], Any),
            attrs(2, |a| {
                a.groups = 2;
                a.dilation = vec![2, 1];
                a.stride = vec![1, 2];
            }),
        )
        .big(),
        conv_case(
            "3-D big",
            pn(&[2, 1, 3, 4, 3], Any),
            p(&[2, 1, 2, 2, 2], Any),
            attrs(3, |a| {
                a.pad_low = vec![1, 0, 0];
                a.stride = vec![1, 2, 1];
            }),
        )
        .big(),
    ]
}
