//! Checks a `train` block: the model and its arguments, the data it is fed,
//! the loss (over model outputs and data fields), the optimizer and the
//! other settings.

use std::collections::HashMap;

use crate::diag::{did_you_mean, Code, Diagnostic, Span};
use crate::ir::TensorType;
use crate::syntax::ast::{self, ExprKind, ModelDecl, Setting};

use super::args::bind;
use super::builder::{Builder, Limits};
use super::data::DatasetSpec;
use super::model::{Elaborator, Frame, Inputs};
use super::program::{
    DataRef, Evaluate, Head, Layer, Metric, OptimizerKind, OptimizerSpec, Schedule, Train,
};
use super::value::{Spanned, Val};

pub fn check_train(
    decl: &ast::TrainDecl,
    models: &HashMap<String, &ModelDecl>,
    datasets: &[DatasetSpec],
    limits: Limits,
) -> Result<Train, Diagnostic> {
    let batch_setting = decl.settings.iter().find_map(|s| match s {
        Setting::Batch { value, .. } => match value.kind {
            ExprKind::Number {
                value,
                is_int: true,
            } if value >= 1.0 => Some(value as usize),
            _ => None,
        },
        _ => None,
    });
    let limits = Limits {
        batch: batch_setting.unwrap_or(32),
        ..limits
    };
    let mut el = Elaborator::new(
        models,
        datasets,
        Builder::new(&decl.model.callee.name, limits),
    );
    let mut top = Frame::new("");

    // Settings: at most once each (evaluate may repeat).
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for s in &decl.settings {
        let kw = s.keyword();
        if matches!(kw, "evaluate" | "sample" | "nearest") {
            continue;
        }
        if let Some(first) = seen.get(kw) {
            return Err(
                Diagnostic::new(Code::DuplicateSetting, format!("`{kw}` is set twice"))
                    .at(s.span(), "set again here")
                    .also(*first, "first set here"),
            );
        }
        seen.insert(kw, s.span());
    }

    // The data.
    let data_val = el.eval(&mut top, &decl.data)?;
    let data = data_ref(&el, &top, &data_val, datasets)?;
    let fields = &datasets[data.dataset].fields;

    // The model, fed by the data's fields.
    let Some(model) = models.get(&decl.model.callee.name).copied() else {
        let d = Diagnostic::new(
            Code::UnknownName,
            format!("there is no model `{}`", decl.model.callee.name),
        )
        .at(decl.model.callee.span, "not a model");
        return Err(
            match did_you_mean(&decl.model.callee.name, models.keys().map(|k| k.as_str())) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help("declare it with `model name(...) { ... }`"),
            },
        );
    };
    let args = el.eval_args(&mut top, &decl.model.args)?;
    let names: Vec<&str> = model.params.iter().map(|p| p.name.name.as_str()).collect();
    let bound = bind(&model.name.name, decl.model.span, &names, names.len(), args)?;
    let params = el.bind_params(model, |p| bound.get(p).cloned(), decl.model.span)?;
    let outputs = el.instantiate(model, &model.name.name, params, Inputs::Data(fields))?;

    // The loss sees the model's outputs and the data's fields.
    let mut scope = Frame::new("");
    scope.start_binding("loss");
    let inputs_used: Vec<String> = el
        .builder
        .model
        .inputs
        .iter()
        .map(|(n, _)| n.clone())
        .collect();
    let mut targets = Vec::new();
    let loss_expr = decl.settings.iter().find_map(|s| match s {
        Setting::Loss { value, .. } => Some(value),
        _ => None,
    });
    let Some(loss_expr) = loss_expr else {
        return Err(missing(decl, "loss", "loss cross_entropy(logits, label)"));
    };
    // Fields that are not model inputs become extra inputs, on first use.
    for f in fields {
        if inputs_used.contains(&f.name) {
            let id = el.builder.model.nodes.iter().position(|n| matches!(&n.layer, Layer::Input(i) if el.builder.model.inputs[*i].0 == f.name)).expect("input node exists");
            scope.bind(&f.name, Spanned::new(Val::Tensor(id), loss_expr.span));
        }
    }
    for (name, id) in &outputs {
        scope.bind(name, Spanned::new(Val::Tensor(*id), loss_expr.span));
    }
    let referenced = names_in(loss_expr);
    for f in fields {
        if !inputs_used.contains(&f.name)
            && referenced.contains(&f.name)
            && !outputs.iter().any(|(n, _)| *n == f.name)
        {
            let dims = std::iter::once(crate::ir::Dim::Sym("N".into()))
                .chain(f.sample_shape.iter().map(|&n| crate::ir::Dim::Fixed(n)))
                .collect();
            let id = el.builder.input(
                &f.name,
                TensorType::new(f.dtype, crate::ir::Shape(dims)),
                loss_expr.span,
            )?;
            scope.bind(&f.name, Spanned::new(Val::Tensor(id), loss_expr.span));
            targets.push(f.name.clone());
        }
    }
    let loss_val = el.eval(&mut scope, loss_expr)?;
    let loss_id = el.tensor(&scope, &loss_val)?;
    let loss_ty = el.builder.ty(loss_id).clone();
    if loss_ty.rank() != 0 || !loss_ty.dtype.is_float() {
        return Err(Diagnostic::new(Code::BadLoss, format!("the loss must be a float scalar, got {loss_ty}"))
            .at(loss_expr.span, format!("this is {loss_ty}"))
            .help("use a loss function such as `cross_entropy(logits, label)` or `mse(prediction, y)`, which averages over the batch"));
    }
    let head = head_of(&el, loss_id, &outputs);
    el.builder.model.outputs = outputs.clone();
    el.builder.model.loss = Some(loss_id);

    // The optimizer and schedule.
    let optimizer = match decl.settings.iter().find_map(|s| match s {
        Setting::Optimizer { call, .. } => Some(call),
        _ => None,
    }) {
        Some(call) => optimizer(&mut el, call)?,
        None => return Err(missing(decl, "optimizer", "optimizer adam(lr: 0.001)")),
    };
    let mut schedule = Schedule::Constant;
    let mut epochs = 1;
    let mut batch = 32;
    let mut shuffle = false;
    let mut seed = 0u64;
    let mut evaluate = Vec::new();
    let mut save = None;
    let mut samples = Vec::new();
    let mut nearest = Vec::new();
    let training_data = &datasets[data.dataset];
    for s in &decl.settings {
        match s {
            Setting::Loss { .. } | Setting::Optimizer { .. } => {}
            Setting::Schedule { call, .. } => schedule = schedule_of(&mut el, call)?,
            Setting::Epochs { value, .. } => epochs = count(&mut el, value, "epochs")?,
            Setting::Batch { value, .. } => batch = count(&mut el, value, "batch")?,
            Setting::Shuffle { .. } => shuffle = true,
            Setting::Seed { value, .. } => {
                let v = el.eval(&mut Frame::new(""), value)?;
                seed = u64::try_from(v.int().map_err(hyperparameter)?).map_err(|_| {
                    Diagnostic::new(Code::BadHyperparameter, "the seed cannot be negative")
                        .at(v.span, "negative")
                })?;
            }
            Setting::Evaluate {
                data,
                every,
                metrics,
                ..
            } => {
                let v = el.eval(&mut Frame::new(""), data)?;
                let data = data_ref(&el, &top, &v, datasets)?;
                fits_model(&el.builder.model.inputs, &datasets[data.dataset], &v)?;
                if let Some(e) = every {
                    if e.name != "epoch" {
                        return Err(Diagnostic::new(
                            Code::BadValue,
                            format!("evaluation runs `every epoch`, not every `{}`", e.name),
                        )
                        .at(e.span, "not `epoch`"));
                    }
                }
                let mut ms = Vec::new();
                for m in metrics {
                    let checked = metric(m, head.as_ref(), &datasets[data.dataset])?;
                    if checked == Metric::BigramLoss {
                        super::inspect::bigram_fits(
                            m.span,
                            training_data,
                            data.dataset == super::inspect::v_dataset(&v),
                        )?;
                    }
                    ms.push(checked);
                }
                evaluate.push(Evaluate { data, metrics: ms });
            }
            Setting::Save { path, .. } => {
                let v = el.eval(&mut Frame::new(""), path)?;
                save = Some(v.string()?.to_string());
            }
            Setting::Sample {
                length,
                prime,
                options,
                span,
            } => samples.push(super::inspect::sample(
                &mut el,
                (length, prime.as_ref(), options, *span),
                inputs_used.len(),
                head.as_ref(),
                training_data,
            )?),
            Setting::Nearest { table, args, span } => nearest.push(super::inspect::nearest(
                &mut el,
                (table, args, *span),
                training_data,
            )?),
        }
    }
    Ok(Train {
        model: el.builder.model,
        data,
        targets,
        head,
        optimizer,
        schedule,
        epochs,
        batch,
        shuffle,
        seed,
        evaluate,
        save,
        samples,
        nearest,
    })
}

