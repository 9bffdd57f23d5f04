//! In-place updates (`Executable::run_update`) on the `cpu` backend against
//! the interpreter, whose default `run_update` runs the graph and moves the
//! fresh outputs in: several steps with the updated inputs fed back, every
//! updated input and every other output compared after each. Covers the
//! cases the CPU backend does in place (an elementwise update, momentum's
//! `c·m + a·b` done by gemm) and those it must not (the input read after
//! its new value is written, read at another index, read by the matmul
//! itself), which fall back to fresh storage. Same tolerance as
//! `cpu_oracle`.

use dlc::backend::{Arg, BackendKind, Runner};
use dlc::ir::parse::parse;
use dlc::ir::{Graph, Signature};
use dlc::kernel::{in_place, kernel_program, InPlace};
use dlc::tensor::Tensor;

use crate::cpu_oracle::close_within;
use crate::filetests::agreement::seeded_inputs;

/// `(input, output)` pairs of the inputs with a same-named output.
fn pairs(g: &Graph) -> Vec<(usize, usize)> {
    Signature::of(g).updates()
}

/// Runs `steps` updating steps; after each, the inputs and the outputs
/// that were not written into an input.
fn run_steps(g: &Graph, backend: &str, steps: usize) -> Vec<(Vec<Tensor>, Vec<Option<Tensor>>)> {
    let mut exe: Box<dyn Runner> = BackendKind::by_name(backend)
        .unwrap()
        .backend()
        .compile_graph(g)
        .unwrap();
    let updates = pairs(g);
    let mut inputs = seeded_inputs(g, 7);
    let mut history = Vec::new();
    for _ in 0..steps {
        let mut args: Vec<Arg> = inputs
            .iter_mut()
            .enumerate()
            .map(|(i, t)| {
                if updates.iter().any(|&(k, _)| k == i) {
                    Arg::Update(t)
                } else {
                    Arg::In(t)
                }
            })
            .collect();
        let outs = exe
            .run_update(&mut args, &updates)
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        drop(args);
        history.push((inputs.clone(), outs));
    }
    history
}

/// Checks cpu against interp over three steps, and the in-place plan the
/// cpu backend makes for each update (in `updates` order).
fn agree_in_place(text: &str, want_plan: &[&str]) {
    let g = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let p = kernel_program(&g);
    let plan: Vec<&str> = pairs(&g)
        .iter()
        .map(|&(i, o)| match in_place(&p, p.inputs[i], p.outputs[o].1) {
            InPlace::No => "no",
            InPlace::Direct => "direct",
            InPlace::Accumulate { .. } => "accumulate",
        })
        .collect();
    assert_eq!(plan, want_plan, "{}", dlc::kernel::print::print(&p));
    let want = run_steps(&g, "interp", 3);
    let got = run_steps(&g, "cpu", 3);
    for (step, ((wi, wo), (gi, go))) in want.iter().zip(&got).enumerate() {
        for (k, (w, x)) in wi.iter().zip(gi).enumerate() {
            close_within(w, x, 1e-5)
                .unwrap_or_else(|e| panic!("step {step}, input {k}: {e}\n{text}"));
        }
        assert_eq!(wo.len(), go.len());
        for (k, (w, x)) in wo.iter().zip(go).enumerate() {
            match (w, x) {
                (None, None) => {}
                (Some(w), Some(x)) => close_within(w, x, 1e-5)
                    .unwrap_or_else(|e| panic!("step {step}, output {k}: {e}\n{text}")),
                _ => panic!("step {step}, output {k}: returned by one backend only"),
            }
        }
    }
}

#[test]
fn sgd_momentum_updates_in_place_with_gemm_accumulating() {
    agree_in_place(
        "graph @step(%x: f32[N,5] data, %g: f32[N,3] data, %w: f32[5,3] param, %m: f32[5,3] state, %b: f32[3] param, %lr: f32[] hyper(lr)) -> (%loss: f32[], %w: f32[5,3] update(%w), %m: f32[5,3] update(%m), %b: f32[3] update(%b)) {
  %y = matmul %x, %w : f32[N,3]
  %loss = reduce_sum %y axes=[0,1] : f32[]
  %xt = transpose %x perm=[1,0] : f32[5,N]
  %gw = matmul %xt, %g : f32[5,3]
  %c = const 0.9 : f32[5,3]
  %mm = mul %m, %c : f32[5,3]
  %m2 = add %mm, %gw : f32[5,3]
  %lrb = broadcast %lr dims=[] : f32[5,3]
  %step = mul %lrb, %m2 : f32[5,3]
  %w2 = sub %w, %step : f32[5,3]
  %one = const 1 : f32[3]
  %b2 = add %b, %one : f32[3]
  return %loss = %loss, %w = %w2, %m = %m2, %b = %b2
}",
        &["direct", "accumulate", "direct"],
    );
}

