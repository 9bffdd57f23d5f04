//! Where a parse error stands, in tokens: the token found, the ones before
//! it, and the brackets still open around it, with the questions the error
//! messages ask of them ("is this inside a train block?", "what does this
//! `(` open?"). Built from `tokens.rs`, so it sees whole words, not chars.

use super::errors::SETTINGS;
use super::tokens::{Kind, Token};
use crate::diag::Span;

/// Words that start an item.
pub(super) const ITEM_KEYWORDS: &[&str] = &["dataset", "model", "train"];

/// What stands at the error position.
#[derive(Clone, Copy)]
pub(super) struct Found {
    /// `None` at the end of the file.
    pub(super) token: Option<Token>,
    /// Where a label about the found thing goes: the token, or the end.
    pub(super) span: Span,
}

/// The surroundings of an error: the token found, the one before, and the
/// brackets still open.
pub(super) struct Context<'a> {
    pub(super) src: &'a str,
    pub(super) tokens: &'a [Token],
    pub(super) found: Found,
    /// Index of the found token (`tokens.len()` at the end).
    pub(super) at: usize,
    /// Indices of the open brackets around the error, innermost last.
    pub(super) open: Vec<usize>,
}

impl<'a> Context<'a> {
    pub(super) fn new(src: &'a str, tokens: &'a [Token], pos: usize) -> Context<'a> {
        let at = tokens
            .iter()
            .position(|t| t.span.end > pos)
            .unwrap_or(tokens.len());
        let found = match tokens.get(at) {
            Some(t) => Found {
                token: Some(*t),
                span: t.span,
            },
            None => Found {
                token: None,
                span: Span::new(src.len(), src.len()),
            },
        };
        let mut open = Vec::new();
        for (i, t) in tokens[..at].iter().enumerate() {
            match t.kind {
                Kind::Open(_) => open.push(i),
                Kind::Close(c)
                    if open
                        .last()
                        .is_some_and(|&o| closer(tokens[o].kind) == Some(c)) =>
                {
                    open.pop();
                }
                _ => {}
            }
        }
        Context {
            src,
            tokens,
            found,
            at,
            open,
        }
    }

    pub(super) fn text(&self, t: Token) -> &'a str {
        &self.src[t.span.start..t.span.end]
    }

    /// The `n`th token before the found one (1 = the previous token).
    pub(super) fn before(&self, n: usize) -> Option<Token> {
        self.at.checked_sub(n).map(|i| self.tokens[i])
    }

    pub(super) fn before_is(&self, n: usize, text: &str) -> bool {
        self.before(n).is_some_and(|t| self.text(t) == text)
    }

    pub(super) fn found_text(&self) -> Option<&'a str> {
        self.found.token.map(|t| self.text(t))
    }

    /// "`epoch`", "a string", "end of file".
    pub(super) fn found_words(&self) -> String {
        match self.found.token {
            None => "end of file".into(),
            Some(t) if t.kind == Kind::Str => "a string".into(),
            Some(t) => format!("`{}`", self.text(t)),
        }
    }

    /// True when the found thing is not on the line of the previous token:
    /// then the mistake is likely that something is missing at the end of
    /// that line.
    pub(super) fn missing_at_line_end(&self) -> bool {
        let Some(prev) = self.before(1) else {
            return false;
        };
        self.found.token.is_none() || self.src[prev.span.end..self.found.span.start].contains('\n')
    }

    pub(super) fn innermost(&self) -> Option<Token> {
        self.open.last().map(|&i| self.tokens[i])
    }

    /// "the model body", "the arguments of `dense`" ...
    pub(super) fn describe_open(&self, i: usize) -> String {
        let t = self.tokens[i];
        let word_before = |n: usize| {
            i.checked_sub(n)
                .map(|j| self.tokens[j])
                .filter(|t| t.kind == Kind::Word)
                .map(|t| self.text(t))
        };
        match t.kind {
            Kind::Open('{') => match self.owner_keyword(i) {
                Some("model") => "the model body".into(),
                Some("train") => "the train block".into(),
                _ => "this block".into(),
            },
            Kind::Open('(') => match (word_before(2), word_before(1)) {
                (Some("model"), Some(m)) => format!("the parameters of model `{m}`"),
                (_, Some(f)) => format!("the arguments of `{f}`"),
                _ => "this parenthesis".into(),
            },
            Kind::Open('[') => match word_before(1) {
                Some(d) => format!("the dimensions of `{d}`"),
                None => "these brackets".into(),
            },
            _ => "this bracket".into(),
        }
    }

    /// The item keyword (`model`, `train`) that a `{` at token `i` belongs
    /// to: the nearest one before it that is not a field (`digits.train`).
    pub(super) fn owner_keyword(&self, i: usize) -> Option<&'a str> {
        (0..i).rev().find_map(|j| {
            let t = self.tokens[j];
            let is_field = j > 0 && self.text(self.tokens[j - 1]) == ".";
            let w = self.text(t);
            (t.kind == Kind::Word && !is_field && ITEM_KEYWORDS.contains(&w)).then_some(w)
        })
    }

    pub(super) fn in_model_params(&self) -> bool {
        self.open.last().is_some_and(|&i| {
            self.tokens[i].kind == Kind::Open('(')
                && i >= 2
                && self.text(self.tokens[i - 2]) == "model"
        })
    }

    pub(super) fn in_train_block(&self) -> bool {
        self.open.last().is_some_and(|&i| {
            self.tokens[i].kind == Kind::Open('{') && self.owner_keyword(i) == Some("train")
        })
    }

    /// The keyword of the train setting the error is in, if any.
    pub(super) fn current_setting(&self) -> Option<&'a str> {
        if !self.in_train_block() {
            return None;
        }
        (0..self.at).rev().find_map(|j| {
            let w = self.text(self.tokens[j]);
            let after_dot = j > 0 && self.text(self.tokens[j - 1]) == ".";
            (SETTINGS.contains(&w) && !after_dot).then_some(w)
        })
    }

    /// The name of the data set being defined at the error, if any.
    pub(super) fn enclosing_dataset(&self) -> Option<&'a str> {
        (0..self.at).rev().find_map(|j| {
            let w = self.text(self.tokens[j]);
            if ITEM_KEYWORDS.contains(&w) && self.tokens[j].kind == Kind::Word {
                let is_field = j > 0 && self.text(self.tokens[j - 1]) == ".";
                if !is_field {
                    return Some(if w == "dataset" {
                        self.tokens.get(j + 1).map(|t| self.text(*t))
                    } else {
                        None
                    });
                }
            }
            None
        })?
    }
}

pub(super) fn closer(k: Kind) -> Option<char> {
    match k {
        Kind::Open('(') => Some(')'),
        Kind::Open('[') => Some(']'),
        Kind::Open('{') => Some('}'),
        _ => None,
    }
}

pub(super) fn closer_str(c: char) -> &'static str {
    match c {
        ')' => ")",
        ']' => "]",
        _ => "}",
    }
}

pub(super) fn opener(c: char) -> char {
    match c {
        ')' => '(',
        ']' => '[',
        _ => '{',
    }
}
