"""The model registry: ``get(name, version=None, label=None) -> Model``, or a domain error.

Each worker holds an immutable ``Snapshot`` of the store and swaps in a new one when a scan
finds a change (a version added or removed, a label moved, a file rewritten in place).
Requests read the current snapshot without locks; a new version is loaded before it is
served.

Which versions are loaded follows a policy (TF Serving's ``model_version_policy``): the
served version, every labelled version, the newest ``keep_loaded`` and any the app asks to
keep (``also_keep``: a running rollout's two). Any other version
still answers when asked for by number: it is read on demand into a small LRU. So the
cost of a model does not grow with every training job.

The served version is the store's rule (``core.store.serve_rule``) applied to what
loads here. One exception, so that a bad label change does not take a model down: when
``default`` names a missing or broken version, the error is reported (``label_error``, a
log line, a metric) and the version served before keeps serving; a process that served
nothing before answers 503 for that model, saying why. A file that fails its checks is
remembered by inode, size and modification time and not read again until it changes.

One file never stops the others: whatever goes wrong reading a version (a refusal, or any
other exception) refuses that version alone, and whatever goes wrong scanning a model takes
that model alone out (or, if it served before, leaves it as it was); the scan always completes.
Which files make up a model, and whether they changed, is the store's business (``Listing.stamps``,
``ModelStore.changed``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import mlp
from core.records import ModelVersion
from core.store import (
    FileRefused,
    Listing,
    ModelStore,
    NoServableVersion,
    NotFound,
    Stamp,
    Stamps,
    StoreError,
    is_version,
    serve_rule,
    some_versions,
)
from service.errors import LabelNotFound, ModelNotFound, NotServable, VersionNotFound, shown

log = logging.getLogger("tinymlp.registry")

Model = ModelVersion  # what ``get`` answers: a version's metadata and its network


@dataclass(frozen=True)
class ModelEntry:
    """One model as this process sees it."""

    name: str
    versions: tuple[int, ...]  # every version file present, ascending
    loaded: Mapping[int, Model]  # the versions the policy keeps loaded
    labels: Mapping[str, int]
    failures: Mapping[int, str]  # version -> why it was refused (nothing quoted from the file)
    served: int | None
    label_error: str | None = None  # labels.json unreadable, or default names a missing or broken version
    unservable: str | None = None  # why nothing is served, when ``served`` is None
    stamps: Stamps = field(default_factory=dict)  # the store's, for the next scan to ask whether it changed
    loaded_stamps: Mapping[int, Stamp] = field(default_factory=dict)  # each loaded version's file, when read

    @property
    def served_model(self) -> Model | None:
        return self.loaded.get(self.served) if self.served is not None else None


@dataclass(frozen=True)
class Snapshot:
    models: Mapping[str, ModelEntry] = field(default_factory=dict)
    loaded: bool = False
    store_error: str | None = None

    @property
    def ready(self) -> bool:
        """Scanned, readable, and at least one model can be served; a broken model is itself
        not ready but does not take the others out of rotation."""
        return (self.loaded and self.store_error is None
                and any(e.served is not None for e in self.models.values()))

    @property
    def failures(self) -> dict[str, str]:
        """The models that cannot be served, and why."""
        return {n: e.unservable or "no servable version" for n, e in self.models.items() if e.served is None}


class Registry:
    def __init__(self, store: ModelStore, *, keep_loaded: int = 3, on_demand: int = 8,
                 on_load_failure: Callable[[str, int], None] | None = None,
                 on_change: Callable[[Snapshot], None] | None = None,
                 also_keep: Callable[[str], Iterable[int]] | None = None):
        self.store = store
        self.keep_loaded = keep_loaded
        self.snapshot = Snapshot()
        self._rejected: dict[tuple[str, int], tuple[Stamp, str]] = {}
        self._lru: OrderedDict[tuple[str, int], tuple[Stamp, Model]] = OrderedDict()
        self._lru_size = on_demand
        self._lru_lock = threading.Lock()
        self._lock = threading.Lock()  # one scan at a time; readers never take it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_load_failure = on_load_failure or (lambda name, version: None)
        self._on_change = on_change or (lambda snapshot: None)
        # versions to keep loaded besides the policy's (a running rollout's), asked at each scan of a model
        self._also_keep = also_keep or (lambda name: ())

    # -- answering --------------------------------------------------------------------

    def entry(self, name: str) -> ModelEntry:
        found = self.snapshot.models.get(name)
        if found is None:
            known = ", ".join(sorted(self.snapshot.models)) or "none loaded"
            raise ModelNotFound(f"No model named {shown(name)}; models: {known}.")
        return found

    def get(self, name: str, version: int | None = None, label: str | None = None) -> Model:
        """The served version, a version by number, or the version a label names."""
        entry = self.entry(name)
        if label is not None:
            if label not in entry.labels:
                raise LabelNotFound(f"Model {name!r} has no label {shown(label)}; "
                                    f"labels: {sorted(entry.labels) or 'none'}.")
            version = entry.labels[label]
        if version is None:
            model = entry.served_model
            if model is None:
                raise NotServable(f"Model {name!r} cannot be served: {entry.unservable}.")
            return model
        model = entry.loaded.get(version)
        if model is not None:
            return model
        # Read on demand, checked against the file as it is now: a version this process has
        # not scanned yet (published since its last scan) answers at once on every worker.
        stamp = self.store.stamp(name, version) if is_version(version) else None
        if stamp is None:
            raise VersionNotFound(f"Model {name!r} has no version {version}; "
                                  f"versions: {some_versions(list(entry.versions))}.")
        model, why = self._on_demand(name, version, stamp)
        if model is None:
            raise VersionNotFound(f"Model {name!r} has no servable version {version} (it failed its checks: {why}).")
        return model

    def failures(self, name: str) -> dict[int, str]:
        """Every refused version of a model this process knows of (scans and on-demand reads)."""
        entry = self.entry(name)
        found = dict(entry.failures)
        for (n, v), (_, why) in list(self._rejected.items()):
            if n == name and v in entry.versions:
                found.setdefault(v, why)
        return dict(sorted(found.items()))

    def _on_demand(self, name: str, version: int, stamp: Stamp) -> tuple[Model | None, str | None]:
        """A version outside the policy (its file's ``stamp`` now), read when asked for and kept
        in a small LRU."""
        key = (name, version)
        with self._lru_lock:
            hit = self._lru.get(key)
            if hit is not None and hit[0] == stamp:
                self._lru.move_to_end(key)
                return hit[1], None
        model, why = self._load(name, version, stamp)
        if model is not None:
            with self._lru_lock:
                self._lru[key] = (stamp, model)
                self._lru.move_to_end(key)
                while len(self._lru) > self._lru_size:
                    self._lru.popitem(last=False)
        return model, why

    def _load(self, name: str, version: int, stamp: Stamp | None) -> tuple[Model | None, str | None]:
        """Read one version, unless it was refused before and has not changed since."""
        key = (name, version)
        known = self._rejected.get(key)
        if known is not None and known[0] == stamp:
            return None, known[1]
        try:
            # The service predicts only: the optimizer state (two more copies of the weights) stays on disk.
            model = self.store.open(name, version, with_optimizer=False)
        except (mlp.ModelFileError, StoreError, OSError) as e:
            why = getattr(e, "summary", None) or getattr(e, "strerror", None) or "it cannot be read"
            log.error("model %s version %s refused: %s", name, version, e)
            return self._refuse(key, stamp, why)
        except Exception:  # a fault no check names: it refuses this version, never the scan
            log.exception("model %s version %s could not be read", name, version)
            return self._refuse(key, stamp, "it could not be read (an unexpected error; see the service's log)")
        self._rejected.pop(key, None)
        log.info("loaded model %s version %s", name, version)
        return model, None

    def _refuse(self, key: tuple[str, int], stamp: Stamp | None, why: str) -> tuple[None, str]:
        self._rejected[key] = (stamp, why)
        self._on_load_failure(*key)
        return None, why

    # -- scanning -----------------------------------------------------------------------

    def refresh(self) -> Snapshot:
        """Scan the store; swap in a new snapshot if anything changed."""
        with self._lock:
            old = self.snapshot
            root = self.store.root
            try:
                names = self.store.names()
                os.stat(root)
            except OSError as e:
                self.snapshot = Snapshot(old.models, True, f"cannot read the model store {root}: {e.strerror}")
                return self.snapshot
            models, changed = {}, old.store_error is not None or not old.loaded
            for name in names:
                prev = old.models.get(name)
                try:
                    if prev is not None and not self.store.changed(name, prev.stamps):
                        models[name] = prev
                        continue
                    entry = self._scan(name, prev)
                except FileNotFoundError:
                    continue  # removed meanwhile
                except (OSError, StoreError) as e:
                    why = getattr(e, "summary", None) or getattr(e, "strerror", None) or str(e)
                    entry = ModelEntry(name, (), {}, {}, {}, None, None, why)
                except Exception:  # a fault no check names: it stops this model, never the others
                    log.exception("model %s could not be scanned", name)
                    entry = prev or ModelEntry(name, (), {}, {}, {}, None, None,
                                               "it could not be scanned (an unexpected error; see the service's log)")
                if entry != prev:
                    changed = True
                if entry.versions or entry.unservable:
                    models[name] = entry
            if set(models) != set(old.models):
                changed = True
            if changed:
                self.snapshot = Snapshot(models, True, None)
                self._on_change(self.snapshot)
            return self.snapshot

    def _scan(self, name: str, prev: ModelEntry | None) -> ModelEntry:
        listing: Listing = self.store.listing(name)
        versions = sorted(listing.versions)
        labels, label_error = listing.labels, listing.labels_error
        if label_error is not None:
            log.error("model %s: %s", name, label_error)
            labels = dict(prev.labels) if prev else {}
        loaded: dict[int, Model] = {}

        def servable(v: int) -> bool:
            if v in loaded:
                return True
            stamp = listing.versions.get(v)
            if prev is not None and v in prev.loaded and prev.loaded_stamps.get(v) == stamp:
                loaded[v] = prev.loaded[v]  # immutable, and unchanged on disk: no need to read it again
                return True
            with self._lru_lock:
                hit = self._lru.get((name, v))
            if hit is not None and hit[0] == stamp:
                loaded[v] = hit[1]
                return True
            model, _ = self._load(name, v, stamp)
            if model is not None:
                loaded[v] = model
            return model is not None

        served, unservable = None, None
        if label_error is not None and prev is None:
            # Which version is default is unknown: serving the newest could serve one never meant to be.
            unservable = f"{label_error}; until it is fixed nothing is served"
        else:
            try:
                served = serve_rule(name, versions, labels, servable)
            except (NoServableVersion, NotFound) as e:
                unservable = str(e).removeprefix(f"model {name!r}: ")
                if "default" not in labels:
                    why = [f"version {v}: {self._rejected[(name, v)][1]}" for v in reversed(versions)
                           if (name, v) in self._rejected][:3]
                    unservable = "no version passes its checks" + (f" ({'; '.join(why)})" if why else "")
                else:
                    label_error = unservable
                    log.error("model %s: %s", name, unservable)
                    # Keep serving what was served before, if it still loads: a bad label change
                    # is reported, not obeyed by falling back to whatever is newest.
                    before = prev.served if prev is not None else None
                    if before is not None and before != labels["default"] and before in listing.versions \
                            and servable(before):
                        served, unservable = before, None
                        log.warning("model %s: still serving version %s", name, served)
        newest = versions[max(0, len(versions) - self.keep_loaded):] if self.keep_loaded else []
        for v in {*newest, *labels.values(), *self._also_keep(name)}:
            if v in listing.versions:
                servable(v)
        failures = {v: why for (n, v), (stamp, why) in list(self._rejected.items())
                    if n == name and listing.versions.get(v) == stamp}
        return ModelEntry(name, tuple(versions), loaded, labels, dict(sorted(failures.items())), served,
                          label_error, unservable, listing.stamps(loaded),
                          {v: listing.versions[v] for v in loaded})

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


__all__ = ["FileRefused", "Model", "ModelEntry", "Registry", "Snapshot"]
