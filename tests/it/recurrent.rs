//! The recurrent layers of `sema::layers::recurrent` (RNN, LSTM, GRU as scans):
//! their values against PyTorch's equations computed by hand in plain f64
//! for a scalar cell, their values and gradients against an unrolled
//! oracle built from primitives (one copy of the cell per step, only a test
//! oracle: it grows with T), and their gradients against central
//! differences, with and without initial states, returning every state or
//! the last, with a fixed and a symbolic batch. The language's `rnn`,
//! `lstm` and `gru` calls, checked and lowered, against the same oracle,
//! with their parameter paths, initializers and stacking.

use dlc::backend::interp::eval;
use dlc::ir::verify::verify;
use dlc::ir::{CmpOp, DType, Graph, Op, Role, Shape, TensorType, UnaryOp, Value};
use dlc::passes::autodiff::grad;
use dlc::sema::layers::recurrent::{gru, lstm, rnn, GruWeights, LstmWeights, RnnWeights};
use dlc::tensor::Tensor;

use crate::common::{check_files, show};
use crate::gradcheck::fd::{self, sample, Domain, Rng};
use crate::scan::{f64t, sigmoid};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cell {
    Rnn,
    Lstm,
    Gru,
}

impl Cell {
    /// Gates per hidden unit.
    fn gates(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
    /// Carried states: `h`, or `h` and `c`.
    fn states(self) -> usize {
        if self == Cell::Lstm {
            2
        } else {
            1
        }
    }
}

/// The graph inputs of a layer, in order: `x: [n, T, f]`, the initial
/// states when `init`, then the weights (`w_ih, w_hh, bias` or, for the
/// GRU, `w_ih, w_hh, b_ih, b_hh`).
struct Layer {
    cell: Cell,
    n: &'static str,
    t: usize,
    f: usize,
    h: usize,
    init: bool,
    seqs: bool,
}

impl Layer {
    fn input_types(&self) -> Vec<(String, TensorType)> {
        let (t, f, h, gh) = (
            self.t.to_string(),
            self.f.to_string(),
            self.h.to_string(),
            (self.h * self.cell.gates()).to_string(),
        );
        let mut v = vec![("x".to_string(), f64t(&[self.n, &t, &f]))];
        if self.init {
            for s in ["h0", "c0"].iter().take(self.cell.states()) {
                v.push((s.to_string(), f64t(&[self.n, &h])));
            }
        }
        v.push(("w_ih".into(), f64t(&[&f, &gh])));
        v.push(("w_hh".into(), f64t(&[&h, &gh])));
        if self.cell == Cell::Gru {
            v.push(("b_ih".into(), f64t(&[&gh])));
            v.push(("b_hh".into(), f64t(&[&gh])));
        } else {
            v.push(("bias".into(), f64t(&[&gh])));
        }
        v
    }

    /// The graph: inputs as above, output `y`; the layer built by `build`.
    fn graph(&self, build: impl FnOnce(&mut Graph, &Layer, &[Value]) -> Value) -> Graph {
        let mut g = Graph::new(format!("{:?}", self.cell).to_lowercase());
        let args: Vec<Value> = self
            .input_types()
            .into_iter()
            .map(|(n, t)| g.input(n, Role::Param, t))
            .collect();
        let y = build(&mut g, self, &args);
        g.output("y", y);
        g
    }

    /// The layer as `sema::layers::recurrent` lowers it.
    fn scanned(&self) -> Graph {
        self.graph(|g, l, a| {
            let s = if l.init { l.cell.states() } else { 0 };
            let w = &a[1 + s..];
            match l.cell {
                Cell::Rnn => {
                    let w = RnnWeights {
                        w_ih: w[0],
                        w_hh: w[1],
                        bias: w[2],
                    };
                    rnn(g, a[0], &w, l.init.then(|| a[1]), l.seqs)
                }
                Cell::Lstm => {
                    let w = LstmWeights {
                        w_ih: w[0],
                        w_hh: w[1],
                        bias: w[2],
                    };
                    lstm(g, a[0], &w, l.init.then(|| (a[1], a[2])), l.seqs)
                }
                Cell::Gru => {
                    let w = GruWeights {
                        w_ih: w[0],
                        w_hh: w[1],
                        b_ih: w[2],
                        b_hh: w[3],
                    };
                    gru(g, a[0], &w, l.init.then(|| a[1]), l.seqs)
                }
            }
        })
    }

