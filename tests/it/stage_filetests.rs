//! Filetests of the stages outside `simplify`'s passes, one folder each,
//! named like the pass (`fuse` has its own harness in `fuse.rs`):
//!
//! - `tests/filetests/lower/*.dl`: a program of models, checked and lowered
//!   (eval mode, as `dlc dump --stage lower` shows models without a train
//!   block); the graph must verify and round-trip through the text form.
//! - `tests/filetests/optimizer/*.dlir`: a gradient graph whose first line
//!   names the optimizer (`# optimizer: adam`, `sgd(momentum=0.9)`,
//!   `rmsprop(centered, weight_decay=0.01)`); after the transform every
//!   gradient output is gone, every parameter and slot has exactly one
//!   `update`, and the outputs the step keeps compute what they did before
//!   (run on the interpreter on seeded inputs).
//! - `tests/filetests/plan_memory/*.dlir`: a graph fused and planned; no two
//!   temporaries that share a slot are live at once (checked here from the
//!   kernels' reads and writes, apart from the planner's own bookkeeping),
//!   and the planned program agrees with the interpreter on every runner.
//!
//! Each snapshot shows the input above the result. Accept new ones with
//! `INSTA_UPDATE=always` after reading them.

use std::path::{Path, PathBuf};

use dlc::ir::parse::parse;
use dlc::ir::print::print;
use dlc::ir::verify::verify;
use dlc::ir::{OutputKind, Role, Signature};
use dlc::kernel::{BufKind, KernelProgram};
use dlc::passes::optimizer::{apply, Optimizer};
use dlc::tensor::Tensor;

fn cases(pass: &str, ext: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/filetests")
        .join(pass);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{pass}: want at least 3 filetests");
    files
}

fn snapshot(pass: &str, file: &Path, text: &str, result: &str) {
    let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
    let shown = format!("{}\n\n# after {pass}:\n{result}", text.trim_end());
    insta::with_settings!({ omit_expression => true }, {
        insta::assert_snapshot!(format!("{pass}_{stem}"), shown);
    });
}

#[test]
fn lower() {
    for file in cases("lower", "dl") {
        let src = std::fs::read_to_string(&file).unwrap();
        let program = crate::common::check_files(&src)
            .unwrap_or_else(|d| panic!("{}", crate::common::show(&src, &d)));
        let printed: Vec<String> = program
            .models
            .iter()
            .map(|m| {
                let f = dlc::lower(m, dlc::passes::lower::Mode::Eval);
                let text = print(f.graph());
                let back = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                assert!(
                    back == *f.graph(),
                    "{}: parse(print(g)) != g",
                    file.display()
                );
                text
            })
            .collect();
        snapshot("lower", &file, &src, &printed.join("\n"));
    }
}

/// The optimizer a filetest's first line names.
fn optimizer_of(text: &str) -> Optimizer {
    let line = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# optimizer: "))
        .expect("a first line `# optimizer: NAME(ARGS)`");
    let (name, args) = match line.split_once('(') {
        Some((n, rest)) => (n, rest.trim_end_matches(')')),
        None => (line, ""),
    };
    let mut opt = match name {
        "sgd" => Optimizer::sgd(),
        "adam" => Optimizer::adam(),
        "adamw" => Optimizer::adamw(),
        "rmsprop" => Optimizer::rmsprop(),
        other => panic!("unknown optimizer `{other}`"),
    };
    for arg in args.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let (key, value) = arg.split_once('=').unwrap_or((arg, "1"));
        let v: f64 = value.parse().expect("a number");
        match (&mut opt, key) {
            (Optimizer::Sgd { momentum, .. }, "momentum") => *momentum = v,
            (Optimizer::Sgd { nesterov, .. }, "nesterov") => *nesterov = v != 0.0,
            (Optimizer::RmsProp { momentum, .. }, "momentum") => *momentum = v,
            (Optimizer::RmsProp { centered, .. }, "centered") => *centered = v != 0.0,
            (
                Optimizer::Sgd { weight_decay, .. }
                | Optimizer::Adam { weight_decay, .. }
                | Optimizer::RmsProp { weight_decay, .. },
                "weight_decay",
            ) => *weight_decay = v,
            (_, other) => panic!("`{other}` is not an argument of `{name}`"),
        }
    }
    opt
}

