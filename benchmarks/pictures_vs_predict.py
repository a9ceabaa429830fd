"""One-row predict latency while clients hammer the web pages' pictures, against idle.

gunicorn (docker/gunicorn.conf.py, 2 workers) serves a trained red model, behind the proxy
(docker/nginx) as compose runs it. wrk sends one-row predicts on 4 connections, first alone,
then while 4 anonymous clients ask, as fast as they can and ignoring Retry-After, for red's
pictures (the curve and its 17 region maps). Pictures are files drawn when the version was
published: the service reads and sends them, it never draws, so what is left to measure is
what serving small files costs the predicts that share the sync workers. Target: predict
p99 with the pictures <= 3x idle. Measured through the proxy (whose loose per-client limit,
a burst of 100 at 5 a second, turns a looping client away) and straight to gunicorn (no limit).

    python -m benchmarks.pictures_vs_predict [--seconds 15]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from benchmarks.serve_wrk import post_script, wrk
from harness.processes import Gunicorn, Nginx
from harness.stores import red_store, require

KINDS = ["curve", *(f"regions-b{b}" for b in (*range(0, 256, 16), 255))]


def hammer(base: str, stop: threading.Event, seen: Counter, seed: int) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        url = f"{base}/ui/models/red/versions/1/{rng.choice(KINDS)}.png"
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                r.read()
                seen[r.status] += 1
        except urllib.error.HTTPError as e:
            e.read()
            seen[e.code] += 1
        except OSError:
            seen["error"] += 1


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--clients", type=int, default=4, help="picture clients (default 4)")
    args = ap.parse_args(argv)
    require("wrk", "nginx")
    with tempfile.TemporaryDirectory(prefix="tinymlp-pictures-") as tmp:
        store = red_store(Path(tmp) / "models")
        one = post_script(tmp, "one", {"inputs": [[255, 0, 0]]})
        with Gunicorn(store.root, workers=2, env={"TINYMLP_STATE_DIR": str(Path(tmp) / "state")}) as api, \
                Nginx(f"127.0.0.1:{api.port}") as proxy:
            results = {tag: run(base, one, args) for tag, base in (("proxy", proxy.base), ("direct", api.base))}
    print(f"one-row predicts, wrk 4 connections, {args.seconds} s each; "
          f"{args.clients} clients hammering pictures in the second run")
    for tag, what in (("proxy", "through the proxy (as compose runs it)"), ("direct", "straight to gunicorn")):
        idle, busy, seen = results[tag]
        print(f"  {what}:")
        print(f"    idle:          {idle['rps']:8.0f} req/s   p99 {idle['p99_ms']:6.2f} ms   failed {idle['failed']}")
        print(f"    with pictures: {busy['rps']:8.0f} req/s   p99 {busy['p99_ms']:6.2f} ms   failed {busy['failed']}")
        print(f"    pictures: {seen[200]} answered, {seen[429]} turned away by the proxy (429), "
              f"{sum(n for k, n in seen.items() if k not in (200, 429))} other answers or errors")
        print(f"    p99 with pictures / idle = {busy['p99_ms'] / idle['p99_ms']:.2f} (target <= 3)")


def run(base: str, one: str, args) -> tuple[dict, dict, Counter]:
    url = base + "/predict/red"
    wrk(url, 2, 4, one)  # warm up
    idle = wrk(url, args.seconds, 4, one)
    stop, seen = threading.Event(), Counter()
    clients = [threading.Thread(target=hammer, args=(base, stop, seen, i)) for i in range(args.clients)]
    for c in clients:
        c.start()
    busy = wrk(url, args.seconds, 4, one)
    stop.set()
    for c in clients:
        c.join()
    return idle, busy, seen


if __name__ == "__main__":
    main()
