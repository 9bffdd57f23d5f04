//! `dlc summary`: a Keras-style table of a model's layers with output shapes
//! and parameter counts, the totals, forward FLOPs per sample and the memory
//! a training step needs at a given batch size: every layer output added up
//! (what an eager framework keeps), and the compiled step's planned peak —
//! the memory planner's arena plus the step's inputs and outputs.

use std::fmt::Write;

use crate::ir::{Dim, TensorType};
use crate::kernel::KernelProgram;
use crate::passes::fuse;
use crate::sema::program::{Activation, Layer, LossKind, Model, Program, Train};

/// The summary table of the program's trained model (or of each model that
/// can stand alone when there is no train block).
pub fn summary(program: &Program, batch: usize) -> String {
    match &program.train {
        Some(t) => table(&t.model, batch) + &planned(t, batch),
        None => program
            .models
            .iter()
            .map(|m| table(m, batch))
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

/// Elements of one sample of `ty` (the batch axis `N` counts as 1).
fn per_sample(ty: &TensorType) -> u64 {
    ty.shape
        .dims()
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => *n as u64,
            Dim::Sym(_) => 1,
        })
        .product()
}

/// Forward floating-point operations for one sample (a multiply-add is 2).
fn flops(m: &Model, node: &crate::sema::program::LayerNode) -> u64 {
    let out = per_sample(&node.ty);
    let arg = |i: usize| per_sample(&m.nodes[node.args[i]].ty);
    match &node.layer {
        Layer::Input(_) | Layer::Const(_) | Layer::Flatten => 0,
        Layer::Dense { weight, bias } => {
            let fan_in = m.params[*weight].fan_in as u64;
            2 * fan_in * out + if bias.is_some() { out } else { 0 }
        }
        Layer::Activation(a) => match a {
            Activation::Identity => 0,
            Activation::Relu | Activation::LeakyRelu { .. } => out,
            Activation::Sigmoid
            | Activation::Tanh
            | Activation::Softplus
            | Activation::Elu { .. } => 4 * out,
            Activation::Swish => 5 * out,
            Activation::Gelu => 9 * out,
        },
        Layer::Softmax { .. } | Layer::LogSoftmax { .. } => 5 * out,
        Layer::LayerNorm { .. } => 8 * out,
        Layer::Embedding { .. } | Layer::Reshape => 0,
        Layer::Conv { weight, bias, .. } => {
            let per_output = m.params[*weight].fan_in as u64;
            2 * per_output * out + if bias.is_some() { out } else { 0 }
        }
        Layer::ConvTranspose { weight, bias, .. } => {
            // Each output element sums C * k * k / stride^2 taps on
            // average; counted as the dense C * k * k (an upper bound).
            let w = &m.params[*weight].ty.shape;
            let per_output = w.dims()[0].fixed().unwrap_or(0) as u64
                * w.dims()[2..]
                    .iter()
                    .filter_map(|d| d.fixed())
                    .product::<usize>() as u64;
            2 * per_output * out + if bias.is_some() { out } else { 0 }
        }
        Layer::Dropout { .. } => 2 * out,
        Layer::BatchNorm { .. } => 4 * out,
        Layer::Pool { window, .. } => window.size.iter().product::<usize>() as u64 * out,
        Layer::GlobalAvgPool | Layer::Reduce { .. } => arg(0),
        Layer::Repeat { .. } => 0,
        // Per step: the two matmuls (2 F G + 2 H G), the gate
        // nonlinearities and the state update (about 4 G more).
        Layer::Rnn { w_ih, w_hh, .. }
        | Layer::Lstm { w_ih, w_hh, .. }
        | Layer::Gru { w_ih, w_hh, .. } => {
            let steps = match &m.nodes[node.args[0]].ty.shape.dims()[1] {
                Dim::Fixed(t) => *t as u64,
                Dim::Sym(_) => 1,
            };
            let (f, h) = (m.params[*w_ih].fan_in as u64, m.params[*w_hh].fan_in as u64);
            let g = m.params[*w_hh].fan_out as u64;
            steps * (2 * f * g + 2 * h * g + 4 * g)
        }
        Layer::Attention { heads, .. } => {
            // q kᵀ and p v, then softmax over the logits.
            let (q, k) = (&m.nodes[node.args[0]].ty, &m.nodes[node.args[1]].ty);
            let r = q.rank();
            let fixed = |d: &crate::ir::Dim| d.fixed().unwrap_or(1) as u64;
            let tk = fixed(&k.shape.dims()[r - 2]);
            let d = (fixed(&q.shape.dims()[r - 1]) / *heads as u64).max(1);
            let logits = arg(0) / d * tk;
            2 * arg(0) * tk + 2 * out * tk + 5 * logits
        }
        Layer::Latents { .. } => 0,
        Layer::PositionalEncoding { .. } => out,
        Layer::Arith(_) | Layer::Neg => out,
        Layer::Loss(k) => {
            let p = arg(0);
            match k {
                LossKind::CrossEntropy => 6 * p,
                LossKind::BinaryCrossEntropy | LossKind::BinaryCrossEntropyLogits => 8 * p,
                LossKind::MeanSquaredError | LossKind::MeanAbsoluteError => 3 * p,
            }
        }
    }
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

fn params_of(node: &crate::sema::program::LayerNode) -> Vec<usize> {
    match &node.layer {
        Layer::Dense { weight, bias } => std::iter::once(*weight).chain(*bias).collect(),
        Layer::LayerNorm { weight, bias, .. } => weight.iter().chain(bias).copied().collect(),
        Layer::Embedding { weight } | Layer::Latents { weight } => vec![*weight],
        Layer::PositionalEncoding { weight } => weight.iter().copied().collect(),
        Layer::Conv { weight, bias, .. } | Layer::ConvTranspose { weight, bias, .. } => {
            std::iter::once(*weight).chain(*bias).collect()
        }
        Layer::BatchNorm { weight, bias, .. } => weight.iter().chain(bias).copied().collect(),
        Layer::Rnn {
            w_ih, w_hh, bias, ..
        }
        | Layer::Lstm {
            w_ih, w_hh, bias, ..
        } => vec![*w_ih, *w_hh, *bias],
        Layer::Gru {
            w_ih,
            w_hh,
            b_ih,
            b_hh,
            ..
        } => vec![*w_ih, *w_hh, *b_ih, *b_hh],
        _ => vec![],
    }
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

fn table(m: &Model, batch: usize) -> String {
    let mut rows: Vec<[String; 4]> = Vec::new();
    let mut total_flops = 0u64;
    let mut activation_bytes = 0u64;
    for node in &m.nodes {
        if matches!(node.layer, Layer::Const(_)) {
            continue;
        }
        let params: u64 = params_of(node)
            .iter()
            .map(|&p| m.params[p].ty.shape.numel().unwrap_or(0) as u64)
            .sum();
        let f = flops(m, node);
        total_flops += f;
        activation_bytes += per_sample(&node.ty) * node.ty.dtype.size() as u64 * batch as u64;
        rows.push([
            node.name.clone(),
            kind(node),
            node.ty.to_string(),
            count(params),
        ]);
    }
    let header = ["layer (binding)", "kind", "output", "params"];
    let widths: Vec<usize> = (0..4)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 4]| {
        format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}\n",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        )
    };
    let rule = "-".repeat(widths.iter().sum::<usize>() + 6) + "\n";
    let mut out = format!("model {}\n", m.name);
    out.push_str(&rule);
    out.push_str(&line(header));
    out.push_str(&rule);
    for r in &rows {
        out.push_str(&line([&r[0], &r[1], &r[2], &r[3]]));
    }
    out.push_str(&rule);
    let params: u64 = m
        .params
        .iter()
        .map(|p| p.ty.shape.numel().unwrap_or(0) as u64)
        .sum();
    let param_bytes: u64 = m
        .params
        .iter()
        .map(|p| (p.ty.shape.numel().unwrap_or(0) * p.ty.dtype.size()) as u64)
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
