"""Rollouts through a real gunicorn (docker/gunicorn.conf.py, 2 workers, the shipped INFO
logging), on a store holding red trained as `make train` trains it (v1), a near copy of it
(v2: noise on its output layer, agreeing on most rows) and a copy answering the opposite class
(v3: its output columns swapped):

(a) the share: 10,000 unkeyed one-row requests at a 10% split; the candidate's share of the
    answers (target: within 1 point of 10%), and the figures' request counts against them;
(b) stickiness: 1,000 routing keys x 5 requests each, the keys' rounds interleaved; keys that
    ever saw both versions (target 0);
(c) the figures against an offline replay: rows_compared and rows_agreed as the service
    reports them, and as both versions give them offline on the rows the candidate answered
    (target: equal);
(d) the cost, one-row predicts with wrk (16 connections, unkeyed): no rollout, a 10% split
    and a shadow of every request, in alternating rounds; median requests/s and p99, and the
    median of the per-round ratios (targets: split >= 0.9x, shadow >= 0.7x, p99 <= 1.5x); and
    the gunicorn workers' CPU time per request (from /proc), which a busy shared machine
    disturbs far less than the throughput;
(e) the guard: a shadow of the opposite-class copy under 4 client threads until it is rolled
    back, then 2 s more; rows compared when it tripped (target <= min_rows + 100), failed
    requests (target 0) and the versions that answered (target: only the stable).

    python -m benchmarks.rollout [--rounds 5] [--seconds 4] [--connections 16] [--workers 2] [--postgres]

Needs Debian's wrk (and, with --postgres, its postgresql: the counters then live there).
gunicorn listens on 127.0.0.1 and a free port, and is stopped by its pid.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from benchmarks.serve_wrk import post_script, wrk
from core.rollouts.figures import Comparer
from harness.processes import Gunicorn, Postgres
from harness.stores import publish_nudged, publish_opposite, red_store, require

TOKEN = "rollout-bench-token-0123456789"
RELOAD = 0.2  # TINYMLP_RELOAD_INTERVAL: every worker routes by a change within it


class Caller:
    """One keep-alive connection to the service."""

    def __init__(self, base: str):
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def call(self, method: str, path: str, body=None, headers: dict | None = None) -> tuple[int, dict, dict]:
        data = None if body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        resp = self.conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw or b"null"), dict(resp.getheaders())

    def predict(self, rows, key: str | None = None) -> int:
        status, body, headers = self.call("POST", "/predict/red", {"inputs": rows},
                                          {"X-Routing-Key": key} if key else None)
        if status != 200 or headers.get("X-Model-Version") != str(body["version"]):
            raise RuntimeError(f"predict answered {status}: {body}")
        return body["version"]

    def close(self) -> None:
        self.conn.close()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def start(base: str, **body) -> dict:
    c = Caller(base)
    try:
        status, answer, _ = c.call("PUT", "/models/red/rollout", body, AUTH)
    finally:
        c.close()
    if status != 201:
        raise RuntimeError(f"PUT /models/red/rollout answered {status}: {answer}")
    time.sleep(RELOAD * 5)
    return answer


def end(base: str) -> None:
    c = Caller(base)
    try:
        c.call("DELETE", "/models/red/rollout", headers=AUTH)
    finally:
        c.close()
    time.sleep(RELOAD * 5)


def figures(base: str) -> dict:
    time.sleep(0.5)  # every worker's last flush
    c = Caller(base)
    try:
        return c.call("GET", "/models/red/rollout")[1]
    finally:
        c.close()


def in_threads(n: int, work) -> None:
    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def share_and_stickiness(base: str, store_root: Path) -> None:
    start(base, candidate=2, percent=10, min_rows=10**9)
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 256, size=(10_000, 3)).tolist()
    answered = [0] * len(rows)

    def unkeyed(t):
        c = Caller(base)
        for i in range(t, len(rows), 4):
            answered[i] = c.predict([rows[i]])
        c.close()

    in_threads(4, unkeyed)
    share = answered.count(2) / len(answered)
    keys = [f"user-{i}" for i in range(1000)]
    seen: dict[str, set] = {k: set() for k in keys}
    keyed_rows = rng.integers(0, 256, size=(5, len(keys), 3)).tolist()
    keyed_answers = []
    lock = threading.Lock()

    def keyed(t):
        c = Caller(base)
        for r in range(5):  # round after round: a key comes back after every other key had a turn
            for i in range(t, len(keys), 4):
                v = c.predict([keyed_rows[r][i]], key=keys[i])
                with lock:
                    seen[keys[i]].add(v)
                    keyed_answers.append((keyed_rows[r][i], v))
        c.close()

    in_threads(4, keyed)
    f = figures(base)
    both = sum(len(v) > 1 for v in seen.values())
    on_candidate = sum(v == {2} for v in seen.values())
    print(f"(a) 10,000 unkeyed requests at 10%: the candidate answered {answered.count(2):,} = {share:.2%} "
          f"(target 9%-11%: {'met' if abs(share - 0.10) <= 0.01 else 'NOT met'})")
    print(f"(b) 1,000 keys x 5 requests: {both} keys saw both versions (target 0); {on_candidate} keys "
          f"({on_candidate / 10:.1f}%) on the candidate")
    # (c): both versions offline on the rows the candidate answered
    from core.store import ModelStore

    store = ModelStore(store_root)
    s, c = store.open("red", 1), store.open("red", 2)
    comparer = Comparer.of(s.info.output, c.info.output, None)
    compared_rows = [r for r, v in zip(rows, answered) if v == 2] + [r for r, v in keyed_answers if v == 2]
    n = agreed = 0
    for row in compared_rows:  # one request at a time, as the service ran them
        X = np.asarray([row], dtype=float)
        k, a, _, _ = comparer.rows(s.network.predict_proba(X), c.network.predict_proba(X))
        n, agreed = n + k, agreed + a
    candidate_requests = answered.count(2) + sum(v == 2 for _, v in keyed_answers)
    print(f"    the figures' requests: stable {f['requests']['stable']:,}, candidate {f['requests']['candidate']:,} "
          f"(answers seen: {len(answered) + len(keyed_answers) - candidate_requests:,} and {candidate_requests:,})")
    match = (f["rows_compared"], f["rows_agreed"]) == (n, agreed)
    print(f"(c) reported rows_compared {f['rows_compared']:,}, rows_agreed {f['rows_agreed']:,} "
          f"(agreement {f['agreement']:.4f}); offline replay {n:,} and {agreed:,}: "
          f"{'equal' if match else 'NOT equal'} (target equal)")
    end(base)


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(master_pid: int) -> float:
    """CPU seconds (user and system) the gunicorn master's workers have used so far: a cost
    that other processes on a shared machine disturb far less than throughput."""
    total = 0.0
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    for pid in children:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    return total


def cost(base: str, tmp: str, rounds: int, seconds: int, connections: int, master_pid: int) -> None:
    script = post_script(tmp, "one", {"inputs": [[255, 0, 0]]})
    url = base + "/predict/red"
    configs = {"none": None, "split": {"candidate": 2, "percent": 10, "min_rows": 10**9},
               "shadow": {"candidate": 2, "mode": "shadow", "min_rows": 10**9}}
    runs: dict[str, list] = {k: [] for k in configs}
    for r in range(rounds):
        order = list(configs) if r % 2 == 0 else list(reversed(configs))  # each goes first in turn
        for name in order:
            if configs[name] is not None:
                start(base, **configs[name])
            before = cpu_seconds(master_pid)
            run = wrk(url, seconds, connections, script)
            run["cpu_ms"] = (cpu_seconds(master_pid) - before) * 1e3 / max(run["requests"], 1)
            runs[name].append(run)
            if configs[name] is not None:
                end(base)
    med = {k: {m: statistics.median(x[m] for x in v) for m in ("rps", "p99_ms", "cpu_ms")} for k, v in runs.items()}
    failed = {k: sum(x["failed"] for x in v) for k, v in runs.items()}
    print(f"(d) one-row predicts, wrk {connections} connections, {rounds} rounds of {seconds} s each:")
    for name, what in (("none", "no rollout"), ("split", "10% split "), ("shadow", "shadow    ")):
        print(f"    {what}  median {med[name]['rps']:7.0f} req/s  median p99 {med[name]['p99_ms']:6.2f} ms  "
              f"worker CPU {med[name]['cpu_ms']:.3f} ms a request  failed {failed[name]}  (runs: "
              + ", ".join(f"{x['rps']:.0f}" for x in runs[name]) + ")")
    for name, target in (("split", 0.9), ("shadow", 0.7)):
        ratios = [x["rps"] / n["rps"] for x, n in zip(runs[name], runs["none"])]
        p99 = [x["p99_ms"] / n["p99_ms"] for x, n in zip(runs[name], runs["none"])]
        r, q = statistics.median(ratios), statistics.median(p99)
        cpu = statistics.median(x["cpu_ms"] / n["cpu_ms"] for x, n in zip(runs[name], runs["none"]))
        lost = failed[name] + failed["none"]  # wrk counts a failed answer as a request
        verdict = ("met" if r >= target else "NOT met") if not lost else f"NOT met: {lost:,} requests failed"
        print(f"    {name}/none: throughput {r:.2f}x (target >= {target}x: {verdict}; "
              "per round " + ", ".join(f"{x:.2f}" for x in ratios) + f"), p99 {q:.2f}x (target <= 1.5x: "
              f"{'met' if q <= 1.5 else 'NOT met'}; per round " + ", ".join(f"{x:.2f}" for x in p99) + ")"
              f"; worker CPU a request {cpu:.2f}x")


def guard(base: str) -> None:
    started = start(base, candidate=3, mode="shadow")
    min_rows = started["guards"]["min_rows"]
    versions: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def client(t):
        c = Caller(base)
        rng = np.random.default_rng(100 + t)
        while not stop.is_set():
            try:
                versions.append(c.predict(rng.integers(0, 256, size=(1, 3)).tolist()))
            except Exception as e:  # every failure is counted
                failures.append(repr(e))
                c.close()
                c = Caller(base)
        c.close()

    threads = [threading.Thread(target=client, args=(t,)) for t in range(4)]
    began = time.monotonic()
    for t in threads:
        t.start()
    watcher = Caller(base)
    while watcher.call("GET", "/models/red/rollout")[1]["status"] == "running" and time.monotonic() - began < 120:
        time.sleep(0.02)
    tripped = time.monotonic() - began
    watcher.close()
    time.sleep(2)
    stop.set()
    for t in threads:
        t.join()
    f = figures(base)
    ok = f["status"] == "rolled_back" and f["rows_compared"] <= min_rows + 100
    print(f"(e) a shadow of the opposite class: {f['status']} after {tripped:.2f} s, at {f['rows_compared']:,} "
          f"compared rows (target <= min_rows + 100 = {min_rows + 100}: {'met' if ok else 'NOT met'}); "
          f"{len(versions):,} requests, {len(failures)} failed (target 0), answered by versions "
          f"{sorted(set(versions))} (target [1]); reason: {f['reason']}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (TINYMLP_WORKERS; default 2)")
    ap.add_argument("--postgres", action="store_true", help="the counters in a PostgreSQL of its own")
    args = ap.parse_args(argv)
    require("wrk")
    with tempfile.TemporaryDirectory(prefix="tinymlp-rollout-") as tmp:
        store = red_store(Path(tmp) / "models")
        assert publish_nudged(store, "red", 3.0, seed=1).version == 2
        assert publish_opposite(store, "red").version == 3
        env = {"TINYMLP_RELOAD_INTERVAL": str(RELOAD), "TINYMLP_LOG_LEVEL": "INFO", "TINYMLP_TRAIN_TOKEN": TOKEN,
               "TINYMLP_STATE_DIR": str(Path(tmp) / "state")}
        postgres = Postgres().start() if args.postgres else None
        try:
            if postgres is not None:
                env["TINYMLP_DATABASE_URL"] = postgres.create_database("rollouts")
            with Gunicorn(store.root, workers=args.workers, log_path=Path(tmp) / "gunicorn.log", env=env) as server:
                print(f"gunicorn: {args.workers} workers, docker/gunicorn.conf.py, TINYMLP_LOG_LEVEL=INFO; counters in "
                      f"{'PostgreSQL' if postgres else 'SQLite'}; red v1 as make train trains it, v2 a near copy, "
                      "v3 its opposite")
                share_and_stickiness(server.base, store.root)
                cost(server.base, tmp, args.rounds, args.seconds, args.connections, server.proc.pid)
                guard(server.base)
        finally:
            if postgres is not None:
                postgres.stop()


if __name__ == "__main__":
    main()
