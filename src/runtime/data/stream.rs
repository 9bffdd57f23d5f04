//! The transforms that read a data set as one ordered stream (a text's
//! tokens, a time series: one sample a step) and cut it into new samples:
//! `sequences` (next-token windows), `skipgrams` (word2vec pairs with
//! negative samples) and `windows` (forecasting windows). Each replaces the
//! table's fields; the checker makes sure they come before anything that
//! reorders or splits the samples, and the loader refuses it again here.

use ndarray::{ArrayD, IxDyn};

use crate::runtime::rng::{derive, Rng};
use crate::sema::data::{skipgram_count, window_count, DataError, TOKEN_FIELD};
use crate::tensor::Tensor;

use super::read::malformed;

/// The exponent word2vec raises unigram counts to for negative sampling.
const UNIGRAM_POWER: f64 = 0.75;
use super::Table;

/// The token ids of `table`'s `token` field.
fn tokens<'t>(set: &str, table: &'t Table, what: &str) -> Result<&'t [i32], DataError> {
    match table.field(TOKEN_FIELD) {
        Some(Tensor::I32(a)) if a.ndim() == 1 => Ok(a
            .as_slice()
            .expect("internal: a loaded token field is contiguous")),
        _ => Err(malformed(format!(
            "data set `{set}`: `{what}` needs a token stream (a `text(...)` source), but it has no i32 field `{TOKEN_FIELD}`"
        ))),
    }
}

fn i32_array(shape: &[usize], v: Vec<i32>) -> Tensor {
    Tensor::I32(ArrayD::from_shape_vec(IxDyn(shape), v).expect("internal: shape matches data"))
}

/// `x` = tokens `t..t+length`, `y` = tokens `t+1..t+length+1`, for `t` =
/// 0, `step`, `2 step`, ... while `t + length + 1 <= n`.
pub(crate) fn sequences(
    set: &str,
    table: &Table,
    length: usize,
    step: usize,
) -> Result<Table, DataError> {
    let ids = tokens(set, table, "sequences")?;
    let count = window_count(ids.len(), length + 1, step);
    if count == 0 {
        return Err(malformed(format!(
            "data set `{set}`: {} tokens are too few for a sequence of length {length} (it needs {})",
            ids.len(),
            length + 1
        )));
    }
    let mut x = Vec::with_capacity(count * length);
    let mut y = Vec::with_capacity(count * length);
    for k in 0..count {
        let t = k * step;
        x.extend_from_slice(&ids[t..t + length]);
        y.extend_from_slice(&ids[t + 1..t + length + 1]);
    }
    Ok(Table {
        samples: count,
        fields: vec![
            ("x".into(), i32_array(&[count, length], x)),
            ("y".into(), i32_array(&[count, length], y)),
        ],
    })
}

/// Skip-gram samples in order of the center's position, then of the
/// context's (`i-window` up to `i+window`). Negatives come from one stream,
/// `Rng::new(seed, derive(seed, "skipgrams"))`, `negatives` per sample in
/// sample order, each drawn with probability proportional to its token's
/// count in the stream raised to 3/4. As in word2vec, a negative may
/// happen to equal the true context; unlike word2vec, negatives are drawn
/// once when the data set is loaded, not again every epoch, and there is no
/// subsampling of frequent words nor a shrinking window.
pub(crate) fn skipgrams(
    set: &str,
    table: &Table,
    window: usize,
    negatives: usize,
    seed: u64,
) -> Result<Table, DataError> {
    let ids = tokens(set, table, "skipgrams")?;
    let n = ids.len();
    let count = skipgram_count(n, window);
    if count == 0 {
        return Err(malformed(format!(
            "data set `{set}`: {n} token(s) give no skip-gram pairs (it needs at least 2)"
        )));
    }
    let sampler = UnigramSampler::new(ids);
    let mut rng = Rng::new(seed, derive(seed, "skipgrams"));
    let width = 1 + negatives;
    let mut center = Vec::with_capacity(count);
    let mut context = Vec::with_capacity(count * width);
    let mut label = Vec::with_capacity(count * width);
    for i in 0..n {
        let lo = i.saturating_sub(window);
        let hi = (i + window).min(n - 1);
        for j in (lo..=hi).filter(|&j| j != i) {
            center.push(ids[i]);
            context.push(ids[j]);
            label.push(1.0f32);
            for _ in 0..negatives {
                context.push(sampler.draw(&mut rng));
                label.push(0.0);
            }
        }
    }
    debug_assert_eq!(center.len(), count);
    Ok(Table {
        samples: count,
        fields: vec![
            ("center".into(), i32_array(&[count], center)),
            ("context".into(), i32_array(&[count, width], context)),
            (
                "label".into(),
                Tensor::F32(
                    ArrayD::from_shape_vec(IxDyn(&[count, width]), label)
                        .expect("internal: shape matches data"),
                ),
            ),
        ],
    })
}

