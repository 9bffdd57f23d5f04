//! Instantiates model declarations: evaluates each statement, resolving
//! names and inferring every tensor's shape, and inlines blocks (models used
//! as layers) with their parameters named by binding path. The statements'
//! parts have files of their own: `input.rs` checks `input` declarations,
//! `expr.rs` evaluates expressions and dispatches calls.

mod expr;
mod input;

use std::collections::HashMap;

use crate::diag::{did_you_mean, Code, Diagnostic, Span};
use crate::syntax::ast::{self, ModelDecl, Stmt};

use super::args::{bind, ArgVal};
use super::builder::Builder;
use super::data::{DatasetSpec, FieldSchema};
use super::program::NodeId;
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

impl Elaborator<'_> {
    pub(super) fn call_block(
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
