//! Backend oracle for the CPU path: every primitive × shapes (size-1 and
//! broadcast dimensions included), run through fusion and memory planning,
//! on the kernel-program reference interpreter and on the Cranelift-compiled
//! `cpu` backend, each against the graph interpreter. One shared test body
//! (`agree_all`) runs each graph on every runner.
//!
//! Tolerance: f32 results agree to 1e-5 relative (`|a-b| <= 1e-5·(1+max(|a|,
//! |b|))`; fused multiply-adds and a different summation order move the
//! last bits), f64 to 1e-12, integers and bools exactly, NaN matches NaN.
//! The `cpu` backend runs with denormals flushed (`cpu_denormals.rs`), the
//! interpreter and the reference runner with IEEE subnormals: a result
//! below 1.2e-38 is zero on one side and subnormal on the other, inside
//! every tolerance here, and the seeded inputs are normal numbers.

use dlc::backend::{interp, RunError};
use dlc::ir::parse::parse;
use dlc::ir::verify::verify;
use dlc::ir::{DType, Graph};
use dlc::kernel::{kernel_program, reference};
use dlc::tensor::Tensor;

use crate::filetests::agreement::seeded_inputs;

type Runner = (
    &'static str,
    fn(&Graph, &[&Tensor]) -> Result<Vec<Tensor>, RunError>,
);

fn reference_run(g: &Graph, inputs: &[&Tensor]) -> Result<Vec<Tensor>, RunError> {
    reference::run(&kernel_program(g), inputs)
}

fn cpu_run(g: &Graph, inputs: &[&Tensor]) -> Result<Vec<Tensor>, RunError> {
    let backend = dlc::backend::BackendKind::Cpu.backend();
    let mut exe = backend
        .compile_graph(g)
        .map_err(|e| RunError(e.to_string()))?;
    exe.run(inputs)
}

const RUNNERS: [Runner; 2] = [("reference", reference_run), ("cpu", cpu_run)];

/// Whether two results agree within the stated tolerance (`f32_tol` for
/// f32; long f32 sums need more than the default 1e-5).
pub fn close_within(x: &Tensor, y: &Tensor, f32_tol: f64) -> Result<(), String> {
    if x.dtype() != y.dtype() || x.shape() != y.shape() {
        return Err(format!(
            "{:?}{:?} vs {:?}{:?}",
            x.dtype(),
            x.shape(),
            y.dtype(),
            y.shape()
        ));
    }
    let tol = match x.dtype() {
        DType::F32 => f32_tol,
        DType::F64 => 1e-12,
        _ => 0.0,
    };
    for (i, (p, q)) in x.to_f64_vec().iter().zip(y.to_f64_vec()).enumerate() {
        let same = (p.is_nan() && q.is_nan())
            || *p == q
            || (p - q).abs() <= tol * (1.0 + p.abs().max(q.abs()));
        if !same {
            return Err(format!("element {i}: {p} (interp) vs {q}"));
        }
    }
    Ok(())
}

/// Runs the graph in `text` on the interpreter and on every runner, on
/// three seeded input sets, and compares every output.
pub fn agree_all(text: &str) {
    agree_all_within(text, 1e-5)
}

/// [`agree_all`] with the f32 tolerance given.
pub fn agree_all_within(text: &str, f32_tol: f64) {
    let g = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    verify(&g).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for seed in 0..3 {
        let inputs = seeded_inputs(&g, seed);
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let want = interp::eval(&g, &refs).unwrap_or_else(|e| panic!("interp: {e}\n{text}"));
        for (name, run) in RUNNERS {
            let got = run(&g, &refs).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
            assert_eq!(got.len(), want.len());
            for ((o, w), x) in g.outputs.iter().zip(&want).zip(&got) {
                close_within(w, x, f32_tol).unwrap_or_else(|e| {
                    panic!(
                        "{name}, seed {seed}, output `{}`: {e}\n{text}\n{}",
                        o.name,
                        dlc::kernel::print::print(&kernel_program(&g))
                    )
                });
            }
        }
    }
}

