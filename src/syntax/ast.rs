//! The abstract syntax tree: what the user wrote, with spans, before any name
//! is resolved. Pipes are kept as written (`a |> f(b)`) so `dlc dump --stage
//! ast` shows the program as the user sees it; `sema` desugars them.

use crate::diag::Span;

/// A whole `.dl` file.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Dataset(DatasetDecl),
    Model(ModelDecl),
    Train(TrainDecl),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// `dataset digits = csv("...", label: last) |> scale(x: 1/16) |> split(...)`
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetDecl {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `model mlp(classes: int = 10) { ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct ModelDecl {
    pub name: Ident,
    pub params: Vec<ParamDecl>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// A model parameter: `classes: int = 10`. The type is one of
/// `int`, `float`, `bool`, `str` (checked by sema, so a typo gets a hint).
#[derive(Clone, Debug, PartialEq)]
pub struct ParamDecl {
    pub name: Ident,
    pub ty: Ident,
    pub default: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `input x: f32[N, 64]`
    Input {
        name: Ident,
        ty: TypeExpr,
        span: Span,
    },
    /// `h = dense(x, 128) |> relu`
    Let {
        name: Ident,
        value: Expr,
        span: Span,
    },
    /// `output logits = dense(h, classes)` or `output h`
    Output {
        name: Ident,
        value: Option<Expr>,
        span: Span,
    },
}

/// `f32[N, 64]`: a dtype name and dimensions. Dimensions are expressions so a
/// model parameter may size an input (`f32[N, features]`).
#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub dtype: Ident,
    pub dims: Vec<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A number literal; `is_int` is true when written without `.` or exponent.
    Number {
        value: f64,
        is_int: bool,
    },
    Str(String),
    Bool(bool),
    Name(Ident),
    /// `digits.train`
    Field {
        base: Box<Expr>,
        field: Ident,
    },
    Call(Call),
    /// `a |> f(b)` means `f(a, b)`; `a |> relu` means `relu(a)`.
    Pipe {
        input: Box<Expr>,
        call: Call,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Neg(Box<Expr>),
}

/// `dense(x, 128, bias: false)`. A bare name after a pipe (`|> relu`) is a
/// call with no arguments and `parens == false`.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub callee: Ident,
    pub args: Vec<Arg>,
    pub parens: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

/// `train mlp() on digits.train { ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct TrainDecl {
    /// The model, with its arguments: `mlp()` or `mlp(classes: 3)` or `mlp`.
    pub model: Call,
    /// The training data: `digits.train`.
    pub data: Expr,
    pub settings: Vec<Setting>,
    pub span: Span,
}

/// One line of a train block.
#[derive(Clone, Debug, PartialEq)]
pub enum Setting {
    /// `loss cross_entropy(logits, label)`
    Loss { value: Expr, span: Span },
    /// `optimizer sgd(lr: 0.1, momentum: 0.9)`
    Optimizer { call: Call, span: Span },
    /// `schedule cosine(warmup: 2)`: how the learning rate moves over epochs.
    Schedule { call: Call, span: Span },
    /// `epochs 20`
    Epochs { value: Expr, span: Span },
    /// `batch 32`
    Batch { value: Expr, span: Span },
    /// `shuffle`
    Shuffle { span: Span },
    /// `seed 7`
    Seed { value: Expr, span: Span },
    /// `evaluate digits.test every epoch: accuracy, loss`
    Evaluate {
        data: Expr,
        every: Option<Ident>,
        metrics: Vec<Ident>,
        span: Span,
    },
    /// `save "runs/digits"`
    Save { path: Expr, span: Span },
    /// `sample 400 from "HAMLET." temperature: 0.8`: the length, the prime
    /// and named options.
    Sample {
        length: Expr,
        prime: Option<Expr>,
        options: Vec<Arg>,
        span: Span,
    },
    /// `nearest center.weight: "king", "queen", count: 5`: the table, then
    /// the words (positional) and options (named).
    Nearest {
        table: Expr,
        args: Vec<Arg>,
        span: Span,
    },
}

impl Setting {
    pub fn span(&self) -> Span {
        match self {
            Setting::Loss { span, .. }
            | Setting::Optimizer { span, .. }
            | Setting::Schedule { span, .. }
            | Setting::Epochs { span, .. }
            | Setting::Batch { span, .. }
            | Setting::Shuffle { span }
            | Setting::Seed { span, .. }
            | Setting::Evaluate { span, .. }
            | Setting::Save { span, .. }
            | Setting::Sample { span, .. }
            | Setting::Nearest { span, .. } => *span,
        }
    }
    /// The keyword that starts the setting, for "given twice" diagnostics.
    pub fn keyword(&self) -> &'static str {
        match self {
            Setting::Loss { .. } => "loss",
            Setting::Optimizer { .. } => "optimizer",
            Setting::Schedule { .. } => "schedule",
            Setting::Epochs { .. } => "epochs",
            Setting::Batch { .. } => "batch",
            Setting::Shuffle { .. } => "shuffle",
            Setting::Seed { .. } => "seed",
            Setting::Evaluate { .. } => "evaluate",
            Setting::Save { .. } => "save",
            Setting::Sample { .. } => "sample",
            Setting::Nearest { .. } => "nearest",
        }
    }
}
