//! Compiled steps run with denormals flushed (flush-to-zero and
//! denormals-are-zero in MXCSR) on every thread that runs part of a step,
//! and every thread's MXCSR is as before once the step is over; with
//! `DLC_IEEE_SUBNORMALS=1` nothing is flushed. The interpreter keeps IEEE
//! subnormals, so the two differ exactly where a value falls below 1.2e-38:
//! the cpu backend's zero against the interpreter's subnormal, inside every
//! oracle tolerance (which is at least 1e-5 absolute).

use dlc::backend::cpu::denormals::{self, FLUSH_BITS};
use dlc::backend::{interp, Backend};
use dlc::ir::parse::parse;
use dlc::ir::DType;
use dlc::tensor::Tensor;

/// `y = x·s·s` (1e-40 for x = 1 and s = 1e-20: a subnormal product) and
/// `z = d + d` (a subnormal operand), over `rows × 256` elements.
fn graph(rows: usize) -> dlc::ir::Graph {
    let t = format!("f32[{rows},256]");
    parse(&format!(
        "graph @tiny(%x: {t} data, %d: {t} data) -> (%y: {t}, %z: {t}) {{
  %s = const 1e-20 : {t}
  %a = mul %x, %s : {t}
  %y = mul %a, %s : {t}
  %z = add %d, %d : {t}
  return %y = %y, %z = %z
}}"
    ))
    .expect("the graph parses")
}

fn inputs(rows: usize) -> (Tensor, Tensor) {
    (
        Tensor::full(DType::F32, &[rows, 256], 1.0),
        Tensor::full(DType::F32, &[rows, 256], 1e-39),
    )
}

/// MXCSR's control bits: its low six bits are sticky exception flags,
/// which any float arithmetic (making the test's inputs) may set.
const CONTROL: u32 = !0x3f;

/// The control bits of every thread of `pool`'s MXCSR.
fn pool_mxcsr(pool: &rayon::ThreadPool) -> Vec<u32> {
    pool.broadcast(|_| denormals::mxcsr() & CONTROL)
}

#[test]
fn subnormal_results_and_operands_are_zero_on_cpu_and_kept_by_the_interpreter() {
    for rows in [1, 256] {
        let g = graph(rows);
        let (x, d) = inputs(rows);
        let mut exe = dlc::backend::cpu::CpuBackend
            .compile_graph(&g)
            .expect("the cpu backend compiles it");
        let cpu = exe.run(&[&x, &d]).expect("the step runs");
        let oracle = interp::Interpreter
            .compile_graph(&g)
            .expect("the interpreter compiles it")
            .run(&[&x, &d])
            .expect("the interpreter runs it");
        for (c, o) in cpu.iter().zip(&oracle) {
            let (c, o) = (c.to_f64_vec(), o.to_f64_vec());
            assert!(o.iter().all(|&v| v > 0.0 && v < 1.2e-38), "IEEE subnormals");
            if denormals::enabled() {
                assert!(c.iter().all(|&v| v == 0.0), "flushed to zero ({rows} rows)");
            } else {
                assert_eq!(c, o, "DLC_IEEE_SUBNORMALS=1 keeps subnormals");
            }
        }
    }
}

/// The step's threads, named so that steps of other tests (on other pools)
/// are told apart in what was recorded.
const NAME: &str = "flush-probe";

#[test]
fn the_mode_is_in_force_on_every_thread_inside_a_step_and_restored_after() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .thread_name(|i| format!("{NAME}-{i}"))
        .build()
        .expect("a pool of two threads");
    let before_pool = pool_mxcsr(&pool);
    let before_here = denormals::mxcsr() & CONTROL;
    assert!(
        before_pool.iter().all(|v| v & FLUSH_BITS == 0) && before_here & FLUSH_BITS == 0,
        "threads start with IEEE subnormals"
    );
    // 256 × 256 elements: a loop the runner splits over both threads; one
    // row: a step the calling thread runs alone.
    let compile = |rows| {
        let exe = dlc::backend::cpu::CpuBackend.compile_graph(&graph(rows));
        let (x, d) = inputs(rows);
        (exe.expect("the cpu backend compiles it"), x, d)
    };
    let (mut small, sx, sd) = compile(1);
    denormals::record(true);
    pool.install(|| {
        let (mut big, bx, bd) = compile(256);
        big.run(&[&bx, &bd]).map(|_| ())
    })
    .expect("the split step runs");
    small.run(&[&sx, &sd]).expect("the small step runs");
    denormals::record(false);
    let seen = denormals::recorded();
    let here = std::thread::current().name().unwrap_or("?").to_string();
    let want = if denormals::enabled() { FLUSH_BITS } else { 0 };
    for who in [format!("{NAME}-0"), format!("{NAME}-1"), here.clone()] {
        let mine: Vec<u32> = seen
            .iter()
            .filter(|(n, _)| *n == who)
            .map(|r| r.1)
            .collect();
        assert!(
            !mine.is_empty(),
            "{who} noted its MXCSR inside a step: {seen:?}"
        );
        for v in mine {
            assert_eq!(v & FLUSH_BITS, want, "{who}'s MXCSR {v:#x} inside a step");
        }
    }
    assert_eq!(pool_mxcsr(&pool), before_pool, "the pool's MXCSR restored");
    assert_eq!(
        denormals::mxcsr() & CONTROL,
        before_here,
        "the caller's MXCSR restored"
    );
}
