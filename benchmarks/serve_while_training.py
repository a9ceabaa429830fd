"""POST /predict/red throughput while a job trains red, over idle throughput, same run.

gunicorn (docker/gunicorn.conf.py, 2 workers) and one job worker (python -m trainer
worker) share a temporary store and job table; wrk drives one-row predicts at 16
connections, first with the worker idle, then while it trains a long red job (which is
cancelled at the end). Target: ratio >= 0.6 on a 2-core machine.

    python -m benchmarks.serve_while_training [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.serve_wrk import post_script, wrk
from harness.processes import Gunicorn, TrainerWorker
from harness.stores import red_store, require

TOKEN = "bench-token-0123456789abcdef"


def api(base, method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args(argv)
    require("wrk")
    with tempfile.TemporaryDirectory(prefix="tinymlp-bench-") as tmp:
        root = Path(tmp)
        store = red_store(root / "models")
        env = {"TINYMLP_STATE_DIR": str(root / "state"), "TINYMLP_TRAIN_TOKEN": TOKEN}
        one = post_script(tmp, "one", {"inputs": [[255, 0, 0]]})
        with Gunicorn(store.root, workers=2, env=env) as server, \
                TrainerWorker(store.root, root / "state", log_path=root / "worker.log", env=env):
            url = server.base + "/predict/red"
            time.sleep(3)  # the worker's start (imports) is not part of the idle run
            idle = wrk(url, args.seconds, args.connections, one)
            job = api(server.base, "POST", "/train/red", {"epochs": 500, "samples": 80_000, "promote": "never"})
            while api(server.base, "GET", f"/train/jobs/{job['id']}")["status"] == "queued":
                time.sleep(0.1)
            busy = wrk(url, args.seconds, args.connections, one)
            during = api(server.base, "GET", f"/train/jobs/{job['id']}")
            api(server.base, "DELETE", f"/train/jobs/{job['id']}")
        epochs = len(during["progress"])
        print(f"idle:           {idle['rps']:8.0f} req/s  p99 {idle['p99_ms']:6.2f} ms  failed {idle['failed']}")
        print(f"while training: {busy['rps']:8.0f} req/s  p99 {busy['p99_ms']:6.2f} ms  failed {busy['failed']}"
              f"  (the job trained {epochs} epochs meanwhile, status {during['status']})")
        print(f"ratio = {busy['rps'] / idle['rps']:.2f} (target >= 0.6)")


if __name__ == "__main__":
    main()
