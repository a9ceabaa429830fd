"""wrk against one gunicorn config (docker/gunicorn.conf.py, 2 workers, logging at the shipped
INFO level), 16 connections:

(a) GET /healthz and (b) POST /predict/red with one row, side by side: alternating runs of
    each (--rounds of --seconds), so drift on a shared machine hits both; medians, b/a of
    the medians and the p99 of (b);
(c) 10,000-row requests to /predict/red: rows per second;
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
        rows = get_task("red").draw_uniform(np.random.default_rng(0), 10_000).tolist()
        big = post_script(tmp, "big", {"inputs": rows})
        with Gunicorn(store.root, workers=args.workers, env={"TINYMLP_RELOAD_INTERVAL": "1",
                                                        "TINYMLP_LOG_LEVEL": args.log_level}) as server:
            print(f"gunicorn: {args.workers} workers, docker/gunicorn.conf.py, TINYMLP_LOG_LEVEL={args.log_level}; "
                  f"wrk: {args.connections} connections")
            url = server.base + "/predict/red"
            runs = {"a": [], "b": []}
            for _ in range(args.rounds):
                runs["a"].append(wrk(server.base + "/healthz", args.seconds, args.connections))
                runs["b"].append(wrk(url, args.seconds, args.connections, one))
            med = {k: {m: statistics.median(r[m] for r in v) for m in ("rps", "p99_ms")} for k, v in runs.items()}
            for tag, what in (("a", "GET /healthz:            "), ("b", "POST /predict/red, 1 row:")):
                print(f"({tag}) {what} median {med[tag]['rps']:6.0f} req/s  median p99 {med[tag]['p99_ms']:6.2f} ms  "
                      f"failed {sum(r['failed'] for r in runs[tag])}  (runs: "
                      + ", ".join(f"{r['rps']:.0f}" for r in runs[tag]) + ")")
            ratios = [b["rps"] / a["rps"] for a, b in zip(runs["a"], runs["b"])]
            print(f"b/a = {med['b']['rps'] / med['a']['rps']:.2f} (target >= 0.9; per round: "
                  + ", ".join(f"{r:.2f}" for r in ratios)
                  + f"); p99 of (b) {med['b']['p99_ms']:.2f} ms (target <= 10 ms)")
            c = wrk(url, 2 * args.seconds, args.connections, big)
            print(f"(c) 10,000-row requests:      {c['rps']:9.1f} req/s = {c['rps'] * 10_000:,.0f} rows/s "
                  f"(target >= 1,000,000)  p99 {c['p99_ms']:.1f} ms  failed {c['failed']}")
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
