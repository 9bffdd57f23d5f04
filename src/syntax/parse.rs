//! pest pairs to AST. The grammar has already checked the structure, so this
//! walk only reads it: every `expect`-like step is an internal invariant
//! (the pair shapes follow `grammar/dl.pest`). The one user error found here
//! is a number that is well formed but out of range.

use std::cell::RefCell;
use std::sync::LazyLock;

use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};

use super::ast::*;
use super::tokens::Token;
use crate::diag::{Code, Diagnostic, Span};

/// The parser generated from the grammar. The path is relative to the crate
/// root (pest_derive looks there first, then under `src/`).
#[derive(pest_derive::Parser)]
#[grammar = "grammar/dl.pest"]
pub(super) struct DlParser;

/// Precedence, loosest first. `|>` is not here: `expr` splits on it.
static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
        .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left))
        .op(Op::prefix(Rule::neg))
        .op(Op::postfix(Rule::field))
});

/// Builds the AST from the pairs of a successful `Rule::file` parse.
pub(super) fn build(mut pairs: Pairs<'_, Rule>, tokens: &[Token]) -> Result<File, Vec<Diagnostic>> {
    let b = Builder {
        errors: RefCell::new(Vec::new()),
        token_ends: tokens.iter().map(|t| t.span.end).collect(),
    };
    let file = pairs.next().expect("internal: the parse has a file pair");
    let items = inner(file)
        .filter(|p| p.as_rule() != Rule::EOI)
        .map(|p| b.item(p))
        .collect();
    let errors = b.errors.into_inner();
    if errors.is_empty() {
        Ok(File { items })
    } else {
        Err(errors)
    }
}

/// The children of a pair that carry meaning: punctuation is left out.
fn inner<'i>(p: Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> {
    p.into_inner().filter(|q| {
        !matches!(
            q.as_rule(),
            Rule::lbrace
                | Rule::rbrace
                | Rule::lparen
                | Rule::rparen
                | Rule::lbracket
                | Rule::rbracket
                | Rule::comma
                | Rule::colon
                | Rule::equals
                | Rule::semi
        )
    })
}

/// Walks pairs; collects the errors it finds (out-of-range numbers) so that
/// one bad literal does not hide another.
struct Builder {
    errors: RefCell<Vec<Diagnostic>>,
    /// The end offset of every token, ascending.
    token_ends: Vec<usize>,
}

impl Builder {
    /// A pair's span, ending at its last token. pest lets a rule such as
    /// `ident ~ args?` swallow the whitespace and comments before a missing
    /// optional part; a span must not include them.
    fn span(&self, p: &Pair<'_, Rule>) -> Span {
        let s = p.as_span();
        let (start, end) = (s.start(), s.end());
        let i = self.token_ends.partition_point(|&e| e <= end);
        let end = match i.checked_sub(1).map(|j| self.token_ends[j]) {
            Some(e) if e > start => e,
            _ => end,
        };
        Span::new(start, end)
    }

    fn item(&self, p: Pair<'_, Rule>) -> Item {
        match p.as_rule() {
            Rule::dataset => Item::Dataset(self.dataset(p)),
            Rule::model => Item::Model(self.model(p)),
            Rule::train => Item::Train(self.train(p)),
            r => panic!("internal: unexpected item rule {r:?}"),
        }
    }

    fn dataset(&self, p: Pair<'_, Rule>) -> DatasetDecl {
        let sp = self.span(&p);
        let mut it = inner(p).skip(1); // kw_dataset
        let name = ident(it.next().expect("internal: dataset name"));
        let value = self.expr(it.next().expect("internal: dataset value"));
        DatasetDecl {
            name,
            value,
            span: sp,
        }
    }

    fn model(&self, p: Pair<'_, Rule>) -> ModelDecl {
        let sp = self.span(&p);
        let mut it = inner(p).skip(1); // kw_model
        let name = ident(it.next().expect("internal: model name"));
        let mut next = it.next().expect("internal: model params or body");
        let mut params = Vec::new();
        if next.as_rule() == Rule::params {
            params = inner(next).map(|p| self.param(p)).collect();
            next = it.next().expect("internal: model body");
        }
        let body = inner(next).map(|s| self.stmt(s)).collect();
        ModelDecl {
            name,
            params,
            body,
            span: sp,
        }
    }

    fn param(&self, p: Pair<'_, Rule>) -> ParamDecl {
        let sp = self.span(&p);
        let mut it = inner(p);
        let name = ident(it.next().expect("internal: param name"));
        let ty = ident(it.next().expect("internal: param type"));
        let default = it.next().map(|e| self.expr(e));
        ParamDecl {
            name,
            ty,
            default,
            span: sp,
        }
    }

