//! The data-set transforms of `sema::data::Transform`, applied in the
//! order written. Before a split there is one part (`all`); a split turns it
//! into named parts, and every later transform applies to each part.
//! Statistics (standardize, min-max) always come from the first part, so a
//! model never sees its test set's statistics.
//!
//! `sequences`, `skipgrams` and `windows` (in `stream.rs`) read the one
//! unsplit part as an ordered stream and replace its fields.
//!
//! Randomness, all from [`Rng`] so it is the same on every machine:
//! - `split(seed)`: `Rng::new(seed, derive(seed, "split")).permutation(n)`,
//!   then consecutive parts of `floor(fraction * n)` samples; when the
//!   fractions sum to 1 the last part also takes the rounding remainder.
//!   `split(..., shuffle: false)` cuts the same parts in the samples' order.
//! - `shuffle(seed)`: `Rng::new(seed, derive(seed, "shuffle"))` on the
//!   unsplit set; after a split, part `p` uses `derive(seed, "shuffle/p")`.

use crate::runtime::rng::{derive, Rng};
use crate::sema::data::{DataError, Transform};
use crate::tensor::Tensor;

use super::read::malformed;
use super::{stream, Table};

/// Fractions are compared with this slack, so `0.7 + 0.2 + 0.1` sums to 1.
const EPS: f64 = 1e-9;

/// Applies `transforms` to the loaded table of data set `set`.
pub(crate) fn apply(
    set: &str,
    table: Table,
    transforms: &[Transform],
) -> Result<Vec<(String, Table)>, DataError> {
    let mut parts = vec![("all".to_string(), table)];
    let mut split = false;
    for t in transforms {
        match t {
            Transform::Scale { field, factor } => {
                for (_, table) in &mut parts {
                    map_field(set, table, field, "scale", |_, v| v * factor)?;
                }
            }
            Transform::Standardize { field } => {
                let (mean, std) = fit(set, &parts, field, "standardize", |col| {
                    let n = col.len() as f64;
                    let mean = col.iter().sum::<f64>() / n;
                    let var = col.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
                    // A constant feature is only centred, not divided by 0.
                    let std = if var > 0.0 { var.sqrt() } else { 1.0 };
                    (mean, std)
                })?;
                for (_, table) in &mut parts {
                    map_field(set, table, field, "standardize", |j, v| {
                        (v - mean[j]) / std[j]
                    })?;
                }
            }
            Transform::MinMax { field } => {
                let (min, range) = fit(set, &parts, field, "min-max scale", |col| {
                    let min = col.iter().copied().fold(f64::INFINITY, f64::min);
                    let max = col.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let range = if max > min { max - min } else { 1.0 };
                    (min, range)
                })?;
                for (_, table) in &mut parts {
                    map_field(set, table, field, "min-max scale", |j, v| {
                        (v - min[j]) / range[j]
                    })?;
                }
            }
            Transform::Shuffle { seed } => {
                for (name, table) in &mut parts {
                    let stream = if split {
                        derive(*seed, &format!("shuffle/{name}"))
                    } else {
                        derive(*seed, "shuffle")
                    };
                    let order = Rng::new(*seed, stream).permutation(table.samples);
                    *table = table.gather(&order);
                }
            }
            Transform::Take { n } => {
                for (_, table) in &mut parts {
                    let keep: Vec<usize> = (0..table.samples.min(*n)).collect();
                    *table = table.gather(&keep);
                }
            }
            Transform::Split {
                parts: fractions,
                seed,
                shuffle,
            } => {
                if split {
                    return Err(malformed(format!("data set `{set}` is split twice")));
                }
                let table = parts.pop().expect("internal: one part before a split").1;
                let seed = shuffle.then_some(*seed);
                parts = split_table(set, &table, fractions, seed)?;
                split = true;
            }
            Transform::Sequences { .. }
            | Transform::SkipGrams { .. }
            | Transform::Windows { .. } => {
                let [(_, table)] = parts.as_mut_slice() else {
                    return Err(malformed(format!(
                        "data set `{set}`: a stream is cut into samples before it is split"
                    )));
                };
                *table = match t {
                    Transform::Sequences { length, step } => {
                        stream::sequences(set, table, *length, *step)?
                    }
                    Transform::SkipGrams {
                        window,
                        negatives,
                        seed,
                    } => stream::skipgrams(set, table, *window, *negatives, *seed)?,
                    Transform::Windows {
                        field,
                        length,
                        horizon,
                        step,
                    } => stream::windows(set, table, field, *length, *horizon, *step)?,
                    _ => unreachable!("internal: matched above"),
                };
            }
        }
    }
    Ok(parts)
}

