"""The predict path of two commits side by side, in one run: a change that touches the
predict path is measured against the commit before it.

Both commits are checked out (the old one in a temporary git worktree) and served at once by
gunicorn (each its own docker/gunicorn.conf.py, 2 workers, INFO logging) on one model store;
wrk then alternates between them, so drift on a shared machine hits both:

    one-row POST /predict/red        req/s, median of the rounds, and new/old
    10,000-row POST /predict/red     rows/s, median of the rounds, and new/old
    predict_proba, 10,000 rows       in process (benchmarks.predict_proba run in each tree)

    python -m benchmarks.compare_commits [--old 074f1a9] [--new HEAD] [--rounds 5] [--seconds 4]
Needs Debian's wrk and git.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from benchmarks.serve_wrk import post_script, wrk
from harness.processes import ROOT, Gunicorn
from harness.stores import red_store, require
from trainer.tasks import get_task


def worktree(stack: ExitStack, commit: str, tmp: Path) -> Path:
    """A checkout of ``commit`` that is removed when the stack closes."""
    path = tmp / f"tree-{commit}"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(path), commit], check=True)
    stack.callback(subprocess.run, ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
                   check=False)
    return path


def predict_proba_rows_per_s(tree: Path) -> float:
    out = subprocess.run([sys.executable, "-m", "benchmarks.predict_proba", "--repeats", "100"], cwd=tree,
                         capture_output=True, text=True, timeout=600, check=True).stdout
    return float(re.search(r"predict_proba, \d+ raw rows: median [\d.]+ ms \(([\d,]+) rows/s\)", out)
                 .group(1).replace(",", ""))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", default="074f1a9", help="the commit before the change (default: issue 11's base)")
    ap.add_argument("--new", default="HEAD", help="the commit with the change (default: HEAD)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args(argv)
    require("wrk")
    with tempfile.TemporaryDirectory(prefix="tinymlp-compare-") as tmp, ExitStack() as stack:
        tmp = Path(tmp)
        trees = {"old": worktree(stack, args.old, tmp), "new": worktree(stack, args.new, tmp)}
        store = red_store(tmp / "models")
        one = post_script(tmp, "one", {"inputs": [[255, 0, 0]]})
        rows = get_task("red").draw_uniform(np.random.default_rng(0), 10_000).tolist()
        big = post_script(tmp, "big", {"inputs": rows})
        servers = {}
        for tag, tree in trees.items():
            servers[tag] = stack.enter_context(Gunicorn(
                store.root, workers=2, cwd=tree, log_path=tmp / f"{tag}.log",
                env={"TINYMLP_LOG_LEVEL": "INFO", "TINYMLP_STATE_DIR": str(tmp / f"state-{tag}")}))
        runs = {(tag, kind): [] for tag in trees for kind in ("one", "big")}
        for _ in range(args.rounds):
            for tag in ("old", "new") if _ % 2 == 0 else ("new", "old"):
                url = servers[tag].base + "/predict/red"
                runs[tag, "one"].append(wrk(url, args.seconds, args.connections, one)["rps"])
                runs[tag, "big"].append(wrk(url, args.seconds, args.connections, big)["rps"] * 10_000)
        proba = {tag: [] for tag in trees}
        for _ in range(3):
            for tag, tree in trees.items():
                proba[tag].append(predict_proba_rows_per_s(tree))

    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"old {args.old} vs new {args.new}: gunicorn 2 workers each, wrk {args.connections} connections, "
          f"{args.rounds} alternating rounds of {args.seconds} s, medians")
    for kind, what, unit in (("one", "one-row predict", "req/s"), ("big", "10,000-row predict", "rows/s")):
        old, new = med["old", kind], med["new", kind]
        per_round = ", ".join(f"{n / o:.3f}" for o, n in zip(runs["old", kind], runs["new", kind]))
        print(f"  {what:20s} old {old:12,.0f} {unit}   new {new:12,.0f} {unit}   new/old {new / old:.3f}  "
              f"(rounds: {per_round})")
    po, pn = statistics.median(proba["old"]), statistics.median(proba["new"])
    print(f"  predict_proba 10,000 rows in process: old {po:,.0f} rows/s   new {pn:,.0f} rows/s   "
          f"new/old {pn / po:.3f}")


if __name__ == "__main__":
    main()
