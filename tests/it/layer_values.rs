//! Every layer family's forward values against PyTorch: each fixture in
//! `tests/fixtures/layers/` (written by its `make.py` from PyTorch) holds a
//! one-layer call with non-default arguments, a seeded input, seeded weights
//! under dlc's parameter paths, and PyTorch's output. The call is checked
//! as a model, lowered in the fixture's mode (eval: the graph `dlc eval` and
//! inference run; train: the forward pass of a training step), fed the
//! fixture's tensors by name (as `--init` loads weights), and run on the
//! interpreter and the cpu backend; both must match PyTorch, on the output
//! and on any state the layer updates (`out.<state>` in the fixture).

use std::path::{Path, PathBuf};

use dlc::backend::BackendKind;
use dlc::passes::lower::{lower, Mode};
use dlc::runtime::checkpoint;

use crate::common::{check_with, show, MemoryCatalog};

fn fixtures() -> Vec<PathBuf> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/layers");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    files
}

/// What differs between dlc and PyTorch on one fixture, per backend.
fn compare(path: &Path) -> Vec<String> {
    let ck = checkpoint::load(path).unwrap();
    let meta = |k: &str| ck.metadata.get(k).cloned().expect("fixture metadata");
    let (input, call) = (meta("input"), meta("call"));
    let src = format!("model m {{\n  input x: {input}\n  output y = {call}\n}}\n");
    let program = match check_with(&src, &MemoryCatalog(vec![])) {
        Ok(p) => p,
        Err(d) => return vec![format!("refused:\n{}", show(&src, &d))],
    };
    let model = program.models.iter().find(|m| m.name == "m").unwrap();
    let mode = match meta("mode").as_str() {
        "train" => Mode::Train,
        _ => Mode::Eval,
    };
    let graph = lower(model, mode);
    let tensor = |name: &str| {
        ck.tensor(name)
            .unwrap_or_else(|| panic!("{}: no tensor {name}", path.display()))
    };
    let inputs: Vec<_> = graph
        .inputs
        .iter()
        .map(|&v| tensor(graph.input_info(v).0))
        .collect();
    // The output, then each updated state PyTorch recorded.
    let mut checks = vec![(
        graph.outputs.iter().position(|o| o.name == "y").unwrap(),
        tensor("y"),
    )];
    for (name, t) in &ck.tensors {
        if let Some(state) = name.strip_prefix("out.") {
            let at = graph.outputs.iter().position(|o| o.name == state);
            let at = at.unwrap_or_else(|| panic!("{}: no output {state}", path.display()));
            checks.push((at, t));
        }
    }
    let mut wrong = Vec::new();
    for backend in ["interp", "cpu"] {
        let mut exe = BackendKind::by_name(backend)
            .unwrap()
            .backend()
            .compile_graph(&graph)
            .unwrap();
        let outputs = exe.run(&inputs).unwrap();
        for &(at, want) in &checks {
            let (got, name) = (&outputs[at], &graph.outputs[at].name);
            if got.shape() != want.shape() {
                wrong.push(format!(
                    "{backend}: {name} has shape {:?}, PyTorch {:?}",
                    got.shape(),
                    want.shape()
                ));
                continue;
            }
            let worst = got
                .to_f64_vec()
                .iter()
                .zip(want.to_f64_vec())
                .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
                .fold(0.0, f64::max);
            if worst.is_nan() || worst > 1e-5 {
                wrong.push(format!("{backend}: {name} off by {worst:e} (relative)"));
            }
        }
    }
    wrong
        .into_iter()
        .map(|w| format!("{call} on {input}: {w}"))
        .collect()
}

#[test]
fn every_layer_family_matches_pytorch() {
    let files = fixtures();
    assert!(files.len() >= 20, "the fixtures are read ({})", files.len());
    let wrong: Vec<String> = files.iter().flat_map(|f| compare(f)).collect();
    assert!(
        wrong.is_empty(),
        "{} disagreements with PyTorch:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
