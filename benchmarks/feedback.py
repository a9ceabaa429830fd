"""What the prediction log costs, how feedback answers, and how drift behaves (issue 20).

(a) Predict throughput with the prediction log on (TINYMLP_PREDICTION_LOG_RATE=1.0) against
    off (0): two gunicorns (2 workers each, the shipped config) on one freshly trained red,
    wrk with 16 connections against each in turn, --rounds of --seconds, one-row requests
    and 10,000-row requests; the median of the paired per-round ratios (targets: >= 0.9 and
    >= 0.85), on SQLite and on a real PostgreSQL. The idle gunicorn of a pair costs nothing.
    Beside it, the CPU seconds each request cost (gunicorn's workers, and PostgreSQL's
    processes, whose work the log adds), whose ratio off/on is the throughput ratio of a
    machine the run has to itself: on a shared one the req/s ratio swings with its neighbours.
(b) Feedback: 10,000 one-row predictions, then a feedback post for each, from 4 client
    threads (keep-alive): the feedback answers' p50 and p99 (target p99 <= 10 ms) and the
    share matched (target >= 99.9%); and the same with each feedback sent the moment its
    prediction answered (racing the worker's writer: the service looks again for up to
    0.3 s before a 404).
(c) Drift, in process, with ``core.drift`` on each default model's training data (the rows
    ``make train`` trains it on, so the reference it records): over 100 windows of 1,000 rows
    drawn from the task's training distribution, how often any feature's PSI passes 0.2
    (target: fewer than 5%); and with one feature shifted by half its training standard
    deviation (whole numbers stay whole; not clipped), how often its PSI passes 0.2 at 1,000
    rows while the others stay under 0.1, and the median PSI at 200, 500 and 1,000 rows.
    Then red through the service: 1,000 rows with green shifted (clipped to 0..255, as the
    service takes only colours), GET /models/red/drift.
(d) The retraining guard on random labels: slices of held-back feedback labelled at random,
    scored for two red versions (one trained further): how often the new one "wins" the
    slice, where every row is one they answer differently and where the rows are colours
    drawn at random.

    python -m benchmarks.feedback [--parts a,b,c,d] [--backends sqlite,postgres] [--rounds 5]
                                  [--seconds 4] [--feedback 10000]
Needs Debian's wrk for (a) and postgresql for its PostgreSQL runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import requests

from benchmarks.serve_wrk import post_script, wrk
from core import drift
from harness.processes import Gunicorn, Postgres, postgres_bin
from harness.stores import red_store, require
from trainer import pipeline
from trainer.tasks import TASKS, get_task

TOKEN = "bench-feedback-0123456789abcdef"
FB = {"Authorization": f"Bearer {TOKEN}"}


def _env(tmp: Path, url: str | None, rate: float, tag: str) -> dict:
    env = {"TINYMLP_STATE_DIR": str(tmp / f"state-{tag}"), "TINYMLP_PREDICTION_LOG_RATE": str(rate),
           "TINYMLP_FEEDBACK_TOKEN": TOKEN, "TINYMLP_LOG_LEVEL": "WARNING"}
    if url:
        env["TINYMLP_DATABASE_URL"] = url
    return env


_PG: list = []  # the PostgreSQL of the current run, if any


def _backends(names: list[str]):
    """(name, database URL or None) for each backend asked for, PostgreSQL started for the run."""
    try:
        for name in names:
            if name == "sqlite":
                yield name, None
            elif name == "postgres":
                if not postgres_bin("initdb"):
                    print("postgres: skipped (apt-get install postgresql)")
                    continue
                if not _PG:
                    _PG.append(Postgres().start())
                yield name, _PG[0].create_database(f"bench{int(time.time() * 1000) % 10**9}")
    finally:
        while _PG:
            _PG.pop().stop()


def _cpu_seconds(*pids: int) -> float:
    """CPU seconds (user and system) of these processes and their children, so far."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        for p in [pid, *map(int, children.split())]:
            try:
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _measured(server, script, seconds, pg) -> dict:
    pids = [server.proc.pid] + ([pg.proc.pid] if pg is not None else [])
    before = _cpu_seconds(*pids)
    got = wrk(server.base + "/predict/red", seconds, 16, script)
    got["cpu_ms"] = 1e3 * (_cpu_seconds(*pids) - before) / max(1, got["requests"])
    return got


