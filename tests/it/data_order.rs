//! The training driver's data order, observed through what a run leaves
//! behind: each epoch is a fresh permutation of the training part (the same
//! for the same seed, different across epochs and seeds), a resumed run
//! continues the batch order of an uninterrupted one, and the epoch's
//! metrics weight a last partial batch by its size.
//!
//! The order is read from a model built to record it: `p = dense(x, 16)` on
//! an all-zero input, so `p` is the bias alone and the weight never moves,
//! trained by SGD on `mse(p, y)` with one sample per batch, where `y` is the
//! one-hot code of the sample's id. With `lr: 4`, each step sets
//! `b ← b − 4·(2/16)·(b − y) = b/2 + y/2`, so after `T` steps
//! `b_j = Σ 2^(s−T−1)` over the steps `s` (1-based) that saw sample `j`:
//! the bits of `b_j · 2^(T+1)` are exactly those steps.

use std::fs;
use std::path::{Path, PathBuf};

use dlc::runtime::checkpoint;
use dlc::runtime::data::FileCatalog;
use dlc::runtime::train::{Options, Report, Session};
use dlc::sema::{self, program::Metric, Limits, Program};

use crate::common::show;

/// Width of the one-hot targets (at most this many samples).
const WIDTH: usize = 16;

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("data_order")
        .join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `x.csv` (zeros) and `y.csv` (sample `i`'s one-hot code) for `n`
/// samples.
fn write_one_hot(dir: &Path, n: usize) {
    assert!(n <= WIDTH);
    let x: String = (0..n).map(|_| "0\n").collect();
    let y: String = (0..n)
        .map(|i| {
            let row: Vec<&str> = (0..WIDTH).map(|j| if j == i { "1" } else { "0" }).collect();
            row.join(",") + "\n"
        })
        .collect();
    fs::write(dir.join("x.csv"), x).unwrap();
    fs::write(dir.join("y.csv"), y).unwrap();
}

fn check_in(dir: &Path, src: &str) -> Program {
    let file = dlc::syntax::parse(src).unwrap_or_else(|d| panic!("{}", show(src, &d)));
    sema::check(
        &file,
        &FileCatalog {
            base: dir.to_path_buf(),
        },
        Limits::default(),
    )
    .unwrap_or_else(|d| panic!("{}", show(src, &d)))
}

/// The recording program: `dataset` transforms after the source, `on` the
/// part trained on, and the train block's extra statements.
fn recorder(dir: &Path, transforms: &str, on: &str, statements: &str) -> Program {
    let src = format!(
        r#"
dataset d = load(x: csv("x.csv"), y: csv("y.csv")){transforms}

model m {{
  input x: f32[N, 1]
  output p = dense(x, {WIDTH})
}}

train m() on {on} {{
  loss mse(p, y)
  optimizer sgd(lr: 4)
  batch 1
  {statements}
  save "run"
}}
"#
    );
    check_in(dir, &src)
}

fn options(dir: &Path) -> Options {
    Options {
        backend: Some(dlc::backend::BackendKind::Interp),
        base: dir.to_path_buf(),
        ..Options::default()
    }
}

fn run(program: &Program, opts: &Options) -> Report {
    Session::new(program, opts)
        .unwrap_or_else(|e| panic!("{e}"))
        .run(opts)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The sample each of the run's `steps` steps saw, in order, read from the
/// bias in the run's checkpoint. An f32 bias holds 24 bits, so a run
/// records at most about 20 steps.
fn steps_from_checkpoint(dir: &Path, steps: usize) -> Vec<usize> {
    let ck = checkpoint::load(&dir.join("run/checkpoint.safetensors")).unwrap();
    let bias = ck
        .tensor("m.p.bias")
        .expect("the bias is saved")
        .to_f64_vec();
    let scale = 2f64.powi(steps as i32 + 1);
    let mut seen: Vec<Vec<usize>> = vec![Vec::new(); steps];
    for (j, b) in bias.iter().enumerate() {
        let bits = (b * scale).round() as u64;
        assert!(
            (b * scale - bits as f64).abs() < 0.05,
            "bias {j} = {b} is not a sum of step codes"
        );
        assert_eq!(bits & 1, 0, "bias {j} has a bit below step 1");
        for (s, seen) in seen.iter_mut().enumerate() {
            if bits >> (s + 1) & 1 == 1 {
                seen.push(j);
            }
        }
        assert_eq!(
            bits >> (steps + 1),
            0,
            "bias {j} has a bit above step {steps}"
        );
    }
    seen.into_iter()
        .enumerate()
        .map(|(s, v)| {
            assert_eq!(v.len(), 1, "step {} saw samples {v:?}", s + 1);
            v[0]
        })
        .collect()
}

/// Runs the recorder for `epochs` epochs of `n` samples with `seed` and
/// returns each epoch's order.
fn epoch_orders(name: &str, n: usize, seed: u64, shuffle: bool) -> Vec<Vec<usize>> {
    let dir = scratch(name);
    write_one_hot(&dir, n);
    let epochs = 3;
    let shuffle = if shuffle { "shuffle" } else { "" };
    let p = recorder(
        &dir,
        "",
        "d",
        &format!("epochs {epochs}; seed {seed}; {shuffle}"),
    );
    let report = run(&p, &options(&dir));
    assert_eq!(report.steps, epochs * n);
    let order = steps_from_checkpoint(&dir, epochs * n);
    order.chunks(n).map(<[usize]>::to_vec).collect()
}

fn is_permutation(order: &[usize], n: usize) -> bool {
    let mut sorted = order.to_vec();
    sorted.sort();
    sorted == (0..n).collect::<Vec<_>>()
}

#[test]
fn every_epoch_is_a_fresh_permutation_fixed_by_the_seed() {
    let n = 6;
    let a = epoch_orders("seed3", n, 3, true);
    for (e, order) in a.iter().enumerate() {
        assert!(is_permutation(order, n), "epoch {e} saw {order:?}");
    }
    for e in 1..a.len() {
        assert_ne!(a[e], a[e - 1], "epoch {e} repeats the previous order");
    }
    assert_ne!(a[0], (0..n).collect::<Vec<_>>(), "`shuffle` shuffles");
    // The same seed gives the same orders; another seed other orders.
    assert_eq!(epoch_orders("seed3_again", n, 3, true), a);
    let b = epoch_orders("seed4", n, 4, true);
    assert_ne!(b[0], a[0]);
    assert_ne!(b[1], a[1]);
}

#[test]
fn without_shuffle_every_epoch_is_in_file_order() {
    let orders = epoch_orders("in_order", 5, 3, false);
    for order in orders {
        assert_eq!(order, (0..5).collect::<Vec<_>>());
    }
}

/// Trained on one part of a split, the run sees exactly that part's
/// samples every epoch, none of the other part's.
#[test]
fn a_run_on_a_split_part_sees_only_that_part() {
    let dir = scratch("split");
    let n = 10;
    write_one_hot(&dir, n);
    let p = recorder(
        &dir,
        " |> split(train: 0.6, test: 0.4, seed: 11)",
        "d.train",
        "epochs 2; seed 5; shuffle",
    );
    run(&p, &options(&dir));
    // The parts as loaded: each sample's id is the position of its 1.
    let data = dlc::runtime::data::load(&p.datasets[0], &dir).unwrap();
    let ids = |part: &str| -> Vec<usize> {
        let y = data.part(part).unwrap().field("y").unwrap().to_f64_vec();
        y.chunks(WIDTH)
            .map(|r| r.iter().position(|&v| v == 1.0).unwrap())
            .collect()
    };
    let (train, test) = (ids("train"), ids("test"));
    assert_eq!((train.len(), test.len()), (6, 4), "declared sizes");
    let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
    all.sort();
    assert_eq!(
        all,
        (0..n).collect::<Vec<_>>(),
        "the parts partition the set"
    );
    let order = steps_from_checkpoint(&dir, 2 * train.len());
    let mut sorted_train = train.clone();
    sorted_train.sort();
    for epoch in order.chunks(train.len()) {
        let mut seen = epoch.to_vec();
        seen.sort();
        assert_eq!(seen, sorted_train, "an epoch saw {epoch:?}");
    }
}

/// A run stopped inside its second epoch and resumed by a new session
/// sees the batches of an uninterrupted run, in the same order.
#[test]
fn a_resumed_run_continues_the_batch_order() {
    let n = 6;
    let epochs = 3;
    let statements = format!("epochs {epochs}; seed 9; shuffle");
    let whole = scratch("resume_whole");
    write_one_hot(&whole, n);
    run(&recorder(&whole, "", "d", &statements), &options(&whole));
    let want = steps_from_checkpoint(&whole, epochs * n);

    let parts = scratch("resume_parts");
    write_one_hot(&parts, n);
    let p = recorder(&parts, "", "d", &statements);
    let stop = Options {
        steps: Some(n + 2),
        ..options(&parts)
    };
    assert_eq!(run(&p, &stop).steps, n + 2);
    assert_eq!(
        steps_from_checkpoint(&parts, n + 2),
        want[..n + 2],
        "the stopped run's first steps"
    );
    let resume = Options {
        resume: true,
        ..options(&parts)
    };
    let report = run(&p, &resume);
    assert_eq!(report.steps, epochs * n);
    assert_eq!(steps_from_checkpoint(&parts, epochs * n), want);
}

/// The training and evaluation losses are means over samples: a last
/// partial batch counts by its size, not as a whole batch. The model's
/// output is always 0 (no bias, zero input), so no step changes the loss
/// and each sample's loss is the mean of its squared target.
#[test]
fn metrics_weight_a_last_partial_batch_by_its_size() {
    let dir = scratch("partial");
    // 300 samples: training batches of 128 end with one of 44, evaluation
    // batches of 256 with one of 44.
    let n = 300;
    let x: String = (0..n).map(|_| "0\n").collect();
    let y: String = (0..n).map(|i| format!("{}\n", i % 7)).collect();
    fs::write(dir.join("x.csv"), x).unwrap();
    fs::write(dir.join("y.csv"), y).unwrap();
    let src = r#"
dataset d = load(x: csv("x.csv"), y: csv("y.csv"))

model m {
  input x: f32[N, 1]
  output p = dense(x, 1, bias: false)
}

train m() on d {
  loss mse(p, y)
  optimizer sgd(lr: 0.1)
  epochs 1; batch 128
  evaluate d every epoch: loss
}
"#;
    let p = check_in(&dir, src);
    let report = run(&p, &options(&dir));
    let want = (0..n).map(|i| ((i % 7) as f64).powi(2)).sum::<f64>() / n as f64;
    let rel = |got: f64| (got - want).abs() / want;
    let train = report.records[0].values[0];
    assert_eq!(train.0, Metric::Loss);
    assert!(
        rel(train.1) < 1e-6,
        "training loss {} against {want}",
        train.1
    );
    let eval = report.records[1].values[0];
    assert_eq!(eval.0, Metric::Loss);
    assert!(
        rel(eval.1) < 1e-6,
        "evaluation loss {} against {want}",
        eval.1
    );
}