/// Parts of `table` by `fractions`, after a permutation seeded by `seed`,
/// or in the samples' order when there is none.
fn split_table(
    set: &str,
    table: &Table,
    fractions: &[(String, f64)],
    seed: Option<u64>,
) -> Result<Vec<(String, Table)>, DataError> {
    let total: f64 = fractions.iter().map(|(_, f)| f).sum();
    if fractions.is_empty()
        || fractions.iter().any(|(_, f)| !(0.0..=1.0).contains(f))
        || total > 1.0 + EPS
    {
        return Err(malformed(format!(
            "data set `{set}`: split fractions must be between 0 and 1 and sum to at most 1, found {}",
            fractions
                .iter()
                .map(|(n, f)| format!("{n}: {f}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let n = table.samples;
    let order = match seed {
        Some(seed) => Rng::new(seed, derive(seed, "split")).permutation(n),
        None => (0..n).collect(),
    };
    let mut sizes: Vec<usize> = fractions
        .iter()
        .map(|(_, f)| (f * n as f64).floor() as usize)
        .collect();
    if (total - 1.0).abs() <= EPS {
        let others: usize = sizes[..sizes.len() - 1].iter().sum();
        *sizes.last_mut().expect("internal: non-empty split") = n - others;
    }
    let mut start = 0;
    let mut out = Vec::with_capacity(fractions.len());
    for ((name, _), size) in fractions.iter().zip(sizes) {
        out.push((name.clone(), table.gather(&order[start..start + size])));
        start += size;
    }
    Ok(out)
}

/// Per-feature statistics of `field` over the first part: `stat` gets one
/// feature's column of values and returns a pair (mean and scale, ...).
fn fit(
    set: &str,
    parts: &[(String, Table)],
    field: &str,
    what: &str,
    stat: impl Fn(&[f64]) -> (f64, f64),
) -> Result<(Vec<f64>, Vec<f64>), DataError> {
    let (part, table) = &parts[0];
    let t = float_field(set, table, field, what)?;
    if table.samples == 0 {
        return Err(malformed(format!(
            "cannot {what} `{set}.{field}`: the part `{part}` it is fitted on has no samples"
        )));
    }
    let values = t.to_f64_vec();
    let features = values.len() / table.samples;
    let mut a = Vec::with_capacity(features);
    let mut b = Vec::with_capacity(features);
    let mut col = vec![0.0; table.samples];
    for j in 0..features {
        for (i, c) in col.iter_mut().enumerate() {
            *c = values[i * features + j];
        }
        let (x, y) = stat(&col);
        a.push(x);
        b.push(y);
    }
    Ok((a, b))
}

fn float_field<'t>(
    set: &str,
    table: &'t Table,
    field: &str,
    what: &str,
) -> Result<&'t Tensor, DataError> {
    let t = table
        .field(field)
        .ok_or_else(|| malformed(format!("data set `{set}` has no field `{field}` to {what}")))?;
    if !t.dtype().is_float() {
        return Err(malformed(format!(
            "cannot {what} `{set}.{field}`: it is {}, not a float field",
            t.dtype()
        )));
    }
    Ok(t)
}

/// Replaces every value `v` of feature `j` (the element's index within its
/// sample) by `f(j, v)`, computing in f64.
fn map_field(
    set: &str,
    table: &mut Table,
    field: &str,
    what: &str,
    f: impl Fn(usize, f64) -> f64,
) -> Result<(), DataError> {
    float_field(set, table, field, what)?;
    let features = table
        .field(field)
        .map(|t| t.shape()[1..].iter().product::<usize>())
        .unwrap_or(1)
        .max(1);
    let t = table
        .fields
        .iter_mut()
        .find(|(n, _)| n == field)
        .map(|(_, t)| t)
        .expect("internal: field checked above");
    // `iter_mut` walks in logical row-major order whatever the memory layout.
    match t {
        Tensor::F32(a) => a
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = f(i % features, f64::from(*v)) as f32),
        Tensor::F64(a) => a
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = f(i % features, *v)),
        other => unreachable!("internal: {} is not a float dtype", other.dtype()),
    }
    Ok(())
}
