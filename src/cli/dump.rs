//! `dlc dump`: the program at one stage, as text or Graphviz.

use std::path::Path;

use super::{load_program, read_source, Failure, Format, Stage};
use crate::ir::{self, Graph};
use crate::passes::lower::{has_modal_layers, Mode};
use crate::passes::optimizer::Group;
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
        (Some(t), Stage::Lower) => vec![crate::forward(t).into_graph()],
        (Some(t), Stage::Autodiff) => vec![crate::gradients(t).into_graph()],
        (Some(t), Stage::Optimizer) => {
            let grads = crate::gradients(t);
            let group = Group::all(grads.graph(), crate::optimizer(&t.optimizer));
            vec![crate::update(&grads, &[group]).into_graph()]
        }
        (Some(t), Stage::Simplify | Stage::Fuse | Stage::PlanMemory | Stage::Codegen) => {
            vec![crate::training_step(t).into_graph()]
        }
        (None, Stage::Lower | Stage::Fuse | Stage::PlanMemory | Stage::Codegen) => program
            .models
            .iter()
            .map(|m| crate::lower(m, Mode::Eval).into_graph())
            .collect(),
        (None, _) => {
            return Err(Failure::Message(format!(
                "{} has no train block, so it has no {} stage; `--stage lower` shows its models",
                path.display(),
                stage.name()
            )))
        }
        (_, Stage::Ast | Stage::Checked) => unreachable!("handled above"),
    };
    if matches!(stage, Stage::Fuse | Stage::PlanMemory | Stage::Codegen) {
        // A user-facing refusal, as `dlc train --backend cpu` gives, not
        // the internal error fusing an unsupported op would be.
        if let Some((g, op)) = graphs
            .iter()
            .find_map(|g| crate::passes::fuse::unsupported_op(g).map(|op| (g, op)))
        {
            return Err(Failure::Message(format!(
                "the cpu backend does not run `{op}` yet (graph @{}), so {} has no {} stage; `--stage simplify` shows the training step",
                g.name,
                path.display(),
                stage.name()
            )));
        }
    }
    if matches!(stage, Stage::Fuse | Stage::PlanMemory) {
        let progs: Vec<String> = graphs
            .iter()
            .map(|g| {
                let mut p = crate::passes::fuse::fuse(g);
                if stage == Stage::PlanMemory {
                    crate::passes::plan_memory::plan_memory(&mut p);
                }
                crate::kernel::print::print(&p)
            })
            .collect();
        return Ok(progs.join("\n"));
    }
    if stage == Stage::Codegen {
        let mut out = Vec::new();
        for g in &graphs {
            out.push(
                crate::backend::cpu::clif_text(g).map_err(|e| Failure::Message(e.to_string()))?,
            );
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