fn missing(decl: &ast::TrainDecl, what: &str, example: &str) -> Diagnostic {
    Diagnostic::new(
        Code::MissingSetting,
        format!("the train block has no `{what}`"),
    )
    .at(
        decl.model.span,
        format!("training `{}` needs a {what}", decl.model.callee.name),
    )
    .help(format!("add a line such as `{example}`"))
}

fn data_ref(
    el: &Elaborator<'_>,
    frame: &Frame,
    v: &Spanned,
    datasets: &[DatasetSpec],
) -> Result<DataRef, Diagnostic> {
    match &v.val {
        Val::Data(r) => {
            let parts = datasets[r.dataset].parts();
            if r.part.is_none() && !parts.is_empty() {
                return Err(Diagnostic::new(
                    Code::UnknownField,
                    format!(
                        "data set `{}` is split; pick a part",
                        datasets[r.dataset].name
                    ),
                )
                .at(v.span, "the whole split set")
                .help(format!(
                    "write `{}.{}` (parts: {})",
                    datasets[r.dataset].name,
                    parts[0],
                    parts.join(", ")
                )));
            }
            Ok(r.clone())
        }
        Val::Name(id) => {
            let d = Diagnostic::new(
                Code::UnknownName,
                format!("there is no data set `{}`", id.name),
            )
            .at(id.span, "not a data set");
            let names: Vec<&str> = datasets.iter().map(|d| d.name.as_str()).collect();
            Err(match did_you_mean(&id.name, names.iter().copied()) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help("declare it with `dataset name = csv(...)`"),
            })
        }
        other => {
            let _ = (el, frame);
            Err(Diagnostic::new(
                Code::ArgType,
                format!("expected a data set, found {}", other.kind()),
            )
            .at(v.span, "not a data set"))
        }
    }
}