/// A one-op graph: inputs `%a`, `%b`, `%c` of the given types, one output.
fn one(inputs: &[&str], body: &str, out: &str) -> String {
    let names = ["a", "b", "c"];
    let ins: Vec<String> = inputs
        .iter()
        .zip(names)
        .map(|(t, n)| format!("%{n}: {t} data"))
        .collect();
    format!(
        "graph @t({}) -> (%y: {out}) {{\n{body}\n  return %y = %y\n}}\n",
        ins.join(", ")
    )
}

const FLOAT_SHAPES: [&str; 4] = ["f32[N,3]", "f32[2,1,5]", "f32[]", "f32[1]"];

#[test]
fn unary_float() {
    for op in dlc::ir::UnaryOp::ALL {
        for ty in FLOAT_SHAPES.iter().chain(&["f64[N,2]"]) {
            agree_all(&one(&[ty], &format!("  %y = {} %a : {ty}", op.name()), ty));
        }
    }
}

#[test]
fn exp_over_its_whole_range() {
    // f32 exp is computed in registers (not Rust's expf): from -105 (0, via
    // subnormals) to 104 (inf), in 4-lane blocks and in the scalar tail of
    // a 303-wide row, plus ±inf and NaN from dividing by zero; within 1e-6
    // relative (8 ulp; Cephes' polynomial is within 2).
    agree_all_within(
        "graph @e(%a: f32[N,3] data) -> (%y: f32[303], %z: f32[N,3], %v: f32[N,3]) {
  %i = iota axis=0 : f32[303]
  %c = const 150 : f32[303]
  %s = const 0.7 : f32[303]
  %d = sub %i, %c : f32[303]
  %x = mul %d, %s : f32[303]
  %y = exp %x : f32[303]
  %zero = const 0 : f32[N,3]
  %q = div %a, %zero : f32[N,3]
  %q2 = sub %q, %q : f32[N,3]
  %w = add %q, %q2 : f32[N,3]
  %z = exp %w : f32[N,3]
  %v = exp %q : f32[N,3]
  return %y = %y, %z = %z, %v = %v
}",
        1e-6,
    );
}

#[test]
fn unary_int() {
    for op in ["neg", "abs", "sign"] {
        agree_all(&one(
            &["i32[N,3]"],
            &format!("  %y = {op} %a : i32[N,3]"),
            "i32[N,3]",
        ));
    }
}

#[test]
fn binary_float_with_broadcasts() {
    for op in dlc::ir::BinaryOp::ALL {
        let n = op.name();
        // same shape, a broadcast row, a size-1 axis stretched, a scalar
        agree_all(&one(
            &["f32[N,3]", "f32[N,3]"],
            &format!("  %y = {n} %a, %b : f32[N,3]"),
            "f32[N,3]",
        ));
        agree_all(&one(
            &["f32[N,3]", "f32[3]"],
            &format!("  %bb = broadcast %b dims=[1] : f32[N,3]\n  %y = {n} %a, %bb : f32[N,3]"),
            "f32[N,3]",
        ));
        agree_all(&one(
            &["f32[N,1]", "f32[1,4]"],
            &format!(
                "  %aa = broadcast %a dims=[0,1] : f32[N,4]\n  %bb = broadcast %b dims=[0,1] : f32[N,4]\n  %y = {n} %aa, %bb : f32[N,4]"
            ),
            "f32[N,4]",
        ));
        agree_all(&one(
            &["f32[2,N,3]", "f32[]"],
            &format!("  %bb = broadcast %b dims=[] : f32[2,N,3]\n  %y = {n} %bb, %a : f32[2,N,3]"),
            "f32[2,N,3]",
        ));
    }
}

#[test]
fn binary_int() {
    for op in ["add", "sub", "mul", "max", "min"] {
        agree_all(&one(
            &["i32[N,3]", "i32[3]"],
            &format!("  %bb = broadcast %b dims=[1] : i32[N,3]\n  %y = {op} %a, %bb : i32[N,3]"),
            "i32[N,3]",
        ));
    }
}

