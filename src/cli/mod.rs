//! The command line: `check`, `train`, `eval`, `sample`, `dump`, `bench`,
//! `summary`, `explain`. Thin: each
//! command reads files, calls the library pipeline and prints. This is the
//! only place (with `runtime`) that touches files, the clock and the
//! terminal, and the only place diagnostics are rendered.

mod bench;
mod dump;
mod sample;
mod summary;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::backend::BackendKind;
use crate::diag::{self, Code, Diagnostic};
use crate::runtime::train::{Options, Session};
use crate::sema::{self, Limits, Program};
use crate::syntax;

/// Exit code for success.
pub const OK: i32 = 0;
/// Exit code for a user error: a bad program, bad data, bad arguments.
pub const USER_ERROR: i32 = 1;
/// Exit code for an internal compiler error (a bug in dlc).
pub const INTERNAL_ERROR: i32 = 2;

#[derive(Parser, Debug)]
#[command(name = "dlc", version, about = "A compiler for deep-learning models", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check a program: names, shapes, dtypes, data files. Exit 0 if valid.
    Check { file: PathBuf },
    /// Train the program's model.
    Train {
        file: PathBuf,
        /// `cpu` (the default; programs with ops it cannot run yet fall back
        /// to `interp` with a note) or `interp`.
        #[arg(long, value_parser = backend_kind)]
        backend: Option<BackendKind>,
        /// Seed for initialization and shuffling (overrides the program's).
        #[arg(long)]
        seed: Option<u64>,
        /// Number of epochs (overrides the program's).
        #[arg(long)]
        epochs: Option<usize>,
        /// Stop after this many optimizer steps.
        #[arg(long)]
        steps: Option<usize>,
        /// Start from the parameters in this safetensors file.
        #[arg(long)]
        init: Option<PathBuf>,
        /// Continue from the run's last checkpoint.
        #[arg(long)]
        resume: bool,
        /// Write one JSON object per line with each epoch's metrics.
        #[arg(long)]
        metrics: Option<PathBuf>,
    },
    /// Evaluate saved weights on the program's evaluation data.
    Eval {
        file: PathBuf,
        #[arg(long)]
        checkpoint: PathBuf,
        /// `cpu` (the default; programs with ops it cannot run yet fall back
        /// to `interp` with a note) or `interp`.
        #[arg(long, value_parser = backend_kind)]
        backend: Option<BackendKind>,
        #[arg(long)]
        metrics: Option<PathBuf>,
    },
    /// Generate text with a model trained on token sequences, from its
    /// checkpoint and the vocab.json saved beside it.
    Sample {
        file: PathBuf,
        #[arg(long)]
        checkpoint: PathBuf,
        /// Tokens to generate (default: the program's `sample`, else 400).
        #[arg(long)]
        length: Option<usize>,
        /// Softmax temperature, above 0 (default: the program's, else 1).
        #[arg(long)]
        temperature: Option<f64>,
        /// Text to start from (default: the program's, else none).
        #[arg(long)]
        prime: Option<String>,
        /// Seed for the draws (default: the program's).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Print the program at one stage of the pipeline.
    Dump {
        file: PathBuf,
        #[arg(long, value_enum)]
        stage: Stage,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Print source spans (ast stage).
        #[arg(long)]
        spans: bool,
    },
    /// Explain an error code, with a bad and a fixed example.
    Explain { code: String },
    /// Compile the training step and time it on seeded random inputs (no
    /// data is loaded); print one JSON object.
    Bench {
        file: PathBuf,
        /// `cpu` (the default; a program with ops it cannot run yet is
        /// benched on `interp`, with a note) or `interp`.
        #[arg(long, value_parser = backend_kind)]
        backend: Option<BackendKind>,
        /// Samples per step (default: the program's batch).
        #[arg(long)]
        batch: Option<usize>,
        /// Threads for the loops and matrix multiplies (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Timed steps (default: as many as fit in about two seconds).
        #[arg(long)]
        steps: Option<usize>,
        /// Untimed steps before timing.
        #[arg(long, default_value_t = 10)]
        warmup: usize,
        /// Time the evaluation graph (forward and loss) instead of a step.
        #[arg(long)]
        inference: bool,
        /// Also print the time of every kernel (cpu backend) to stderr.
        #[arg(long)]
        profile: bool,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Every layer with its output shape and parameter count, totals, FLOPs
    /// per sample and activation memory.
    Summary {
        file: PathBuf,
        /// The batch size for the memory estimate (default: the program's).
        #[arg(long)]
        batch: Option<usize>,
    },
}

/// `--backend`'s parser: the names are [`BackendKind::ALL`]'s.
fn backend_kind(s: &str) -> Result<BackendKind, String> {
    BackendKind::by_name(s).ok_or_else(|| {
        let names: Vec<&str> = BackendKind::ALL.iter().map(|k| k.name()).collect();
        format!(
            "unknown backend `{s}`; the backends are: {}",
            names.join(", ")
        )
    })
}

/// A stage of the pipeline, named like the module that produces it (and
/// like its bench lap and filetest folder); the earlier names are aliases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    /// The syntax tree.
    Ast,
    /// The checked program.
    Checked,
    /// The lowered graph of primitives (alias `ir`).
    #[value(alias = "ir")]
    Lower,
    /// The graph with the loss's gradients (alias `grad`).
    #[value(alias = "grad")]
    Autodiff,
    /// The training step: forward, backward and update, before simplify.
    Optimizer,
    /// The simplified training step, as backends compile it (alias `opt`).
    #[value(alias = "opt")]
    Simplify,
    /// The fused kernel program, before memory planning.
    Fuse,
    /// The kernel program with its memory plan (alias `kernels`).
    #[value(name = "plan_memory", alias = "kernels")]
    PlanMemory,
    /// The Cranelift IR of every loop nest of the kernel program (alias `clif`).
    #[value(alias = "clif")]
    Codegen,
}