    /// The same layer unrolled over its `T` steps from primitives, with
    /// each gate's weights cut out of the packed ones by a matmul with a
    /// 0/1 selection matrix.
    fn unrolled(&self) -> Graph {
        self.graph(|g, l, a| {
            let s = if l.init { l.cell.states() } else { 0 };
            let w = &a[1 + s..];
            let mut state_ty = TensorType::new(DType::F64, g.ty(a[0]).shape.clone());
            state_ty.shape.0.remove(1);
            state_ty.shape.0[1] = l.h.into();
            let zero = |g: &mut Graph| g.constant(0.0, state_ty.clone());
            let mut h = if l.init { a[1] } else { zero(g) };
            let mut c = if l.init && l.cell == Cell::Lstm {
                a[2]
            } else {
                zero(g)
            };
            let mut hs = Vec::new();
            for t in 0..l.t {
                let x = step_of(g, a[0], t);
                // x W_k + h U_k + b_k for gate k, with the GRU's two biases apart.
                let wk = |g: &mut Graph, m: Value, k: usize| gate_cols(g, m, k, l.h);
                let lin = |g: &mut Graph, v: Value, m: Value, k: usize, b: Value| {
                    let mk = wk(g, m, k);
                    let y = g.matmul(v, mk);
                    let bk = gate_bias(g, b, k, l.h);
                    let bb = g.broadcast_trailing(bk, g.ty(y).shape.clone());
                    g.add(y, bb)
                };
                match l.cell {
                    Cell::Rnn => {
                        let xw = lin(g, x, w[0], 0, w[2]);
                        let hu = g.matmul(h, w[1]);
                        let z = g.add(xw, hu);
                        h = g.unary(UnaryOp::Tanh, z);
                    }
                    Cell::Lstm => {
                        let gate = |g: &mut Graph, k: usize| {
                            let xw = lin(g, x, w[0], k, w[2]);
                            let uk = wk(g, w[1], k);
                            let hu = g.matmul(h, uk);
                            g.add(xw, hu)
                        };
                        let (i, f, gg, o) = (gate(g, 0), gate(g, 1), gate(g, 2), gate(g, 3));
                        let (i, f, o) = (sigmoid(g, i), sigmoid(g, f), sigmoid(g, o));
                        let gg = g.unary(UnaryOp::Tanh, gg);
                        let fc = g.mul(f, c);
                        let ig = g.mul(i, gg);
                        c = g.add(fc, ig);
                        let tc = g.unary(UnaryOp::Tanh, c);
                        h = g.mul(o, tc);
                    }
                    Cell::Gru => {
                        let xr = lin(g, x, w[0], 0, w[2]);
                        let hr = lin(g, h, w[1], 0, w[3]);
                        let xz = lin(g, x, w[0], 1, w[2]);
                        let hz = lin(g, h, w[1], 1, w[3]);
                        let xn = lin(g, x, w[0], 2, w[2]);
                        let hn = lin(g, h, w[1], 2, w[3]);
                        let r = g.add(xr, hr);
                        let r = sigmoid(g, r);
                        let z = g.add(xz, hz);
                        let z = sigmoid(g, z);
                        let rh = g.mul(r, hn);
                        let n = g.add(xn, rh);
                        let n = g.unary(UnaryOp::Tanh, n);
                        // (1 - z) n + z h
                        let one = g.constant_like(1.0, z);
                        let omz = g.sub(one, z);
                        let from_n = g.mul(omz, n);
                        let from_h = g.mul(z, h);
                        h = g.add(from_n, from_h);
                    }
                }
                hs.push(h);
            }
            if l.seqs {
                stack(g, &hs, a[0])
            } else {
                h
            }
        })
    }
}

/// `x[:, t, :]` of `x: [N, T, F]`, by masking the other steps and summing.
fn step_of(g: &mut Graph, x: Value, t: usize) -> Value {
    let ty = g.ty(x).clone();
    let idx = g.push(Op::Iota { axis: 1 }, &[], Some(ty.with_dtype(DType::I32)));
    let k = g.constant_like(t as f64, idx);
    let hit = g.compare(CmpOp::Eq, idx, k);
    let zero = g.constant_like(0.0, x);
    let m = g.select(hit, x, zero);
    g.sum(m, vec![1])
}

/// The states `hs` (each `[N, H]`) stacked as `[N, T, H]`, `T` from `x`.
fn stack(g: &mut Graph, hs: &[Value], x: Value) -> Value {
    let mut shape = g.ty(x).shape.clone();
    shape.0[2] = g.ty(hs[0]).shape.0[1].clone();
    let idx = g.push(
        Op::Iota { axis: 1 },
        &[],
        Some(TensorType::new(DType::I32, shape.clone())),
    );
    let mut acc = g.constant(0.0, TensorType::new(DType::F64, shape.clone()));
    for (t, &h) in hs.iter().enumerate() {
        let hb = g.broadcast_to(h, shape.clone(), vec![0, 2]);
        let k = g.constant_like(t as f64, idx);
        let hit = g.compare(CmpOp::Eq, idx, k);
        let zero = g.constant_like(0.0, hb);
        let m = g.select(hit, hb, zero);
        acc = g.add(acc, m);
    }
    acc
}

/// Columns `k*h .. (k+1)*h` of `m: [a, gates*h]`, as `m S` with the 0/1
/// selection matrix `S[r, c] = (r == c + k h)`.
fn gate_cols(g: &mut Graph, m: Value, k: usize, h: usize) -> Value {
    let wide = g.ty(m).shape.0[1].fixed().unwrap();
    let sel_i32 = TensorType::new(DType::I32, Shape::fixed(&[wide, h]));
    let rows = g.push(Op::Iota { axis: 0 }, &[], Some(sel_i32.clone()));
    let cols = g.push(Op::Iota { axis: 1 }, &[], Some(sel_i32));
    let off = g.constant_like((k * h) as f64, cols);
    let shifted = g.add(cols, off);
    let hit = g.compare(CmpOp::Eq, rows, shifted);
    let sel = g.cast(hit, DType::F64);
    g.matmul(m, sel)
}

/// Entries `k*h .. (k+1)*h` of the bias `b: [gates*h]`.
fn gate_bias(g: &mut Graph, b: Value, k: usize, h: usize) -> Value {
    let wide = g.ty(b).shape.0[0].fixed().unwrap();
    let row = g.reshape(b, Shape::fixed(&[1, wide]));
    let cut = gate_cols(g, row, k, h);
    g.reshape(cut, Shape::fixed(&[h]))
}

/// Seeded inputs for `l` with batch `n`: x and states from U(-1, 1),
/// weights from U(-0.8, 0.8).
fn inputs(l: &Layer, n: usize, seed: u64) -> Vec<Tensor> {
    let mut rng = Rng(seed);
    l.input_types()
        .iter()
        .map(|(name, ty)| {
            let shape: Vec<usize> = ty
                .shape
                .dims()
                .iter()
                .map(|d| d.fixed().unwrap_or(n))
                .collect();
            let d = if name.starts_with('w') || name.starts_with('b') {
                Domain::Uniform(-0.8, 0.8)
            } else {
                Domain::Uniform(-1.0, 1.0)
            };
            let v = sample(&mut rng, d, shape.iter().product());
            Tensor::from_f64(DType::F64, &shape, v)
        })
        .collect()
}

fn run(g: &Graph, inputs: &[Tensor]) -> Vec<Tensor> {
    let refs: Vec<&Tensor> = inputs.iter().collect();
    eval(g, &refs).unwrap_or_else(|e| panic!("@{}: {e}", g.name))
}

fn assert_close(a: &Tensor, b: &Tensor, tol: f64, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}");
    for (i, (x, y)) in a.to_f64_vec().iter().zip(b.to_f64_vec()).enumerate() {
        assert!((x - y).abs() <= tol, "{what}[{i}]: {x} vs {y}");
    }
}

