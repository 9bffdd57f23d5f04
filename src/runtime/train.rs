//! The training driver: loads the data, compiles the training step and the
//! evaluation function once, then loops over epochs and batches on the
//! host, feeding each batch and the step's hyperparameters to the compiled
//! step, which keeps the parameters and optimizer state resident.
//! Evaluates, logs metrics; `state.rs` initializes, saves and resumes the
//! resident state, `targets.rs` loads and checks the data.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::backend::{self, Executable};
use crate::ir::HyperValues;
use crate::sema::program::{DataRef, Metric, Program, Train};
use crate::tensor::Tensor;

use super::bigram::Bigram;
use super::data::{Dataset, Table};
use super::metrics::{Accumulator, MetricsFile, Record};
use super::nearest::Neighbours;
use super::progress::Progress;
use super::rng::{derive, Rng};
use super::sample::Generated;
use super::schedule::learning_rate;

mod inspect;
mod state;

pub use state::{initialize, load_weights};
mod targets;

use targets::{load_data, part, split_name, train_metrics, validate_targets};

/// What the command line can change about a run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The backend; `None` is the default, `cpu`, which hands a program
    /// using ops it cannot run yet to the interpreter, with a note.
    pub backend: Option<backend::BackendKind>,
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
/// The compiled training and evaluation functions of a train block. The
/// step's executable owns the parameters and state (optimizer slots,
/// running statistics); evaluation's is loaded from it before it runs.
pub struct Session<'p> {
    program: &'p Program,
    train: &'p Train,
    step: Box<dyn Executable>,
    eval: Box<dyn Executable>,
    /// The step outputs each call asks for: the loss, then the head's
    /// prediction when there is one (for the training metrics).
    step_wants: Vec<usize>,
    data: Vec<Option<Dataset>>,
    seed: u64,
    /// The `bigram_loss` baseline, fitted on the training part when first
    /// asked for.
    bigram: Option<Bigram>,
}

impl<'p> Session<'p> {
    /// Loads the data, compiles both functions and draws the initial
    /// parameters (or reads them from `--init`).
    pub fn new(program: &'p Program, opts: &Options) -> Result<Session<'p>> {
        let Some(train) = program.train.as_ref() else {
            return fail("the program has no train block");
        };
        let data = load_data(program, train, &opts.base)?;
        validate_targets(program, train, &data)?;
        let step_fn = crate::training_step(train);
        let eval_fn = crate::evaluation(train);
        let (exes, note) = backend::compile_with(opts.backend, &[&step_fn, &eval_fn])
            .map_err(|e| RunFailure(e.to_string()))?;
        if let Some(note) = note {
            eprintln!("note: {note}");
        }
        let [step, eval]: [Box<dyn Executable>; 2] = exes
            .try_into()
            .unwrap_or_else(|_| panic!("internal: two functions compiled"));
        let sig = step.signature();
        let loss = sig.loss().expect("internal: a training step has a loss");
        let head = train.head.as_ref().map(|h| {
            sig.output(&h.prediction)
                .expect("internal: the head is an output")
        });
        let step_wants = std::iter::once(loss).chain(head).collect();
        let seed = opts.seed.unwrap_or(train.seed);
        let mut session = Session {
            program,
            train,
            step,
            eval,
            step_wants,
            data,
            seed,
            bigram: None,
        };
        session.initialize();
        session.check_prompts()?;
        if let Some(path) = &opts.init {
            session.load_params(path)?;
        }
        Ok(session)
    }

    /// Runs one optimizer step on `batch`; returns the batch's loss and,
    /// when the program has a head, the prediction (for training metrics).
    fn step(&mut self, batch: &Table, lr: f64, step: usize) -> Result<(f64, Option<Tensor>)> {
        let data = data_inputs(self.step.as_ref(), batch);
        let hyper = HyperValues {
            lr: vec![lr],
            step,
            key: step_key(self.seed, step),
        };
        let mut outs = self
            .step
            .call(&data, &hyper, &self.step_wants)
            .map_err(|e| RunFailure(e.0))?
            .into_iter();
        let loss = outs.next().map_or(f64::NAN, |t| t.item());
        Ok((loss, outs.next()))
    }

    /// Evaluates the model on a split.
    pub fn evaluate(&mut self, r: &DataRef, metrics: &[Metric]) -> Result<Vec<(Metric, f64)>> {
        self.load_eval();
        let table = part(&self.data, r);
        let mut acc = Accumulator::default();
        let head = self.train.head.clone();
        let sig = self.eval.signature();
        let loss = sig.loss().expect("internal: eval has a loss");
        let prediction = head
            .as_ref()
            .map(|h| sig.output(&h.prediction).expect("internal: head output"));
        let wants: Vec<usize> = std::iter::once(loss).chain(prediction).collect();
        let hyper = HyperValues {
            lr: Vec::new(),
            step: 0,
            key: 0,
        };
        let batch = self.train.batch.max(256);
        for start in (0..table.samples).step_by(batch) {
            let idx: Vec<usize> = (start..(start + batch).min(table.samples)).collect();
            let b = table.gather(&idx);
            let data = data_inputs(self.eval.as_ref(), &b);
            let outputs = self
                .eval
                .call(&data, &hyper, &wants)
                .map_err(|e| RunFailure(e.0))?;
            let head_values = head.as_ref().map(|h| {
                (
                    h.loss,
                    &outputs[1],
                    b.field(&h.target).expect("internal: head target"),
                )
            });
            acc.add(idx.len(), outputs[0].item(), head_values);
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

/// The batch's fields for `exe`'s data inputs, in calling order (sema
/// bound every data input to a field of the same name).
fn data_inputs<'t>(exe: &dyn Executable, batch: &'t Table) -> Vec<&'t Tensor> {
    let sig = exe.signature();
    sig.data()
        .into_iter()
        .map(|i| {
            batch
                .field(&sig.inputs[i].name)
                .expect("internal: sema bound inputs to fields")
        })
        .collect()
}
