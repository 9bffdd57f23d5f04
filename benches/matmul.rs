//! Square f32 matrix multiplies at 512, 1024 and 2048 through
//! `dlc::backend::cpu::sgemm`, the very entry the CPU backend calls for
//! every contraction, on 1 thread and on every thread of rayon's pool
//! (`RAYON_NUM_THREADS`). Throughput is in FLOP (2·n³ per multiply), so
//! criterion's "elem/s" reads as FLOP/s. `benches/compare/run.py` runs it
//! with `--output-format bencher` and turns ns/iter into GFLOP/s.
//!
//! `cargo bench --bench matmul`

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

criterion_group!(benches, square);
criterion_main!(benches);