/// Every layer configuration the checks run: each cell, with and without
/// initial states, all states or the last, T = 1 and 3, batch 2 or `N`.
fn layers() -> Vec<Layer> {
    let mut ls = Vec::new();
    for cell in [Cell::Rnn, Cell::Lstm, Cell::Gru] {
        for (init, seqs, t, n) in [
            (false, true, 3, "2"),
            (true, false, 3, "2"),
            (true, true, 1, "2"),
            (false, false, 1, "N"),
            (true, true, 3, "N"),
        ] {
            ls.push(Layer {
                cell,
                n,
                t,
                f: 2,
                h: 2,
                init,
                seqs,
            });
        }
    }
    ls
}

#[test]
fn scanned_layers_equal_their_unrolled_oracle_with_gradients() {
    for (k, l) in layers().iter().enumerate() {
        let what = format!(
            "{:?} init={} seqs={} T={} N={}",
            l.cell, l.init, l.seqs, l.t, l.n
        );
        let (s, u) = (l.scanned(), l.unrolled());
        verify(&s).unwrap_or_else(|e| panic!("{what}: {e}"));
        let xs = inputs(l, 3, 77 + k as u64);
        assert_close(&run(&s, &xs)[0], &run(&u, &xs)[0], 1e-12, &what);
        // Gradients of <y, cot> with respect to every input.
        let with_loss = |g: &Graph, cot: &Tensor| {
            let mut g = g.clone();
            let y = g.outputs[0].value;
            let c = g.input("cot", Role::Data, g.ty(y).clone());
            let p = g.mul(y, c);
            let all = (0..g.ty(y).rank()).collect();
            let loss = g.sum(p, all);
            g.output("loss", loss);
            let wrt: Vec<Value> = g.inputs[..g.inputs.len() - 1].to_vec();
            let mut ins = xs.clone();
            ins.push(cot.clone());
            run(&grad(&g, "loss", &wrt), &ins)
        };
        let y_shape = run(&s, &xs)[0].shape().to_vec();
        let mut rng = Rng(5 + k as u64);
        let n: usize = y_shape.iter().product();
        let cot = Tensor::from_f64(DType::F64, &y_shape, sample(&mut rng, Domain::Any, n));
        let (gs, gu) = (with_loss(&s, &cot), with_loss(&u, &cot));
        for (i, (a, b)) in gs[2..].iter().zip(&gu[2..]).enumerate() {
            assert_close(a, b, 1e-11, &format!("{what}: gradient {i}"));
        }
    }
}

