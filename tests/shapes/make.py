"""Regenerates the shape tables tests/shapes/*.txt from PyTorch.

Each row is `input type | dlc call | expected output type`, where the
expected type is what PyTorch computes for the same layer on a tensor of
the input's shape (the batch, 2 here, written back as `N`), or `error`
where PyTorch refuses the arguments. dlc's `tests/it/shapes.rs` runs every
row through the parser and checker; CI needs only the committed tables.

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch
    /tmp/torchvenv/bin/python tests/shapes/make.py

Rows where dlc deliberately differs from PyTorch are not generated here:
they are written by hand, with their rule, in tests/shapes/differences.txt.
"""

import itertools
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
N = 2


def dl_type(shape, dtype="f32"):
    dims = ["N"] + [str(d) for d in shape[1:]]
    return f"{dtype}[{','.join(dims)}]"


def run(make):
    """The output shape of `make()`, or None when PyTorch refuses."""
    try:
        with torch.no_grad():
            out = make()
    except (RuntimeError, ValueError):
        return None
    if out.numel() == 0:
        return None
    return list(out.shape)


def row(shape, call, out, dtype="f32"):
    want = "error" if out is None else dl_type(out)
    return f"{dl_type(shape, dtype)} | {call} | {want}"


def args(pairs):
    return "".join(f", {k}: {v}" for k, v in pairs if v is not None)


def conv_rows():
    rows = []
    for d in (1, 2):
        conv = nn.Conv1d if d == 1 else nn.Conv2d
        for size, chans, filters, kernel, stride, pad, dil, groups in itertools.product(
            (1, 5, 8), (1, 4), (3, 4), (1, 2, 3), (None, 2, 3), (None, 1, 2, "same", "valid"),
            (None, 2), (None, 2),
        ):
            g = groups or 1
            if pad == "same" and stride not in (None, 1):
                continue  # PyTorch has no strided `same`: differences.txt
            shape = [N, chans] + [size] * d
            p = {"same": "same", "valid": "valid", None: 0}.get(pad, pad)
            try:
                layer = conv(chans, filters, kernel, stride=stride or 1, padding=p,
                             dilation=dil or 1, groups=g)
            except ValueError:
                layer = None  # groups that do not divide: refused
            call = f"conv{d}d(x, {filters}, {kernel}" + args(
                [("stride", stride), ("padding", pad), ("dilation", dil), ("groups", groups)]) + ")"
            out = layer and run(lambda: layer(torch.zeros(shape)))
            rows.append(row(shape, call, out))
    return rows


def conv_transpose_rows():
    rows = []
    for size, kernel, stride, pad, extra in itertools.product(
        (1, 4, 5), (1, 2, 3, 5), (None, 2, 3), (None, 1, 2, 4, 6), (None, 1, 2)
    ):
        shape = [N, 3, size, size]
        layer = nn.ConvTranspose2d(3, 2, kernel, stride=stride or 1, padding=pad or 0,
                                   output_padding=extra or 0)
        call = f"conv_transpose2d(x, 2, {kernel}" + args(
            [("stride", stride), ("padding", pad), ("output_padding", extra)]) + ")"
        rows.append(row(shape, call, run(lambda: layer(torch.zeros(shape)))))
    return rows


def pool_rows():
    rows = []
    for d, kind in itertools.product((1, 2), ("max", "avg")):
        for size, window, stride, pad in itertools.product(
            (1, 4, 7), (None, 1, 2, 3), (None, 1, 2, 3), (None, 1, 2)
        ):
            shape = [N, 3] + [size] * d
            k = window or 2
            s = stride or k
            if kind == "max":
                layer = (nn.MaxPool1d if d == 1 else nn.MaxPool2d)(k, s, pad or 0)
            else:
                layer = (nn.AvgPool1d if d == 1 else nn.AvgPool2d)(k, s, pad or 0)
            call = f"{kind}_pool{d}d(x" + args(
                [("size", window), ("stride", stride), ("padding", pad)]) + ")"
            rows.append(row(shape, call, run(lambda: layer(torch.zeros(shape)))))
    for shape in ([N, 3, 5], [N, 4, 3, 6]):
        rows.append(row(shape, "global_avg_pool(x)", [N, shape[1]]))
    return rows


def dense_rows():
    rows = []
    for shape, units, bias in itertools.product(([N, 1], [N, 7], [N, 5, 3]), (1, 4), (None, "false")):
        layer = nn.Linear(shape[-1], units, bias=bias is None)
        call = f"dense(x, {units}" + args([("bias", bias)]) + ")"
        rows.append(row(shape, call, run(lambda: layer(torch.zeros(shape)))))
    for act in ("relu", "tanh", "sigmoid"):
        rows.append(row([N, 7], f"dense(x, 3, activation: {act})", [N, 3]))
    return rows


