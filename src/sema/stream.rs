//! Checks the data-set pieces that treat samples as one ordered stream: the
//! `text(path, level:, lowercase:, min_count:)` source (one token a sample)
//! and the transforms that cut a stream into new samples, `sequences`,
//! `skipgrams` and `windows`, each of which replaces the data set's fields.
//!
//! The order rule: a stream is cut before anything reorders or splits it,
//! and only once. `text(...) |> sequences(...) |> split(...)` is allowed;
//! `split` or `shuffle` before `sequences` is refused, since a shuffled
//! stream is no longer a text (`take` before it is fine: the first tokens).

use crate::diag::{did_you_mean, Code, Diagnostic, Span};
use crate::ir::DType;
use crate::syntax::ast;

use super::args::{bind, ArgVal, Bound};
use super::data::{
    skipgram_count, window_count, Columns, DatasetSpec, FieldSchema, FieldSource, FileFormat,
    TextLevel, TextOptions, Transform, TOKEN_FIELD,
};
use super::value::Spanned;

/// The levels `text(level:)` takes.
const LEVELS: [&str; 2] = ["char", "word"];

/// `text(path, level: char, lowercase: false, min_count: 1)`: one field,
/// `token`, read from the path (whose span blames a bad file).
pub(super) fn text_source(
    call: &ast::Call,
    args: Vec<ArgVal>,
) -> Result<(String, FieldSource, Span), Diagnostic> {
    let b = bind(
        "text",
        call.span,
        &["path", "level", "lowercase", "min_count"],
        1,
        args,
    )?;
    let path = b.req("path")?;
    let level = match b.get("level") {
        None => TextLevel::Char,
        Some(v) => match v.symbol()? {
            "char" => TextLevel::Char,
            "word" => TextLevel::Word,
            other => {
                let d = Diagnostic::new(Code::BadValue, format!("unknown text level `{other}`"))
                    .at(v.span, "not `char` or `word`");
                return Err(match did_you_mean(other, LEVELS.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => {
                        d.help("a token is a character (`level: char`) or a word (`level: word`)")
                    }
                });
            }
        },
    };
    let lowercase = match b.get("lowercase") {
        None => false,
        Some(v) => v.bool()?,
    };
    let min_count = match b.get("min_count") {
        None => 1,
        Some(v) => v.positive("`min_count`")?,
    };
    let source = FieldSource {
        path: path.string()?.to_string(),
        format: FileFormat::Text(TextOptions {
            level,
            lowercase,
            min_count,
        }),
        columns: Columns::All,
        dtype: DType::I32,
    };
    Ok((TOKEN_FIELD.to_string(), source, path.span))
}

/// Checks a stream transform (`sequences`, `skipgrams`, `windows`) against
/// the data set so far, returning it with the fields it produces, which
/// must fit in `max_bytes` (a large window over a long text multiplies it).
pub(super) fn stream_transform(
    call: &ast::Call,
    args: Vec<ArgVal>,
    spec: &DatasetSpec,
    max_bytes: u64,
) -> Result<(Transform, Vec<FieldSchema>), Diagnostic> {
    check_order(call, spec)?;
    let (t, fields) = cut(call, args, spec)?;
    let bytes: u128 = fields
        .iter()
        .map(|f| {
            let per_sample: u128 = f.sample_shape.iter().map(|&n| n as u128).product();
            f.samples as u128 * per_sample * f.dtype.size() as u128
        })
        .sum();
    if bytes > u128::from(max_bytes) {
        let gib = |b: f64| b / (1u64 << 30) as f64;
        return Err(Diagnostic::new(
            Code::TooLarge,
            format!(
                "the {} samples of `{}` would take {:.1} GiB, over the limit of {:.1} GiB",
                fields[0].samples,
                call.callee.name,
                gib(bytes as f64),
                gib(max_bytes as f64)
            ),
        )
        .at(call.span, "too many samples")
        .help(match t {
            Transform::SkipGrams { .. } => "a smaller window makes fewer samples",
            _ => "a larger step makes fewer samples, a shorter length smaller ones",
        }));
    }
    Ok((t, fields))
}