impl Stage {
    /// The stage's name, as `--stage` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Ast => "ast",
            Stage::Checked => "checked",
            Stage::Lower => "lower",
            Stage::Autodiff => "autodiff",
            Stage::Optimizer => "optimizer",
            Stage::Simplify => "simplify",
            Stage::Fuse => "fuse",
            Stage::PlanMemory => "plan_memory",
            Stage::Codegen => "codegen",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Dot,
}

/// A failed command: diagnostics against a source file, or a plain message.
pub enum Failure {
    Diagnostics {
        path: String,
        src: String,
        diags: Vec<Diagnostic>,
    },
    Message(String),
}

impl Failure {
    fn render(&self, color: bool) -> String {
        match self {
            Failure::Diagnostics { path, src, diags } => {
                if color {
                    diag::render_color(diags, path, src)
                } else {
                    diag::render(diags, path, src)
                }
            }
            Failure::Message(m) => format!("error: {m}\n"),
        }
    }
}

/// Runs the command line and returns the process exit code. Panics are
/// caught and reported as internal errors, never as a raw backtrace.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { USER_ERROR } else { OK };
            let _ = e.print();
            return code;
        }
    };
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("internal compiler error: {msg}{at}");
        eprintln!("this is a bug in dlc, not in your program; please report it with the .dl file that triggers it");
    }));
    match std::panic::catch_unwind(|| run(cli)) {
        Ok(Ok(())) => OK,
        Ok(Err(f)) => {
            eprint!("{}", f.render(std::io::stderr().is_terminal()));
            USER_ERROR
        }
        Err(_) => INTERNAL_ERROR,
    }
}

/// Reads and checks a program: parse, then check against the data files.
pub fn load_program(path: &Path) -> Result<(String, Program), Failure> {
    let (display, src) = read_source(path)?;
    let file = syntax::parse(&src).map_err(|diags| Failure::Diagnostics {
        path: display.clone(),
        src: src.clone(),
        diags,
    })?;
    let catalog = crate::runtime::data::FileCatalog {
        base: PathBuf::from("."),
    };
    let program = sema::check(&file, &catalog, limits()).map_err(|diags| Failure::Diagnostics {
        path: display.clone(),
        src: src.clone(),
        diags,
    })?;
    Ok((src, program))
}

fn read_source(path: &Path) -> Result<(String, String), Failure> {
    let display = path.display().to_string();
    let src = std::fs::read_to_string(path)
        .map_err(|e| Failure::Message(format!("cannot read {display}: {e}")))?;
    Ok((display, src))
}

