//! Gradient checks for every layer as `lower` builds it: a hand-built checked
//! model per case is lowered, differentiated by `autodiff::grad` with respect
//! to every parameter and every float data input, and compared with central
//! differences in f64 on the interpreter (random directions and the full
//! Jacobian). Batches are a symbolic `N` bound to 3–5; shapes include size-1
//! axes; inputs stay away from kinks (relu at 0, mae at 0, the BCE clamp).
//! A coverage test fails when a layer, activation, arithmetic op or loss has
//! no case. Value checks, numerical robustness and the training step under
//! simplification are in the submodules.

use std::collections::{HashMap, HashSet};

use dlc::backend::interp::eval;
use dlc::ir::verify::verify;
use dlc::ir::{DType, Dim, Graph, Shape, TensorType, Value};
use dlc::passes::autodiff::grad;
use dlc::passes::lower::{lower, Mode};
use dlc::sema::program::{Activation, ArithOp, Layer, LossKind, Model};
use dlc::tensor::Tensor;

use crate::gradcheck::fd::{self, sample, Domain, Rng};

mod attention;
mod modal;
mod model;
mod robust;
mod step;
mod values;

use model::{f64n, labels, ModelBuilder};

/// The run-time shape of `ty` with every symbol bound to `n`.
fn bind(ty: &TensorType, n: usize) -> Vec<usize> {
    ty.shape
        .dims()
        .iter()
        .map(|d| match d {
            Dim::Fixed(k) => *k,
            Dim::Sym(_) => n,
        })
        .collect()
}

/// One layer check: a model, the batch size, where each data input and
/// each parameter is drawn from, and the output to differentiate.
struct LayerCase {
    name: String,
    model: Model,
    n: usize,
    inputs: Vec<Domain>,
    /// Where weights are drawn from, and biases (params named `*.bias`).
    params: Domain,
    biases: Domain,
    output: &'static str,
    /// The lowering mode (train unless the case says otherwise).
    mode: Mode,
}

impl LayerCase {
    /// A case checking output `y`; parameters drawn from U(-2, 2).
    fn new(name: impl Into<String>, b: ModelBuilder, n: usize, inputs: &[Domain]) -> LayerCase {
        assert_eq!(b.model.inputs.len(), inputs.len(), "a domain per input");
        LayerCase {
            name: name.into(),
            model: b.model,
            n,
            inputs: inputs.to_vec(),
            params: Domain::Any,
            biases: Domain::Any,
            output: "y",
            mode: Mode::Train,
        }
    }
    /// Draws every parameter from `d`.
    fn params(mut self, d: Domain) -> LayerCase {
        self.params = d;
        self.biases = d;
        self
    }
    fn biases(mut self, d: Domain) -> LayerCase {
        self.biases = d;
        self
    }
    fn output(mut self, name: &'static str) -> LayerCase {
        self.output = name;
        self
    }
    fn eval(mut self) -> LayerCase {
        self.mode = Mode::Eval;
        self
    }
}

/// The fixed random key the checks feed a graph with dropout.
const KEY: i32 = 1234;

/// Values for a lowered model's inputs: the data inputs in the model's
/// order (labels as i32), then the parameters, then the state tensors
/// (positive, as running variances are), then the key if the graph has one.
fn draw(c: &LayerCase, rng: &mut Rng) -> Vec<Tensor> {
    let model = &c.model;
    let data = model
        .inputs
        .iter()
        .map(|(_, ty)| ty)
        .zip(c.inputs.iter().copied());
    let params = model.params.iter().map(|p| {
        let d = if p.path.ends_with(".bias") {
            c.biases
        } else {
            c.params
        };
        (&p.ty, d)
    });
    let states = model
        .states
        .iter()
        .map(|s| (&s.ty, Domain::Uniform(0.5, 2.0)));
    let mut values: Vec<Tensor> = data
        .chain(params)
        .chain(states)
        .map(|(ty, d)| {
            let shape = bind(ty, c.n);
            let v = sample(rng, d, shape.iter().product());
            Tensor::from_f64(ty.dtype, &shape, v)
        })
        .collect();
    if lowered_in(model, c.mode)
        .find_input(dlc::passes::lower::KEY)
        .is_some()
    {
        values.push(Tensor::scalar(DType::I32, KEY.into()));
    }
    values
}

