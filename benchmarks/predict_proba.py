"""predict_proba on 10,000 red rows against a bare numpy forward pass (matmuls and
activations only) of the same weights, timed alternately in one run.

    python -m benchmarks.predict_proba [--rows 10000] [--repeats 300]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import mlp
from trainer.tasks import get_task


def trained_red() -> mlp.Network:
    task = get_task("red")
    X, y = task.sample(np.random.default_rng(0), 20_000)
    net = mlp.Network.build(task.network, 3, 2, seed=0, labels=list(task.labels), input_spec=task.input_spec)
    mlp.fit(net, X, y, task.train.replace(epochs=3))
    return net


def bare_forward(layers, x):
    """Already-normalised float32 input through matmuls and activations: nothing else."""
    for W, b, act in layers:
        x = act.forward(x @ W + b)
    return x


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=300)
    args = ap.parse_args(argv)
    net = trained_red()
    X = get_task("red").draw_uniform(np.random.default_rng(1), args.rows)  # raw RGB integers
    Xn = net.normalize(X)  # the bare pass gets its input pre-scaled, for free
    layers = [(la.W, la.b, la.activation) for la in net.layers]
    np.testing.assert_allclose(net.predict_proba(X), bare_forward(layers, Xn), rtol=1e-4, atol=1e-5)
    ours, bare = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        net.predict_proba(X)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        bare_forward(layers, Xn)
        bare.append(time.perf_counter() - t)
    mo, mb = statistics.median(ours), statistics.median(bare)
    print(f"predict_proba, {args.rows} raw rows: median {mo * 1e3:.3f} ms ({args.rows / mo:,.0f} rows/s)")
    print(f"bare numpy forward, pre-scaled rows: median {mb * 1e3:.3f} ms ({args.rows / mb:,.0f} rows/s)")
    print(f"speed of predict_proba relative to the bare pass: {mb / mo:.2f}x (target >= 0.8x)")


if __name__ == "__main__":
    main()
