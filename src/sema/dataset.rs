//! Checks `dataset` declarations: the source call (`csv`, `idx`, `load`,
//! `text`), then the transforms piped after it (the stream ones, `text` and
//! the transforms that replace the fields, are in `stream.rs`). Field types come from the
//! [`DataCatalog`], so a missing or malformed file is reported at `check`
//! time, pointing at its path.

use std::collections::HashMap;

use crate::diag::{did_you_mean, Code, Diagnostic, Span};
use crate::ir::DType;
use crate::syntax::ast::{self, ExprKind};

use super::args::{bind, ArgVal, Bound};
use super::builder::{Builder, Limits};
use super::data::{
    Columns, DataCatalog, DataErrorKind, DatasetSpec, FieldSchema, FieldSource, FileFormat,
    Transform,
};
use super::model::{Elaborator, Frame};
use super::stream;
use super::value::{Spanned, Val};

/// Checks one data-set declaration.
pub fn check_dataset(
    decl: &ast::DatasetDecl,
    catalog: &dyn DataCatalog,
    limits: Limits,
) -> Result<DatasetSpec, Diagnostic> {
    let mut chain = Vec::new();
    let mut e = &decl.value;
    loop {
        match &e.kind {
            ExprKind::Pipe { input, call } => {
                chain.push(call);
                e = input;
            }
            ExprKind::Call(call) => {
                chain.push(call);
                break;
            }
            _ => {
                return Err(Diagnostic::new(
                    Code::ArgType,
                    "a data set starts with a source such as `csv(...)`",
                )
                .at(e.span, "not a data source")
                .help("write `dataset name = csv(\"path\", label: last) |> ...`"))
            }
        }
    }
    chain.reverse();
    let models = HashMap::new();
    let mut ev = Evaluator {
        el: Elaborator::new(&models, &[], Builder::new("", limits)),
        frame: Frame::new(""),
    };
    let (source_call, transforms) = chain.split_first().expect("chain has a source");
    let sources = ev.source(source_call)?;
    let mut fields = Vec::new();
    let mut vocab = None;
    let mut vocab_tokens = Vec::new();
    let mut count: Option<(usize, String, Span)> = None;
    for (name, src, span) in &sources {
        let schema = match &src.format {
            FileFormat::Text(_) => catalog.text(name, src).map(|t| {
                vocab = Some(t.vocab);
                vocab_tokens = t.tokens;
                t.field
            }),
            _ => catalog.field(name, src),
        };
        let schema = schema.map_err(|err| {
            let code = match err.kind {
                DataErrorKind::NotFound => Code::DataNotFound,
                DataErrorKind::Malformed => Code::DataMalformed,
            };
            let d = Diagnostic::new(code, err.message.clone()).at(*span, "this file");
            match err.kind {
                DataErrorKind::NotFound => {
                    d.help("paths are relative to the directory dlc runs in; check the spelling and that the file exists")
                }
                DataErrorKind::Malformed => d,
            }
        })?;
        match &count {
            Some((n, other, _)) if *n != schema.samples => {
                return Err(Diagnostic::new(
                    Code::DataMalformed,
                    format!(
                        "field `{name}` has {} samples, but field `{other}` has {n}",
                        schema.samples
                    ),
                )
                .at(*span, format!("{} samples", schema.samples)))
            }
            None => count = Some((schema.samples, name.clone(), *span)),
            _ => {}
        }
        fields.push(schema);
    }
    let mut spec = DatasetSpec {
        name: decl.name.name.clone(),
        sources: sources.into_iter().map(|(n, s, _)| (n, s)).collect(),
        transforms: Vec::new(),
        fields,
        vocab,
        vocab_tokens,
    };
    for call in transforms {
        if stream::is_stream_transform(&call.callee.name) {
            let args = ev.args(call)?;
            let (t, fields) = stream::stream_transform(call, args, &spec, limits.max_bytes)?;
            spec.fields = fields;
            spec.transforms.push(t);
            continue;
        }
        let t = ev.transform(call, &spec)?;
        if let Transform::Take { n } = &t {
            for f in &mut spec.fields {
                f.samples = f.samples.min(*n);
            }
        }
        spec.transforms.push(t);
    }
    Ok(spec)
}

struct Evaluator<'a> {
    el: Elaborator<'a>,
    frame: Frame,
}

