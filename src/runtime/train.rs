//! The training driver: loads the data, compiles the training step and the
//! evaluation graph once, then loops over epochs and batches on the host,
//! feeding parameters, optimizer state, the batch and the learning rate to
//! the compiled step. Evaluates, logs metrics, saves and resumes checkpoints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::backend::{self, Arg, Executable};
use crate::ir::{DType, Graph, Role};
use crate::passes::lower::KEY;
use crate::sema::program::{DataRef, LossKind, Metric, Program, Train};
use crate::tensor::Tensor;

use super::bigram::Bigram;
use super::checkpoint;
use super::data::{self, Dataset, Table};
use super::init::init_tensor;
use super::metrics::{Accumulator, MetricsFile, Record};
use super::nearest::Neighbours;
use super::progress::Progress;
use super::rng::{derive, Rng};
use super::sample::Generated;
use super::schedule::learning_rate;

mod inspect;

/// What the command line can change about a run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The backend by name; `None` is the default, `cpu`, which hands a
    /// program using ops it cannot run yet to the interpreter, with a note.
    pub backend: Option<String>,
    pub seed: Option<u64>,
    pub epochs: Option<usize>,
    /// Stop after this many optimizer steps.
    pub steps: Option<usize>,
    /// Start from the parameters in this safetensors file.
    pub init: Option<PathBuf>,
    /// Continue from the run's last checkpoint.
    pub resume: bool,
    pub metrics: Option<PathBuf>,
    /// Directory data paths are relative to.
    pub base: PathBuf,
    /// Print per-epoch lines to stdout.
    pub verbose: bool,
}

/// How a run ended: the last metrics of every split, for callers and tests.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub epochs_run: usize,
    pub steps: usize,
    /// Every epoch's metrics per split, in the order they were computed.
    pub records: Vec<Record>,
    pub checkpoint: Option<PathBuf>,
    /// The text of each `sample` statement, in order.
    pub samples: Vec<Generated>,
    /// The neighbour lists of each `nearest` statement's words, in order.
    pub neighbours: Vec<Neighbours>,
}

impl Report {
    /// The last value of `metric` on `split`.
    pub fn last(&self, split: &str, metric: Metric) -> Option<f64> {
        self.records
            .iter()
            .rev()
            .find(|r| r.split == split)
            .and_then(|r| r.values.iter().find(|(m, _)| *m == metric).map(|(_, x)| *x))
    }
}

/// A user-facing failure of a run (bad data, a diverging loss, a missing
/// checkpoint). Internal errors panic instead.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFailure(pub String);

impl std::fmt::Display for RunFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, RunFailure>;

fn fail<T>(msg: impl Into<String>) -> Result<T> {
    Err(RunFailure(msg.into()))
}

/// The name a checkpoint of a run saved under `dir` has.
pub fn checkpoint_path(dir: &str, base: &Path) -> PathBuf {
    let dir = if base == Path::new(".") {
        PathBuf::from(dir)
    } else {
        base.join(dir)
    };
    dir.join("checkpoint.safetensors")
}

/// Where the vocabulary of a text-trained run is saved: `vocab.json` beside
/// the checkpoint, so sampling text later needs only the run's directory.
pub fn vocab_path(checkpoint: &Path) -> PathBuf {
    checkpoint.with_file_name("vocab.json")
}

/// The random key of optimizer step `step` (1-based) of a run seeded
/// `seed`, fed to the step graph's `key` input (dropout's masks): a per-run
/// offset plus the step, so no two steps of a run share a mask, and a
/// resumed run draws exactly the masks an uninterrupted one would.
pub fn step_key(seed: u64, step: usize) -> i32 {
    (derive(seed, "key") as u32).wrapping_add(step as u32) as i32
}

/// Parameters and optimizer state, in the order of the graphs' inputs.
struct State {
    params: Vec<(String, Tensor)>,
    slots: Vec<(String, Tensor)>,
}

