//! `dlc summary`: a Keras-style table of a model's layers with output shapes,
//! parameter counts and forward FLOPs per sample, the totals, and the memory
//! a training step needs at a given batch size: every layer output added up
//! (what an eager framework keeps), and the compiled step's planned peak —
//! the memory planner's arena plus the step's inputs and outputs. Counts
//! are read off the graph the model lowers to (`passes::lower::lower_traced`
//! says which nodes each layer built, `ir::flops` what each node costs), so
//! a new layer needs no entry here beyond its name in the `kind` column.

use std::fmt::Write;

use std::ops::Range;

use crate::ir::{self, flops::per_sample, Graph, Op, Role, Value};
use crate::kernel::KernelProgram;
use crate::passes::fuse;
use crate::passes::lower::{lower_traced, Mode};
use crate::sema::program::{Layer, Model, Program, Train};

/// The summary table of the program's trained model (or of each model that
/// can stand alone when there is no train block).
pub fn summary(program: &Program, batch: usize) -> String {
    match &program.train {
        Some(t) => table(&t.model, Mode::Train, batch) + &planned(t, batch),
        None => program
            .models
            .iter()
            .map(|m| table(m, Mode::Eval, batch))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// The training step's planned peak at `batch`: the arena of the memory
/// plan, plus the step's inputs (parameters, optimizer state, the batch) and
/// outputs, which live outside the arena.
fn planned(train: &Train, batch: usize) -> String {
    let step = crate::training_step(train);
    if let Some(op) = fuse::unsupported_op(step.graph()) {
        return format!("planned step memory not available: the compiled backend has no kernel for `{op}` yet\n");
    }
    let p = crate::kernel::kernel_program(step.graph());
    let updated: Vec<usize> = step.signature().updates().iter().map(|&(_, o)| o).collect();
    match planned_bytes(&p, &updated, batch) {
        Some((arena, io)) => format!(
            "planned step memory {} at batch {batch}: arena {} ({} kernels, {} slots) + inputs and outputs {}\n",
            human(arena + io),
            human(arena),
            p.kernels.len(),
            p.plan.slots.len(),
            human(io)
        ),
        None => format!(
            "planned step memory not available: sizes depend on {}\n",
            p.symbols().join(", ")
        ),
    }
}

/// (arena, inputs + outputs) bytes with the batch symbol `N` bound to
/// `batch`; `None` when another size symbol is left unbound. The outputs at
/// positions `updated` replace a resident input (a parameter or optimizer
/// state) in place, so they cost nothing.
fn planned_bytes(p: &KernelProgram, updated: &[usize], batch: usize) -> Option<(u64, u64)> {
    let bind = [("N".to_string(), batch)];
    let arena = p.plan.arena().eval(&bind)? as u64;
    let mut io = 0u64;
    let mut seen = Vec::new();
    let fresh_outputs = p
        .outputs
        .iter()
        .enumerate()
        .filter(|(o, _)| !updated.contains(o))
        .map(|(_, (_, b))| b);
    for b in p.inputs.iter().chain(fresh_outputs) {
        let root = p.root(*b);
        if !seen.contains(&root) {
            seen.push(root);
            io += p.bytes(root).eval(&bind)? as u64;
        }
    }
    Some((arena, io))
}

fn kind(node: &crate::sema::program::LayerNode) -> String {
    match &node.layer {
        Layer::Input(_) => "input".into(),
        Layer::Const(c) => format!("const {c}"),
        Layer::Dense { .. } => "dense".into(),
        Layer::Activation(a) => a.name().into(),
        Layer::Softmax { .. } => "softmax".into(),
        Layer::LogSoftmax { .. } => "log_softmax".into(),
        Layer::Flatten => "flatten".into(),
        Layer::LayerNorm { .. } => "layer_norm".into(),
        Layer::Embedding { .. } => "embedding".into(),
        Layer::Conv { .. } => "conv".into(),
        Layer::ConvTranspose { .. } => "conv_transpose".into(),
        Layer::Dropout { .. } => "dropout".into(),
        Layer::BatchNorm { .. } => "batch_norm".into(),
        Layer::Pool { max: true, .. } => "max_pool".into(),
        Layer::Pool { max: false, .. } => "avg_pool".into(),
        Layer::GlobalAvgPool => "global_avg_pool".into(),
        Layer::Rnn { .. } => "rnn".into(),
        Layer::Lstm { .. } => "lstm".into(),
        Layer::Gru { .. } => "gru".into(),
        Layer::Reshape => "reshape".into(),
        Layer::Attention { .. } => "attention".into(),
        Layer::Latents { .. } => "latents".into(),
        Layer::PositionalEncoding { .. } => "positional_encoding".into(),
        Layer::Reduce { mean: false, .. } => "sum".into(),
        Layer::Reduce { mean: true, .. } => "mean".into(),
        Layer::Repeat { .. } => "repeat".into(),
        Layer::Arith(op) => format!("{op:?}").to_lowercase(),
        Layer::Neg => "neg".into(),
        Layer::Loss(k) => k.name().into(),
    }
}

/// What a layer's lowering computes and reads, from the graph: its forward
/// operations per sample and the parameters its nodes take as operands.
fn layer_cost(g: &Graph, built: &Range<usize>) -> (u64, Vec<Value>) {
    let mut flops = 0;
    let mut params = Vec::new();
    for v in built.clone().map(Value::new) {
        flops += ir::flops::flops(g, v);
        for o in g.operands(v) {
            let is_param = matches!(
                g.op(o),
                Op::Input {
                    role: Role::Param,
                    ..
                }
            );
            if is_param && !params.contains(&o) {
                params.push(o);
            }
        }
    }
    (flops, params)
}

fn numel(g: &Graph, v: Value) -> u64 {
    g.ty(v).shape.numel().unwrap_or(0) as u64
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn table(m: &Model, mode: Mode, batch: usize) -> String {
    let (g, built) = lower_traced(m, mode);
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut total_flops = 0u64;
    let mut activation_bytes = 0u64;
    for (node, built) in m.nodes.iter().zip(&built) {
        if matches!(node.layer, Layer::Const(_)) {
            continue;
        }
        let (f, params) = layer_cost(&g, built);
        let params: u64 = params.iter().map(|&p| numel(&g, p)).sum();
        total_flops += f;
        activation_bytes += per_sample(&node.ty) * node.ty.dtype.size() as u64 * batch as u64;
        rows.push([
            node.name.clone(),
            kind(node),
            node.ty.to_string(),
            count(params),
            count(f),
        ]);
    }
    let header = ["layer (binding)", "kind", "output", "params", "flops"];
    let widths: Vec<usize> = (0..5)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 5]| {
        format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}  {:>w4$}\n",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4]
        )
    };
    let rule = "-".repeat(widths.iter().sum::<usize>() + 8) + "\n";
    let mut out = format!("model {}\n", m.name);
    out.push_str(&rule);
    out.push_str(&line(header));
    out.push_str(&rule);
    for r in &rows {
        out.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
    }
    out.push_str(&rule);
    let graph_params = g.inputs_with_role(Role::Param);
    let params: u64 = graph_params.iter().map(|&p| numel(&g, p)).sum();
    let param_bytes: u64 = graph_params
        .iter()
        .map(|&p| numel(&g, p) * g.ty(p).dtype.size() as u64)
        .sum();
    let _ = writeln!(
        out,
        "parameters          {} ({})",
        count(params),
        human(param_bytes)
    );
    let _ = writeln!(
        out,
        "forward FLOPs       {} per sample (a training step is about 3x)",
        count(total_flops)
    );
    let _ = writeln!(
        out,
        "activations         {} at batch {batch} (every layer output kept for the backward pass, no buffer reuse)",
        human(activation_bytes)
    );
    out
}
