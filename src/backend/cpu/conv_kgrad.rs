//! The kernel gradient of a 2-d convolution, computed directly with
//! AVX2+FMA instead of through im2col and gemm.
//!
//! The gradient graph writes a convolution's kernel gradient as another
//! `conv` whose "kernel" is the output cotangent — as wide as the image —
//! and whose output is the small kernel: `out[b, o, py, px] = Σ_c Σ_ky Σ_kx
//! w[o, c, ky, kx] · xpad[b, c, py + ky, px + kx]`, with the forward
//! samples as `c`. Unfolded by im2col every output position copies the
//! whole padded input (25 copies of it for a 5x5 kernel) in short runs,
//! and the copying costs more than the products. Here each input plane is
//! padded once, and every kernel row is multiplied against the plane's
//! rows shifted by `px` in eight-lane chunks: one accumulator register per
//! output `px` (at most eight), summed across lanes at the end. The last
//! chunk of a row is loaded masked on both sides, so lanes past the kernel
//! add exact zeros.
//!
//! Taken for unit stride, no dilation, one group, two spatial axes, a
//! kernel wider than the output and at most eight output columns; every
//! other convolution goes the im2col way.
//!
//! With AVX-512 (`isa.rs`) the chunks are sixteen lanes wide, masked past
//! the kernel row the same way, and each accumulator is folded back to
//! eight lanes at the end of an output row, so both instruction sets keep
//! the same partial sums in memory.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use rayon::prelude::*;

use super::isa::{best, Isa};
use super::library::Buf;
use crate::ir::ConvAttrs;

/// Whether [`conv_kgrad_f32`] computes this convolution.
pub(super) fn applies(x: &[usize], w: &[usize], c: &ConvAttrs, out: &[usize]) -> bool {
    x.len() == 4
        && c.groups == 1
        && c.stride.iter().all(|&s| s == 1)
        && c.dilation.iter().all(|&d| d == 1)
        && c.lhs_dilation.iter().all(|&d| d == 1)
        && w[3] > out[3]
        && (1..=8).contains(&out[3])
        && out[2] > 0
        && w[2] > 0
        && super::gemv::available()
}

