//! `dlc bench`: compiles a program's training step (or, with `--inference`,
//! its evaluation graph), runs it on seeded random inputs of the right
//! shapes — no data is loaded — and prints one JSON object: throughput,
//! per-step latency and the compile time of every stage, parse to machine
//! code. Timings live here and in `benches/`, never in tests.
//!
//! Throughput (`samples_per_s`, `steps_per_s`) is taken from the total
//! time of all timed steps, the mean: what an epoch of such steps takes.
//! The median and 95th percentile step beside it show whether some steps
//! are much slower than the rest (a mean far above the median).
//!
//! The step is run the way training runs it: parameters and optimizer state
//! are updated in place from one step to the next (outputs named like an
//! input are that input's new value), so a bench measures what a training
//! loop would see, allocation and all.

use std::path::Path;
use std::time::Instant;

use super::{limits, read_source, Failure};
use crate::backend::{self, Arg, Executable};
use crate::ir::{DType, Dim, Graph, Role};
use crate::runtime::init::init_tensor;
use crate::runtime::rng::{derive, Rng};
use crate::sema::program::{LossKind, Train};
use crate::tensor::Tensor;
use crate::{sema, syntax};

/// What `dlc bench` was asked for.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub backend: String,
    /// Samples per step (default: the program's batch).
    pub batch: Option<usize>,
    /// Threads for rayon and the matrix multiplies (default: all cores).
    pub threads: Option<usize>,
    /// Timed steps (default: as many as fit in about two seconds).
    pub steps: Option<usize>,
    /// Untimed steps first.
    pub warmup: usize,
    /// Run the evaluation graph (forward and loss) instead of a training step.
    pub inference: bool,
    /// Print the time of every kernel of the timed steps to stderr (cpu).
    pub profile: bool,
    pub seed: u64,
}

/// The pipeline stages `dlc bench` times, in order.
const STAGES: [&str; 9] = [
    "parse",
    "check",
    "lower",
    "autodiff",
    "optimizer",
    "simplify",
    "fuse",
    "plan",
    "codegen",
];

