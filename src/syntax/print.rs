//! The AST as indented text, for `dlc dump --stage ast` and for snapshot
//! tests: one node a line, children indented by two spaces, named children
//! and named arguments prefixed with `name:`. Without spans by default, so
//! editing a comment in an example does not churn every snapshot;
//! [`print_ast_with_spans`] appends `@start..end` (byte offsets) to each
//! node. The output is deterministic: it depends on the tree alone.

use std::fmt::Write as _;

use super::ast::*;
use crate::diag::Span;

/// The AST of `file`, without spans.
pub fn print_ast(file: &File) -> String {
    Printer::new(false).file(file)
}

/// The AST of `file`, with `@start..end` after each node.
pub fn print_ast_with_spans(file: &File) -> String {
    Printer::new(true).file(file)
}

struct Printer {
    spans: bool,
    out: String,
    depth: usize,
}

impl Printer {
    fn new(spans: bool) -> Printer {
        Printer {
            spans,
            out: String::new(),
            depth: 0,
        }
    }

    fn file(mut self, file: &File) -> String {
        for item in &file.items {
            self.item(item);
        }
        self.out
    }

    /// Writes one node line: indentation, head, span.
    fn line(&mut self, head: &str, span: Span) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        self.out.push_str(head);
        if self.spans {
            let _ = write!(self.out, " @{}..{}", span.start, span.end);
        }
        self.out.push('\n');
    }

    fn nested(&mut self, f: impl FnOnce(&mut Printer)) {
        self.depth += 1;
        f(self);
        self.depth -= 1;
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Dataset(d) => {
                self.line(&format!("dataset {}", d.name.name), d.span);
                self.nested(|p| p.expr(None, &d.value));
            }
            Item::Model(m) => {
                self.line(&format!("model {}", m.name.name), m.span);
                self.nested(|p| {
                    for param in &m.params {
                        p.line(
                            &format!("param {}: {}", param.name.name, param.ty.name),
                            param.span,
                        );
                        if let Some(default) = &param.default {
                            p.nested(|p| p.expr(Some("default"), default));
                        }
                    }
                    for stmt in &m.body {
                        p.stmt(stmt);
                    }
                });
            }
            Item::Train(t) => {
                self.line("train", t.span);
                self.nested(|p| {
                    p.call(Some("model"), &t.model);
                    p.expr(Some("data"), &t.data);
                    for s in &t.settings {
                        p.setting(s);
                    }
                });
            }
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match stmt {
            Stmt::Input { name, ty, span } => {
                self.line(&format!("input {}: {}", name.name, ty.dtype.name), *span);
                self.nested(|p| {
                    for dim in &ty.dims {
                        p.expr(Some("dim"), dim);
                    }
                });
            }
            Stmt::Let { name, value, span } => {
                self.line(&format!("let {}", name.name), *span);
                self.nested(|p| p.expr(None, value));
            }
            Stmt::Output { name, value, span } => {
                self.line(&format!("output {}", name.name), *span);
                if let Some(v) = value {
                    self.nested(|p| p.expr(None, v));
                }
            }
        }
    }

    fn setting(&mut self, s: &Setting) {
        let kw = s.keyword();
        match s {
            Setting::Loss { value, span }
            | Setting::Epochs { value, span }
            | Setting::Batch { value, span }
            | Setting::Seed { value, span }
            | Setting::Save { path: value, span } => {
                self.line(kw, *span);
                self.nested(|p| p.expr(None, value));
            }
            Setting::Optimizer { call, span } | Setting::Schedule { call, span } => {
                self.line(kw, *span);
                self.nested(|p| p.call(None, call));
            }
            Setting::Shuffle { span } => self.line(kw, *span),
            Setting::Evaluate {
                data,
                every,
                metrics,
                span,
            } => {
                let mut head = String::from(kw);
                if let Some(e) = every {
                    let _ = write!(head, " every {}", e.name);
                }
                let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
                let _ = write!(head, ": {}", names.join(", "));
                self.line(&head, *span);
                self.nested(|p| p.expr(None, data));
            }
            Setting::Sample {
                length,
                prime,
                options,
                span,
            } => {
                self.line(kw, *span);
                self.nested(|p| {
                    p.expr(Some("length"), length);
                    if let Some(e) = prime {
                        p.expr(Some("from"), e);
                    }
                    for a in options {
                        p.expr(a.name.as_ref().map(|n| n.name.as_str()), &a.value);
                    }
                });
            }
            Setting::Nearest { table, args, span } => {
                self.line(kw, *span);
                self.nested(|p| {
                    p.expr(Some("table"), table);
                    for a in args {
                        p.expr(a.name.as_ref().map(|n| n.name.as_str()), &a.value);
                    }
                });
            }
        }
    }

    fn call(&mut self, label: Option<&str>, call: &Call) {
        let bare = if call.parens { "" } else { " (no parens)" };
        self.line(
            &format!("{}call {}{bare}", prefix(label), call.callee.name),
            call.span,
        );
        self.nested(|p| {
            for arg in &call.args {
                p.expr(arg.name.as_ref().map(|n| n.name.as_str()), &arg.value);
            }
        });
    }

    fn expr(&mut self, label: Option<&str>, e: &Expr) {
        let pre = prefix(label);
        match &e.kind {
            ExprKind::Number { value, is_int } => {
                // `int 7`, `float 0.5`, `float 1e-7`.
                let head = if *is_int {
                    format!("{pre}int {value}")
                } else {
                    format!("{pre}float {value:?}")
                };
                self.line(&head, e.span);
            }
            ExprKind::Str(s) => self.line(&format!("{pre}str {s:?}"), e.span),
            ExprKind::Bool(b) => self.line(&format!("{pre}bool {b}"), e.span),
            ExprKind::Name(n) => self.line(&format!("{pre}name {}", n.name), e.span),
            ExprKind::Field { base, field } => {
                self.line(&format!("{pre}field {}", field.name), e.span);
                self.nested(|p| p.expr(None, base));
            }
            ExprKind::Call(c) => {
                // The call's span is the expression's: print it once.
                self.call(label, c);
            }
            ExprKind::Pipe { input, call } => {
                self.line(&format!("{pre}pipe"), e.span);
                self.nested(|p| {
                    p.expr(None, input);
                    p.call(None, call);
                });
            }
            ExprKind::Binary { op, lhs, rhs } => {
                self.line(&format!("{pre}binary {}", op.symbol()), e.span);
                self.nested(|p| {
                    p.expr(None, lhs);
                    p.expr(None, rhs);
                });
            }
            ExprKind::Neg(inner) => {
                self.line(&format!("{pre}neg"), e.span);
                self.nested(|p| p.expr(None, inner));
            }
        }
    }
}

fn prefix(label: Option<&str>) -> String {
    label.map(|l| format!("{l}: ")).unwrap_or_default()
}