def embedding_rows():
    rows = []
    for shape, vocab, dim in itertools.product(([N, 1], [N, 6], [N]), (1, 10), (1, 8)):
        layer = nn.Embedding(vocab, dim)
        out = run(lambda: layer(torch.zeros(shape, dtype=torch.long)))
        rows.append(row(shape, f"embedding(x, {vocab}, {dim})", out, dtype="i32"))
    return rows


def recurrent_rows():
    rows = []
    for cell, steps, features, hidden, seqs in itertools.product(
        ("rnn", "lstm", "gru"), (1, 5), (1, 3), (1, 4), (None, "true", "false")
    ):
        layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](features, hidden, batch_first=True)
        shape = [N, steps, features]

        def make():
            out = layer(torch.zeros(shape))[0]
            return out if seqs == "true" else out[:, -1]

        call = f"{cell}(x, {hidden}" + args([("return_sequences", seqs)]) + ")"
        rows.append(row(shape, call, run(make)))
    return rows


def normalization_rows():
    rows = []
    for shape in ([N, 1], [N, 6], [N, 3, 5], [N, 2, 3, 4]):
        bn = (nn.BatchNorm1d if len(shape) < 4 else nn.BatchNorm2d)(shape[1])
        rows.append(row(shape, "batch_norm(x)", run(lambda: bn(torch.ones(shape)))))
        rows.append(row(shape, "batch_norm(x, momentum: 0.2, eps: 0.001, affine: false)",
                        run(lambda: bn(torch.ones(shape)))))
        ln = nn.LayerNorm(shape[-1])
        rows.append(row(shape, "layer_norm(x)", run(lambda: ln(torch.ones(shape)))))
        rows.append(row(shape, "layer_norm(x, eps: 0.001, affine: false)",
                        run(lambda: ln(torch.ones(shape)))))
    return rows


def reshaping_rows():
    rows = []
    for shape in ([N, 1], [N, 6], [N, 3, 5], [N, 2, 3, 4]):
        x = torch.zeros(shape)
        rows.append(row(shape, "flatten(x)", list(torch.flatten(x, 1).shape)))
        rows.append(row(shape, "dropout(x, rate: 0.5)", list(F.dropout(x, 0.5).shape)))
        rows.append(row(shape, "dropout(x, rate: 0)", list(F.dropout(x, 0.0).shape)))
        rows.append(row(shape, "softmax(x)", list(torch.softmax(x, -1).shape)))
        for axis in range(1, len(shape) + 1):
            rows.append(row(shape, f"unsqueeze(x, axis: {axis})", list(x.unsqueeze(axis).shape)))
        for axis in range(1, len(shape)):
            rows.append(row(shape, f"sum(x, axis: {axis})", list(x.sum(axis).shape)))
            rows.append(row(shape, f"mean(x, axis: {axis})", list(x.mean(axis).shape)))
            rows.append(row(shape, f"softmax(x, axis: {axis})", list(torch.softmax(x, axis).shape)))
        for axis, count in itertools.product(range(1, len(shape) + 1), (1, 3)):
            rows.append(row(shape, f"repeat(x, {count}, axis: {axis})",
                            list(x.unsqueeze(axis).expand(*shape[:axis], count, *shape[axis:]).shape)))
    return rows


def attention_rows():
    rows = []
    for tq, d in itertools.product((1, 4), (1, 6)):
        shape = [N, tq, d]
        q = torch.zeros(shape)
        out = F.scaled_dot_product_attention(q, q, q)
        rows.append(row(shape, "attention(x, x, x)", list(out.shape)))
        rows.append(row(shape, "attention(x, x, x, causal: true)", list(out.shape)))
    for t, e, heads, dim in itertools.product((1, 5), (3, 8), (1, 2), (2, 4)):
        shape = [N, t, e]
        # PyTorch's MultiheadAttention with kdim = vdim = e projected to
        # `dim`: queries, keys and values [N, t, dim], heads of dim/heads.
        mha = nn.MultiheadAttention(dim, heads, batch_first=True, kdim=e, vdim=e)
        proj = nn.Linear(e, dim)
        out = run(lambda: mha(proj(torch.zeros(shape)), torch.zeros(shape), torch.zeros(shape))[0])
        rows.append(row(shape, f"multi_head_attention(x, {heads}, {dim})", out))
    return rows


FAMILIES = {
    "conv": conv_rows,
    "conv_transpose": conv_transpose_rows,
    "pool": pool_rows,
    "dense": dense_rows,
    "embedding": embedding_rows,
    "recurrent": recurrent_rows,
    "normalization": normalization_rows,
    "reshaping": reshaping_rows,
    "attention": attention_rows,
}

if __name__ == "__main__":
    torch.manual_seed(0)
    for name, make in FAMILIES.items():
        lines = [f"# {name}: generated by make.py from PyTorch {torch.__version__.split('+')[0]}; do not edit"]
        lines += make()
        with open(os.path.join(HERE, f"{name}.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        print(name, len(lines) - 1, "rows")
