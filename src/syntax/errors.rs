//! pest errors to diagnostics in words.
//!
//! pest reports a failure as a position and the rules it would have
//! accepted there (punctuation is made of named rules in the grammar so it
//! is reported too). This module maps each rule to a human name through one
//! table ([`want`]), looks at the token found and at the brackets open
//! around it (`context.rs`), and writes one diagnostic: what was expected,
//! what was found, where, and a hint. Special cases cover the mistakes people make:
//! an unclosed `{`, an unknown train setting, a reserved word used as a
//! name, a missing `,` between arguments, an input without a type.

use pest::error::{Error, ErrorVariant, InputLocation};

use super::context::{closer, closer_str, opener, Context, ITEM_KEYWORDS};
use super::parse::Rule;
use super::tokens::{Kind, Token};
use crate::diag::{did_you_mean, Code, Diagnostic, Span};

/// The train settings' keywords, for "did you mean" and for listing.
pub(super) const SETTINGS: &[&str] = &[
    "loss",
    "optimizer",
    "schedule",
    "epochs",
    "batch",
    "shuffle",
    "seed",
    "evaluate",
    "save",
    "sample",
    "nearest",
];

/// Words that cannot be names.
pub(super) const RESERVED: &[&str] = &[
    "dataset", "model", "train", "input", "output", "on", "every", "true", "false",
];