    fn stmt(&self, p: Pair<'_, Rule>) -> Stmt {
        let sp = self.span(&p);
        let rule = p.as_rule();
        let mut it = inner(p);
        match rule {
            Rule::input_stmt => {
                it.next(); // kw_input
                let name = ident(it.next().expect("internal: input name"));
                let ty = self.type_expr(it.next().expect("internal: input type"));
                Stmt::Input { name, ty, span: sp }
            }
            Rule::output_stmt => {
                it.next(); // kw_output
                let name = ident(it.next().expect("internal: output name"));
                let value = it.next().map(|e| self.expr(e));
                Stmt::Output {
                    name,
                    value,
                    span: sp,
                }
            }
            Rule::let_stmt => {
                let name = ident(it.next().expect("internal: let name"));
                let value = self.expr(it.next().expect("internal: let value"));
                Stmt::Let {
                    name,
                    value,
                    span: sp,
                }
            }
            r => panic!("internal: unexpected statement rule {r:?}"),
        }
    }

    fn type_expr(&self, p: Pair<'_, Rule>) -> TypeExpr {
        let sp = self.span(&p);
        let mut it = inner(p);
        let dtype = ident(it.next().expect("internal: dtype"));
        let dims = it.map(|e| self.expr(e)).collect();
        TypeExpr {
            dtype,
            dims,
            span: sp,
        }
    }

    fn train(&self, p: Pair<'_, Rule>) -> TrainDecl {
        let sp = self.span(&p);
        let mut it = inner(p).skip(1); // kw_train
        let model = self.call_ref(it.next().expect("internal: train model"));
        it.next(); // kw_on
        let data = self.expr(it.next().expect("internal: train data"));
        let settings = inner(it.next().expect("internal: train body"))
            .map(|s| self.setting(s))
            .collect();
        TrainDecl {
            model,
            data,
            settings,
            span: sp,
        }
    }

    fn setting(&self, p: Pair<'_, Rule>) -> Setting {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut it = inner(p).skip(1); // the keyword
        let mut value = || self.expr(it.next().expect("internal: setting value"));
        match rule {
            Rule::loss_setting => Setting::Loss {
                value: value(),
                span,
            },
            Rule::epochs_setting => Setting::Epochs {
                value: value(),
                span,
            },
            Rule::batch_setting => Setting::Batch {
                value: value(),
                span,
            },
            Rule::seed_setting => Setting::Seed {
                value: value(),
                span,
            },
            Rule::save_setting => Setting::Save {
                path: value(),
                span,
            },
            Rule::shuffle_setting => Setting::Shuffle { span },
            Rule::optimizer_setting | Rule::schedule_setting => {
                let call = self.call_ref(it.next().expect("internal: setting call"));
                if rule == Rule::optimizer_setting {
                    Setting::Optimizer { call, span }
                } else {
                    Setting::Schedule { call, span }
                }
            }
            Rule::evaluate_setting => {
                let data = value();
                let mut every = None;
                let mut metrics = Vec::new();
                for q in it {
                    match q.as_rule() {
                        Rule::every_clause => {
                            let name = inner(q).nth(1).expect("internal: every name");
                            every = Some(ident(name));
                        }
                        _ => metrics.push(ident(q)),
                    }
                }
                Setting::Evaluate {
                    data,
                    every,
                    metrics,
                    span,
                }
            }
            Rule::sample_setting => {
                let length = value();
                let mut prime = None;
                let mut options = Vec::new();
                for q in it {
                    match q.as_rule() {
                        Rule::kw_from | Rule::comma => {}
                        Rule::option => options.push(self.arg(q)),
                        _ => prime = Some(self.expr(q)),
                    }
                }
                Setting::Sample {
                    length,
                    prime,
                    options,
                    span,
                }
            }
            Rule::nearest_setting => {
                let table = value();
                let args = it
                    .filter(|q| q.as_rule() == Rule::arg)
                    .map(|q| self.arg(q))
                    .collect();
                Setting::Nearest { table, args, span }
            }
            r => panic!("internal: unexpected setting rule {r:?}"),
        }
    }

    /// `name` or `name(args)`: `model_ref`, `call_ref`, `pipe_call` and `call`.
    fn call_ref(&self, p: Pair<'_, Rule>) -> Call {
        let sp = self.span(&p);
        let mut it = inner(p);
        let callee = ident(it.next().expect("internal: callee"));
        match it.next() {
            Some(args) => Call {
                callee,
                args: inner(args).map(|a| self.arg(a)).collect(),
                parens: true,
                span: sp,
            },
            None => Call {
                callee,
                args: Vec::new(),
                parens: false,
                span: sp,
            },
        }
    }

