//! Checked models built by hand, as the checker would produce them (until the
//! parser lands): the same node types, parameter paths, initializers and fans
//! as `sema::layers` gives each layer, so `lower`'s own type assertion checks
//! that the two agree.

use dlc::diag::Span;
use dlc::ir::{window_output, ConvAttrs, DType, Dim, Shape, TensorType, Window};
use dlc::sema::init::Init;
use dlc::sema::program::{
    Activation, ArithOp, Layer, LayerNode, LossKind, Model, NodeId, Param, StateVar,
};

/// `f64[N, dims...]`
pub fn f64n(dims: &[usize]) -> TensorType {
    let mut s = vec![Dim::Sym("N".into())];
    s.extend(dims.iter().map(|&d| Dim::Fixed(d)));
    TensorType::new(DType::F64, Shape(s))
}

/// `i32[N]`: class or 0/1 labels.
pub fn labels() -> TensorType {
    TensorType::new(DType::I32, Shape(vec![Dim::Sym("N".into())]))
}

/// Builds a [`Model`] node by node; each method mirrors one checker rule.
pub struct ModelBuilder {
    pub model: Model,
    /// Layers made so far under the current binding: the checker's
    /// `next_layer_path` numbering.
    bindings: Vec<(String, usize)>,
}

impl ModelBuilder {
    pub fn new(name: &str) -> ModelBuilder {
        ModelBuilder {
            model: Model {
                name: name.into(),
                inputs: vec![],
                params: vec![],
                states: vec![],
                nodes: vec![],
                outputs: vec![],
                loss: None,
            },
            bindings: vec![],
        }
    }

    pub fn ty(&self, id: NodeId) -> &TensorType {
        &self.model.nodes[id].ty
    }

    fn node(&mut self, layer: Layer, args: Vec<NodeId>, ty: TensorType, name: &str) -> NodeId {
        self.model.nodes.push(LayerNode {
            layer,
            args,
            ty,
            name: name.into(),
            span: Span::new(0, 0),
        });
        self.model.nodes.len() - 1
    }

    /// `model.binding`, then `model.binding.1`, ... for further layers
    /// bound to the same name.
    fn layer_path(&mut self, binding: &str) -> String {
        let base = format!("{}.{binding}", self.model.name);
        let k = match self.bindings.iter_mut().find(|(b, _)| *b == base) {
            Some((_, k)) => {
                *k += 1;
                *k
            }
            None => {
                self.bindings.push((base.clone(), 0));
                0
            }
        };
        match k {
            0 => base,
            k => format!("{base}.{k}"),
        }
    }

    pub fn input(&mut self, name: &str, ty: TensorType) -> NodeId {
        self.model.inputs.push((name.into(), ty.clone()));
        let i = self.model.inputs.len() - 1;
        self.node(Layer::Input(i), vec![], ty, name)
    }

    /// `dense(x, units, bias: bias)` bound to `binding`: weight
    /// `[in, units]` (Glorot uniform), bias `[units]` (zeros), both with fans
    /// `(in, units)`; the result has `x`'s type with the last axis `units`.
    pub fn dense(&mut self, binding: &str, x: NodeId, units: usize, bias: bool) -> NodeId {
        let xt = self.ty(x).clone();
        let fan_in = xt
            .shape
            .dims()
            .last()
            .and_then(Dim::fixed)
            .expect("fixed features");
        let path = self.layer_path(binding);
        let param = |this: &mut Self, suffix: &str, dims: &[usize], init: Init| {
            this.model.params.push(Param {
                path: format!("{path}.{suffix}"),
                ty: TensorType::new(xt.dtype, Shape::fixed(dims)),
                init,
                fan_in,
                fan_out: units,
            });
            this.model.params.len() - 1
        };
        let weight = param(self, "weight", &[fan_in, units], Init::GlorotUniform);
        let bias = bias.then(|| param(self, "bias", &[units], Init::Zeros));
        let mut dims = xt.shape.dims().to_vec();
        *dims.last_mut().expect("rank >= 2") = Dim::Fixed(units);
        let ty = TensorType::new(xt.dtype, Shape(dims));
        self.node(Layer::Dense { weight, bias }, vec![x], ty, &path)
    }

