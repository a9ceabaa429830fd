"""Train the seven default models exactly as `make train` does, timing the whole, and
print each one's judged figures against its target.

    python -m benchmarks.accuracy
"""

from __future__ import annotations

import tempfile
import time

from core.store import ModelStore
from trainer import pipeline
from trainer.tasks import TASKS


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = ModelStore(tmp)
        start = time.perf_counter()
        for task in TASKS.values():
            t = time.perf_counter()
            result = pipeline.train_task(task, store)
            rows.append((task, result.metrics, time.perf_counter() - t))
        total = time.perf_counter() - start
    print(f"{'task':<13} {'seconds':>8}  figures")
    for task, m, secs in rows:
        h = m["headline"]
        figs = [f"{h['metric']} on {h['eval_set']} {h['value']:.4f} (bar {h['bar']}: "
                f"{'met' if h['met'] else 'MISSED'})"]
        if task.name == "red":
            figs += [f"{k} {m[k]['accuracy']:.4%}" for k in ("near_black", "near_white", "shell")]
        if task.name == "iris":
            figs.append(f"45-row hold-out {m['test']['accuracy']:.4f}")
        print(f"{task.name:<13} {secs:8.1f}  " + "; ".join(figs))
    print(f"all seven: {total:.1f} s (target <= 90 s on 2 cores)")


if __name__ == "__main__":
    main()