    fn arg(&self, p: Pair<'_, Rule>) -> Arg {
        let sp = self.span(&p);
        let mut it = inner(p);
        let first = it.next().expect("internal: argument");
        let (name, value) = match first.as_rule() {
            Rule::word => {
                let value = it.next().expect("internal: named argument value");
                (Some(ident(first)), self.expr(value))
            }
            _ => (None, self.expr(first)),
        };
        Arg {
            name,
            value,
            span: sp,
        }
    }

    /// `operand (|> pipe_call)*`, folded to the left.
    fn expr(&self, p: Pair<'_, Rule>) -> Expr {
        debug_assert_eq!(p.as_rule(), Rule::expr);
        let mut it = inner(p);
        let mut acc = self.operand(it.next().expect("internal: expression operand"));
        while let Some(pipe) = it.next() {
            debug_assert_eq!(pipe.as_rule(), Rule::pipe);
            let call = self.call_ref(it.next().expect("internal: pipe call"));
            let sp = acc.span.join(call.span);
            acc = Expr {
                kind: ExprKind::Pipe {
                    input: Box::new(acc),
                    call,
                },
                span: sp,
            };
        }
        acc
    }

    fn operand(&self, p: Pair<'_, Rule>) -> Expr {
        PRATT
            .map_primary(|q| self.primary(q))
            .map_prefix(|op, rhs| Expr {
                span: self.span(&op).join(rhs.span),
                kind: ExprKind::Neg(Box::new(rhs)),
            })
            .map_postfix(|lhs, op| {
                let field = ident(inner(op).next().expect("internal: field name"));
                Expr {
                    span: lhs.span.join(field.span),
                    kind: ExprKind::Field {
                        base: Box::new(lhs),
                        field,
                    },
                }
            })
            .map_infix(|lhs, op, rhs| {
                let op = match op.as_rule() {
                    Rule::add => BinOp::Add,
                    Rule::sub => BinOp::Sub,
                    Rule::mul => BinOp::Mul,
                    Rule::div => BinOp::Div,
                    r => panic!("internal: unexpected operator {r:?}"),
                };
                Expr {
                    span: lhs.span.join(rhs.span),
                    kind: ExprKind::Binary {
                        op,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                }
            })
            .parse(inner(p))
    }

    fn primary(&self, p: Pair<'_, Rule>) -> Expr {
        let sp = self.span(&p);
        let kind = match p.as_rule() {
            Rule::number => self.number(p.as_str(), sp),
            Rule::string => {
                let body = inner(p).next().expect("internal: string body");
                ExprKind::Str(unescape(body.as_str()))
            }
            Rule::boolean => ExprKind::Bool(p.as_str() == "true"),
            Rule::name => ExprKind::Name(ident(inner(p).next().expect("internal: name"))),
            Rule::call => ExprKind::Call(self.call_ref(p)),
            Rule::paren => {
                // The parentheses belong to the span, not to the tree.
                let body = self.expr(inner(p).next().expect("internal: paren body"));
                return Expr {
                    kind: body.kind,
                    span: sp,
                };
            }
            r => panic!("internal: unexpected primary {r:?}"),
        };
        Expr { kind, span: sp }
    }

    fn number(&self, text: &str, sp: Span) -> ExprKind {
        let is_int = !text.contains(['.', 'e', 'E']);
        let value: f64 = text.parse().unwrap_or(f64::INFINITY);
        let problem = if !value.is_finite() {
            Some("is too large")
        } else if is_int && value > MAX_EXACT_INT {
            Some("is too large for an integer")
        } else if value == 0.0
            && text
                .split(['e', 'E'])
                .next()
                .is_some_and(|m| m.bytes().any(|b| matches!(b, b'1'..=b'9')))
        {
            Some("is too small: it would round to zero")
        } else {
            None
        };
        if let Some(problem) = problem {
            self.errors.borrow_mut().push(
                Diagnostic::new(Code::BadNumber, format!("number `{text}` {problem}"))
                    .at(sp, "out of range")
                    .help(if is_int {
                        "integers must be at most 2^53 (9007199254740992)"
                    } else {
                        "numbers must fit in a 64-bit float (about 1e308)"
                    }),
            );
        }
        ExprKind::Number { value, is_int }
    }
}

/// The largest integer an `f64` holds exactly.
const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// An `ident` (a binding's name) or a `word` (a field or argument name).
fn ident(p: Pair<'_, Rule>) -> Ident {
    debug_assert!(matches!(p.as_rule(), Rule::ident | Rule::word));
    // Atomic: no trailing whitespace to trim.
    let s = p.as_span();
    Ident {
        name: p.as_str().to_string(),
        span: Span::new(s.start(), s.end()),
    }
}

/// Resolves `\"`, `\\`, `\n` and `\t`; the grammar admits no other escape.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}
