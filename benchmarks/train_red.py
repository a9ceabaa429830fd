"""Train red with the same (32, 32) relu MLP, data, batch size 256 and epochs in this
library, scikit-learn's MLPClassifier and PyTorch (CPU), side by side in one run.

Prints median ms per epoch, the time to reach 99.5% accuracy on uniform colours,
and our ratios against each peer. Needs the `bench` extra (scikit-learn, torch).

    python -m benchmarks.train_red [--rows 20000] [--epochs 30]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np

import mlp
from trainer.tasks import get_task

LR = 0.01


def data(rows: int, seed: int = 0):
    task = get_task("red")
    rng = np.random.default_rng(seed)
    X, y = task.sample(rng, rows)
    Xe = task.draw_uniform(np.random.default_rng(seed + 1), 50_000)
    return task, X, y, Xe, task.truth(Xe)


def run_mlp(X, y, Xe, ye, epochs, target):
    net = mlp.Network.build(mlp.NetworkConfig(hidden=(32, 32), activation="relu"), 3, 2,
                            seed=0, labels=["red", "not_red"])
    times, accs = [], []
    state = {"t": time.perf_counter()}

    def tick(_record):
        times.append(time.perf_counter() - state["t"])
        accs.append(float(np.mean(net.predict(Xe) == ye)))  # not timed
        state["t"] = time.perf_counter()

    mlp.fit(net, X, y, mlp.TrainConfig(epochs=epochs, batch_size=256, learning_rate=LR), callback=tick)
    return times, accs


def run_sklearn(X, y, Xe, ye, epochs, target):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    mean, std = X.mean(axis=0), X.std(axis=0)
    Xn, Xen = (X - mean) / std, (Xe - mean) / std
    clf = MLPClassifier(hidden_layer_sizes=(32, 32), activation="relu", solver="adam", batch_size=256,
                        learning_rate_init=LR, random_state=0, shuffle=True)
    times, accs = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for epoch in range(epochs):
            t = time.perf_counter()
            if epoch == 0:
                clf.partial_fit(Xn, y, classes=np.array(["not_red", "red"], dtype=object))
            else:
                clf.partial_fit(Xn, y)
            times.append(time.perf_counter() - t)
            accs.append(float(np.mean(clf.predict(Xen) == ye)))
    return times, accs


def run_torch(X, y, Xe, ye, epochs, target):
    import torch

    torch.manual_seed(0)
    mean, std = X.mean(axis=0), X.std(axis=0)
    Xt = torch.from_numpy(((X - mean) / std).astype(np.float32))
    Xet = torch.from_numpy(((Xe - mean) / std).astype(np.float32))
    yt = torch.from_numpy((y == "red").astype(np.int64))
    ye_red = ye == "red"
    model = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32),
                                torch.nn.ReLU(), torch.nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    times, accs = [], []
    for _ in range(epochs):
        t = time.perf_counter()
        perm = torch.randperm(len(Xt))
        for i in range(0, len(Xt), 256):
            idx = perm[i : i + 256]
            opt.zero_grad()
            loss_fn(model(Xt[idx]), yt[idx]).backward()
            opt.step()
        times.append(time.perf_counter() - t)
        with torch.no_grad():
            accs.append(float(np.mean((model(Xet).argmax(1) == 1).numpy() == ye_red)))
    return times, accs


def time_to(times, accs, target):
    for i, a in enumerate(accs):
        if a >= target:
            return sum(times[: i + 1]), i + 1
    return None, None


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--target", type=float, default=0.995)
    args = ap.parse_args(argv)
    _, X, y, Xe, ye = data(args.rows)
    runners = {"tinymlp (numpy)": run_mlp, "scikit-learn": run_sklearn, "pytorch (cpu)": run_torch}
    results = {}
    for name, fn in runners.items():
        try:
            results[name] = fn(X, y, Xe, ye, args.epochs, args.target)
        except ImportError as e:
            print(f"{name}: skipped ({e}); install the bench extra: pip install -e '.[bench]'")
    print(f"\nred, (32, 32) relu, Adam lr {LR}, batch 256, {args.rows} rows, {args.epochs} epochs; "
          f"accuracy on 50,000 uniform colours after each epoch (not timed)")
    print(f"{'':18} {'ms/epoch (median)':>18} {'time to ' + format(args.target, '.1%'):>16} "
          f"{'epochs':>7} {'final acc':>10}")
    med = {}
    for name, (times, accs) in results.items():
        med[name] = statistics.median(times) * 1000
        t, e = time_to(times, accs, args.target)
        tt = f"{t:.2f} s" if t is not None else "not reached"
        print(f"{name:18} {med[name]:18.1f} {tt:>16} {e or '-':>7} {accs[-1]:10.4%}")
    ours = med.get("tinymlp (numpy)")
    for name in ("scikit-learn", "pytorch (cpu)"):
        if ours and name in med:
            print(f"ratio tinymlp / {name} per epoch: {ours / med[name]:.2f}x (target <= 0.5x)")


if __name__ == "__main__":
    main()