#[test]
fn compare_and_select() {
    for op in dlc::ir::CmpOp::ALL {
        let n = op.name();
        agree_all(&one(
            &["f32[N,3]", "f32[3]"],
            &format!(
                "  %bb = broadcast %b dims=[1] : f32[N,3]\n  %c = {n} %a, %bb : bool[N,3]\n  %y = select %c, %a, %bb : f32[N,3]"
            ),
            "f32[N,3]",
        ));
        agree_all(&one(
            &["i32[N,3]", "i32[N,3]"],
            &format!("  %y = {n} %a, %b : bool[N,3]"),
            "bool[N,3]",
        ));
    }
    agree_all(&one(
        &["bool[N,3]", "i32[N,3]", "i32[N,3]"],
        "  %y = select %a, %b, %c : i32[N,3]",
        "i32[N,3]",
    ));
}

#[test]
fn casts() {
    for (from, to) in [
        ("f32", "i32"),
        ("i32", "f32"),
        ("bool", "f32"),
        ("f32", "bool"),
        ("f32", "f64"),
        ("f64", "f32"),
        ("i32", "bool"),
    ] {
        agree_all(&one(
            &[&format!("{from}[N,3]")],
            &format!("  %y = cast %a : {to}[N,3]"),
            &format!("{to}[N,3]"),
        ));
    }
}

#[test]
fn reductions() {
    for op in ["reduce_sum", "reduce_max"] {
        for (axes, out) in [
            ("[0]", "[3,4]"),
            ("[1]", "[N,4]"),
            ("[2]", "[N,3]"),
            ("[0,2]", "[3]"),
            ("[1,2]", "[N]"),
            ("[0,1,2]", "[]"),
        ] {
            agree_all(&one(
                &["f32[N,3,4]"],
                &format!("  %e = exp %a : f32[N,3,4]\n  %y = {op} %e axes={axes} : f32{out}"),
                &format!("f32{out}"),
            ));
            agree_all(&one(
                &["i32[N,3,4]"],
                &format!("  %y = {op} %a axes={axes} : i32{out}"),
                &format!("i32{out}"),
            ));
        }
    }
    agree_all(&one(
        &["bool[N,3]"],
        "  %y = reduce_max %a axes=[1] : bool[N]",
        "bool[N]",
    ));
    agree_all(&one(
        &["f32[N,1,3]"],
        "  %y = reduce_sum %a axes=[1] : f32[N,3]",
        "f32[N,3]",
    ));
}

#[test]
fn movement() {
    agree_all(&one(
        &["f32[3]"],
        "  %y = broadcast %a dims=[2] : f32[4,2,3]",
        "f32[4,2,3]",
    ));
    agree_all(&one(
        &["f32[N,6]"],
        "  %r = reshape %a : f32[N,2,3]\n  %y = exp %r : f32[N,2,3]",
        "f32[N,2,3]",
    ));
    agree_all(&one(
        &["f32[N,6]"],
        "  %e = exp %a : f32[N,6]\n  %y = reshape %e : f32[N,3,2]",
        "f32[N,3,2]",
    ));
    agree_all(&one(
        &["f32[N,1,3]"],
        "  %r = reshape %a : f32[N,3]\n  %y = neg %r : f32[N,3]",
        "f32[N,3]",
    ));
    agree_all(&one(
        &["f32[2,3,N]"],
        "  %t = transpose %a perm=[2,0,1] : f32[N,2,3]\n  %y = exp %t : f32[N,2,3]",
        "f32[N,2,3]",
    ));
    agree_all(&one(
        &["f32[N,3]"],
        "  %y = transpose %a perm=[1,0] : f32[3,N]",
        "f32[3,N]",
    ));
    agree_all(&one(
        &["f32[N,3]"],
        "  %y = reshape %a : f32[N,3]",
        "f32[N,3]",
    ));
}

