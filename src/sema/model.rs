//! Instantiates model declarations: evaluates each statement, resolving
//! names and inferring every tensor's shape, and inlines blocks (models used
//! as layers) with their parameters named by binding path.

use std::collections::HashMap;

use crate::diag::{did_you_mean, Code, Diagnostic, Span};
use crate::ir::{DType, Dim, Shape, TensorType};
use crate::syntax::ast::{self, BinOp, Expr, ExprKind, ModelDecl, Stmt};

use super::args::{bind, ArgVal};
use super::builder::Builder;
use super::data::{DatasetSpec, FieldSchema};
use super::layers;
use super::program::{ArithOp, DataRef, Layer, NodeId};
use super::value::{Spanned, Val};

/// Where a model's inputs come from when it is instantiated.
pub enum Inputs<'x> {
    /// The top-level model of a train block: inputs are fed from data-set
    /// fields of the same name, whose sample shapes bind shape variables.
    Data(&'x [FieldSchema]),
    /// A model checked on its own: every dimension must be written out.
    Standalone,
    /// A block called from another model: inputs are the caller's tensors.
    Given(Vec<Spanned>),
}

/// The names visible while checking a model body or a train block.
pub struct Frame {
    /// The path prefix for parameters (`mlp`, `mlp.h2`).
    pub prefix: String,
    /// Bindings, latest last; a later binding shadows an earlier one.
    pub env: Vec<(String, Spanned)>,
    /// The current binding's parameter path and how many parametric layers
    /// it has created so far (`h`, then `h.1`, ...).
    pub binding: String,
    pub layers_in_binding: usize,
    used: HashMap<String, usize>,
}

impl Frame {
    pub fn new(prefix: &str) -> Frame {
        Frame {
            prefix: prefix.to_string(),
            env: Vec::new(),
            binding: prefix.to_string(),
            layers_in_binding: 0,
            used: HashMap::new(),
        }
    }

    pub fn lookup(&self, name: &str) -> Option<&Spanned> {
        self.env
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    pub fn bind(&mut self, name: &str, v: Spanned) {
        self.env.push((name.to_string(), v));
    }

    /// Starts a new binding: rebinding `h` gives `h_2`, `h_3`, ... so every
    /// parameter path stays unique.
    pub fn start_binding(&mut self, name: &str) {
        let n = self.used.entry(name.to_string()).or_insert(0);
        *n += 1;
        let local = if *n == 1 {
            name.to_string()
        } else {
            format!("{name}_{n}")
        };
        self.binding = join(&self.prefix, &local);
        self.layers_in_binding = 0;
    }

    /// The path for the next parametric layer of the current binding.
    pub fn next_layer_path(&mut self) -> String {
        let path = match self.layers_in_binding {
            0 => self.binding.clone(),
            k => format!("{}.{k}", self.binding),
        };
        self.layers_in_binding += 1;
        path
    }

    /// Names of tensors in scope, for "did you mean" hints.
    pub fn tensor_names(&self) -> Vec<&str> {
        self.env
            .iter()
            .filter(|(_, v)| matches!(v.val, Val::Tensor(_) | Val::Record(..)))
            .map(|(n, _)| n.as_str())
            .collect()
    }
}

pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Checks expressions and instantiates models against the program's
/// declarations.
pub struct Elaborator<'a> {
    pub models: &'a HashMap<String, &'a ModelDecl>,
    /// The checked data sets, for `digits.train` and `hamlet.vocab`.
    pub datasets: &'a [DatasetSpec],
    pub builder: Builder,
    stack: Vec<String>,
}

