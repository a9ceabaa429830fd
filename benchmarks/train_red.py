"""Train red with the same (32, 32) relu MLP, data, batch size 256 and epochs in this
library, scikit-learn's MLPClassifier and PyTorch (CPU), side by side in one run.

Prints median ms per epoch, the time to reach 99.5% accuracy on uniform colours,
and our ratios against each peer. Needs the `bench` extra (scikit-learn, torch).

    python -m benchmarks.train_red [--rows 20000] [--epochs 30]

With ``--recipes``, the red model's recipe before issue 21 and the one `make train` uses
now instead, side by side in one run, each trained as `make train` trains it (draw the
data, fit, judge, publish) for each seed, old and new taking turns to go first:

    python -m benchmarks.train_red --recipes [--seeds 0,1,2] [--predict-repeats 300]

It prints per recipe and seed the shell's accuracy and expected calibration error (on the
judged 20,000 colours and on all 410,823 integer colours within 8 of the surface), the
accuracy on 200,000 uniform colours and on the cube's 8 corners, and the seconds taken;
then the medians, the new/old time ratio, and predict_proba's cost for each recipe's
network (10,000 raw rows and one row, alternating, medians).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass

import numpy as np

import mlp
from core.store import ModelStore
from trainer import pipeline
from trainer.evaluation import expected_calibration_error
from trainer.tasks import get_task
from trainer.tasks.red import BLACK, CENTRE, RADIUS, SHELL_HALF_WIDTH, WHITE

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


# -- the red recipe before issue 21 against today's ------------------------------------


@dataclass(frozen=True)
class Recipe:
    name: str
    network: mlp.NetworkConfig
    train: mlp.TrainConfig
    sample: object  # (rng, n) -> (X, y)


def _ball(rng, centre, r_low, r_high, n) -> np.ndarray:
    """The sampler before issue 21: continuous points uniform in volume, rounded."""
    out, have = [], 0
    while have < n:
        k = 2 * (n - have) + 64
        d = rng.normal(size=(k, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        u = rng.uniform(r_low**3, r_high**3, size=k) ** (1 / 3)
        p = np.rint(centre + d * u[:, None])
        p = p[np.all((p >= 0) & (p <= 255), axis=1)]
        dist = np.linalg.norm(p - centre, axis=1)
        p = p[(dist >= r_low) & (dist <= r_high)]
        out.append(p)
        have += len(p)
    return np.concatenate(out)[:n].astype(np.int64)


def _sample_before_issue_21(rng, n):
    """The sampler red had before issue 21: 40% the cube, 10% each corner, the rest +-12."""
    task = get_task("red")
    parts = [task.draw_uniform(rng, n * 4 // 10), _ball(rng, BLACK, 0, 64, n // 10),
             _ball(rng, WHITE, 0, 64, n // 10)]
    parts.append(_ball(rng, CENTRE, RADIUS - 12, RADIUS + 12, n - sum(map(len, parts))))
    X = np.concatenate(parts)
    X = X[rng.permutation(len(X))]
    return X, task.truth(X)


OLD = Recipe(
    "old",
    mlp.NetworkConfig(hidden=(32, 32), activation="relu", output="softmax",
                      loss="categorical_crossentropy", init="he"),
    mlp.TrainConfig(epochs=60, batch_size=256, learning_rate=0.01, schedule="cosine", decay=0.01,
                    samples_per_epoch=20_000, seed=0),
    _sample_before_issue_21,
)


def current_recipe() -> Recipe:
    task = get_task("red")
    return Recipe("new", task.network, task.train, task.sample)


def shell_colours() -> np.ndarray:
    """Every integer colour within SHELL_HALF_WIDTH of the sphere's surface."""
    r_high = RADIUS + SHELL_HALF_WIDTH
    axes = [np.arange(max(0, int(np.ceil(c - r_high))), min(255, int(c + r_high)) + 1) for c in CENTRE]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    d2 = ((grid - CENTRE) ** 2).sum(axis=1)
    return grid[(d2 >= (RADIUS - SHELL_HALF_WIDTH) ** 2) & (d2 <= r_high**2)]


