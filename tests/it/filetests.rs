//! Pass filetests: each `tests/filetests/<pass>/*.dlir` is IR text. The
//! harness parses it, verifies it, runs only the pass the folder names (a
//! name in `passes::simplify::PASSES`), verifies the result, checks that the
//! result round-trips through the text form and keeps the output types,
//! snapshots the printed result (snapshot `<pass>_<stem>`, below the input
//! text so a review shows both), and runs the graph before and after in the
//! reference interpreter on seeded inputs: the two must agree.
//!
//! To add a case, drop a `.dlir` file in the folder and accept its snapshot
//! with `INSTA_UPDATE=always` after reading it.

use std::path::{Path, PathBuf};

use dlc::ir::parse::parse;
use dlc::ir::print::print;
use dlc::ir::verify::verify;
use dlc::ir::Graph;
use dlc::passes::simplify::{pass_by_name, PASSES};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filetests")
}

/// The `.dlir` files of one pass folder, sorted.
fn cases(pass: &str) -> Vec<PathBuf> {
    let dir = root().join(pass);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "dlir"))
        .collect();
    files.sort();
    files
}

fn run_folder(pass_name: &str) {
    let pass = pass_by_name(pass_name).expect("the folder names a pass");
    let files = cases(pass_name);
    assert!(
        files.len() >= 3,
        "{pass_name}: want at least 3 filetests, found {}",
        files.len()
    );
    for file in files {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let what = format!("{}", file.display());
        let before = parse(&text).unwrap_or_else(|e| panic!("{what}:{e}"));
        verify(&before).unwrap_or_else(|e| panic!("{what}: input: {e}"));

        let after = pass(&before);
        verify(&after).unwrap_or_else(|e| panic!("{what}: after {pass_name}: {e}"));
        let printed = print(&after);
        let back = parse(&printed).unwrap_or_else(|e| panic!("{what}: reparse: {e}\n{printed}"));
        assert_eq!(print(&back), printed, "{what}: print(parse(t)) != t");
        assert_eq!(
            output_types(&before),
            output_types(&after),
            "{what}: {pass_name} changed the outputs"
        );

        agreement::agree(&before, &after, &dlc::backend::interp::eval)
            .unwrap_or_else(|e| panic!("{what}: {e}\nafter {pass_name}:\n{printed}"));

        let shown = format!("{}\n\n# after {pass_name}:\n{printed}", text.trim_end());
        insta::with_settings!({ omit_expression => true }, {
            insta::assert_snapshot!(format!("{pass_name}_{stem}"), shown);
        });
    }
}

fn output_types(g: &Graph) -> Vec<(String, String)> {
    g.outputs
        .iter()
        .map(|o| (o.name.clone(), g.ty(o.value).to_string()))
        .collect()
}

#[test]
fn every_pass_has_a_folder_and_every_folder_a_pass() {
    for (name, _) in PASSES {
        assert!(root().join(name).is_dir(), "no tests/filetests/{name}/");
    }
    for e in std::fs::read_dir(root()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            // `fuse` (graph → kernels) has its own harness in `fuse.rs`;
            // `lower`, `optimizer` and `plan_memory` in `stage_filetests.rs`.
            ["fuse", "lower", "optimizer", "plan_memory"].contains(&name.as_str())
                || pass_by_name(&name).is_some(),
            "tests/filetests/{name}/ names no pass in PASSES"
        );
    }
}

#[test]
fn fold_constants() {
    run_folder("fold_constants");
}

#[test]
fn algebra() {
    run_folder("algebra");
}

#[test]
fn cse() {
    run_folder("cse");
}

#[test]
fn dce() {
    run_folder("dce");
}

#[test]
fn simplify() {
    run_folder("simplify");
}

/// Interpreter agreement: the graph before and after a pass, run on the
/// same seeded inputs, must give the same outputs. The property tests use
/// it too.
pub(crate) mod agreement {
    use dlc::backend::RunError;
    use dlc::ir::{DType, Dim, Graph};
    use dlc::tensor::Tensor;