/// `lower(model, Mode::Train)`, verified.
fn lowered(model: &Model) -> Graph {
    lowered_in(model, Mode::Train)
}

/// `lower(model, mode)`, verified.
fn lowered_in(model: &Model, mode: Mode) -> Graph {
    let g = lower(model, mode);
    if let Err(e) = verify(&g) {
        panic!("@{}: the lowered graph does not verify: {e}", model.name)
    }
    g
}

/// The float inputs of `g`, by position: what the checks differentiate.
fn float_inputs(g: &Graph) -> Vec<usize> {
    g.inputs
        .iter()
        .enumerate()
        .filter(|(_, &v)| g.ty(v).dtype.is_float())
        .map(|(i, _)| i)
        .collect()
}

/// `g` with a `grad.<input>` output per float input, for the scalar output
/// `loss`; verified.
fn with_grads(g: &Graph, loss: &str) -> Graph {
    let wrt: Vec<Value> = float_inputs(g).into_iter().map(|i| g.inputs[i]).collect();
    let gg = grad(g, loss, &wrt);
    if let Err(e) = verify(&gg) {
        panic!("@{}: the gradient graph does not verify: {e}", g.name)
    }
    gg
}

/// Runs `g` on the interpreter; the outputs by name.
fn run(g: &Graph, inputs: &[Tensor]) -> HashMap<String, Tensor> {
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let out = eval(g, &refs).unwrap_or_else(|e| panic!("@{}: {e}", g.name));
    g.outputs.iter().map(|o| o.name.clone()).zip(out).collect()
}

fn check(c: &LayerCase, seed: u64) {
    let g = lowered_in(&c.model, c.mode);
    let mut rng = Rng(seed);
    let inputs = draw(c, &mut rng);
    // Every param and every float data input.
    let wrt = float_inputs(&g);
    fd::check(
        &fd::Check {
            name: &c.name,
            graph: &g,
            output: c.output,
            inputs: &inputs,
            wrt: &wrt,
            h: fd::H,
            full_jacobian: true,
        },
        &mut rng,
    );
}

/// `y = layer(x)` for a one-input layer on `x: f64[N, dims...]`.
fn unary(
    name: &str,
    dims: &[usize],
    d: Domain,
    n: usize,
    f: impl FnOnce(&mut ModelBuilder, usize) -> usize,
) -> LayerCase {
    let mut b = ModelBuilder::new("m");
    let x = b.input("x", f64n(dims));
    let y = f(&mut b, x);
    b.output("y", y);
    LayerCase::new(name, b, n, &[d])
}

fn dense_cases() -> Vec<LayerCase> {
    vec![
        unary("input", &[1, 3], Domain::Any, 3, |_, x| x),
        unary("dense", &[3], Domain::Any, 4, |b, x| {
            b.dense("h", x, 2, true)
        }),
        // `[N, 1]`, no bias.
        unary("dense without bias", &[4], Domain::Any, 3, |b, x| {
            b.dense("h", x, 1, false)
        }),
        // Rank 3: the weight is broadcast over the leading axes.
        unary("dense rank 3", &[1, 3], Domain::Any, 5, |b, x| {
            b.dense("h", x, 2, true)
        }),
        // Two layers under one binding: paths `m.h` and `m.h.1`.
        unary("dense twice", &[2], Domain::Any, 3, |b, x| {
            let h = b.dense("h", x, 3, true);
            b.dense("h", h, 2, true)
        }),
        unary("flatten", &[2, 1, 3], Domain::Any, 4, |b, x| {
            let f = b.flatten(x);
            b.dense("h", f, 2, true)
        }),
        unary("layer_norm", &[1, 5], Domain::Any, 3, |b, x| {
            let y = b.layer_norm("ln", x, true);
            b.dense("h", y, 2, true)
        }),
        unary("layer_norm without affine", &[4], Domain::Any, 3, |b, x| {
            b.layer_norm("ln", x, false)
        }),
    ]
}