    pub fn activation(&mut self, a: Activation, x: NodeId) -> NodeId {
        let ty = self.ty(x).clone();
        self.node(Layer::Activation(a), vec![x], ty, a.name())
    }

    /// `layer_norm(x, affine: affine)` over the last axis, bound to
    /// `binding`: weight (ones) and bias (zeros) of the feature size.
    pub fn layer_norm(&mut self, binding: &str, x: NodeId, affine: bool) -> NodeId {
        let ty = self.ty(x).clone();
        let features = ty
            .shape
            .dims()
            .last()
            .and_then(Dim::fixed)
            .expect("fixed features");
        let (weight, bias) = if affine {
            let path = self.layer_path(binding);
            let mut param = |suffix: &str, init: Init| {
                self.model.params.push(Param {
                    path: format!("{path}.{suffix}"),
                    ty: TensorType::new(ty.dtype, Shape::fixed(&[features])),
                    init,
                    fan_in: features,
                    fan_out: features,
                });
                self.model.params.len() - 1
            };
            (
                Some(param("weight", Init::Ones)),
                Some(param("bias", Init::Zeros)),
            )
        } else {
            (None, None)
        };
        self.node(
            Layer::LayerNorm {
                weight,
                bias,
                eps: 1e-5,
            },
            vec![x],
            ty,
            binding,
        )
    }

    /// A parameter at `path`, for the spatial layers below.
    fn param(&mut self, path: String, dims: &[usize], init: Init, fans: (usize, usize)) -> usize {
        self.model.params.push(Param {
            path,
            ty: TensorType::new(DType::F64, Shape::fixed(dims)),
            init,
            fan_in: fans.0,
            fan_out: fans.1,
        });
        self.model.params.len() - 1
    }

    /// `rnn|lstm|gru(x, hidden, return_sequences: sequences)` on `x: [N, T,
    /// F]`, bound to `binding`: `w_ih: [F, G]`, `w_hh: [H, G]` and the
    /// bias `[G]` (GRU: `b_ih`, `b_hh`), `G = gates * H`, all from
    /// U(-1/sqrt(H), 1/sqrt(H)); `[N, T, H]` or `[N, H]` out.
    pub fn recurrent(
        &mut self,
        binding: &str,
        cell: &str,
        x: NodeId,
        hidden: usize,
        sequences: bool,
    ) -> NodeId {
        let t = self.ty(x).clone();
        let d = t.shape.dims().to_vec();
        let f = d[2].fixed().unwrap();
        let gates = match cell {
            "rnn" => 1,
            "lstm" => 4,
            "gru" => 3,
            other => panic!("no cell {other}"),
        };
        let g = gates * hidden;
        let path = self.layer_path(binding);
        let k = 1.0 / (hidden as f64).sqrt();
        let u = Init::Uniform { low: -k, high: k };
        let w_ih = self.param(format!("{path}.w_ih"), &[f, g], u.clone(), (f, g));
        let w_hh = self.param(format!("{path}.w_hh"), &[hidden, g], u.clone(), (hidden, g));
        let bias = |this: &mut Self, leaf: &str| {
            this.param(format!("{path}.{leaf}"), &[g], u.clone(), (g, g))
        };
        let layer = match cell {
            "rnn" => Layer::Rnn {
                w_ih,
                w_hh,
                bias: bias(self, "bias"),
                sequences,
            },
            "lstm" => Layer::Lstm {
                w_ih,
                w_hh,
                bias: bias(self, "bias"),
                sequences,
            },
            _ => Layer::Gru {
                w_ih,
                w_hh,
                b_ih: bias(self, "b_ih"),
                b_hh: bias(self, "b_hh"),
                sequences,
            },
        };
        let dims = if sequences {
            vec![d[0].clone(), d[1].clone(), Dim::Fixed(hidden)]
        } else {
            vec![d[0].clone(), Dim::Fixed(hidden)]
        };
        self.node(layer, vec![x], TensorType::new(t.dtype, Shape(dims)), &path)
    }

    /// `embedding(x, vocab, dim)` over i32 indices.
    pub fn embedding(&mut self, binding: &str, x: NodeId, vocab: usize, dim: usize) -> NodeId {
        let path = self.layer_path(binding);
        let weight = self.param(
            format!("{path}.weight"),
            &[vocab, dim],
            Init::Normal {
                mean: 0.0,
                std: 1.0,
            },
            (vocab, dim),
        );
        let mut dims = self.ty(x).shape.dims().to_vec();
        dims.push(Dim::Fixed(dim));
        self.node(
            Layer::Embedding { weight },
            vec![x],
            TensorType::new(DType::F64, Shape(dims)),
            &path,
        )
    }

