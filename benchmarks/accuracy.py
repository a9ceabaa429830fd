"""Train the seven default models exactly as `make train` does, timing the whole, and
print each one's judged figures against its target.

    python -m benchmarks.accuracy [--old-red]

For red also the shell (20,000 colours drawn uniformly from the integer colours within 8 of
the sphere's surface: accuracy and expected calibration error, targets >= 99.5% and <= 1%)
and the cube's 8 corners. ``--old-red`` also trains red with the recipe it had before
issue 21, just before today's, and prints it as one more row (not counted in the total);
``python -m benchmarks.train_red --recipes`` compares the two over several seeds.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from benchmarks.train_red import OLD, train_as_make_train_does
from core.store import ModelStore
from trainer import pipeline
from trainer.tasks import TASKS


def figures(name: str, m: dict) -> list[str]:
    h = m["headline"]
    figs = [f"{h['metric']} on {h['eval_set']} {h['value']:.4f} (bar {h['bar']}: "
            f"{'met' if h['met'] else 'MISSED'})"]
    if name == "red":
        figs += [f"shell {m['shell']['accuracy']:.3%} (ECE {m['shell']['ece']:.3%})",
                 f"corners {m['corners']['accuracy']:.0%}"]
        figs += [f"{k} {m[k]['accuracy']:.3%}" for k in ("near_black", "near_white")]
    if name == "iris":
        figs.append(f"45-row hold-out {m['test']['accuracy']:.4f}")
    return figs


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old-red", action="store_true",
                    help="also train red with its recipe before issue 21, side by side")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = ModelStore(tmp)
        total = 0.0
        for task in TASKS.values():
            if task.name == "red" and args.old_red:
                _, metrics, secs, _ = train_as_make_train_does(OLD, task.train.seed)
                rows.append(("red (old)", metrics, secs))
            t = time.perf_counter()
            result = pipeline.train_task(task, store)
            secs = time.perf_counter() - t
            total += secs
            rows.append((task.name, result.metrics, secs))
    print(f"{'task':<13} {'seconds':>8}  figures")
    for name, m, secs in rows:
        print(f"{name:<13} {secs:8.1f}  " + "; ".join(figures(name.split()[0], m)))
    print(f"all seven: {total:.1f} s (target <= 90 s on 2 cores)")


if __name__ == "__main__":
    main()