fn activation_cases() -> Vec<LayerCase> {
    let mut cases = vec![];
    for a in [
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Identity,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Elu { alpha: 1.5 },
        Activation::Softplus,
        Activation::Swish,
        Activation::Gelu,
    ] {
        // relu's kink is at 0.
        let d = match a {
            Activation::Relu | Activation::LeakyRelu { .. } | Activation::Elu { .. } => {
                Domain::AwayFromZero
            }
            Activation::Sigmoid
            | Activation::Tanh
            | Activation::Identity
            | Activation::Softplus
            | Activation::Swish
            | Activation::Gelu => Domain::Any,
        };
        cases.push(unary(a.name(), &[2, 1], d, 3, |b, x| b.activation(a, x)));
        // After a dense layer, so the parameters see it too. For relu:
        // integer inputs and weights and half-integer biases put every
        // pre-activation at least 1/2 from the kink.
        let c = unary(
            &format!("dense {}", a.name()),
            &[3],
            Domain::Lattice(0.0),
            4,
            |b, x| {
                let h = b.dense("h", x, 2, true);
                b.activation(a, h)
            },
        );
        cases.push(c.params(Domain::Lattice(0.0)).biases(Domain::Lattice(0.5)));
    }
    // 0.1 apart and through 0 exactly, where the stable form switches
    // branches: both must have the same slope.
    cases.push(unary(
        "sigmoid through 0",
        &[2],
        Domain::Distinct,
        3,
        |b, x| b.activation(Activation::Sigmoid, x),
    ));
    cases
}

fn softmax_cases() -> Vec<LayerCase> {
    vec![
        unary("softmax", &[4], Domain::Any, 3, |b, x| b.softmax(x, 1)),
        // Over the symbolic batch axis.
        unary("softmax axis 0", &[3], Domain::Any, 4, |b, x| {
            b.softmax(x, 0)
        }),
        unary("softmax middle axis", &[3, 1], Domain::Any, 3, |b, x| {
            b.softmax(x, 1)
        }),
        unary("log_softmax", &[4], Domain::Any, 5, |b, x| {
            b.log_softmax(x, 1)
        }),
        unary("log_softmax axis 0", &[1, 3], Domain::Any, 3, |b, x| {
            b.log_softmax(x, 0)
        }),
        unary("dense log_softmax", &[3], Domain::Any, 3, |b, x| {
            let h = b.dense("h", x, 4, true);
            b.log_softmax(h, 1)
        }),
    ]
}

fn arith_cases() -> Vec<LayerCase> {
    let mut cases = vec![];
    for op in [ArithOp::Add, ArithOp::Sub, ArithOp::Mul, ArithOp::Div] {
        // Divisors away from zero.
        let den = match op {
            ArithOp::Div => Domain::AwayFromZero,
            ArithOp::Add | ArithOp::Sub | ArithOp::Mul => Domain::Any,
        };
        let name = format!("{op:?}").to_lowercase();
        let two = |b: &mut ModelBuilder, ta: TensorType, tb: TensorType| {
            let x = b.input("a", ta);
            let y = b.input("b", tb);
            let z = b.arith(op, x, y);
            b.output("y", z);
        };
        let scalar = TensorType::new(DType::F64, Shape::scalar());
        let mut b = ModelBuilder::new("m");
        two(&mut b, f64n(&[1, 3]), f64n(&[1, 3]));
        cases.push(LayerCase::new(name.clone(), b, 3, &[Domain::Any, den]));
        let mut b = ModelBuilder::new("m");
        two(&mut b, f64n(&[2]), scalar.clone());
        cases.push(LayerCase::new(
            format!("{name} tensor, scalar"),
            b,
            4,
            &[Domain::Any, den],
        ));
        let mut b = ModelBuilder::new("m");
        two(&mut b, scalar, f64n(&[2]));
        cases.push(LayerCase::new(
            format!("{name} scalar, tensor"),
            b,
            3,
            &[Domain::Any, den],
        ));
        // Numbers written in the program, on either side.
        cases.push(unary(&format!("{name} const"), &[3], den, 3, |b, x| {
            let c = b.constant(2.5, x);
            b.arith(op, x, c)
        }));
        cases.push(unary(&format!("const {name}"), &[3], den, 3, |b, x| {
            let c = b.constant(-0.75, x);
            b.arith(op, c, x)
        }));
    }
    cases.push(unary("neg", &[1, 2], Domain::Any, 3, |b, x| b.neg(x)));
    cases
}

