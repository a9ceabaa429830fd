"""The model registry: every model of the store, loaded, and kept current without restarts.

Each worker holds an immutable ``Snapshot`` and swaps in a new one when a scan of
the store finds a change (a new version, a removed one, a label change). Versions
are immutable, so only new files are read; a file that fails its checks is logged,
listed under ``failures`` and never displaces a good version. Requests read the
current snapshot reference without locks: a new version is fully loaded before
the old one is dropped.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

import mlp
from trainer.store import LABELS_FILE, NAME_RE, VERSION_RE, ModelStore, StoreError

log = logging.getLogger("tinymlp.registry")


@dataclass(frozen=True)
class Model:
    """One loaded version."""

    name: str
    version: int
    network: mlp.Network
    loaded_at: float

    @property
    def spec(self) -> mlp.InputSpec:
        return self.network.input_spec

    @property
    def labels(self) -> list[str] | None:
        return self.network.labels


@dataclass(frozen=True)
class ModelEntry:
    name: str
    versions: dict[int, Model]
    labels: dict[str, int]
    failures: dict[int, str]
    served: int | None
    label_error: str | None = None

    def resolve(self, version: int | None = None, label: str | None = None) -> Model | None:
        if label is not None:
            version = self.labels.get(label)
            if version is None:
                return None
        if version is None:
            version = self.served
        return self.versions.get(version)


@dataclass(frozen=True)
class Snapshot:
    models: dict[str, ModelEntry] = field(default_factory=dict)
    loaded: bool = False
    store_error: str | None = None
    scanned_at: float = 0.0

    @property
    def ready(self) -> bool:
        return (self.loaded and self.store_error is None and bool(self.models)
                and all(e.served is not None for e in self.models.values()))


def _signature(folder: str) -> tuple:
    """What changes when a version or labels.json is added, removed or replaced."""
    sig = []
    with os.scandir(folder) as it:
        for e in it:
            if e.name == LABELS_FILE or VERSION_RE.match(e.name):
                st = e.stat()
                sig.append((e.name, st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(sorted(sig))


class Registry:
    def __init__(self, models_dir: str, on_load_failure=None, on_served=None):
        self.store = ModelStore(models_dir)
        self.snapshot = Snapshot()
        self._signatures: dict[str, tuple] = {}
        self._lock = threading.Lock()  # one scan at a time; readers never take it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_load_failure = on_load_failure or (lambda name, version: None)
        self._on_served = on_served or (lambda name, version: None)

    # -- scanning -----------------------------------------------------------------------

    def refresh(self) -> Snapshot:
        """Scan the store and swap in a new snapshot if anything changed."""
        with self._lock:
            old = self.snapshot
            root = str(self.store.root)
            try:
                names = sorted(n for n in os.listdir(root) if NAME_RE.match(n)
                               and os.path.isdir(os.path.join(root, n)))
            except OSError as e:
                snap = Snapshot(old.models, True, f"cannot read the model store {root}: {e.strerror}",
                                time.time())
                self.snapshot = snap
                return snap
            models, changed = {}, old.store_error is not None or not old.loaded
            for name in names:
                try:
                    sig = _signature(os.path.join(root, name))
                except OSError:
                    continue
                prev = old.models.get(name)
                if prev is not None and self._signatures.get(name) == sig:
                    models[name] = prev
                    continue
                changed = True
                entry = self._load_entry(name, prev)
                self._signatures[name] = sig
                if entry.versions or entry.failures:
                    models[name] = entry
            if set(models) != set(old.models):
                changed = True
            for gone in set(self._signatures) - set(names):
                del self._signatures[gone]
            if changed:
                self.snapshot = Snapshot(models, True, None, time.time())
                for entry in models.values():
                    if entry.served is not None:
                        self._on_served(entry.name, entry.served)
            return self.snapshot

    def _load_entry(self, name: str, prev: ModelEntry | None) -> ModelEntry:
        versions, failures = {}, {}
        for v in self.store.versions(name):
            if prev is not None and v in prev.versions:
                versions[v] = prev.versions[v]  # immutable: no need to read it again
                continue
            try:
                net = self.store.load(name, v)
            except (mlp.MLPError, StoreError, OSError) as e:
                failures[v] = str(e)
                log.error("model %s version %s skipped: %s", name, v, e)
                self._on_load_failure(name, v)
                continue
            versions[v] = Model(name, v, net, time.time())
            log.info("loaded model %s version %s", name, v)
        label_error = None
        try:
            labels = self.store.labels(name)
        except StoreError as e:
            labels, label_error = (prev.labels if prev else {}), str(e)
            log.error("model %s: %s", name, e)
        default = labels.get("default")
        served = default if default in versions else (max(versions) if versions else None)
        return ModelEntry(name, versions, labels, failures, served, label_error)

    # -- the background reloader ----------------------------------------------------------

    def start(self, interval: float) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, args=(interval,), name="model-reloader",
                                        daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.refresh()
            except Exception:  # the reloader must outlive any one bad scan
                log.exception("model store scan failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
