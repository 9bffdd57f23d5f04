//! The built `dlc` binary end to end: exit codes, diagnostics without
//! backtraces, dumps, training with metrics, checkpoints, exact resume.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dlc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dlc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("dlc runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A scratch directory unique to one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dlc-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The digits example with its checkpoint directory moved to `dir`.
fn digits_program(dir: &Path) -> PathBuf {
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/digits_mlp.dl"),
    )
    .unwrap();
    let src = src.replace(
        "\"runs/digits\"",
        &format!("{:?}", dir.join("run").display().to_string()),
    );
    let path = dir.join("digits.dl");
    std::fs::write(&path, src).unwrap();
    path
}

#[test]
fn check_accepts_every_example() {
    for e in crate::common::EXAMPLES {
        let out = dlc(&["check", &format!("examples/{e}.dl")]);
        assert_eq!(out.status.code(), Some(0), "{e}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("ok"));
    }
}

#[test]
fn check_reports_user_errors_with_location_and_exit_1() {
    let out = dlc(&["check", "tests/ui/unknown_layer.dl"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("tests/ui/unknown_layer.dl:"), "{err}");
    assert!(err.contains("E0103") && err.contains("relu"), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
fn missing_file_and_bad_arguments_are_user_errors() {
    let out = dlc(&["check", "no/such/file.dl"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read no/such/file.dl"));
    let out = dlc(&["train", "examples/xor.dl", "--bogus"]);
    assert_eq!(out.status.code(), Some(1));
    let out = dlc(&["train", "examples/xor.dl", "--backend", "tpu"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown backend `tpu`"));
}

#[test]
fn explain_prints_a_code_and_refuses_unknown_ones() {
    let out = dlc(&["explain", "E0301"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("## E0301"));
    assert_eq!(dlc(&["explain", "E9999"]).status.code(), Some(1));
}

#[test]
fn dump_stages_print_parseable_ir_and_dot() {
    // The stages by their pass names, and by their earlier names.
    for stage in [
        "lower",
        "autodiff",
        "optimizer",
        "simplify",
        "ir",
        "grad",
        "opt",
    ] {
        let out = dlc(&["dump", "examples/xor.dl", "--stage", stage]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let ir = text(&out.stdout);
        let g = dlc::ir::parse::parse(&ir).unwrap_or_else(|e| panic!("{stage}: {e}"));
        dlc::ir::verify::verify(&g).unwrap();
    }
    let out = dlc(&[
        "dump",
        "examples/xor.dl",
        "--stage",
        "ir",
        "--format",
        "dot",
    ]);
    assert!(text(&out.stdout).starts_with("digraph"));
    for stage in ["ast", "checked"] {
        let out = dlc(&["dump", "examples/xor.dl", "--stage", stage]);
        assert_eq!(out.status.code(), Some(0));
        assert!(!out.stdout.is_empty());
    }
}

#[test]
fn train_writes_metrics_lines_and_eval_reads_the_checkpoint() {
    let dir = scratch("metrics");
    let prog = digits_program(&dir);
    let metrics = dir.join("m.jsonl");
    let out = dlc(&[
        "train",
        prog.to_str().unwrap(),
        "--epochs",
        "2",
        "--metrics",
        metrics.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&metrics)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "train and test lines for 2 epochs");
    let last = &lines[3];
    assert_eq!(
        (last["epoch"].as_u64(), last["split"].as_str()),
        (Some(2), Some("test"))
    );
    assert!(last["loss"].as_f64().unwrap() > 0.0);
    assert!(last["accuracy"].as_f64().unwrap() > 0.8);
    let ck = dir.join("run/checkpoint.safetensors");
    let out = dlc(&[
        "eval",
        prog.to_str().unwrap(),
        "--checkpoint",
        ck.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let acc = last["accuracy"].as_f64().unwrap();
    assert!(
        text(&out.stdout).contains(&format!("accuracy {acc:.4}")),
        "{}",
        text(&out.stdout)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_stopped_run_resumes_exactly() {
    let dir_a = scratch("resume-a");
    let dir_b = scratch("resume-b");
    let (a, b) = (digits_program(&dir_a), digits_program(&dir_b));
    // A: two epochs straight. B: stopped after 50 steps (inside epoch 2),
    // then resumed. The weights must agree bit for bit.
    let out = dlc(&["train", a.to_str().unwrap(), "--epochs", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = dlc(&[
        "train",
        b.to_str().unwrap(),
        "--epochs",
        "2",
        "--steps",
        "50",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = dlc(&["train", b.to_str().unwrap(), "--epochs", "2", "--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("resuming"));
    let load =
        |d: &Path| dlc::runtime::checkpoint::load(&d.join("run/checkpoint.safetensors")).unwrap();
    let (ca, cb) = (load(&dir_a), load(&dir_b));
    assert_eq!(ca.tensors, cb.tensors);
    assert_eq!(ca.metadata.get("step"), cb.metadata.get("step"));
    let _ = std::fs::remove_dir_all(dir_a);
    let _ = std::fs::remove_dir_all(dir_b);
}

#[test]
fn resume_without_a_checkpoint_and_bad_init_are_user_errors() {
    let dir = scratch("noresume");
    let prog = digits_program(&dir);
    let out = dlc(&["train", prog.to_str().unwrap(), "--resume"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no checkpoint"),
        "{}",
        text(&out.stderr)
    );
    let out = dlc(&[
        "train",
        prog.to_str().unwrap(),
        "--init",
        "missing.safetensors",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing.safetensors"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_diverging_loss_stops_with_a_clear_message() {
    let dir = scratch("diverge");
    let src =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/diabetes.dl"))
            .unwrap();
    // Whatever the example's optimizer, a learning rate of a million diverges.
    let src: String = src
        .lines()
        .map(|l| match l.trim_start().starts_with("optimizer") {
            true => "  optimizer sgd(lr: 1000000)",
            false => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let run = format!("{:?}", dir.join("run").display().to_string());
    let src = src.replace("\"runs/diabetes\"", &run);
    let prog = dir.join("diverge.dl");
    std::fs::write(&prog, src).unwrap();
    let out = dlc(&["train", prog.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("training diverged") && err.contains("lower learning rate"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn labels_outside_the_classes_are_refused_before_training() {
    let dir = scratch("labels");
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/digits_mlp.dl"),
    )
    .unwrap();
    // Eight classes for labels 0-9: two of the digits have no logit.
    let src = src
        .replace("classes: int = 10", "classes: int = 8")
        .replace(
            "\"runs/digits\"",
            &format!("{:?}", dir.join("run").display().to_string()),
        );
    let prog = dir.join("eight.dl");
    std::fs::write(&prog, src).unwrap();
    let out = dlc(&["train", prog.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("not one of the 8 classes of `logits` (0 to 7)"),
        "{err}"
    );
    assert!(!dir.join("run").exists(), "nothing was trained or saved");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn summary_tabulates_layers_parameters_and_flops() {
    let out = dlc(&["summary", "examples/digits_mlp.dl", "--batch", "64"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    // 64·128+128 + 128·64+64 + 64·10+10 parameters.
    assert!(table.contains("parameters          17,226"), "{table}");
    insta::assert_snapshot!("summary_digits", table);
}

#[test]
fn bench_prints_one_json_object_with_throughput_and_stage_times() {
    let out = dlc(&["bench", "benches/workloads/mlp.dl", "--steps", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("bench prints JSON");
    for key in [
        "samples_per_s",
        "steps_per_s",
        "compile_ms",
        "step_us_median",
        "step_us_mean",
        "step_us_p95",
        "step_us_min",
    ] {
        assert!(v[key].as_f64().is_some_and(|x| x > 0.0), "{key} in {v}");
    }
    // Throughput is the mean's (the total time of the timed steps), and
    // the order statistics are in order.
    let us = |key: &str| v[key].as_f64().unwrap_or(f64::NAN);
    let from_mean = 64.0 * 1e6 / us("step_us_mean");
    assert!(
        (us("samples_per_s") - from_mean).abs() <= 1e-3 * from_mean + 0.1,
        "samples_per_s from the mean step in {v}"
    );
    assert!(
        us("step_us_min") <= us("step_us_median") && us("step_us_median") <= us("step_us_p95"),
        "{v}"
    );
    assert!(us("step_us_min") <= us("step_us_mean"), "{v}");
    assert_eq!(v["steps"], 3);
    assert_eq!(v["batch"], 64, "the program's batch by default");
    assert_eq!(v["mode"], "train");
    assert!(v["final_loss"].as_f64().is_some_and(f64::is_finite), "{v}");
    let stages = v["stages_ms"].as_object().expect("stages_ms is an object");
    for s in [
        "parse",
        "check",
        "lower",
        "autodiff",
        "optimizer",
        "simplify",
        "fuse",
        "plan_memory",
        "codegen",
    ] {
        assert!(stages[s].as_f64().is_some_and(|x| x >= 0.0), "{s} in {v}");
    }
}

#[test]
fn bench_inference_mode_and_its_argument_errors() {
    let out = dlc(&[
        "bench",
        "benches/workloads/mlp.dl",
        "--inference",
        "--batch",
        "1",
        "--threads",
        "1",
        "--steps",
        "2",
        "--backend",
        "interp",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(v["mode"], "inference");
    assert_eq!(
        (v["batch"].clone(), v["threads"].clone()),
        (1.into(), 1.into())
    );
    assert!(
        v["stages_ms"]["autodiff"].is_null(),
        "no autodiff in inference"
    );
    let out = dlc(&["bench", "benches/workloads/mlp.dl", "--threads", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--threads"));
    let out = dlc(&["bench", "benches/workloads/mlp.dl", "--backend", "tpu"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown backend `tpu`"));
}

#[test]
fn bench_profile_lists_every_kernel_of_the_step_on_stderr() {
    let args = |backend: &'static str| {
        [
            "bench",
            "benches/workloads/lstm.dl",
            "--steps",
            "2",
            "--warmup",
            "0",
            "--threads",
            "1",
            "--profile",
            "--backend",
            backend,
        ]
    };
    let out = dlc(&args("cpu"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // stdout stays one JSON object; the table goes to stderr.
    let _: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let err = text(&out.stderr);
    assert!(err.contains("us/step"), "{err}");
    // The step's scans, their bodies' kernels with 32 calls a step (one
    // per time step), and the products outside the loop.
    assert!(
        err.contains("@classifier %") && err.contains(" scan"),
        "{err}"
    );
    let body = err
        .lines()
        .find(|l| l.contains("@lstm_cell ") && l.contains("matmul"))
        .unwrap_or_else(|| panic!("no per-step product in\n{err}"));
    let calls: f64 = body.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert_eq!(calls, 32.0, "{body}");
    // The interpreter has no kernels to time: it says so.
    let out = dlc(&args("interp"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no kernels"),
        "{}",
        text(&out.stderr)
    );
}