/// The checker's tensor size limit: this machine's memory.
fn limits() -> Limits {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    Limits {
        max_bytes: total.unwrap_or(16 << 30),
        ..Limits::default()
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Check { file } => {
            let (_, program) = load_program(&file)?;
            let what = match &program.train {
                Some(t) => format!(
                    "model `{}` with {} parameters",
                    t.model.name,
                    t.model
                        .params
                        .iter()
                        .map(|p| p.ty.shape.numel().unwrap_or(0))
                        .sum::<usize>()
                ),
                None => format!("{} model(s)", program.models.len()),
            };
            println!("{}: ok ({what})", file.display());
            Ok(())
        }
        Command::Train {
            file,
            backend,
            seed,
            epochs,
            steps,
            init,
            resume,
            metrics,
        } => {
            let (_, program) = load_program(&file)?;
            let opts = Options {
                backend,
                seed,
                epochs,
                steps,
                init,
                resume,
                metrics,
                base: PathBuf::from("."),
                verbose: true,
            };
            let mut session = Session::new(&program, &opts).map_err(|e| Failure::Message(e.0))?;
            let report = session.run(&opts).map_err(|e| Failure::Message(e.0))?;
            if let Some(p) = report.checkpoint {
                println!("saved {}", p.display());
            }
            Ok(())
        }
        Command::Eval {
            file,
            checkpoint,
            backend,
            metrics,
        } => {
            let (_, program) = load_program(&file)?;
            let opts = Options {
                backend,
                init: Some(checkpoint),
                base: PathBuf::from("."),
                ..Options::default()
            };
            let mut session = Session::new(&program, &opts).map_err(|e| Failure::Message(e.0))?;
            let train = program
                .train
                .as_ref()
                .expect("session exists only with a train block");
            let mut out = match &metrics {
                Some(p) => Some(
                    crate::runtime::metrics::MetricsFile::create(p).map_err(Failure::Message)?,
                ),
                None => None,
            };
            let mut targets: Vec<(
                crate::sema::program::DataRef,
                Vec<crate::sema::program::Metric>,
            )> = train
                .evaluate
                .iter()
                .map(|e| (e.data.clone(), e.metrics.clone()))
                .collect();
            if targets.is_empty() {
                targets.push((train.data.clone(), vec![crate::sema::program::Metric::Loss]));
            }
            for (data, ms) in targets {
                let values = session
                    .evaluate(&data, &ms)
                    .map_err(|e| Failure::Message(e.0))?;
                let split = data
                    .part
                    .clone()
                    .unwrap_or_else(|| program.datasets[data.dataset].name.clone());
                let record = crate::runtime::metrics::Record {
                    epoch: 0,
                    split,
                    values,
                };
                println!("{}", record.to_text());
                if let Some(f) = out.as_mut() {
                    f.write(&record).map_err(Failure::Message)?;
                }
            }
            Ok(())
        }
        Command::Sample {
            file,
            checkpoint,
            length,
            temperature,
            prime,
            seed,
        } => {
            let opts = sample::SampleOptions {
                checkpoint,
                length,
                temperature,
                prime,
                seed,
            };
            println!("{}", sample::sample(&file, &opts)?);
            Ok(())
        }
        Command::Dump {
            file,
            stage,
            format,
            spans,
        } => {
            let text = dump::dump(&file, stage, format, spans)?;
            print!("{text}");
            Ok(())
        }
        Command::Summary { file, batch } => {
            let (_, program) = load_program(&file)?;
            let batch = batch
                .or(program.train.as_ref().map(|t| t.batch))
                .unwrap_or(32);
            print!("{}", summary::summary(&program, batch));
            Ok(())
        }
        Command::Bench {
            file,
            backend,
            batch,
            threads,
            steps,
            warmup,
            inference,
            profile,
            seed,
        } => {
            let opts = bench::BenchOptions {
                backend,
                batch,
                threads,
                steps,
                warmup,
                inference,
                profile,
                seed,
            };
            println!("{}", bench::bench(&file, &opts)?);
            Ok(())
        }
        Command::Explain { code } => {
            let Some(c) = Code::parse(&code) else {
                return Err(Failure::Message(format!(
                    "unknown error code `{code}`; codes look like E0301 (see docs/diagnostics.md)"
                )));
            };
            match diag::explain(c) {
                Some(text) => {
                    println!("{text}");
                    Ok(())
                }
                None => Err(Failure::Message(format!(
                    "no explanation is written for {c} yet"
                ))),
            }
        }
    }
}
