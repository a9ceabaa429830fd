"""wrk against one gunicorn config: GET /healthz vs POST /predict/red (one row), and
10,000-row requests. Starts gunicorn on 127.0.0.1 and a free port with a temporary
store of freshly trained default red model, and stops it by its pid.

    python -m benchmarks.serve_wrk [--seconds 10] [--connections 16]
Needs Debian's wrk.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from trainer import pipeline
from trainer.store import ModelStore
from trainer.tasks import get_task

ROOT = Path(__file__).resolve().parents[1]


def wrk(url, seconds, connections, script=None):
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", script]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 1e-3, "ms": 1, "s": 1e3}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, float(p99.group(1)) * scale, int(non2xx.group(1)) if non2xx else 0


def post_script(tmp, name, body):
    # A level-1 Lua long string: the JSON's own "]]" cannot end it.
    path = Path(tmp) / f"{name}.lua"
    path.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                    f"wrk.body = [=[{json.dumps(body)}]=]\n")
    return str(path)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    tmp = tempfile.mkdtemp(prefix="tinymlp-wrk-")
    store = ModelStore(Path(tmp) / "models")
    pipeline.train_task(get_task("red"), store)
    port = 18_000 + os.getpid() % 1000
    env = {**os.environ, "TINYMLP_MODELS_DIR": str(store.root), "TINYMLP_BIND": f"127.0.0.1:{port}",
           "TINYMLP_LOG_LEVEL": "WARNING", "PROMETHEUS_MULTIPROC_DIR": tmp}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "docker/gunicorn.conf.py", "service.wsgi:app"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if urllib.request.urlopen(base + "/readyz", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        one = post_script(tmp, "one", {"inputs": [[255, 0, 0]]})
        rows = get_task("red").draw_uniform(np.random.default_rng(0), 10_000).tolist()
        big = post_script(tmp, "big", {"inputs": rows})
        a = wrk(base + "/healthz", args.seconds, args.connections)
        b = wrk(base + "/predict/red", args.seconds, args.connections, one)
        c = wrk(base + "/predict/red", args.seconds, args.connections, big)
        print(f"(a) GET /healthz:             {a[0]:9.0f} req/s  p99 {a[1]:7.2f} ms  non-2xx {a[2]}")
        print(f"(b) POST /predict/red, 1 row: {b[0]:9.0f} req/s  p99 {b[1]:7.2f} ms  non-2xx {b[2]}")
        print(f"b/a = {b[0] / a[0]:.2f} (target >= 0.9); p99 of (b) {b[1]:.2f} ms (target <= 10 ms)")
        print(f"(c) 10,000-row requests:      {c[0]:9.1f} req/s = {c[0] * 10_000:,.0f} rows/s (target >= 1,000,000)"
              f"  p99 {c[1]:.1f} ms  non-2xx {c[2]}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
