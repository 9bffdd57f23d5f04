//! `dlc sample FILE.dl --checkpoint PATH`: text from a trained model after
//! the fact. The model comes from the program, the weights from the
//! checkpoint and the vocabulary from the `vocab.json` the run saved beside
//! it; the training data is not read. Length, temperature and prime default
//! to the program's first `sample` statement (else 400 tokens, temperature
//! 1, no prime), and the seed to the program's, so with the same settings
//! it prints what the run printed.

use std::path::{Path, PathBuf};

use crate::backend;
use crate::runtime::data::Vocabulary;
use crate::runtime::rng::{derive, Rng};
use crate::runtime::sample::{generate, spec_for};
use crate::runtime::train::vocab_path;

use super::{load_program, Failure};

/// The command's flags.
pub struct SampleOptions {
    pub checkpoint: PathBuf,
    pub length: Option<usize>,
    pub temperature: Option<f64>,
    pub prime: Option<String>,
    pub seed: Option<u64>,
}

/// The generated text (prime included).
pub fn sample(file: &Path, o: &SampleOptions) -> Result<String, Failure> {
    let msg = Failure::Message;
    let (_, program) = load_program(file)?;
    let Some(train) = program.train.as_ref() else {
        return Err(msg(format!("{} has no train block", file.display())));
    };
    let vpath = vocab_path(&o.checkpoint);
    let vocab = Vocabulary::load(&vpath).map_err(|e| {
        msg(format!(
            "{e} (a run on text saves vocab.json beside its checkpoint)"
        ))
    })?;
    if let Some(t) = o.temperature {
        if !(t > 0.0 && t.is_finite()) {
            return Err(msg(format!("--temperature must be positive, got {t}")));
        }
    }
    let first = train.samples.first();
    let length = o.length.or(first.map(|s| s.length)).unwrap_or(400);
    let temperature = o
        .temperature
        .or(first.map(|s| s.temperature))
        .unwrap_or(1.0);
    let prime = o
        .prime
        .clone()
        .or(first.map(|s| s.prime.clone()))
        .unwrap_or_default();
    let spec = spec_for(train, vocab.len(), length, prime, temperature).map_err(msg)?;
    let function = crate::evaluation(train);
    let (exes, note) = backend::compile_with(None, &[&function]).map_err(|e| msg(e.to_string()))?;
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
    let mut exe = exes
        .into_iter()
        .next()
        .expect("internal: one function compiled");
    let seed = o.seed.unwrap_or(train.seed);
    crate::runtime::train::initialize(exe.as_mut(), &train.model, seed);
    crate::runtime::train::load_weights(exe.as_mut(), &train.model, &o.checkpoint).map_err(msg)?;
    let mut rng = Rng::new(seed, derive(seed, "sample/0"));
    let g = generate(exe.as_mut(), &spec, &vocab, &mut rng).map_err(msg)?;
    Ok(g.text)
}
