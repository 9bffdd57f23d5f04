//! Name resolution, model instantiation and shape/dtype inference: the AST
//! becomes a checked [`Program`], or diagnostics with spans. Nothing after
//! this stage can fail on user input.

mod args;
mod builder;
pub mod data;
mod dataset;
pub mod init;
pub mod inspect;
pub mod layers;
mod model;
pub mod print;
pub mod program;
mod shape;
mod stream;
mod train;
mod value;

use std::collections::HashMap;

use crate::diag::{Code, Diagnostic, Span};
use crate::syntax::ast::{self, ExprKind, Item, ModelDecl, Stmt};

pub use builder::Limits;
pub use data::DataCatalog;
pub use layers::dropout_stream;
pub use program::Program;

use builder::Builder;
use model::{Elaborator, Inputs};

/// Checks a parsed file. `catalog` answers what the data files hold;
/// `limits` bounds tensor sizes. Reports every independent error it can (one
/// per declaration), in source order.
pub fn check(
    file: &ast::File,
    catalog: &dyn DataCatalog,
    limits: Limits,
) -> Result<Program, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut names: HashMap<&str, Span> = HashMap::new();
    let mut models: HashMap<String, &ModelDecl> = HashMap::new();
    for item in &file.items {
        let name = match item {
            Item::Dataset(d) => &d.name,
            Item::Model(m) => &m.name,
            Item::Train(_) => continue,
        };
        if let Some(first) = names.get(name.name.as_str()) {
            diags.push(
                Diagnostic::new(Code::Duplicate, format!("`{}` is defined twice", name.name))
                    .at(name.span, "defined again here")
                    .also(*first, "first defined here")
                    .help("data sets and models share one namespace; rename one of them"),
            );
            continue;
        }
        names.insert(&name.name, name.span);
        if let Item::Model(m) = item {
            models.insert(m.name.name.clone(), m);
        }
    }

    let mut datasets = Vec::new();
    for item in &file.items {
        if let Item::Dataset(d) = item {
            match dataset::check_dataset(d, catalog, limits) {
                Ok(spec) => datasets.push(spec),
                Err(e) => diags.push(e),
            }
        }
    }

    let mut checked_models = Vec::new();
    for item in &file.items {
        let Item::Model(m) = item else { continue };
        if let Err(e) = check_decl(m) {
            diags.push(e);
            continue;
        }
        if !standalone(m) {
            continue;
        }
        let mut el = Elaborator::new(&models, &datasets, Builder::new(&m.name.name, limits));
        let result = el
            .bind_params(m, |_| None, m.name.span)
            .and_then(|params| el.instantiate(m, &m.name.name, params, Inputs::Standalone));
        match result {
            Ok(outputs) => {
                let mut model = el.builder.model;
                model.outputs = outputs;
                checked_models.push(model);
            }
            Err(e) => diags.push(e),
        }
    }

    let trains: Vec<&ast::TrainDecl> = file
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Train(t) => Some(t),
            _ => None,
        })
        .collect();
    if let [_, second, ..] = trains.as_slice() {
        diags.push(
            Diagnostic::new(
                Code::DuplicateSetting,
                "a program has at most one train block",
            )
            .at(second.model.span, "second train block")
            .also(trains[0].model.span, "first train block"),
        );
    }
    let mut train = None;
    if let Some(t) = trains.first() {
        if diags.is_empty() {
            match train::check_train(t, &models, &datasets, limits) {
                Ok(tr) => train = Some(tr),
                Err(e) => diags.push(e),
            }
        }
    }
    if !diags.is_empty() {
        diags.sort_by_key(|d| d.primary_span().map(|s| s.start).unwrap_or(0));
        // A block checked on its own and again inside a model reports the
        // same mistake twice; keep one.
        diags.dedup_by(|a, b| a.code == b.code && a.primary_span() == b.primary_span());
        return Err(diags);
    }
    Ok(Program {
        datasets,
        models: checked_models,
        train,
    })
}

/// Checks what can be checked in a declaration without instantiating it:
/// parameter types, duplicate parameters and inputs.
fn check_decl(m: &ModelDecl) -> Result<(), Diagnostic> {
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for p in &m.params {
        if !["int", "float", "bool", "str"].contains(&p.ty.name.as_str()) {
            return Err(model::bad_param_type(&p.ty));
        }
        if let Some(first) = seen.insert(&p.name.name, p.name.span) {
            return Err(Diagnostic::new(
                Code::Duplicate,
                format!("parameter `{}` is declared twice", p.name.name),
            )
            .at(p.name.span, "again here")
            .also(first, "first here"));
        }
    }
    for s in &m.body {
        if let Stmt::Input { name, .. } = s {
            if let Some(first) = seen.insert(&name.name, name.span) {
                return Err(Diagnostic::new(
                    Code::Duplicate,
                    format!("`{}` is declared twice", name.name),
                )
                .at(name.span, "again here")
                .also(first, "first here"));
            }
        }
    }
    Ok(())
}

/// A model can be checked on its own when every parameter has a default and
/// every input dimension is written out (a number, `N` or a parameter).
fn standalone(m: &ModelDecl) -> bool {
    let params: Vec<&str> = m.params.iter().map(|p| p.name.name.as_str()).collect();
    m.params.iter().all(|p| p.default.is_some())
        && m.body.iter().all(|s| match s {
            Stmt::Input { ty, .. } => ty.dims.iter().all(|d| match &d.kind {
                ExprKind::Name(id) => id.name == "N" || params.contains(&id.name.as_str()),
                _ => true,
            }),
            _ => true,
        })
}
