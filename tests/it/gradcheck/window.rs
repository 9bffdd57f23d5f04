//! Gradient checks of the windowed ops. Convolution: 1-D, 2-D and 3-D;
//! strides (including ones that leave trailing input unused), symmetric and
//! asymmetric padding (including padding wider than the kernel), kernel
//! dilation, input dilation (transposed convolution), groups and depthwise;
//! both operands, full Jacobians on small shapes and random directions with
//! a symbolic batch on bigger ones.

use super::{case, p, pn, Case, Domain};
use dlc::ir::ConvAttrs;

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

pub fn cases() -> Vec<Case> {
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