/// The transform and its fields, before the size check.
fn cut(
    call: &ast::Call,
    args: Vec<ArgVal>,
    spec: &DatasetSpec,
) -> Result<(Transform, Vec<FieldSchema>), Diagnostic> {
    let name = call.callee.name.as_str();
    match name {
        "sequences" => {
            let b = bind(name, call.span, &["length", "step"], 1, args)?;
            let length_arg = b.req("length")?;
            let length = length_arg.positive("the sequence length")?;
            let step = optional_positive(&b, "step", "the step")?.unwrap_or(length);
            let tokens = token_count(call, spec)?;
            let samples = window_count(tokens, length.saturating_add(1), step);
            if samples == 0 {
                return Err(Diagnostic::new(
                    Code::BadValue,
                    format!(
                        "a sequence of length {length} needs {} tokens, but `{}` has {tokens}",
                        length.saturating_add(1),
                        spec.name
                    ),
                )
                .at(length_arg.span, "longer than the text"));
            }
            let int = |n: &str| schema(n, DType::I32, vec![length], samples);
            Ok((
                Transform::Sequences { length, step },
                vec![int("x"), int("y")],
            ))
        }
        "skipgrams" => {
            let b = bind(name, call.span, &["window", "negatives", "seed"], 1, args)?;
            let window = optional_positive(&b, "window", "the window")?.unwrap_or(5);
            let negatives = match b.get("negatives") {
                None => 5,
                Some(v) => non_negative(v, "the number of negatives")?,
            };
            let seed = match b.get("seed") {
                None => 0,
                Some(v) => u64::try_from(v.int()?).map_err(|_| {
                    Diagnostic::new(Code::BadValue, "a seed cannot be negative")
                        .at(v.span, "negative")
                })?,
            };
            let tokens = token_count(call, spec)?;
            let samples = skipgram_count(tokens, window);
            if samples == 0 {
                return Err(Diagnostic::new(
                    Code::BadValue,
                    format!(
                        "skip-grams need at least 2 tokens, but `{}` has {tokens}",
                        spec.name
                    ),
                )
                .at(call.span, "no pairs"));
            }
            let width = negatives + 1;
            Ok((
                Transform::SkipGrams {
                    window,
                    negatives,
                    seed,
                },
                vec![
                    schema("center", DType::I32, vec![], samples),
                    schema("context", DType::I32, vec![width], samples),
                    schema("label", DType::F32, vec![width], samples),
                ],
            ))
        }
        "windows" => {
            let b = bind(
                name,
                call.span,
                &["field", "length", "horizon", "step"],
                1,
                args,
            )?;
            let field_arg = b.req("field")?;
            let series = series_field(field_arg, spec)?;
            let length_arg = b.req("length")?;
            let length = length_arg.positive("the window length")?;
            let horizon = optional_positive(&b, "horizon", "the horizon")?.unwrap_or(1);
            let step = optional_positive(&b, "step", "the step")?.unwrap_or(1);
            let n = series.samples;
            let samples = window_count(n, length.saturating_add(horizon), step);
            if samples == 0 {
                return Err(Diagnostic::new(
                    Code::BadValue,
                    format!(
                        "a window of {length} steps with a horizon of {horizon} needs {} steps, but the series `{}` has {n}",
                        length.saturating_add(horizon),
                        series.name
                    ),
                )
                .at(length_arg.span, "longer than the series")
                .help(format!(
                    "the longest window with this horizon is {}",
                    n.saturating_sub(horizon)
                )));
            }
            let features = series.sample_shape.first().copied().unwrap_or(1);
            Ok((
                Transform::Windows {
                    field: series.name.clone(),
                    length,
                    horizon,
                    step,
                },
                vec![
                    schema("x", series.dtype, vec![length, features], samples),
                    schema("y", series.dtype, vec![features], samples),
                ],
            ))
        }
        _ => unreachable!("internal: `{name}` is not a stream transform"),
    }
}

/// Whether `name` is one of the transforms this module checks.
pub(super) fn is_stream_transform(name: &str) -> bool {
    matches!(name, "sequences" | "skipgrams" | "windows")
}

