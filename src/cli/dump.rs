//! `dlc dump`: the program at one stage, as text or Graphviz.

use std::path::Path;

use super::{load_program, read_source, Failure, Format, Stage};
use crate::ir::{self, Graph};
use crate::passes::lower::{has_modal_layers, Mode};
use crate::sema::print::print_program;
use crate::syntax;

/// The text `dlc dump` prints for `stage`.
pub fn dump(path: &Path, stage: Stage, format: Format, spans: bool) -> Result<String, Failure> {
    if stage == Stage::Ast {
        let (display, src) = read_source(path)?;
        let file = syntax::parse(&src).map_err(|diags| Failure::Diagnostics {
            path: display,
            src: src.clone(),
            diags,
        })?;
        return Ok(if spans {
            syntax::print_ast_with_spans(&file)
        } else {
            syntax::print_ast(&file)
        });
    }
    let (_, program) = load_program(path)?;
    if stage == Stage::Checked {
        return Ok(print_program(&program));
    }
    let graphs: Vec<Graph> = match (&program.train, stage) {
        (Some(t), Stage::Ir) => vec![crate::forward(t)],
        (Some(t), Stage::Grad) => vec![crate::gradients(t)],
        (Some(t), Stage::Opt | Stage::Kernels | Stage::Clif) => vec![crate::training_step(t)],
        (None, Stage::Ir | Stage::Kernels | Stage::Clif) => program
            .models
            .iter()
            .map(|m| crate::passes::lower::lower(m, Mode::Eval))
            .collect(),
        (None, _) => {
            return Err(Failure::Message(format!(
                "{} has no train block, so it has no {} stage; `--stage ir` shows its models",
                path.display(),
                if stage == Stage::Grad { "grad" } else { "opt" }
            )))
        }
        (_, Stage::Ast | Stage::Checked) => unreachable!("handled above"),
    };
    if matches!(stage, Stage::Kernels | Stage::Clif) {
        // A user-facing refusal, as `dlc train --backend cpu` gives, not
        // the internal error fusing an unsupported op would be.
        if let Some((g, op)) = graphs
            .iter()
            .find_map(|g| crate::passes::fuse::unsupported_op(g).map(|op| (g, op)))
        {
            return Err(Failure::Message(format!(
                "the cpu backend does not run `{op}` yet (graph @{}), so {} has no {} stage; `--stage opt` shows the training step",
                g.name,
                path.display(),
                if stage == Stage::Kernels { "kernels" } else { "clif" }
            )));
        }
    }
    if stage == Stage::Kernels {
        let progs: Vec<String> = graphs
            .iter()
            .map(|g| crate::kernel::print::print(&crate::kernel::kernel_program(g)))
            .collect();
        return Ok(progs.join("\n"));
    }
    if stage == Stage::Clif {
        let mut out = Vec::new();
        for g in &graphs {
            out.push(crate::backend::cpu::clif_text(g).map_err(Failure::Message)?);
        }
        return Ok(out.join("\n"));
    }
    // Which lowering mode the graphs are in, said only where it matters:
    // the training step's stages are in train mode, models dumped without
    // a train block in eval mode (as inference runs them).
    let mode = match &program.train {
        Some(t) if has_modal_layers(&t.model) => Some(Mode::Train),
        None if program.models.iter().any(has_modal_layers) => Some(Mode::Eval),
        _ => None,
    };
    let text = graphs
        .iter()
        .map(|g| match format {
            Format::Text => ir::print::print(g),
            Format::Dot => ir::dot::to_dot(g),
        })
        .collect::<Vec<_>>()
        .join("\n");
    Ok(match (mode, format) {
        (Some(m), Format::Text) => format!(
            "# {} mode: {}\n{text}",
            m.name(),
            match m {
                Mode::Train => "dropout drops, batch_norm uses and updates batch statistics",
                Mode::Eval => "dropout is the identity, batch_norm uses its running statistics",
            }
        ),
        _ => text,
    })
}
