//! Fusion: graph → kernel program. Greedy and local: a value gets a buffer
//! of its own ("is materialized") only when it must — a graph output, a
//! reduction or contraction result, a matmul operand, the source of a real
//! reshape, a value read by several users (unless recomputing it is only a
//! load), or a computed value about to be broadcast (recomputing it per
//! broadcast element would multiply its cost). Everything else is inlined
//! into the kernel of the materialized value that reads it: elementwise
//! chains become one loop body, broadcasts and transposes become strides in
//! the loads (a slice of a buffer an offset and scaled strides), and a
//! reduction absorbs the chain that feeds it. Ops that
//! run as library routines (convolution, pooling, movement, indexing,
//! random) read and write whole buffers: their operands and results are
//! all materialized. So does a scan, whose results are its `get`s' buffers
//! and whose body is fused on its own (`fuse/scan.rs`).
//!
//! A contraction whose only reader is an elementwise kernel over the same
//! shape reading it in place takes that kernel as its epilogue (bias add,
//! activation), so its result is written once. Sibling elementwise loops
//! over the same shape then become one loop with several outputs
//! (`fuse/merge.rs`). Finally every loop nest is normalized: size-1 axes
//! are dropped and adjacent axes that every access walks contiguously are
//! merged, so the backends see few, long loops.

mod epilogue;
mod expr;
mod merge;
mod normalize;
mod operands;
mod scan;

use epilogue::{fuse_epilogues, remove_buffer};
use expr::ExprBuilder;
use normalize::normalize;
use operands::{
    is_map_reshape, matmul_kernel, needed_nodes, peel_operand, reads_value, slice_offset,
    summed_matmuls,
};

use crate::ir::{Graph, Op, Value};
use crate::kernel::{extents, BufId, BufKind, Buffer, Kernel, KernelProgram, MemoryPlan, Routine};

/// The first op of `g` (or of a scan body in it) that the kernel program
/// cannot express yet, if any: backends that run kernel programs refuse
/// such graphs up front, with its name in the message. Today there is
/// none; a scan is a [`Kernel::Scan`] whose body is fused on its own.
pub fn unsupported_op(g: &Graph) -> Option<&'static str> {
    g.nodes().find_map(|v| match g.op(v) {
        Op::Scan(s) => unsupported_op(&s.body),
        _ => None,
    })
}