#[test]
fn scanned_layers_match_finite_differences() {
    for (k, l) in layers().iter().enumerate() {
        let what = format!(
            "{:?} init={} seqs={} T={} N={}",
            l.cell, l.init, l.seqs, l.t, l.n
        );
        let g = l.scanned();
        let xs = inputs(l, 2, 300 + k as u64);
        let wrt: Vec<usize> = (0..xs.len()).collect();
        fd::check(
            &fd::Check {
                name: &what,
                graph: &g,
                output: "y",
                inputs: &xs,
                wrt: &wrt,
                h: fd::H,
                full_jacobian: l.t == 1 || l.n == "2",
            },
            &mut Rng(900 + k as u64),
        );
    }
}

/// One scalar layer (`N = F = H = 1`, `T = 2`) from the given weights, run
/// on `x`; its final `h` (and, for the LSTM, the `h` of both steps).
fn scalar_run(cell: Cell, x: [f64; 2], w: &[Vec<f64>]) -> Vec<f64> {
    let l = Layer {
        cell,
        n: "1",
        t: 2,
        f: 1,
        h: 1,
        init: false,
        seqs: true,
    };
    let g = l.scanned();
    let mut ins = vec![Tensor::from_f64(DType::F64, &[1, 2, 1], x.to_vec())];
    for (v, (_, ty)) in w.iter().zip(&l.input_types()[1..]) {
        let shape: Vec<usize> = ty.shape.dims().iter().map(|d| d.fixed().unwrap()).collect();
        ins.push(Tensor::from_f64(DType::F64, &shape, v.clone()));
    }
    run(&g, &ins)[0].to_f64_vec()
}

