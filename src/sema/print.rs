//! The text form of a checked program (`dlc dump --stage checked`): data
//! sets with their field types, each model as a numbered list of layers with
//! shapes, parameters with their initializers, and the training settings.

use std::fmt::Write;

use super::data::{Columns, DatasetSpec, FieldSchema, FileFormat, Transform};
use super::program::{Activation, Layer, Model, Program, Schedule, Train};

pub fn print_program(p: &Program) -> String {
    let mut out = String::new();
    for d in &p.datasets {
        dataset(&mut out, d);
    }
    for m in &p.models {
        model(&mut out, m, "model");
    }
    if let Some(t) = &p.train {
        train(&mut out, t, p);
    }
    out
}

/// A data set whose transforms keep its fields prints each field beside its
/// source; one cut into new samples (`sequences`, `windows`, ...) prints its
/// sources, its transforms, then the fields they produce.
fn dataset(out: &mut String, d: &DatasetSpec) {
    let _ = writeln!(out, "dataset {} {{", d.name);
    let reshaped = d.transforms.iter().any(Transform::reads_a_stream);
    for (i, (name, src)) in d.sources.iter().enumerate() {
        let fmt = match &src.format {
            FileFormat::Csv {
                delimiter,
                skip_rows,
            } => {
                let delim = delimiter
                    .map(|c| format!(" delimiter={c:?}"))
                    .unwrap_or_default();
                format!("csv{delim} skip={skip_rows}")
            }
            FileFormat::Idx => "idx".into(),
            FileFormat::Npy => "npy".into(),
            FileFormat::Text(o) => format!(
                "text level={} lowercase={} min_count={}",
                o.level.as_str(),
                o.lowercase,
                o.min_count
            ),
        };
        let cols = match src.columns {
            Columns::All => String::new(),
            Columns::AllBut(i) => format!(" drop={i}"),
            Columns::Only(i) => format!(" column={i}"),
        };
        match d.fields.get(i) {
            Some(f) if !reshaped => {
                let _ = writeln!(
                    out,
                    "  field {name}: {}  <- {fmt}{cols} {:?}",
                    field_type(f),
                    src.path
                );
            }
            _ => {
                let _ = writeln!(out, "  source {name}  <- {fmt}{cols} {:?}", src.path);
            }
        }
    }
    if let Some(n) = d.vocab {
        let _ = writeln!(out, "  vocab {n}");
    }
    for t in &d.transforms {
        let text = match t {
            Transform::Scale { field, factor } => format!("scale {field} by {factor}"),
            Transform::Standardize { field } => format!("standardize {field}"),
            Transform::MinMax { field } => format!("minmax {field}"),
            Transform::Shuffle { seed } => format!("shuffle seed={seed}"),
            Transform::Take { n } => format!("take {n}"),
            Transform::Split {
                parts,
                seed,
                shuffle,
            } => {
                let p: Vec<String> = parts.iter().map(|(n, f)| format!("{n}={f}")).collect();
                if *shuffle {
                    format!("split {} seed={seed}", p.join(" "))
                } else {
                    format!("split {} in order", p.join(" "))
                }
            }
            Transform::Sequences { length, step } => {
                format!("sequences length={length} step={step}")
            }
            Transform::SkipGrams {
                window,
                negatives,
                seed,
            } => format!("skipgrams window={window} negatives={negatives} seed={seed}"),
            Transform::Windows {
                field,
                length,
                horizon,
                step,
            } => format!("windows {field} length={length} horizon={horizon} step={step}"),
        };
        let _ = writeln!(out, "  {text}");
    }
    if reshaped {
        for f in &d.fields {
            let _ = writeln!(out, "  field {}: {}", f.name, field_type(f));
        }
    }
    out.push_str("}\n");
}

/// `f32[64] x 1797 samples`.
fn field_type(f: &FieldSchema) -> String {
    let shape: Vec<String> = f.sample_shape.iter().map(|n| n.to_string()).collect();
    format!("{}[{}] x {} samples", f.dtype, shape.join(","), f.samples)
}