#[test]
fn creation() {
    agree_all(&one(
        &["f32[N,3]"],
        "  %i = iota axis=1 : f32[N,3]\n  %y = add %a, %i : f32[N,3]",
        "f32[N,3]",
    ));
    agree_all(&one(
        &["f32[N,3]"],
        "  %i = iota axis=0 : i32[N,3]\n  %y = cast %i : f32[N,3]",
        "f32[N,3]",
    ));
    agree_all(&one(
        &["f32[N,3]"],
        "  %y = const 2.5 : f32[2,2]",
        "f32[2,2]",
    ));
    agree_all(&one(
        &["f32[N,3]"],
        "  %d = dim %a axis=0 : f32[]\n  %db = broadcast %d dims=[] : f32[N,3]\n  %y = div %a, %db : f32[N,3]",
        "f32[N,3]",
    ));
    agree_all(&one(&["f32[N,3]"], "  %y = dim %a axis=1 : i32[]", "i32[]"));
}

#[test]
fn matmuls() {
    for (a, b, body, out) in [
        ("f32[N,3]", "f32[3,4]", "  %y = matmul %a, %b : f32[N,4]", "f32[N,4]"),
        (
            "f32[3,N]",
            "f32[4,3]",
            "  %at = transpose %a perm=[1,0] : f32[N,3]\n  %bt = transpose %b perm=[1,0] : f32[3,4]\n  %y = matmul %at, %bt : f32[N,4]",
            "f32[N,4]",
        ),
        (
            "f32[2,N,3]",
            "f32[2,3,5]",
            "  %y = matmul %a, %b : f32[2,N,5]",
            "f32[2,N,5]",
        ),
        (
            "f32[N,1]",
            "f32[1,4]",
            "  %y = matmul %a, %b : f32[N,4]",
            "f32[N,4]",
        ),
        (
            "f64[N,3]",
            "f64[3,2]",
            "  %y = matmul %a, %b : f64[N,2]",
            "f64[N,2]",
        ),
        // One row (the streaming row-times-matrix path): 8-column vectors
        // and a masked tail; batched; B transposed (gemm).
        (
            "f32[1,70]",
            "f32[70,75]",
            "  %y = matmul %a, %b : f32[1,75]",
            "f32[1,75]",
        ),
        (
            "f32[2,1,9]",
            "f32[2,9,67]",
            "  %y = matmul %a, %b : f32[2,1,67]",
            "f32[2,1,67]",
        ),
        (
            "f32[1,5]",
            "f32[7,5]",
            "  %bt = transpose %b perm=[1,0] : f32[5,7]\n  %y = matmul %a, %bt : f32[1,7]",
            "f32[1,7]",
        ),
    ] {
        agree_all(&one(&[a, b], body, out));
    }
    // One row above GEMV_PARALLEL_MIN: B's rows split over the pool's
    // threads, partial sums added (300-term sums: 1e-4, as below).
    agree_all_within(
        &one(
            &["f32[1,300]", "f32[300,450]"],
            "  %y = matmul %a, %b : f32[1,450]",
            "f32[1,450]",
        ),
        1e-4,
    );
}

#[test]
fn dense_relu_epilogue_and_softmax() {
    agree_all(
        "graph @dense(%x: f32[N,5] data, %w: f32[5,4] param, %b: f32[4] param) -> (%h: f32[N,4], %p: f32[N,4]) {
  %z = matmul %x, %w : f32[N,4]
  %bb = broadcast %b dims=[1] : f32[N,4]
  %zb = add %z, %bb : f32[N,4]
  %zero = const 0 : f32[N,4]
  %h = max %zb, %zero : f32[N,4]
  %m = reduce_max %h axes=[1] : f32[N]
  %mb = broadcast %m dims=[0] : f32[N,4]
  %s = sub %h, %mb : f32[N,4]
  %e = exp %s : f32[N,4]
  %se = reduce_sum %e axes=[1] : f32[N]
  %seb = broadcast %se dims=[0] : f32[N,4]
  %p = div %e, %seb : f32[N,4]
  return %h = %h, %p = %p
}",
    );
}

