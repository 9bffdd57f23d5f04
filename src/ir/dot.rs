//! Graphviz output (`dlc dump --format dot`): a picture of the graph for
//! when the text form is too long to follow. Inputs are ellipses colored by
//! role, ops are boxes labelled with their op and type (a scan with its
//! body's name; draw the body with `to_dot(&scan.body)`), outputs are named
//! sinks. Node ids follow the text form's numbering, so the picture and the
//! dump can be read side by side; the output is deterministic.

use std::fmt::Write;

use super::graph::Graph;
use super::op::Op;
use super::print::{attr_text, fmt_f64, fmt_name, type_text, value_names};
use super::role::Role;

/// The Graphviz `digraph` for `g`.
pub fn to_dot(g: &Graph) -> String {
    let names = value_names(g);
    let id = |i: usize| dot_id(&names[i]);
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(&format!("@{}", g.name)));
    out.push_str("  rankdir=TB;\n");
    out.push_str("  node [fontname=\"monospace\"];\n");
    out.push_str("  edge [fontname=\"monospace\", fontsize=10];\n");

    for v in g.nodes() {
        let node = g.node(v);
        let i = v.index();
        match &node.op {
            Op::Input { name, role } => {
                let _ = writeln!(
                    out,
                    "  {} [label={}, shape=ellipse, style=filled, fillcolor=\"{}\"];",
                    id(i),
                    quote(&format!("{name}\n{} {}", node.ty, role.name())),
                    role_color(*role)
                );
            }
            op => {
                let mut head = String::from(op.name());
                if let Op::Const { value } = op {
                    head.push(' ');
                    head.push_str(&fmt_f64(*value));
                }
                let attr = attr_text(op);
                if !attr.is_empty() {
                    head.push(' ');
                    head.push_str(&attr);
                }
                if let Op::Scan(s) = op {
                    head.push_str(&format!("\nbody @{}", fmt_name(&s.body.name)));
                }
                let _ = writeln!(
                    out,
                    "  {} [label={}, shape=box];",
                    id(i),
                    quote(&format!("{head}\n{}", type_text(g, v)))
                );
            }
        }
    }

    for v in g.nodes() {
        let operands = g.operands(v);
        for (pos, o) in operands.iter().enumerate() {
            if operands.len() > 1 {
                let _ = writeln!(
                    out,
                    "  {} -> {} [label=\"{pos}\"];",
                    id(o.index()),
                    id(v.index())
                );
            } else {
                let _ = writeln!(out, "  {} -> {};", id(o.index()), id(v.index()));
            }
        }
    }

    for (k, o) in g.outputs.iter().enumerate() {
        let _ = writeln!(
            out,
            "  out{k} [label={}, shape=doubleoctagon, style=filled, fillcolor=\"lightgray\"];",
            quote(&o.name)
        );
        let _ = writeln!(out, "  {} -> out{k};", id(o.value.index()));
    }
    out.push_str("}\n");
    out
}

fn role_color(role: Role) -> &'static str {
    match role {
        Role::Data => "lightblue",
        Role::Param => "palegreen",
        Role::State => "khaki",
        Role::Hyper(_) => "pink",
    }
}

/// A Graphviz id for the value printed as `name` (`%3` → `"%3"`).
fn dot_id(name: &str) -> String {
    quote(name)
}

/// A double-quoted Graphviz string; a newline in `s` becomes a line break.
fn quote(s: &str) -> String {
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}
