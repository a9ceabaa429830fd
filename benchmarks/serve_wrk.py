"""wrk against one gunicorn config (docker/gunicorn.conf.py, 2 workers, logging at the shipped
INFO level), 16 connections:

(a) GET /healthz, (b) POST /predict/red and (b2) V2 infer, one row each, side by side:
    alternating runs of each (--rounds of --seconds), so drift on a shared machine hits all;
    medians, b/a and b2/a of each round (their median), the p99s (issue 18: >= 0.8);
(c) 10,000-row requests to /predict/red, and the same rows to V2 infer with a flat and with a
    nested `data`, alternating: rows per second, against `predict_proba` on the same rows in
    this process with one BLAS thread, as each gunicorn worker runs (issue 18: served >= 0.7x
    that rate), and the V2 request's time over the native one's (issue 18: <= 1.2);
(d) 5 new versions of red published during a run of /predict/red: failed requests,
    and the version serving at the end.

    python -m benchmarks.serve_wrk [--rounds 5] [--seconds 4] [--publish-seconds 30] [--connections 16]
                                   [--workers 2] [--log-level INFO]
Needs Debian's wrk. gunicorn listens on 127.0.0.1 and a free port with a temporary store
holding a freshly trained red model, and is stopped by its pid.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from harness.processes import Gunicorn
from harness.stores import red_store, require
from trainer import pipeline
from trainer.tasks import get_task


def wrk(url, seconds, connections, script=None) -> dict:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", script]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 1e-3, "ms": 1, "s": 1e3}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "p99_ms": float(p99.group(1)) * scale,
            "failed": (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)}


def post_script(folder, name, body) -> str:
    # A level-1 Lua long string: the JSON's own "]]" cannot end it.
    path = Path(folder) / f"{name}.lua"
    path.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                    f"wrk.body = [=[{json.dumps(body)}]=]\n")
    return str(path)


def publish_during(store, seconds, count=5) -> list[int]:
    """Publish ``count`` continued versions of red, spread over the run; their numbers."""
    published = []
    task = get_task("red")
    for _ in range(count):
        time.sleep(seconds / (count + 1))
        result = pipeline.continue_training(store, "red", config=task.train.replace(epochs=1), samples=2_000)
        published.append(result.published.version)
    return published


def v2_body(rows: list, nested: bool) -> dict:
    data = rows if nested else [v for row in rows for v in row]
    return {"inputs": [{"name": "input", "datatype": "INT64", "shape": [len(rows), len(rows[0])], "data": data}]}


def in_process_rate(store, rows: list, repeats: int = 50) -> float:
    """Rows per second of predict_proba on ``rows`` in this process, one BLAS thread (as each
    gunicorn worker: docker/gunicorn.conf.py), the median of ``repeats`` calls."""
    from threadpoolctl import threadpool_limits

    net = store.load("red")
    X = np.asarray(rows, dtype=np.float64)
    times = []
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(repeats):
            t = time.perf_counter()
            net.predict_proba(X)
            times.append(time.perf_counter() - t)
    return len(rows) / statistics.median(times)


def _line(tag: str, what: str, runs: list[dict]) -> str:
    return (f"({tag}) {what:<26} median {statistics.median(r['rps'] for r in runs):7.1f} req/s  median p99 "
            f"{statistics.median(r['p99_ms'] for r in runs):7.2f} ms  failed {sum(r['failed'] for r in runs)}  (runs: "
            + ", ".join(f"{r['rps']:.0f}" for r in runs) + ")")


def _per_round(top: list[dict], bottom: list[dict]) -> list[float]:
    return [t["rps"] / b["rps"] for t, b in zip(top, bottom)]


def _ratios(top: list[dict], bottom: list[dict]) -> str:
    per_round = _per_round(top, bottom)
    return f"{statistics.median(per_round):.2f} (per round: " + ", ".join(f"{r:.2f}" for r in per_round) + ")"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--publish-seconds", type=int, default=30)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (TINYMLP_WORKERS; default 2)")
    ap.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                    help="TINYMLP_LOG_LEVEL of the server; INFO (the shipped default) logs a line per request")
    args = ap.parse_args(argv)
    require("wrk")
    with tempfile.TemporaryDirectory(prefix="tinymlp-wrk-") as tmp:
        store = red_store(Path(tmp) / "models")
        one = post_script(tmp, "one", {"inputs": [[255, 0, 0]]})
        one_v2 = post_script(tmp, "one_v2", v2_body([[255, 0, 0]], nested=False))
        rows = get_task("red").draw_uniform(np.random.default_rng(0), 10_000).tolist()
        big = post_script(tmp, "big", {"inputs": rows})
        big_flat = post_script(tmp, "big_flat", v2_body(rows, nested=False))
        big_nested = post_script(tmp, "big_nested", v2_body(rows, nested=True))
        with Gunicorn(store.root, workers=args.workers, env={"TINYMLP_RELOAD_INTERVAL": "1",
                                                        "TINYMLP_LOG_LEVEL": args.log_level}) as server:
            print(f"gunicorn: {args.workers} workers, docker/gunicorn.conf.py, TINYMLP_LOG_LEVEL={args.log_level}; "
                  f"wrk: {args.connections} connections")
            url, v2 = server.base + "/predict/red", server.base + "/v2/models/red/infer"
            runs = {"a": [], "b": [], "b2": []}
            for _ in range(args.rounds):
                runs["a"].append(wrk(server.base + "/healthz", args.seconds, args.connections))
                runs["b"].append(wrk(url, args.seconds, args.connections, one))
                runs["b2"].append(wrk(v2, args.seconds, args.connections, one_v2))
            print(_line("a", "GET /healthz", runs["a"]))
            print(_line("b", "POST /predict/red, 1 row", runs["b"]))
            print(_line("b2", "V2 infer, 1 row", runs["b2"]))
            print(f"b/a = {_ratios(runs['b'], runs['a'])}; b2/a = {_ratios(runs['b2'], runs['a'])} (target >= 0.8)")
            big_runs = {"c": [], "c2": [], "c3": []}
            for _ in range(max(1, args.rounds // 2)):
                big_runs["c"].append(wrk(url, args.seconds, args.connections, big))
                big_runs["c2"].append(wrk(v2, args.seconds, args.connections, big_flat))
                big_runs["c3"].append(wrk(v2, args.seconds, args.connections, big_nested))
            alone = in_process_rate(store, rows)
            for tag, what in (("c", "/predict/red, 10,000 rows"), ("c2", "V2 flat, 10,000 rows"),
                              ("c3", "V2 nested, 10,000 rows")):
                rate = statistics.median(r["rps"] for r in big_runs[tag]) * 1e4
                print(_line(tag, what, big_runs[tag]) + f"  = {rate:,.0f} rows/s")
            served = statistics.median(r["rps"] for r in big_runs["c"]) * 1e4
            ratio = served / alone
            print(f"in-process predict_proba, one BLAS thread: {alone:,.0f} rows/s; served/in-process = {ratio:.2f} "
                  f"(target >= 0.7; {args.workers} workers, so {ratio / args.workers:.2f} a worker)")
            flat, nested = (statistics.median(_per_round(big_runs["c"], big_runs[k])) for k in ("c2", "c3"))
            print(f"V2 time / native time, 10,000 rows (median of rounds): flat {flat:.2f}, nested {nested:.2f} "
                  "(target <= 1.2)")
            published: list[int] = []
            publisher = threading.Thread(target=lambda: published.extend(
                publish_during(store, args.publish_seconds)))
            publisher.start()
            d = wrk(url, args.publish_seconds, args.connections, one)
            publisher.join()
            time.sleep(2)
            with urllib.request.urlopen(server.base + "/models/red", timeout=5) as r:
                served = json.load(r)["served_version"]
            print(f"(d) {len(published)} versions published ({published}) during {args.publish_seconds} s of "
                  f"one-row predicts: {d['requests']:,} requests, {d['failed']} failed (target 0); "
                  f"serving version {served} at the end")


if __name__ == "__main__":
    main()