#[test]
fn optimizer() {
    for file in cases("optimizer", "dlir") {
        let text = std::fs::read_to_string(&file).unwrap();
        let what = file.display().to_string();
        let before = parse(&text).unwrap_or_else(|e| panic!("{what}: {e}"));
        verify(&before).unwrap_or_else(|e| panic!("{what}: input: {e}"));
        let opt = optimizer_of(&text);
        let after = apply(&before, &opt);
        verify(&after).unwrap_or_else(|e| panic!("{what}: after optimizer: {e}"));
        let printed = print(&after);
        let back = parse(&printed).unwrap_or_else(|e| panic!("{what}: reparse: {e}"));
        assert!(back == after, "{what}: parse(print(g)) != g");

        let sig = Signature::of(&after);
        assert!(
            sig.outputs
                .iter()
                .all(|o| !matches!(o.kind, OutputKind::Grad { .. })),
            "{what}: a gradient output survived"
        );
        let resident = sig.resident();
        let slots = opt.state_slots().len();
        let params = sig.inputs_with(Role::Param).len();
        assert_eq!(
            resident.len(),
            params * (1 + slots),
            "{what}: one input per slot"
        );
        for i in resident {
            assert!(
                sig.inputs[i].updated_by.is_some(),
                "{what}: `{}` is not updated",
                sig.inputs[i].name
            );
        }

        // The outputs the step keeps compute what they did: the inputs the
        // transform added come after the original ones.
        for seed in 0..2 {
            let inputs = crate::filetests::agreement::seeded_inputs(&after, seed);
            let refs: Vec<&Tensor> = inputs.iter().collect();
            let want = dlc::backend::interp::eval(&before, &refs[..before.inputs.len()])
                .unwrap_or_else(|e| panic!("{what}: before: {e}"));
            let got = dlc::backend::interp::eval(&after, &refs)
                .unwrap_or_else(|e| panic!("{what}: after: {e}"));
            for (o, w) in before.outputs.iter().zip(&want) {
                if matches!(o.kind, OutputKind::Grad { .. }) {
                    continue;
                }
                let k = after
                    .outputs
                    .iter()
                    .position(|p| p.name == o.name)
                    .unwrap_or_else(|| panic!("{what}: output `{}` was dropped", o.name));
                assert_eq!(w, &got[k], "{what}: output `{}` changed", o.name);
            }
        }
        snapshot("optimizer", &file, &text, &printed);
    }
}

/// For every temporary's root buffer: the kernels that first write and
/// last read it.
fn lifetimes(p: &KernelProgram) -> Vec<Option<(usize, usize)>> {
    let mut life: Vec<Option<(usize, usize)>> = vec![None; p.buffers.len()];
    for (k, kernel) in p.kernels.iter().enumerate() {
        for b in kernel.writes() {
            let r = p.root(b);
            let e = life[r].get_or_insert((k, k));
            e.0 = e.0.min(k);
            e.1 = e.1.max(k);
        }
        for b in kernel.reads() {
            let r = p.root(b);
            if let Some(e) = life[r].as_mut() {
                e.1 = e.1.max(k);
            }
        }
    }
    life
}

#[test]
fn plan_memory() {
    for file in cases("plan_memory", "dlir") {
        let text = std::fs::read_to_string(&file).unwrap();
        let what = file.display().to_string();
        let g = parse(&text).unwrap_or_else(|e| panic!("{what}: {e}"));
        verify(&g).unwrap_or_else(|e| panic!("{what}: {e}"));
        let mut p = dlc::passes::fuse::fuse(&g);
        dlc::passes::plan_memory::plan_memory(&mut p);
        let life = lifetimes(&p);
        let temps: Vec<usize> = (0..p.buffers.len())
            .filter(|&b| p.buffers[b].kind == BufKind::Temp && life[b].is_some())
            .collect();
        for (i, &a) in temps.iter().enumerate() {
            let slot = p.buffers[a]
                .slot
                .unwrap_or_else(|| panic!("{what}: no slot"));
            for &b in &temps[i + 1..] {
                if p.buffers[b].slot != Some(slot) {
                    continue;
                }
                let ((a0, a1), (b0, b1)) = (life[a].unwrap(), life[b].unwrap());
                // Sharing is fine when one dies before the other is born,
                // or dies in the very kernel that writes the other (an
                // elementwise write over its last read, in place).
                let apart = a1 <= b0 || b1 <= a0;
                assert!(
                    apart,
                    "{what}: %{} and %{} share slot {slot} while both live",
                    p.buffers[a].name, p.buffers[b].name
                );
            }
        }
        crate::cpu_oracle::agree_all(&text);
        snapshot("plan_memory", &file, &text, &dlc::kernel::print::print(&p));
    }
}