/// What the parser would have accepted, in the user's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Want {
    Item,
    Statement,
    Setting,
    Expr,
    Name,
    Type,
    Param,
    Keyword(&'static str),
    Tok(&'static str),
    EndOfFile,
    /// An operator or `.field` that could continue an expression: always
    /// possible after one, so only mentioned when nothing else is.
    Continuation,
}

impl Want {
    fn describe(self) -> String {
        match self {
            Want::Item => "an item (`dataset`, `model` or `train`)".into(),
            Want::Statement => "a statement (`input`, `output` or `name = ...`)".into(),
            Want::Setting => "a train setting".into(),
            Want::Expr => "an expression".into(),
            Want::Name => "a name".into(),
            Want::Type => "a type such as `f32[N, 64]`".into(),
            Want::Param => "a parameter such as `units: int`".into(),
            Want::Keyword(k) | Want::Tok(k) => format!("`{k}`"),
            Want::EndOfFile => "end of file".into(),
            Want::Continuation => "an operator".into(),
        }
    }
}

/// The one table from grammar rules to human names. It is exhaustive on
/// purpose: a new rule in `grammar/dl.pest` must be given a name here.
fn want(rule: Rule) -> Option<Want> {
    use Rule::*;
    Some(match rule {
        file | item | kw_dataset | kw_model | kw_train | dataset | model | train => Want::Item,
        EOI => Want::EndOfFile,
        stmt | kw_input | kw_output | input_stmt | output_stmt | let_stmt => Want::Statement,
        kw_loss | kw_optimizer | kw_schedule | kw_epochs | kw_batch | kw_shuffle | kw_seed
        | kw_evaluate | kw_save | setting | loss_setting | optimizer_setting | schedule_setting
        | epochs_setting | batch_setting | shuffle_setting | seed_setting | evaluate_setting
        | save_setting | kw_sample | kw_nearest | sample_setting | nearest_setting => Want::Setting,
        ident | word | model_ref | call_ref | pipe_call => Want::Name,
        expr | operand | term | primary | neg | number | string | string_inner | boolean
        | kw_true | kw_false | call | name | paren | arg => Want::Expr,
        infix | add | sub | mul | div | pipe | field => Want::Continuation,
        type_expr => Want::Type,
        param => Want::Param,
        params | args => Want::Tok("("),
        model_body | train_body => Want::Tok("{"),
        kw_on => Want::Keyword("on"),
        kw_every | every_clause => Want::Keyword("every"),
        kw_from => Want::Keyword("from"),
        option => Want::Name,
        lbrace => Want::Tok("{"),
        rbrace => Want::Tok("}"),
        lparen => Want::Tok("("),
        rparen => Want::Tok(")"),
        lbracket => Want::Tok("["),
        rbracket => Want::Tok("]"),
        comma => Want::Tok(","),
        colon => Want::Tok(":"),
        equals => Want::Tok("="),
        semi => Want::Tok(";"),
        reserved | ident_start | ident_char | WHITESPACE | COMMENT => return None,
    })
}

/// Turns one pest error into one diagnostic.
pub(super) fn translate(err: &Error<Rule>, src: &str, tokens: &[Token]) -> Diagnostic {
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let ErrorVariant::ParsingError { positives, .. } = &err.variant else {
        // pest's own limits (call depth, stack): not a user's typo.
        return Diagnostic::new(Code::Syntax, "this program is too deeply nested to parse")
            .at(Span::new(pos, pos), "the parser gave up here")
            .help("split long or deeply nested expressions with intermediate bindings");
    };
    let mut wants: Vec<Want> = positives.iter().filter_map(|r| want(*r)).collect();
    wants.sort();
    wants.dedup();
    if wants.iter().any(|w| *w != Want::Continuation) {
        wants.retain(|w| *w != Want::Continuation);
    }
    // Drop what a broader expectation already implies: a statement may
    // start with a name, an expression may be a name or `(`; `;` is always
    // allowed between statements and settings.
    let implied: &[(Want, &[Want])] = &[
        (Want::Item, &[Want::EndOfFile]),
        (
            Want::Statement,
            &[Want::Name, Want::Tok("("), Want::Tok(";")],
        ),
        (Want::Setting, &[Want::Tok(";")]),
        (Want::Expr, &[Want::Name, Want::Tok("(")]),
    ];
    for (broad, narrow) in implied {
        if wants.contains(broad) {
            wants.retain(|w| !narrow.contains(w));
        }
    }
    let cx = Context::new(src, tokens, pos);
    cx.explain(&wants)
}

impl<'a> Context<'a> {
    /// The primary label: on the previous token when something is missing
    /// at a line's end in the middle of a construct, else on the found
    /// token. (At the start of an item, statement or setting, the found
    /// token is the culprit even on a new line.)
    fn label(&self, d: Diagnostic, short: &str, wants: &[Want]) -> Diagnostic {
        let at_start = wants
            .iter()
            .any(|w| matches!(w, Want::Item | Want::Statement | Want::Setting));
        match self.before(1) {
            Some(prev)
                if self.missing_at_line_end() && (!at_start || self.found.token.is_none()) =>
            {
                d.at(prev.span, format!("{short} after this"))
            }
            _ => d.at(self.found.span, short.to_string()),
        }
    }

    fn explain(&self, wants: &[Want]) -> Diagnostic {
        let wants_has = |w: Want| wants.contains(&w);
        let found_word = self
            .found
            .token
            .filter(|t| t.kind == Kind::Word)
            .map(|t| self.text(t));
        // `model = ...`, `train: 3`: a keyword used as a name, not a new item.
        let used_as_name = self
            .tokens
            .get(self.at + 1)
            .is_some_and(|t| matches!(self.text(*t), "=" | ":"));
        let found_item_kw = found_word.is_some_and(|w| ITEM_KEYWORDS.contains(&w)) && !used_as_name;
        let found_reserved = found_word.is_some_and(|w| RESERVED.contains(&w));
        let found = self.found_words();

        // A closing bracket that closes nothing, or the wrong thing.
        if let Some(Token {
            kind: Kind::Close(c),
            ..
        }) = self.found.token
        {
            // Inside a block, a `)` or `]` that nothing opened is stray (an
            // extra one); inside `(` or `[` it is more likely a typo for the
            // right closer.
            let stray = self
                .open
                .iter()
                .all(|&i| closer(self.tokens[i].kind) != Some(c))
                && self.innermost().is_some_and(|t| t.kind == Kind::Open('{'));
            match self.innermost().filter(|_| !stray) {
                None => {
                    return Diagnostic::new(Code::Syntax, format!("unexpected closing `{c}`"))
                        .at(self.found.span, format!("no `{}` is open here", opener(c)))
                        .help("delete it, or add the opening bracket it was meant to close");
                }
                Some(open) if closer(open.kind) != Some(c) => {
                    let want = closer(open.kind).unwrap_or(c);
                    let what = self.describe_open(self.open[self.open.len() - 1]);
                    return Diagnostic::new(
                        Code::Syntax,
                        format!("expected `{want}` to close {what}, found `{c}`"),
                    )
                    .at(self.found.span, format!("expected `{want}`"))
                    .also(open.span, "opened here");
                }
                Some(_) => {}
            }
        }

        // The file ends, or a new item starts, inside an open bracket.
        if self.found.token.is_none() || found_item_kw {
            if let Some(&oi) = self.open.last() {
                let open = self.tokens[oi];
                let c = closer(open.kind).unwrap_or('}');
                if wants_has(Want::Tok(closer_str(c))) {
                    let what = self.describe_open(oi);
                    let d = Diagnostic::new(
                        Code::Syntax,
                        format!("expected `{c}` to close {what}, found {found}"),
                    );
                    let d = if self.found.token.is_none() {
                        self.label(d, &format!("expected `{c}`"), wants)
                    } else {
                        d.at(self.found.span, format!("expected `{c}` before this"))
                    };
                    return d
                        .also(open.span, format!("this `{}` is never closed", opener(c)))
                        .help(format!("add `{c}` at the end of {what}"));
                }
            }
        }

        // A value missing after `=`, `:` or an operator.
        if wants_has(Want::Expr) && (self.found.token.is_none() || found_item_kw) {
            if let Some(prev) = self.before(1) {
                let d = Diagnostic::new(
                    Code::Syntax,
                    format!(
                        "expected an expression after `{}`, found {found}",
                        self.text(prev)
                    ),
                );
                let d = self.label(d, "expected an expression", wants);
                return match self.enclosing_dataset() {
                    Some(name) if self.before_is(1, "=") => d.help(format!(
                        "a data set is defined by an expression, as in \
                         `dataset {name} = csv(\"data/{name}.csv\")`"
                    )),
                    _ => d,
                };
            }
        }

        // `x |>` with no call after it.
        if wants_has(Want::Name) && self.before_is(1, "|>") {
            let d = Diagnostic::new(
                Code::Syntax,
                format!("expected a function or layer after `|>`, found {found}"),
            );
            return self
                .label(d, "expected a call", wants)
                .help("the right side of `|>` is a call, as in `x |> relu` or `x |> dense(64)`");
        }

        // `x.` with no field after it.
        if wants_has(Want::Name) && self.before_is(1, ".") {
            let d = Diagnostic::new(
                Code::Syntax,
                format!("expected a field name after `.`, found {found}"),
            );
            return self
                .label(d, "expected a field name", wants)
                .help("a field is written `digits.train`");
        }

        // `optimizer 0.1`, `schedule "cosine"`.
        if wants_has(Want::Name)
            && matches!(
                self.before(1).map(|t| self.text(t)),
                Some("optimizer" | "schedule")
            )
        {
            let (what, example) = if self.before_is(1, "optimizer") {
                ("an optimizer", "optimizer sgd(lr: 0.1)")
            } else {
                ("a schedule", "schedule cosine(warmup: 2)")
            };
            let d = Diagnostic::new(Code::Syntax, format!("expected {what}, found {found}"));
            return self
                .label(d, &format!("expected {what}"), wants)
                .help(format!("name it and give its arguments, as in `{example}`"));
        }

        // `input x: [N, 64]`: the dtype is missing.
        if wants_has(Want::Name) && self.before_is(1, ":") && self.before_is(3, "input") {
            let d = Diagnostic::new(Code::Syntax, format!("expected a dtype, found {found}"));
            return self
                .label(d, "expected a dtype such as `f32`", wants)
                .help("a type starts with its dtype, as in `f32[N, 64]`");
        }

        // `output = dense(x, 10)`, `dataset = ...`, `train on d`: the name
        // after a keyword is missing.
        let prev_kw = self.before(1).map(|t| self.text(t)).filter(|w| {
            matches!(
                *w,
                "input" | "output" | "dataset" | "model" | "train" | "every"
            )
        });
        if let Some(kw) = prev_kw.filter(|_| wants_has(Want::Name)) {
            if found_word.is_none() || (kw == "train" && found_word == Some("on")) {
                let (what, example) = match kw {
                    "output" => ("a name", "output y = dense(h, 10)"),
                    "input" => ("a name", "input x: f32[N, 64]"),
                    "dataset" => ("a name", "dataset digits = csv(\"data/digits.csv\")"),
                    "model" => ("a name", "model mlp() { ... }"),
                    "train" => ("the model to train", "train mlp on digits.train { ... }"),
                    _ => (
                        "how often to evaluate",
                        "evaluate digits.test every epoch: accuracy",
                    ),
                };
                let prev = self.before(1).map_or(self.found.span, |t| t.span);
                return Diagnostic::new(
                    Code::Syntax,
                    format!("expected {what} after `{kw}`, found {found}"),
                )
                .at(self.found.span, format!("expected {what}"))
                .also(prev, format!("`{kw}` is a keyword"))
                .help(format!("`{kw}` is followed by {what}, as in `{example}`"));
            }
        }

        // A reserved word where a name belongs.
        if found_reserved
            && (wants_has(Want::Name) || wants_has(Want::Expr) || wants_has(Want::Statement))
        {
            let w = found_word.unwrap_or_default();
            return Diagnostic::new(
                Code::Syntax,
                format!("`{w}` is a reserved word and cannot be used as a name"),
            )
            .at(self.found.span, "reserved word")
            .help(format!("choose another name, such as `{w}_` or `my_{w}`"))
            .note(format!(
                "the reserved words are {}",
                list_code(RESERVED, "and")
            ));
        }

        // An unknown word where a train setting belongs.
        if self.in_train_block() && wants_has(Want::Setting) {
            if let Some(w) = found_word {
                let d = Diagnostic::new(
                    Code::Syntax,
                    format!("expected a train setting, found `{w}`"),
                )
                .at(self.found.span, "not a train setting");
                return match did_you_mean(w, SETTINGS.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help(format!("the settings are {}", list_code(SETTINGS, "and"))),
                };
            }
        }

        // `input x` with no `: type`.
        if wants_has(Want::Tok(":")) && self.before_is(2, "input") {
            let name = self.before(1).map(|t| self.text(t)).unwrap_or_default();
            let d = Diagnostic::new(
                Code::Syntax,
                format!("expected `:` and a type after `input {name}`, found {found}"),
            );
            return self
                .label(d, "expected `:` and a type", wants)
                .help(format!(
                    "an input declares its type, as in `input {name}: f32[N, 64]`"
                ));
        }

        // `model m(units)`: a parameter without its type.
        if wants_has(Want::Tok(":")) && self.in_model_params() {
            let name = self.before(1).map(|t| self.text(t)).unwrap_or_default();
            let d = Diagnostic::new(
                Code::Syntax,
                format!("expected `:` and a type after parameter `{name}`, found {found}"),
            );
            return self
                .label(d, "expected `:` and a type", wants)
                .help(format!(
                    "a parameter declares its type (`int`, `float`, `bool` or `str`), \
                 as in `{name}: int` or `{name}: int = 64`"
                ));
        }

        // `evaluate digits.test:` with an empty metric list.
        if wants_has(Want::Name) && self.current_setting() == Some("evaluate") {
            let d = Diagnostic::new(Code::Syntax, format!("expected a metric, found {found}"));
            return self
                .label(d, "expected a metric", wants)
                .help("list the metrics after `:`, as in `evaluate digits.test: accuracy, loss`");
        }

        // `evaluate digits.test` with no metrics.
        if wants_has(Want::Tok(":")) && self.current_setting() == Some("evaluate") {
            let d = Diagnostic::new(
                Code::Syntax,
                format!("expected `:` and the metrics to evaluate, found {found}"),
            );
            return self.label(d, "expected `:` and metrics", wants).help(
                "an evaluation lists its metrics after `:`, as in \
                 `evaluate digits.test every epoch: accuracy, loss`",
            );
        }

        // `f32(N, 64)`, `f32<N>`: a dtype not followed by `[`.
        if wants_has(Want::Tok("[")) && self.before_is(2, ":") {
            let dtype = self.before(1).map(|t| self.text(t)).unwrap_or_default();
            let d = Diagnostic::new(
                Code::Syntax,
                format!("expected `[` after the dtype `{dtype}`, found {found}"),
            );
            return self.label(d, "expected `[`", wants).help(format!(
                "a type lists its dimensions in square brackets, as in `{dtype}[N, 64]`; \
                 a scalar is `{dtype}[]`"
            ));
        }

        // `dense(x 128)`: two arguments with no comma between them.
        let starts_expr = self.found.token.is_some_and(|t| {
            matches!(
                t.kind,
                Kind::Word | Kind::Number | Kind::Str | Kind::Open('(')
            )
        });
        if wants_has(Want::Tok(",")) && starts_expr && !self.missing_at_line_end() {
            if let Some(&oi) = self.open.last() {
                if self.tokens[oi].kind == Kind::Open('(') {
                    let what = self.describe_open(oi);
                    return Diagnostic::new(
                        Code::Syntax,
                        format!("expected `,` or `)` in {what}, found {found}"),
                    )
                    .at(self.found.span, "expected `,` or `)` before this")
                    .also(self.tokens[oi].span, "the list starts here")
                    .help("separate arguments with `,`");
                }
            }
        }

        // `train mlp digits.train { ... }`
        if wants_has(Want::Keyword("on")) {
            let d = Diagnostic::new(
                Code::Syntax,
                format!("expected `on` and the training data after the model, found {found}"),
            );
            return self.label(d, "expected `on`", wants).help(
                "a train block names its model and data, as in `train mlp on digits.train { ... }`",
            );
        }

        // Anything else: what was expected, what was found.
        let expected = list(
            &wants.iter().map(|w| w.describe()).collect::<Vec<_>>(),
            "or",
        );
        let d = Diagnostic::new(Code::Syntax, format!("expected {expected}, found {found}"));
        let short = if wants.len() <= 3 {
            format!("expected {expected}")
        } else {
            "unexpected here".to_string()
        };
        let d = self.label(d, &short, wants);
        self.general_help(d, wants)
    }

    /// Hints for the generic message, keyed on where the error is.
    fn general_help(&self, d: Diagnostic, wants: &[Want]) -> Diagnostic {
        let found = self.found_text();
        if wants.contains(&Want::Item) {
            return match found {
                Some(w @ ("input" | "output")) => {
                    d.help(format!("`{w}` statements belong inside a model body"))
                }
                Some(w) if SETTINGS.contains(&w) => d.help(format!(
                    "`{w}` is a train setting; it belongs inside a train block"
                )),
                Some(w) => match did_you_mean(w, ITEM_KEYWORDS.iter().copied()) {
                    Some(k) => d.help(format!("did you mean `{k}`?")),
                    None => d.help("a file is a list of `dataset`, `model` and `train` items"),
                },
                None => d.help("a file is a list of `dataset`, `model` and `train` items"),
            };
        }
        if wants.contains(&Want::Tok("(")) && self.before_is(2, "model") {
            let name = self.before(1).map(|t| self.text(t)).unwrap_or_default();
            return d.help(format!(
                "after a model's name come its parameters in parentheses, then its body: \
                 `model {name}(units: int = 64) {{ ... }}` or `model {name} {{ ... }}`"
            ));
        }
        if wants.contains(&Want::Tok("=")) && self.before(2).is_none_or(|t| t.kind != Kind::Punct) {
            if let Some(prev) = self.before(1).filter(|t| t.kind == Kind::Word) {
                let name = self.text(prev);
                if self
                    .open
                    .last()
                    .is_some_and(|&i| self.tokens[i].kind == Kind::Open('{'))
                {
                    return d.help(format!(
                        "a statement binds a name, as in `{name} = dense(x, 64)`"
                    ));
                }
            }
        }
        d
    }
}

/// "a", "a or b", "a, b or c".
fn list(items: &[String], last: &str) -> String {
    match items {
        [] => "something else".into(),
        [one] => one.clone(),
        [init @ .., tail] => format!("{} {last} {tail}", init.join(", ")),
    }
}

fn list_code(words: &[&str], last: &str) -> String {
    list(
        &words.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>(),
        last,
    )
}
