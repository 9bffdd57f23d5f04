//! Whole training steps, side by side on every backend: compiles the
//! training step of `benches/workloads/mlp.dl` (or the file given as the
//! first argument), feeds it seeded random inputs at batch 64 and 256, and
//! prints one JSON object a line with samples/s, steps/s and compile time.
//! The executable owns the parameters and optimizer state and updates them
//! in place between steps, as training does; `dlc bench` does the same for
//! one backend, batch and thread count.
//! Run with `cargo bench --bench train_step [-- FILE.dl]`; set
//! `RAYON_NUM_THREADS` to choose the thread count. Timings live here, never
//! in tests.

use std::time::Instant;

use dlc::backend::{BackendKind, Executable};
use dlc::ir::{DType, Dim, HyperValues, TensorType};
use dlc::runtime::data::FileCatalog;
use dlc::sema::{self, Limits};
use dlc::tensor::Tensor;

/// Seeded tensors of the types `tys` with the batch bound to `n`: floats
/// in [-0.5, 0.5), integers (labels) in [0, 10), from a fixed splitmix64
/// stream.
fn random(tys: &[&TensorType], n: usize) -> Vec<Tensor> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    tys.iter()
        .map(|ty| {
            let shape: Vec<usize> = ty
                .shape
                .dims()
                .iter()
                .map(|d| match d {
                    Dim::Fixed(k) => *k,
                    Dim::Sym(_) => n,
                })
                .collect();
            let count: usize = shape.iter().product();
            let values: Vec<f64> = (0..count)
                .map(|_| match ty.dtype {
                    DType::I32 => (next() * 10.0).floor(),
                    _ => next() - 0.5,
                })
                .collect();
            Tensor::from_f64(ty.dtype, &shape, values)
        })
        .collect()
}

fn main() {
    let path = std::env::args()
        .skip(1)
        .find(|a| a.ends_with(".dl"))
        .unwrap_or_else(|| "benches/workloads/mlp.dl".into());
    let src = std::fs::read_to_string(&path).expect("readable workload");
    let file = dlc::syntax::parse(&src).expect("workload parses");
    let program = sema::check(&file, &FileCatalog { base: ".".into() }, Limits::default())
        .unwrap_or_else(|d| panic!("{}", dlc::diag::render(&d, &path, &src)));
    let train = program.train.as_ref().expect("workload has a train block");
    for batch in [64usize, 256] {
        for backend in ["interp", "cpu"] {
            let t0 = Instant::now();
            let function = dlc::training_step(train);
            let kind = BackendKind::by_name(backend).expect("a backend");
            let mut exe: Box<dyn Executable> = kind.backend().compile(&function).expect("compiles");
            let compile_ms = t0.elapsed().as_secs_f64() * 1e3;
            let sig = function.signature();
            let resident = sig.resident();
            let tys: Vec<&TensorType> = resident.iter().map(|&i| &sig.inputs[i].ty).collect();
            for (&i, t) in resident.iter().zip(random(&tys, batch)) {
                exe.load(i, &t).expect("a value of the input's type");
            }
            let tys: Vec<&TensorType> = sig.data().iter().map(|&i| &sig.inputs[i].ty).collect();
            let data = random(&tys, batch);
            let data: Vec<&Tensor> = data.iter().collect();
            let hyper = HyperValues {
                lr: vec![0.01],
                step: 1,
                key: 1,
            };
            let loss: Vec<usize> = sig.loss().into_iter().collect();
            let mut step = || {
                exe.call(&data, &hyper, &loss).expect("runs");
            };
            for _ in 0..3 {
                step();
            }
            // Best of 5 rounds of ~0.3 s each.
            let mut best = f64::INFINITY;
            let mut steps = 1usize;
            for _ in 0..5 {
                let t = Instant::now();
                for _ in 0..steps {
                    step();
                }
                let s = t.elapsed().as_secs_f64() / steps as f64;
                best = best.min(s);
                if t.elapsed().as_secs_f64() < 0.3 {
                    steps = (steps * 2).max((0.3 / s) as usize);
                }
            }
            println!(
                "{{\"workload\":\"{path}\",\"backend\":\"{backend}\",\"batch\":{batch},\"threads\":{},\"samples_per_s\":{:.0},\"steps_per_s\":{:.1},\"compile_ms\":{compile_ms:.1}}}",
                rayon::current_num_threads(),
                batch as f64 / best,
                1.0 / best
            );
        }
    }
}
