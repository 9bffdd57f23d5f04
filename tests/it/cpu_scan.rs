//! The cpu backend's `scan` against the interpreter: the recurrent layers
//! (RNN, LSTM, GRU; every state and the last one) forward and through their
//! gradient, which is a reverse scan, plus the loop's corners — a reverse
//! scan, `T = 1`, a time-major scan over integer sequences with an output
//! that passes an input through, carries that swap places each step, and a
//! scan inside a scan body. Each graph goes through the `cpu_oracle`
//! harness (printed, reparsed, run on the kernel-program reference runner
//! and on the compiled backend, three seeded input sets).

use dlc::ir::print::print;
use dlc::ir::{DType, Dim, Graph, Role, Scan, Shape, TensorType, Value};
use dlc::passes::autodiff::grad;
use dlc::passes::simplify::simplify;
use dlc::sema::layers::recurrent::{gru, lstm, rnn, GruWeights, LstmWeights, RnnWeights};

use crate::cpu_oracle::agree_all_within;
use crate::scan::{body, f64t, linear_body, nested_body, rnn_body, scan1, scan_graph};

#[derive(Clone, Copy)]
enum Cell {
    Rnn,
    Lstm,
    Gru,
}

fn f32t(dims: &[Dim]) -> TensorType {
    TensorType::new(DType::F32, Shape(dims.to_vec()))
}

/// A recurrent layer over `x: f32[N, t, feat]` with `hid` units; output
/// `y` (every state, or the last).
fn layer(cell: Cell, t: &str, feat: usize, hid: usize, all: bool) -> Graph {
    let mut g = Graph::new("layer");
    let n = Dim::Sym("N".into());
    let t = t.parse().map_or_else(|_| Dim::Sym(t.into()), Dim::Fixed);
    let x = g.input("x", Role::Data, f32t(&[n, t, feat.into()]));
    let gates = match cell {
        Cell::Rnn => hid,
        Cell::Lstm => 4 * hid,
        Cell::Gru => 3 * hid,
    };
    let param = |g: &mut Graph, name: &str, dims: &[usize]| -> Value {
        let dims: Vec<Dim> = dims.iter().map(|&d| d.into()).collect();
        g.input(name, Role::Param, f32t(&dims))
    };
    let w_ih = param(&mut g, "w_ih", &[feat, gates]);
    let w_hh = param(&mut g, "w_hh", &[hid, gates]);
    let y = match cell {
        Cell::Rnn => {
            let bias = param(&mut g, "b", &[gates]);
            rnn(&mut g, x, &RnnWeights { w_ih, w_hh, bias }, None, all)
        }
        Cell::Lstm => {
            let bias = param(&mut g, "b", &[gates]);
            lstm(&mut g, x, &LstmWeights { w_ih, w_hh, bias }, None, all)
        }
        Cell::Gru => {
            let b_ih = param(&mut g, "b_ih", &[gates]);
            let b_hh = param(&mut g, "b_hh", &[gates]);
            let w = GruWeights {
                w_ih,
                w_hh,
                b_ih,
                b_hh,
            };
            gru(&mut g, x, &w, None, all)
        }
    };
    g.output("y", y);
    g
}

/// `g`'s loss `sum(y · y)` and its gradient with respect to every input,
/// simplified as a training step is.
fn with_gradient(mut g: Graph) -> Graph {
    let y = g.outputs[0].value;
    let sq = g.mul(y, y);
    let axes: Vec<usize> = (0..g.ty(sq).rank()).collect();
    let loss = g.sum(sq, axes);
    g.outputs.clear();
    g.output("loss", loss);
    let wrt = g.inputs.clone();
    simplify(&grad(&g, "loss", &wrt))
}

/// Every cell, every-state and last-state forms, sequence lengths 1 and 7
/// (and symbolic), odd feature and hidden sizes.
#[test]
fn recurrent_layers_forward_agree_with_the_interpreter() {
    for cell in [Cell::Rnn, Cell::Lstm, Cell::Gru] {
        for (t, feat, hid) in [("7", 3, 5), ("1", 2, 3), ("T", 1, 4)] {
            for all in [true, false] {
                agree_all_within(&print(&layer(cell, t, feat, hid, all)), 1e-5);
            }
        }
    }
}