/// `out = conv(x, w)` for the convolutions [`applies`] accepts; `x: [B, C,
/// H, W]`, `w: [O, C, KY, KX]`, `out: [B, O, PY, PX]`.
///
/// # Safety
/// [`applies`] is true; the buffers are live f32 buffers of their shapes;
/// `out` overlaps neither operand.
pub(super) unsafe fn conv_kgrad_f32(x: Buf, w: Buf, c: &ConvAttrs, out: Buf, threads: usize) {
    let (b, ch, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (o, ky, kx) = (w.shape[0], w.shape[2], w.shape[3]);
    let (py, px) = (out.shape[2], out.shape[3]);
    // The padded plane the kernel slides over: rows py + ky − 1, columns
    // px + kx − 1 (what unit stride and the output's extents imply).
    let (hp, wp) = (py + ky - 1, px + kx - 1);
    let (xp, wptr, op) = (x.ptr as usize, w.ptr as usize, out.ptr as usize);
    let isa = best().expect("internal: conv_kgrad without AVX2");
    let (pl_h, pl_w) = (c.pad_low[0], c.pad_low[1]);
    // One unit of work: sample `bi`, output channels `o0..o1`.
    let unit = |bi: usize, o0: usize, o1: usize| {
        let mut plane = vec![0f32; hp * wp];
        let mut acc = vec![0f32; (o1 - o0) * py * px * 8];
        for ci in 0..ch {
            // SAFETY: plane (bi, ci) of x.
            let src = unsafe {
                std::slice::from_raw_parts((xp as *const f32).add((bi * ch + ci) * h * wd), h * wd)
            };
            pad_plane(src, (h, wd), (pl_h, pl_w), (hp, wp), &mut plane);
            for oc in o0..o1 {
                // SAFETY: kernel plane (oc, ci) of w.
                let k = unsafe {
                    std::slice::from_raw_parts(
                        (wptr as *const f32).add((oc * ch + ci) * ky * kx),
                        ky * kx,
                    )
                };
                let a = &mut acc[(oc - o0) * py * px * 8..][..py * px * 8];
                for y in 0..py {
                    // SAFETY: the host supports `isa` (`applies`); the
                    // plane holds rows y..y + ky of wp columns.
                    unsafe {
                        rows(
                            isa,
                            k,
                            (ky, kx),
                            &plane[y * wp..],
                            wp,
                            &mut a[y * px * 8..][..px * 8],
                        )
                    };
                }
            }
        }
        // SAFETY: output channels o0..o1 of sample bi; units never overlap.
        let dst = unsafe {
            std::slice::from_raw_parts_mut(
                (op as *mut f32).add((bi * o + o0) * py * px),
                (o1 - o0) * py * px,
            )
        };
        for (d, lanes) in dst.iter_mut().zip(acc.chunks_exact(8)) {
            // Pairwise, the same order on every run.
            let s4: [f32; 4] = std::array::from_fn(|i| lanes[i] + lanes[i + 4]);
            *d = (s4[0] + s4[2]) + (s4[1] + s4[3]);
        }
    };
    let parts = if threads > 1 && b < threads {
        threads.min(o)
    } else {
        1
    };
    if threads > 1 {
        (0..b * parts).into_par_iter().for_each(|u| {
            unit(
                u / parts,
                o * (u % parts) / parts,
                o * (u % parts + 1) / parts,
            )
        });
    } else {
        (0..b).for_each(|bi| unit(bi, 0, o));
    }
}

/// `dst` (hp × wp) = zeros with `src` (h × w) at `(top, left)`, clipped.
fn pad_plane(
    src: &[f32],
    (h, w): (usize, usize),
    (top, left): (usize, usize),
    (hp, wp): (usize, usize),
    dst: &mut [f32],
) {
    dst.fill(0.0);
    if left >= wp {
        return;
    }
    let n = w.min(wp - left);
    for r in 0..h {
        let y = r + top;
        if y >= hp {
            break;
        }
        dst[y * wp + left..][..n].copy_from_slice(&src[r * w..][..n]);
    }
}

/// [`rows_of`] (or [`rows_of_512`]) with the output width as a constant,
/// so the accumulators stay in registers.
///
/// # Safety
/// As [`rows_of`], on an instruction set the host supports.
unsafe fn rows(
    isa: Isa,
    k: &[f32],
    kyx: (usize, usize),
    plane: &[f32],
    wp: usize,
    acc: &mut [f32],
) {
    macro_rules! px {
        ($f:ident) => {
            match acc.len() / 8 {
                1 => $f::<1>(k, kyx, plane, wp, acc),
                2 => $f::<2>(k, kyx, plane, wp, acc),
                3 => $f::<3>(k, kyx, plane, wp, acc),
                4 => $f::<4>(k, kyx, plane, wp, acc),
                5 => $f::<5>(k, kyx, plane, wp, acc),
                6 => $f::<6>(k, kyx, plane, wp, acc),
                7 => $f::<7>(k, kyx, plane, wp, acc),
                8 => $f::<8>(k, kyx, plane, wp, acc),
                n => unreachable!("internal: {n} output columns in the kernel gradient"),
            }
        };
    }
    // SAFETY: the caller's contract.
    unsafe {
        match isa {
            Isa::Avx2 => px!(rows_of),
            Isa::Avx512 => px!(rows_of_512),
        }
    }
}

/// For one output row: `acc[px][lane] += Σ_ky Σ_chunk k[ky, chunk·8 +
/// lane] · plane[ky, px + chunk·8 + lane]`, the plane's rows `wp` apart.
///
/// # Safety
/// avx2 and fma are present; `plane` holds `ky` rows of `wp ≥ kx + PX − 1`
/// columns; `acc` holds `PX` groups of eight lanes.
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_of<const PX: usize>(
    k: &[f32],
    (ky, kx): (usize, usize),
    plane: &[f32],
    wp: usize,
    acc: &mut [f32],
) {
    debug_assert!(acc.len() == PX * 8 && plane.len() >= (ky - 1) * wp + kx + PX - 1);
    let full = kx / 8;
    let tail = kx % 8;
    // Lanes below `tail` on, as maskload wants them (high bit set).
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(tail as i32), lane);
    // SAFETY (loads): chunk j of row r reads k[r·kx + 8j..+8] (masked past
    // kx) and plane[r·wp + p + 8j..+8] with p < PX, inside by the contract
    // (masked lanes are not read).
    unsafe {
        let mut s: [__m256; PX] = std::array::from_fn(|i| _mm256_loadu_ps(acc.as_ptr().add(i * 8)));
        for r in 0..ky {
            let kr = k.as_ptr().add(r * kx);
            let pr = plane.as_ptr().add(r * wp);
            for j in 0..full {
                let kv = _mm256_loadu_ps(kr.add(8 * j));
                for (p, v) in s.iter_mut().enumerate() {
                    *v = _mm256_fmadd_ps(kv, _mm256_loadu_ps(pr.add(p + 8 * j)), *v);
                }
            }
            if tail > 0 {
                let kv = _mm256_maskload_ps(kr.add(8 * full), mask);
                for (p, v) in s.iter_mut().enumerate() {
                    let xv = _mm256_maskload_ps(pr.add(p + 8 * full), mask);
                    *v = _mm256_fmadd_ps(kv, xv, *v);
                }
            }
        }
        for (i, v) in s.iter().enumerate() {
            _mm256_storeu_ps(acc.as_mut_ptr().add(i * 8), *v);
        }
    }
}