/// Evaluation feeds the model (and its loss) from another data set's fields
/// by name, so that data set needs every field training reads, with the
/// same dtype and sample shape.
fn fits_model(
    inputs: &[(String, TensorType)],
    data: &DatasetSpec,
    at: &Spanned,
) -> Result<(), Diagnostic> {
    for (name, want) in inputs {
        let Some(field) = data.fields.iter().find(|f| f.name == *name) else {
            let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Diagnostic::new(
                Code::UnboundInput,
                format!(
                    "data set `{}` has no field `{name}`, which the model or its loss reads",
                    data.name
                ),
            )
            .at(at.span, "evaluated here")
            .note(format!(
                "training feeds the model and its loss from the fields: {}",
                names.join(", ")
            ))
            .help("evaluate on a data set with the same fields, such as another part of the training set"));
        };
        let dims = std::iter::once(crate::ir::Dim::Sym("N".into()))
            .chain(field.sample_shape.iter().map(|&n| crate::ir::Dim::Fixed(n)))
            .collect();
        let found = TensorType::new(field.dtype, crate::ir::Shape(dims));
        if found != *want {
            let code = if found.dtype != want.dtype {
                Code::DTypeMismatch
            } else {
                Code::ShapeMismatch
            };
            return Err(Diagnostic::new(
                code,
                format!(
                    "field `{name}` of data set `{}` is {found}, but the model is trained on {want}",
                    data.name
                ),
            )
            .at(at.span, format!("`{name}` is {found} here"))
            .help("evaluate on a data set with the same fields, such as another part of the training set"));
        }
    }
    Ok(())
}

