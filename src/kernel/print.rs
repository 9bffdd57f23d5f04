//! The kernel program's text form: what `dlc dump --stage kernels` shows and
//! what the fusion filetests snapshot. Deterministic: buffers and kernels in
//! program order, sizes symbolic, no addresses or timings.

use std::fmt::Write;

use super::{BufKind, Expr, Inst, Kernel, KernelProgram, Poly, Size};
use crate::ir::print::{fmt_f64, fmt_name, op_text};

pub fn print(p: &KernelProgram) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "kernels @{} {{", fmt_name(&p.name));
    for b in &p.buffers {
        let kind = match &b.kind {
            BufKind::Input { role, .. } => format!("input {}", role.name()),
            BufKind::Output => "output".to_string(),
            BufKind::Temp => match b.slot {
                Some(s) => format!("temp slot={s}"),
                None => "temp".to_string(),
            },
            BufKind::View { of } => format!("view of {}", buf_name(p, *of)),
        };
        let _ = writeln!(out, "  buffer %{}: {} {kind}", fmt_name(&b.name), b.ty);
    }
    let outputs: Vec<Size> = p
        .buffers
        .iter()
        .enumerate()
        .filter(|(_, b)| b.kind == BufKind::Output)
        .map(|(i, _)| p.bytes(i))
        .collect();
    let _ = writeln!(
        out,
        "  memory: arena {} bytes in {} slot(s), outputs {} bytes",
        p.plan.arena(),
        p.plan.slots.len(),
        Poly::sum(outputs.iter())
    );
    for k in &p.kernels {
        let _ = writeln!(out, "  {}", kernel_text(p, k));
    }
    let rets: Vec<String> = p
        .outputs
        .iter()
        .map(|(n, b)| format!("%{} = {}", fmt_name(n), buf_name(p, *b)))
        .collect();
    let _ = writeln!(out, "  return {}", rets.join(", "));
    out.push_str("}\n");
    out
}

fn buf_name(p: &KernelProgram, b: usize) -> String {
    format!("%{}", fmt_name(&p.buffers[b].name))
}

fn dims_text<T: std::fmt::Display>(dims: &[T]) -> String {
    let d: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    format!("[{}]", d.join(","))
}

fn kernel_text(p: &KernelProgram, k: &Kernel) -> String {
    let out = match k {
        Kernel::Scan(s) => return scan_text(p, s),
        k => buf_name(p, k.out()),
    };
    match k {
        Kernel::Elementwise {
            dims, body, extra, ..
        } => {
            // `%out, %x, %y = ...`, and `-> %x` after the instruction
            // stored to `%x`.
            let mut outs = out;
            for &(b, _) in extra {
                let _ = write!(outs, ", {}", buf_name(p, b));
            }
            format!(
                "{outs} = elementwise {}{}",
                dims_text(dims),
                stored_body_text(p, body, extra)
            )
        }
        Kernel::Reduce {
            op,
            dims,
            axes,
            body,
            ..
        } => {
            let axes: Vec<String> = axes.iter().map(|a| a.to_string()).collect();
            format!(
                "{out} = {} {} axes=[{}]{}",
                op.name(),
                dims_text(dims),
                axes.join(","),
                body_text(p, body)
            )
        }
        Kernel::MatMul {
            batch,
            summed,
            m,
            k,
            n,
            a,
            b,
            epilogue,
            ..
        } => {
            let t = |o: &crate::kernel::MatOperand| {
                let mut s = String::new();
                if o.transposed {
                    s += "^T";
                }
                if o.shared {
                    s += "(shared)";
                }
                s
            };
            let mut s = format!(
                "{out} = matmul {}{}, {}{} batch={}{} m={m} k={k} n={n}",
                buf_name(p, a.buf),
                t(a),
                buf_name(p, b.buf),
                t(b),
                dims_text(batch),
                if *summed { " summed" } else { "" },
            );
            if let Some((dims, e)) = epilogue {
                let _ = write!(s, " epilogue {}{}", dims_text(dims), body_text(p, e));
            }
            s
        }
        Kernel::Library { routine, args, .. } => {
            let names: Vec<String> = args.iter().map(|&a| buf_name(p, a)).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            format!("{out} = {}", op_text(&routine.op(), &refs))
        }
        Kernel::Scan(s) => scan_text(p, s),
    }
}

fn body_text(p: &KernelProgram, e: &Expr) -> String {
    stored_body_text(p, e, &[])
}

fn stored_body_text(p: &KernelProgram, e: &Expr, stored: &[(usize, usize)]) -> String {
    let mut s = String::from(" {\n");
    for (i, (inst, dt)) in e.insts.iter().enumerate() {
        let v = |j: &usize| format!("%{j}");
        let text = match inst {
            Inst::Load(a) => {
                let st: Vec<String> = a.strides.iter().map(|x| x.to_string()).collect();
                let mut s = format!("load {} strides=[{}]", buf_name(p, a.buf), st.join(","));
                if !a.offset.is_zero() {
                    let _ = write!(s, " offset={}", a.offset);
                }
                s
            }
            Inst::Const(c) => format!("const {}", fmt_f64(*c)),
            Inst::Index(ax) => format!("index axis={ax}"),
            Inst::Sym(x) => format!("size {x}"),
            Inst::Acc => "acc".to_string(),
            Inst::Unary(u, a) => format!("{} {}", u.name(), v(a)),
            Inst::Binary(b, x, y) => format!("{} {}, {}", b.name(), v(x), v(y)),
            Inst::Compare(c, x, y) => format!("{} {}, {}", c.name(), v(x), v(y)),
            Inst::Select(c, x, y) => format!("select {}, {}, {}", v(c), v(x), v(y)),
            Inst::Cast(a) => format!("cast {}", v(a)),
        };
        let _ = write!(s, "    %{i} = {text} : {dt}");
        for &(b, _) in stored.iter().filter(|x| x.1 == i) {
            let _ = write!(s, " -> {}", buf_name(p, b));
        }
        s.push('\n');
    }
    s.push_str("  }");
    s
}

/// `%r.. = scan %ops.. carries=.. sequences=.. axis=.. reverse=..`, then
/// the body's program nested; a result nothing reads is `_`.
fn scan_text(p: &KernelProgram, s: &super::ScanKernel) -> String {
    let results: Vec<String> = s
        .results
        .iter()
        .map(|bs| match bs.as_slice() {
            [] => "_".to_string(),
            bs => bs
                .iter()
                .map(|&b| buf_name(p, b))
                .collect::<Vec<_>>()
                .join("|"),
        })
        .collect();
    let ops: Vec<String> = s.operands.iter().map(|&b| buf_name(p, b)).collect();
    let mut text = format!(
        "{} = scan {} carries={} sequences={} axis={} reverse={}",
        results.join(", "),
        ops.join(", "),
        s.carries,
        s.sequences,
        s.axis,
        u8::from(s.reverse)
    );
    for line in print(&s.body).lines() {
        let _ = write!(text, "\n    {line}");
    }
    text
}