impl Evaluator<'_> {
    fn args(&mut self, call: &ast::Call) -> Result<Vec<ArgVal>, Diagnostic> {
        self.el.eval_args(&mut self.frame, &call.args)
    }

    /// The source call: the fields it provides, each with the span of the
    /// path to blame when its file is bad.
    fn source(&mut self, call: &ast::Call) -> Result<Vec<(String, FieldSource, Span)>, Diagnostic> {
        let name = call.callee.name.as_str();
        // `load`'s arguments are readers, checked one by one below; the
        // other sources take plain values.
        if name == "text" {
            let args = self.args(call)?;
            return Ok(vec![stream::text_source(call, args)?]);
        }
        let args = if name == "load" {
            Vec::new()
        } else {
            self.args(call)?
        };
        match name {
            "csv" => {
                let b = bind(
                    name,
                    call.span,
                    &["path", "label", "delimiter", "skip"],
                    1,
                    args,
                )?;
                let path = b.req("path")?;
                let format = csv_format(&b)?;
                let label =
                    match b.get("label") {
                        None => None,
                        Some(v) => match &v.val {
                            Val::Int(i) => Some(*i),
                            Val::Name(id) if id.name == "last" => Some(-1),
                            Val::Name(id) if id.name == "first" => Some(0),
                            Val::Name(id) if id.name == "none" => None,
                            _ => return Err(Diagnostic::new(
                                Code::BadValue,
                                "`label` is a column: `last`, `first`, `none` or a column index",
                            )
                            .at(v.span, "not a column")),
                        },
                    };
                let src = |columns, dtype| FieldSource {
                    path: path.string().map(str::to_string).unwrap_or_default(),
                    format: format.clone(),
                    columns,
                    dtype,
                };
                path.string()?;
                Ok(match label {
                    Some(col) => vec![
                        ("x".into(), src(Columns::AllBut(col), DType::F32), path.span),
                        (
                            "label".into(),
                            src(Columns::Only(col), DType::I32),
                            path.span,
                        ),
                    ],
                    None => vec![("x".into(), src(Columns::All, DType::F32), path.span)],
                })
            }
            "idx" => {
                let b = bind(name, call.span, &["images", "labels"], 2, args)?;
                let images = b.req("images")?;
                let mut out = vec![(
                    "x".to_string(),
                    FieldSource {
                        path: images.string()?.to_string(),
                        format: FileFormat::Idx,
                        columns: Columns::All,
                        dtype: DType::F32,
                    },
                    images.span,
                )];
                if let Some(l) = b.get("labels") {
                    out.push((
                        "label".into(),
                        FieldSource {
                            path: l.string()?.to_string(),
                            format: FileFormat::Idx,
                            columns: Columns::All,
                            dtype: DType::I32,
                        },
                        l.span,
                    ));
                }
                Ok(out)
            }
            "load" => {
                if call.args.is_empty() {
                    return Err(Diagnostic::new(
                        Code::MissingArgument,
                        "`load` needs at least one field",
                    )
                    .at(call.span, "no fields")
                    .help("write `load(x: csv(\"features.csv\"), y: csv(\"targets.csv\"))`"));
                }
                let mut out: Vec<(String, FieldSource, Span)> = Vec::new();
                for a in &call.args {
                    let Some(field) = &a.name else {
                        return Err(Diagnostic::new(
                            Code::ArgType,
                            "every argument of `load` names a field",
                        )
                        .at(a.span, "unnamed")
                        .help("write `field: csv(\"path\")`"));
                    };
                    if let Some((_, _, first)) = out.iter().find(|(n, _, _)| *n == field.name) {
                        return Err(Diagnostic::new(
                            Code::Duplicate,
                            format!("field `{}` is loaded twice", field.name),
                        )
                        .at(field.span, "again here")
                        .also(*first, "first here"));
                    }
                    let ExprKind::Call(inner) = &a.value.kind else {
                        return Err(Diagnostic::new(
                            Code::ArgType,
                            "a field is loaded by `csv(...)`, `idx(...)` or `npy(...)`",
                        )
                        .at(a.value.span, "not a file reader"));
                    };
                    let (src, span) = self.field_source(inner)?;
                    out.push((field.name.clone(), src, span));
                }
                Ok(out)
            }
            _ => Err(unknown_call(
                &call.callee,
                &["csv", "idx", "load", "text"],
                "data source",
            )),
        }
    }

    /// One field's reader inside `load(...)`.
    fn field_source(&mut self, call: &ast::Call) -> Result<(FieldSource, Span), Diagnostic> {
        let name = call.callee.name.as_str();
        let args = self.args(call)?;
        let params: &[&str] = match name {
            "csv" => &["path", "delimiter", "skip", "column", "drop", "dtype"],
            "idx" | "npy" => &["path", "dtype"],
            "text" => {
                return Err(Diagnostic::new(
                    Code::ArgType,
                    "`text(...)` is a data source of its own, not a field of `load(...)`",
                )
                .at(call.callee.span, "not a file reader")
                .help("write `dataset name = text(\"path\", level: char)`; its field is `token`"))
            }
            _ => {
                return Err(unknown_call(
                    &call.callee,
                    &["csv", "idx", "npy"],
                    "file reader",
                ))
            }
        };
        let b = bind(name, call.span, params, 1, args)?;
        let path = b.req("path")?;
        let format = match name {
            "csv" => csv_format(&b)?,
            "idx" => FileFormat::Idx,
            _ => FileFormat::Npy,
        };
        let columns = match (b.get("column"), b.get("drop")) {
            (Some(c), None) => Columns::Only(c.int()?),
            (None, Some(d)) => Columns::AllBut(d.int()?),
            (None, None) => Columns::All,
            (Some(_), Some(d)) => {
                return Err(
                    Diagnostic::new(Code::BadValue, "give `column` or `drop`, not both")
                        .at(d.span, "second choice"),
                )
            }
        };
        let dtype = match b.get("dtype") {
            None => DType::F32,
            Some(v) => match v.symbol()? {
                "f32" => DType::F32,
                "f64" => DType::F64,
                "i32" => DType::I32,
                other => {
                    return Err(Diagnostic::new(
                        Code::DTypeMismatch,
                        format!("a field cannot be loaded as `{other}`"),
                    )
                    .at(v.span, "not f32, f64 or i32"))
                }
            },
        };
        Ok((
            FieldSource {
                path: path.string()?.to_string(),
                format,
                columns,
                dtype,
            },
            path.span,
        ))
    }

    fn transform(&mut self, call: &ast::Call, spec: &DatasetSpec) -> Result<Transform, Diagnostic> {
        let name = call.callee.name.as_str();
        let field_names: Vec<&str> = spec.fields.iter().map(|f| f.name.as_str()).collect();
        let field = |id: &str, span: Span| -> Result<String, Diagnostic> {
            match spec.fields.iter().find(|f| f.name == id) {
                Some(FieldSchema { dtype, .. }) if !dtype.is_float() => Err(Diagnostic::new(
                    Code::DTypeMismatch,
                    format!("`{name}` rescales float fields, but `{id}` holds {dtype}"),
                )
                .at(span, "not a float field")),
                Some(_) => Ok(id.to_string()),
                None => {
                    let d = Diagnostic::new(
                        Code::UnknownField,
                        format!("data set `{}` has no field `{id}`", spec.name),
                    )
                    .at(span, "no such field");
                    Err(match did_you_mean(id, field_names.iter().copied()) {
                        Some(s) => d.help(format!("did you mean `{s}`?")),
                        None => d.help(format!("its fields are: {}", field_names.join(", "))),
                    })
                }
            }
        };
        let already_split = spec
            .transforms
            .iter()
            .any(|t| matches!(t, Transform::Split { .. }));
        let args = self.args(call)?;
        match name {
            "scale" => {
                let [arg] = args.as_slice() else {
                    return Err(Diagnostic::new(
                        Code::ArgCount,
                        "`scale` takes one `field: factor` argument",
                    )
                    .at(call.span, "write `scale(x: 1/255)`"));
                };
                let Some((f, fspan)) = &arg.name else {
                    return Err(Diagnostic::new(
                        Code::ArgType,
                        "`scale` needs the field to scale: `scale(x: 1/16)`",
                    )
                    .at(arg.value.span, "which field?"));
                };
                let factor = arg.value.float()?;
                if !factor.is_finite() {
                    return Err(
                        Diagnostic::new(Code::BadValue, "the scale factor must be finite")
                            .at(arg.value.span, "not finite"),
                    );
                }
                Ok(Transform::Scale {
                    field: field(f, *fspan)?,
                    factor,
                })
            }
            "standardize" | "minmax" => {
                let b = bind(name, call.span, &["field"], 1, args)?;
                let v = b.req("field")?;
                let f = field(v.symbol()?, v.span)?;
                Ok(if name == "standardize" {
                    Transform::Standardize { field: f }
                } else {
                    Transform::MinMax { field: f }
                })
            }
            "shuffle" => {
                let b = bind(name, call.span, &["seed"], 1, args)?;
                Ok(Transform::Shuffle {
                    seed: seed(b.get("seed"))?,
                })
            }
            "take" => {
                let b = bind(name, call.span, &["n"], 1, args)?;
                Ok(Transform::Take {
                    n: b.req("n")?.positive("the sample count")?,
                })
            }
            "split" => {
                if already_split {
                    return Err(Diagnostic::new(
                        Code::Duplicate,
                        format!("data set `{}` is split twice", spec.name),
                    )
                    .at(call.span, "second split")
                    .help("give every part in one `split(...)`"));
                }
                let mut parts: Vec<(String, f64)> = Vec::new();
                let mut seed_arg = None;
                let mut shuffle_arg = None;
                let mut total = 0.0;
                for a in &args {
                    let Some((part, pspan)) = &a.name else {
                        return Err(Diagnostic::new(
                            Code::ArgType,
                            "every part of a split has a name: `split(train: 0.8, test: 0.2)`",
                        )
                        .at(a.value.span, "unnamed part"));
                    };
                    if part == "seed" {
                        seed_arg = Some(a.value.clone());
                        continue;
                    }
                    if part == "shuffle" {
                        shuffle_arg = Some(a.value.clone());
                        continue;
                    }
                    if part == "vocab" {
                        return Err(Diagnostic::new(
                            Code::BadValue,
                            "`vocab` cannot name a part: `name.vocab` is a data set's vocabulary size",
                        )
                        .at(*pspan, "reserved")
                        .help("name the part otherwise, such as `valid`"));
                    }
                    if parts.iter().any(|(p, _)| p == part) {
                        return Err(Diagnostic::new(
                            Code::Duplicate,
                            format!("part `{part}` is named twice"),
                        )
                        .at(*pspan, "again here"));
                    }
                    let frac = a.value.float()?;
                    if !(frac > 0.0 && frac <= 1.0) {
                        return Err(Diagnostic::new(
                            Code::BadValue,
                            format!("the fraction of part `{part}` must be in (0, 1], got {frac}"),
                        )
                        .at(a.value.span, "out of range"));
                    }
                    total += frac;
                    parts.push((part.clone(), frac));
                }
                if parts.is_empty() {
                    return Err(Diagnostic::new(
                        Code::MissingArgument,
                        "`split` needs at least one part",
                    )
                    .at(call.span, "no parts")
                    .help("write `split(train: 0.8, test: 0.2, seed: 7)`"));
                }
                if total > 1.0 + 1e-9 {
                    return Err(Diagnostic::new(
                        Code::BadValue,
                        format!("the split fractions add up to {total}, more than 1"),
                    )
                    .at(call.span, "over 1")
                    .help("the parts must not overlap; make the fractions sum to 1 or less"));
                }
                let shuffle = match &shuffle_arg {
                    Some(v) => v.bool()?,
                    None => true,
                };
                if let (false, Some(s)) = (shuffle, &seed_arg) {
                    return Err(Diagnostic::new(
                        Code::BadValue,
                        "a split without shuffling has no use for a seed",
                    )
                    .at(s.span, "this seed would be ignored")
                    .help("`shuffle: false` keeps the samples in order; drop the seed"));
                }
                Ok(Transform::Split {
                    parts,
                    seed: seed(seed_arg.as_ref())?,
                    shuffle,
                })
            }
            _ => Err(unknown_call(
                &call.callee,
                &[
                    "scale",
                    "standardize",
                    "minmax",
                    "shuffle",
                    "take",
                    "split",
                    "sequences",
                    "skipgrams",
                    "windows",
                ],
                "data transform",
            )),
        }
    }
}