/// `loss(prediction, target)` with the prediction computed by `f` from
/// `x: f64[N, dims...]` (so parameters take part) and `target` of type `tt`.
fn loss_case(
    name: &str,
    kind: LossKind,
    dims: &[usize],
    tt: TensorType,
    domains: &[Domain],
    n: usize,
    f: impl FnOnce(&mut ModelBuilder, usize) -> usize,
) -> LayerCase {
    let mut b = ModelBuilder::new("m");
    let x = b.input("x", f64n(dims));
    let t = b.input("t", tt);
    let p = f(&mut b, x);
    let l = b.loss(kind, p, t);
    b.output("y", p);
    b.output("loss", l);
    LayerCase::new(name, b, n, domains).output("loss")
}

fn loss_cases() -> Vec<LayerCase> {
    use LossKind::*;
    let any = Domain::Any;
    let prob = Domain::Uniform(0.05, 0.95);
    let small = Domain::Uniform(-0.5, 0.5);
    vec![
        // A sequence model's logits [N, T, V] against labels [N, T].
        loss_case(
            "cross_entropy over positions",
            CrossEntropy,
            &[2, 3],
            TensorType::new(DType::I32, Shape(vec![Dim::Sym("N".into()), Dim::Fixed(2)])),
            &[any, Domain::Below(4)],
            3,
            |b, x| b.dense("h", x, 4, true),
        ),
        loss_case(
            "cross_entropy",
            CrossEntropy,
            &[3],
            labels(),
            &[any, Domain::Below(4)],
            5,
            |b, x| b.dense("h", x, 4, true),
        ),
        loss_case(
            "cross_entropy of data",
            CrossEntropy,
            &[3],
            labels(),
            &[any, Domain::Below(3)],
            4,
            |_, x| x,
        ),
        // One class: the loss is 0 and so is every gradient.
        loss_case(
            "cross_entropy one class",
            CrossEntropy,
            &[1],
            labels(),
            &[any, Domain::Below(1)],
            3,
            |_, x| x,
        ),
        // Probabilities inside the clamp; soft targets, differentiated too.
        loss_case(
            "bce of data",
            BinaryCrossEntropy,
            &[1, 2],
            f64n(&[1, 2]),
            &[prob, Domain::Uniform(0.0, 1.0)],
            3,
            |_, x| x,
        ),
        loss_case(
            "bce sigmoid dense",
            BinaryCrossEntropy,
            &[2],
            f64n(&[1]),
            &[any, Domain::Uniform(0.0, 1.0)],
            4,
            |b, x| {
                let z = b.dense("h", x, 1, true);
                b.activation(Activation::Sigmoid, z)
            },
        )
        .params(small),
        // 0/1 labels `[N]` against one output unit `[N, 1]`.
        loss_case(
            "bce i32 target",
            BinaryCrossEntropy,
            &[3],
            labels(),
            &[any, Domain::Below(2)],
            5,
            |b, x| {
                let z = b.dense("h", x, 1, true);
                b.activation(Activation::Sigmoid, z)
            },
        )
        .params(small),
        loss_case(
            "bce_logits of data",
            BinaryCrossEntropyLogits,
            &[2],
            f64n(&[2]),
            &[any, Domain::Uniform(0.0, 1.0)],
            3,
            |_, x| x,
        ),
        // Logits 0.1 apart and through 0 exactly: smooth there.
        loss_case(
            "bce_logits through 0",
            BinaryCrossEntropyLogits,
            &[2],
            f64n(&[2]),
            &[Domain::Distinct, Domain::Uniform(0.0, 1.0)],
            3,
            |_, x| x,
        ),
        loss_case(
            "bce_logits i32 target",
            BinaryCrossEntropyLogits,
            &[3],
            labels(),
            &[any, Domain::Below(2)],
            4,
            |b, x| b.dense("h", x, 1, true),
        ),
        loss_case(
            "mse",
            MeanSquaredError,
            &[3],
            f64n(&[2]),
            &[any, any],
            4,
            |b, x| b.dense("h", x, 2, true),
        ),
        loss_case(
            "mse rank 1",
            MeanSquaredError,
            &[],
            f64n(&[]),
            &[any, any],
            5,
            |_, x| x,
        ),
        // |p - t| >= 1/2: lattices half a unit apart.
        loss_case(
            "mae of data",
            MeanAbsoluteError,
            &[1, 2],
            f64n(&[1, 2]),
            &[Domain::Lattice(0.0), Domain::Lattice(0.5)],
            3,
            |_, x| x,
        ),
        // tanh is in (-1, 1), the targets are beyond ±1.5.
        loss_case(
            "mae tanh dense",
            MeanAbsoluteError,
            &[3],
            f64n(&[2]),
            &[any, Domain::Signed(1.5, 2.0)],
            4,
            |b, x| {
                let h = b.dense("h", x, 2, true);
                b.activation(Activation::Tanh, h)
            },
        ),
    ]
}