fn sig(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

#[test]
fn gate_order_and_placement_follow_pytorch() {
    let x = [0.7, -1.3];
    // PyTorch's equations, written out for one unit, each gate with its own
    // weights so that a swapped gate changes the result.
    let (wih, whh, b) = (
        vec![0.5, -0.4, 0.9, 0.3],
        vec![-0.6, 0.8, 0.2, -0.7],
        vec![0.1, 0.6, -0.2, 0.4],
    );
    let (mut h, mut c, mut hs) = (0.0f64, 0.0f64, vec![]);
    for &xt in &x {
        let z = |k: usize| xt * wih[k] + h * whh[k] + b[k];
        let (i, f, g, o) = (sig(z(0)), sig(z(1)), z(2).tanh(), sig(z(3)));
        c = f * c + i * g;
        h = o * c.tanh();
        hs.push(h);
    }
    let got = scalar_run(Cell::Lstm, x, &[wih, whh, b]);
    assert_close_vec(&got, &hs, "lstm");

    let (wih, whh, bih, bhh) = (
        vec![0.5, -0.4, 0.9],
        vec![-0.6, 0.8, 0.2],
        vec![0.1, 0.6, -0.2],
        vec![0.3, -0.5, 0.7],
    );
    let (mut h, mut hs) = (0.0f64, vec![]);
    for &xt in &x {
        let r = sig(xt * wih[0] + bih[0] + h * whh[0] + bhh[0]);
        let z = sig(xt * wih[1] + bih[1] + h * whh[1] + bhh[1]);
        let n = (xt * wih[2] + bih[2] + r * (h * whh[2] + bhh[2])).tanh();
        h = (1.0 - z) * n + z * h;
        hs.push(h);
    }
    let got = scalar_run(Cell::Gru, x, &[wih, whh, bih, bhh]);
    assert_close_vec(&got, &hs, "gru");

    let (wih, whh, b) = (vec![0.5], vec![-0.6], vec![0.1]);
    let (mut h, mut hs) = (0.0f64, vec![]);
    for &xt in &x {
        h = (xt * wih[0] + h * whh[0] + b[0]).tanh();
        hs.push(h);
    }
    let got = scalar_run(Cell::Rnn, x, &[wih, whh, b]);
    assert_close_vec(&got, &hs, "rnn");
}

fn assert_close_vec(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-14, "{what}: {a:?} vs {b:?}");
    }
}

#[test]
fn the_layer_is_one_scan_whatever_the_length() {
    let size = |t: usize| {
        let l = Layer {
            cell: Cell::Lstm,
            n: "N",
            t,
            f: 3,
            h: 4,
            init: false,
            seqs: false,
        };
        let g = l.scanned();
        let scans = g
            .nodes()
            .filter(|&v| matches!(g.op(v), Op::Scan(_)))
            .count();
        (g.len(), scans)
    };
    assert_eq!(size(2), size(64));
    assert_eq!(size(2).1, 1);
}

/// `src`, checked; diagnostics rendered on failure.
fn checked(src: &str) -> dlc::sema::program::Program {
    check_files(src).unwrap_or_else(|d| panic!("{}", show(src, &d)))
}