fn csv_format(b: &Bound) -> Result<FileFormat, Diagnostic> {
    let delimiter = match b.get("delimiter") {
        None => None,
        Some(v) => {
            let s = v.string()?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Some(c),
                _ => {
                    return Err(Diagnostic::new(
                        Code::BadValue,
                        format!("a delimiter is one character, got {s:?}"),
                    )
                    .at(v.span, "not one character"))
                }
            }
        }
    };
    let skip_rows = match b.get("skip") {
        None => 0,
        Some(v) => {
            let n = v.int()?;
            usize::try_from(n).map_err(|_| {
                Diagnostic::new(Code::BadValue, "`skip` cannot be negative").at(v.span, "negative")
            })?
        }
    };
    Ok(FileFormat::Csv {
        delimiter,
        skip_rows,
    })
}

fn seed(v: Option<&Spanned>) -> Result<u64, Diagnostic> {
    match v {
        None => Ok(0),
        Some(v) => {
            let n = v.int()?;
            u64::try_from(n).map_err(|_| {
                Diagnostic::new(Code::BadValue, "a seed cannot be negative").at(v.span, "negative")
            })
        }
    }
}

fn unknown_call(callee: &ast::Ident, names: &[&str], what: &str) -> Diagnostic {
    let d = Diagnostic::new(
        Code::UnknownFunction,
        format!("unknown {what} `{}`", callee.name),
    )
    .at(callee.span, format!("not a {what}"));
    match did_you_mean(&callee.name, names.iter().copied()) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help(format!("the {what}s are: {}", names.join(", "))),
    }
}
