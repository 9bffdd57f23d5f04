//! A model's `input` declarations: the written type (dtype, fixed sizes,
//! `N`, shape variables) checked against where the values come from — the
//! training data's fields, a caller's tensors, or nothing for a model
//! checked on its own — binding each shape variable once.

use crate::diag::{did_you_mean, Code, Diagnostic, Span};
use crate::ir::{DType, Dim, Shape, TensorType};
use crate::syntax::ast::{self, Expr, ExprKind, ModelDecl};

use super::{Elaborator, Frame, Inputs};
use crate::sema::value::{Spanned, Val};

/// A dimension as written in an input type, before unification.
enum DimSpec {
    Known(Dim),
    /// A shape variable (`F` in `f32[N, F]`), bound by the data or caller.
    Var(String, Span),
}

impl Elaborator<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn input(
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
}

/// Resolves a written dtype name.
fn resolve_dtype(id: &ast::Ident) -> Result<DType, Diagnostic> {
    DType::parse(&id.name).ok_or_else(|| {
        let d = Diagnostic::new(Code::DTypeMismatch, format!("unknown dtype `{}`", id.name))
            .at(id.span, "not a dtype");
        match did_you_mean(&id.name, ["f32", "f64", "i32", "bool"]) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help("the dtypes are f32, f64, i32 and bool"),
        }
    })
}
