//! Binds a call's positional and named arguments to a callee's parameter
//! list, with one diagnostic per kind of mistake (too many, unknown name,
//! given twice, missing). Layers, data functions, optimizers, schedules and
//! model blocks all go through here, so every call reports alike.

use crate::diag::{did_you_mean, Code, Diagnostic, Span};

use super::value::Spanned;

/// An argument after evaluation: its name if written `name: value`.
#[derive(Clone, Debug)]
pub struct ArgVal {
    pub name: Option<(String, Span)>,
    pub value: Spanned,
}

/// The arguments of one call, bound to the callee's parameter names.
#[derive(Debug)]
pub struct Bound {
    pub callee: String,
    pub call_span: Span,
    slots: Vec<(String, Option<Spanned>)>,
}

impl Bound {
    /// The argument for `name`, if given.
    pub fn get(&self, name: &str) -> Option<&Spanned> {
        self.slots
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_ref())
    }

    /// The argument for `name`, or a missing-argument diagnostic.
    pub fn req(&self, name: &str) -> Result<&Spanned, Diagnostic> {
        self.get(name).ok_or_else(|| {
            Diagnostic::new(
                Code::MissingArgument,
                format!("`{}` needs the argument `{name}`", self.callee),
            )
            .at(self.call_span, format!("`{name}` is missing here"))
            .help(format!("add `{name}: ...` to the call"))
        })
    }
}

/// Binds `args` to `params` (in positional order). Only the first
/// `positional` parameters may be given without a name; the rest must be
/// named, which keeps `sgd(0.1, 0.9)` from silently meaning something else.
pub fn bind(
    callee: &str,
    call_span: Span,
    params: &[&str],
    positional: usize,
    args: Vec<ArgVal>,
) -> Result<Bound, Diagnostic> {
    let mut slots: Vec<(String, Option<Spanned>)> =
        params.iter().map(|&p| (p.to_string(), None)).collect();
    let mut next = 0;
    for arg in args {
        let index = match &arg.name {
            None => {
                if next >= positional.min(params.len()) {
                    let takes = match positional {
                        0 => "no positional arguments".to_string(),
                        1 => "1 positional argument".to_string(),
                        n => format!("{n} positional arguments"),
                    };
                    let named: Vec<&str> = params[positional.min(params.len())..].to_vec();
                    let mut d = Diagnostic::new(
                        Code::ArgCount,
                        format!("`{callee}` takes {takes}, but more were given"),
                    )
                    .at(arg.value.span, "unexpected argument");
                    if !named.is_empty() {
                        d = d.help(format!(
                            "name the argument: `{callee}` also takes {}",
                            named
                                .iter()
                                .map(|n| format!("`{n}:`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    return Err(d);
                }
                next += 1;
                next - 1
            }
            Some((name, span)) => match params.iter().position(|p| p == name) {
                Some(i) => i,
                None => {
                    let mut d = Diagnostic::new(
                        Code::UnknownArgument,
                        format!("`{callee}` has no argument named `{name}`"),
                    )
                    .at(*span, "unknown argument");
                    d = match did_you_mean(name, params.iter().copied()) {
                        Some(s) => d.help(format!("did you mean `{s}`?")),
                        None if params.is_empty() => {
                            d.help(format!("`{callee}` takes no arguments"))
                        }
                        None => d.help(format!("`{callee}` takes: {}", params.join(", "))),
                    };
                    return Err(d);
                }
            },
        };
        if let Some(prev) = &slots[index].1 {
            return Err(Diagnostic::new(
                Code::Duplicate,
                format!("argument `{}` of `{callee}` is given twice", params[index]),
            )
            .at(arg.value.span, "given again here")
            .also(prev.span, "first given here"));
        }
        slots[index].1 = Some(arg.value);
    }
    Ok(Bound {
        callee: callee.to_string(),
        call_span,
        slots,
    })
}