impl State {
    fn get(&self, name: &str) -> Option<&Tensor> {
        self.params
            .iter()
            .chain(&self.slots)
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
    }
    fn set(&mut self, name: &str, t: Tensor) -> bool {
        match self
            .params
            .iter_mut()
            .chain(self.slots.iter_mut())
            .find(|(n, _)| n == name)
        {
            Some(slot) => {
                slot.1 = t;
                true
            }
            None => false,
        }
    }
    /// A fingerprint of every tensor's name and type, stored in checkpoints
    /// so a run never resumes from another program's weights.
    fn signature(&self) -> String {
        let mut h: u64 = 0xcbf29ce484222325;
        for (n, t) in self.params.iter().chain(&self.slots) {
            for b in format!("{n}:{:?}{:?};", t.dtype(), t.shape()).bytes() {
                h = (h ^ b as u64).wrapping_mul(0x100000001b3);
            }
        }
        format!("{h:016x}")
    }
}

/// Loads every data set a train block uses.
fn load_data(program: &Program, train: &Train, base: &Path) -> Result<Vec<Option<Dataset>>> {
    let mut loaded: Vec<Option<Dataset>> = vec![None; program.datasets.len()];
    let used = std::iter::once(&train.data).chain(train.evaluate.iter().map(|e| &e.data));
    for r in used {
        if loaded[r.dataset].is_none() {
            let d = data::load(&program.datasets[r.dataset], base)
                .map_err(|e| RunFailure(e.message))?;
            loaded[r.dataset] = Some(d);
        }
    }
    Ok(loaded)
}

fn part<'d>(data: &'d [Option<Dataset>], r: &DataRef) -> &'d Table {
    let d = data[r.dataset].as_ref().expect("internal: data set loaded");
    d.part(r.part.as_deref().unwrap_or("all"))
        .expect("internal: sema checked the part exists")
}

/// Checks that targets fit the loss before any training: class labels
/// within the prediction's classes (an out-of-range label would silently
/// contribute nothing to cross-entropy), binary targets within [0, 1].
fn validate_targets(program: &Program, train: &Train, data: &[Option<Dataset>]) -> Result<()> {
    let Some(head) = &train.head else {
        return Ok(());
    };
    let pred = train
        .model
        .outputs
        .iter()
        .find(|(n, _)| *n == head.prediction)
        .map(|(_, id)| &train.model.nodes[*id].ty)
        .expect("internal: the head names an output");
    let refs = std::iter::once(&train.data).chain(train.evaluate.iter().map(|e| &e.data));
    for r in refs {
        let Some(values) = part(data, r).field(&head.target).map(Tensor::to_f64_vec) else {
            continue;
        };
        let (lo, hi, what) = match head.loss {
            LossKind::CrossEntropy => {
                let classes = pred
                    .shape
                    .dims()
                    .last()
                    .and_then(|d| d.fixed())
                    .unwrap_or(0);
                (
                    0.0,
                    classes as f64 - 1.0,
                    format!(
                        "one of the {classes} classes of `{}` (0 to {})",
                        head.prediction,
                        classes.saturating_sub(1)
                    ),
                )
            }
            LossKind::BinaryCrossEntropy | LossKind::BinaryCrossEntropyLogits => {
                (0.0, 1.0, "a binary target between 0 and 1".to_string())
            }
            LossKind::MeanSquaredError | LossKind::MeanAbsoluteError => continue,
        };
        if let Some((i, v)) = values
            .iter()
            .enumerate()
            .find(|(_, &v)| !(lo..=hi).contains(&v))
        {
            return fail(format!(
                "data set `{}`, part `{}`: `{}` of sample {i} is {v}, which is not {what}",
                program.datasets[r.dataset].name,
                split_name(program, r),
                head.target
            ));
        }
    }
    Ok(())
}

/// The metrics reported for the training split: the loss, plus accuracy
/// (classification) or MAE (regression) when the loss has a head. They are
/// averaged over the epoch's batches, with the weights as they were at each
/// batch, as Keras reports them.
fn train_metrics(train: &Train) -> Vec<Metric> {
    match train.head.as_ref().map(|h| h.loss) {
        Some(
            LossKind::CrossEntropy
            | LossKind::BinaryCrossEntropy
            | LossKind::BinaryCrossEntropyLogits,
        ) => {
            vec![Metric::Loss, Metric::Accuracy]
        }
        Some(LossKind::MeanSquaredError | LossKind::MeanAbsoluteError) => {
            vec![Metric::Loss, Metric::Mae]
        }
        None => vec![Metric::Loss],
    }
}