/// Every name mentioned in an expression (for deciding which data fields
/// the loss uses).
fn names_in(e: &ast::Expr) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(e: &ast::Expr, out: &mut Vec<String>) {
        match &e.kind {
            ExprKind::Name(id) => out.push(id.name.clone()),
            ExprKind::Field { base, .. } => walk(base, out),
            ExprKind::Call(c) => c.args.iter().for_each(|a| walk(&a.value, out)),
            ExprKind::Pipe { input, call } => {
                walk(input, out);
                call.args.iter().for_each(|a| walk(&a.value, out));
            }
            ExprKind::Binary { lhs, rhs, .. } => {
                walk(lhs, out);
                walk(rhs, out);
            }
            ExprKind::Neg(x) => walk(x, out),
            ExprKind::Number { .. } | ExprKind::Str(_) | ExprKind::Bool(_) => {}
        }
    }
    walk(e, &mut out);
    out
}

/// When the loss is one loss call on a model output and a data field, the
/// metrics compare those two.
fn head_of(el: &Elaborator<'_>, loss: usize, outputs: &[(String, usize)]) -> Option<Head> {
    let node = &el.builder.model.nodes[loss];
    let Layer::Loss(kind) = node.layer else {
        return None;
    };
    let (p, t) = (node.args[0], node.args[1]);
    let prediction = outputs.iter().find(|(_, id)| *id == p)?.0.clone();
    let Layer::Input(i) = el.builder.model.nodes[t].layer else {
        return None;
    };
    Some(Head {
        prediction,
        target: el.builder.model.inputs[i].0.clone(),
        loss: kind,
    })
}

fn metric(m: &ast::Ident, head: Option<&Head>, data: &DatasetSpec) -> Result<Metric, Diagnostic> {
    let Some(metric) = Metric::ALL.into_iter().find(|x| x.name() == m.name) else {
        let d = Diagnostic::new(Code::BadValue, format!("unknown metric `{}`", m.name))
            .at(m.span, "not a metric");
        let names: Vec<&str> = Metric::ALL.iter().map(|x| x.name()).collect();
        return Err(match did_you_mean(&m.name, names.iter().copied()) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help(format!("the metrics are: {}", names.join(", "))),
        });
    };
    if metric == Metric::PersistenceMse {
        let windowed = data
            .transforms
            .iter()
            .any(|t| matches!(t, super::data::Transform::Windows { .. }));
        if !windowed {
            return Err(Diagnostic::new(
                Code::BadValue,
                format!(
                    "`persistence_mse` needs a series cut by `windows(...)`, but data set `{}` is not",
                    data.name
                ),
            )
            .at(m.span, "no series to persist")
            .note("it is the error of predicting `y` by the last step of `x`, the baseline of a forecast")
            .help("use `mse` here, or cut the series with `|> windows(x, length: 8)`"));
        }
        return Ok(metric);
    }
    use super::program::LossKind::*;
    let ok = matches!(
        (metric, head.map(|h| h.loss)),
        (Metric::Loss, _)
            | (
                Metric::Accuracy,
                Some(CrossEntropy | BinaryCrossEntropy | BinaryCrossEntropyLogits)
            )
            | (Metric::BigramLoss, _)
            | (
                Metric::Mae | Metric::Mse | Metric::Rmse,
                Some(MeanSquaredError | MeanAbsoluteError | BinaryCrossEntropy)
            )
    );
    if !ok {
        return Err(Diagnostic::new(Code::BadValue, format!("metric `{}` does not fit this loss", m.name))
            .at(m.span, "cannot be computed here")
            .help("accuracy needs a classification loss (`cross_entropy`, `bce`) on a model output and a label field; mae/mse/rmse need a regression loss (`mse`, `mae`)"));
    }
    Ok(metric)
}

