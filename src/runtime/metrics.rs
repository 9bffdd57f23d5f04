//! Metrics over a whole data split (accumulated batch by batch) and the
//! JSON-lines metrics file.

use std::io::Write;
use std::path::Path;

use crate::sema::program::{LossKind, Metric};
use crate::tensor::Tensor;

/// Running sums for one pass over a split.
#[derive(Default, Clone, Debug)]
pub struct Accumulator {
    samples: usize,
    loss_sum: f64,
    correct: usize,
    abs_sum: f64,
    sq_sum: f64,
    elements: usize,
    /// Predictions classified: one per sample, or one per position of a
    /// sequence model's `[N, T, classes]` logits.
    labels: usize,
    persistence_sq_sum: f64,
    persistence_elements: usize,
}

impl Accumulator {
    /// Adds one batch: its mean loss, and (when the program has a head) the
    /// prediction and target tensors.
    pub fn add(&mut self, batch: usize, loss: f64, head: Option<(LossKind, &Tensor, &Tensor)>) {
        self.samples += batch;
        self.loss_sum += loss * batch as f64;
        let Some((kind, pred, target)) = head else {
            return;
        };
        let p = pred.to_f64_vec();
        let t = target.to_f64_vec();
        match kind {
            LossKind::CrossEntropy => {
                let classes = pred.shape().last().copied().unwrap_or(1).max(1);
                self.labels += t.len();
                for (row, &label) in p.chunks(classes).zip(&t) {
                    let best = row
                        .iter()
                        .enumerate()
                        .fold(
                            (0, f64::NEG_INFINITY),
                            |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
                        )
                        .0;
                    self.correct += usize::from(best as f64 == label);
                }
            }
            LossKind::BinaryCrossEntropy | LossKind::BinaryCrossEntropyLogits => {
                let threshold = if kind == LossKind::BinaryCrossEntropy {
                    0.5
                } else {
                    0.0
                };
                self.labels += p.len().min(t.len());
                for (&v, &y) in p.iter().zip(&t) {
                    let class = if v > threshold { 1.0 } else { 0.0 };
                    self.correct += usize::from(class == y);
                }
            }
            LossKind::MeanSquaredError | LossKind::MeanAbsoluteError => {}
        }
        for (&v, &y) in p.iter().zip(&t) {
            let d = v - y;
            self.abs_sum += d.abs();
            self.sq_sum += d * d;
        }
        self.elements += p.len().min(t.len());
    }

    /// Adds one batch of `windows` samples to the persistence baseline:
    /// `y: [n, F]` predicted by the last step of `x: [n, length, F]`.
    pub fn add_persistence(&mut self, x: &Tensor, y: &Tensor) {
        let (xs, ys) = (x.to_f64_vec(), y.to_f64_vec());
        let features = y.shape().iter().skip(1).product::<usize>().max(1);
        let per_sample = xs.len() / y.shape()[0].max(1);
        for (xrow, yrow) in xs.chunks(per_sample).zip(ys.chunks(features)) {
            let last = &xrow[per_sample - features..];
            for (&p, &t) in last.iter().zip(yrow) {
                self.persistence_sq_sum += (p - t) * (p - t);
            }
            self.persistence_elements += features;
        }
    }

    /// The value of `metric` over everything added so far. The bigram
    /// baseline does not depend on the model: the session computes it
    /// (`runtime::bigram`), so here it is NaN.
    pub fn value(&self, metric: Metric) -> f64 {
        let n = self.samples.max(1) as f64;
        let e = self.elements.max(1) as f64;
        match metric {
            Metric::Loss => self.loss_sum / n,
            Metric::Accuracy => self.correct as f64 / self.labels.max(1) as f64,
            Metric::Mae => self.abs_sum / e,
            Metric::Mse => self.sq_sum / e,
            Metric::Rmse => (self.sq_sum / e).sqrt(),
            Metric::BigramLoss => f64::NAN,
            Metric::PersistenceMse => {
                self.persistence_sq_sum / self.persistence_elements.max(1) as f64
            }
        }
    }
}

/// One line of results: an epoch, a split and its metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub epoch: usize,
    pub split: String,
    pub values: Vec<(Metric, f64)>,
}

impl Record {
    pub fn to_json(&self) -> String {
        let mut obj = serde_json::Map::new();
        obj.insert("epoch".into(), self.epoch.into());
        obj.insert("split".into(), self.split.clone().into());
        for (m, v) in &self.values {
            let value = serde_json::Number::from_f64(*v)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null);
            obj.insert(m.name().into(), value);
        }
        serde_json::Value::Object(obj).to_string()
    }

    /// `test  loss 0.2100  accuracy 0.9500`
    pub fn to_text(&self) -> String {
        let mut s = format!("{:<6}", self.split);
        for (m, v) in &self.values {
            s.push_str(&format!("  {} {v:.4}", m.name()));
        }
        s
    }
}

/// Appends records to a JSON-lines file, one object a line.
pub struct MetricsFile {
    file: std::fs::File,
}

impl MetricsFile {
    pub fn create(path: &Path) -> Result<MetricsFile, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let file = std::fs::File::create(path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(MetricsFile { file })
    }

    pub fn write(&mut self, r: &Record) -> Result<(), String> {
        writeln!(self.file, "{}", r.to_json()).map_err(|e| format!("cannot write metrics: {e}"))
    }
}