/// `kind` says which instance this is: a model on its own, or the one a
/// train block builds (with target inputs and the loss).
fn model(out: &mut String, m: &Model, kind: &str) {
    let _ = writeln!(out, "{kind} {} {{", m.name);
    for p in &m.params {
        let _ = writeln!(out, "  param {}: {} init={}", p.path, p.ty, p.init.name());
    }
    for s in &m.states {
        let _ = writeln!(out, "  state {}: {} fill={}", s.path, s.ty, s.fill);
    }
    for (i, n) in m.nodes.iter().enumerate() {
        let args: Vec<String> = n.args.iter().map(|a| format!("#{a}")).collect();
        let layer = match &n.layer {
            Layer::Input(k) => format!("input {}", m.inputs[*k].0),
            Layer::Const(c) => format!("const {c}"),
            Layer::Dense { weight, bias } => {
                let b = bias
                    .map(|b| format!(", {}", m.params[b].path))
                    .unwrap_or_default();
                format!("dense({}{b})", m.params[*weight].path)
            }
            Layer::Activation(a) => match a {
                Activation::LeakyRelu { alpha } | Activation::Elu { alpha } => {
                    format!("{}(alpha={alpha})", a.name())
                }
                _ => a.name().to_string(),
            },
            Layer::Embedding { weight } => format!("embedding({})", m.params[*weight].path),
            Layer::Conv {
                weight,
                bias,
                attrs,
            } => {
                let b = bias
                    .map(|b| format!(", {}", m.params[b].path))
                    .unwrap_or_default();
                format!(
                    "conv({}{b}, stride={:?}, pad={:?}/{:?}, dilation={:?}, groups={})",
                    m.params[*weight].path,
                    attrs.stride,
                    attrs.pad_low,
                    attrs.pad_high,
                    attrs.dilation,
                    attrs.groups
                )
            }
            Layer::ConvTranspose {
                weight,
                bias,
                attrs,
            } => {
                let b = bias
                    .map(|b| format!(", {}", m.params[b].path))
                    .unwrap_or_default();
                format!(
                    "conv_transpose({}{b}, stride={:?}, pad={:?}/{:?})",
                    m.params[*weight].path, attrs.lhs_dilation, attrs.pad_low, attrs.pad_high,
                )
            }
            Layer::Dropout { rate, stream } => format!("dropout(rate={rate}, stream={stream})"),
            Layer::BatchNorm {
                weight,
                bias,
                running,
                momentum,
                eps,
            } => {
                let p = |i: &Option<usize>| {
                    i.map(|i| format!(", {}", m.params[i].path))
                        .unwrap_or_default()
                };
                format!(
                    "batch_norm(momentum={momentum}, eps={eps}{}{}, {}, {})",
                    p(weight),
                    p(bias),
                    m.states[*running].path,
                    m.states[*running + 1].path
                )
            }
            Layer::Pool { max, window } => format!(
                "{}_pool(size={:?}, stride={:?}, pad={:?}/{:?})",
                if *max { "max" } else { "avg" },
                window.size,
                window.stride,
                window.pad_low,
                window.pad_high
            ),
            Layer::GlobalAvgPool => "global_avg_pool".into(),
            Layer::Rnn {
                w_ih,
                w_hh,
                bias,
                sequences,
            }
            | Layer::Lstm {
                w_ih,
                w_hh,
                bias,
                sequences,
            } => format!(
                "{}({}, {}, {}, sequences={sequences})",
                if matches!(n.layer, Layer::Rnn { .. }) {
                    "rnn"
                } else {
                    "lstm"
                },
                m.params[*w_ih].path,
                m.params[*w_hh].path,
                m.params[*bias].path
            ),
            Layer::Gru {
                w_ih,
                w_hh,
                b_ih,
                b_hh,
                sequences,
            } => format!(
                "gru({}, {}, {}, {}, sequences={sequences})",
                m.params[*w_ih].path,
                m.params[*w_hh].path,
                m.params[*b_ih].path,
                m.params[*b_hh].path
            ),
            Layer::Reshape => "reshape".into(),
            Layer::Attention {
                heads,
                causal,
                masked,
            } => format!("attention(heads={heads}, causal={causal}, masked={masked})"),
            Layer::Latents { weight } => format!("latents({})", m.params[*weight].path),
            Layer::PositionalEncoding { weight } => match weight {
                Some(w) => format!("positional_encoding({})", m.params[*w].path),
                None => "positional_encoding(sinusoidal)".into(),
            },
            Layer::Reduce { mean, axis } => {
                format!("{}(axis={axis})", if *mean { "mean" } else { "sum" })
            }
            Layer::Repeat { axis } => format!("repeat(axis={axis})"),
            Layer::LayerNorm { weight, bias, eps } => {
                let p = |i: &Option<usize>| {
                    i.map(|i| format!(", {}", m.params[i].path))
                        .unwrap_or_default()
                };
                format!("layer_norm(eps={eps}{}{})", p(weight), p(bias))
            }
            Layer::Softmax { axis } => format!("softmax(axis={axis})"),
            Layer::LogSoftmax { axis } => format!("log_softmax(axis={axis})"),
            Layer::Flatten => "flatten".into(),
            Layer::Arith(op) => format!("{op:?}").to_lowercase(),
            Layer::Neg => "neg".into(),
            Layer::Loss(k) => k.name().to_string(),
        };
        let args = if args.is_empty() {
            String::new()
        } else {
            format!(" {}", args.join(", "))
        };
        let _ = writeln!(out, "  #{i} = {layer}{args} : {}  ({})", n.ty, n.name);
    }
    for (name, id) in &m.outputs {
        let _ = writeln!(out, "  output {name} = #{id}");
    }
    if let Some(id) = m.loss {
        let _ = writeln!(out, "  output loss = #{id}");
    }
    out.push_str("}\n");
}

