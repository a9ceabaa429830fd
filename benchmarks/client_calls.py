"""One-row predictions per second from one Python process: through the client (one
requests.Session, keep-alive) against requests.post with a new connection each call, side by
side in alternating rounds.

The service is gunicorn (2 workers) behind the proxy (docker/nginx, Debian's nginx): the proxy
keeps client connections alive (gunicorn's sync workers close theirs after every answer).

    python -m benchmarks.client_calls [--calls 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import requests

from client import Client
from harness.processes import Gunicorn, Nginx
from harness.stores import red_store

BODY = {"inputs": [[255, 0, 0]]}


def with_client(base: str, calls: int) -> float:
    with Client(base) as client:
        client.predict("red", BODY["inputs"])  # the connection is open before the clock starts
        start = time.perf_counter()
        for _ in range(calls):
            client.predict("red", BODY["inputs"])
        return calls / (time.perf_counter() - start)


def with_new_connections(base: str, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        r = requests.post(base + "/predict/red", json=BODY, timeout=10)
        r.raise_for_status()
        r.json()
    return calls / (time.perf_counter() - start)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tinymlp-client-") as tmp:
        store = red_store(Path(tmp) / "models")
        with Gunicorn(store.root, workers=2, env={"TINYMLP_STATE_DIR": str(Path(tmp) / "state")}) as api, \
                Nginx(f"127.0.0.1:{api.port}") as proxy:
            runs = {"client": [], "new": []}
            for _ in range(args.rounds):
                runs["client"].append(with_client(proxy.base, args.calls))
                runs["new"].append(with_new_connections(proxy.base, args.calls))
    client, new = statistics.median(runs["client"]), statistics.median(runs["new"])
    print(f"one-row predictions, one process, {args.calls} calls x {args.rounds} alternating rounds, "
          "through the proxy; medians")
    print(f"  client (keep-alive session): {client:7.0f} calls/s  (rounds: "
          + ", ".join(f"{r:.0f}" for r in runs["client"]) + ")")
    print(f"  requests.post, new connection each call: {new:7.0f} calls/s  (rounds: "
          + ", ".join(f"{r:.0f}" for r in runs["new"]) + ")")
    print(f"client / new connections = {client / new:.2f}x")


if __name__ == "__main__":
    main()