    /// A 2-D convolution with bias, stride 2 and padding 1 on every side.
    pub fn conv2d(&mut self, binding: &str, x: NodeId, filters: usize, kernel: usize) -> NodeId {
        let t = self.ty(x).clone();
        let c = t.shape.dims()[1].fixed().unwrap();
        let path = self.layer_path(binding);
        let fans = (c * kernel * kernel, filters * kernel * kernel);
        let weight = self.param(
            format!("{path}.weight"),
            &[filters, c, kernel, kernel],
            Init::GlorotUniform,
            fans,
        );
        let bias = self.param(format!("{path}.bias"), &[filters], Init::Zeros, fans);
        let mut attrs = ConvAttrs::new(2);
        attrs.stride = vec![2, 2];
        attrs.pad_low = vec![1, 1];
        attrs.pad_high = vec![1, 1];
        let out = |s: usize| window_output(s, 1, 1, kernel, 2).unwrap();
        let d = t.shape.dims();
        let dims = vec![
            d[0].clone(),
            Dim::Fixed(filters),
            Dim::Fixed(out(d[2].fixed().unwrap())),
            Dim::Fixed(out(d[3].fixed().unwrap())),
        ];
        self.node(
            Layer::Conv {
                weight,
                bias: Some(bias),
                attrs,
            },
            vec![x],
            TensorType::new(t.dtype, Shape(dims)),
            &path,
        )
    }

    /// `conv_transpose2d(x, filters, kernel, stride:, padding:,
    /// output_padding:)` with bias: weight `[C, filters, k, k]`.
    pub fn conv_transpose2d(
        &mut self,
        binding: &str,
        x: NodeId,
        filters: usize,
        kernel: usize,
        (stride, padding, extra): (usize, usize, usize),
    ) -> NodeId {
        let t = self.ty(x).clone();
        let c = t.shape.dims()[1].fixed().unwrap();
        let path = self.layer_path(binding);
        let fans = (filters * kernel * kernel, c * kernel * kernel);
        let weight = self.param(
            format!("{path}.weight"),
            &[c, filters, kernel, kernel],
            Init::GlorotUniform,
            fans,
        );
        let bias = self.param(format!("{path}.bias"), &[filters], Init::Zeros, fans);
        let attrs = ConvAttrs {
            stride: vec![1, 1],
            pad_low: vec![kernel - 1 - padding; 2],
            pad_high: vec![kernel - 1 - padding + extra; 2],
            dilation: vec![1, 1],
            lhs_dilation: vec![stride, stride],
            groups: 1,
        };
        let out = |s: usize| (s - 1) * stride + kernel + extra - 2 * padding;
        let d = t.shape.dims();
        let dims = vec![
            d[0].clone(),
            Dim::Fixed(filters),
            Dim::Fixed(out(d[2].fixed().unwrap())),
            Dim::Fixed(out(d[3].fixed().unwrap())),
        ];
        self.node(
            Layer::ConvTranspose {
                weight,
                bias: Some(bias),
                attrs,
            },
            vec![x],
            TensorType::new(t.dtype, Shape(dims)),
            &path,
        )
    }

    /// `dropout(x, rate: rate)`; the stream as the checker derives it.
    pub fn dropout(&mut self, binding: &str, x: NodeId, rate: f64) -> NodeId {
        let path = self.layer_path(binding);
        let stream = dlc::sema::dropout_stream(&path);
        let ty = self.ty(x).clone();
        self.node(Layer::Dropout { rate, stream }, vec![x], ty, &path)
    }

