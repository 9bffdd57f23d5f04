//! The text form's lexer: turns IR text into tokens with their line and
//! column, so the parser never looks at characters.

use std::fmt;

use super::ParseError;
use crate::ir::print::{fmt_name, is_name_char};

/// A value reference: `%3` (a numbered value) and `%x` / `%"3"` (a named
/// one) live apart, so an input called `"3"` never meets node number 3.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Key {
    Num(String),
    Name(String),
}

impl Key {
    pub(super) fn text(&self) -> &str {
        match self {
            Key::Num(s) | Key::Name(s) => s,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Num(s) => write!(f, "%{s}"),
            Key::Name(s) => write!(f, "%{}", fmt_name(s)),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    /// A number as written (`64`, `-1.5e-3`, `-inf`, `-nan`).
    Num(String),
    Value(Key),
    /// `@name`: the graph's name.
    Global(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    Eq,
    Arrow,
    Eof,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "`{s}`"),
            Tok::Num(s) => write!(f, "`{s}`"),
            Tok::Value(k) => write!(f, "`{k}`"),
            Tok::Global(s) => write!(f, "`@{}`", fmt_name(s)),
            Tok::LParen => f.write_str("`(`"),
            Tok::RParen => f.write_str("`)`"),
            Tok::LBrace => f.write_str("`{`"),
            Tok::RBrace => f.write_str("`}`"),
            Tok::LBracket => f.write_str("`[`"),
            Tok::RBracket => f.write_str("`]`"),
            Tok::Comma => f.write_str("`,`"),
            Tok::Colon => f.write_str("`:`"),
            Tok::Eq => f.write_str("`=`"),
            Tok::Arrow => f.write_str("`->`"),
            Tok::Eof => f.write_str("end of text"),
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) line: usize,
    pub(super) col: usize,
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
    col: usize,
}

impl Lexer<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }
    fn err(&self, line: usize, col: usize, message: String) -> ParseError {
        ParseError { line, col, message }
    }
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            s.push(c);
            self.bump();
        }
        s
    }

    /// A bare or quoted name after `%` or `@`; `Ok((name, quoted))`.
    fn name(&mut self, sigil: char, line: usize, col: usize) -> Result<(String, bool), ParseError> {
        if self.peek() == Some('"') {
            self.bump();
            let mut s = String::new();
            loop {
                let (l, c) = (self.line, self.col);
                match self.bump() {
                    None | Some('\n') => {
                        return Err(self.err(line, col, "unterminated quoted name".into()))
                    }
                    Some('"') => return Ok((s, true)),
                    Some('\\') => match self.bump() {
                        Some('"') => s.push('"'),
                        Some('\\') => s.push('\\'),
                        Some('u') => s.push(self.unicode_escape(l, c)?),
                        _ => return Err(self.err(l, c, "unknown escape in quoted name".into())),
                    },
                    Some(ch) => s.push(ch),
                }
            }
        }
        let s = self.take_while(is_name_char);
        if s.is_empty() {
            return Err(self.err(line, col, format!("expected a name after `{sigil}`")));
        }
        Ok((s, false))
    }

    fn unicode_escape(&mut self, line: usize, col: usize) -> Result<char, ParseError> {
        let bad = |lx: &Self| lx.err(line, col, "bad `\\u{...}` escape in quoted name".into());
        if self.bump() != Some('{') {
            return Err(bad(self));
        }
        let hex = self.take_while(|c| c.is_ascii_hexdigit());
        if self.bump() != Some('}') {
            return Err(bad(self));
        }
        u32::from_str_radix(&hex, 16)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| bad(self))
    }

    /// The rest of a number after an optional `-`: digits with optional
    /// fraction and exponent, or `inf` / `nan`.
    fn number_body(&mut self, s: &mut String) {
        if self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            s.push_str(&self.take_while(|c| c.is_ascii_alphanumeric()));
            return;
        }
        s.push_str(&self.take_while(|c| c.is_ascii_digit()));
        if self.peek() == Some('.') {
            self.bump();
            s.push('.');
            s.push_str(&self.take_while(|c| c.is_ascii_digit()));
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            self.bump();
            s.push('e');
            if let Some(c @ ('+' | '-')) = self.peek() {
                self.bump();
                s.push(c);
            }
            s.push_str(&self.take_while(|c| c.is_ascii_digit()));
        }
    }
}

pub(super) fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let mut lx = Lexer {
        chars: text.chars().peekable(),
        line: 1,
        col: 1,
    };
    let mut toks = Vec::new();
    loop {
        let (line, col) = (lx.line, lx.col);
        let Some(c) = lx.peek() else {
            toks.push(Token {
                tok: Tok::Eof,
                line,
                col,
            });
            return Ok(toks);
        };
        let tok = match c {
            c if c.is_whitespace() => {
                lx.bump();
                continue;
            }
            '#' => {
                lx.take_while(|c| c != '\n');
                continue;
            }
            '(' | ')' | '{' | '}' | '[' | ']' | ',' | ':' | '=' => {
                lx.bump();
                match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    '{' => Tok::LBrace,
                    '}' => Tok::RBrace,
                    '[' => Tok::LBracket,
                    ']' => Tok::RBracket,
                    ',' => Tok::Comma,
                    ':' => Tok::Colon,
                    _ => Tok::Eq,
                }
            }
            '-' => {
                lx.bump();
                if lx.peek() == Some('>') {
                    lx.bump();
                    Tok::Arrow
                } else {
                    let mut s = String::from("-");
                    lx.number_body(&mut s);
                    Tok::Num(s)
                }
            }
            c if c.is_ascii_digit() => {
                let mut s = String::new();
                lx.number_body(&mut s);
                Tok::Num(s)
            }
            '%' => {
                lx.bump();
                let (name, quoted) = lx.name('%', line, col)?;
                if !quoted && name.chars().all(|c| c.is_ascii_digit()) {
                    Tok::Value(Key::Num(name))
                } else {
                    Tok::Value(Key::Name(name))
                }
            }
            '@' => {
                lx.bump();
                Tok::Global(lx.name('@', line, col)?.0)
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                Tok::Ident(lx.take_while(|c| c.is_ascii_alphanumeric() || c == '_'))
            }
            c => return Err(lx.err(line, col, format!("unexpected character `{c}`"))),
        };
        toks.push(Token { tok, line, col });
    }
}