/// Backpropagation through time: the forward scan saving its carries and
/// the reverse scan of the differentiated body, compiled.
#[test]
fn recurrent_layer_gradients_agree_with_the_interpreter() {
    for cell in [Cell::Rnn, Cell::Lstm, Cell::Gru] {
        for (t, feat, hid) in [("6", 3, 5), ("1", 2, 3)] {
            for all in [true, false] {
                let g = with_gradient(layer(cell, t, feat, hid, all));
                agree_all_within(&print(&g), 1e-4);
            }
        }
    }
}

#[test]
fn a_reverse_scan_and_its_gradient() {
    let mut s = scan1(rnn_body("N", 2, 3), 1);
    s.reverse = true;
    let g = scan_graph(s, "5");
    agree_all_within(&print(&g), 1e-5);
    let mut l = g.clone();
    let (h, y) = (l.outputs[0].value, l.outputs[1].value);
    let sh = l.sum(h, vec![0, 1]);
    let sy = l.sum(y, vec![0, 1, 2]);
    let loss = l.add(sh, sy);
    l.outputs.clear();
    l.output("loss", loss);
    let wrt = l.inputs.clone();
    agree_all_within(&print(&grad(&l, "loss", &wrt)), 1e-5);
}

#[test]
fn time_major_integer_sequences_with_a_passed_through_output() {
    // axis 0, so each step's slice is contiguous and read in place; the
    // body returns its slice input unchanged as an output.
    let b = body(
        "count",
        &[
            ("s", f64t(&["N", "2"])),
            (
                "x",
                TensorType::new(DType::I32, Shape(vec![Dim::Sym("N".into()), 2.into()])),
            ),
        ],
        |g, a| {
            let xf = g.cast(a[1], DType::F64);
            let s = g.add(a[0], xf);
            let one = g.constant_like(1.0, a[1]);
            let big = g.compare(dlc::ir::CmpOp::Gt, a[1], one);
            vec![("s", s), ("x2", a[1]), ("big", big)]
        },
    );
    let s = Scan {
        body: b,
        carries: 1,
        sequences: 1,
        axis: 0,
        reverse: false,
    };
    agree_all_within(&print(&scan_graph(s, "4")), 1e-5);
}

#[test]
fn carries_that_swap_places_each_step() {
    // (a, b) -> (b, a + x): a step must read the old carries while the new
    // ones are written.
    let b = body(
        "swap",
        &[
            ("a", f64t(&["N", "2"])),
            ("b", f64t(&["N", "2"])),
            ("x", f64t(&["N", "2"])),
        ],
        |g, a| {
            let s = g.add(a[0], a[2]);
            vec![("a", a[1]), ("b", s), ("y", a[0])]
        },
    );
    for t in ["5", "0", "1"] {
        agree_all_within(&print(&scan_graph(scan1(b.clone(), 2), t)), 1e-5);
    }
}

#[test]
fn a_linear_recurrence_and_a_scan_inside_a_scan() {
    agree_all_within(
        &print(&scan_graph(scan1(linear_body("N", 3), 1), "T")),
        1e-5,
    );
    agree_all_within(&print(&scan_graph(scan1(nested_body(), 1), "T")), 1e-5);
}

/// `tanh`, the cells' activation, is computed in registers for f32 (a
/// polynomial near 0, `1 - 2/(e^{2|x|}+1)` beyond): both sides of the
/// switch at 0.625, saturation, and the scalar tail of an odd length.
#[test]
fn inlined_f32_tanh_over_its_whole_range() {
    for scale in ["0.01", "0.3", "1", "4", "60"] {
        agree_all_within(
            &format!(
                "graph @t(%a: f32[N,7] data) -> (%y: f32[N,7]) {{
  %s = const {scale} : f32[N,7]
  %m = mul %a, %s : f32[N,7]
  %y = tanh %m : f32[N,7]
  return %y = %y
}}"
            ),
            1e-6,
        );
    }
}

/// Batch 10 and 8 hidden units: the step's product `h·W_hh` (10×8 times
/// 8×32) packs `W_hh` once per run of the scan (`small_gemm::Packed`), and
/// so does the gradient's reverse scan (`dY·W_hhᵀ`, packed from the
/// transpose); with the harness's batch of 3 neither would.
#[test]
fn a_cell_product_against_weights_packed_once() {
    for all in [true, false] {
        let g = with_gradient(layer(Cell::Lstm, "5", 3, 8, all));
        let text = print(&g)
            .replace("[N,", "[10,")
            .replace(",N,", ",10,")
            .replace(",N]", ",10]")
            .replace("[N]", "[10]");
        assert!(!text.contains(",N") && !text.contains("[N"), "{text}");
        agree_all_within(&text, 1e-4);
    }
}
