//! The attributes of one op as written (`perm=[1,0]`, `stop=[N,3]`,
//! `value=-inf`) and how the parser reads each: required or with a default,
//! as an integer, a list, a list of dimensions or a number. An attribute
//! the op never reads is reported as unknown, at its own position.

use super::lex::{Tok, Token};
use super::{float_of, ParseError};
use crate::ir::Dim;

/// An attribute value as written: one token, or a bracketed list of them.
pub(super) enum AttrValue {
    Scalar(Token),
    List(Vec<Token>),
}

pub(super) struct Attr {
    pub(super) key: String,
    pub(super) value: AttrValue,
    /// The key's token, for errors about this attribute.
    pub(super) at: Token,
}

/// The attributes of one node, consumed as the op reads them.
pub(super) struct Attrs<'a> {
    op: &'a str,
    op_tok: &'a Token,
    items: Vec<(Attr, bool)>,
}

fn error_at(t: &Token, message: String) -> ParseError {
    ParseError {
        line: t.line,
        col: t.col,
        message,
    }
}

fn int_of(t: &Token) -> Result<usize, ParseError> {
    match &t.tok {
        Tok::Num(s) => s
            .parse::<usize>()
            .map_err(|_| error_at(t, format!("expected a non-negative integer, found `{s}`"))),
        other => Err(error_at(t, format!("expected an integer, found {other}"))),
    }
}

impl<'a> Attrs<'a> {
    pub(super) fn new(op: &'a str, op_tok: &'a Token, items: Vec<Attr>) -> Attrs<'a> {
        Attrs {
            op,
            op_tok,
            items: items.into_iter().map(|a| (a, false)).collect(),
        }
    }

    /// The op's token, for errors about the op as a whole.
    pub(super) fn op_tok(&self) -> &Token {
        self.op_tok
    }

    /// The attribute `key`, marked as read.
    fn take(&mut self, key: &str) -> Option<&Attr> {
        let (attr, used) = self.items.iter_mut().find(|(a, _)| a.key == key)?;
        *used = true;
        Some(attr)
    }

    fn missing(&self, key: &str) -> ParseError {
        error_at(
            self.op_tok,
            format!("`{}` needs the attribute `{key}`", self.op),
        )
    }

    fn scalar(&mut self, key: &str) -> Result<Option<Token>, ParseError> {
        let op = self.op;
        match self.take(key) {
            None => Ok(None),
            Some(Attr {
                value: AttrValue::Scalar(t),
                ..
            }) => Ok(Some(t.clone())),
            Some(a) => Err(error_at(
                &a.at,
                format!("`{key}` of `{op}` is a single value, not a list"),
            )),
        }
    }

    fn tokens(&mut self, key: &str) -> Result<Option<Vec<Token>>, ParseError> {
        let op = self.op;
        match self.take(key) {
            None => Ok(None),
            Some(Attr {
                value: AttrValue::List(ts),
                ..
            }) => Ok(Some(ts.clone())),
            Some(a) => Err(error_at(
                &a.at,
                format!("`{key}` of `{op}` is a list like [0,1]"),
            )),
        }
    }

    pub(super) fn int(&mut self, key: &str) -> Result<usize, ParseError> {
        match self.scalar(key)? {
            Some(t) => int_of(&t),
            None => Err(self.missing(key)),
        }
    }

    pub(super) fn int_or(&mut self, key: &str, default: usize) -> Result<usize, ParseError> {
        self.scalar(key)?.map_or(Ok(default), |t| int_of(&t))
    }

    /// A 64-bit unsigned integer (a random stream id).
    pub(super) fn u64(&mut self, key: &str) -> Result<u64, ParseError> {
        let t = self.scalar(key)?.ok_or_else(|| self.missing(key))?;
        match &t.tok {
            Tok::Num(s) => s.parse::<u64>().map_err(|_| {
                error_at(
                    &t,
                    format!("expected a 64-bit unsigned integer, found `{s}`"),
                )
            }),
            other => Err(error_at(&t, format!("expected an integer, found {other}"))),
        }
    }

    pub(super) fn float_or(&mut self, key: &str, default: f64) -> Result<f64, ParseError> {
        self.scalar(key)?.map_or(Ok(default), |t| float_of(&t))
    }

    pub(super) fn list(&mut self, key: &str) -> Result<Vec<usize>, ParseError> {
        match self.tokens(key)? {
            Some(ts) => ts.iter().map(int_of).collect(),
            None => Err(self.missing(key)),
        }
    }

    pub(super) fn list_or(
        &mut self,
        key: &str,
        default: Vec<usize>,
    ) -> Result<Vec<usize>, ParseError> {
        match self.tokens(key)? {
            Some(ts) => ts.iter().map(int_of).collect(),
            None => Ok(default),
        }
    }

    /// A list of dimensions: sizes or symbols (`[N,3]`).
    pub(super) fn dims(&mut self, key: &str) -> Result<Vec<Dim>, ParseError> {
        let ts = self.tokens(key)?.ok_or_else(|| self.missing(key))?;
        ts.iter()
            .map(|t| match &t.tok {
                Tok::Ident(s) => Ok(Dim::Sym(s.clone())),
                _ => Ok(Dim::Fixed(int_of(t)?)),
            })
            .collect()
    }

    /// Fails on the first attribute the op did not read.
    pub(super) fn finish(self) -> Result<(), ParseError> {
        match self.items.iter().find(|(_, used)| !used) {
            Some((a, _)) => Err(error_at(
                &a.at,
                format!("`{}` has no attribute `{}`", self.op, a.key),
            )),
            None => Ok(()),
        }
    }
}