/// A training setting, optimizer or schedule value of the wrong kind
/// (`epochs 2.5`) or out of range is a bad hyperparameter; an undefined name
/// stays an unknown name.
fn hyperparameter(d: Diagnostic) -> Diagnostic {
    match d.code {
        Code::ArgType | Code::BadValue => Diagnostic {
            code: Code::BadHyperparameter,
            ..d
        },
        _ => d,
    }
}

fn count(el: &mut Elaborator<'_>, e: &ast::Expr, what: &str) -> Result<usize, Diagnostic> {
    let v = el.eval(&mut Frame::new(""), e)?;
    let n = v.int().map_err(hyperparameter)?;
    if n < 1 {
        return Err(Diagnostic::new(
            Code::BadHyperparameter,
            format!("`{what}` must be at least 1, got {n}"),
        )
        .at(v.span, "too small"));
    }
    Ok(n as usize)
}

fn optimizer(el: &mut Elaborator<'_>, call: &ast::Call) -> Result<OptimizerSpec, Diagnostic> {
    let name = call.callee.name.as_str();
    let args = el.eval_args(&mut Frame::new(""), &call.args)?;
    let params: &[&str] = match name {
        "sgd" => &["lr", "momentum", "nesterov", "weight_decay"],
        "adam" | "adamw" => &["lr", "beta1", "beta2", "eps", "weight_decay"],
        "rmsprop" => &["lr", "alpha", "eps", "momentum", "centered", "weight_decay"],
        _ => {
            let d = Diagnostic::new(Code::UnknownFunction, format!("unknown optimizer `{name}`"))
                .at(call.callee.span, "not an optimizer");
            return Err(
                match did_you_mean(name, ["sgd", "adam", "adamw", "rmsprop"]) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help("the optimizers are sgd, adam, adamw and rmsprop"),
                },
            );
        }
    };
    let b = bind(name, call.span, params, 1, args)?;
    let num =
        |key: &str, default: f64, lo: f64, hi: f64, open_lo: bool| -> Result<f64, Diagnostic> {
            let Some(v) = b.get(key) else {
                return Ok(default);
            };
            let x = v.float().map_err(hyperparameter)?;
            let ok = x.is_finite() && (if open_lo { x > lo } else { x >= lo }) && x < hi;
            if !ok {
                let range = format!("{}{lo}, {hi})", if open_lo { "(" } else { "[" });
                let typical = match key {
                    "lr" => "a learning rate is positive, typically 1e-4 to 0.1",
                    "momentum" | "beta1" | "beta2" | "alpha" => {
                        "decay rates lie in [0, 1), typically 0.9 to 0.999"
                    }
                    "eps" => "eps is a small positive number such as 1e-8",
                    _ => "weight decay is zero or a small positive number such as 1e-4",
                };
                return Err(Diagnostic::new(
                    Code::BadHyperparameter,
                    format!("`{key}` of `{name}` must be in {range}, got {x}"),
                )
                .at(v.span, "out of range")
                .help(typical));
            }
            Ok(x)
        };
    let flag = |key: &str| -> Result<bool, Diagnostic> {
        b.get(key).map(|v| v.bool()).unwrap_or(Ok(false))
    };
    let default_lr = match name {
        "sgd" => None,
        "rmsprop" => Some(0.01),
        _ => Some(0.001),
    };
    let lr = match (b.get("lr"), default_lr) {
        (None, None) => {
            return Err(
                Diagnostic::new(Code::MissingArgument, "`sgd` needs a learning rate")
                    .at(call.span, "no `lr`")
                    .help("write `sgd(lr: 0.1)`"),
            )
        }
        (None, Some(d)) => d,
        (Some(_), _) => num("lr", 0.0, 0.0, f64::INFINITY, true)?,
    };
    let weight_decay = num(
        "weight_decay",
        if name == "adamw" { 0.01 } else { 0.0 },
        0.0,
        f64::INFINITY,
        false,
    )?;
    let kind = match name {
        "sgd" => {
            let momentum = num("momentum", 0.0, 0.0, 1.0, false)?;
            let nesterov = flag("nesterov")?;
            if nesterov && momentum == 0.0 {
                return Err(Diagnostic::new(
                    Code::BadHyperparameter,
                    "nesterov momentum needs `momentum` above 0",
                )
                .at(
                    b.get("nesterov").map(|v| v.span).unwrap_or(call.span),
                    "nesterov without momentum",
                )
                .help("add `momentum: 0.9`"));
            }
            OptimizerKind::Sgd { momentum, nesterov }
        }
        "adam" | "adamw" => OptimizerKind::Adam {
            beta1: num("beta1", 0.9, 0.0, 1.0, false)?,
            beta2: num("beta2", 0.999, 0.0, 1.0, false)?,
            eps: num("eps", 1e-8, 0.0, f64::INFINITY, true)?,
            decoupled: name == "adamw",
        },
        _ => OptimizerKind::RmsProp {
            alpha: num("alpha", 0.99, 0.0, 1.0, false)?,
            eps: num("eps", 1e-8, 0.0, f64::INFINITY, true)?,
            momentum: num("momentum", 0.0, 0.0, 1.0, false)?,
            centered: flag("centered")?,
        },
    };
    Ok(OptimizerSpec {
        name: name.to_string(),
        kind,
        lr,
        weight_decay,
    })
}