/// Two hidden layers, every layer kind a classifier uses.
fn mlp_case() -> LayerCase {
    loss_case(
        "mlp",
        LossKind::CrossEntropy,
        &[2, 1, 2],
        labels(),
        &[Domain::Any, Domain::Below(3)],
        5,
        |b, x| {
            let f = b.flatten(x);
            let h = b.dense("h", f, 4, true);
            let h = b.activation(Activation::Tanh, h);
            let h = b.dense("h", h, 3, true);
            let h = b.activation(Activation::Sigmoid, h);
            let two = b.constant(2.0, h);
            let h = b.arith(ArithOp::Mul, h, two);
            b.dense("out", h, 3, false)
        },
    )
}

fn cases() -> Vec<LayerCase> {
    let mut cases = dense_cases();
    cases.extend(activation_cases());
    cases.extend(softmax_cases());
    cases.extend(arith_cases());
    cases.extend(loss_cases());
    cases.extend(spatial_cases());
    cases.extend(modal::cases());
    cases.extend(recurrent_cases());
    cases.extend(attention::cases());
    cases.push(mlp_case());
    cases
}

fn spatial_cases() -> Vec<LayerCase> {
    // Embedding: the gradient flows to the table (the indices are integers).
    let mut b = ModelBuilder::new("m");
    let idx = b.input(
        "x",
        TensorType::new(DType::I32, Shape(vec![Dim::Sym("N".into()), Dim::Fixed(3)])),
    );
    let e = b.embedding("e", idx, 5, 2);
    b.output("y", e);
    let embedding = LayerCase::new("embedding", b, 4, &[Domain::Below(5)]);
    vec![
        embedding,
        unary("conv", &[2, 5, 4], Domain::Any, 2, |b, x| {
            b.conv2d("c", x, 3, 3)
        }),
        // Distinct values: no ties inside a max window.
        unary("max_pool", &[2, 3, 4], Domain::Distinct, 2, |b, x| {
            b.pool2d(x, true)
        }),
        unary("avg_pool", &[2, 3, 4], Domain::Any, 2, |b, x| {
            b.pool2d(x, false)
        }),
        unary("global_avg_pool", &[2, 3, 2], Domain::Any, 3, |b, x| {
            b.global_avg_pool(x)
        }),
        unary("sum", &[2, 3], Domain::Any, 3, |b, x| b.reduce(x, false, 2)),
        unary("mean", &[2, 3], Domain::Any, 3, |b, x| b.reduce(x, true, 1)),
        // The dot products of word2vec: one vector against a row of others.
        unary("repeat", &[3], Domain::Any, 2, |b, x| {
            let r = b.repeat(x, 4, 1);
            let sq = b.arith(ArithOp::Mul, r, r);
            b.reduce(sq, false, 2)
        }),
        unary("reshape", &[3], Domain::Any, 3, |b, x| {
            let u = b.unsqueeze(x);
            let f = b.flatten(u);
            b.dense("h", f, 2, true)
        }),
    ]
}

