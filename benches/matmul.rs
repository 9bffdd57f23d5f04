//! Square f32 matrix multiplies at 512, 1024 and 2048 through
//! `dlc::backend::cpu::sgemm`, the very entry the CPU backend calls for
//! every contraction, on 1 thread and on every thread of rayon's pool
//! (`RAYON_NUM_THREADS`). Throughput is in FLOP (2·n³ per multiply), so
//! criterion's "elem/s" reads as FLOP/s. `benches/compare/run.py` runs it
//! with `--output-format bencher` and turns ns/iter into GFLOP/s.
//!
//! The `recurrent` group times the per-step products of the LSTM workload
//! (batch 32, hidden 128: `h·W_hh` and `dY·W_hhᵀ`), which run 32 times a
//! step and decide its speed.
//!
//! `cargo bench --bench matmul` (`-- recurrent` for those alone)

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dlc::backend::cpu::{sgemm, MatRef};

fn matrix(n: usize, seed: u32) -> Vec<f32> {
    (0..n * n)
        .map(|i| {
            ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32
                / (1u32 << 24) as f32
                - 0.5
        })
        .collect()
}

fn square(c: &mut Criterion) {
    let all = rayon::current_num_threads();
    let mut threads = vec![1];
    if all > 1 {
        threads.push(all);
    }
    let mut group = c.benchmark_group("sgemm");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for n in [512usize, 1024, 2048] {
        let (a, b) = (matrix(n, 1), matrix(n, 2));
        let mut out = vec![0f32; n * n];
        group.throughput(Throughput::Elements(2 * (n * n * n) as u64));
        for &t in &threads {
            group.bench_with_input(BenchmarkId::new(format!("{t}t"), n), &n, |bench, &n| {
                let row = |p: &[f32]| MatRef {
                    ptr: p.as_ptr(),
                    row_stride: n as isize,
                    col_stride: 1,
                };
                bench.iter(|| {
                    // SAFETY: three distinct n×n row-major buffers.
                    unsafe { sgemm((n, n, n), row(&a), row(&b), out.as_mut_ptr(), None, t) };
                    black_box(&out);
                })
            });
        }
    }
    group.finish();
}

/// `[32, 128]·[128, 512]` with B's rows contiguous, and `[32, 512]·[128,
/// 512]ᵀ` reading W's rows as B's columns, on one thread and on all.
fn recurrent(c: &mut Criterion) {
    let (m, h) = (32usize, 128usize);
    let g = 4 * h;
    let (x, w) = (matrix(m * g, 1), matrix(h * g, 2));
    let mut out = vec![0f32; m * g];
    let mut group = c.benchmark_group("recurrent");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(2 * (m * h * g) as u64));
    let at = |p: &[f32], row_stride: usize, col_stride: usize| MatRef {
        ptr: p.as_ptr(),
        row_stride: row_stride as isize,
        col_stride: col_stride as isize,
    };
    for t in [1, rayon::current_num_threads()] {
        group.bench_function(format!("h_w/{t}t"), |bench| {
            bench.iter(|| {
                // SAFETY: x holds 32×128 (read as 32×128 of its rows), w 128×512.
                unsafe {
                    sgemm(
                        (m, h, g),
                        at(&x, h, 1),
                        at(&w, g, 1),
                        out.as_mut_ptr(),
                        None,
                        t,
                    )
                };
                black_box(&out);
            })
        });
        group.bench_function(format!("dy_wt/{t}t"), |bench| {
            bench.iter(|| {
                // SAFETY: x is 32×512, w 128×512 read as 512×128 (transposed).
                unsafe {
                    sgemm(
                        (m, g, h),
                        at(&x, g, 1),
                        at(&w, 1, g),
                        out.as_mut_ptr(),
                        None,
                        t,
                    )
                };
                black_box(&out);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, square, recurrent);
criterion_main!(benches);
