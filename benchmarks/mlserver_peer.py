"""MLServer as a benchmark peer: its own virtualenv (MLServer 1.7.1 and its scikit-learn
runtime, installed on first use under ``.bench/mlserver-venv`` and reused), red as a
scikit-learn ``MLPClassifier`` of the same size saved for that runtime, and MLServer serving
it on 127.0.0.1 and a free port in a child process stopped by its pid.

Used by ``benchmarks.vs_mlserver``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path

import numpy as np

from harness.processes import ROOT, Child, free_port

VENV = ROOT / ".bench" / "mlserver-venv"
# uvloop 0.23 crashes MLServer 1.7.1's workers; 0.21 is the last that does not. httptools is
# not among MLServer's requirements, but uvicorn parses HTTP with it when present instead of
# the pure-Python h11 (uvicorn's `standard` extra): MLServer at its fastest.
PINNED = ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop==0.21.*", "httptools==0.9.*")
# tinymlp's activation names -> scikit-learn's.
SKLEARN_ACTIVATION = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic", "linear": "identity"}
# Off, for speed: the access log, the Prometheus middleware and metrics server, gzip.
QUIET = {"debug": False, "metrics_endpoint": None, "gzip_enabled": False}
# Adaptive batching's wait for more requests (max_batch_time): 0.2 ms and 1 ms did alike on
# one-row requests, 5 ms worse.
BATCH_SECONDS = 0.001


def requirements() -> list[str]:
    """What the peer's venv holds: the pinned MLServer, and this venv's scikit-learn and numpy
    versions, so the joblib file made here unpickles there exactly as it was saved."""
    import sklearn

    return [*PINNED, f"scikit-learn=={sklearn.__version__}", f"numpy=={np.__version__}"]


def ensure_venv(venv: Path = VENV) -> Path:
    """The MLServer venv's ``bin`` folder, made on first use (and again when the pins change)."""
    wanted = requirements()
    stamp = venv / "tinymlp-requirements.json"
    if stamp.exists() and json.loads(stamp.read_text()) == wanted and (venv / "bin" / "mlserver").exists():
        return venv / "bin"
    venv.parent.mkdir(parents=True, exist_ok=True)
    # Keeps the whole .bench folder out of git without editing the project's .gitignore.
    (venv.parent / ".gitignore").write_text("*\n")
    print(f"installing MLServer for this benchmark into {venv} (once; reused after): {' '.join(wanted)}; "
          "a few minutes on a fresh machine, pip's cache makes it quicker", flush=True)
    log = venv.parent / "mlserver-venv-install.log"
    started = time.monotonic()
    with open(log, "w") as out:
        steps = [[sys.executable, "-m", "venv", "--clear", str(venv)],
                 [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *wanted]]
        for step in steps:
            if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                sys.exit(f"error: could not install MLServer into {venv} ({' '.join(step[:4])} ... failed); "
                         f"see {log}, fix the cause and run the benchmark again")
    stamp.write_text(json.dumps(wanted))
    print(f"installed in {time.monotonic() - started:.0f} s", flush=True)
    return venv / "bin"


def sklearn_twin(net, X: np.ndarray, y: np.ndarray, *, iterations: int = 5):
    """A scikit-learn pipeline of red's size: scaling (tinymlp normalises raw RGB inside its
    model too, so both do that work per request), then an ``MLPClassifier`` with ``net``'s
    hidden sizes and activation, fit for a few ``iterations``: what is measured is serving,
    not accuracy."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    hidden = tuple(layer.n_out for layer in net.layers[:-1])
    activation = SKLEARN_ACTIVATION[net.layers[0].activation.name]
    model = Pipeline([("scale", StandardScaler()),
                      ("mlp", MLPClassifier(hidden_layer_sizes=hidden, activation=activation, batch_size=256,
                                            max_iter=iterations, random_state=0))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return model


def write_repository(folder: Path, name: str, model, *, parallel_workers: int, http_port: int,
                     grpc_port: int, max_batch_size: int = 0) -> Path:
    """An MLServer model repository in ``folder``: server settings (settings.json) and the
    model saved with joblib beside its model-settings.json."""
    import joblib

    folder.mkdir(parents=True)
    (folder / "settings.json").write_text(json.dumps(server_settings(parallel_workers, http_port, grpc_port),
                                                     indent=2))
    (folder / name).mkdir()
    joblib.dump(model, folder / name / "model.joblib")
    (folder / name / "model-settings.json").write_text(json.dumps(model_settings(name, max_batch_size), indent=2))
    return folder


def server_settings(parallel_workers: int, http_port: int, grpc_port: int) -> dict:
    """MLServer's server settings, at its fastest (what was tried: benchmarks.vs_mlserver's
    docstring): ``parallel_workers`` as given (0: inference in the HTTP process; N: N inference
    processes the HTTP process hands requests to), no access log (``debug``), no Prometheus
    middleware or metrics server (``metrics_endpoint: null``), no gzip middleware. gRPC
    cannot be turned off in 1.7.1: it listens on a free port and idles."""
    return {"host": "127.0.0.1", "http_port": http_port, "grpc_port": grpc_port,
            "parallel_workers": parallel_workers, "load_models_at_startup": True, **QUIET}


def model_settings(name: str, max_batch_size: int = 0) -> dict:
    """The model's settings; with ``max_batch_size`` > 1, MLServer's adaptive batching: requests
    arriving within 1 ms of each other are run as one batch (up to that many requests)."""
    # predict_fn: answer predict_proba without an ``outputs`` field, so MLServer and tinymlp's
    # V2 endpoint get byte-identical request bodies.
    settings = {"name": name, "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib", "version": "1", "extra": {"predict_fn": "predict_proba"}}}
    if max_batch_size > 1:
        settings.update(max_batch_size=max_batch_size, max_batch_time=BATCH_SECONDS)
    return settings


class MLServer(Child):
    """``mlserver start`` on a repository, on 127.0.0.1 and a free HTTP port, in a session of its
    own so that its inference workers go with it; ready once ``/v2/models/<name>/ready`` is 200."""

    def __init__(self, bin_dir: Path, name: str, model, *, parallel_workers: int = 0, max_batch_size: int = 0,
                 env: dict | None = None, ready_timeout: float = 120):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.name = name
        self.label = f"MLServer pw={parallel_workers}" + (f" batch{max_batch_size}" if max_batch_size > 1 else "")
        self._scratch = tempfile.TemporaryDirectory(prefix="tinymlp-mlserver-")
        root = Path(self._scratch.name)
        # MLServer keeps .envs and .metrics in its working directory: the scratch folder.
        self.repository = write_repository(root / "repository", name, model, parallel_workers=parallel_workers,
                                           http_port=self.port, grpc_port=free_port(), max_batch_size=max_batch_size)
        super().__init__(root / "mlserver.log", {**os.environ, **(env or {})}, cwd=root)
        self.argv_full = [str(bin_dir / "mlserver"), "start", str(self.repository)]
        self.ready_timeout = ready_timeout

    def start(self) -> MLServer:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv_full, cwd=self.cwd, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_until(self._ready, self.ready_timeout, "MLServer did not become ready")
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/v2/models/{self.name}/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def _end(self, timeout: float) -> int | None:
        code = super()._end(timeout)
        if self.proc is not None:
            # Its session's id is its pid: any inference worker left behind goes too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        return code