/// Refuses a stream transform after one that reordered, split or already
/// cut the stream.
fn check_order(call: &ast::Call, spec: &DatasetSpec) -> Result<(), Diagnostic> {
    let name = call.callee.name.as_str();
    let example = match name {
        "windows" => "windows(x, length: 8)",
        "skipgrams" => "skipgrams(window: 2)",
        _ => "sequences(length: 64)",
    };
    for t in &spec.transforms {
        let (message, help) = match t {
            Transform::Split { .. } => (
                format!("`{name}` must come before `split`: a split set is no longer one stream"),
                format!("cut the stream first, then split its samples: `|> {example} |> split(...)`"),
            ),
            Transform::Shuffle { .. } => (
                format!("`{name}` reads the samples in order, but `shuffle` has reordered them"),
                format!("shuffle after cutting: `|> {example} |> shuffle(...)`"),
            ),
            t if t.reads_a_stream() => (
                format!(
                    "data set `{}` is already cut into samples; `{name}` needs the stream",
                    spec.name
                ),
                "a data set cuts its stream once: keep one of `sequences`, `skipgrams` and `windows`"
                    .to_string(),
            ),
            _ => continue,
        };
        return Err(Diagnostic::new(Code::UnknownField, message)
            .at(call.callee.span, "too late in the chain")
            .help(help));
    }
    Ok(())
}

/// The number of tokens a `sequences` or `skipgrams` call reads, or why
/// there is no token stream.
fn token_count(call: &ast::Call, spec: &DatasetSpec) -> Result<usize, Diagnostic> {
    let name = call.callee.name.as_str();
    match (&spec.vocab, spec.fields.as_slice()) {
        (Some(_), [f]) if f.name == TOKEN_FIELD => Ok(f.samples),
        _ => Err(Diagnostic::new(
            Code::UnknownField,
            format!(
                "`{name}` cuts a token stream, but data set `{}` has none",
                spec.name
            ),
        )
        .at(call.callee.span, "needs text")
        .help(
            "read the data set with `text(\"path\", level: char)`; a numeric series is cut with `windows(x, length: 8)`",
        )),
    }
}

/// The series `windows` cuts: a float field of numbers or feature vectors,
/// the data set's only field.
fn series_field<'s>(arg: &Spanned, spec: &'s DatasetSpec) -> Result<&'s FieldSchema, Diagnostic> {
    let id = arg.symbol()?;
    let names: Vec<&str> = spec.fields.iter().map(|f| f.name.as_str()).collect();
    let Some(f) = spec.fields.iter().find(|f| f.name == id) else {
        let d = Diagnostic::new(
            Code::UnknownField,
            format!("data set `{}` has no field `{id}`", spec.name),
        )
        .at(arg.span, "no such field");
        return Err(match did_you_mean(id, names.iter().copied()) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help(format!("its fields are: {}", names.join(", "))),
        });
    };
    if !f.dtype.is_float() {
        let d = Diagnostic::new(
            Code::DTypeMismatch,
            format!(
                "`windows` cuts a float series, but `{id}` holds {}",
                f.dtype
            ),
        )
        .at(arg.span, "not a float field");
        return Err(if spec.vocab.is_some() {
            d.help("a token stream is cut with `sequences(length: 64)`")
        } else {
            d.help("load the series as floats: `csv(path, column: 1)` gives f32")
        });
    }
    if f.sample_shape.len() > 1 {
        return Err(Diagnostic::new(
            Code::RankMismatch,
            format!(
                "`windows` cuts a series of numbers or of feature vectors, but each step of `{id}` has shape {:?}",
                f.sample_shape
            ),
        )
        .at(arg.span, "more than one axis per step"));
    }
    if let Some(other) = names.iter().find(|&&n| n != id) {
        return Err(Diagnostic::new(
            Code::UnknownField,
            format!(
                "`windows` replaces the fields of `{}` by `x` and `y`, so its field `{other}` would be lost",
                spec.name
            ),
        )
        .at(arg.span, "the only field kept")
        .help("load the series alone: `load(x: csv(path, skip: 1, column: 1))`"));
    }
    Ok(f)
}

fn optional_positive(b: &Bound, name: &str, what: &str) -> Result<Option<usize>, Diagnostic> {
    b.get(name).map(|v| v.positive(what)).transpose()
}

fn non_negative(v: &Spanned, what: &str) -> Result<usize, Diagnostic> {
    let i = v.int()?;
    usize::try_from(i).map_err(|_| {
        Diagnostic::new(
            Code::BadValue,
            format!("{what} cannot be negative, got {i}"),
        )
        .at(v.span, "negative")
    })
}

fn schema(name: &str, dtype: DType, sample_shape: Vec<usize>, samples: usize) -> FieldSchema {
    FieldSchema {
        name: name.to_string(),
        dtype,
        sample_shape,
        samples,
    }
}