fn split_name(program: &Program, r: &DataRef) -> String {
    r.part
        .clone()
        .unwrap_or_else(|| program.datasets[r.dataset].name.clone())
}

/// The compiled training and evaluation functions of a train block.
pub struct Session<'p> {
    program: &'p Program,
    train: &'p Train,
    step_graph: Graph,
    eval_graph: Graph,
    step: Box<dyn Executable>,
    eval: Box<dyn Executable>,
    state: State,
    data: Vec<Option<Dataset>>,
    seed: u64,
    /// The `bigram_loss` baseline, fitted on the training part when first
    /// asked for.
    bigram: Option<Bigram>,
}

impl<'p> Session<'p> {
    /// Loads the data, compiles both graphs and draws the initial
    /// parameters (or reads them from `--init`).
    pub fn new(program: &'p Program, opts: &Options) -> Result<Session<'p>> {
        let Some(train) = program.train.as_ref() else {
            return fail("the program has no train block");
        };
        let name = opts.backend.as_deref().unwrap_or(backend::DEFAULT);
        let chosen = backend::by_name(name).ok_or_else(|| {
            RunFailure(format!(
                "unknown backend `{name}`; the backends are: cpu, interp"
            ))
        })?;
        let data = load_data(program, train, &opts.base)?;
        validate_targets(program, train, &data)?;
        let step_graph = crate::training_step(train);
        let eval_graph = crate::evaluation(train);
        let compile = |b: &dyn backend::Backend| -> std::result::Result<_, String> {
            Ok((b.compile(&step_graph)?, b.compile(&eval_graph)?))
        };
        let (step, eval) = match (compile(chosen.as_ref()), &opts.backend) {
            (Ok(pair), _) => pair,
            (Err(e), None) => {
                eprintln!("note: {e}; training on the interpreter instead");
                compile(&backend::interp::Interpreter).map_err(RunFailure)?
            }
            (Err(e), Some(_)) => return fail(e),
        };
        let seed = opts.seed.unwrap_or(train.seed);
        let params = train
            .model
            .params
            .iter()
            .map(|p| {
                let shape =
                    p.ty.shape
                        .bind(&[])
                        .expect("internal: parameters have fixed shapes");
                let mut rng = Rng::new(seed, derive(seed, &p.path));
                (
                    p.path.clone(),
                    init_tensor(&p.init, p.ty.dtype, &shape, p.fan_in, p.fan_out, &mut rng),
                )
            })
            .collect();
        // Optimizer slots start at 0; a layer's state (running statistics)
        // at the value it declares.
        let slots = step_graph
            .inputs_with_role(Role::State)
            .into_iter()
            .map(|v| {
                let ty = step_graph.ty(v);
                let shape = ty
                    .shape
                    .bind(&[])
                    .expect("internal: state has fixed shapes");
                let name = step_graph.input_info(v).0;
                let fill = train
                    .model
                    .states
                    .iter()
                    .find(|s| s.path == name)
                    .map_or(0.0, |s| s.fill);
                (name.to_string(), Tensor::full(ty.dtype, &shape, fill))
            })
            .collect();
        let mut session = Session {
            program,
            train,
            step_graph,
            eval_graph,
            step,
            eval,
            state: State { params, slots },
            data,
            seed,
            bigram: None,
        };
        session.check_prompts()?;
        if let Some(path) = &opts.init {
            session.load_params(path)?;
        }
        Ok(session)
    }

    /// Replaces parameters by those of the same path in a safetensors file,
    /// and the model's state tensors (running statistics) by those the file
    /// has.
    pub fn load_params(&mut self, path: &Path) -> Result<()> {
        let ck = checkpoint::load(path).map_err(RunFailure)?;
        let states = self.train.model.states.iter().map(|s| s.path.as_str());
        let wanted: Vec<(String, Tensor)> = self
            .state
            .params
            .iter()
            .cloned()
            .chain(states.filter_map(|n| self.state.get(n).map(|t| (n.to_string(), t.clone()))))
            .collect();
        let required = self.state.params.len();
        for (i, (name, t)) in wanted.iter().enumerate() {
            let Some((_, found)) = ck.tensors.iter().find(|(n, _)| n == name) else {
                if i >= required {
                    continue;
                }
                return fail(format!("{} has no tensor `{name}`", path.display()));
            };
            if found.shape() != t.shape() {
                return fail(format!(
                    "{}: `{name}` has shape {:?}, but the model needs {:?}",
                    path.display(),
                    found.shape(),
                    t.shape()
                ));
            }
            self.state.set(name, found.cast(t.dtype()));
        }
        Ok(())
    }

    /// The current parameters, by path.
    pub fn params(&self) -> &[(String, Tensor)] {
        &self.state.params
    }

    /// Runs one optimizer step on `batch`; returns the batch's loss and,
    /// when the program has a head, the prediction (for training metrics).
    fn step(&mut self, batch: &Table, lr: f64, step: usize) -> Result<(f64, Option<Tensor>)> {
        let dtype = self
            .train
            .model
            .params
            .first()
            .map(|p| p.ty.dtype)
            .unwrap_or(DType::F32);
        let hyper_lr = Tensor::scalar(dtype, lr);
        let hyper_step = Tensor::scalar(dtype, step as f64);
        let hyper_key = Tensor::scalar(DType::I32, f64::from(step_key(self.seed, step)));
        // Parameters and optimizer state are updated in place by the step:
        // each is passed as an update, paired with its same-named output.
        let mut state: Vec<(&str, &mut Tensor)> = self
            .state
            .params
            .iter_mut()
            .chain(self.state.slots.iter_mut())
            .map(|(n, t)| (n.as_str(), t))
            .collect();
        let g = &self.step_graph;
        let mut args: Vec<Arg> = Vec::with_capacity(g.inputs.len());
        let mut updates = Vec::new();
        for (i, &v) in g.inputs.iter().enumerate() {
            let (name, role) = g.input_info(v);
            let arg = match role {
                Role::Data => Arg::In(
                    batch
                        .field(name)
                        .expect("internal: sema bound inputs to fields"),
                ),
                Role::Param | Role::State => {
                    let k = state
                        .iter()
                        .position(|(n, _)| *n == name)
                        .expect("internal: state for every input");
                    if let Some(o) = g.outputs.iter().position(|out| out.name == name) {
                        updates.push((i, o));
                    }
                    Arg::Update(state.swap_remove(k).1)
                }
                Role::Hyper if name == "lr" => Arg::In(&hyper_lr),
                Role::Hyper if name == KEY => Arg::In(&hyper_key),
                Role::Hyper => Arg::In(&hyper_step),
            };
            args.push(arg);
        }
        let outputs = self
            .step
            .run_update(&mut args, &updates)
            .map_err(|e| RunFailure(e.0))?;
        drop(args);
        let mut loss = f64::NAN;
        let mut prediction = None;
        let head = self.train.head.as_ref().map(|h| h.prediction.as_str());
        for (out, t) in g.outputs.iter().zip(outputs) {
            let Some(t) = t else { continue };
            if out.name == "loss" {
                loss = t.item();
            } else if Some(out.name.as_str()) == head {
                prediction = Some(t);
            } else {
                self.state.set(&out.name, t);
            }
        }
        Ok((loss, prediction))
    }

    /// Evaluates the model on a split.
    pub fn evaluate(&mut self, r: &DataRef, metrics: &[Metric]) -> Result<Vec<(Metric, f64)>> {
        let table = part(&self.data, r);
        let mut acc = Accumulator::default();
        let head = self.train.head.clone();
        let batch = self.train.batch.max(256);
        for start in (0..table.samples).step_by(batch) {
            let idx: Vec<usize> = (start..(start + batch).min(table.samples)).collect();
            let b = table.gather(&idx);
            let mut inputs: Vec<&Tensor> = Vec::new();
            for &v in &self.eval_graph.inputs {
                let (name, role) = self.eval_graph.input_info(v);
                inputs.push(match role {
                    Role::Data => b.field(name).expect("internal: fields bound"),
                    _ => self.state.get(name).expect("internal: params bound"),
                });
            }
            let outputs = self.eval.run(&inputs).map_err(|e| RunFailure(e.0))?;
            let find = |name: &str| {
                self.eval_graph
                    .outputs
                    .iter()
                    .position(|o| o.name == name)
                    .map(|i| &outputs[i])
            };
            let loss = find("loss")
                .expect("internal: eval graph has a loss")
                .item();
            let head_values = head.as_ref().map(|h| {
                (
                    h.loss,
                    find(&h.prediction).expect("internal: head output"),
                    b.field(&h.target).expect("internal: head target"),
                )
            });
            acc.add(idx.len(), loss, head_values);
            if metrics.contains(&Metric::PersistenceMse) {
                // The checker allows the metric only on `windows` data,
                // whose fields are `x` and `y`.
                let field = |f: &str| b.field(f).expect("internal: windows data has x and y");
                acc.add_persistence(field("x"), field("y"));
            }
        }
        let bigram = if metrics.contains(&Metric::BigramLoss) {
            Some(self.bigram_loss(r)?)
        } else {
            None
        };
        Ok(metrics
            .iter()
            .map(|&m| match (m, bigram) {
                (Metric::BigramLoss, Some(b)) => (m, b),
                _ => (m, acc.value(m)),
            })
            .collect())
    }

    /// Saves parameters, optimizer state and the position: `epoch` epochs
    /// done plus `batch` batches of the next one.
    fn save(&self, path: &Path, epoch: usize, batch: usize, step: usize) -> Result<()> {
        let tensors: Vec<(String, &Tensor)> = self
            .state
            .params
            .iter()
            .chain(&self.state.slots)
            .map(|(n, t)| (n.clone(), t))
            .collect();
        let mut meta = BTreeMap::new();
        meta.insert("format".to_string(), "dlc-checkpoint-1".to_string());
        meta.insert("model".to_string(), self.train.model.name.clone());
        meta.insert("signature".to_string(), self.state.signature());
        meta.insert("epoch".to_string(), epoch.to_string());
        meta.insert("batch".to_string(), batch.to_string());
        meta.insert("step".to_string(), step.to_string());
        meta.insert("seed".to_string(), self.seed.to_string());
        checkpoint::save(path, &tensors, &meta).map_err(RunFailure)
    }

    /// Writes the training data's vocabulary (if it has one) beside the
    /// checkpoint at `checkpoint`, atomically; it never changes during a
    /// run, so it is written before the run's first checkpoint.
    fn save_vocab(&self, checkpoint: &Path) -> Result<()> {
        let d = self.data[self.train.data.dataset]
            .as_ref()
            .expect("internal: training data loaded");
        match &d.vocab {
            Some(v) => v.save(&vocab_path(checkpoint)).map_err(RunFailure),
            None => Ok(()),
        }
    }

    /// Restores parameters, optimizer state and position from a checkpoint
    /// this program wrote; returns `(epochs done, batches done in the next
    /// epoch, steps done)`.
    fn resume(&mut self, path: &Path) -> Result<(usize, usize, usize)> {
        if !path.exists() {
            return fail(format!(
                "cannot resume: there is no checkpoint at {}",
                path.display()
            ));
        }
        let ck = checkpoint::load(path).map_err(RunFailure)?;
        let sig = ck.metadata.get("signature").cloned().unwrap_or_default();
        if sig != self.state.signature() {
            return fail(format!(
                "cannot resume from {}: it was written by a different model or optimizer",
                path.display()
            ));
        }
        for (name, t) in ck.tensors {
            self.state.set(&name, t);
        }
        let num = |k: &str| ck.metadata.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok((num("epoch"), num("batch"), num("step")))
    }

    /// Runs the whole training loop.
    pub fn run(&mut self, opts: &Options) -> Result<Report> {
        let train = self.train;
        let epochs = opts.epochs.unwrap_or(train.epochs);
        let save_path = train
            .save
            .as_ref()
            .map(|dir| checkpoint_path(dir, &opts.base));
        let mut metrics_file = match &opts.metrics {
            Some(p) => Some(MetricsFile::create(p).map_err(RunFailure)?),
            None => None,
        };
        let (mut first_epoch, mut first_batch, mut steps) = (0, 0, 0);
        if opts.resume {
            let Some(path) = &save_path else {
                return fail("cannot resume: the train block has no `save` path");
            };
            (first_epoch, first_batch, steps) = self.resume(path)?;
            if opts.verbose {
                println!(
                    "resuming from {} after epoch {first_epoch} (step {steps})",
                    path.display()
                );
            }
        }
        let mut report = Report {
            steps,
            ..Report::default()
        };
        let n = part(&self.data, &train.data).samples;
        if n == 0 {
            return fail("the training data is empty");
        }
        let batches_per_epoch = n.div_ceil(train.batch);
        let train_split = split_name(self.program, &train.data);
        for epoch in first_epoch..epochs {
            if opts.steps.is_some_and(|max| steps >= max) {
                break;
            }
            let started = Instant::now();
            let lr = learning_rate(&train.schedule, train.optimizer.lr, epoch, epochs);
            let order: Vec<usize> = if train.shuffle {
                Rng::new(self.seed, derive(self.seed, &format!("epoch/{epoch}"))).permutation(n)
            } else {
                (0..n).collect()
            };
            let progress = Progress::new(
                batches_per_epoch as u64,
                &format!("epoch {}/{epochs}", epoch + 1),
            );
            let mut acc = Accumulator::default();
            let skip = if epoch == first_epoch { first_batch } else { 0 };
            progress.inc(skip as u64);
            let mut done = skip;
            for chunk in order.chunks(train.batch).skip(skip) {
                if opts.steps.is_some_and(|max| steps >= max) {
                    break;
                }
                done += 1;
                let batch = part(&self.data, &train.data).gather(chunk);
                steps += 1;
                let (loss, prediction) = self.step(&batch, lr, steps)?;
                if !loss.is_finite() {
                    progress.finish();
                    let kept = match (&save_path, epoch) {
                        (Some(p), e) if e > 0 => {
                            format!("; the checkpoint of epoch {e} at {} is intact", p.display())
                        }
                        _ => String::new(),
                    };
                    return fail(format!(
                        "training diverged: the loss became {loss} at epoch {}, step {steps}{kept}; try a lower learning rate",
                        epoch + 1
                    ));
                }
                let head = match (&train.head, &prediction) {
                    (Some(h), Some(p)) => Some((
                        h.loss,
                        p,
                        batch.field(&h.target).expect("internal: head target"),
                    )),
                    _ => None,
                };
                acc.add(chunk.len(), loss, head);
                progress.inc(1);
                progress.set_message(format!("loss {:.4}", acc.value(Metric::Loss)));
            }
            progress.finish();
            let mut records = vec![Record {
                epoch: epoch + 1,
                split: train_split.clone(),
                values: train_metrics(train)
                    .into_iter()
                    .map(|m| (m, acc.value(m)))
                    .collect(),
            }];
            for e in &train.evaluate {
                let values = self.evaluate(&e.data, &e.metrics)?;
                records.push(Record {
                    epoch: epoch + 1,
                    split: split_name(self.program, &e.data),
                    values,
                });
            }
            if opts.verbose {
                let line: Vec<String> = records.iter().map(Record::to_text).collect();
                println!(
                    "epoch {:>3}/{epochs}  {}  ({:.1}s)",
                    epoch + 1,
                    line.join("  |  "),
                    started.elapsed().as_secs_f64()
                );
            }
            for r in records {
                if let Some(f) = metrics_file.as_mut() {
                    f.write(&r).map_err(RunFailure)?;
                }
                report.records.push(r);
            }
            report.epochs_run += 1;
            report.steps = steps;
            if let Some(p) = &save_path {
                // A run stopped by `--steps` inside an epoch records how far
                // it got, so `--resume` continues with the very next batch.
                let (e, b) = if done < batches_per_epoch {
                    (epoch, done)
                } else {
                    (epoch + 1, 0)
                };
                if report.checkpoint.is_none() {
                    self.save_vocab(p)?;
                }
                self.save(p, e, b, steps)?;
                report.checkpoint = Some(p.clone());
            }
        }
        report.steps = steps;
        self.inspect(&mut report, opts.verbose)?;
        Ok(report)
    }
}