/// Each recurrent cell returning every state and the last one, T = 3 and
/// 1; stacked (sequences into a second layer) and under a dense head.
/// Weights from U(-0.8, 0.8) keep the gates off saturation.
fn recurrent_cases() -> Vec<LayerCase> {
    let mut cases = vec![];
    for cell in ["rnn", "lstm", "gru"] {
        for (seqs, t) in [(true, 3), (false, 3), (false, 1)] {
            let name = format!("{cell} sequences={seqs} T={t}");
            let c = unary(&name, &[t, 2], Domain::Any, 3, |b, x| {
                b.recurrent("r", cell, x, 2, seqs)
            });
            cases.push(c.params(Domain::Uniform(-0.8, 0.8)));
        }
        let c = unary(
            &format!("stacked {cell}"),
            &[2, 3],
            Domain::Any,
            2,
            |b, x| {
                let h = b.recurrent("r", cell, x, 3, true);
                let h = b.recurrent("r", cell, h, 2, false);
                b.dense("out", h, 1, true)
            },
        );
        cases.push(c.params(Domain::Uniform(-0.8, 0.8)));
    }
    cases
}

#[test]
fn every_layer_matches_finite_differences() {
    for (i, c) in cases().iter().enumerate() {
        check(c, 2000 + i as u64);
    }
}

/// A name per layer, activation, arithmetic op and loss, and the full list
/// of them. The `match` has no `_` arm: a new variant does not compile until
/// it has a name here, and [`every_layer_kind`] lists it.
fn kind(l: &Layer) -> &'static str {
    match l {
        Layer::Input(_) => "input",
        Layer::Const(_) => "const",
        Layer::Dense { bias: Some(_), .. } => "dense",
        Layer::Dense { bias: None, .. } => "dense without bias",
        Layer::Activation(a) => match a {
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Identity => "identity",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Elu { .. } => "elu",
            Activation::Softplus => "softplus",
            Activation::Swish => "swish",
            Activation::Gelu => "gelu",
        },
        Layer::LayerNorm {
            weight: Some(_), ..
        } => "layer_norm",
        Layer::LayerNorm { weight: None, .. } => "layer_norm without affine",
        Layer::Embedding { .. } => "embedding",
        Layer::Conv { .. } => "conv",
        Layer::ConvTranspose { .. } => "conv_transpose",
        Layer::Dropout { .. } => "dropout",
        Layer::BatchNorm {
            weight: Some(_), ..
        } => "batch_norm",
        Layer::BatchNorm { weight: None, .. } => "batch_norm without affine",
        Layer::Pool { max: true, .. } => "max_pool",
        Layer::Pool { max: false, .. } => "avg_pool",
        Layer::GlobalAvgPool => "global_avg_pool",
        Layer::Reshape => "reshape",
        Layer::Reduce { mean: false, .. } => "sum",
        Layer::Reduce { mean: true, .. } => "mean",
        Layer::Repeat { .. } => "repeat",
        Layer::Rnn {
            sequences: true, ..
        } => "rnn sequences",
        Layer::Rnn {
            sequences: false, ..
        } => "rnn last",
        Layer::Lstm {
            sequences: true, ..
        } => "lstm sequences",
        Layer::Lstm {
            sequences: false, ..
        } => "lstm last",
        Layer::Gru {
            sequences: true, ..
        } => "gru sequences",
        Layer::Gru {
            sequences: false, ..
        } => "gru last",
        Layer::Attention {
            heads,
            causal,
            masked,
        } => match (*heads > 1, causal, masked) {
            (false, false, false) => "attention",
            (false, true, false) => "attention causal",
            (false, false, true) => "attention masked",
            (true, false, false) => "attention with heads",
            (true, true, true) => "attention with heads, causal, masked",
            // Covered by the cases above, one flag at a time.
            _ => "attention combined",
        },
        Layer::Latents { .. } => "latents",
        Layer::PositionalEncoding { weight: Some(_) } => "positional_encoding learned",
        Layer::PositionalEncoding { weight: None } => "positional_encoding sinusoidal",
        Layer::Softmax { .. } => "softmax",
        Layer::LogSoftmax { .. } => "log_softmax",
        Layer::Flatten => "flatten",
        Layer::Arith(op) => match op {
            ArithOp::Add => "add",
            ArithOp::Sub => "sub",
            ArithOp::Mul => "mul",
            ArithOp::Div => "div",
        },
        Layer::Neg => "neg",
        Layer::Loss(k) => match k {
            LossKind::CrossEntropy => "cross_entropy",
            LossKind::BinaryCrossEntropy => "binary_cross_entropy",
            LossKind::BinaryCrossEntropyLogits => "binary_cross_entropy_logits",
            LossKind::MeanSquaredError => "mse",
            LossKind::MeanAbsoluteError => "mae",
        },
    }
}

