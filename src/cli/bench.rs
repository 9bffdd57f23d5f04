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
//! The step is run the way training runs it: the executable owns the
//! parameters and optimizer state (drawn as a run draws them) and updates
//! them in place from one step to the next, so a bench measures what a
//! training loop would see, allocation and all.

use std::path::Path;
use std::time::Instant;

use super::{limits, read_source, Failure};
use crate::backend::{self, BackendKind, CompileError, Executable, HostExecutable};
use crate::ir::{DType, Dim, HyperValues, Signature};
use crate::runtime::rng::{derive, Rng};
use crate::sema::program::{LossKind, Train};
use crate::tensor::Tensor;
use crate::{sema, syntax};

/// What `dlc bench` was asked for.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// `None`: the default backend, falling back to the interpreter with a
    /// note for a program it cannot run.
    pub backend: Option<BackendKind>,
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
    "plan_memory",
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
    let function = if o.inference {
        crate::evaluation_observed(train, &mut |s| clock.lap(s))
    } else {
        crate::training_step_observed(train, &mut |s| clock.lap(s))
    };
    let mut kind = o.backend.unwrap_or(backend::DEFAULT);
    if let (BackendKind::Cpu, Some(op)) =
        (kind, crate::passes::fuse::unsupported_op(function.graph()))
    {
        let e = CompileError::Unsupported {
            backend: kind,
            op: op.to_string(),
            graph: function.name().to_string(),
        };
        if o.backend.is_some() {
            return Err(Failure::Message(e.to_string()));
        }
        eprintln!("note: {e}; benching the interpreter instead");
        kind = BackendKind::Interp;
    }
    let compiled = match kind {
        // Fusion, planning and code generation timed apart.
        BackendKind::Cpu => {
            let p = crate::kernel::kernel_program_observed(function.graph(), &mut |s| clock.lap(s));
            crate::backend::cpu::compile_program(p).map(|runner| {
                Box::new(HostExecutable::new(function.signature().clone(), runner))
                    as Box<dyn Executable>
            })
        }
        _ => kind.backend().compile(&function),
    };
    let mut exe = compiled.map_err(|e| Failure::Message(e.to_string()))?;
    clock.lap("codegen");
    let stages = clock.laps;
    let compile_ms: f64 = stages.iter().map(|(_, t)| t).sum();

    let batch = o.batch.unwrap_or(train.batch).max(1);
    crate::runtime::train::initialize(exe.as_mut(), &train.model, o.seed);
    let data = random_data(exe.signature(), train, batch, o.seed);
    let data: Vec<&Tensor> = data.iter().collect();
    // The schedule's first learning rate; step and key stay at 1, so every
    // timed step does the same work.
    let hyper = HyperValues {
        lr: vec![train.optimizer.lr],
        step: 1,
        key: 1,
    };
    let loss_at = exe.signature().loss().into_iter().collect::<Vec<_>>();
    let mut step = || -> Result<f64, Failure> {
        let outs = exe
            .call(&data, &hyper, &loss_at)
            .map_err(|e| Failure::Message(format!("the step failed: {}", e.0)))?;
        Ok(outs.first().map_or(f64::NAN, Tensor::item))
    };
    for _ in 0..o.warmup {
        step()?;
    }
    crate::backend::cpu::profile::enable(o.profile);
    let mut times = Vec::new();
    let mut loss;
    let started = Instant::now();
    loop {
        let t = Instant::now();
        loss = step()?;
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
        backend = kind.name(),
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

/// Seeded data inputs for `sig` with every size symbol bound to `batch`:
/// class labels in range for a cross-entropy head, 0/1 targets for a
/// binary one, other integer and boolean data 0/1, float data uniform in
/// [0, 1).
fn random_data(sig: &Signature, train: &Train, batch: usize, seed: u64) -> Vec<Tensor> {
    let head = train.head.as_ref();
    let classes = head.and_then(|h| {
        let (_, id) = train
            .model
            .outputs
            .iter()
            .find(|(n, _)| *n == h.prediction)?;
        train.model.nodes[*id].ty.shape.dims().last()?.fixed()
    });
    sig.data()
        .into_iter()
        .map(|i| {
            let (name, ty) = (&sig.inputs[i].name, &sig.inputs[i].ty);
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
            let n: usize = shape.iter().product();
            let target = head.filter(|h| h.target == *name).map(|h| h.loss);
            let values = (0..n)
                .map(|_| match (target, classes) {
                    (Some(LossKind::CrossEntropy), Some(c)) => rng.below(c) as f64,
                    (
                        Some(LossKind::BinaryCrossEntropy | LossKind::BinaryCrossEntropyLogits),
                        _,
                    ) => rng.below(2) as f64,
                    _ if ty.dtype == DType::Bool || ty.dtype == DType::I32 => rng.below(2) as f64,
                    _ => rng.uniform(),
                })
                .collect();
            Tensor::from_f64(ty.dtype, &shape, values)
        })
        .collect()
}