/// The kernel program for `g` (a verified graph without unsupported ops,
/// see [`unsupported_op`]), memory not yet planned.
pub fn fuse(g: &Graph) -> KernelProgram {
    let n = g.len();
    let needed = needed_nodes(g);
    let users: Vec<Vec<Value>> = g
        .nodes()
        .map(|v| {
            g.users(v)
                .into_iter()
                .filter(|&u| needed[u.index()] && reads_value(g.op(u)))
                .collect()
        })
        .collect();

    let summed = summed_matmuls(g, &users);
    // Values that must have a buffer whatever their users.
    let mut mat = vec![false; n];
    for o in &g.outputs {
        mat[o.value.index()] = true;
    }
    for v in g.nodes().filter(|v| needed[v.index()]) {
        let ops = g.operands(v);
        match g.op(v) {
            Op::Input { .. } | Op::Reduce { .. } | Op::Get { .. } => mat[v.index()] = true,
            Op::MatMul => mat[v.index()] = !summed[v.index()],
            // A scan reads whole buffers; its results are its `get`s'.
            Op::Scan(_) => ops.iter().for_each(|o| mat[o.index()] = true),
            // A slice of a buffer is a load at an offset (its own buffer
            // only if something else makes it one).
            Op::Slice { .. } if slice_offset(g, v).is_some() => mat[ops[0].index()] = true,
            op if Routine::of(op).is_some() => {
                // A library routine reads and writes whole buffers.
                mat[v.index()] = true;
                for &o in &ops {
                    mat[o.index()] = true;
                }
            }
            Op::Reshape if !is_map_reshape(g, v) => {
                mat[v.index()] = true;
                mat[ops[0].index()] = true;
            }
            _ => {}
        }
        if matches!(g.op(v), Op::MatMul) {
            for o in ops {
                mat[peel_operand(g, o).0.index()] = true;
            }
        }
    }
    // Shared or broadcast values, decided in build order so that whether an
    // operand is a plain load (cheap to recompute) is already known.
    let mut cheap = vec![false; n];
    for v in g.nodes().filter(|v| needed[v.index()]) {
        let i = v.index();
        cheap[i] = match g.op(v) {
            Op::Input { .. } | Op::Const { .. } | Op::Iota { .. } | Op::DimSize { .. } => true,
            Op::Broadcast { .. } | Op::Transpose { .. } | Op::Reshape => {
                let o = g.operands(v)[0].index();
                cheap[o] || mat[o]
            }
            Op::Slice { .. } => slice_offset(g, v).is_some(),
            _ => false,
        };
        if mat[i] || cheap[i] || matches!(g.op(v), Op::Scan(_)) {
            continue;
        }
        let broadcast = users[i]
            .iter()
            .any(|&u| matches!(g.op(u), Op::Broadcast { .. }));
        if users[i].len() > 1 || (broadcast && g.ty(v).rank() > 0) {
            mat[i] = true;
        }
    }

    // Buffers, in build order.
    let mut prog = KernelProgram {
        name: g.name.clone(),
        buffers: Vec::new(),
        inputs: Vec::new(),
        kernels: Vec::new(),
        outputs: Vec::new(),
        plan: MemoryPlan::default(),
    };
    let mut buf_of: Vec<Option<BufId>> = vec![None; n];
    let mut temps = 0usize;
    for v in g.nodes().filter(|v| mat[v.index()] && needed[v.index()]) {
        let out_name = g.outputs.iter().find(|o| o.value == v).map(|o| &o.name);
        let (name, kind) = match g.op(v) {
            Op::Input { name, role } => {
                let index = g.inputs.iter().position(|&i| i == v).unwrap_or_else(|| {
                    panic!("internal: input node %{} is not a graph input", v.index())
                });
                (name.clone(), BufKind::Input { index, role: *role })
            }
            Op::Reshape if !is_map_reshape(g, v) => {
                let of = buf_of[g.operands(v)[0].index()]
                    .expect("internal: reshape source has a buffer");
                let name = out_name.cloned().unwrap_or_else(|| {
                    temps += 1;
                    format!("t{}", temps - 1)
                });
                (name, BufKind::View { of })
            }
            _ => match out_name {
                Some(o) => (o.clone(), BufKind::Output),
                None => {
                    temps += 1;
                    (format!("t{}", temps - 1), BufKind::Temp)
                }
            },
        };
        buf_of[v.index()] = Some(prog.buffers.len());
        prog.buffers.push(Buffer {
            name,
            ty: g.ty(v).clone(),
            kind,
            slot: None,
        });
    }
    prog.inputs = g
        .inputs
        .iter()
        .map(|&v| match buf_of[v.index()] {
            Some(b) => b,
            None => {
                // An input nothing reads still has a place in the call.
                let (name, role) = g.input_info(v);
                let index = g.inputs.iter().position(|&i| i == v).unwrap_or(0);
                prog.buffers.push(Buffer {
                    name: name.to_string(),
                    ty: g.ty(v).clone(),
                    kind: BufKind::Input { index, role },
                    slot: None,
                });
                prog.buffers.len() - 1
            }
        })
        .collect();
    prog.outputs = g
        .outputs
        .iter()
        .map(|o| (o.name.clone(), buf_of[o.value.index()].expect("internal")))
        .collect();

    // One kernel per materialized computed value (a scan writes its gets').
    for v in g.nodes().filter(|v| needed[v.index()]) {
        match g.op(v) {
            Op::Scan(s) => {
                prog.kernels.push(scan::kernel(g, v, s, &buf_of, &needed));
                continue;
            }
            Op::Get { .. } => continue,
            _ if !mat[v.index()] => continue,
            _ => {}
        }
        let out = buf_of[v.index()].expect("internal: materialized value has a buffer");
        if matches!(
            prog.buffers[out].kind,
            BufKind::Input { .. } | BufKind::View { .. }
        ) {
            continue;
        }
        let ty = g.ty(v);
        let kernel = match g.op(v) {
            Op::Reduce { .. } if summed[g.operands(v)[0].index()] => {
                let mm = g.operands(v)[0];
                matmul_kernel(g, mm, out, &buf_of, true)
            }
            Op::Reduce { op, axes } => {
                let src = g.operands(v)[0];
                let dims = extents(g.ty(src).shape.dims());
                let body = ExprBuilder::new(g, &buf_of, dims.len()).root(src);
                Kernel::Reduce {
                    out,
                    op: *op,
                    dims,
                    axes: axes.clone(),
                    body,
                }
            }
            Op::MatMul => matmul_kernel(g, v, out, &buf_of, false),
            op if Routine::of(op).is_some() => Kernel::Library {
                out,
                routine: Routine::of(op).expect("internal: a library op"),
                args: g
                    .operands(v)
                    .iter()
                    .map(|o| buf_of[o.index()].expect("internal: library operand buffer"))
                    .collect(),
            },
            _ => {
                let dims = extents(ty.shape.dims());
                let mut eb = ExprBuilder::new(g, &buf_of, dims.len());
                eb.skip_load = Some(v);
                Kernel::Elementwise {
                    out,
                    dims,
                    body: eb.root(v),
                    extra: Vec::new(),
                }
            }
        };
        prog.kernels.push(kernel);
    }

    fuse_epilogues(&mut prog);
    // Siblings are matched by their output shapes, before normalizing
    // merges axes one way in one and another way in the other.
    merge::merge_siblings(&mut prog);
    for k in &mut prog.kernels {
        normalize(k);
    }
    prog
}
