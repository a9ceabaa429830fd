"""The buffering proxy (docker/nginx, Debian's nginx) in front of gunicorn (2 workers):

(a) one-row predicts per second through the proxy against straight to gunicorn, wrk with 16
    connections, in alternating rounds: target through/direct >= 0.7;
(b) 20 slow clients (10 sending headers a line every half second, 10 a body a byte every
    half second) held for 30 s while one client sends good one-row predicts, one after the
    other: through the proxy (target: 0 failed, p99 <= 50 ms) and, for contrast, straight to
    gunicorn for a few seconds.

    python -m benchmarks.proxy [--rounds 5] [--seconds 4] [--slow-seconds 30]
Needs Debian's wrk and nginx.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from benchmarks.serve_wrk import post_script, wrk
from harness.clients import SlowClients
from harness.processes import Gunicorn, Nginx
from harness.stores import red_store, require

BODY = json.dumps({"inputs": [[255, 0, 0]]}).encode()


def good_requests(base: str, seconds: float, timeout: float) -> tuple[list[float], int]:
    """One-row predicts one after the other for ``seconds``: (latencies of those answered 200, failed)."""
    latencies, failed = [], 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        req = urllib.request.Request(base + "/predict/red", data=BODY, headers={"Content-Type": "application/json"})
        t = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                r.read()
                ok = r.status == 200
        except (urllib.error.URLError, OSError):
            ok = False
        if ok:
            latencies.append(time.perf_counter() - t)
        else:
            failed += 1
        time.sleep(0.02)
    return latencies, failed


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else float("nan")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--slow-seconds", type=int, default=30)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args(argv)
    require("wrk", "nginx")
    with tempfile.TemporaryDirectory(prefix="tinymlp-proxy-") as tmp:
        store = red_store(Path(tmp) / "models")
        one = post_script(tmp, "one", {"inputs": [[255, 0, 0]]})
        with Gunicorn(store.root, workers=2, env={"TINYMLP_STATE_DIR": str(Path(tmp) / "state"),
                                                  "TINYMLP_LOG_LEVEL": "INFO"}) as api, \
                Nginx(f"127.0.0.1:{api.port}") as proxy:
            runs = {"direct": [], "proxy": []}
            for i in range(args.rounds):
                for tag in ("direct", "proxy") if i % 2 == 0 else ("proxy", "direct"):
                    base = api.base if tag == "direct" else proxy.base
                    runs[tag].append(wrk(base + "/predict/red", args.seconds, args.connections, one)["rps"])
            with SlowClients(proxy.port, 20):
                through, through_failed = good_requests(proxy.base, args.slow_seconds, timeout=10)
            with SlowClients(api.port, 20):
                direct, direct_failed = good_requests(api.base, min(args.slow_seconds, 6), timeout=2)
    direct_rps, proxy_rps = statistics.median(runs["direct"]), statistics.median(runs["proxy"])
    print(f"(a) one-row predicts, wrk {args.connections} connections, {args.rounds} alternating rounds of "
          f"{args.seconds} s, medians:")
    print(f"    straight to gunicorn {direct_rps:7.0f} req/s   through the proxy {proxy_rps:7.0f} req/s   "
          f"through/direct = {proxy_rps / direct_rps:.2f} (target >= 0.7)")
    print(f"(b) 20 slow clients held for {args.slow_seconds} s, good one-row predicts one after the other:")
    print(f"    through the proxy: {len(through)} answered, {through_failed} failed (target 0), "
          f"median {statistics.median(through) * 1e3:.1f} ms, p99 {p99(through) * 1e3:.1f} ms (target <= 50 ms)")
    print(f"    straight to gunicorn (for contrast, {min(args.slow_seconds, 6)} s, 2 s timeout): "
          f"{len(direct)} answered, {direct_failed} failed")


if __name__ == "__main__":
    main()