/// Draws ids with probability proportional to `count(id)^0.75`.
pub struct UnigramSampler {
    /// Cumulative weights by id; `cumulative[id]` ends id's interval.
    cumulative: Vec<f64>,
}

impl UnigramSampler {
    /// The sampler for the ids of a token stream (all non-negative).
    pub fn new(ids: &[i32]) -> UnigramSampler {
        let max = ids.iter().copied().max().unwrap_or(0).max(0) as usize;
        let mut counts = vec![0usize; max + 1];
        for &id in ids {
            counts[id as usize] += 1;
        }
        let mut total = 0.0;
        let cumulative = counts
            .iter()
            .map(|&c| {
                total += (c as f64).powf(UNIGRAM_POWER);
                total
            })
            .collect();
        UnigramSampler { cumulative }
    }

    /// The probability of drawing `id`.
    pub fn probability(&self, id: usize) -> f64 {
        let total = *self.cumulative.last().unwrap_or(&0.0);
        let before = if id == 0 {
            0.0
        } else {
            self.cumulative[id - 1]
        };
        (self.cumulative.get(id).copied().unwrap_or(before) - before) / total
    }

    pub fn draw(&self, rng: &mut Rng) -> i32 {
        let total = *self
            .cumulative
            .last()
            .expect("internal: a non-empty stream");
        let u = rng.uniform() * total;
        // The first id whose interval ends after u; ids with count 0 have
        // empty intervals and are never picked.
        let id = self.cumulative.partition_point(|&c| c <= u);
        id.min(self.cumulative.len() - 1) as i32
    }
}

/// `x` = steps `s..s+length` of the series `field`, `y` = step
/// `s+length-1+horizon`, for `s` = 0, `step`, ...; a series of scalars is
/// one feature (`x: [length, 1]`, `y: [1]`).
pub(crate) fn windows(
    set: &str,
    table: &Table,
    field: &str,
    length: usize,
    horizon: usize,
    step: usize,
) -> Result<Table, DataError> {
    let series = table.field(field).ok_or_else(|| {
        malformed(format!(
            "data set `{set}` has no field `{field}` to cut into windows"
        ))
    })?;
    if let Some((other, _)) = table.fields.iter().find(|(n, _)| n != field) {
        return Err(malformed(format!(
            "data set `{set}`: `windows` replaces the fields by `x` and `y`, but `{other}` would be dropped"
        )));
    }
    if !series.dtype().is_float() || series.shape().len() > 2 {
        return Err(malformed(format!(
            "data set `{set}`: `windows` needs a float series of numbers or feature vectors, but `{field}` is {}{:?}",
            series.dtype(),
            series.shape()
        )));
    }
    let n = series.shape()[0];
    let features = series.shape().get(1).copied().unwrap_or(1);
    let count = window_count(n, length + horizon, step);
    if count == 0 {
        return Err(malformed(format!(
            "data set `{set}`: the series `{field}` has {n} steps, too few for a window of {length} and a horizon of {horizon}"
        )));
    }
    let values = series.to_f64_vec();
    let mut x = Vec::with_capacity(count * length * features);
    let mut y = Vec::with_capacity(count * features);
    for k in 0..count {
        let s = k * step;
        x.extend_from_slice(&values[s * features..(s + length) * features]);
        let t = s + length - 1 + horizon;
        y.extend_from_slice(&values[t * features..(t + 1) * features]);
    }
    let dtype = series.dtype();
    Ok(Table {
        samples: count,
        fields: vec![
            (
                "x".into(),
                Tensor::from_f64(dtype, &[count, length, features], x),
            ),
            ("y".into(), Tensor::from_f64(dtype, &[count, features], y)),
        ],
    })
}
