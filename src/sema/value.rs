//! Compile-time values: what an expression evaluates to while checking.
//! Numbers, strings and bare names are settings (`units`, `label: last`);
//! tensors are nodes of the model being instantiated.

use crate::diag::{Code, Diagnostic, Span};
use crate::syntax::ast::Ident;

use super::program::{DataRef, NodeId};

#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    /// A bare name that is not bound to anything: a symbol such as `last`,
    /// `epoch` or a field name. Where a tensor is needed it is an unknown name.
    Name(Ident),
    Tensor(NodeId),
    /// The outputs of a block with several outputs; pick one with `.name`.
    Record(String, Vec<(String, NodeId)>),
    /// A data set or one of its parts.
    Data(DataRef),
}

impl Val {
    /// What kind of value this is, for "expected a tensor, found an integer".
    pub fn kind(&self) -> &'static str {
        match self {
            Val::Int(_) => "an integer",
            Val::Float(_) => "a number",
            Val::Bool(_) => "a boolean",
            Val::Str(_) => "a string",
            Val::Name(_) => "a name",
            Val::Tensor(_) => "a tensor",
            Val::Record(..) => "a block with several outputs",
            Val::Data(_) => "a data set",
        }
    }
}

/// A value with the span of the expression that produced it.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned {
    pub val: Val,
    pub span: Span,
}

impl Spanned {
    pub fn new(val: Val, span: Span) -> Spanned {
        Spanned { val, span }
    }

    fn wrong(&self, expected: &str) -> Diagnostic {
        // A bare name is one that nothing defines (a typo for a parameter,
        // a reference to another parameter in a default): say so, rather
        // than that a name is the wrong kind of argument.
        if let Val::Name(id) = &self.val {
            return Diagnostic::new(
                Code::UnknownName,
                format!("cannot find `{}` in this scope", id.name),
            )
            .at(self.span, "not defined")
            .help(format!("{expected} is expected here"));
        }
        Diagnostic::new(
            Code::ArgType,
            format!("expected {expected}, found {}", self.val.kind()),
        )
        .at(self.span, format!("this is {}", self.val.kind()))
    }

    pub fn int(&self) -> Result<i64, Diagnostic> {
        match self.val {
            Val::Int(i) => Ok(i),
            Val::Float(f) => Err(self
                .wrong("an integer")
                .help(format!("write a whole number, such as {}", f.round()))),
            _ => Err(self.wrong("an integer")),
        }
    }

    /// A positive integer size or count.
    pub fn positive(&self, what: &str) -> Result<usize, Diagnostic> {
        let i = self.int()?;
        if i <= 0 {
            return Err(Diagnostic::new(
                Code::BadValue,
                format!("{what} must be positive, got {i}"),
            )
            .at(self.span, "not positive"));
        }
        usize::try_from(i).map_err(|_| {
            Diagnostic::new(Code::TooLarge, format!("{what} {i} is too large"))
                .at(self.span, "too large")
        })
    }

    pub fn float(&self) -> Result<f64, Diagnostic> {
        match self.val {
            Val::Int(i) => Ok(i as f64),
            Val::Float(f) => Ok(f),
            _ => Err(self.wrong("a number")),
        }
    }

    pub fn bool(&self) -> Result<bool, Diagnostic> {
        match self.val {
            Val::Bool(b) => Ok(b),
            _ => Err(self.wrong("`true` or `false`")),
        }
    }

    pub fn string(&self) -> Result<&str, Diagnostic> {
        match &self.val {
            Val::Str(s) => Ok(s),
            _ => Err(self.wrong("a string")),
        }
    }

    /// A bare name or a string: `label: last`, `activation: "relu"`.
    pub fn symbol(&self) -> Result<&str, Diagnostic> {
        match &self.val {
            Val::Name(i) => Ok(&i.name),
            Val::Str(s) => Ok(s),
            _ => Err(self.wrong("a name")),
        }
    }
}