#[test]
fn momentum_of_a_one_row_contraction_accumulates_in_place() {
    // m = 1: the row-times-matrix path, accumulating into the slot.
    agree_in_place(
        "graph @row(%u: f32[1,N] data, %g: f32[N,70] data, %m: f32[1,70] state) -> (%m: f32[1,70] update(%m)) {
  %gw = matmul %u, %g : f32[1,70]
  %c = const 0.9 : f32[1,70]
  %mm = mul %c, %m : f32[1,70]
  %m2 = add %gw, %mm : f32[1,70]
  return %m = %m2
}",
        &["accumulate"],
    );
}

#[test]
fn momentum_of_contractions_split_over_threads_accumulates_in_place() {
    // Above GEMM_PARALLEL_MIN multiply-adds: C split by rows (160×130) and
    // by columns (130×160) over the pool, each block accumulating.
    agree_in_place(
        "graph @big(%x: f32[128,160] data, %g: f32[128,130] data, %m: f32[160,130] state, %v: f32[130,160] state) -> (%m: f32[160,130] update(%m), %v: f32[130,160] update(%v)) {
  %xt = transpose %x perm=[1,0] : f32[160,128]
  %gx = matmul %xt, %g : f32[160,130]
  %c = const 0.9 : f32[160,130]
  %mm = mul %m, %c : f32[160,130]
  %m2 = add %mm, %gx : f32[160,130]
  %gt = transpose %g perm=[1,0] : f32[130,128]
  %gv = matmul %gt, %x : f32[130,160]
  %c2 = const 0.5 : f32[130,160]
  %vv = mul %v, %c2 : f32[130,160]
  %v2 = add %gv, %vv : f32[130,160]
  return %m = %m2, %v = %v2
}",
        &["accumulate", "accumulate"],
    );
}

#[test]
fn an_input_read_after_its_update_falls_back_to_fresh_storage() {
    // The sum is a kernel of its own, after the update's.
    agree_in_place(
        "graph @u(%w: f32[4] param, %x: f32[4] data) -> (%w: f32[4] update(%w), %y: f32[]) {
  %w2 = add %w, %x : f32[4]
  %p = mul %w, %w2 : f32[4]
  %y = reduce_sum %p axes=[0] : f32[]
  return %w = %w2, %y = %y
}",
        &["no"],
    );
}

#[test]
fn an_input_read_by_a_sibling_merged_into_its_update_loop_is_updated_in_place() {
    // `y` joins the update's loop, which loads `w` once per element
    // before storing either output.
    agree_in_place(
        "graph @u(%w: f32[4] param, %x: f32[4] data) -> (%w: f32[4] update(%w), %y: f32[4]) {
  %w2 = add %w, %x : f32[4]
  %y = mul %w, %w2 : f32[4]
  return %w = %w2, %y = %y
}",
        &["direct"],
    );
}

#[test]
fn an_input_read_transposed_or_by_its_own_matmul_is_not_updated_in_place() {
    agree_in_place(
        "graph @t(%w: f32[3,3] param, %v: f32[3,3] param) -> (%w: f32[3,3] update(%w), %v: f32[3,3] update(%v)) {
  %wt = transpose %w perm=[1,0] : f32[3,3]
  %one = const 1 : f32[3,3]
  %w2 = add %wt, %one : f32[3,3]
  %vv = matmul %v, %v : f32[3,3]
  %v2 = add %vv, %one : f32[3,3]
  return %w = %w2, %v = %v2
}",
        &["no", "no"],
    );
}

#[test]
fn an_output_that_is_its_input_stays_put() {
    agree_in_place(
        "graph @k(%w: f32[2] param, %x: f32[2] data) -> (%w: f32[2] update(%w), %y: f32[2]) {
  %y = add %w, %x : f32[2]
  return %w = %w, %y = %y
}",
        &["direct"],
    );
}

#[test]
fn the_mlp_training_step_updates_every_parameter_and_slot_in_place() {
    let src = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/workloads/mlp.dl"),
    )
    .unwrap();
    let program = crate::common::check_files(&src)
        .unwrap_or_else(|d| panic!("{}", crate::common::show(&src, &d)));
    let g = dlc::training_step(program.train.as_ref().unwrap()).into_graph();
    let p = kernel_program(&g);
    let updates = pairs(&g);
    assert_eq!(updates.len(), 12, "6 parameters and 6 momentum slots");
    for (i, o) in updates {
        let how = in_place(&p, p.inputs[i], p.outputs[o].1);
        assert_ne!(how, InPlace::No, "{}", g.outputs[o].name);
    }
}