fn schedule_of(el: &mut Elaborator<'_>, call: &ast::Call) -> Result<Schedule, Diagnostic> {
    let name = call.callee.name.as_str();
    let args = el.eval_args(&mut Frame::new(""), &call.args)?;
    let positive = |v: &Spanned, what: &str| -> Result<f64, Diagnostic> {
        let x = v.float().map_err(hyperparameter)?;
        if !(x > 0.0 && x.is_finite()) {
            return Err(Diagnostic::new(
                Code::BadHyperparameter,
                format!("`{what}` must be positive, got {x}"),
            )
            .at(v.span, "not positive"));
        }
        Ok(x)
    };
    Ok(match name {
        "constant" => {
            bind(name, call.span, &[], 0, args)?;
            Schedule::Constant
        }
        "step" => {
            let b = bind(name, call.span, &["every", "gamma"], 0, args)?;
            Schedule::Step {
                every: b
                    .req("every")?
                    .positive("`every`")
                    .map_err(hyperparameter)?,
                gamma: positive(b.req("gamma")?, "gamma")?,
            }
        }
        "exponential" => {
            let b = bind(name, call.span, &["gamma"], 1, args)?;
            Schedule::Exponential {
                gamma: positive(b.req("gamma")?, "gamma")?,
            }
        }
        "cosine" => {
            let b = bind(name, call.span, &["warmup", "min_lr"], 0, args)?;
            let warmup = match b.get("warmup") {
                Some(v) => usize::try_from(v.int().map_err(hyperparameter)?).map_err(|_| {
                    Diagnostic::new(Code::BadHyperparameter, "`warmup` cannot be negative")
                        .at(v.span, "negative")
                })?,
                None => 0,
            };
            let min_lr = match b.get("min_lr") {
                Some(v) => {
                    let x = v.float().map_err(hyperparameter)?;
                    // The rate decays to `min_lr`: a negative one would end
                    // the run climbing the loss.
                    if !(x >= 0.0 && x.is_finite()) {
                        return Err(Diagnostic::new(
                            Code::BadHyperparameter,
                            format!("`min_lr` of `cosine` must be zero or positive, got {x}"),
                        )
                        .at(v.span, "out of range")
                        .help("the learning rate decays from the optimizer's `lr` to `min_lr`, such as 0 or 1e-5"));
                    }
                    x
                }
                None => 0.0,
            };
            Schedule::Cosine { warmup, min_lr }
        }
        _ => {
            let d = Diagnostic::new(Code::UnknownFunction, format!("unknown schedule `{name}`"))
                .at(call.callee.span, "not a schedule");
            return Err(
                match did_you_mean(name, ["constant", "step", "exponential", "cosine"]) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help("the schedules are constant, step, exponential and cosine"),
                },
            );
        }
    })
}