    /// `batch_norm(x, momentum: momentum, affine: affine)` over axis 1:
    /// weight (ones) and bias (zeros), running mean (0) and variance (1).
    pub fn batch_norm(&mut self, binding: &str, x: NodeId, momentum: f64, affine: bool) -> NodeId {
        let ty = self.ty(x).clone();
        let c = ty.shape.dims()[1].fixed().expect("fixed channels");
        let path = self.layer_path(binding);
        let (weight, bias) = if affine {
            (
                Some(self.param(format!("{path}.weight"), &[c], Init::Ones, (c, c))),
                Some(self.param(format!("{path}.bias"), &[c], Init::Zeros, (c, c))),
            )
        } else {
            (None, None)
        };
        let running = self.model.states.len();
        for (name, fill) in [("running_mean", 0.0), ("running_var", 1.0)] {
            self.model.states.push(StateVar {
                path: format!("{path}.{name}"),
                ty: TensorType::new(ty.dtype, Shape::fixed(&[c])),
                fill,
            });
        }
        self.node(
            Layer::BatchNorm {
                weight,
                bias,
                running,
                momentum,
                eps: 1e-5,
            },
            vec![x],
            ty,
            &path,
        )
    }

    /// 2x2 pooling with stride 1 over `[N, C, H, W]` (overlapping windows).
    pub fn pool2d(&mut self, x: NodeId, max: bool) -> NodeId {
        let t = self.ty(x).clone();
        let mut window = Window::new(vec![1, 1, 2, 2]);
        window.stride = vec![1, 1, 1, 1];
        let d = t.shape.dims();
        let dims = vec![
            d[0].clone(),
            d[1].clone(),
            Dim::Fixed(d[2].fixed().unwrap() - 1),
            Dim::Fixed(d[3].fixed().unwrap() - 1),
        ];
        self.node(
            Layer::Pool { max, window },
            vec![x],
            TensorType::new(t.dtype, Shape(dims)),
            "pool",
        )
    }

    pub fn global_avg_pool(&mut self, x: NodeId) -> NodeId {
        let t = self.ty(x).clone();
        let ty = TensorType::new(t.dtype, Shape(t.shape.dims()[..2].to_vec()));
        self.node(Layer::GlobalAvgPool, vec![x], ty, "gap")
    }

    /// A size-1 axis inserted at 1.
    pub fn unsqueeze(&mut self, x: NodeId) -> NodeId {
        let t = self.ty(x).clone();
        let mut dims = t.shape.dims().to_vec();
        dims.insert(1, Dim::Fixed(1));
        self.node(
            Layer::Reshape,
            vec![x],
            TensorType::new(t.dtype, Shape(dims)),
            "unsqueeze",
        )
    }

    /// Scaled dot-product attention of `q`, `k`, `v` (and a bool key mask
    /// `[N, Tk]`): `q`'s shape with `v`'s features.
    pub fn attention(
        &mut self,
        q: NodeId,
        k: NodeId,
        v: NodeId,
        mask: Option<NodeId>,
        heads: usize,
        causal: bool,
    ) -> NodeId {
        let mut dims = self.ty(q).shape.dims().to_vec();
        *dims.last_mut().unwrap() = self.ty(v).shape.dims().last().unwrap().clone();
        let ty = TensorType::new(self.ty(q).dtype, Shape(dims));
        let mut args = vec![q, k, v];
        args.extend(mask);
        let layer = Layer::Attention {
            heads,
            causal,
            masked: mask.is_some(),
        };
        self.node(layer, args, ty, "attention")
    }

    /// `latents(x, count, dim)`: a `[count, dim]` parameter (normal init,
    /// std 1) broadcast over `x`'s batch.
    pub fn latents(&mut self, binding: &str, x: NodeId, count: usize, dim: usize) -> NodeId {
        let path = self.layer_path(binding);
        let init = Init::Normal {
            mean: 0.0,
            std: 1.0,
        };
        let weight = self.param(format!("{path}.weight"), &[count, dim], init, (count, dim));
        let n = self.ty(x).shape.dims()[0].clone();
        let ty = TensorType::new(
            DType::F64,
            Shape(vec![n, Dim::Fixed(count), Dim::Fixed(dim)]),
        );
        self.node(Layer::Latents { weight }, vec![x], ty, &path)
    }

    /// `positional_encoding(x, kind: learned)` (a `[T, D]` table, normal init,
    /// std 0.02) or `kind: sinusoidal` (no parameter).
    pub fn positional_encoding(&mut self, binding: &str, x: NodeId, learned: bool) -> NodeId {
        let ty = self.ty(x).clone();
        let weight = learned.then(|| {
            let path = self.layer_path(binding);
            let (t, d) = (
                ty.shape.dims()[1].fixed().unwrap(),
                ty.shape.dims()[2].fixed().unwrap(),
            );
            let init = Init::Normal {
                mean: 0.0,
                std: 0.02,
            };
            self.param(format!("{path}.weight"), &[t, d], init, (t, d))
        });
        self.node(Layer::PositionalEncoding { weight }, vec![x], ty, binding)
    }