impl<'a> Elaborator<'a> {
    pub fn new(
        models: &'a HashMap<String, &'a ModelDecl>,
        datasets: &'a [DatasetSpec],
        builder: Builder,
    ) -> Elaborator<'a> {
        Elaborator {
            models,
            datasets,
            builder,
            stack: Vec::new(),
        }
    }

    /// Instantiates `decl` with `params` (already bound and checked) and
    /// returns its outputs in declaration order.
    pub fn instantiate(
        &mut self,
        decl: &ModelDecl,
        prefix: &str,
        params: Vec<(String, Spanned)>,
        inputs: Inputs<'_>,
    ) -> Result<Vec<(String, NodeId)>, Diagnostic> {
        self.stack.push(decl.name.name.clone());
        let result = self.body(decl, prefix, params, inputs);
        self.stack.pop();
        result
    }

    fn body(
        &mut self,
        decl: &ModelDecl,
        prefix: &str,
        params: Vec<(String, Spanned)>,
        inputs: Inputs<'_>,
    ) -> Result<Vec<(String, NodeId)>, Diagnostic> {
        let mut frame = Frame::new(prefix);
        for (name, v) in params {
            frame.bind(&name, v);
        }
        let mut next_given = 0;
        let mut outputs: Vec<(String, NodeId, Span)> = Vec::new();
        for stmt in &decl.body {
            match stmt {
                Stmt::Input { name, ty, span } => {
                    let v =
                        self.input(&mut frame, name, ty, *span, &inputs, &mut next_given, decl)?;
                    frame.bind(&name.name, v);
                }
                Stmt::Let { name, value, .. } => {
                    frame.start_binding(&name.name);
                    let v = self.eval(&mut frame, value)?;
                    frame.bind(&name.name, v);
                }
                Stmt::Output { name, value, span } => {
                    if let Some((_, _, first)) = outputs.iter().find(|(n, _, _)| *n == name.name) {
                        return Err(Diagnostic::new(
                            Code::Duplicate,
                            format!("output `{}` is declared twice", name.name),
                        )
                        .at(name.span, "declared again here")
                        .also(*first, "first declared here"));
                    }
                    let v = match value {
                        Some(e) => {
                            frame.start_binding(&name.name);
                            let v = self.eval(&mut frame, e)?;
                            frame.bind(&name.name, v.clone());
                            v
                        }
                        None => self.lookup_tensor(&frame, &name.name, name.span)?,
                    };
                    let id = self.tensor(&frame, &v)?;
                    outputs.push((name.name.clone(), id, *span));
                }
            }
        }
        if outputs.is_empty() {
            return Err(Diagnostic::new(
                Code::NoOutput,
                format!("model `{}` has no output", decl.name.name),
            )
            .at(decl.name.span, "declared here")
            .help("mark the result with `output name = ...` or `output name`"));
        }
        Ok(outputs.into_iter().map(|(n, id, _)| (n, id)).collect())
    }
}

/// A dimension as written in an input type, before unification.
enum DimSpec {
    Known(Dim),
    /// A shape variable (`F` in `f32[N, F]`), bound by the data or caller.
    Var(String, Span),
}