#[test]
fn language_layers_lower_to_the_unrolled_oracle() {
    for (k, cell) in [Cell::Rnn, Cell::Lstm, Cell::Gru].into_iter().enumerate() {
        for seqs in [true, false] {
            let name = format!("{cell:?}").to_lowercase();
            let src = format!(
                "model m {{\n  input x: f64[N, 3, 2]\n  output y = {name}(x, 2, return_sequences: {seqs})\n}}\n"
            );
            let p = checked(&src);
            let model = &p.models[0];
            let g = dlc::passes::lower::lower(model, dlc::passes::lower::Mode::Eval);
            verify(&g).unwrap_or_else(|e| panic!("{name}: {e}"));
            // Data first, then the parameters in the oracle's order.
            let l = Layer {
                cell,
                n: "N",
                t: 3,
                f: 2,
                h: 2,
                init: false,
                seqs,
            };
            let want: Vec<(String, TensorType)> = l
                .input_types()
                .into_iter()
                .skip(1)
                .map(|(n, t)| (format!("m.y.{n}"), t))
                .collect();
            let got: Vec<(String, TensorType)> = model
                .params
                .iter()
                .map(|p| (p.path.clone(), p.ty.clone()))
                .collect();
            assert_eq!(got, want, "{name}");
            let xs = inputs(&l, 4, 300 + k as u64);
            let what = format!("{name} return_sequences={seqs}");
            assert_close(&run(&g, &xs)[0], &run(&l.unrolled(), &xs)[0], 1e-12, &what);
        }
    }
}

#[test]
fn recurrent_layers_stack_and_initialize_as_pytorch() {
    let p = checked(
        "model m {\n  input x: f32[N, 5, 3]\n  h = lstm(lstm(x, 8, return_sequences: true), 4)\n  s = gru(x, 6, return_sequences: true, init: glorot_uniform)\n  output y = dense(h, 1)\n  output z = rnn(s, 2)\n}\n",
    );
    let m = &p.models[0];
    let params: Vec<(&str, Vec<usize>)> = m
        .params
        .iter()
        .map(|p| {
            let dims =
                p.ty.shape
                    .dims()
                    .iter()
                    .map(|d| d.fixed().unwrap())
                    .collect();
            (p.path.as_str(), dims)
        })
        .collect();
    assert_eq!(
        params,
        [
            ("m.h.w_ih", vec![3, 32]),
            ("m.h.w_hh", vec![8, 32]),
            ("m.h.bias", vec![32]),
            ("m.h.1.w_ih", vec![8, 16]),
            ("m.h.1.w_hh", vec![4, 16]),
            ("m.h.1.bias", vec![16]),
            ("m.s.w_ih", vec![3, 18]),
            ("m.s.w_hh", vec![6, 18]),
            ("m.s.b_ih", vec![18]),
            ("m.s.b_hh", vec![18]),
            ("m.y.weight", vec![4, 1]),
            ("m.y.bias", vec![1]),
            ("m.z.w_ih", vec![6, 2]),
            ("m.z.w_hh", vec![2, 2]),
            ("m.z.bias", vec![2]),
        ]
        .map(|(n, d)| (n, d.to_vec()))
    );
    use dlc::sema::init::Init;
    // PyTorch's U(-1/sqrt(H), 1/sqrt(H)) for every parameter by default;
    // with `init:`, that for the weights and zero biases.
    let half = 1.0 / 8f64.sqrt();
    assert_eq!(
        m.params[0].init,
        Init::Uniform {
            low: -half,
            high: half
        }
    );
    assert_eq!(m.params[2].init, m.params[0].init);
    assert_eq!(m.params[6].init, Init::GlorotUniform);
    assert_eq!(m.params[8].init, Init::Zeros);
    let ty = |name: &str| {
        let id = m.outputs.iter().find(|(n, _)| n == name).unwrap().1;
        m.nodes[id].ty.to_string()
    };
    assert_eq!(ty("y"), "f32[N,1]");
    assert_eq!(ty("z"), "f32[N,2]");
    let seq = m.nodes.iter().find(|n| n.name == "m.h").unwrap();
    assert_eq!(seq.ty.to_string(), "f32[N,5,8]");
    // And it lowers, verifies and runs.
    let g = dlc::passes::lower::lower(m, dlc::passes::lower::Mode::Eval);
    verify(&g).unwrap();
}