    /// How a graph is run: `dlc::backend::interp::eval`'s signature.
    pub type Eval = dyn Fn(&Graph, &[&Tensor]) -> Result<Vec<Tensor>, RunError>;

    /// Sizes bound to the symbols, in order of first appearance in the inputs:
    /// small, distinct and not 1, so a wrong axis shows up as a shape error.
    const SYMBOL_SIZES: [usize; 4] = [3, 2, 5, 4];

    /// Runs `before` and `after` on a few seeded inputs and compares every
    /// output: same dtype and shape, and values equal up to a rounding
    /// tolerance (f32: 1e-5, f64: 1e-12, relative), NaN matching NaN. A run
    /// error must happen on both sides or neither.
    pub fn agree(before: &Graph, after: &Graph, eval: &Eval) -> Result<(), String> {
        for seed in 0..3u64 {
            let inputs = seeded_inputs(before, seed);
            let refs: Vec<&Tensor> = inputs.iter().collect();
            let (a, b) = match (eval(before, &refs), eval(after, &refs)) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(_), Err(_)) => continue,
                (Err(e), Ok(_)) => return Err(format!("seed {seed}: only before fails: {e}")),
                (Ok(_), Err(e)) => return Err(format!("seed {seed}: only after fails: {e}")),
            };
            for ((o, x), y) in before.outputs.iter().zip(&a).zip(&b) {
                if x.dtype() != y.dtype() || x.shape() != y.shape() {
                    return Err(format!(
                        "seed {seed}, output `{}`: {:?}{:?} before, {:?}{:?} after",
                        o.name,
                        x.dtype(),
                        x.shape(),
                        y.dtype(),
                        y.shape()
                    ));
                }
                let tol = if x.dtype() == DType::F32 { 1e-5 } else { 1e-12 };
                for (i, (p, q)) in x.to_f64_vec().iter().zip(y.to_f64_vec()).enumerate() {
                    let same = (p.is_nan() && q.is_nan())
                        || p == &q
                        || (p - q).abs() <= tol * (1.0 + p.abs().max(q.abs()));
                    if !same {
                        return Err(format!(
                            "seed {seed}, output `{}` element {i}: {p} before, {q} after",
                            o.name
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// One tensor per input of `g`, with symbols bound by [`SYMBOL_SIZES`] and
    /// values drawn from a splitmix64 stream seeded by `seed`: floats in
    /// [-2, 2), i32 in [-3, 3], bools either way.
    pub fn seeded_inputs(g: &Graph, seed: u64) -> Vec<Tensor> {
        let mut symbols: Vec<String> = Vec::new();
        for &v in &g.inputs {
            for d in g.ty(v).shape.dims() {
                if let Dim::Sym(s) = d {
                    if !symbols.contains(s) {
                        symbols.push(s.clone());
                    }
                }
            }
        }
        let bindings: Vec<(String, usize)> = symbols
            .into_iter()
            .enumerate()
            .map(|(i, s)| (s, SYMBOL_SIZES[i % SYMBOL_SIZES.len()]))
            .collect();
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        g.inputs
            .iter()
            .map(|&v| {
                let ty = g.ty(v);
                let shape = ty.shape.bind(&bindings).expect("inputs bind their symbols");
                let n: usize = shape.iter().product();
                let values: Vec<f64> = (0..n)
                    .map(|_| {
                        let u = (next() >> 11) as f64 / (1u64 << 53) as f64;
                        match ty.dtype {
                            DType::F32 | DType::F64 => 4.0 * u - 2.0,
                            DType::I32 => (7.0 * u).floor() - 3.0,
                            DType::Bool => f64::from(u8::from(u < 0.5)),
                        }
                    })
                    .collect();
                Tensor::from_f64(ty.dtype, &shape, values)
            })
            .collect()
    }
}
