"""Where a one-row POST /predict/red spends its time, in process (no sockets, no gunicorn).

The WSGI app is called directly, alternating GET /healthz with POST /predict/red in one of
several forms, so every call runs with the caches as cold as a server's would be:

    full          the real view
    no load       the body is not parsed or checked (the checked batch is given)
    no forward    the network's probabilities are given
    no JSON       the answer's text is given (the forward pass still runs)
    fixed answer  all three given: what is left is routing, hooks, metrics and the response

Each part's cost is ``full`` minus the form without it. wrk's b/a (benchmarks.serve_wrk)
adds gunicorn, the sockets and the client to both sides of the ratio.

    python -m benchmarks.predict_breakdown [--calls 5000]
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

BODY = b'{"inputs": [[255, 0, 0]]}'


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
    args = ap.parse_args(argv)

    from service import dataplane
    from service.app import create_app
    from service.config import Config
    from service.routes import predict

    with tempfile.TemporaryDirectory(prefix="tinymlp-breakdown-") as tmp:
        store = red_store(Path(tmp) / "models")
        app = create_app(Config(models_dir=str(store.root), start_reloader=False, log_level="WARNING"))
        logging.getLogger("tinymlp").setLevel(logging.WARNING)
        answer = call(app, "POST", "/predict/red", BODY)
        model = app.extensions["tinymlp.registry"].get("red")
        with app.test_request_context("/predict/red", method="POST", data=BODY, content_type="application/json"):
            body = predict.load_body(predict.REQUEST)
            X = dataplane.check_rows(model, body["inputs"], max_rows=10_000)
        proba = model.network.predict_proba(X)

        def given_load():
            stack = ExitStack()
            stack.enter_context(mock.patch.object(predict, "load_body", lambda schema: body))
            stack.enter_context(mock.patch.object(dataplane, "check_rows", lambda *a, **k: X))
            return stack

        given = {
            "load": given_load,
            "forward": lambda: mock.patch.object(model.network, "predict_proba", lambda X: proba),
            "JSON": lambda: mock.patch.object(predict, "native_json",
                                              lambda p: (p.model.network.predict_proba(X), answer)[1]),
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
                    call(app, "POST", "/predict/red", BODY)
                    times[form].append(clock() - t)
        us = {k: statistics.median(v) * 1e6 for k, v in times.items()}

    full = us["full"]
    print(f"medians of {args.calls:,} calls each, alternating with GET /healthz")
    print(f"GET /healthz                        {us['healthz']:7.1f} us")
    print(f"POST /predict/red, 1 row            {full:7.1f} us   healthz/predict = {us['healthz'] / full:.2f}")
    print(f"  fixed answer                      {us['fixed answer']:7.1f} us   (routing, hooks, metrics, response)")
    for part, form in (("load (body, marshmallow, checks)", "no load"), ("forward pass", "no forward"),
                       ("JSON answer", "no JSON")):
        cost = full - us[form]
        print(f"  {part:34s}{cost:7.1f} us   {cost / full:5.1%} of predict")
    view = full - us["fixed answer"]
    print(f"  view work in all                  {view:7.1f} us   {view / full:5.1%} of predict")


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as docker/gunicorn.conf.py; before numpy loads
    main()
