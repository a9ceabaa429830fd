"""Model stores for tests and benchmarks: every task trained briefly (the service needs
models, not good ones), or red trained as `make train` trains it; and a check that the
Debian programs a benchmark drives are installed."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

from core.store import ModelStore
from trainer import pipeline
from trainer.tasks import TASKS, get_task


def build_store(root) -> ModelStore:
    """Every task, trained briefly: the service tests need models, not good ones."""
    store = ModelStore(root)
    for task in TASKS.values():
        cfg = task.train.replace(epochs=1)
        data = None
        if task.name != "iris":
            data = task.sample(np.random.default_rng(0), 2000)
        net_cfg = task.network
        pipeline.train_task(task, store, config=cfg, network_config=net_cfg, data=data)
    return store


def red_store(folder) -> ModelStore:
    """A model store in ``folder`` with red version 1, trained as `make train` trains it."""
    store = ModelStore(Path(folder))
    pipeline.train_task(get_task("red"), store)
    return store


def require(*programs: str) -> None:
    """Exit saying how to install them if any of Debian's ``programs`` (wrk, nginx) is missing."""
    missing = [p for p in programs if not (shutil.which(p) or Path("/usr/sbin", p).exists())]
    if missing:
        sys.exit(f"needs {' and '.join(missing)}: apt-get install {' '.join(missing)}")


def publish_opposite(store: ModelStore, name: str, version: int | None = None):
    """Publish a copy of a classifier's version (default: the served one) whose output columns
    are swapped, so that it answers the opposite class (red for not_red, and back): a candidate
    the rollout guards must roll back. Returns the published version."""
    from mlp.activations import Sigmoid

    source = store.open(name, version)
    net = store.load(name, source.version)
    last = net.layers[-1]
    if last.n_out == 1 and isinstance(last.activation, Sigmoid):  # sigmoid(-z) = 1 - sigmoid(z)
        last.W[...] = -last.W
        last.b[...] = -last.b
    else:
        last.W[...] = last.W[:, ::-1].copy()
        last.b[...] = last.b[::-1].copy()
    net.weights_changed()
    meta = {k: v for k, v in net.metadata.items() if k not in ("name", "version")}
    with store.default_pinned(name):  # as a job publishes: served only if promoted
        return store.publish(name, net, **{**meta, "parent": source.version,
                                           "training": {"trained_by": "imported", "source": "opposite-columns"}})


def publish_nudged(store: ModelStore, name: str, scale: float, seed: int = 0):
    """Publish a copy of the served version with noise of ``scale`` added to its output layer's
    weights (0: the same network), ``default`` pinned first: a candidate that agrees with it on
    most rows but not all. Returns the published version."""
    net = store.load(name)
    rng = np.random.default_rng(seed)
    net.layers[-1].W[...] += rng.normal(0, scale, net.layers[-1].W.shape) if scale else 0
    net.weights_changed()
    meta = {k: v for k, v in net.metadata.items() if k not in ("name", "version")}
    with store.default_pinned(name):
        return store.publish(name, net, **meta)
