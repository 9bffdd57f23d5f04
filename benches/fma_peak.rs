//! The machine's floating-point peak, the yardstick for the matmul
//! GFLOP/s in `benches/README.md`: independent chains of 256-bit FMAs (or
//! 512-bit with `--avx512` on a host that has it), on 1 thread and on every
//! core at once. Prints GFLOP/s, best of five.
//!
//! `cargo bench --bench fma_peak [-- --avx512]`

use std::time::Instant;

const ITERS: u64 = 100_000_000;
/// Independent accumulators: enough to cover FMA latency × ports.
const CHAINS: usize = 12;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chains_avx2() -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_ps(1.0); CHAINS];
    let (b, c) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    for _ in 0..ITERS {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, b, c);
        }
    }
    let mut s = _mm256_setzero_ps();
    for a in acc {
        s = _mm256_add_ps(s, a);
    }
    let mut out = [0f32; 8];
    // SAFETY: `out` holds 8 floats.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
    out.iter().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn chains_avx512() -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(1.0); CHAINS];
    let (b, c) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    for _ in 0..ITERS {
        for a in acc.iter_mut() {
            *a = _mm512_fmadd_ps(*a, b, c);
        }
    }
    acc.iter().map(|a| _mm512_reduce_add_ps(*a)).sum()
}

#[cfg(target_arch = "x86_64")]
fn main() {
    let wide = std::env::args().any(|a| a == "--avx512");
    let (lanes, f): (usize, fn() -> f32) = if wide {
        assert!(
            is_x86_feature_detected!("avx512f"),
            "this host has no AVX-512"
        );
        // SAFETY: the feature is present.
        (16, || unsafe { chains_avx512() })
    } else {
        assert!(
            is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            "this host has no AVX2+FMA"
        );
        // SAFETY: the features are present.
        (8, || unsafe { chains_avx2() })
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut counts = vec![1];
    if cores > 1 {
        counts.push(cores);
    }
    for threads in counts {
        let mut best = 0f64;
        for _ in 0..5 {
            let t = Instant::now();
            let handles: Vec<_> = (0..threads).map(|_| std::thread::spawn(f)).collect();
            let sink: f32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
            std::hint::black_box(sink);
            let flops = (threads * CHAINS * lanes * 2) as f64 * ITERS as f64;
            best = best.max(flops / t.elapsed().as_secs_f64() / 1e9);
        }
        println!(
            "{threads} thread(s): {best:.1} GFLOP/s ({}-bit FMA)",
            lanes * 32
        );
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    println!("fma_peak measures x86-64 hosts only");
}