/// [`rows_of`] with AVX-512: chunks of sixteen lanes, the last masked on
/// both sides; each accumulator starts from its eight lanes in `acc` (the
/// upper eight zero) and is folded back to eight at the end.
///
/// # Safety
/// AVX-512F is present; otherwise as [`rows_of`].
#[target_feature(enable = "avx512f")]
unsafe fn rows_of_512<const PX: usize>(
    k: &[f32],
    (ky, kx): (usize, usize),
    plane: &[f32],
    wp: usize,
    acc: &mut [f32],
) {
    debug_assert!(acc.len() == PX * 8 && plane.len() >= (ky - 1) * wp + kx + PX - 1);
    let full = kx / 16;
    let tail = kx % 16;
    let mask: __mmask16 = ((1u32 << tail) - 1) as __mmask16;
    // SAFETY (loads and stores): chunk j of row r reads k[r·kx + 16j..+16]
    // (masked past kx) and plane[r·wp + p + 16j..+16] with p < PX, inside
    // by the contract (masked lanes are not read); `acc` holds PX groups
    // of eight.
    unsafe {
        let mut s: [__m512; PX] = std::array::from_fn(|i| {
            _mm512_zextps256_ps512(_mm256_loadu_ps(acc.as_ptr().add(i * 8)))
        });
        for r in 0..ky {
            let kr = k.as_ptr().add(r * kx);
            let pr = plane.as_ptr().add(r * wp);
            for j in 0..full {
                let kv = _mm512_loadu_ps(kr.add(16 * j));
                for (p, v) in s.iter_mut().enumerate() {
                    *v = _mm512_fmadd_ps(kv, _mm512_loadu_ps(pr.add(p + 16 * j)), *v);
                }
            }
            if tail > 0 {
                let kv = _mm512_maskz_loadu_ps(mask, kr.add(16 * full));
                for (p, v) in s.iter_mut().enumerate() {
                    let xv = _mm512_maskz_loadu_ps(mask, pr.add(p + 16 * full));
                    *v = _mm512_fmadd_ps(kv, xv, *v);
                }
            }
        }
        for (i, v) in s.iter().enumerate() {
            let lo = _mm512_castps512_ps256(*v);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(*v)));
            _mm256_storeu_ps(acc.as_mut_ptr().add(i * 8), _mm256_add_ps(lo, hi));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One output row of the kernel gradient on every instruction set the
    /// host supports, for kernel widths around the vector widths (whole
    /// chunks, masked tails, a tail alone) and every output width, against
    /// plain f64 loops; `acc` starts non-zero, as after earlier channels.
    #[test]
    fn each_instruction_set_agrees_with_plain_loops() {
        let value = |i: usize| ((i * 7919 % 211) as f32 / 211.0) - 0.5;
        for isa in Isa::all_supported() {
            for &(ky, kx) in &[(1, 5), (3, 8), (2, 13), (5, 16), (2, 28), (3, 33)] {
                for px in 1..=8 {
                    let wp = kx + px - 1 + 2;
                    let k: Vec<f32> = (0..ky * kx).map(value).collect();
                    let plane: Vec<f32> = (0..ky * wp).map(|i| value(i + 3)).collect();
                    let acc0: Vec<f32> = (0..px * 8).map(|i| value(i + 7)).collect();
                    let mut acc = acc0.clone();
                    // SAFETY: the plane holds ky rows of wp ≥ kx + px − 1,
                    // acc px groups of eight; the host supports `isa`.
                    unsafe { rows(isa, &k, (ky, kx), &plane, wp, &mut acc) };
                    for p in 0..px {
                        let sum = |a: &[f32]| a[p * 8..][..8].iter().map(|&v| f64::from(v)).sum();
                        let before: f64 = sum(&acc0);
                        let dot: f64 = (0..ky)
                            .flat_map(|r| (0..kx).map(move |c| (r, c)))
                            .map(|(r, c)| {
                                f64::from(k[r * kx + c]) * f64::from(plane[r * wp + p + c])
                            })
                            .sum();
                        let got: f64 = sum(&acc);
                        assert!(
                            (got - before - dot).abs() <= 1e-5 * (1.0 + dot.abs()),
                            "{isa:?} {ky}x{kx} px {p} of {px}: {got} vs {}",
                            before + dot
                        );
                    }
                }
            }
        }
    }
}