impl Elaborator<'_> {
    #[allow(clippy::too_many_arguments)]
    fn input(
        &mut self,
        frame: &mut Frame,
        name: &ast::Ident,
        ty: &ast::TypeExpr,
        span: Span,
        inputs: &Inputs<'_>,
        next_given: &mut usize,
        decl: &ModelDecl,
    ) -> Result<Spanned, Diagnostic> {
        let dtype = resolve_dtype(&ty.dtype)?;
        let mut specs = Vec::new();
        for d in &ty.dims {
            specs.push(self.dim(frame, d)?);
        }
        match inputs {
            Inputs::Data(fields) => {
                let Some(field) = fields.iter().find(|f| f.name == name.name) else {
                    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                    let mut d = Diagnostic::new(
                        Code::UnboundInput,
                        format!(
                            "model input `{}` has no field of the same name in the training data",
                            name.name
                        ),
                    )
                    .at(name.span, "no data field feeds this input");
                    d = match did_you_mean(&name.name, names.iter().copied()) {
                        Some(s) => d.help(format!("did you mean `{s}`? inputs are fed from the data field of the same name")),
                        None => d.help(format!("the data fields are: {}", names.join(", "))),
                    };
                    return Err(d);
                };
                if field.dtype != dtype {
                    return Err(Diagnostic::new(
                        Code::DTypeMismatch,
                        format!(
                            "input `{}` is declared {dtype}, but the data field holds {}",
                            name.name, field.dtype
                        ),
                    )
                    .at(ty.dtype.span, format!("declared {dtype}"))
                    .help(format!("declare it as `{}`", field.dtype)));
                }
                match specs.first() {
                    Some(DimSpec::Known(Dim::Sym(s))) if s == "N" => {}
                    _ => {
                        return Err(Diagnostic::new(
                            Code::BadDim,
                            format!(
                                "the first dimension of input `{}` must be the batch `N`",
                                name.name
                            ),
                        )
                        .at(ty.span, "no batch dimension first")
                        .help(format!("write `{}[N, ...]`", dtype)))
                    }
                }
                let sample = &field.sample_shape;
                let data_ty = TensorType::new(
                    field.dtype,
                    Shape(
                        std::iter::once(Dim::Sym("N".into()))
                            .chain(sample.iter().map(|&n| Dim::Fixed(n)))
                            .collect(),
                    ),
                );
                if specs.len() != sample.len() + 1 {
                    return Err(Diagnostic::new(
                        Code::RankMismatch,
                        format!(
                            "input `{}` is declared with {} dimensions, but the data field `{}` gives {data_ty}",
                            name.name,
                            specs.len(),
                            field.name
                        ),
                    )
                    .at(ty.span, format!("declared with {} dimensions", specs.len()))
                    .help(format!("declare it as `{data_ty}`")));
                }
                let mut dims = vec![Dim::Sym("N".into())];
                for (i, (spec, &n)) in specs.iter().skip(1).zip(sample).enumerate() {
                    match spec {
                        DimSpec::Known(Dim::Fixed(k)) if *k == n => dims.push(Dim::Fixed(n)),
                        DimSpec::Known(k) => {
                            return Err(Diagnostic::new(
                                Code::ShapeMismatch,
                                format!(
                                    "input `{}` is declared with dimension {} = {k}, but the data field `{}` has {n} there",
                                    name.name,
                                    i + 1,
                                    field.name
                                ),
                            )
                            .at(ty.dims[i + 1].span, format!("declared {k}"))
                            .note(format!("the data field has type {data_ty}"))
                            .help(format!("declare it as `{data_ty}`")));
                        }
                        DimSpec::Var(v, _) => {
                            frame.bind(v, Spanned::new(Val::Int(n as i64), ty.dims[i + 1].span));
                            dims.push(Dim::Fixed(n));
                        }
                    }
                }
                let id =
                    self.builder
                        .input(&name.name, TensorType::new(dtype, Shape(dims)), span)?;
                Ok(Spanned::new(Val::Tensor(id), name.span))
            }
            Inputs::Standalone => {
                let mut dims = Vec::new();
                for spec in specs {
                    match spec {
                        DimSpec::Known(d) => dims.push(d),
                        DimSpec::Var(v, s) => {
                            return Err(Diagnostic::new(
                                Code::BadDim,
                                format!("unknown dimension `{v}`"),
                            )
                            .at(s, "not a model parameter or `N`"))
                        }
                    }
                }
                let id =
                    self.builder
                        .input(&name.name, TensorType::new(dtype, Shape(dims)), span)?;
                Ok(Spanned::new(Val::Tensor(id), name.span))
            }
            Inputs::Given(values) => {
                let Some(arg) = values.get(*next_given) else {
                    return Err(Diagnostic::new(
                        Code::ArgCount,
                        format!("block `{}` got too few inputs", decl.name.name),
                    )
                    .at(name.span, "this input is not given"));
                };
                *next_given += 1;
                let id = self.tensor(frame, arg)?;
                let actual = self.builder.ty(id).clone();
                let expected_text = format!(
                    "{dtype}[{}]",
                    specs
                        .iter()
                        .map(|s| match s {
                            DimSpec::Known(d) => d.to_string(),
                            DimSpec::Var(v, _) => v.clone(),
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                );
                let fail = |what: String| {
                    Diagnostic::new(
                        Code::ShapeMismatch,
                        format!(
                            "block `{}` expects input `{}` of type {expected_text}, got {actual}",
                            decl.name.name, name.name
                        ),
                    )
                    .at(arg.span, format!("this is {actual}"))
                    .also(ty.span, "the block declares this type")
                    .note(what)
                };
                if actual.dtype != dtype {
                    return Err(fail(format!(
                        "the dtypes differ: {} vs {dtype}",
                        actual.dtype
                    )));
                }
                if actual.rank() != specs.len() {
                    return Err(fail(format!(
                        "the ranks differ: {} vs {}",
                        actual.rank(),
                        specs.len()
                    )));
                }
                for (i, (spec, d)) in specs.iter().zip(actual.shape.dims()).enumerate() {
                    match spec {
                        DimSpec::Known(k) if k == d => {}
                        DimSpec::Known(k) => {
                            return Err(fail(format!("dimension {i} differs: {d} vs {k}")));
                        }
                        DimSpec::Var(v, s) => match (frame.lookup(v).map(|x| x.val.clone()), d) {
                            (None, Dim::Fixed(n)) => {
                                frame.bind(v, Spanned::new(Val::Int(*n as i64), *s))
                            }
                            (Some(Val::Int(n)), Dim::Fixed(m)) if n as usize == *m => {}
                            (None, Dim::Sym(_)) => {}
                            _ => {
                                return Err(fail(format!(
                                    "dimension {i} (`{v}`) does not agree with its other uses"
                                )))
                            }
                        },
                    }
                }
                Ok(Spanned::new(Val::Tensor(id), arg.span))
            }
        }
    }

    fn dim(&mut self, frame: &mut Frame, e: &Expr) -> Result<DimSpec, Diagnostic> {
        if let ExprKind::Name(id) = &e.kind {
            if id.name == "N" {
                return Ok(DimSpec::Known(Dim::Sym("N".into())));
            }
            if frame.lookup(&id.name).is_none() {
                return Ok(DimSpec::Var(id.name.clone(), id.span));
            }
        }
        let v = self.eval(frame, e)?;
        match v.val {
            Val::Int(n) if n > 0 => Ok(DimSpec::Known(Dim::Fixed(n as usize))),
            Val::Int(n) => Err(Diagnostic::new(
                Code::BadDim,
                format!("a dimension must be positive, got {n}"),
            )
            .at(e.span, "not positive")),
            _ => Err(Diagnostic::new(
                Code::BadDim,
                format!(
                    "a dimension must be a positive integer, `N` or an integer parameter, found {}",
                    v.val.kind()
                ),
            )
            .at(e.span, "not a dimension")),
        }
    }

    /// Evaluates an expression in `frame`.
    pub fn eval(&mut self, frame: &mut Frame, e: &Expr) -> Result<Spanned, Diagnostic> {
        let val = match &e.kind {
            ExprKind::Number { value, is_int } => {
                if *is_int {
                    if value.abs() > i64::MAX as f64 / 2.0 {
                        return Err(Diagnostic::new(
                            Code::BadNumber,
                            "integer literal is too large",
                        )
                        .at(e.span, "too large"));
                    }
                    Val::Int(*value as i64)
                } else {
                    Val::Float(*value)
                }
            }
            ExprKind::Str(s) => Val::Str(s.clone()),
            ExprKind::Bool(b) => Val::Bool(*b),
            ExprKind::Name(id) => match frame.lookup(&id.name) {
                Some(v) => v.val.clone(),
                None => match self.datasets.iter().position(|d| d.name == id.name) {
                    Some(i) => Val::Data(DataRef {
                        dataset: i,
                        part: None,
                    }),
                    None => Val::Name(id.clone()),
                },
            },
            ExprKind::Field { base, field } => {
                let b = self.eval(frame, base)?;
                return self.field(frame, b, field, e.span);
            }
            ExprKind::Call(call) => return self.apply(frame, call, None, e.span),
            ExprKind::Pipe { input, call } => {
                let v = self.eval(frame, input)?;
                return self.apply(frame, call, Some(v), e.span);
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let l = self.eval(frame, lhs)?;
                let r = self.eval(frame, rhs)?;
                return self.arith(frame, *op, l, r, e.span);
            }
            ExprKind::Neg(inner) => {
                let v = self.eval(frame, inner)?;
                match v.val {
                    Val::Int(i) => Val::Int(-i),
                    Val::Float(f) => Val::Float(-f),
                    _ => {
                        let id = self.tensor(frame, &v)?;
                        let ty = self.builder.ty(id).clone();
                        if !ty.dtype.is_float() {
                            return Err(Diagnostic::new(
                                Code::DTypeMismatch,
                                format!("cannot negate {ty}"),
                            )
                            .at(inner.span, format!("{ty}"))
                            .help("arithmetic needs float tensors"));
                        }
                        let n =
                            self.builder
                                .node(Layer::Neg, vec![id], ty, &frame.binding, e.span)?;
                        Val::Tensor(n)
                    }
                }
            }
        };
        Ok(Spanned::new(val, e.span))
    }

    fn field(
        &mut self,
        frame: &Frame,
        base: Spanned,
        field: &ast::Ident,
        span: Span,
    ) -> Result<Spanned, Diagnostic> {
        match &base.val {
            // A data set's property, the same for the whole set and each of
            // its parts (a split part may not be named `vocab`).
            Val::Data(DataRef { dataset, .. }) if field.name == "vocab" => {
                let d = &self.datasets[*dataset];
                match d.vocab {
                    Some(n) => Ok(Spanned::new(Val::Int(n as i64), span)),
                    None => Err(Diagnostic::new(
                        Code::UnknownField,
                        format!("data set `{}` has no vocabulary", d.name),
                    )
                    .at(field.span, "not a text data set")
                    .help("only a data set read by `text(\"path\")` has a `vocab` size")),
                }
            }
            Val::Record(model, outs) => match outs.iter().find(|(n, _)| *n == field.name) {
                Some((_, id)) => Ok(Spanned::new(Val::Tensor(*id), span)),
                None => {
                    let names: Vec<&str> = outs.iter().map(|(n, _)| n.as_str()).collect();
                    Err(unknown_field(
                        field,
                        &format!("block `{model}`"),
                        "output",
                        &names,
                    ))
                }
            },
            Val::Data(DataRef {
                dataset,
                part: None,
            }) => {
                let name = &self.datasets[*dataset].name;
                let parts = self.datasets[*dataset].parts();
                if parts.contains(&field.name.as_str()) {
                    Ok(Spanned::new(
                        Val::Data(DataRef {
                            dataset: *dataset,
                            part: Some(field.name.clone()),
                        }),
                        span,
                    ))
                } else if parts.is_empty() {
                    Err(Diagnostic::new(Code::UnknownField, format!("data set `{name}` is not split, so it has no part `{}`", field.name))
                        .at(field.span, "no such part")
                        .help("split it with `|> split(train: 0.8, test: 0.2)`, or use the whole set by its name"))
                } else {
                    Err(unknown_field(
                        field,
                        &format!("data set `{name}`"),
                        "part",
                        &parts,
                    ))
                }
            }
            Val::Name(id) => Err(self.unknown_name(frame, id)),
            other => Err(Diagnostic::new(
                Code::UnknownField,
                format!("{} has no field `{}`", other.kind(), field.name),
            )
            .at(field.span, "no such field")
            .also(base.span, format!("this is {}", other.kind()))),
        }
    }

    /// The error for a name that resolves to nothing, with the best hint.
    pub fn unknown_name(&self, frame: &Frame, id: &ast::Ident) -> Diagnostic {
        let d = Diagnostic::new(
            Code::UnknownName,
            format!("cannot find `{}` in this scope", id.name),
        )
        .at(id.span, "not defined");
        if self.models.contains_key(&id.name) || layers::lookup(&id.name).is_some() {
            return d.help(format!("`{0}` is a function; call it: `{0}(...)`", id.name));
        }
        let names = frame.tensor_names();
        match did_you_mean(&id.name, names.iter().copied()) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None if names.is_empty() => d,
            None => d.help(format!("the names in scope are: {}", names.join(", "))),
        }
    }

    /// The tensor a value denotes, or a diagnostic saying why it is not one.
    pub fn tensor(&self, frame: &Frame, v: &Spanned) -> Result<NodeId, Diagnostic> {
        match &v.val {
            Val::Tensor(id) => Ok(*id),
            Val::Name(id) => Err(self.unknown_name(frame, id)),
            Val::Record(model, outs) => Err(Diagnostic::new(
                Code::ArgType,
                format!("block `{model}` has {} outputs; pick one", outs.len()),
            )
            .at(v.span, "several outputs")
            .help(format!(
                "write `.{}` after it (outputs: {})",
                outs[0].0,
                outs.iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            other => Err(Diagnostic::new(
                Code::ArgType,
                format!("expected a tensor, found {}", other.kind()),
            )
            .at(v.span, format!("this is {}", other.kind()))),
        }
    }

    fn lookup_tensor(&self, frame: &Frame, name: &str, span: Span) -> Result<Spanned, Diagnostic> {
        match frame.lookup(name) {
            Some(v) => Ok(Spanned::new(v.val.clone(), span)),
            None => Err(self.unknown_name(
                frame,
                &ast::Ident {
                    name: name.to_string(),
                    span,
                },
            )),
        }
    }

    /// `a + b` and friends: numbers fold; tensors need equal shapes, or one
    /// side a scalar.
    fn arith(
        &mut self,
        frame: &mut Frame,
        op: BinOp,
        l: Spanned,
        r: Spanned,
        span: Span,
    ) -> Result<Spanned, Diagnostic> {
        let num = |v: &Val| matches!(v, Val::Int(_) | Val::Float(_));
        if num(&l.val) && num(&r.val) {
            let val = match (&l.val, &r.val, op) {
                (Val::Int(a), Val::Int(b), BinOp::Add) => Val::Int(a.saturating_add(*b)),
                (Val::Int(a), Val::Int(b), BinOp::Sub) => Val::Int(a.saturating_sub(*b)),
                (Val::Int(a), Val::Int(b), BinOp::Mul) => Val::Int(a.saturating_mul(*b)),
                _ => {
                    let (a, b) = (l.float()?, r.float()?);
                    if op == BinOp::Div && b == 0.0 {
                        return Err(Diagnostic::new(Code::BadValue, "division by zero")
                            .at(r.span, "this is zero"));
                    }
                    Val::Float(match op {
                        BinOp::Add => a + b,
                        BinOp::Sub => a - b,
                        BinOp::Mul => a * b,
                        BinOp::Div => a / b,
                    })
                }
            };
            return Ok(Spanned::new(val, span));
        }
        let as_tensor = |this: &mut Self,
                         frame: &Frame,
                         v: &Spanned,
                         other: &Spanned|
         -> Result<NodeId, Diagnostic> {
            if num(&v.val) {
                let dtype = match &other.val {
                    Val::Tensor(id) => this.builder.ty(*id).dtype,
                    _ => DType::F32,
                };
                let c = v.float()?;
                this.builder.node(
                    Layer::Const(c),
                    vec![],
                    TensorType::scalar(dtype),
                    &frame.binding,
                    v.span,
                )
            } else {
                this.tensor(frame, v)
            }
        };
        let a = as_tensor(self, frame, &l, &r)?;
        let b = as_tensor(self, frame, &r, &l)?;
        let (ta, tb) = (self.builder.ty(a).clone(), self.builder.ty(b).clone());
        let verb = match op {
            BinOp::Add => "add",
            BinOp::Sub => "subtract",
            BinOp::Mul => "multiply",
            BinOp::Div => "divide",
        };
        if ta.dtype != tb.dtype || !ta.dtype.is_float() {
            return Err(Diagnostic::new(
                Code::DTypeMismatch,
                format!("cannot {verb} {ta} and {tb}"),
            )
            .at(l.span, format!("{ta}"))
            .also(r.span, format!("{tb}"))
            .help("arithmetic needs two float tensors of the same dtype"));
        }
        let ty = if ta.shape == tb.shape || tb.rank() == 0 {
            ta.clone()
        } else if ta.rank() == 0 {
            tb.clone()
        } else {
            return Err(super::shape::mismatch(&format!("cannot {verb}"), &ta, l.span, &tb, r.span)
                .help("elementwise arithmetic needs equal shapes (or a scalar); dlc never broadcasts silently"));
        };
        let op = match op {
            BinOp::Add => ArithOp::Add,
            BinOp::Sub => ArithOp::Sub,
            BinOp::Mul => ArithOp::Mul,
            BinOp::Div => ArithOp::Div,
        };
        let id = self
            .builder
            .node(Layer::Arith(op), vec![a, b], ty, &frame.binding, span)?;
        Ok(Spanned::new(Val::Tensor(id), span))
    }

    /// Evaluates a call's arguments in order, keeping their names.
    pub fn eval_args(
        &mut self,
        frame: &mut Frame,
        args: &[ast::Arg],
    ) -> Result<Vec<ArgVal>, Diagnostic> {
        args.iter()
            .map(|a| {
                Ok(ArgVal {
                    name: a.name.as_ref().map(|n| (n.name.clone(), n.span)),
                    value: self.eval(frame, &a.value)?,
                })
            })
            .collect()
    }

    /// A call: a layer, or a model used as a block.
    pub fn apply(
        &mut self,
        frame: &mut Frame,
        call: &ast::Call,
        piped: Option<Spanned>,
        span: Span,
    ) -> Result<Spanned, Diagnostic> {
        let mut args = Vec::new();
        if let Some(p) = piped {
            args.push(ArgVal {
                name: None,
                value: p,
            });
        }
        args.extend(self.eval_args(frame, &call.args)?);
        let name = call.callee.name.as_str();
        if let Some(decl) = self.models.get(name).copied() {
            return self.call_block(frame, decl, call, args, span);
        }
        if let Some(layer) = layers::lookup(name) {
            return layers::apply(self, frame, layer, call, args, span);
        }
        let mut d = Diagnostic::new(
            Code::UnknownFunction,
            format!("unknown layer or function `{name}`"),
        )
        .at(call.callee.span, "not a layer, loss or model");
        if frame.lookup(name).is_some() {
            return Err(d.help(format!("`{name}` is a value, not a function")));
        }
        let candidates: Vec<&str> = layers::NAMES
            .iter()
            .copied()
            .chain(self.models.keys().map(|k| k.as_str()))
            .collect();
        d = match did_you_mean(name, candidates.iter().copied()) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help(format!("the layers are: {}", layers::NAMES.join(", "))),
        };
        Err(d)
    }

    fn call_block(
        &mut self,
        frame: &mut Frame,
        decl: &ModelDecl,
        call: &ast::Call,
        args: Vec<ArgVal>,
        span: Span,
    ) -> Result<Spanned, Diagnostic> {
        let name = &decl.name.name;
        if self.stack.contains(name) {
            return Err(Diagnostic::new(Code::Recursion, format!("model `{name}` uses itself"))
                .at(call.callee.span, "recursive use")
                .also(decl.name.span, "declared here")
                .note(format!("the chain of uses is: {} -> {name}", self.stack.join(" -> ")))
                .help("a model cannot contain itself; a repeated structure is written as separate uses"));
        }
        let input_names: Vec<&str> = decl
            .body
            .iter()
            .filter_map(|s| match s {
                Stmt::Input { name, .. } => Some(name.name.as_str()),
                _ => None,
            })
            .collect();
        let mut names = input_names.clone();
        names.extend(decl.params.iter().map(|p| p.name.name.as_str()));
        let bound = bind(name, call.span, &names, names.len(), args)?;
        let mut given = Vec::new();
        for input in &input_names {
            given.push(bound.req(input)?.clone());
        }
        let params = self.bind_params(decl, |p| bound.get(p).cloned(), call.span)?;
        let prefix = frame.next_layer_path();
        let outs = self.instantiate(decl, &prefix, params, Inputs::Given(given))?;
        Ok(match outs.as_slice() {
            [(_, id)] => Spanned::new(Val::Tensor(*id), span),
            _ => Spanned::new(Val::Record(name.clone(), outs), span),
        })
    }

    /// Checks a model's parameter values against their declared types,
    /// filling in defaults.
    pub fn bind_params(
        &mut self,
        decl: &ModelDecl,
        given: impl Fn(&str) -> Option<Spanned>,
        call_span: Span,
    ) -> Result<Vec<(String, Spanned)>, Diagnostic> {
        let mut out = Vec::new();
        for p in &decl.params {
            let v = match given(&p.name.name) {
                Some(v) => v,
                None => match &p.default {
                    Some(e) => {
                        let mut empty = Frame::new("");
                        self.eval(&mut empty, e)?
                    }
                    None => {
                        return Err(Diagnostic::new(
                            Code::MissingArgument,
                            format!(
                                "model `{}` needs the argument `{}`",
                                decl.name.name, p.name.name
                            ),
                        )
                        .at(call_span, format!("`{}` is missing here", p.name.name))
                        .also(p.span, "declared without a default here")
                        .help(format!("pass it: `{}: ...`", p.name.name)))
                    }
                },
            };
            let checked = match p.ty.name.as_str() {
                "int" => Val::Int(v.int()?),
                "float" => Val::Float(v.float()?),
                "bool" => Val::Bool(v.bool()?),
                "str" => Val::Str(v.string()?.to_string()),
                _ => return Err(bad_param_type(&p.ty)),
            };
            out.push((p.name.name.clone(), Spanned::new(checked, v.span)));
        }
        Ok(out)
    }
}

/// The diagnostic for a parameter type that is not `int`, `float`, `bool`
/// or `str`.
pub fn bad_param_type(ty: &ast::Ident) -> Diagnostic {
    let d = Diagnostic::new(
        Code::ArgType,
        format!("unknown parameter type `{}`", ty.name),
    )
    .at(ty.span, "not a type");
    let alias = match ty.name.as_str() {
        "integer" | "i32" | "i64" | "usize" => Some("int"),
        "f32" | "f64" | "double" | "number" => Some("float"),
        "boolean" => Some("bool"),
        "string" | "String" => Some("str"),
        _ => None,
    };
    match alias.or_else(|| did_you_mean(&ty.name, ["int", "float", "bool", "str"])) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help("parameter types are int, float, bool and str"),
    }
}

/// Resolves a written dtype name.
pub fn resolve_dtype(id: &ast::Ident) -> Result<DType, Diagnostic> {
    DType::parse(&id.name).ok_or_else(|| {
        let d = Diagnostic::new(Code::DTypeMismatch, format!("unknown dtype `{}`", id.name))
            .at(id.span, "not a dtype");
        match did_you_mean(&id.name, ["f32", "f64", "i32", "bool"]) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help("the dtypes are f32, f64, i32 and bool"),
        }
    })
}

fn unknown_field(field: &ast::Ident, owner: &str, what: &str, names: &[&str]) -> Diagnostic {
    let d = Diagnostic::new(
        Code::UnknownField,
        format!("{owner} has no {what} `{}`", field.name),
    )
    .at(field.span, format!("no such {what}"));
    match did_you_mean(&field.name, names.iter().copied()) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help(format!("its {what}s are: {}", names.join(", "))),
    }
}
