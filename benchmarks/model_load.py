"""Loading a large model file in a serving worker: its peak memory and the stall of the
predictions it answers meanwhile, before and after, side by side in one run.

The old commit is checked out in a temporary git worktree; each tree serves a copy of one
store (red) from one gunicorn sync worker (as served, TINYMLP_RELOAD_INTERVAL=0.25, a file
cap of 64 MiB so that both trees read the largest file). One client sends one-row POST
/predict/red back to back; a valid model file of each size (a red-like network, trained an
epoch so that it carries its optimizer state, as trained models do) is dropped into the store
as a new model, and the worker loads it on its next scan. Printed per size and tree:

    load        seconds from the drop until /models/big says it is served
    stall       the predictions' latency while it loads: p50, p99 and max (and p99 before it)
    worker      the worker's peak RSS (VmHWM) before the drop and after the load
    child       the peak RSS of the short-lived process that parsed the file, if any

and the cost of either way of reading a file at mlp.isolated.ISOLATE_ABOVE, in this process.

    python -m benchmarks.model_load [--old b4a0887] [--sizes 16,62]
Needs git.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

import mlp
from benchmarks.compare_commits import worktree
from harness.processes import ROOT, Gunicorn
from harness.stores import red_store
from mlp import isolated

ONE_ROW = json.dumps({"inputs": [[255, 0, 0]]}).encode()
CAP = 64 * 1024 * 1024 + 1024


def model_text(size: int) -> str:
    """A valid model file of about ``size`` bytes: red's inputs, two hidden layers as wide as
    it takes, trained one small epoch (so it holds Adam's two buffers, as trained files do)."""
    width = 64
    for _ in range(5):
        spec = mlp.InputSpec(("r", "g", "b"), "int", (0, 0, 0), (255, 255, 255))
        net = mlp.Network.build(mlp.NetworkConfig(hidden=(width, width)), 3, 2, labels=["red", "not_red"],
                                input_spec=spec)
        net.normalizer = mlp.Normalizer.min_max([0, 0, 0], [255, 255, 255])
        X = np.random.default_rng(0).integers(0, 256, (64, 3))
        mlp.fit(net, X, np.where(X[:, 0] > 128, "red", "not_red"), mlp.TrainConfig(epochs=1, batch_size=64))
        text = mlp.dumps(net, name="big", version=1)
        if abs(len(text) - size) < size * 0.02:
            break
        width = int(width * math.sqrt(size / len(text)))
    return text


def status_kib(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class ChildPeak(threading.Thread):
    """The largest VmHWM of any child of ``pid`` seen while it runs (polled)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self.stop = pid, 0, threading.Event()

    def children(self) -> list[int]:
        found = []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    stat = Path(entry.path, "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.pid:
                    found.append(int(entry.name))
        return found

    def run(self) -> None:
        while not self.stop.is_set():
            for kid in self.children():
                while (hwm := status_kib(kid, "VmHWM")) is not None and not self.stop.is_set():
                    self.peak_kib = max(self.peak_kib, hwm)  # followed closely while it lives
                    time.sleep(0.002)
            time.sleep(0.01)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def measure(tree: Path, models: Path, text: str, scratch: Path, tag: str) -> dict:
    env = {"TINYMLP_RELOAD_INTERVAL": "0.25", "TINYMLP_MAX_MODEL_BYTES": str(CAP),
           "TINYMLP_STATE_DIR": str(scratch / f"state-{tag}")}
    with Gunicorn(models, workers=1, cwd=tree, log_path=scratch / f"{tag}.log", env=env) as server:
        pid = int(subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True,
                                 check=True).stdout.split()[0])
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)

        def call(method, path, body=None) -> tuple[int, bytes]:
            conn.request(method, path, body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            return r.status, r.read()

        def predict() -> float:
            t = time.perf_counter()
            status, _ = call("POST", "/predict/red", ONE_ROW)
            assert status == 200, status
            return time.perf_counter() - t

        end = time.perf_counter() + 2.0
        baseline = []
        while time.perf_counter() < end:
            baseline.append(predict())
        hwm_before = status_kib(pid, "VmHWM")
        kids = ChildPeak(pid)
        kids.start()
        folder = models / "big"
        folder.mkdir()
        tmp = folder / ".big.part"
        tmp.write_text(text)
        dropped = time.perf_counter()
        os.rename(tmp, folder / "1.json")  # the worker sees it whole, on its next scan
        during, loaded, next_check = [], None, 0.0
        while loaded is None or time.perf_counter() < loaded + 0.5:
            now = time.perf_counter()
            if now - dropped > 300:
                raise RuntimeError(f"{tag}: the big model was not served within 300 s")
            if loaded is None:
                during.append(predict())
                if now >= next_check:
                    status, body = call("GET", "/models/big")
                    if status == 200 and json.loads(body).get("served_version") == 1:
                        loaded = time.perf_counter()
                    next_check = now + 0.05
            else:
                predict()
        kids.stop.set()
        kids.join()
        hwm_after = status_kib(pid, "VmHWM")
        conn.close()
    return {"load": loaded - dropped, "p50": pct(during, 50) * 1e3, "p99": pct(during, 99) * 1e3,
            "max": max(during) * 1e3, "base_p99": pct(baseline, 99) * 1e3, "n": len(during),
            "hwm_before": hwm_before / 1024, "hwm_after": hwm_after / 1024, "child": kids.peak_kib / 1024}


def threshold_costs(folder: Path) -> str:
    """Reading a file of ISOLATE_ABOVE bytes in this process (holding the GIL throughout) and
    in a child (the parent waits on a pipe)."""
    path = folder / "threshold.json"
    path.write_text(model_text(isolated.ISOLATE_ABOVE))
    out = {}
    for how, limit in (("in process", 0), ("in a child", 1)):
        times = []
        for _ in range(3):
            t = time.perf_counter()
            with open(path, "rb") as f:
                mlp.load_file(f, str(path), with_optimizer=False, isolate_above=limit)
            times.append(time.perf_counter() - t)
        out[how] = statistics.median(times) * 1e3
    return (f"a {path.stat().st_size / 2**20:.1f} MiB file (ISOLATE_ABOVE): in process {out['in process']:.0f} ms "
            f"holding the GIL, in a child {out['in a child']:.0f} ms waiting on a pipe (medians of 3)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", default="b4a0887", help="the commit before the change (default: this work's base)")
    ap.add_argument("--sizes", default="16,62", help="model file sizes in MiB")
    args = ap.parse_args(argv)
    sizes = [float(s) for s in args.sizes.split(",")]
    results = {}
    with tempfile.TemporaryDirectory(prefix="tinymlp-model-load-") as tmp, ExitStack() as stack:
        tmp = Path(tmp)
        trees = {"old": worktree(stack, args.old, tmp), "new": ROOT}
        base = red_store(tmp / "base").root
        for i, size in enumerate(sizes):
            text = model_text(int(size * 2**20))
            for tag in ("old", "new") if i % 2 == 0 else ("new", "old"):  # neither always goes first
                models = tmp / f"models-{size:g}-{tag}"
                shutil.copytree(base, models)
                results[size, tag] = measure(trees[tag], models, text, tmp, f"{size:g}-{tag}")
            results[size, "bytes"] = len(text)
        costs = threshold_costs(tmp)
    print(f"old {args.old} vs new (this tree): one gunicorn sync worker, one-row predicts back to back "
          "while it loads a new model file")
    print(f"{'file':>10} {'tree':>4} {'load s':>7} {'stall p50/p99/max ms':>22} {'(p99 before)':>12} "
          f"{'worker peak RSS MiB':>21} {'child peak':>10}")
    for size in sizes:
        for tag in ("old", "new"):
            r = results[size, tag]
            child = f"{r['child']:.0f} MiB" if r["child"] else "-"
            print(f"{results[size, 'bytes'] / 2**20:>6.1f} MiB {tag:>4} {r['load']:>7.2f} "
                  f"{r['p50']:>7.1f}/{r['p99']:>6.1f}/{r['max']:>7.1f} {r['base_p99']:>12.1f} "
                  f"{r['hwm_before']:>9.0f} -> {r['hwm_after']:>6.0f} {child:>10}")
        o, n = results[size, "old"], results[size, "new"]
        print(f"{'':>10} new/old: load {n['load'] / o['load']:.2f}, max stall {n['max'] / o['max']:.3f}, "
              f"worker peak growth {(n['hwm_after'] - n['hwm_before']) / max(o['hwm_after'] - o['hwm_before'], 1):.3f}")
    print(costs)


if __name__ == "__main__":
    main()
