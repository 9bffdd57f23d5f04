//! Text generation from a trained model over token sequences, for the
//! `sample` statement and `dlc sample`. The model maps token ids
//! `i32[N, T]` to logits `[N, T, V]`; one step feeds it a batch of one
//! window of the last `T` tokens (the prime, then what was generated), reads
//! the logits at the window's last position, and draws the next token from
//! `softmax(logits / temperature)` with the run's seeded generator.
//!
//! A history shorter than `T` (at the start, or with a short prime) is
//! padded on the left with id 0 — the most frequent token of the training
//! text (at `level: char` in English text, a space), or `<unk>` when the
//! vocabulary has one — so the real tokens always sit at the positions
//! nearest the prediction. With no prime, the first window is all padding.

use crate::backend::Executable;
use crate::ir::{DType, HyperValues};
use crate::sema::inspect::sample_io;
use crate::sema::program::Sample;
use crate::tensor::Tensor;

use super::data::Vocabulary;
use super::rng::Rng;

/// The id windows are padded with on the left.
pub const PAD_ID: i32 = 0;

/// What a `sample` run produced: the prime's ids, the generated ids (as
/// many as asked), and the whole text decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct Generated {
    pub prime: Vec<i32>,
    pub ids: Vec<i32>,
    pub text: String,
}

/// Generates `spec.length` tokens after `spec.prime`. `exe` runs the
/// model's evaluation function, its parameters loaded; any data input but
/// the window (a loss's target) is fed zeros. `Err` names a prime token the
/// vocabulary lacks, or a failed run.
pub fn generate(
    exe: &mut dyn Executable,
    spec: &Sample,
    vocab: &Vocabulary,
    rng: &mut Rng,
) -> Result<Generated, String> {
    let prime = vocab
        .encode(&spec.prime)
        .map_err(|e| format!("cannot sample from the prime {:?}: {e}", spec.prime))?;
    let t = spec.context;
    let sig = exe.signature().clone();
    let out = sig
        .output(&spec.output)
        .ok_or_else(|| format!("internal: the function has no output `{}`", spec.output))?;
    // Every data input but the window is the same at each step.
    let mut fixed: Vec<Option<Tensor>> = Vec::new();
    let mut window_at = None;
    for (k, i) in sig.data().into_iter().enumerate() {
        let input = &sig.inputs[i];
        if input.name == spec.input {
            window_at = Some(k);
            fixed.push(None);
        } else {
            let shape = input
                .ty
                .shape
                .bind(&[("N".to_string(), 1)])
                .ok_or_else(|| format!("internal: input `{}` is not [N, ...]", input.name))?;
            fixed.push(Some(Tensor::zeros(&input.ty, &shape)));
        }
    }
    let window_at = window_at.ok_or_else(|| format!("internal: no input `{}`", spec.input))?;
    let mut history = prime.clone();
    let mut ids = Vec::with_capacity(spec.length);
    for _ in 0..spec.length {
        let start = history.len().saturating_sub(t);
        let mut window = vec![PAD_ID; t - (history.len() - start)];
        window.extend_from_slice(&history[start..]);
        let x = Tensor::from_f64(
            DType::I32,
            &[1, t],
            window.iter().map(|&i| i as f64).collect(),
        );
        let inputs: Vec<&Tensor> = fixed
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if i == window_at {
                    &x
                } else {
                    f.as_ref().expect("fed")
                }
            })
            .collect();
        let hyper = HyperValues {
            lr: Vec::new(),
            step: 0,
            key: 0,
        };
        let outputs = exe.call(&inputs, &hyper, &[out]).map_err(|e| e.0)?;
        let logits = outputs[0].to_f64_vec();
        let v = vocab.len();
        if logits.len() != t * v {
            return Err(format!(
                "internal: output `{}` has {} values, not {t} x {v}",
                spec.output,
                logits.len()
            ));
        }
        let next = draw(&logits[(t - 1) * v..], spec.temperature, rng);
        history.push(next as i32);
        ids.push(next as i32);
    }
    Ok(Generated {
        text: vocab.decode(&history),
        prime,
        ids,
    })
}

/// An index drawn with probability `softmax(logits / temperature)`:
/// inverse-CDF on one uniform number, so a seed gives one draw.
pub fn draw(logits: &[f64], temperature: f64, rng: &mut Rng) -> usize {
    let m = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = logits
        .iter()
        .map(|&l| ((l - m) / temperature).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut u = rng.uniform() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    // Rounding left `u` past the last weight: the last nonzero one.
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}

/// What `dlc sample` generates with when the program has no `sample`
/// statement: the model's one input `i32[N, T]` and its logits `[N, T,
/// vocab]` (the loss's prediction, or the one output), from `prime`.
pub fn spec_for(
    train: &crate::sema::program::Train,
    vocab: usize,
    length: usize,
    prime: String,
    temperature: f64,
) -> Result<Sample, String> {
    if let Some(s) = train.samples.first() {
        return Ok(Sample {
            length,
            prime,
            temperature,
            ..s.clone()
        });
    }
    let model = &train.model;
    let own = model.inputs.len() - train.targets.len();
    let prediction = train.head.as_ref().map(|h| h.prediction.as_str());
    let io = sample_io(model, own, prediction, vocab).map_err(|m| m.to_string())?;
    Ok(Sample {
        length,
        prime,
        temperature,
        input: io.input,
        output: io.output,
        context: io.context,
    })
}
