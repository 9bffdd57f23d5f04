//! The IR's text form, printer side: one line per node, every value with its
//! type, so that `dlc dump` and pass filetests show exactly what passes see
//! and diffs stay small. [`super::parse::parse`] reads everything written
//! here back; `docs/ir.md` gives the grammar.
//!
//! Inputs are referred to by name, every other node by a number given in
//! build (= topological) order, renumbered densely on every print. Dead
//! nodes are printed too, so a dump before `dce` shows what `dce` removes.
//! A scan's body is printed nested under its node, with its own names.

use std::fmt::Write;

use super::graph::{Graph, Value};
use super::op::Op;
use super::role::OutputKind;

/// Headers with more inputs (or outputs) than this put one per line.
const INLINE_LIST_MAX: usize = 3;

/// The text form of `g`. Deterministic: it depends only on the graph's
/// contents and node order, never on addresses or hash order.
pub fn print(g: &Graph) -> String {
    let mut out = String::new();
    write_graph(&mut out, g, "");
    out
}

/// Writes `g` with every line indented by `indent`: a scan's body is
/// written nested this way, two spaces deeper than its node.
fn write_graph(out: &mut String, g: &Graph, indent: &str) {
    let names = value_names(g);

    let inputs: Vec<String> = g
        .inputs
        .iter()
        .map(|&v| {
            let (name, role) = g.input_info(v);
            format!("%{}: {} {}", fmt_name(name), g.ty(v), role.name())
        })
        .collect();
    let outputs: Vec<String> = g
        .outputs
        .iter()
        .map(|o| {
            format!(
                "%{}: {}{}",
                fmt_name(&o.name),
                g.ty(o.value),
                output_kind_text(g, o.kind)
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "{indent}graph @{}{} -> {} {{",
        fmt_name(&g.name),
        list(&inputs, indent),
        list(&outputs, indent)
    );

    for v in g.nodes() {
        let node = g.node(v);
        if matches!(node.op, Op::Input { .. }) {
            continue;
        }
        let operands: Vec<&str> = g
            .operands(v)
            .iter()
            .map(|o| names[o.index()].as_str())
            .collect();
        let _ = writeln!(
            out,
            "{indent}  {} = {} : {}",
            names[v.index()],
            op_text(&node.op, &operands),
            type_text(g, v)
        );
        if let Op::Scan(s) = &node.op {
            write_graph(out, &s.body, &format!("{indent}    "));
        }
    }

    let rets: Vec<String> = g
        .outputs
        .iter()
        .map(|o| format!("%{} = {}", fmt_name(&o.name), names[o.value.index()]))
        .collect();
    if rets.is_empty() {
        let _ = writeln!(out, "{indent}  return");
    } else if rets.len() > INLINE_LIST_MAX {
        let _ = writeln!(out, "{indent}  return");
        for (i, r) in rets.iter().enumerate() {
            let sep = if i + 1 < rets.len() { "," } else { "" };
            let _ = writeln!(out, "{indent}    {r}{sep}");
        }
    } else {
        let _ = writeln!(out, "{indent}  return {}", rets.join(", "));
    }
    let _ = writeln!(out, "{indent}}}");
}

/// An output's kind as written after its type in the header: nothing for a
/// model output, ` loss`, ` metric`, ` grad(%w)` or ` update(%w)` (naming
/// the input the gradient is of, or the input the new value replaces).
fn output_kind_text(g: &Graph, kind: OutputKind) -> String {
    let input = |i: usize| {
        let name = g
            .inputs
            .get(i)
            .map_or("?", |&v| g.input_info(v).0)
            .to_string();
        format!("%{}", fmt_name(&name))
    };
    match kind {
        OutputKind::Value => String::new(),
        OutputKind::Loss => " loss".into(),
        OutputKind::Metric => " metric".into(),
        OutputKind::Grad { of } => format!(" grad({})", input(of)),
        OutputKind::Update { of } => format!(" update({})", input(of)),
    }
}

/// A node's type as written after `:`. A scan's own type is a placeholder,
/// so its results' types are written instead: `(f32[N,4], f32[N,T,4])`
/// (or `(?)` for a scan too broken to have any, in a verifier message).
pub(crate) fn type_text(g: &Graph, v: Value) -> String {
    match g.op(v) {
        Op::Scan(_) => match g.result_types(v) {
            Ok(tys) => {
                let tys: Vec<String> = tys.iter().map(|t| t.to_string()).collect();
                format!("({})", tys.join(", "))
            }
            Err(_) => "(?)".into(),
        },
        _ => g.ty(v).to_string(),
    }
}

/// A parenthesized list, inline when short, one item a line when long.
fn list(items: &[String], indent: &str) -> String {
    if items.len() > INLINE_LIST_MAX {
        let mut s = String::from("(\n");
        for (i, item) in items.iter().enumerate() {
            let sep = if i + 1 < items.len() { "," } else { "" };
            let _ = writeln!(s, "{indent}  {item}{sep}");
        }
        s.push_str(indent);
        s.push(')');
        s
    } else {
        format!("({})", items.join(", "))
    }
}

/// How each node is referred to in the text, indexed by node index: `%x`
/// for an input, `%0`, `%1`, ... for the rest in build order.
pub(crate) fn value_names(g: &Graph) -> Vec<String> {
    let mut next = 0usize;
    g.nodes()
        .map(|v| match g.op(v) {
            Op::Input { name, .. } => format!("%{}", fmt_name(name)),
            _ => {
                next += 1;
                format!("%{}", next - 1)
            }
        })
        .collect()
}

/// The op with its operands and attributes, without the result type:
/// `broadcast %b dims=[1]`, `const 0.5`, `add %0, %1`.
pub(crate) fn op_text(op: &Op, operands: &[&str]) -> String {
    let mut s = String::from(op.name());
    if let Op::Const { value } = op {
        s.push(' ');
        s.push_str(&fmt_f64(*value));
    }
    if !operands.is_empty() {
        s.push(' ');
        s.push_str(&operands.join(", "));
    }
    let attr = attr_text(op);
    if !attr.is_empty() {
        s.push(' ');
        s.push_str(&attr);
    }
    s
}

/// The op's `key=value` attributes separated by spaces, or an empty string
/// for ops without one. Attributes at their default (a stride or dilation
/// of all ones, a padding of all zeros, one group, a pad value of +0) are
/// left out; the parser fills them back in.
pub(crate) fn attr_text(op: &Op) -> String {
    let mut out: Vec<String> = Vec::new();
    let o = &mut out;
    match op {
        Op::Iota { axis } | Op::DimSize { axis } | Op::Concat { axis } => {
            return format!("axis={axis}")
        }
        Op::Reduce { axes, .. } | Op::Reverse { axes } => {
            return format!("axes={}", fmt_list(axes))
        }
        Op::Broadcast { dims } => return format!("dims={}", fmt_list(dims)),
        Op::Transpose { perm } => return format!("perm={}", fmt_list(perm)),
        Op::Slice {
            start,
            stop,
            stride,
        } => {
            attr_list(o, "start", start, None);
            let stop: Vec<String> = stop.iter().map(|d| d.to_string()).collect();
            o.push(format!("stop=[{}]", stop.join(",")));
            attr_list(o, "stride", stride, Some(1));
        }
        Op::Pad {
            low,
            high,
            interior,
            value,
        } => {
            attr_list(o, "low", low, None);
            attr_list(o, "high", high, None);
            attr_list(o, "interior", interior, Some(0));
            if value.to_bits() != 0 {
                o.push(format!("value={}", fmt_f64(*value)));
            }
        }
        Op::Conv(c) => {
            attr_list(o, "stride", &c.stride, Some(1));
            attr_list(o, "pad_low", &c.pad_low, Some(0));
            attr_list(o, "pad_high", &c.pad_high, Some(0));
            attr_list(o, "dilation", &c.dilation, Some(1));
            attr_list(o, "lhs_dilation", &c.lhs_dilation, Some(1));
            if c.groups != 1 {
                o.push(format!("groups={}", c.groups));
            }
        }
        Op::ReduceWindow { window: w, .. } => {
            attr_list(o, "window", &w.size, None);
            attr_list(o, "stride", &w.stride, Some(1));
            attr_list(o, "pad_low", &w.pad_low, Some(0));
            attr_list(o, "pad_high", &w.pad_high, Some(0));
        }
        Op::Random { stream, .. } => return format!("stream={stream}"),
        Op::Scan(s) => {
            return format!(
                "carries={} sequences={} axis={} reverse={}",
                s.carries,
                s.sequences,
                s.axis,
                u8::from(s.reverse)
            )
        }
        Op::Get { index } => return format!("index={index}"),
        _ => {}
    }
    out.join(" ")
}

/// Adds `key=[..]` unless every entry is `default`.
fn attr_list(out: &mut Vec<String>, key: &str, xs: &[usize], default: Option<usize>) {
    if default.is_none_or(|d| xs.iter().any(|&x| x != d)) {
        out.push(format!("{key}={}", fmt_list(xs)));
    }
}

fn fmt_list(xs: &[usize]) -> String {
    let items: Vec<String> = xs.iter().map(|x| x.to_string()).collect();
    format!("[{}]", items.join(","))
}

/// A constant that parses back to the same `f64` bits (NaN payloads
/// aside): Rust's shortest round-trip form, without a trailing `.0`, and
/// `inf`, `-inf`, `nan` for the non-finite values.
pub fn fmt_f64(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let s = format!("{x:?}");
    match s.strip_suffix(".0") {
        Some(t) => t.to_string(),
        None => s,
    }
}

/// Whether a name can be written without quotes: non-empty, made of
/// letters, digits, `_`, `.` and `/`, and not all digits (those are the
/// numbered values).
pub(crate) fn is_bare_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(is_name_char) && !name.chars().all(|c| c.is_ascii_digit())
}

pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/')
}

/// A name as written after `%` or `@`: bare when possible, otherwise in
/// double quotes with `\"`, `\\` and `\u{..}` escapes.
pub fn fmt_name(name: &str) -> String {
    if is_bare_name(name) {
        return name.to_string();
    }
    let mut s = String::from("\"");
    for c in name.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(s, "\\u{{{:x}}}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}
