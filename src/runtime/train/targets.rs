//! The data a train block reads, checked before the first step: loading
//! every data set it uses, the part a reference names, and targets that fit
//! the loss; and the metrics reported for the training split.

use std::path::Path;

use crate::sema::program::{DataRef, LossKind, Metric, Program, Train};
use crate::tensor::Tensor;

use super::super::data::{self, Dataset, Table};
use super::{fail, Result, RunFailure};

/// Loads every data set a train block uses.
pub(super) fn load_data(
    program: &Program,
    train: &Train,
    base: &Path,
) -> Result<Vec<Option<Dataset>>> {
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

pub(super) fn part<'d>(data: &'d [Option<Dataset>], r: &DataRef) -> &'d Table {
    let d = data[r.dataset].as_ref().expect("internal: data set loaded");
    d.part(r.part.as_deref().unwrap_or("all"))
        .expect("internal: sema checked the part exists")
}

/// Checks that targets fit the loss before any training: class labels
/// within the prediction's classes (an out-of-range label would silently
/// contribute nothing to cross-entropy), binary targets within [0, 1].
pub(super) fn validate_targets(
    program: &Program,
    train: &Train,
    data: &[Option<Dataset>],
) -> Result<()> {
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
pub(super) fn train_metrics(train: &Train) -> Vec<Metric> {
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

pub(super) fn split_name(program: &Program, r: &DataRef) -> String {
    r.part
        .clone()
        .unwrap_or_else(|| program.datasets[r.dataset].name.clone())
}