fn train(out: &mut String, t: &Train, p: &Program) {
    model(out, &t.model, "training model");
    let part = |r: &super::program::DataRef| {
        let name = &p.datasets[r.dataset].name;
        match &r.part {
            Some(part) => format!("{name}.{part}"),
            None => name.clone(),
        }
    };
    let _ = writeln!(out, "train {} on {} {{", t.model.name, part(&t.data));
    if let Some(h) = &t.head {
        let _ = writeln!(
            out,
            "  head {} vs {} ({})",
            h.prediction,
            h.target,
            h.loss.name()
        );
    }
    let o = &t.optimizer;
    let _ = writeln!(
        out,
        "  optimizer {} lr={} weight_decay={} {:?}",
        o.name, o.lr, o.weight_decay, o.kind
    );
    let schedule = match &t.schedule {
        Schedule::Constant => "constant".to_string(),
        other => format!("{other:?}"),
    };
    let _ = writeln!(out, "  schedule {schedule}");
    let _ = writeln!(
        out,
        "  epochs {} batch {} shuffle {} seed {}",
        t.epochs, t.batch, t.shuffle, t.seed
    );
    for e in &t.evaluate {
        let ms: Vec<&str> = e.metrics.iter().map(|m| m.name()).collect();
        let _ = writeln!(out, "  evaluate {}: {}", part(&e.data), ms.join(", "));
    }
    for s in &t.samples {
        let _ = writeln!(
            out,
            "  sample {} from {:?} temperature {} (input {}: [N, {}], logits {})",
            s.length, s.prime, s.temperature, s.input, s.context, s.output
        );
    }
    for n in &t.nearest {
        let words: Vec<String> = n.words.iter().map(|w| format!("{w:?}")).collect();
        let _ = writeln!(
            out,
            "  nearest {}: {} count {}",
            n.param,
            words.join(", "),
            n.count
        );
    }
    if let Some(s) = &t.save {
        let _ = writeln!(out, "  save {s:?}");
    }
    out.push_str("}\n");
}