def part_a(store, tmp: Path, backends: list[str], rounds: int, seconds: float) -> None:
    require("wrk")
    one = post_script(tmp, "one", {"inputs": [[255, 0, 0]]})
    rows = get_task("red").draw_uniform(np.random.default_rng(0), 10_000).tolist()
    big = post_script(tmp, "big", {"inputs": rows})
    print("(a) predict throughput, the prediction log on (rate 1.0) against off (rate 0); 2 gunicorn workers, "
          "wrk 16 connections")
    for backend, url in _backends(backends):
        pg = _PG[0] if url else None
        with Gunicorn(store.root, workers=2, env=_env(tmp, url, 0.0, f"{backend}-off")) as off, \
                Gunicorn(store.root, workers=2, env=_env(tmp, url, 1.0, f"{backend}-on")) as on:
            for what, script, rows_per in (("one-row", one, 1), ("10,000-row", big, 10_000)):
                pairs = []
                for i in range(rounds):
                    order = (off, on) if i % 2 == 0 else (on, off)  # take turns going first
                    got = {s: _measured(s, script, seconds, pg) for s in order}
                    pairs.append((got[off], got[on]))
                ratios = [b["rps"] / a["rps"] for a, b in pairs]
                failed = sum(a["failed"] + b["failed"] for a, b in pairs)
                target = 0.9 if rows_per == 1 else 0.85
                print(f"  {backend:8} {what:10} off {statistics.median(a['rps'] for a, _ in pairs) * rows_per:12,.0f}"
                      f" rows/s  on {statistics.median(b['rps'] for _, b in pairs) * rows_per:12,.0f} rows/s  "
                      f"on/off median {statistics.median(ratios):.3f} (target >= {target}; rounds "
                      + ", ".join(f"{r:.2f}" for r in ratios) + f")  failed {failed}")
                cpu_off = statistics.median(a["cpu_ms"] for a, _ in pairs)
                cpu_on = statistics.median(b["cpu_ms"] for _, b in pairs)
                print(f"  {backend:8} {what:10} CPU per request: off {cpu_off:.3f} ms, on {cpu_on:.3f} ms "
                      f"(+{cpu_on - cpu_off:.3f} ms{', PostgreSQL included' if pg else ''}): off/on "
                      f"{cpu_off / cpu_on:.3f}")
            written = _metric(on.base, "tinymlp_prediction_log_rows_total")
            dropped = _metric(on.base, "tinymlp_prediction_log_dropped_rows_total")
            print(f"  {backend:8} rows logged {written:,.0f}, dropped {dropped:,.0f} (queue full or database)")


def _metric(base: str, name: str) -> float:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith(name + "_created"))


