#!/usr/bin/env python3
"""Side-by-side benchmark: dlc against PyTorch (eager and torch.compile) and
JAX (jit of the whole step), on the workloads of issue 3, in one run, with 1
and 2 threads. Prints a table of samples/s (GFLOP/s for matmul) and the
ratio of dlc to the fastest other framework.

Workloads:
  - MLP 784-256-128-10, ReLU, softmax cross-entropy, SGD momentum 0.9:
    one training step at batch 64 and 256 (benches/workloads/mlp.dl);
  - the same MLP's inference (logits and loss, no gradient) at batch 1
    (latency) and 1024;
  - square f32 matmul 512/1024/2048 (dlc: benches/matmul.rs, the backend's
    own gemm entry);
  - an LSTM classifier: 32 steps of 16 features, 128 hidden units, the last
    state into dense 10, softmax cross-entropy and Adam (lr 1e-3), one
    training step at batch 32 (benches/workloads/lstm.dl; PyTorch's
    nn.LSTM, JAX's lax.scan over the same cell).
  - LeNet-5 on 28x28 (conv 5x5 pad 2 -> 6, max pool 2, conv 5x5 -> 16, max
    pool 2, dense 120-84-10, ReLU), softmax cross-entropy, Adam: one
    training step at batch 64 (benches/workloads/lenet.dl).

Every framework is timed the same way: 10 untimed steps, then steps timed one
by one for about 2 seconds; throughput is reported from the mean step time
(the total time of the timed steps, what an epoch of them takes), with the
median and 95th-percentile step beside it in the `--json` file and in the
"mean / median" table below the main one. Each
(framework, workload, threads) runs in its own process; 1-thread runs are
also pinned to one core with `taskset` when it exists.

Usage (from the repository root):
  cargo build --release && cargo bench --bench matmul --no-run
  python3 benches/compare/run.py [--threads 1,2] [--only mlp|matmul|lstm|lenet] [--no-compile]

PyTorch and JAX are optional; install them in a virtual environment outside
the repository:
  python3 -m venv /tmp/bench-venv
  /tmp/bench-venv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
  /tmp/bench-venv/bin/pip install jax
  /tmp/bench-venv/bin/python benches/compare/run.py
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DLC = os.path.join(ROOT, "target", "release", "dlc")
MLP = "benches/workloads/mlp.dl"
LSTM = "benches/workloads/lstm.dl"
LENET = "benches/workloads/lenet.dl"
SEQ, FEATURES, HIDDEN, CLASSES = 32, 16, 128, 10
ADAM_LR, ADAM_B1, ADAM_B2, ADAM_EPS = 1e-3, 0.9, 0.999, 1e-8
SIZES = (784, 256, 128, 10)
LR, MOMENTUM = 0.05, 0.9
WARMUP, SECONDS = 10, 2.0

# (name, kind, batch or n)
WORKLOADS = [
    ("mlp train b64", "train", 64),
    ("mlp train b256", "train", 256),
    ("mlp infer b1", "infer", 1),
    ("mlp infer b1024", "infer", 1024),
    ("matmul 512", "matmul", 512),
    ("matmul 1024", "matmul", 1024),
    ("matmul 2048", "matmul", 2048),
    ("lstm train b32", "lstm", 32),
    ("lenet train b64", "lenet", 64),
]


def timed(step, warmup=WARMUP, seconds=SECONDS, min_steps=10):
    """Seconds per call of `step` (which must block until done): a dict of
    the mean (the total time of the timed calls over their number), the
    median and the 95th percentile (nearest rank), as `dlc bench` reports."""
    for _ in range(warmup):
        step()
    times = []
    start = time.perf_counter()
    while len(times) < min_steps or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return stats(times)


def stats(times):
    s = sorted(times)
    return {
        "mean_s": sum(s) / len(s),
        "median_s": statistics.median(s),
        "p95_s": s[max(1, -(-len(s) * 95 // 100)) - 1],
    }


def result(kind, size, t, extra=None):
    """Throughput from the mean step time (`t` from `timed`)."""
    r = dict(t)
    seconds = t["mean_s"]
    if kind == "matmul":
        r["gflops"] = 2 * size**3 / seconds / 1e9
    else:
        r["samples_per_s"] = size / seconds
        r["latency_us"] = seconds * 1e6
    r.update(extra or {})
    return r


# ---------------------------------------------------------------- workers
# Each runs inside its own process (`run.py --worker NAME KIND SIZE THREADS`)
# and prints one JSON object.


def torch_lenet(size, compiled):
    import torch

    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )
    x = torch.rand(size, 1, 28, 28)
    y = torch.randint(0, 10, (size,))
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=ADAM_LR)

    def train_step(x, y):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    extra = {}
    step = train_step
    if compiled:
        t = time.perf_counter()
        step = torch.compile(train_step)
        step(x, y)
        extra["compile_s"] = time.perf_counter() - t
    return result("train", size, timed(lambda: step(x, y)), extra)


def jax_lenet(size):
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(jax.random.PRNGKey(0), 8)

    def uniform(k, shape, fan_in):
        b = 1 / fan_in**0.5
        return jax.random.uniform(k, shape, jnp.float32, -b, b)

    params = {
        "c1": (uniform(keys[0], (6, 1, 5, 5), 25), jnp.zeros((6,))),
        "c2": (uniform(keys[1], (16, 6, 5, 5), 150), jnp.zeros((16,))),
        "d1": (uniform(keys[2], (400, 120), 400), jnp.zeros((120,))),
        "d2": (uniform(keys[3], (120, 84), 120), jnp.zeros((84,))),
        "d3": (uniform(keys[4], (84, 10), 84), jnp.zeros((10,))),
    }
    x = jax.random.uniform(keys[6], (size, 1, 28, 28), jnp.float32)
    y = jax.random.randint(keys[7], (size,), 0, 10)

    def conv(h, wb, pad):
        w, b = wb
        h = jax.lax.conv_general_dilated(
            h, w, (1, 1), [(pad, pad), (pad, pad)],
            dimension_numbers=("NCHW", "OIHW", "NCHW"),
        )
        return jax.nn.relu(h + b[None, :, None, None])

    def pool(h):
        return jax.lax.reduce_window(
            h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID"
        )

    def loss_fn(p, x, y):
        h = pool(conv(x, p["c1"], 2))
        h = pool(conv(h, p["c2"], 0))
        h = h.reshape(h.shape[0], -1)
        h = jax.nn.relu(h @ p["d1"][0] + p["d1"][1])
        h = jax.nn.relu(h @ p["d2"][0] + p["d2"][1])
        logits = h @ p["d3"][0] + p["d3"][1]
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def train_step(p, m, v, t, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: ADAM_B1 * m + (1 - ADAM_B1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: ADAM_B2 * v + (1 - ADAM_B2) * g * g, v, g)
        c1, c2 = 1 - ADAM_B1**t, 1 - ADAM_B2**t
        p = jax.tree_util.tree_map(
            lambda p, m, v: p - ADAM_LR * (m / c1) / (jnp.sqrt(v / c2) + ADAM_EPS), p, m, v
        )
        return p, m, v, t, loss

    step = jax.jit(train_step, donate_argnums=(0, 1, 2))
    zeros = lambda: jax.tree_util.tree_map(jnp.zeros_like, params)
    state = [params, zeros(), zeros(), jnp.float32(0)]
    extra = {}

    def run():
        *s, loss = step(*state, x, y)
        loss.block_until_ready()
        state[:] = s

    t = time.perf_counter()
    run()
    extra["compile_s"] = time.perf_counter() - t
    return result("train", size, timed(run), extra)


def worker_torch(kind, size, threads, compiled):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if kind == "lstm":
        return torch_lstm(size, compiled)
    if kind == "lenet":
        return torch_lenet(size, compiled)
    if kind == "matmul":
        a, b = torch.rand(size, size), torch.rand(size, size)
        return result(kind, size, timed(lambda: torch.mm(a, b)))
    layers = [torch.nn.Linear(i, o) for i, o in zip(SIZES, SIZES[1:])]
    model = torch.nn.Sequential(
        layers[0], torch.nn.ReLU(), layers[1], torch.nn.ReLU(), layers[2]
    )
    x = torch.rand(size, SIZES[0])
    y = torch.randint(0, SIZES[-1], (size,))
    loss_fn = torch.nn.CrossEntropyLoss()
    extra = {}
    if kind == "train":
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

        def train_step(x, y):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss

        step = train_step
        if compiled:
            t = time.perf_counter()
            step = torch.compile(train_step)
            step(x, y)
            extra["compile_s"] = time.perf_counter() - t
        return result(kind, size, timed(lambda: step(x, y)), extra)

    def infer(x, y):
        with torch.no_grad():
            logits = model(x)
            return logits, loss_fn(logits, y)

    step = infer
    if compiled:
        t = time.perf_counter()
        step = torch.compile(infer)
        step(x, y)
        extra["compile_s"] = time.perf_counter() - t
    return result(kind, size, timed(lambda: step(x, y)), extra)


def torch_lstm(size, compiled):
    import torch

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(FEATURES, HIDDEN, batch_first=True)
            self.out = torch.nn.Linear(HIDDEN, CLASSES)

        def forward(self, x):
            _, (h, _) = self.lstm(x)
            return self.out(h[-1])

    model = Model()
    x = torch.rand(size, SEQ, FEATURES)
    y = torch.randint(0, CLASSES, (size,))
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=ADAM_LR)

    def train_step(x, y):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step, extra = train_step, {}
    if compiled:
        t = time.perf_counter()
        step = torch.compile(train_step)
        step(x, y)
        extra["compile_s"] = time.perf_counter() - t
    return result("train", size, timed(lambda: step(x, y)), extra)


def jax_lstm(size):
    import jax
    import jax.numpy as jnp

    k = jax.random.split(jax.random.PRNGKey(0), 6)
    bound = 1 / HIDDEN**0.5
    u = lambda key, shape: jax.random.uniform(key, shape, jnp.float32, -bound, bound)
    params = {
        "w_ih": u(k[0], (FEATURES, 4 * HIDDEN)),
        "w_hh": u(k[1], (HIDDEN, 4 * HIDDEN)),
        "b": u(k[2], (4 * HIDDEN,)),
        "w": u(k[3], (HIDDEN, CLASSES)),
        "wb": jnp.zeros((CLASSES,), jnp.float32),
    }
    x = jax.random.uniform(k[4], (size, SEQ, FEATURES), jnp.float32)
    y = jax.random.randint(k[5], (size,), 0, CLASSES)

    def loss_fn(p, x, y):
        gx = x @ p["w_ih"] + p["b"]  # [N, T, 4H], outside the loop

        def cell(carry, g):
            h, c = carry
            z = g + h @ p["w_hh"]
            i, f, gg, o = jnp.split(z, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), None

        zero = jnp.zeros((x.shape[0], HIDDEN), jnp.float32)
        (h, _), _ = jax.lax.scan(cell, (zero, zero), jnp.swapaxes(gx, 0, 1))
        logp = jax.nn.log_softmax(h @ p["w"] + p["wb"])
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    b1, b2, eps = 0.9, 0.999, 1e-8

    def train_step(p, m, v, t, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        lr = ADAM_LR * jnp.sqrt(1 - b2**t) / (1 - b1**t)
        p = jax.tree_util.tree_map(
            lambda p, m, v: p - lr * m / (jnp.sqrt(v) + eps), p, m, v
        )
        return p, m, v, t, loss

    step = jax.jit(train_step, donate_argnums=(0, 1, 2))
    zeros = lambda: jax.tree_util.tree_map(jnp.zeros_like, params)
    state = [params, zeros(), zeros(), jnp.float32(0)]
    extra = {}
    t0 = time.perf_counter()
    *state, loss = step(*state, x, y)
    loss.block_until_ready()
    extra["compile_s"] = time.perf_counter() - t0

    def run():
        nonlocal state
        *state, loss = step(*state, x, y)
        loss.block_until_ready()

    return result("train", size, timed(run), extra)


def worker_jax(kind, size, threads):
    import jax
    import jax.numpy as jnp

    if kind == "lstm":
        return jax_lstm(size)
    key = jax.random.PRNGKey(0)
    if kind == "lenet":
        return jax_lenet(size)
    if kind == "matmul":
        ka, kb = jax.random.split(key)
        a = jax.random.uniform(ka, (size, size), jnp.float32)
        b = jax.random.uniform(kb, (size, size), jnp.float32)
        mm = jax.jit(jnp.dot)
        return result(kind, size, timed(lambda: mm(a, b).block_until_ready()))
    keys = jax.random.split(key, 8)
    params = []
    for k, (i, o) in zip(keys, zip(SIZES, SIZES[1:])):
        bound = 1 / i**0.5
        kw, kb = jax.random.split(k)
        params.append(
            (
                jax.random.uniform(kw, (i, o), jnp.float32, -bound, bound),
                jax.random.uniform(kb, (o,), jnp.float32, -bound, bound),
            )
        )
    x = jax.random.uniform(keys[6], (size, SIZES[0]), jnp.float32)
    y = jax.random.randint(keys[7], (size,), 0, SIZES[-1])

    def forward(params, x):
        h = x
        for n, (w, b) in enumerate(params):
            h = h @ w + b
            if n + 1 < len(params):
                h = jax.nn.relu(h)
        return h

    def loss_fn(params, x, y):
        logits = forward(params, x)
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1)), logits

    extra = {}
    if kind == "train":

        def train_step(params, moms, x, y):
            (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, x, y)
            moms = jax.tree_util.tree_map(lambda m, g: MOMENTUM * m + g, moms, grads)
            params = jax.tree_util.tree_map(lambda p, m: p - LR * m, params, moms)
            return params, moms, loss

        step = jax.jit(train_step, donate_argnums=(0, 1))
        moms = jax.tree_util.tree_map(jnp.zeros_like, params)
        state = {"p": params, "m": moms}
        t = time.perf_counter()
        p, m, loss = step(state["p"], state["m"], x, y)
        loss.block_until_ready()
        extra["compile_s"] = time.perf_counter() - t
        state["p"], state["m"] = p, m

        def run():
            p, m, loss = step(state["p"], state["m"], x, y)
            loss.block_until_ready()
            state["p"], state["m"] = p, m

        return result(kind, size, timed(run), extra)

    infer = jax.jit(lambda params, x, y: loss_fn(params, x, y))
    t = time.perf_counter()
    jax.block_until_ready(infer(params, x, y))
    extra["compile_s"] = time.perf_counter() - t
    return result(
        kind, size, timed(lambda: jax.block_until_ready(infer(params, x, y))), extra
    )


# ---------------------------------------------------------------- drivers


def pinned(threads):
    """`taskset` prefix pinning a 1-thread run to one core."""
    if threads == 1 and shutil.which("taskset"):
        return ["taskset", "-c", "0"]
    return []


def thread_env(threads):
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        RAYON_NUM_THREADS=str(threads),
    )
    if threads == 1:
        # XLA has no thread-count flag; one thread is Eigen's single-thread
        # mode plus the taskset pin.
        env["XLA_FLAGS"] = (
            env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
        ).strip()
    return env


def run_worker(name, kind, size, threads):
    cmd = pinned(threads) + [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        name,
        kind,
        str(size),
        str(threads),
    ]
    p = subprocess.run(
        cmd, capture_output=True, text=True, env=thread_env(threads), cwd=ROOT
    )
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_dlc(kind, size, threads, matmul_cache):
    if kind == "matmul":
        if threads not in matmul_cache:
            matmul_cache[threads] = dlc_matmul(threads)
        return matmul_cache[threads].get(size, {"error": "no result"})
    cmd = pinned(threads) + [
        DLC,
        "bench",
        {"lstm": LSTM, "lenet": LENET}.get(kind, MLP),
        "--batch",
        str(size),
        "--threads",
        str(threads),
    ]
    if kind == "infer":
        cmd.append("--inference")
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        return {"error": p.stderr.strip()[-200:]}
    j = json.loads(p.stdout)
    t = {
        "mean_s": j["step_us_mean"] / 1e6,
        "median_s": j["step_us_median"] / 1e6,
        "p95_s": j["step_us_p95"] / 1e6,
    }
    return result(
        "train" if kind == "lstm" else kind,
        size, t, {"compile_s": j["compile_ms"] / 1e3}
    )


def dlc_matmul(threads):
    """GFLOP/s per n from `cargo bench --bench matmul` (bencher format)."""
    env = thread_env(max(threads, 1))
    p = subprocess.run(
        pinned(threads)
        + ["cargo", "bench", "-q", "--bench", "matmul", "--", "--output-format", "bencher"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    out = {}
    for line in p.stdout.splitlines():
        # test sgemm/1t/512 ... bench:   6,172,800 ns/iter (+/- 332,988)
        if not line.startswith("test sgemm/"):
            continue
        name = line.split()[1]
        _, t, n = name.split("/")
        if t != f"{threads}t":
            continue
        # (criterion gives one time per iteration: mean, median and p95 alike)
        ns = float(line.split("bench:")[1].split("ns/iter")[0].replace(",", ""))
        out[int(n)] = result("matmul", int(n), stats([ns / 1e9]))
    return out


def available(module):
    p = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True
    )
    return p.returncode == 0


def fmt(r, kind):
    if r is None:
        return "-"
    if "error" in r:
        return "error"
    if kind == "matmul":
        return f"{r['gflops']:.1f}"
    if kind == "infer" and r["latency_us"] < 1000:
        return f"{r['samples_per_s']:.0f} ({r['latency_us']:.1f} us)"
    return f"{r['samples_per_s']:.0f}"


def value(r, kind):
    if not r or "error" in r:
        return None
    return r["gflops"] if kind == "matmul" else r["samples_per_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--only", choices=["mlp", "matmul", "lstm", "lenet"])
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--json", help="also write every result to this file")
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        name, kind, size, threads = args.worker
        size, threads = int(size), int(threads)
        if name == "jax":
            r = worker_jax(kind, size, threads)
        else:
            r = worker_torch(kind, size, threads, compiled=name == "torch.compile")
        print(json.dumps(r))
        return

    if not os.path.exists(DLC):
        sys.exit(f"{DLC} is missing: run `cargo build --release` first")
    frameworks = ["dlc"]
    if available("torch"):
        frameworks.append("torch")
        if not args.no_compile:
            frameworks.append("torch.compile")
    else:
        print(
            "PyTorch not installed (pip install torch --index-url "
            "https://download.pytorch.org/whl/cpu): skipped",
            file=sys.stderr,
        )
    if available("jax"):
        frameworks.append("jax")
    else:
        print("JAX not installed (pip install jax): skipped", file=sys.stderr)

    threads = [int(t) for t in args.threads.split(",")]
    workloads = [
        w
        for w in WORKLOADS
        if args.only is None
        or args.only == {"matmul": "matmul", "lstm": "lstm", "lenet": "lenet"}.get(w[1], "mlp")
    ]
    results = {}
    matmul_cache = {}
    for t in threads:
        for name, kind, size in workloads:
            for f in frameworks:
                if f == "torch.compile" and kind == "matmul":
                    continue
                print(f"  {name}, {t} thread(s), {f} ...", file=sys.stderr, flush=True)
                if f == "dlc":
                    r = run_dlc(kind, size, t, matmul_cache)
                else:
                    r = run_worker(f, kind, size, t)
                results[(name, t, f)] = r

    others = [f for f in frameworks if f != "dlc"]
    header = ["workload", "threads"] + frameworks + (["dlc / best other"] if others else [])
    rows = []
    for t in threads:
        for name, kind, _ in workloads:
            row = [name + (" (GFLOP/s)" if kind == "matmul" else " (samples/s)"), str(t)]
            for f in frameworks:
                row.append(fmt(results.get((name, t, f)), kind))
            if others:
                mine = value(results.get((name, t, "dlc")), kind)
                best = [value(results.get((name, t, f)), kind) for f in others]
                best = max([b for b in best if b] or [0])
                row.append(f"{mine / best:.2f}x" if mine and best else "-")
            rows.append(row)
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    # The step times behind the throughput: a mean far above the median
    # means some steps are much slower than most.
    print()
    header2 = ["step time, us: mean / median / p95", "threads"] + frameworks
    rows2 = []
    for t in threads:
        for name, kind, _ in workloads:
            row = [name, str(t)]
            for f in frameworks:
                r = results.get((name, t, f))
                if not r or "error" in r or "p95_s" not in r:
                    row.append("-")
                else:
                    row.append(
                        f"{r['mean_s'] * 1e6:.1f} / {r['median_s'] * 1e6:.1f}"
                        f" / {r['p95_s'] * 1e6:.1f}"
                    )
            rows2.append(row)
    widths = [max(len(r[i]) for r in rows2 + [header2]) for i in range(len(header2))]
    print(line(header2))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows2:
        print(line(r))
    compile_times = {
        f: results.get(("mlp train b64", threads[0], f), {}).get("compile_s")
        for f in frameworks
    }
    print()
    print(
        "training-step compile time (first thread count, batch 64): "
        + ", ".join(
            f"{f} {c * 1e3:.0f} ms" for f, c in compile_times.items() if c is not None
        )
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                [
                    {"workload": n, "threads": t, "framework": f, **r}
                    for (n, t, f), r in results.items()
                ],
                fh,
                indent=1,
            )


if __name__ == "__main__":
    main()
