//! The bigram baseline behind the `bigram_loss` metric: how well the
//! previous token alone predicts the next. It is fitted on the training
//! part of a `sequences` data set — every pair `(x[t], y[t])` of every
//! training sample is counted — and scored on another part as the mean
//! cross-entropy in nats per token, exactly as `cross_entropy` scores a
//! model on `[N, T, V]` logits. Smoothing is add-one (Laplace):
//! `P(b | a) = (count(a, b) + 1) / (count(a) + V)`, with `V` the vocabulary
//! size, so a pair never seen in training costs `ln(count(a) + V)` rather
//! than infinity. At `level: char` this is a character bigram model; a model
//! that cannot beat it has learned nothing past the previous character.

use std::collections::HashMap;

use crate::tensor::Tensor;

/// Pair counts from the training part.
#[derive(Clone, Debug)]
pub struct Bigram {
    vocab: usize,
    pairs: HashMap<(i64, i64), u64>,
    firsts: HashMap<i64, u64>,
}

impl Bigram {
    /// Counts every pair `(x[i], y[i])`, elementwise over `x` and `y` (the
    /// `x` and `y` fields of `sequences` samples: `y` is `x` shifted by one
    /// token). `vocab` is the number of token ids.
    pub fn fit(x: &Tensor, y: &Tensor, vocab: usize) -> Bigram {
        let mut b = Bigram {
            vocab,
            pairs: HashMap::new(),
            firsts: HashMap::new(),
        };
        for (a, n) in pairs(x, y) {
            *b.pairs.entry((a, n)).or_insert(0) += 1;
            *b.firsts.entry(a).or_insert(0) += 1;
        }
        b
    }

    /// `-ln P(b | a)` under add-one smoothing.
    pub fn nats(&self, a: i64, b: i64) -> f64 {
        let ab = self.pairs.get(&(a, b)).copied().unwrap_or(0) as f64;
        let first = self.firsts.get(&a).copied().unwrap_or(0) as f64;
        -((ab + 1.0) / (first + self.vocab as f64)).ln()
    }

    /// The mean of [`Bigram::nats`] over every pair `(x[i], y[i])`, or NaN
    /// when there is none.
    pub fn loss(&self, x: &Tensor, y: &Tensor) -> f64 {
        let (mut sum, mut n) = (0.0, 0usize);
        for (a, b) in pairs(x, y) {
            sum += self.nats(a, b);
            n += 1;
        }
        if n == 0 {
            f64::NAN
        } else {
            sum / n as f64
        }
    }
}

fn pairs(x: &Tensor, y: &Tensor) -> impl Iterator<Item = (i64, i64)> {
    let (x, y) = (x.to_f64_vec(), y.to_f64_vec());
    x.into_iter()
        .zip(y)
        .map(|(a, b)| (a as i64, b as i64))
        .collect::<Vec<_>>()
        .into_iter()
}