def _feedback_run(base: str, n: int, threads: int, racing: bool) -> dict:
    """n predictions then n feedback posts (or each feedback right after its prediction)."""
    rng = np.random.default_rng(1)
    colours = rng.integers(0, 256, size=(n, 3)).tolist()
    ids: list = [None] * n
    latencies: list[float] = []
    matched = [0]
    lock = threading.Lock()

    def predict(session, i):
        r = session.post(base + "/predict/red", json={"inputs": [colours[i]]}, timeout=30)
        ids[i] = r.json()["id"]

    def feedback(session, i):
        started = time.perf_counter()
        r = session.post(base + "/feedback/red", json={"request_id": ids[i], "row": 0,
                                                       "label": "red" if i % 3 else "not_red"}, headers=FB, timeout=30)
        took = time.perf_counter() - started
        with lock:
            latencies.append(took)
            matched[0] += r.status_code == 200

    def worker(k):
        with requests.Session() as session:
            for i in range(k, n, threads):
                if racing:
                    predict(session, i)
                    feedback(session, i)
                else:
                    feedback(session, i)

    if not racing:
        def predicting(k):
            with requests.Session() as session:
                for i in range(k, n, threads):
                    predict(session, i)
        _run_threads(predicting, threads)
        time.sleep(0.5)  # the writers' last batches
    _run_threads(worker, threads)
    lat = sorted(latencies)
    # the share matched is of every feedback meant to be sent: a client thread that died
    # leaves its rows unsent, and they count as unmatched
    return {"n": n, "matched": matched[0], "p50": lat[len(lat) // 2] * 1e3,
            "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3}


def _run_threads(target, threads: int) -> None:
    pool = [threading.Thread(target=target, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def part_b(store, tmp: Path, backends: list[str], n: int, threads: int = 4) -> None:
    print(f"(b) feedback: {n:,} one-row predictions, then a feedback post for each, {threads} client threads; "
          "2 gunicorn workers")
    for backend, url in _backends(backends):
        with Gunicorn(store.root, workers=2, env=_env(tmp, url, 1.0, f"{backend}-fb")) as server:
            for racing in (False, True):
                got = _feedback_run(server.base, n, threads, racing)
                what = "right after each prediction" if racing else "after the predictions      "
                print(f"  {backend:8} {what}  p50 {got['p50']:6.2f} ms  p99 {got['p99']:6.2f} ms (target <= 10)  "
                      f"matched {got['matched']:,} of {got['n']:,} = {100 * got['matched'] / got['n']:.2f}% "
                      f"(target >= 99.9%)")


def _shifted(task, X: np.ndarray, j: int, sd: float) -> np.ndarray:
    out = X.astype(float).copy()
    out[:, j] += 0.5 * sd
    if task.dtype == "int":
        out[:, j] = np.round(out[:, j])
    return out


def part_c(store, tmp: Path, windows: int = 100, rows: int = 1000) -> None:
    print(f"(c) drift, in process: {windows} windows of {rows:,} rows per model, against the reference of the rows "
          "`make train` trains it on")
    print(f"  {'model':13} {'in-distribution: PSI > 0.2':>27}   one feature shifted by 0.5 sd: PSI > 0.2 on it and "
          "the others < 0.1 at 1,000 rows (median PSI at 200 / 500 / 1,000 rows)")
    for task in TASKS.values():
        cfg = task.train
        X, _ = task.sample(np.random.default_rng(cfg.seed), task.train_samples)
        X = np.asarray(X, dtype=float)
        features = list(task.features)
        ref = drift.reference(X, features, values=np.zeros(len(X)))
        rng = np.random.default_rng(2026)
        quiet = 0
        for _ in range(windows):
            W = np.asarray(task.sample(rng, rows)[0], dtype=float)
            quiet += any(drift.psi(ref.features[f].deciles, W[:, j]) > 0.2 for j, f in enumerate(features))
        shifted = []
        for j, f in enumerate(features):
            sd = float(X[:, j].std())
            hits, medians = 0, {200: [], 500: [], 1000: []}
            for _ in range(windows):
                W = _shifted(task, np.asarray(task.sample(rng, rows)[0], dtype=float), j, sd)
                psis = [drift.psi(ref.features[g].deciles, W[:, k]) for k, g in enumerate(features)]
                hits += psis[j] > 0.2 and all(p < 0.1 for k, p in enumerate(psis) if k != j)
                for size in medians:
                    medians[size].append(drift.psi(ref.features[f].deciles, W[:size, j]))
            shifted.append(f"{f} {100 * hits / windows:.0f}% ("
                           + " / ".join(f"{statistics.median(v):.2f}" for v in medians.values()) + ")")
        print(f"  {task.name:13} {100 * quiet / windows:25.0f}%   " + "; ".join(shifted))
    # red through the service: the answer of GET /models/red/drift
    red = get_task("red")
    X, _ = red.sample(np.random.default_rng(red.train.seed), red.train_samples)
    W = _shifted(red, np.asarray(red.sample(np.random.default_rng(7), 1000)[0], dtype=float), 1,
                 float(np.asarray(X, float)[:, 1].std()))
    W = np.clip(W, 0, 255).astype(int)
    with Gunicorn(store.root, workers=2, env=_env(tmp, None, 1.0, "drift")) as server:
        requests.post(server.base + "/predict/red", json={"inputs": W.tolist()}, timeout=30).raise_for_status()
        time.sleep(0.5)
        d = requests.get(server.base + "/models/red/drift", timeout=30).json()
    print(f"  red through the service, green shifted by 0.5 sd (clipped to 0..255): {d['window_rows']} rows, PSI "
          + ", ".join(f"{k} {v['psi']:.3f}" for k, v in d["features"].items())
          + f"; predictions {d['prediction']['psi']:.3f}")


def part_d(store, trials: int = 2000) -> None:
    from core.jobs import Policy, Promotion, Score
    from trainer import retraining

    print(f"(d) the retraining guard on random labels: {trials:,} slices of 60 held-back rows each, two red versions")
    red = get_task("red")
    parent = store.load("red", 1)
    new = pipeline.continue_training(store, "red", config=red.train.replace(epochs=2), samples=5000).network
    won = Promotion(Policy.IF_BETTER, True, "held-out", "uniform", "accuracy", Score(0.9), Score(0.95))
    rng = np.random.default_rng(4)
    pool = red.draw_uniform(rng, 400_000)
    disputed = pool[parent.predict(pool) != new.predict(pool)]
    labels = np.asarray(red.labels, dtype=object)
    for what, rows in (("every row answered differently by the two", disputed), ("uniform colours", pool)):
        if len(rows) < 60:
            print(f"  {what}: only {len(rows)} such rows; skipped")
            continue
        wins = 0
        for _ in range(trials):
            X = rows[rng.choice(len(rows), 60, replace=False)]
            wins += retraining.guard(won, parent, new, red, (X, list(rng.choice(labels, 60)))).promoted
        print(f"  {what}: the new version won {wins} of {trials:,} slices ({100 * wins / trials:.2f}%), each of "
              "which also needs a win on held-out data to be promoted")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", default="a,b,c,d")
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--feedback", type=int, default=10_000)
    args = ap.parse_args(argv)
    parts, backends = args.parts.split(","), args.backends.split(",")
    with tempfile.TemporaryDirectory(prefix="tinymlp-feedback-") as tmp:
        tmp = Path(tmp)
        store = red_store(tmp / "models")  # red as `make train` trains it
        if "a" in parts:
            part_a(store, tmp, backends, args.rounds, args.seconds)
        if "b" in parts:
            part_b(store, tmp, backends, args.feedback)
        if "c" in parts:
            part_c(store, tmp)
        if "d" in parts:
            part_d(store)


if __name__ == "__main__":
    main()