    /// `mean(x, axis:)`: the axis is removed.
    pub fn mean(&mut self, x: NodeId, axis: usize) -> NodeId {
        let t = self.ty(x).clone();
        let mut dims = t.shape.dims().to_vec();
        dims.remove(axis);
        let ty = TensorType::new(t.dtype, Shape(dims));
        self.node(Layer::Reduce { mean: true, axis }, vec![x], ty, "mean")
    }

    pub fn softmax(&mut self, x: NodeId, axis: usize) -> NodeId {
        let ty = self.ty(x).clone();
        self.node(Layer::Softmax { axis }, vec![x], ty, "softmax")
    }

    pub fn log_softmax(&mut self, x: NodeId, axis: usize) -> NodeId {
        let ty = self.ty(x).clone();
        self.node(Layer::LogSoftmax { axis }, vec![x], ty, "log_softmax")
    }

    /// `[N, a, b, ...] -> [N, a*b*...]`
    pub fn flatten(&mut self, x: NodeId) -> NodeId {
        let ty = self.ty(x).clone();
        let rest: usize = ty.shape.dims()[1..]
            .iter()
            .map(|d| d.fixed().expect("fixed after the batch"))
            .product();
        let out = TensorType::new(
            ty.dtype,
            Shape(vec![ty.shape.dims()[0].clone(), Dim::Fixed(rest)]),
        );
        self.node(Layer::Flatten, vec![x], out, "flatten")
    }

    /// A number written in the program: a scalar of the other operand's dtype.
    pub fn constant(&mut self, c: f64, like: NodeId) -> NodeId {
        let dtype = self.ty(like).dtype;
        self.node(Layer::Const(c), vec![], TensorType::scalar(dtype), "const")
    }

    /// Elementwise arithmetic on equal shapes, or with a scalar on either side.
    pub fn arith(&mut self, op: ArithOp, a: NodeId, b: NodeId) -> NodeId {
        let (ta, tb) = (self.ty(a).clone(), self.ty(b).clone());
        let ty = if ta.shape == tb.shape || tb.rank() == 0 {
            ta
        } else if ta.rank() == 0 {
            tb
        } else {
            panic!("the checker rejects {ta} {op:?} {tb}")
        };
        self.node(Layer::Arith(op), vec![a, b], ty, "arith")
    }

    pub fn neg(&mut self, x: NodeId) -> NodeId {
        let ty = self.ty(x).clone();
        self.node(Layer::Neg, vec![x], ty, "neg")
    }

    /// A loss: a scalar of the prediction's dtype.
    pub fn loss(&mut self, kind: LossKind, p: NodeId, t: NodeId) -> NodeId {
        let ty = TensorType::scalar(self.ty(p).dtype);
        self.node(Layer::Loss(kind), vec![p, t], ty, kind.name())
    }

    /// `sum` (or `mean`) over `axis`, which disappears.
    pub fn reduce(&mut self, x: NodeId, mean: bool, axis: usize) -> NodeId {
        let t = self.ty(x).clone();
        let mut dims = t.shape.dims().to_vec();
        dims.remove(axis);
        let name = if mean { "mean" } else { "sum" };
        self.node(
            Layer::Reduce { mean, axis },
            vec![x],
            TensorType::new(t.dtype, Shape(dims)),
            name,
        )
    }

    /// `count` copies of `x` along a new axis `axis`.
    pub fn repeat(&mut self, x: NodeId, count: usize, axis: usize) -> NodeId {
        let t = self.ty(x).clone();
        let mut dims = t.shape.dims().to_vec();
        dims.insert(axis, Dim::Fixed(count));
        self.node(
            Layer::Repeat { axis },
            vec![x],
            TensorType::new(t.dtype, Shape(dims)),
            "repeat",
        )
    }

    pub fn output(&mut self, name: &str, id: NodeId) {
        self.model.outputs.push((name.into(), id));
    }
}