def train_as_make_train_does(recipe: Recipe, seed: int):
    """(network, judged metrics, wall seconds, cpu seconds) of one red model, trained the
    way `make train` trains it: data drawn, fitted, judged and published to a store."""
    task = get_task("red")
    cfg = recipe.train.replace(seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        data = recipe.sample(np.random.default_rng(seed), task.train_samples)
        result = pipeline.train_task(task, ModelStore(tmp), config=cfg, network_config=recipe.network,
                                     data=data)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return result.network, result.metrics, wall, cpu


def whole_shell(net: mlp.Network, colours: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Accuracy and expected calibration error over every colour of the shell."""
    proba = net.predict_proba(colours)
    correct = np.asarray(net.labels, dtype=object)[proba.argmax(axis=1)] == truth
    return float(correct.mean()), expected_calibration_error(proba, correct)


def predict_cost(nets: dict[str, mlp.Network], repeats: int) -> dict[str, tuple[float, float]]:
    """Median seconds of predict_proba on 10,000 raw rows and on one row, per network,
    the networks taking turns so that drift on a shared machine hits them alike."""
    X = get_task("red").draw_uniform(np.random.default_rng(1), 10_000)
    many = {k: [] for k in nets}
    one = {k: [] for k in nets}
    for _ in range(repeats):
        for k, net in nets.items():
            t = time.perf_counter()
            net.predict_proba(X)
            many[k].append(time.perf_counter() - t)
            t = time.perf_counter()
            for i in range(20):
                net.predict_proba(X[i : i + 1])
            one[k].append((time.perf_counter() - t) / 20)
    return {k: (statistics.median(many[k]), statistics.median(one[k])) for k in nets}


def compare_recipes(seeds: list[int], predict_repeats: int) -> None:
    recipes = [OLD, current_recipe()]
    colours = shell_colours()
    truth = get_task("red").truth(colours)
    rows, nets, seconds = [], {}, {r.name: ([], []) for r in recipes}
    for i, seed in enumerate(seeds):
        # Each goes first in turn, so that a burst of load on a shared machine favours neither.
        for recipe in recipes if i % 2 == 0 else recipes[::-1]:
            net, m, wall, cpu = train_as_make_train_does(recipe, seed)
            acc, ece = whole_shell(net, colours, truth)
            rows.append((recipe.name, seed, m, acc, ece, wall, cpu))
            seconds[recipe.name][0].append(wall)
            seconds[recipe.name][1].append(cpu)
            nets.setdefault(recipe.name, net)
    for r in recipes:
        n = r.network
        print(f"{r.name}: {n.activation} {list(n.hidden)}, {r.train.epochs} epochs x "
              f"{r.train.samples_per_epoch} rows, batch {r.train.batch_size}, lr {r.train.learning_rate}")
    print(f"\n{'recipe':6} {'seed':>4} {'shell acc':>10} {'shell ECE':>10} {'all-shell acc':>14} "
          f"{'all-shell ECE':>14} {'uniform':>9} {'corners':>8} {'black/white':>12} {'wall s':>7} {'cpu s':>6}")
    for name, seed, m, acc, ece, wall, cpu in sorted(rows, key=lambda r: (r[1], r[0] != "old")):
        bw = min(m["near_black"]["accuracy"], m["near_white"]["accuracy"])
        print(f"{name:6} {seed:4d} {m['shell']['accuracy']:10.3%} {m['shell']['ece']:10.3%} {acc:14.3%} "
              f"{ece:14.3%} {m['uniform']['accuracy']:9.3%} {m['corners']['accuracy']:8.0%} {bw:12.2%} "
              f"{wall:7.2f} {cpu:6.2f}")
    print(f"\nall {len(colours):,} shell colours, over seeds {seeds}: accuracy min / median, ECE median / max")
    for r in recipes:
        acc = [x[3] for x in rows if x[0] == r.name]
        ece = [x[4] for x in rows if x[0] == r.name]
        print(f"  {r.name}: {min(acc):.3%} / {statistics.median(acc):.3%}, "
              f"{statistics.median(ece):.3%} / {max(ece):.3%} (targets: >= 99.5%, <= 1%)")
    med = {k: (statistics.median(w), statistics.median(c)) for k, (w, c) in seconds.items()}
    print(f"training as make train does, median over seeds: old {med['old'][0]:.2f} s wall "
          f"({med['old'][1]:.2f} s cpu), new {med['new'][0]:.2f} s wall ({med['new'][1]:.2f} s cpu); "
          f"new/old {med['new'][0] / med['old'][0]:.2f}x wall, {med['new'][1] / med['old'][1]:.2f}x cpu "
          f"(target <= 1)")
    cost = predict_cost(nets, predict_repeats)
    (old_many, old_one), (new_many, new_one) = cost["old"], cost["new"]
    print(f"predict_proba, median of {predict_repeats}: 10,000 rows old {old_many * 1e3:.3f} ms, "
          f"new {new_many * 1e3:.3f} ms ({new_many / old_many:.2f}x); one row old {old_one * 1e6:.1f} us, "
          f"new {new_one * 1e6:.1f} us ({new_one / old_one:.2f}x) (target <= 1)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--target", type=float, default=0.995)
    ap.add_argument("--recipes", action="store_true",
                    help="the red recipe before issue 21 against today's, side by side")
    ap.add_argument("--seeds", default="0,1,2", help="with --recipes: the seeds, comma-separated")
    ap.add_argument("--predict-repeats", type=int, default=300)
    args = ap.parse_args(argv)
    if args.recipes:
        try:
            seeds = [int(s) for s in args.seeds.split(",")]
        except ValueError:
            seeds = []
        if not seeds or min(seeds) < 0:
            ap.error(f"--seeds must be whole numbers >= 0 separated by commas, got {args.seeds!r}")
        compare_recipes(seeds, args.predict_repeats)
        return
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
