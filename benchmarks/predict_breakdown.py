"""Where a one-row predict of red spends its time, in process (no sockets, no gunicorn),
on the native protocol or V2.

The WSGI app is called directly, alternating GET /healthz with the predict in one of several
forms, so every call runs with the caches as cold as a server's would be:

    full          the real request
    no load       the JSON parse and the protocol's decode are given their results (the checked matrix)
    no forward    the network's probabilities are given
    no JSON       the protocol's encoded answer is given (the forward pass still runs)
    fixed answer  all three given: what is left is routing, hooks, metrics and the response

Each part's cost is ``full`` minus the form without it. wrk's b/a (benchmarks.serve_wrk)
adds gunicorn, the sockets and the client to both sides of the ratio.

    python -m benchmarks.predict_breakdown [--calls 5000] [--protocol native|v2]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

from harness.stores import red_store

BODIES = {  # one row of red, as each protocol sends it
    "native": ("/predict/red", b'{"inputs": [[255, 0, 0]]}'),
    "v2": ("/v2/models/red/infer", b'{"inputs": [{"name": "input", "shape": [1, 3], "datatype": "INT64", '
                                   b'"data": [255, 0, 0]}]}'),
}


def environ(method: str, path: str, body: bytes = b"") -> dict:
    return {"REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1:8000", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": True,
            "wsgi.run_once": False, "CONTENT_TYPE": "application/json" if body else "",
            "CONTENT_LENGTH": str(len(body)) if body else ""}


def call(app, method: str, path: str, body: bytes = b"") -> bytes:
    status = []
    out = app(environ(method, path, body), lambda s, h, e=None: status.append(s))
    try:
        text = b"".join(out)
    finally:
        getattr(out, "close", lambda: None)()
    if not status[0].startswith("200"):
        raise RuntimeError(f"{method} {path}: {status[0]} {text[:200]!r}")
    return text


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=5000, help="calls of each form (default 5000)")
    ap.add_argument("--protocol", choices=sorted(BODIES), default="native", help="native /predict or V2 infer")
    args = ap.parse_args(argv)
    path, body = BODIES[args.protocol]

    from service import dataplane
    from service.app import create_app
    from service.config import Config
    from service.dataplane import V2, Native

    with tempfile.TemporaryDirectory(prefix="tinymlp-breakdown-") as tmp:
        store = red_store(Path(tmp) / "models")
        app = create_app(Config(models_dir=str(store.root), start_reloader=False, log_level="WARNING"))
        logging.getLogger("tinymlp").setLevel(logging.WARNING)
        answer = call(app, "POST", path, body)
        model = app.extensions["tinymlp.registry"].get("red")
        protocol = Native if args.protocol == "native" else V2
        parsed = dataplane.parse(body)
        X, extra = protocol.decode(body, parsed, model, 10_000)
        proba = model.network.predict_proba(X)

        def loaded():  # the JSON parse and the protocol's decode, both given their results
            stack = ExitStack()
            stack.enter_context(mock.patch.object(dataplane, "parse", lambda raw: parsed))
            stack.enter_context(mock.patch.object(protocol, "decode", lambda *a: (X, extra)))
            return stack

        given = {  # each part of the data plane replaced by its ready-made result
            "load": loaded,
            "forward": lambda: mock.patch.object(model.network, "predict_proba", lambda X: proba),
            "JSON": lambda: mock.patch.object(protocol, "encode", lambda *a: answer),
        }
        forms = {"full": (), "no load": ("load",), "no forward": ("forward",), "no JSON": ("JSON",),
                 "fixed answer": ("load", "forward", "JSON")}
        times: dict[str, list[float]] = {"healthz": [], **{f: [] for f in forms}}
        clock = time.perf_counter
        for _ in range(args.calls):
            for form, parts in forms.items():
                t = clock()
                call(app, "GET", "/healthz")
                times["healthz"].append(clock() - t)
                with ExitStack() as stack:
                    for part in parts:
                        stack.enter_context(given[part]())
                    t = clock()
                    call(app, "POST", path, body)
                    times[form].append(clock() - t)
        us = {k: statistics.median(v) * 1e6 for k, v in times.items()}

    full = us["full"]
    print(f"medians of {args.calls:,} calls each, alternating with GET /healthz")
    print(f"GET /healthz                        {us['healthz']:7.1f} us")
    print(f"POST {path}, 1 row".ljust(36) + f"{full:7.1f} us   healthz/predict = {us['healthz'] / full:.2f}")
    print(f"  fixed answer                      {us['fixed answer']:7.1f} us   (routing, hooks, metrics, response)")
    for part, form in (("decode (parse, structure, rows)", "no load"), ("forward pass", "no forward"),
                       ("JSON answer", "no JSON")):
        cost = full - us[form]
        print(f"  {part:34s}{cost:7.1f} us   {cost / full:5.1%} of predict")
    view = full - us["fixed answer"]
    print(f"  view work in all                  {view:7.1f} us   {view / full:5.1%} of predict")


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as docker/gunicorn.conf.py; before numpy loads
    main()