#[test]
fn outputs_that_are_inputs_or_repeated() {
    agree_all(
        "graph @t(%a: f32[N,3] data) -> (%x: f32[N,3], %y: f32[N,3], %z: f32[N,3]) {
  %e = exp %a : f32[N,3]
  return %x = %a, %y = %e, %z = %e
}",
    );
}

#[test]
fn wrong_inputs_are_errors_not_panics() {
    let g = parse(&one(&["f32[N,3]"], "  %y = exp %a : f32[N,3]", "f32[N,3]")).unwrap();
    let bad = Tensor::zeros(&g.ty(g.inputs[0]).clone(), &[2, 4]);
    for (name, run) in RUNNERS {
        assert!(run(&g, &[&bad]).is_err(), "{name} accepted a wrong shape");
        assert!(run(&g, &[]).is_err(), "{name} accepted no inputs");
    }
}

#[test]
fn big_shapes_split_across_threads() {
    // Above the parallel thresholds: loops split by rows, gemm threaded.
    // Sums of 1024 f32 products in different orders (the reference sums in
    // f64) differ by ~1e-5 of their terms' size: tolerance 1e-4 here.
    agree_all_within(
        "graph @big(%x: f32[64,1024] data, %w: f32[1024,96] param, %v: f32[1024] data) -> (%y: f32[64,1024], %s: f32[1024], %h: f32[64,96]) {
  %vb = broadcast %v dims=[1] : f32[64,1024]
  %m = mul %x, %vb : f32[64,1024]
  %y = tanh %m : f32[64,1024]
  %s = reduce_sum %y axes=[0] : f32[1024]
  %z = matmul %y, %w : f32[64,96]
  %zero = const 0 : f32[64,96]
  %h = max %z, %zero : f32[64,96]
  return %y = %y, %s = %s, %h = %h
}",
        1e-4,
    );
}

/// Trains `examples/<name>.dl` for a few steps on a backend; the parameters.
fn train_steps(name: &str, backend: &str, steps: usize) -> Vec<(String, Tensor)> {
    use dlc::runtime::train::{Options, Session};
    let src = crate::common::example(name);
    let mut program = crate::common::check_files(&src)
        .unwrap_or_else(|d| panic!("{}", crate::common::show(&src, &d)));
    if let Some(t) = program.train.as_mut() {
        // Checkpoints, if any, go nowhere near the repository.
        let dir = std::env::temp_dir().join(format!("dlc-cpu-{name}-{}", std::process::id()));
        t.save = Some(dir.join(backend).display().to_string());
    }
    let opts = Options {
        backend: dlc::backend::BackendKind::by_name(backend),
        base: ".".into(),
        steps: Some(steps),
        ..Options::default()
    };
    let mut session = Session::new(&program, &opts).expect("session");
    session.run(&opts).expect("training runs");
    session.params().to_vec()
}

/// Every example, trained for 25 optimizer steps on `cpu` and on `interp`
/// from the same seed: every parameter agrees within 1e-4 relative (f32
/// rounding differences grow a little with each step).
#[test]
fn examples_train_alike_on_cpu_and_interp() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "dl"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty());
    // Examples whose training step uses an op the kernel program has no
    // kernel for yet are refused by `cpu` (and run on `interp`); they are
    // listed here so a new gap, or a closed one, changes this test.
    let mut refused = Vec::new();
    for name in names {
        let src = crate::common::example(&name);
        let program = crate::common::check_files(&src).unwrap();
        let step = dlc::training_step(program.train.as_ref().unwrap());
        if let Some(op) = dlc::passes::fuse::unsupported_op(step.graph()) {
            refused.push((name, op));
            continue;
        }
        let want = train_steps(&name, "interp", 25);
        let got = train_steps(&name, "cpu", 25);
        assert_eq!(want.len(), got.len());
        for ((pn, w), (_, x)) in want.iter().zip(&got) {
            close_within(w, x, 1e-4)
                .unwrap_or_else(|e| panic!("example {name}, parameter {pn}: {e}"));
        }
    }
    assert_eq!(refused, Vec::<(String, &str)>::new());
}
