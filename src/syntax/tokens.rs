//! A rough tokenizer of `.dl` source, used only around the pest grammar:
//! it finds the lexical mistakes pest would report badly (an unterminated
//! string, a malformed number, an unknown escape, absurd nesting) before pest
//! runs, and it lets `errors.rs` talk about whole tokens and open brackets
//! when it explains a pest error. It agrees with the grammar on comments,
//! strings, numbers and words; it does not need to agree on anything else.

use crate::diag::{Code, Diagnostic, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// A name or a keyword.
    Word,
    Number,
    Str,
    Open(char),
    Close(char),
    /// Operators and separators: `|>`, `=`, `,`, `:`, `;`, `.`, `+` ...
    Punct,
    /// A character the language has no use for (`@`, `é` outside a string).
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Token {
    pub kind: Kind,
    pub span: Span,
}

/// Brackets nested deeper than this are refused, so that no later recursive
/// walk over the tree can exhaust the stack on hostile input.
pub(super) const MAX_NESTING: usize = 128;

/// At most this many operators (`+ - * / |> .`) in one statement, for the
/// same reason: a chain of operators is a chain of nested tree nodes. Real
/// statements have a handful.
pub(super) const MAX_OPERATORS: usize = 512;

/// Splits `src` into tokens and reports every lexical error found.
pub(super) fn tokenize(src: &str) -> (Vec<Token>, Vec<Diagnostic>) {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut errors = Vec::new();
    let mut depth = 0usize;
    let mut operators = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let kind = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'#' => {
                i = line_end(src, i);
                continue;
            }
            b'"' => {
                i = string_end(src, i, &mut errors);
                Kind::Str
            }
            b'0'..=b'9' => {
                i = number_end(bytes, i);
                check_number(&src[start..i], Span::new(start, i), &mut errors);
                Kind::Number
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                Kind::Word
            }
            b'(' | b'[' | b'{' => {
                i += 1;
                depth += 1;
                if depth == MAX_NESTING + 1 {
                    errors.push(
                        Diagnostic::new(Code::Syntax, "brackets are nested too deeply")
                            .at(Span::new(start, i), "this bracket is too deep")
                            .help(format!(
                                "dlc accepts at most {MAX_NESTING} nested brackets; \
                                 split the expression with intermediate bindings"
                            )),
                    );
                }
                Kind::Open(c as char)
            }
            b')' | b']' | b'}' => {
                i += 1;
                depth = depth.saturating_sub(1);
                Kind::Close(c as char)
            }
            b'|' if bytes.get(i + 1) == Some(&b'>') => {
                i += 2;
                Kind::Punct
            }
            b'=' | b',' | b':' | b';' | b'.' | b'+' | b'-' | b'*' | b'/' => {
                i += 1;
                Kind::Punct
            }
            _ => {
                // One whole character, which may be several bytes.
                i += src[i..].chars().next().map_or(1, char::len_utf8);
                Kind::Other
            }
        };
        let text = &src[start..i];
        if kind == Kind::Punct && !matches!(text, "=" | "," | ":" | ";") {
            operators += 1;
            if operators == MAX_OPERATORS + 1 {
                errors.push(
                    Diagnostic::new(Code::Syntax, "this statement has too many operators")
                        .at(Span::new(start, i), "one operator too many")
                        .help(format!(
                            "dlc accepts at most {MAX_OPERATORS} operators in one statement; \
                             split it with intermediate bindings"
                        )),
                );
            }
        } else if (text == "=" && depth <= 1)
            || text == ";"
            || matches!(kind, Kind::Open('{') | Kind::Close('}'))
        {
            // A new statement, setting or item begins.
            operators = 0;
        }
        tokens.push(Token {
            kind,
            span: Span::new(start, i),
        });
    }
    (tokens, errors)
}

fn line_end(src: &str, from: usize) -> usize {
    src[from..].find('\n').map_or(src.len(), |n| from + n)
}

/// The end of the string starting at the quote `from`; reports an unknown
/// escape or a missing closing quote (strings do not span lines).
fn string_end(src: &str, from: usize, errors: &mut Vec<Diagnostic>) -> usize {
    let bytes = src.as_bytes();
    let mut i = from + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return i + 1,
            b'\n' => break,
            b'\\' => {
                match bytes.get(i + 1) {
                    Some(b'"' | b'\\' | b'n' | b't') => {}
                    Some(b'\n') | None => {}
                    Some(_) => {
                        let len = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                        let span = Span::new(i, i + 1 + len);
                        errors.push(
                            Diagnostic::new(
                                Code::Syntax,
                                format!(
                                    "unknown escape `{}` in string",
                                    &src[span.start..span.end]
                                ),
                            )
                            .at(span, "unknown escape")
                            .help(r#"the escapes are `\"`, `\\`, `\n` and `\t`"#),
                        );
                    }
                }
                i += 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    let end = line_end(src, from);
    errors.push(
        Diagnostic::new(Code::UnterminatedString, "unterminated string")
            .at(Span::new(from, from + 1), "this string is never closed")
            .help("close the string with `\"` on the same line; strings cannot span lines"),
    );
    end
}

/// A number token is everything that could be a malformed number: digits,
/// letters, `_`, a `.` followed by an alphanumeric, and a sign right after an
/// exponent `e`. So `1.2.3`, `1e` and `3x` are one token each.
fn number_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < bytes.len() {
        let c = bytes[i];
        let next_alnum = bytes.get(i + 1).is_some_and(|n| n.is_ascii_alphanumeric());
        if c.is_ascii_alphanumeric() || c == b'_' {
            i += 1;
        } else if c == b'.' && (next_alnum || bytes.get(i + 1).is_none_or(|n| !is_name_start(*n))) {
            // `1.` (no digits after) is also swallowed, to be reported.
            i += 1;
        } else if (c == b'+' || c == b'-')
            && matches!(bytes[i - 1], b'e' | b'E')
            && bytes[from..i - 1]
                .iter()
                .all(|b| b.is_ascii_digit() || *b == b'.')
        {
            i += 1;
        } else {
            break;
        }
    }
    i
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

/// Checks a number token against the grammar's `number` rule.
fn check_number(text: &str, span: Span, errors: &mut Vec<Diagnostic>) {
    let help = if text.matches('.').count() > 1 {
        "a number has at most one `.`"
    } else if text.ends_with('.') {
        "write digits after the `.`, as in `1.0`"
    } else if text.ends_with(['e', 'E', '+', '-']) {
        "an exponent needs digits, as in `1e-3`"
    } else if text
        .bytes()
        .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
        || text.contains('_')
    {
        "a name cannot start with a digit; numbers are written `128`, `0.5`, `1e-3`"
    } else {
        "numbers are written `128`, `0.5`, `1e-3` or `2.5e4`"
    };
    if !is_well_formed(text) {
        errors.push(
            Diagnostic::new(Code::BadNumber, format!("malformed number `{text}`"))
                .at(span, "not a valid number")
                .help(help),
        );
    }
}

/// `digits ("." digits)? ([eE] [+-]? digits)?`
fn is_well_formed(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |mut i: usize| {
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        (i > s).then_some(i)
    };
    let Some(mut i) = digits(0) else { return false };
    if b.get(i) == Some(&b'.') {
        let Some(j) = digits(i + 1) else { return false };
        i = j;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let Some(j) = digits(i) else { return false };
        i = j;
    }
    i == b.len()
}
