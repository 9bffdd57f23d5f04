//! The IR's text form, reader side: a small lexer and a recursive-descent
//! parser for what [`super::print::print`] writes, so passes can be tested
//! as text in, text out. Every node is type-checked with
//! [`Op::result_type`] as it is read, so a wrong written type is reported
//! at its line rather than surfacing later in the verifier.
//!
//! Hand-written text may also name values (`%h = ...`), number them in any
//! order, and carry `#` comments; the printer renumbers on the way out.

use std::collections::HashMap;
use std::fmt;

use super::graph::{Graph, Value};
use super::op::{BinaryOp, CmpOp, ConvAttrs, Dist, Op, ReduceOp, UnaryOp, Window};
use super::role::{Hyper, OutputKind, Role};
use super::types::{DType, Dim, Shape, TensorType};
use crate::diag::did_you_mean;

mod attrs;
mod lex;
mod scan;

use attrs::{Attr, AttrValue, Attrs};
use lex::{lex, Key, Tok, Token};

/// Where and why the text is not a valid graph. Lines and columns count
/// from 1; the column counts characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Reads a graph from its text form. The result has its inputs first, in
/// header order, then the other nodes in text order.
pub fn parse(text: &str) -> Result<Graph, ParseError> {
    let toks = lex(text)?;
    let mut p = Parser { toks, pos: 0 };
    let g = p.graph()?;
    let t = p.peek();
    if t.tok != Tok::Eof {
        return Err(p.error_at(&t, format!("expected end of text, found {}", t.tok)));
    }
    Ok(g)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Token {
        self.toks[self.pos].clone()
    }
    fn next(&mut self) -> Token {
        let t = self.peek();
        if t.tok != Tok::Eof {
            self.pos += 1;
        }
        t
    }
    fn error_at(&self, t: &Token, message: String) -> ParseError {
        ParseError {
            line: t.line,
            col: t.col,
            message,
        }
    }
    fn expect(&mut self, want: Tok, what: &str) -> Result<Token, ParseError> {
        let t = self.next();
        if t.tok == want {
            Ok(t)
        } else {
            Err(self.error_at(&t, format!("expected {what}, found {}", t.tok)))
        }
    }
    fn eat(&mut self, want: &Tok) -> bool {
        if self.peek().tok == *want {
            self.next();
            true
        } else {
            false
        }
    }
    fn keyword(&mut self, kw: &str) -> Result<Token, ParseError> {
        let t = self.next();
        match &t.tok {
            Tok::Ident(s) if s == kw => Ok(t),
            other => Err(self.error_at(&t, format!("expected `{kw}`, found {other}"))),
        }
    }
    fn value_ref(&mut self) -> Result<(Key, Token), ParseError> {
        let t = self.next();
        match &t.tok {
            Tok::Value(k) => Ok((k.clone(), t)),
            other => Err(self.error_at(&t, format!("expected a `%` value, found {other}"))),
        }
    }
    /// Items separated by commas up to (and consuming) `close`.
    fn comma_list<T>(
        &mut self,
        close: Tok,
        mut item: impl FnMut(&mut Parser) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        let mut items = Vec::new();
        if self.eat(&close) {
            return Ok(items);
        }
        loop {
            items.push(item(self)?);
            if self.eat(&close) {
                return Ok(items);
            }
            self.expect(Tok::Comma, &format!("`,` or {close}"))?;
        }
    }

    /// An input's role: `data`, `param`, `state` or `hyper(KIND)` with
    /// KIND one of `lr`, `lr=G`, `step`, `key`.
    fn role(&mut self) -> Result<Role, ParseError> {
        let rt = self.next();
        let expected = "expected a role (data, param, state, hyper(lr|step|key))";
        let Tok::Ident(s) = &rt.tok else {
            return Err(self.error_at(&rt, format!("{expected}, found {}", rt.tok)));
        };
        match s.as_str() {
            "data" => return Ok(Role::Data),
            "param" => return Ok(Role::Param),
            "state" => return Ok(Role::State),
            "hyper" => {}
            _ => return Err(self.error_at(&rt, format!("unknown role `{s}`; {expected}"))),
        }
        self.expect(Tok::LParen, "`(` after `hyper`")?;
        let kt = self.next();
        let hyper = match &kt.tok {
            Tok::Ident(k) if k == "step" => Hyper::Step,
            Tok::Ident(k) if k == "key" => Hyper::Key,
            Tok::Ident(k) if k == "lr" => {
                if self.eat(&Tok::Eq) {
                    Hyper::Lr(self.int()?)
                } else {
                    Hyper::Lr(0)
                }
            }
            other => {
                return Err(self.error_at(
                    &kt,
                    format!("expected a hyperparameter kind (lr, lr=G, step, key), found {other}"),
                ))
            }
        };
        self.expect(Tok::RParen, "`)` after the hyperparameter kind")?;
        Ok(Role::Hyper(hyper))
    }

    /// An output's kind after its type: nothing (a model output), `loss`,
    /// `metric`, `grad(%input)` or `update(%input)`.
    fn output_kind(
        &mut self,
        g: &Graph,
        env: &HashMap<Key, Value>,
    ) -> Result<OutputKind, ParseError> {
        let t = self.peek();
        let Tok::Ident(s) = &t.tok else {
            return Ok(OutputKind::Value);
        };
        let s = s.clone();
        self.next();
        match s.as_str() {
            "loss" => return Ok(OutputKind::Loss),
            "metric" => return Ok(OutputKind::Metric),
            "grad" | "update" => {}
            _ => {
                return Err(self.error_at(
                    &t,
                    format!("unknown output kind `{s}`; expected loss, metric, grad(%input) or update(%input)"),
                ))
            }
        }
        self.expect(Tok::LParen, &format!("`(` after `{s}`"))?;
        let (key, kt) = self.value_ref()?;
        self.expect(Tok::RParen, "`)` after the input")?;
        let of = env
            .get(&key)
            .and_then(|&v| g.input_position(v))
            .ok_or_else(|| self.error_at(&kt, format!("`{key}` is not an input of the graph")))?;
        Ok(if s == "grad" {
            OutputKind::Grad { of }
        } else {
            OutputKind::Update { of }
        })
    }

    fn int(&mut self) -> Result<usize, ParseError> {
        let t = self.next();
        match &t.tok {
            Tok::Num(s) => s.parse::<usize>().map_err(|_| {
                self.error_at(&t, format!("expected a non-negative integer, found `{s}`"))
            }),
            other => Err(self.error_at(&t, format!("expected an integer, found {other}"))),
        }
    }

    fn float(&mut self) -> Result<f64, ParseError> {
        let t = self.next();
        float_of(&t)
    }

    fn ty(&mut self) -> Result<TensorType, ParseError> {
        let t = self.next();
        let dtype = match &t.tok {
            Tok::Ident(s) => DType::parse(s).ok_or_else(|| {
                let hint = did_you_mean(s, ["f32", "f64", "i32", "bool"])
                    .map(|d| format!(" (did you mean `{d}`?)"))
                    .unwrap_or_default();
                self.error_at(&t, format!("unknown dtype `{s}`{hint}"))
            })?,
            other => return Err(self.error_at(&t, format!("expected a type, found {other}"))),
        };
        self.expect(Tok::LBracket, "`[` after the dtype")?;
        let dims = self.comma_list(Tok::RBracket, |p| {
            let t = p.peek();
            match &t.tok {
                Tok::Ident(s) => {
                    p.next();
                    Ok(Dim::Sym(s.clone()))
                }
                Tok::Num(_) => Ok(Dim::Fixed(p.int()?)),
                other => Err(p.error_at(&t, format!("expected a dimension, found {other}"))),
            }
        })?;
        Ok(TensorType::new(dtype, Shape(dims)))
    }

    fn graph(&mut self) -> Result<Graph, ParseError> {
        self.keyword("graph")?;
        let t = self.next();
        let name = match &t.tok {
            Tok::Global(n) => n.clone(),
            other => return Err(self.error_at(&t, format!("expected `@name`, found {other}"))),
        };
        let mut g = Graph::new(name);
        let mut env: HashMap<Key, Value> = HashMap::new();

        self.expect(Tok::LParen, "`(` before the inputs")?;
        let params = self.comma_list(Tok::RParen, |p| {
            let (key, t) = p.value_ref()?;
            p.expect(Tok::Colon, "`:` after the input name")?;
            let ty = p.ty()?;
            let role = p.role()?;
            Ok((key, t, ty, role))
        })?;
        for (key, t, ty, role) in params {
            if env.contains_key(&key) {
                return Err(self.error_at(&t, format!("input `{key}` is declared twice")));
            }
            let v = g.input(key.text(), role, ty);
            env.insert(key, v);
        }

        self.expect(Tok::Arrow, "`->` after the inputs")?;
        self.expect(Tok::LParen, "`(` before the outputs")?;
        let results = self.comma_list(Tok::RParen, |p| {
            let (key, t) = p.value_ref()?;
            p.expect(Tok::Colon, "`:` after the output name")?;
            let ty = p.ty()?;
            let kind = p.output_kind(&g, &env)?;
            Ok((key, t, ty, kind))
        })?;
        for (i, (key, t, _, _)) in results.iter().enumerate() {
            if results[..i].iter().any(|(k, _, _, _)| k == key) {
                return Err(self.error_at(t, format!("output `{key}` is declared twice")));
            }
        }
        self.expect(Tok::LBrace, "`{` before the body")?;

        loop {
            let t = self.peek();
            match &t.tok {
                Tok::Ident(s) if s == "return" => break,
                Tok::Value(_) => self.statement(&mut g, &mut env)?,
                other => {
                    return Err(self.error_at(
                        &t,
                        format!("expected a `%value = op ...` line or `return`, found {other}"),
                    ))
                }
            }
        }

        let ret = self.keyword("return")?;
        let rets = self.comma_list(Tok::RBrace, |p| {
            let (name, t) = p.value_ref()?;
            p.expect(Tok::Eq, "`=` after the output name")?;
            let (value, vt) = p.value_ref()?;
            Ok((name, t, value, vt))
        })?;
        if rets.len() != results.len() {
            return Err(self.error_at(
                &ret,
                format!(
                    "the header declares {} output(s), `return` gives {}",
                    results.len(),
                    rets.len()
                ),
            ));
        }
        for ((name, t, value, vt), (hname, _, hty, kind)) in rets.into_iter().zip(&results) {
            if name != *hname {
                return Err(self.error_at(
                    &t,
                    format!("`return` gives `{name}` where the header declares `{hname}`"),
                ));
            }
            let v = *env
                .get(&value)
                .ok_or_else(|| self.error_at(&vt, format!("undefined value `{value}`")))?;
            if g.ty(v) != hty {
                return Err(self.error_at(
                    &vt,
                    format!(
                        "output `{name}` is declared {hty} but `{value}` is {}",
                        g.ty(v)
                    ),
                ));
            }
            g.output_kind(name.text(), v, *kind);
        }
        Ok(g)
    }

    /// `%v = op operands attrs : type`
    fn statement(
        &mut self,
        g: &mut Graph,
        env: &mut HashMap<Key, Value>,
    ) -> Result<(), ParseError> {
        let (key, kt) = self.value_ref()?;
        if env.contains_key(&key) {
            return Err(self.error_at(&kt, format!("`{key}` is already defined")));
        }
        self.expect(Tok::Eq, "`=` after the value")?;
        let ot = self.next();
        let opname = match &ot.tok {
            Tok::Ident(s) => s.clone(),
            other => return Err(self.error_at(&ot, format!("expected an op name, found {other}"))),
        };
        let const_value = if opname == "const" {
            Some(self.float()?)
        } else {
            None
        };
        let mut operands = Vec::new();
        if matches!(self.peek().tok, Tok::Value(_)) {
            loop {
                let (k, t) = self.value_ref()?;
                let v = *env
                    .get(&k)
                    .ok_or_else(|| self.error_at(&t, format!("undefined value `{k}`")))?;
                operands.push(v);
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        let mut attrs: Vec<Attr> = Vec::new();
        while let Tok::Ident(key) = self.peek().tok {
            let at = self.next();
            if attrs.iter().any(|a| a.key == key) {
                return Err(self.error_at(&at, format!("attribute `{key}` is given twice")));
            }
            self.expect(Tok::Eq, "`=` after the attribute name")?;
            let value = if self.eat(&Tok::LBracket) {
                AttrValue::List(self.comma_list(Tok::RBracket, |p| p.attr_token())?)
            } else {
                AttrValue::Scalar(self.attr_token()?)
            };
            attrs.push(Attr { key, value, at });
        }
        if opname == "scan" {
            let v = self.scan_rest(g, &operands, Attrs::new(&opname, &ot, attrs), &ot)?;
            env.insert(key, v);
            return Ok(());
        }
        self.expect(Tok::Colon, "`:` before the result type")?;
        let tyt = self.peek();
        let ty = self.ty()?;
        for d in ty.shape.dims() {
            if let Dim::Sym(sym) = d {
                let bound = g.inputs.iter().any(|&i| g.ty(i).shape.dims().contains(d));
                if !bound {
                    return Err(self.error_at(
                        &tyt,
                        format!("symbol `{sym}` appears in no input's type, so nothing binds it"),
                    ));
                }
            }
        }

        let ranks: Vec<usize> = operands.iter().map(|&o| g.ty(o).rank()).collect();
        let op = self.make_op(
            &opname,
            const_value,
            Attrs::new(&opname, &ot, attrs),
            &ranks,
        )?;
        let v = g
            .try_push(op, &operands, Some(ty))
            .map_err(|e| self.error_at(&ot, e))?;
        env.insert(key, v);
        Ok(())
    }

    /// One attribute value: a number, or a name (a symbol in a list of
    /// dimensions, `inf` or `nan`).
    fn attr_token(&mut self) -> Result<Token, ParseError> {
        let t = self.next();
        match &t.tok {
            Tok::Num(_) | Tok::Ident(_) => Ok(t),
            other => Err(self.error_at(&t, format!("expected an attribute value, found {other}"))),
        }
    }

    /// The op called `name` with its attributes; every attribute the op
    /// needs must be there and no other. `ranks` are the operands' ranks,
    /// which give attributes left at their default their length.
    fn make_op(
        &self,
        name: &str,
        const_value: Option<f64>,
        mut attrs: Attrs,
        ranks: &[usize],
    ) -> Result<Op, ParseError> {
        let rank = ranks.first().copied().unwrap_or(0);
        let a = &mut attrs;
        let op = if let Some(u) = UnaryOp::ALL.iter().find(|u| u.name() == name) {
            Op::Unary(*u)
        } else if let Some(b) = BinaryOp::ALL.iter().find(|b| b.name() == name) {
            Op::Binary(*b)
        } else if let Some(c) = CmpOp::ALL.iter().find(|c| c.name() == name) {
            Op::Compare(*c)
        } else if let Some(d) = Dist::ALL.iter().find(|d| d.name() == name) {
            Op::Random {
                dist: *d,
                stream: a.u64("stream")?,
            }
        } else {
            match name {
                "const" => Op::Const {
                    value: const_value.unwrap_or_default(),
                },
                "iota" => Op::Iota {
                    axis: a.int("axis")?,
                },
                "dim" => Op::DimSize {
                    axis: a.int("axis")?,
                },
                "get" => Op::Get {
                    index: a.int("index")?,
                },
                "select" => Op::Select,
                "cast" => Op::Cast,
                "reshape" => Op::Reshape,
                "matmul" => Op::MatMul,
                "gather" => Op::Gather,
                "scatter_add" => Op::ScatterAdd,
                "reduce_sum" | "reduce_max" => Op::Reduce {
                    op: reduce_op(name),
                    axes: a.list("axes")?,
                },
                "broadcast" => Op::Broadcast {
                    dims: a.list("dims")?,
                },
                "transpose" => Op::Transpose {
                    perm: a.list("perm")?,
                },
                "slice" => Op::Slice {
                    start: a.list("start")?,
                    stop: a.dims("stop")?,
                    stride: a.list_or("stride", vec![1; rank])?,
                },
                "pad" => Op::Pad {
                    low: a.list("low")?,
                    high: a.list("high")?,
                    interior: a.list_or("interior", vec![0; rank])?,
                    value: a.float_or("value", 0.0)?,
                },
                "concat" => Op::Concat {
                    axis: a.int("axis")?,
                },
                "reverse" => Op::Reverse {
                    axes: a.list("axes")?,
                },
                "conv" => {
                    let sp = rank.saturating_sub(2);
                    Op::Conv(ConvAttrs {
                        stride: a.list_or("stride", vec![1; sp])?,
                        pad_low: a.list_or("pad_low", vec![0; sp])?,
                        pad_high: a.list_or("pad_high", vec![0; sp])?,
                        dilation: a.list_or("dilation", vec![1; sp])?,
                        lhs_dilation: a.list_or("lhs_dilation", vec![1; sp])?,
                        groups: a.int_or("groups", 1)?,
                    })
                }
                "reduce_window_sum" | "reduce_window_max" => Op::ReduceWindow {
                    op: reduce_op(name),
                    window: Window {
                        size: a.list("window")?,
                        stride: a.list_or("stride", vec![1; rank])?,
                        pad_low: a.list_or("pad_low", vec![0; rank])?,
                        pad_high: a.list_or("pad_high", vec![0; rank])?,
                    },
                },
                "input" => {
                    return Err(self.error_at(
                        a.op_tok(),
                        "inputs are declared in the graph header, not with `input`".into(),
                    ))
                }
                _ => {
                    let hint = did_you_mean(name, op_names())
                        .map(|d| format!(" (did you mean `{d}`?)"))
                        .unwrap_or_default();
                    return Err(self.error_at(a.op_tok(), format!("unknown op `{name}`{hint}")));
                }
            }
        };
        attrs.finish()?;
        Ok(op)
    }
}

/// `reduce_sum` and `reduce_window_sum` sum, the others take the max.
fn reduce_op(name: &str) -> ReduceOp {
    if name.ends_with("sum") {
        ReduceOp::Sum
    } else {
        ReduceOp::Max
    }
}

/// A number as the text writes it: decimal, `inf`, `nan`, with an
/// optional `-`.
fn float_of(t: &Token) -> Result<f64, ParseError> {
    let err = |message: String| ParseError {
        line: t.line,
        col: t.col,
        message,
    };
    let text = match &t.tok {
        Tok::Num(s) | Tok::Ident(s) => s.as_str(),
        other => return Err(err(format!("expected a number, found {other}"))),
    };
    let (neg, body) = match text.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, text),
    };
    let v = match body {
        "inf" => f64::INFINITY,
        "nan" => f64::NAN,
        _ if body.starts_with(|c: char| c.is_ascii_digit()) => match body.parse::<f64>() {
            Ok(v) => v,
            Err(_) => return Err(err(format!("malformed number `{text}`"))),
        },
        _ => return Err(err(format!("expected a number, found `{text}`"))),
    };
    Ok(if neg { -v } else { v })
}

/// Every op mnemonic the text form accepts (`input` aside).
pub fn op_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = vec![
        "const",
        "iota",
        "select",
        "cast",
        "reduce_sum",
        "reduce_max",
        "broadcast",
        "reshape",
        "transpose",
        "matmul",
        "dim",
        "slice",
        "pad",
        "concat",
        "reverse",
        "gather",
        "scatter_add",
        "conv",
        "reduce_window_sum",
        "reduce_window_max",
        "scan",
        "get",
    ];
    names.extend(Dist::ALL.iter().map(|d| d.name()));
    names.extend(UnaryOp::ALL.iter().map(|u| u.name()));
    names.extend(BinaryOp::ALL.iter().map(|b| b.name()));
    names.extend(CmpOp::ALL.iter().map(|c| c.name()));
    names
}
