//! Training with layers that behave differently in train and eval mode
//! (dropout, batch norm) through the runtime: a stopped and resumed run is
//! bit-identical to an uninterrupted one (dropout's key comes from the seed
//! and the step, batch norm's running statistics are checkpointed), and the
//! evaluation of a saved checkpoint (`--init`, as `dlc eval --checkpoint`
//! does) reads the running statistics back and reproduces the run's metrics.

use std::path::{Path, PathBuf};

use dlc::runtime::checkpoint;
use dlc::runtime::train::{Options, Session};
use dlc::sema::program::Metric;

use crate::common::{check_files, show};

/// The digits classifier with batch norm and dropout, saving under `dir`.
fn program(dir: &Path) -> dlc::sema::Program {
    let src = format!(
        r#"
dataset digits = csv("data/digits.csv.gz", label: last)
  |> scale(x: 1/16)
  |> split(train: 0.8, test: 0.2, seed: 7)

model mlp {{
  input x: f32[N, 64]
  h = dense(x, 32) |> batch_norm |> relu |> dropout(rate: 0.3)
  h = dense(h, 16) |> batch_norm(momentum: 0.2) |> relu
  output logits = h |> dropout(rate: 0.1) |> dense(10)
}}

train mlp() on digits.train {{
  loss cross_entropy(logits, label)
  optimizer adam(lr: 0.01)
  epochs 2; batch 64; shuffle
  evaluate digits.test every epoch: accuracy, loss
  save {:?}
}}
"#,
        dir.display().to_string()
    );
    check_files(&src).unwrap_or_else(|d| panic!("{}", show(&src, &d)))
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dlc-trainmode-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn opts() -> Options {
    Options {
        backend: Some(dlc::backend::BackendKind::Interp),
        base: PathBuf::from("."),
        ..Options::default()
    }
}

#[test]
fn a_stopped_run_with_dropout_and_batch_norm_resumes_exactly() {
    let (dir_a, dir_b) = (scratch("a"), scratch("b"));
    let (pa, pb) = (program(&dir_a), program(&dir_b));
    // A: two epochs straight (23 steps each).
    let report_a = Session::new(&pa, &opts()).unwrap().run(&opts()).unwrap();
    // B: stopped inside the second epoch, then resumed by a new session.
    let stop = Options {
        steps: Some(30),
        ..opts()
    };
    Session::new(&pb, &stop).unwrap().run(&stop).unwrap();
    let resume = Options {
        resume: true,
        ..opts()
    };
    let report_b = Session::new(&pb, &resume).unwrap().run(&resume).unwrap();
    assert_eq!(report_a.steps, report_b.steps);
    let file = |d: &Path| d.join("checkpoint.safetensors");
    let (ca, cb) = (
        checkpoint::load(&file(&dir_a)).unwrap(),
        checkpoint::load(&file(&dir_b)).unwrap(),
    );
    assert_eq!(ca.tensors, cb.tensors, "resumed weights differ");
    // The running statistics are saved, and moved from their 0 and 1.
    let get = |n: &str| {
        ca.tensors
            .iter()
            .find(|(k, _)| k == n)
            .unwrap_or_else(|| panic!("no {n} in the checkpoint"))
            .1
            .to_f64_vec()
    };
    assert!(get("mlp.h.1.running_mean").iter().any(|&v| v != 0.0));
    assert!(get("mlp.h_2.1.running_var").iter().any(|&v| v != 1.0));
    // Evaluating the checkpoint in a new session (`--init`, what `dlc eval
    // --checkpoint` does) reproduces the last epoch's test metrics exactly:
    // the running statistics were loaded, not left at 0 and 1.
    let init = Options {
        init: Some(file(&dir_a)),
        ..opts()
    };
    let mut s = Session::new(&pa, &init).unwrap();
    let test = &pa.train.as_ref().unwrap().evaluate[0];
    let got = s.evaluate(&test.data, &test.metrics).unwrap();
    for (m, v) in got {
        assert_eq!(Some(v), report_a.last("test", m), "{}", m.name());
    }
    assert!(report_a.last("test", Metric::Accuracy).unwrap() > 0.8);
    let _ = std::fs::remove_dir_all(dir_a);
    let _ = std::fs::remove_dir_all(dir_b);
}

/// `dlc dump` says which mode a graph is in when the model has layers that
/// depend on it, as an IR comment (the dump still parses); other programs'
/// dumps are unchanged.
#[test]
fn dumps_name_the_lowering_mode() {
    let dump = |file: &str, stage: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dlc"))
            .args(["dump", file, "--stage", stage])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("dlc runs");
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).unwrap()
    };
    for stage in ["lower", "autodiff", "simplify"] {
        let text = dump("examples/digits_regularized.dl", stage);
        assert!(text.starts_with("# train mode:"), "{stage}: {text}");
        dlc::ir::parse::parse(&text).unwrap_or_else(|e| panic!("{stage}: {e}"));
        assert!(!dump("examples/digits_mlp.dl", stage).contains("mode"));
    }
    // While the cpu backend has no kernel for an op of the step (dropout's
    // draw), the kernels stage is refused as a user error naming it, never
    // an internal error.
    let src = crate::common::example("digits_regularized");
    let program = check_files(&src).unwrap();
    let step = dlc::training_step(program.train.as_ref().unwrap());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dlc"))
        .args([
            "dump",
            "examples/digits_regularized.dl",
            "--stage",
            "kernels",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("dlc runs");
    match dlc::passes::fuse::unsupported_op(step.graph()) {
        Some(op) => {
            assert_eq!(out.status.code(), Some(1));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(&format!("`{op}`")), "{err}");
        }
        None => assert_eq!(out.status.code(), Some(0)),
    }
}

/// Batch norm without dropout needs no op the cpu backend lacks: its
/// training step (batch statistics, running-statistics update) and its
/// evaluation graph run compiled, and agree with the interpreter.
#[test]
fn batch_norm_trains_alike_on_cpu_and_interp() {
    let src = r#"
dataset digits = csv("data/digits.csv.gz", label: last)
  |> scale(x: 1/16)
  |> split(train: 0.8, test: 0.2, seed: 7)

model mlp {
  input x: f32[N, 64]
  h = dense(x, 32) |> batch_norm |> relu
  output logits = dense(h, 10)
}

train mlp() on digits.train {
  loss cross_entropy(logits, label)
  optimizer sgd(lr: 0.1, momentum: 0.9)
  epochs 1; batch 32; shuffle
  evaluate digits.test every epoch: accuracy, loss
}
"#;
    let program = check_files(src).unwrap_or_else(|d| panic!("{}", show(src, &d)));
    let step = dlc::training_step(program.train.as_ref().unwrap());
    assert_eq!(dlc::passes::fuse::unsupported_op(step.graph()), None);
    let run = |backend: &str| {
        let opts = Options {
            backend: dlc::backend::BackendKind::by_name(backend),
            steps: Some(20),
            ..opts()
        };
        let mut s = Session::new(&program, &opts).unwrap();
        let report = s.run(&opts).unwrap();
        let test = &program.train.as_ref().unwrap().evaluate[0];
        (s.evaluate(&test.data, &test.metrics).unwrap(), report)
    };
    let ((want, _), (got, _)) = (run("interp"), run("cpu"));
    for ((m, w), (_, g)) in want.iter().zip(&got) {
        assert!(
            (w - g).abs() <= 1e-4 * w.abs().max(1.0),
            "{}: {w} vs {g}",
            m.name()
        );
    }
}