/// Runs the bench and returns its JSON object, one line.
pub fn bench(path: &Path, o: &BenchOptions) -> Result<String, Failure> {
    if let Some(n) = o.threads {
        if n == 0 {
            return Err(Failure::Message("--threads must be at least 1".into()));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| Failure::Message(format!("cannot start {n} threads: {e}")))?;
    }
    let backend = backend::by_name(&o.backend).ok_or_else(|| {
        Failure::Message(format!(
            "unknown backend `{}`; the backends are: cpu, interp",
            o.backend
        ))
    })?;
    let mut clock = Stopwatch::start();
    let (display, src) = read_source(path)?;
    let diagnostics = |diags| Failure::Diagnostics {
        path: display.clone(),
        src: src.clone(),
        diags,
    };
    let file = syntax::parse(&src).map_err(diagnostics)?;
    clock.lap("parse");
    let catalog = crate::runtime::data::FileCatalog {
        base: std::path::PathBuf::from("."),
    };
    let program = sema::check(&file, &catalog, limits()).map_err(diagnostics)?;
    clock.lap("check");
    let Some(train) = program.train.as_ref() else {
        return Err(Failure::Message(format!(
            "{} has no train block, so it has no step to bench",
            path.display()
        )));
    };
    let graph = if o.inference {
        crate::evaluation_observed(train, &mut |s| clock.lap(s))
    } else {
        crate::training_step_observed(train, &mut |s| clock.lap(s))
    };
    let mut exe: Box<dyn Executable> = if o.backend == "cpu" {
        if let Some(op) = crate::passes::fuse::unsupported_op(&graph) {
            return Err(Failure::Message(format!(
                "the cpu backend does not run `{op}` yet; bench it with --backend interp"
            )));
        }
        let mut p = crate::passes::fuse::fuse(&graph);
        clock.lap("fuse");
        crate::passes::plan_memory::plan_memory(&mut p);
        clock.lap("plan");
        crate::backend::cpu::compile_program(p).map_err(Failure::Message)?
    } else {
        backend.compile(&graph).map_err(Failure::Message)?
    };
    clock.lap("codegen");
    let stages = clock.laps;
    let compile_ms: f64 = stages.iter().map(|(_, t)| t).sum();

    let batch = o.batch.unwrap_or(train.batch).max(1);
    let mut inputs = random_inputs(&graph, train, batch, o.seed);
    let updates = updated_inputs(&graph);
    let mut step = |inputs: &mut [Tensor]| -> Result<f64, Failure> {
        let outs = run_step(exe.as_mut(), inputs, &updates)?;
        let loss = graph
            .outputs
            .iter()
            .position(|out| out.name == "loss")
            .and_then(|i| outs[i].as_ref())
            .map_or(f64::NAN, Tensor::item);
        Ok(loss)
    };
    for _ in 0..o.warmup {
        step(&mut inputs)?;
    }
    crate::backend::cpu::profile::enable(o.profile);
    let mut times = Vec::new();
    let mut loss;
    let started = Instant::now();
    loop {
        let t = Instant::now();
        loss = step(&mut inputs)?;
        times.push(t.elapsed().as_secs_f64());
        let enough = match o.steps {
            Some(n) => times.len() >= n,
            None => times.len() >= 10 && started.elapsed().as_secs_f64() >= 2.0,
        };
        if enough {
            break;
        }
    }
    if o.profile {
        crate::backend::cpu::profile::enable(false);
        eprint!("{}", profile_table(times.len()));
    }
    let total: f64 = times.iter().sum();
    let mean = total / times.len() as f64;
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    // Nearest rank: the step time 95 % of the steps stay at or under.
    let p95 = times[(times.len() * 95).div_ceil(100).max(1) - 1];
    let min = times[0];

    let stage_json: Vec<String> = STAGES
        .iter()
        .map(|s| {
            let ms = stages.iter().find(|(n, _)| n == s).map(|(_, t)| *t);
            match ms {
                Some(t) => format!("\"{s}\":{t:.3}"),
                None => format!("\"{s}\":null"),
            }
        })
        .collect();
    let json_num = |x: f64| {
        if x.is_finite() {
            format!("{x}")
        } else {
            "null".to_string()
        }
    };
    Ok(format!(
        concat!(
            "{{\"file\":{file},\"backend\":\"{backend}\",\"mode\":\"{mode}\",",
            "\"batch\":{batch},\"threads\":{threads},\"steps\":{steps},",
            "\"samples_per_s\":{sps:.1},\"steps_per_s\":{stps:.2},",
            "\"step_us_median\":{med:.2},\"step_us_mean\":{mean:.2},\"step_us_p95\":{p95:.2},",
            "\"step_us_min\":{min:.2},",
            "\"final_loss\":{loss},\"compile_ms\":{compile:.3},\"stages_ms\":{{{stages}}}}}"
        ),
        file = serde_json::Value::String(display.clone()),
        backend = o.backend,
        mode = if o.inference { "inference" } else { "train" },
        batch = batch,
        threads = rayon::current_num_threads(),
        steps = times.len(),
        sps = batch as f64 / mean,
        stps = 1.0 / mean,
        med = median * 1e6,
        mean = mean * 1e6,
        p95 = p95 * 1e6,
        min = min * 1e6,
        loss = json_num(loss),
        compile = compile_ms,
        stages = stage_json.join(","),
    ))
}

/// The kernels of the profiled steps, most time first: time per step, share
/// of the step's time and time per call. Scan kernels include their bodies.
fn profile_table(steps: usize) -> String {
    let rows = crate::backend::cpu::profile::rows();
    if rows.is_empty() {
        return "--profile: no kernels were timed (it times the cpu backend's kernels)\n".into();
    }
    let per_step = |t: std::time::Duration| t.as_secs_f64() * 1e6 / steps.max(1) as f64;
    let whole: f64 = rows
        .iter()
        .filter(|r| !r.inclusive)
        .map(|r| per_step(r.time))
        .sum();
    let mut out = format!(
        "{:>10} {:>6} {:>10} {:>9}  kernel (scan: with its body)\n",
        "us/step", "share", "calls/step", "us/call"
    );
    for r in &rows {
        let us = per_step(r.time);
        out += &format!(
            "{us:>10.1} {:>5.1}% {:>10.1} {:>9.2}  {}\n",
            100.0 * us / whole.max(f64::MIN_POSITIVE),
            r.calls as f64 / steps.max(1) as f64,
            r.time.as_secs_f64() * 1e6 / r.calls.max(1) as f64,
            r.label
        );
    }
    out
}