fn every_layer_kind() -> Vec<Layer> {
    let mut all = vec![
        Layer::Input(0),
        Layer::Const(0.0),
        Layer::Dense {
            weight: 0,
            bias: Some(1),
        },
        Layer::Dense {
            weight: 0,
            bias: None,
        },
        Layer::Softmax { axis: 0 },
        Layer::LogSoftmax { axis: 0 },
        Layer::Flatten,
        Layer::Neg,
        Layer::LayerNorm {
            weight: Some(0),
            bias: Some(1),
            eps: 1e-5,
        },
        Layer::LayerNorm {
            weight: None,
            bias: None,
            eps: 1e-5,
        },
        Layer::Embedding { weight: 0 },
        Layer::Conv {
            weight: 0,
            bias: Some(1),
            attrs: dlc::ir::ConvAttrs::new(2),
        },
        Layer::Pool {
            max: true,
            window: dlc::ir::Window::new(vec![1, 1, 2, 2]),
        },
        Layer::Pool {
            max: false,
            window: dlc::ir::Window::new(vec![1, 1, 2, 2]),
        },
        Layer::GlobalAvgPool,
        Layer::Reshape,
        Layer::ConvTranspose {
            weight: 0,
            bias: Some(1),
            attrs: dlc::ir::ConvAttrs::new(2),
        },
        Layer::Dropout {
            rate: 0.5,
            stream: 0,
        },
        Layer::BatchNorm {
            weight: Some(0),
            bias: Some(1),
            running: 0,
            momentum: 0.1,
            eps: 1e-5,
        },
        Layer::BatchNorm {
            weight: None,
            bias: None,
            running: 0,
            momentum: 0.1,
            eps: 1e-5,
        },
        Layer::Latents { weight: 0 },
        Layer::PositionalEncoding { weight: Some(0) },
        Layer::PositionalEncoding { weight: None },
        Layer::Reduce {
            mean: false,
            axis: 1,
        },
        Layer::Reduce {
            mean: true,
            axis: 1,
        },
        Layer::Repeat { axis: 1 },
    ];
    for sequences in [true, false] {
        all.push(Layer::Rnn {
            w_ih: 0,
            w_hh: 1,
            bias: 2,
            sequences,
        });
        all.push(Layer::Lstm {
            w_ih: 0,
            w_hh: 1,
            bias: 2,
            sequences,
        });
        all.push(Layer::Gru {
            w_ih: 0,
            w_hh: 1,
            b_ih: 2,
            b_hh: 3,
            sequences,
        });
    }
    for (heads, causal, masked) in [
        (1, false, false),
        (1, true, false),
        (1, false, true),
        (2, false, false),
        (2, true, true),
    ] {
        all.push(Layer::Attention {
            heads,
            causal,
            masked,
        });
    }
    all.extend(
        [
            Activation::Relu,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Identity,
            Activation::LeakyRelu { alpha: 0.1 },
            Activation::Elu { alpha: 1.5 },
            Activation::Softplus,
            Activation::Swish,
            Activation::Gelu,
        ]
        .map(Layer::Activation),
    );
    all.extend([ArithOp::Add, ArithOp::Sub, ArithOp::Mul, ArithOp::Div].map(Layer::Arith));
    all.extend(
        [
            LossKind::CrossEntropy,
            LossKind::BinaryCrossEntropy,
            LossKind::BinaryCrossEntropyLogits,
            LossKind::MeanSquaredError,
            LossKind::MeanAbsoluteError,
        ]
        .map(Layer::Loss),
    );
    all
}

#[test]
fn every_layer_activation_and_loss_is_gradient_checked() {
    let checked: HashSet<&str> = cases()
        .iter()
        .flat_map(|c| c.model.nodes.iter().map(|n| kind(&n.layer)))
        .collect();
    let all = every_layer_kind();
    let names: HashSet<&str> = all.iter().map(kind).collect();
    assert_eq!(names.len(), all.len(), "each kind listed once");
    for name in names {
        assert!(checked.contains(name), "`{name}` has no gradient check");
    }
}
