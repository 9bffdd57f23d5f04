//! Expressions in a model body or a train block: literals, names, fields
//! of blocks and data sets, arithmetic on numbers and tensors, and calls,
//! which go to a layer's rule or instantiate a model used as a block.

use crate::diag::{did_you_mean, Code, Diagnostic, Span};
use crate::ir::{DType, TensorType};
use crate::syntax::ast::{self, BinOp, Expr, ExprKind};

use super::{Elaborator, Frame};
use crate::sema::args::ArgVal;
use crate::sema::layers;
use crate::sema::program::{ArithOp, DataRef, Layer, NodeId};
use crate::sema::value::{Spanned, Val};

impl Elaborator<'_> {
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

    pub(super) fn lookup_tensor(
        &self,
        frame: &Frame,
        name: &str,
        span: Span,
    ) -> Result<Spanned, Diagnostic> {
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
            return Err(crate::sema::shape::mismatch(&format!("cannot {verb}"), &ta, l.span, &tb, r.span)
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