/// Milliseconds per named stage, each measured from the end of the last.
struct Stopwatch {
    last: Instant,
    laps: Vec<(&'static str, f64)>,
}

impl Stopwatch {
    fn start() -> Stopwatch {
        Stopwatch {
            last: Instant::now(),
            laps: Vec::new(),
        }
    }
    fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.laps
            .push((name, (now - self.last).as_secs_f64() * 1e3));
        self.last = now;
    }
}

/// `(input, output)` index pairs: each parameter or optimizer-state input
/// the step returns a new value for, under the same name.
fn updated_inputs(g: &Graph) -> Vec<(usize, usize)> {
    g.inputs
        .iter()
        .enumerate()
        .filter_map(|(i, &v)| {
            let (name, role) = g.input_info(v);
            if !matches!(role, Role::Param | Role::State) {
                return None;
            }
            let o = g.outputs.iter().position(|out| out.name == name)?;
            Some((i, o))
        })
        .collect()
}

/// One step with parameters and state updated in place; the other outputs
/// are returned (`None` where an output went into an input).
fn run_step(
    exe: &mut dyn Executable,
    inputs: &mut [Tensor],
    updates: &[(usize, usize)],
) -> Result<Vec<Option<Tensor>>, Failure> {
    let mut args: Vec<Arg> = inputs
        .iter_mut()
        .enumerate()
        .map(|(i, t)| {
            if updates.iter().any(|(k, _)| *k == i) {
                Arg::Update(t)
            } else {
                Arg::In(t)
            }
        })
        .collect();
    exe.run_update(&mut args, updates)
        .map_err(|e| Failure::Message(format!("the step failed: {}", e.0)))
}

/// Seeded inputs for `g` with every size symbol bound to `batch`:
/// parameters drawn by their initializers, optimizer state zero, the
/// learning rate the program's, class labels in range for a cross-entropy
/// head, 0/1 targets for a binary one, other data uniform in [0, 1).
fn random_inputs(g: &Graph, train: &Train, batch: usize, seed: u64) -> Vec<Tensor> {
    let head = train.head.as_ref();
    let classes = head.and_then(|h| {
        let (_, id) = train
            .model
            .outputs
            .iter()
            .find(|(n, _)| *n == h.prediction)?;
        train.model.nodes[*id].ty.shape.dims().last()?.fixed()
    });
    g.inputs
        .iter()
        .map(|&v| {
            let (name, role) = g.input_info(v);
            let ty = g.ty(v);
            let shape: Vec<usize> = ty
                .shape
                .dims()
                .iter()
                .map(|d| match d {
                    Dim::Fixed(k) => *k,
                    Dim::Sym(_) => batch,
                })
                .collect();
            let mut rng = Rng::new(seed, derive(seed, name));
            match role {
                Role::Param => match train.model.params.iter().find(|p| p.path == name) {
                    Some(p) => {
                        init_tensor(&p.init, ty.dtype, &shape, p.fan_in, p.fan_out, &mut rng)
                    }
                    None => Tensor::full(ty.dtype, &shape, 0.0),
                },
                // Optimizer slots start at 0, running statistics at the
                // value their layer declares (as a training run does).
                Role::State => {
                    let fill = train
                        .model
                        .states
                        .iter()
                        .find(|s| s.path == name)
                        .map_or(0.0, |s| s.fill);
                    Tensor::full(ty.dtype, &shape, fill)
                }
                Role::Hyper if name == "lr" => Tensor::scalar(ty.dtype, train.optimizer.lr),
                Role::Hyper => Tensor::scalar(ty.dtype, 1.0),
                Role::Data => {
                    let n: usize = shape.iter().product();
                    let target = head.filter(|h| h.target == name).map(|h| h.loss);
                    let values = (0..n)
                        .map(|_| match (target, classes) {
                            (Some(LossKind::CrossEntropy), Some(c)) => rng.below(c) as f64,
                            (
                                Some(
                                    LossKind::BinaryCrossEntropy
                                    | LossKind::BinaryCrossEntropyLogits,
                                ),
                                _,
                            ) => rng.below(2) as f64,
                            _ if ty.dtype == DType::Bool || ty.dtype == DType::I32 => {
                                rng.below(2) as f64
                            }
                            _ => rng.uniform(),
                        })
                        .collect();
                    Tensor::from_f64(ty.dtype, &shape, values)
                }
            }
        })
        .collect()
}
