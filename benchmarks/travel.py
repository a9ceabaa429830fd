"""Models that travel, in figures: each default model (trained as `make train` trains it) exported
to ONNX, its onnxruntime answers against predict_proba / predict on 10,000 fresh rows (largest
difference, rows whose label differs, the smallest gap between the top two probabilities);
then scikit-learn MLPs imported for each activation, output kind and scaler, the largest
difference between the network tinymlp serves and the estimator.

    python -m benchmarks.travel [--rows 10000] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import warnings

import numpy as np


def onnx_figures(rows: int, quick: bool) -> None:
    import onnxruntime as ort

    from core.store import ModelStore
    from trainer import pipeline
    from trainer.export import onnx_of
    from trainer.tasks import TASKS

    print(f"ONNX export: onnxruntime against the network on {rows:,} fresh rows "
          "(probabilities absolute, values relative)")
    print(f"  {'model':<14}{'max |Δ|':>10}{'labels differ':>15}{'closest top two':>17}")
    with tempfile.TemporaryDirectory() as folder:
        store = ModelStore(folder)
        for task in TASKS.values():
            cfg = task.train.replace(epochs=1) if quick else None
            pipeline.train_task(task, store, config=cfg)
            model = store.open(task.name)
            net = model.network
            session = ort.InferenceSession(onnx_of(model), providers=["CPUExecutionProvider"])
            X = task.draw_uniform(np.random.default_rng(7), rows).astype(np.float32)
            outputs = session.run(None, {"input": X})
            if net.is_classifier:
                expected = net.predict_proba(X)
                gap = np.max(np.abs(outputs[0] - expected))
                differ = int(np.sum(outputs[1] != expected.argmax(axis=1)))
                top = np.sort(expected, axis=1)
                closest = f"{np.min(top[:, -1] - top[:, -2]):.1e}"
            else:
                expected = net.forward(X)
                gap = np.max(np.abs(outputs[0] - expected) / np.abs(expected))
                differ, closest = 0, "-"
            print(f"  {task.name:<14}{gap:>10.1e}{differ:>15}{closest:>17}")


def sklearn_figures(rows: int) -> None:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    from trainer.sklearn_import import to_network

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 3)) * [1, 10, 100] + [0, 50, 1000]
    z = (X - [0, 50, 1000]) / [1, 10, 100]
    y = {"binary": (z[:, 0] + z[:, 1] > 0).astype(int),
         "multiclass": np.digitize(z[:, 0] - z[:, 2], [-0.5, 0.5]),
         "regressor": 300 * z[:, 0] + 20 * z[:, 1] ** 2,
         "multi_output": np.column_stack([300 * z[:, 0], z[:, 2] - z[:, 0]])}
    probe = rng.normal(size=(rows, 3)) * [1, 10, 100] + [0, 50, 1000]
    print(f"\nscikit-learn import: the network against the estimator on {rows:,} rows "
          "(probabilities absolute, values relative)")
    acts = ("identity", "logistic", "tanh", "relu")
    print(f"  {'output, scaler':<24}" + "".join(f"{a:>10}" for a in acts))
    for kind, target in y.items():
        for scaler_cls in (None, StandardScaler, MinMaxScaler):
            line = f"  {kind + ', ' + (scaler_cls.__name__ if scaler_cls else 'no scaler'):<24}"
            for act in acts:
                cls = MLPClassifier if kind in ("binary", "multiclass") else MLPRegressor
                est = cls(hidden_layer_sizes=(16, 16), activation=act, max_iter=100, random_state=0)
                est = make_pipeline(scaler_cls(), est) if scaler_cls is not None else est
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    est.fit(X, target)
                net = to_network(est)
                rows_in = np.clip(probe, X.min(0), X.max(0)) if scaler_cls is MinMaxScaler else probe
                if net.is_classifier:
                    gap = np.max(np.abs(net.predict_proba(rows_in) - est.predict_proba(rows_in)))
                else:
                    theirs = est.predict(rows_in).reshape(len(rows_in), -1)
                    gap = np.max(np.abs(net.forward(rows_in) - theirs) / np.maximum(np.abs(theirs), 1.0))
                line += f"{gap:>10.1e}"
            print(line)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--quick", action="store_true", help="train each default model for one epoch")
    args = ap.parse_args(argv)
    onnx_figures(args.rows, args.quick)
    sklearn_figures(args.rows)


if __name__ == "__main__":
    main()
